"""Rule-made advice: what the coach says, the facts it rests on, and how its words are checked.

Everything the language model is asked to word is an `Advice`: a live cue (from the coach's
rules in `edge.coach`), a session summary, a morning readiness call, a plan explanation, or the
answer to a question. Each one carries

- its facts (numbers and a few words), the only numbers its words may use;
- the action it asks for (ease off, hold, rest...), which its words must ask for too;
- its template: the rule-made wording, spoken whenever the model's is missing, slow or wrong.

The rules here decide; a model only words what they decided. The same functions make the
reference texts of the fine-tuning corpus (`export/llm/corpus.py`), so the model learns exactly
what the runtime will ask of it. All pure: facts in, advice out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from edge.core.cues import CUE_SPECS, Action, Cue, CueKind
from edge.training.plan import rule_of, suggestion_text, untrue_reasons

Facts = Mapping[str, float | int | str]


class Task(StrEnum):
    CUE = "cue"
    SUMMARY = "summary"
    READINESS = "readiness"
    PLAN = "plan"
    QUESTION = "question"


class Intent(StrEnum):
    """What a question asks about, decided by keywords (`classify_question`)."""

    SAFETY = "safety"
    #: Heart rhythm, conditions, medication: the fixed "I can't diagnose; ask a doctor".
    MEDICAL = "medical"
    #: How much to train: answered from the person's weekly minutes with the ~10 %/week rule.
    VOLUME = "volume"
    NO_DATA = "no_data"
    UNKNOWN = "unknown"
    LAST_SESSION = "last_session"
    HEART_RATE = "heart_rate"
    ZONES = "zones"
    TREND = "trend"
    READINESS = "readiness"
    PLAN = "plan"


#: Words an answer must use when it says it does not know.
DONT_KNOW = (
    r"\b(don't know|do not know|don't have|do not have|can't tell|cannot tell|"
    r"not sure|no data)"
)

#: Facts the guard insists a live cue names at least one of.
CUE_KEY_FACTS = ("hr", "zone", "zone5_lower", "forecast_hr")


@dataclass(frozen=True, slots=True)
class Advice:
    task: Task
    #: The cue kind (`CueKind` value) or the question's intent.
    kind: str
    #: What the words must ask for; None when the message is information only.
    action: Action | None
    facts: Facts
    #: The rule-made wording: every number in it is a fact.
    template: str
    question: str = ""
    #: Fixed words (safety, no data): never given to a model.
    deterministic: bool = False
    #: Facts of which the words must name at least one (empty: no such rule).
    key_facts: tuple[str, ...] = ()
    #: A regular expression the words must match (for "I don't know" answers).
    require: str = ""
    #: A regular expression the words must not match: what the rules know to be untrue here.
    forbid: str = ""
    max_sentences: int = 3
    max_chars: int = 400
    #: Id of the cue this words, 0 for everything else.
    cue_id: int = 0
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "facts", MappingProxyType(dict(self.facts)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))


def cue_advice(cue: Cue) -> Advice:
    """The advice of a live cue: its facts, action and template, one or two short sentences."""
    return Advice(
        Task.CUE,
        cue.kind.value,
        cue.action,
        cue.facts,
        cue.template_text,
        deterministic=cue.deterministic,
        key_facts=CUE_KEY_FACTS,
        max_sentences=3,
        max_chars=220,
        cue_id=cue.id,
    )


def format_value(value: object) -> str:
    """A fact as prompts, templates and the guard write it: 176, 7.4, easy."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        number = float(value)
        return str(int(number)) if number == int(number) else f"{number:g}"
    return str(value)


def _numbers(text: str) -> set[str]:
    return {canonical_number(n) for n in re.findall(r"\d+(?:\.\d+)?", text)}


def canonical_number(number: str) -> str:
    """A number as the guard compares them: "176.0" and "176" are the same, "7.50" is "7.5"."""
    try:
        value = float(number)
    except ValueError:
        return number
    return str(int(value)) if value == int(value) else str(value)


def _keys_in(template: str, facts: Facts) -> tuple[str, ...]:
    """The facts a template names: words for it must name at least one of them."""
    named = _numbers(template)
    return tuple(
        k
        for k, v in facts.items()
        if isinstance(v, int | float)
        and not isinstance(v, bool)
        and canonical_number(str(v)) in named
    )


def _advice(
    task: Task, kind: str, action: Action | None, facts: Facts, template: str, **kwargs: object
) -> Advice:
    kwargs.setdefault("key_facts", _keys_in(template, facts))
    return Advice(task, kind, action, facts, template, **kwargs)  # type: ignore[arg-type]


# -- session summary ------------------------------------------------------------------------------

#: Minutes in zones 4 and 5 from which a session counts as hard.
HARD_SESSION_MIN = 15


def summary_facts(summary: Mapping[str, object], *, days_ago: int | None = None) -> dict:
    """Facts of a stored `SessionSummary.as_dict()`: minutes, heart rates, main zone, distance."""
    zones = {int(z): int(s) for z, s in dict(summary.get("time_in_zone_s") or {}).items()}
    facts: dict[str, float | int | str] = {
        "duration_min": max(1, round(int(summary.get("duration_s") or 0) / 60)),
    }
    if summary.get("mean_hr") is not None:
        facts["mean_hr"] = round(float(summary["mean_hr"]))  # type: ignore[arg-type]
        facts["max_hr"] = round(float(summary["max_hr"]))  # type: ignore[arg-type]
    if zones and any(zones.values()):
        main = max(zones, key=lambda z: (zones[z], z))
        facts["main_zone"] = main
        facts["main_zone_min"] = round(zones[main] / 60)
        facts["hard_min"] = round((zones.get(4, 0) + zones.get(5, 0)) / 60)
    if summary.get("distance_m"):
        facts["distance_km"] = round(float(summary["distance_m"]) / 1000, 1)  # type: ignore[arg-type]
    gaps = summary.get("gaps") or []
    gap_s = sum(int(g["seconds"]) for g in gaps)  # type: ignore[index, union-attr]
    if gap_s:
        facts["gap_s"] = gap_s
    if days_ago is not None:
        facts["days_ago"] = days_ago
    return facts


def _when(days_ago: object) -> str:
    if days_ago is None:
        return "In your last session"
    if days_ago == 0:
        return "Today"
    if days_ago == 1:
        return "Yesterday"
    return f"{days_ago} days ago"


def summary_advice(
    facts: Facts, *, task: Task = Task.SUMMARY, kind: str = "summary", question: str = ""
) -> Advice:
    """What a session was, in figures a person can check, and what it means for tomorrow."""
    f = facts
    parts = []
    opening = "You" if task is Task.SUMMARY else f"{_when(f.get('days_ago'))} you"
    if "mean_hr" in f:
        parts.append(
            f"{opening} trained for {f['duration_min']} minutes at an average heart "
            f"rate of {f['mean_hr']}, peaking at {f['max_hr']}."
        )
    else:
        parts.append(
            f"{opening} trained for {f['duration_min']} minutes, with no heart rate recorded."
        )
    if "main_zone" in f:
        parts.append(f"Most of it, {f['main_zone_min']} minutes, was in zone {f['main_zone']}.")
    if "distance_km" in f:
        parts.append(f"You covered {format_value(f['distance_km'])} km.")
    if f.get("gap_s"):
        parts.append(f"The strap lost contact for {f['gap_s']} seconds.")
    hard = int(f.get("hard_min", 0) or 0) >= HARD_SESSION_MIN
    if hard:
        parts.append(f"With {f['hard_min']} hard minutes, keep tomorrow easy.")
        action = Action.EASE_OFF
    else:
        parts.append("A steady session: keep it up.")
        action = Action.HOLD
    return _advice(task, kind, action, f, " ".join(parts), question=question, max_sentences=6)


# -- morning readiness ----------------------------------------------------------------------------


def readiness_advice(
    facts: Facts, *, task: Task = Task.READINESS, kind: str = "readiness", question: str = ""
) -> Advice:
    """Train, keep it easy, or rest: from resting heart rate, the last session and the week.

    Facts (all optional): `resting_hr` and `baseline_resting_hr` (bpm), `hours_since_last`,
    `last_hard_min` (minutes in zones 4-5 last time), `sessions_7d`.
    """
    f = dict(facts)
    rise = (
        f["resting_hr"] - f["baseline_resting_hr"]  # type: ignore[operator]
        if "resting_hr" in f and "baseline_resting_hr" in f
        else 0
    )
    if rise >= 7:
        text = (
            f"Take a rest day: your resting heart rate is {f['resting_hr']}, well above your "
            f"usual {f['baseline_resting_hr']}."
        )
        action, reason = Action.STOP, "resting_hr_up"
    elif int(f.get("sessions_7d", 0) or 0) >= 6:
        text = f"You have trained {f['sessions_7d']} times this week. Take a rest day today."
        action, reason = Action.STOP, "many_sessions"
    elif (
        int(f.get("last_hard_min", 0) or 0) >= HARD_SESSION_MIN
        and int(f.get("hours_since_last", 999) or 0) < 48
    ):
        text = (
            f"Keep today easy: your last session, {f['hours_since_last']} hours ago, had "
            f"{f['last_hard_min']} hard minutes."
        )
        action, reason = Action.EASE_OFF, "hard_last_session"
    elif rise >= 4:
        text = (
            f"Keep today easy: your resting heart rate is {f['resting_hr']}, a little above "
            f"your usual {f['baseline_resting_hr']}."
        )
        action, reason = Action.EASE_OFF, "resting_hr_a_little_up"
    else:
        text = "You look ready: keep to your plan today."
        if "resting_hr" in f and "baseline_resting_hr" in f:
            text = (
                f"You look ready: your resting heart rate is {f['resting_hr']}, close to "
                f"your usual {f['baseline_resting_hr']}. Keep to your plan today."
            )
        action, reason = Action.HOLD, "ready"
    # Which rule decided is a fact too: the model words the decision, it does not redo it.
    f["reason"] = reason
    return _advice(task, kind, action, f, text, question=question)


# -- the plan -------------------------------------------------------------------------------------


def plan_facts(
    *,
    hours_since_last: int | None,
    last_hard_min: int,
    sessions_7d: int,
    hard_sessions_7d: int,
    zone_bounds: Mapping[int, tuple[int, int]],
) -> dict:
    """Today's session by the coach's simple rules: rest after a heavy week, easy after a hard
    day, intervals after easy days, otherwise a long steady or easy run.

    `zone_bounds` maps zone (1..5) to rounded (low, high) bpm (`ZoneModel.bounds_bpm`).
    """

    def session(kind: str, zone: int, **more: int) -> dict:
        low, high = zone_bounds[zone]
        return {"session": kind, "zone": zone, "zone_low": low, "zone_high": high, **more}

    if sessions_7d >= 6 or (
        hours_since_last is not None and hours_since_last < 24 and last_hard_min >= 25
    ):
        return {"session": "rest"}
    if hours_since_last is not None and hours_since_last < 48 and last_hard_min >= HARD_SESSION_MIN:
        return session("easy", 2, duration_min=30)
    if hard_sessions_7d == 0 and sessions_7d >= 2:
        return session("intervals", 4, reps=5, rep_min=3)
    if sessions_7d >= 3:
        return session("long", 2, duration_min=60)
    return session("easy", 2, duration_min=40)


#: What each kind of day the planner (`edge.training.plan`) suggests asks of the person.
_PLAN_ACTIONS = {"rest": Action.STOP, "hard": Action.PUSH, "intervals": Action.PUSH}


def plan_advice(
    facts: Facts,
    *,
    task: Task = Task.PLAN,
    kind: str = "plan",
    question: str = "",
    template: str | None = None,
    max_sentences: int = 3,
) -> Advice:
    """A day's plan: the planner's suggestion (`edgecoach plan`, facts with a ``reason``; its
    own text as `template`), or the simple rules of `plan_facts`."""
    f = facts
    if "reason" in f:
        session, rule = str(f["session"]), rule_of(str(f["reason"]))
        minutes = int(f.get("duration_min", 0))  # type: ignore[call-overload]
        text = template or suggestion_text(session, minutes, rule)  # type: ignore[arg-type]
        return _advice(
            task,
            kind,
            _PLAN_ACTIONS.get(session, Action.HOLD),
            f,
            text,
            question=question,
            forbid=untrue_reasons(rule),
            max_sentences=max_sentences,
        )
    match f.get("session"):
        case "rest":
            text = "Today is a rest day: let your body recover from your last sessions."
            action = Action.STOP
        case "intervals":
            text = (
                f"Today, {f['reps']} hard efforts of {f['rep_min']} minutes in zone "
                f"{f['zone']}, heart rate {f['zone_low']} to {f['zone_high']}, with easy "
                "jogging between. Push during the efforts and recover in between."
            )
            action = Action.PUSH
        case "long":
            text = (
                f"Today, a long steady run of {f['duration_min']} minutes in zone {f['zone']}, "
                f"heart rate {f['zone_low']} to {f['zone_high']}. Hold a pace you could "
                "talk at."
            )
            action = Action.HOLD
        case "easy":
            text = (
                f"Today, an easy {f['duration_min']} minutes in zone {f['zone']}, heart rate "
                f"{f['zone_low']} to {f['zone_high']}. Keep it relaxed so you recover while "
                "you build your base."
            )
            action = Action.HOLD
        case other:
            raise ValueError(f"no plan wording for session {other!r}")
    return _advice(task, kind, action, f, text, question=question)


def readiness_plan_advice(
    facts: Facts, *, question: str = "", template: str | None = None
) -> Advice:
    """ "Am I ready to train today?" answered with the one readiness (the morning reading, in
    the plan's facts `readiness_level` and `readiness_score`) and today's plan (`template`:
    the planner's own words for it). Saying that readiness is low is true when it is, whichever
    rule chose the day."""
    f = facts
    if f.get("readiness_score") is not None:
        said = f"Your readiness is {f['readiness_level']} today (score {f['readiness_score']})."
    else:
        said = "I have no morning reading today, so I can't tell your readiness."
    rule = rule_of(str(f["reason"]))
    if template is None:
        template = suggestion_text(
            str(f["session"]),
            int(f.get("duration_min", 0)),  # type: ignore[arg-type]
            rule,
        )
    advice = plan_advice(
        f,
        task=Task.QUESTION,
        kind=Intent.READINESS.value,
        question=question,
        template=f"{said} {template}",
        max_sentences=6,
    )
    low = ("low readiness",) if f.get("readiness_level") == "low" else ()
    return replace(advice, forbid=untrue_reasons(rule, low))


# -- questions ------------------------------------------------------------------------------------

_SAFETY_WORDS = re.compile(
    r"\b(chest|faint\w*|dizz\w*|pass(ed)? out|black(ed)? out|can't breathe|cannot breathe|"
    r"short of breath|breathless|palpitation\w*|racing heart|heart (is )?racing|pain in my arm|"
    r"collaps\w*|unwell|numb)",
    re.I,
)
_MEDICAL_WORDS = re.compile(
    r"\b(arrhythmi\w*|afib|a-fib|atrial|fibrillation|flutter|irregular\w*|rhythm\w*|"
    r"skipp?(ed|ing)? (a )?beats?|missed beats?|extra beats?|ectopic\w*|murmur\w*|"
    r"(heart|cardiac) (condition|disease|problem|failure|attack|issue)s?|"
    r"(a|any|my) (medical )?condition|disease|"
    r"illness|disorder|syndrome|diagnos\w*|medic(ation|ine)s?|meds|pills?|drugs?|"
    r"beta.?blockers?|blood thinners?|statins?|dos(e|es|age)|prescri\w*|tablets?|"
    r"side effects?|symptoms?|cardiologist|ecg|ekg|is (my|this) heart (ok|okay|normal|healthy)|"
    r"something wrong with my heart)\b",
    re.I,
)
_VOLUME_WORDS = re.compile(
    r"\b(next week|per week|a week|each week|every week|weekly|double|doubling|twice as (much|long)|"
    r"how (much|long|many minutes|many hours) (should|can|could|may) i|increase|add (more )?"
    r"(minutes|time|km|distance)|train (more|longer)|run (more|longer)|longer (run|ride|session)s?|"
    r"mileage|volume|\d+ (minutes|mins|hours|km))\b",
    re.I,
)
_UNKNOWN_WORDS = re.compile(
    r"\b(sleep\w*|weight|weigh|calorie\w*|kcal|vo2\w*|blood pressure|glucose|sugar|diet|"
    r"eat|food|weather|temperature|stress|hrv|oxygen|spo2|injur\w*|knee|race time|marathon time|"
    r"pace per km|power|watts)\b",
    re.I,
)
_INTENT_WORDS: tuple[tuple[Intent, re.Pattern[str]], ...] = (
    (
        Intent.READINESS,
        re.compile(
            r"\b(should i (train|run|ride|go)|ready|recovered|rest day|"
            r"take a (day|break)|too tired|train today)\b",
            re.I,
        ),
    ),
    (
        Intent.PLAN,
        re.compile(
            r"\b(plan|what should i do|what to do|workout|next session|"
            r"what('s| is) next|today's session plan)\b",
            re.I,
        ),
    ),
    (
        Intent.TREND,
        re.compile(
            r"\b(fitter|fitness|improv\w*|progress\w*|trend|getting better|"
            r"last (few|weeks?|month)|lately)\b",
            re.I,
        ),
    ),
    (Intent.ZONES, re.compile(r"\b(zones?|threshold)\b", re.I)),
    (
        Intent.HEART_RATE,
        re.compile(r"\b(max(imum)?|peak|highest|average|mean|heart rate|bpm)\b", re.I),
    ),
    (
        Intent.LAST_SESSION,
        re.compile(
            r"\b(session|run|ride|workout|training|today|yesterday|"
            r"how did|how was|went)\b",
            re.I,
        ),
    ),
)


def classify_question(question: str) -> Intent:
    """The question's intent by keywords; safety words win over everything, then unknown topics."""
    if _SAFETY_WORDS.search(question):
        return Intent.SAFETY
    if _MEDICAL_WORDS.search(question):
        return Intent.MEDICAL
    if _UNKNOWN_WORDS.search(question):
        return Intent.UNKNOWN
    if _VOLUME_WORDS.search(question):
        return Intent.VOLUME
    for intent, words in _INTENT_WORDS:
        if words.search(question):
            return intent
    return Intent.UNKNOWN


SAFETY_ANSWER = (
    "Stop and rest now. If you have chest pain, feel faint or are very short of "
    "breath, call for medical help."
)
NO_DATA_ANSWER = (
    "I don't have any recorded sessions yet, so I can't answer that from your data. "
    "Record a session and ask me again."
)
MEDICAL_ANSWER = (
    "I can't diagnose anything or advise on medication: please ask a doctor. If "
    "you have chest pain, feel faint or are very short of breath, stop and call "
    "for medical help."
)
UNKNOWN_ANSWER = (
    "I don't know that: I only have the heart rate, cadence and sessions recorded on this device."
)


def safety_answer(question: str = "") -> Advice:
    return Advice(
        Task.QUESTION,
        Intent.SAFETY.value,
        Action.STOP,
        {},
        SAFETY_ANSWER,
        question=question,
        deterministic=True,
    )


def medical_answer(question: str = "") -> Advice:
    """Rhythm, conditions, medication: fixed words, never a model's (a coach diagnoses nothing)."""
    return Advice(
        Task.QUESTION,
        Intent.MEDICAL.value,
        Action.STOP,
        {},
        MEDICAL_ANSWER,
        question=question,
        deterministic=True,
    )


#: The gradual rule for training volume: at most about this much more than last week.
MAX_WEEKLY_INCREASE_PCT = 10


def volume_answer(facts: Facts, question: str = "") -> Advice:
    """How much more to train, from the person's own weeks and the ~10 %/week rule.

    Facts: `last_week_min` (minutes trained in the last 7 days), `next_week_max_min` (10 % more),
    `increase_pct` (10); with a number of minutes in the question `asked_min`; when it asks to
    double something, `doubling` ("yes") and the longest recent session `longest_min` with
    `longest_next_max_min`.
    """
    f = dict(facts)
    last, cap, pct = f.get("last_week_min", 0), f.get("next_week_max_min", 0), f["increase_pct"]
    if not last:
        text = (
            f"I have no training in your last week to build on: start gently and add about "
            f"{pct} % a week. Keep it easy while you build up."
        )
        return _advice(
            Task.QUESTION,
            Intent.VOLUME.value,
            Action.HOLD,
            f,
            text,
            question=question,
            key_facts=("increase_pct",),
        )
    if f.get("doubling") and "longest_min" in f:
        text = (
            f"Doubling is too big a step: your longest recent session was "
            f"{f['longest_min']} minutes. Ease into it: about {f['longest_next_max_min']} "
            f"minutes next time, adding about {pct} % a week."
        )
        return _advice(
            Task.QUESTION, Intent.VOLUME.value, Action.EASE_OFF, f, text, question=question
        )
    asked = f.get("asked_min")
    if asked is not None and asked > cap:  # type: ignore[operator]
        text = (
            f"{asked} minutes is more than {pct} % above the {last} minutes you trained in "
            f"the last week. Ease into it: about {cap} minutes next week, then build up "
            "gradually."
        )
        action = Action.EASE_OFF
    elif asked is not None:
        text = (
            f"Yes: {asked} minutes is within about {pct} % of the {last} minutes you trained "
            "in the last week. Keep building gradually."
        )
        action = Action.HOLD
    else:
        text = (
            f"You trained {last} minutes in the last week. Keep the increase gradual: about "
            f"{pct} % a week, so up to {cap} minutes next week."
        )
        action = Action.HOLD
    return _advice(Task.QUESTION, Intent.VOLUME.value, action, f, text, question=question)


def no_data_answer(question: str = "") -> Advice:
    return Advice(
        Task.QUESTION,
        Intent.NO_DATA.value,
        None,
        {},
        NO_DATA_ANSWER,
        question=question,
        deterministic=True,
        require=DONT_KNOW,
    )


def unknown_answer(question: str = "", facts: Facts | None = None) -> Advice:
    return Advice(
        Task.QUESTION,
        Intent.UNKNOWN.value,
        None,
        facts or {},
        UNKNOWN_ANSWER,
        question=question,
        require=DONT_KNOW,
    )


def zones_answer(facts: Facts, question: str = "") -> Advice:
    """Facts: `zone`, `zone_low`, `zone_high` for one zone, or `max_hr` and `resting_hr`."""
    f = facts
    if "zone" in f:
        text = (
            f"Your zone {f['zone']} is heart rate {f['zone_low']} to {f['zone_high']}, "
            f"from your resting {f['resting_hr']} and maximum {f['max_hr']}."
        )
    else:
        text = (
            f"Your zones come from your resting heart rate of {f['resting_hr']} and your "
            f"maximum of {f['max_hr']}; the top zone starts at {f['zone5_lower']}."
        )
    return _advice(Task.QUESTION, Intent.ZONES.value, None, f, text, question=question)


def heart_rate_answer(facts: Facts, question: str = "") -> Advice:
    f = facts
    if "mean_hr" not in f:
        return (
            unknown_answer(question, f)
            if not f
            else Advice(
                Task.QUESTION,
                Intent.HEART_RATE.value,
                None,
                f,
                f"{_when(f.get('days_ago'))} I have no heart rate: the strap recorded nothing, so I "
                "don't know.",
                question=question,
                require=DONT_KNOW,
            )
        )
    text = (
        f"{_when(f.get('days_ago'))} your heart rate averaged {f['mean_hr']} and peaked at "
        f"{f['max_hr']}, over {f['duration_min']} minutes."
    )
    return _advice(Task.QUESTION, Intent.HEART_RATE.value, None, f, text, question=question)


#: Sessions needed on each side of a trend comparison.
TREND_SESSIONS = 3


def trend_answer(facts: Facts, question: str = "") -> Advice:
    """Facts: `sessions` (recorded), and when there are enough `mean_hr_recent`,
    `mean_hr_before` (average heart rate of the last and the previous `TREND_SESSIONS`).

    With fitness markers (`edge.reports.fitness.fitness_trend`: `ef_before`, `ef_recent`...)
    the answer is the efficiency factor's trend over the weeks instead; with too few sessions
    for one (`needed_sessions`), the heart-rate comparison says so too."""
    f = dict(facts)
    if "ef_recent" in f:
        return _fitness_trend_answer(f, question)
    if "mean_hr_recent" in f and "needed_sessions" in f:
        plain = trend_answer({k: v for k, v in f.items() if not _is_fitness_fact(k)}, question)
        f = {**plain.facts, **f}
        text = (
            f"{plain.template} For a fitness trend I need at least {f['needed_sessions']} "
            f"rides with power or runs with speed over {f['needed_days']} days; I have "
            f"{f['fitness_sessions']} over {f['fitness_days']} days."
        )
        return _advice(Task.QUESTION, Intent.TREND.value, None, f, text, question=question)
    if "mean_hr_recent" not in f:
        if "sessions" in f:
            f["sessions_needed"] = 2 * TREND_SESSIONS
            text = (
                f"I can't tell yet: I have {f['sessions']} sessions with heart rate and "
                f"need {f['sessions_needed']} to compare."
            )
        else:
            text = "I can't tell yet: I need more sessions with heart rate to compare."
        return Advice(
            Task.QUESTION, Intent.TREND.value, None, f, text, question=question, require=DONT_KNOW
        )
    recent, before = f["mean_hr_recent"], f["mean_hr_before"]
    f = dict(f)
    f["trend"] = (
        "lower"
        if recent < before  # type: ignore[operator]
        else "higher"
        if recent > before
        else "same"
    )  # type: ignore[operator]
    if recent < before:  # type: ignore[operator]
        trend = (
            "lower for similar training can be a sign of better fitness, though heart rate "
            "alone can't tell for sure."
        )
    elif recent > before:  # type: ignore[operator]
        trend = (
            "higher can mean tougher sessions, heat or tiredness; heart rate alone can't "
            "tell which."
        )
    else:
        trend = "about the same."
    text = (
        f"Your average heart rate was {recent} over your last sessions and {before} over "
        f"the ones before: {trend}"
    )
    return _advice(Task.QUESTION, Intent.TREND.value, None, f, text, question=question)


_FITNESS_FACTS = (
    "measure",
    "fitness_sessions",
    "fitness_days",
    "needed_sessions",
    "needed_days",
    "weeks",
    "ef_before",
    "ef_recent",
    "ef_change_pct",
    "ef_direction",
    "reference",
    "hr_at_reference_before",
    "hr_at_reference_recent",
    "decoupling_recent_pct",
)


def _is_fitness_fact(key: str) -> bool:
    return key in _FITNESS_FACTS


def _fitness_trend_answer(f: dict[str, float | int | str], question: str) -> Advice:
    """The efficiency factor (effort per heartbeat) of the recent sessions against the earlier
    ones, and the heart rate at the reference effort where known; never a diagnosis."""
    ride = f["measure"] == "power"
    what = "power per heartbeat" if ride else "speed per heartbeat"
    change, direction = int(f["ef_change_pct"]), f["ef_direction"]
    text = (
        f"Your efficiency factor, {what}, went from {format_value(f['ef_before'])} to "
        f"{format_value(f['ef_recent'])} over {f['weeks']} weeks, {change} percent {direction}."
    )
    if "hr_at_reference_recent" in f:
        unit = "watts" if ride else "km/h"
        text += (
            f" Your heart rate at {format_value(f['reference'])} {unit} went from "
            f"{f['hr_at_reference_before']} to {f['hr_at_reference_recent']}."
        )
    if direction == "up" and change >= 2:
        text += " More effort for each beat is a sign of better aerobic fitness."
    elif direction == "down" and change >= 2:
        text += (
            " Less effort for each beat can mean tiredness, heat or less training; these "
            "markers alone can't tell which."
        )
    else:
        text += " No clear change yet."
    return _advice(Task.QUESTION, Intent.TREND.value, None, f, text, question=question)


def question_advice(question: str, intent: Intent, facts: Facts) -> Advice:
    """The answer to `question` from the facts its intent needs (see `edge.commands.ask`)."""
    match intent:
        case Intent.SAFETY:
            return safety_answer(question)
        case Intent.MEDICAL:
            return medical_answer(question)
        case Intent.VOLUME:
            return volume_answer(facts, question)
        case Intent.NO_DATA:
            return no_data_answer(question)
        case Intent.UNKNOWN:
            return unknown_answer(question, facts)
        case Intent.LAST_SESSION:
            return summary_advice(facts, task=Task.QUESTION, kind=intent.value, question=question)
        case Intent.HEART_RATE:
            return heart_rate_answer(facts, question)
        case Intent.ZONES:
            return zones_answer(facts, question)
        case Intent.TREND:
            return trend_answer(facts, question)
        case Intent.READINESS if "reason" in facts and "session" in facts:
            return readiness_plan_advice(facts, question=question)
        case Intent.READINESS:
            return readiness_advice(facts, task=Task.QUESTION, kind=intent.value, question=question)
        case Intent.PLAN:
            return plan_advice(facts, task=Task.QUESTION, kind=intent.value, question=question)
    raise ValueError(f"no answer for intent {intent!r}")


# -- from a record (corpus line, scenario) --------------------------------------------------------


def advice_for(
    task: str,
    facts: Facts,
    *,
    kind: str = "",
    action: str | None = None,
    question: str = "",
    cue_id: int = 0,
) -> Advice:
    """The advice a record describes: a cue (`kind` a CueKind, `action` or the rules' own),
    a summary, readiness, plan, or a question (`kind` an Intent, or classified from `question`).
    """
    task = Task(task)
    facts = dict(facts)
    match task:
        case Task.CUE:
            cue_kind = CueKind(kind)
            spec = CUE_SPECS[cue_kind]
            cue_action = Action(action) if action else spec.action_for(facts)
            cue = Cue(cue_id, 0, cue_kind, cue_action, spec.priority, facts)
            return cue_advice(cue)
        case Task.SUMMARY:
            return summary_advice(facts)
        case Task.READINESS:
            return readiness_advice(facts)
        case Task.PLAN:
            return plan_advice(facts)
        case Task.QUESTION:
            intent = Intent(kind) if kind else classify_question(question)
            return question_advice(question, intent, facts)
    raise ValueError(f"unknown task {task!r}")
