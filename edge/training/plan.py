"""Plans: today's suggestion and a week of them, inside established exercise guidelines.

The rules, each with its source:

* **Volume.** WHO 2020 and ACSM: 150-300 min a week of moderate activity, or 75-150 min of
  vigorous, or a mix (a vigorous minute counting as two). `goal_minutes` (150) sets the
  guideline load (`goal_minutes` at 50 % of heart-rate reserve, the middle of ACSM's moderate
  band, in TRIMP); a person without a week of training starts at two thirds of it (ACSM: begin
  below the target and build up gradually), and ramping stops once last week was above the
  upper end (300 min).
* **Progression.** The weekly load rises by at most 10 % over last week's (the "10 % rule" of
  ACSM's progression advice); the plan ramps by 5 %, and by the full 10 % only after "too easy"
  feedback. No ramp at all when the acute:chronic workload ratio is above 1.3 (Gabbett 2016).
* **Hard/easy.** At most two hard (zone 4) days a week, one more than last week's at most
  (polarised training, Seiler 2010: most training easy); a hard day is always followed by an
  easy day or rest (Bowerman's hard/easy principle), and a week has at least one rest day.
* **Readiness.** When readiness is low (HRV-guided training: Kiviniemi et al. 2007, Plews et al.
  2013) the day goes easy or rest, and a hard day after it becomes moderate.
* **Feedback.** RPE on Borg's CR10 scale. An RPE of 8 or more, or "too hard", on a session of
  the previous 7 days lowers the next plan: load -15 % from last week's, one hard day fewer, and
  no hard day today. An RPE of 3 or less, or "too easy", on a moderate, long or hard session
  raises it within the 10 % cap: +10 % instead of +5 %, one hard day more (at most two). An easy
  session that felt easy is what it was meant to be and changes nothing. "Too hard" wins over
  "too easy".

Load is Banister TRIMP (`edge.training.load`); each kind of day has an intensity mix that turns
its minutes into expected TRIMP. Every suggestion's `basis` holds the numbers it rests on. These
are training suggestions, not medical advice: nothing here diagnoses anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from edge.training.load import (
    BANISTER_K_MALE,
    MODERATE_HRR,
    VIGOROUS_HRR,
    SessionLoad,
    acute_chronic_ratio,
    banister_trimp_per_minute,
    load_between,
)
from edge.training.readiness import Readiness

__all__ = [
    "ACWR_NO_RAMP",
    "MAX_HARD_DAYS",
    "MAX_WEEKLY_INCREASE",
    "Feedback",
    "Kind",
    "Suggestion",
    "WeeklyPlan",
    "daily_suggestion",
    "feedback_signal",
    "planned_load",
    "weekly_plan",
]

Kind = Literal["rest", "easy", "moderate", "hard", "long"]
Signal = Literal["too hard", "too easy"]

MAX_WEEKLY_INCREASE = 0.10
NORMAL_RAMP = 1.05
EASY_FEEDBACK_RAMP = 1.0 + MAX_WEEKLY_INCREASE
HARD_FEEDBACK_RAMP = 0.85
ACWR_NO_RAMP = 1.3
MAX_HARD_DAYS = 2
#: RPE (Borg CR10) at or above this is "too hard", at or below the other "too easy".
RPE_TOO_HARD = 8
RPE_TOO_EASY = 3
#: Minutes multiplier for today's session after feedback.
MINUTES_AFTER = {"too hard": 0.85, "too easy": 1.10}
#: Readiness-lowered days: this many minutes easy in zone 1.
LOW_READINESS_MINUTES = 20


@dataclass(frozen=True, slots=True)
class _Spec:
    minutes: int
    lo: int
    hi: int
    zones: tuple[int, ...]
    #: (fraction of the time, fraction of heart-rate reserve)
    mix: tuple[tuple[float, float], ...]


SPECS: Mapping[str, _Spec] = {
    "easy": _Spec(30, 20, 60, (1, 2), ((1.0, 0.58),)),
    "moderate": _Spec(40, 25, 60, (2, 3), ((0.3, 0.62), (0.7, 0.74))),
    "hard": _Spec(40, 30, 60, (4,), ((0.55, 0.58), (0.45, 0.85))),
    "long": _Spec(60, 45, 120, (2,), ((1.0, 0.63),)),
}
_INTENSITY_RANK = {"rest": 0, "easy": 1, "long": 2, "moderate": 3, "hard": 4}
#: Week layouts by number of hard days, day 0 first; every one starts easy (so a hard day
#: before the week is followed by an easy one), follows each hard day with easy or rest, and
#: has at least one rest day.
TEMPLATES: Mapping[int, tuple[Kind, ...]] = {
    0: ("easy", "moderate", "rest", "easy", "moderate", "rest", "long"),
    1: ("easy", "hard", "easy", "rest", "moderate", "rest", "long"),
    2: ("easy", "hard", "easy", "rest", "hard", "easy", "long"),
}


def trimp_per_minute(kind: str, k: float = BANISTER_K_MALE) -> float:
    """Expected TRIMP per minute of a day of `kind`, from its intensity mix."""
    if kind == "rest":
        return 0.0
    return sum(f * banister_trimp_per_minute(hrr, k) for f, hrr in SPECS[kind].mix)


def moderate_equivalent_per_minute(kind: str) -> float:
    """WHO 2020 moderate-equivalent minutes per minute (vigorous counts double)."""
    if kind == "rest":
        return 0.0
    return sum(
        f * (2.0 if hrr >= VIGOROUS_HRR else 1.0 if hrr >= MODERATE_HRR else 0.0)
        for f, hrr in SPECS[kind].mix
    )


@dataclass(frozen=True, slots=True)
class Feedback:
    """How a session felt: RPE 1-10 (Borg CR10), "too hard", "too easy", a note, or nothing."""

    session_id: int
    rpe: int | None = None
    text: str | None = None

    @property
    def label(self) -> str | None:
        """ "too hard" or "too easy" when the text starts with one (before any ':'), else None."""
        head = (self.text or "").split(":", 1)[0].strip().lower()
        return head if head in ("too hard", "too easy") else None

    @property
    def signal(self) -> Signal | None:
        if self.label == "too hard" or (self.rpe is not None and self.rpe >= RPE_TOO_HARD):
            return "too hard"
        if self.label == "too easy" or (self.rpe is not None and self.rpe <= RPE_TOO_EASY):
            return "too easy"
        return None

    @classmethod
    def from_store(cls, session_id: int, row: Mapping[str, Any]) -> Feedback:
        """From one of `SessionStore.feedback(session_id)`'s dicts."""
        return cls(session_id, row.get("rpe"), row.get("text"))


def feedback_signal(
    history: Sequence[SessionLoad], feedback: Iterable[Feedback], start: date, end: date
) -> tuple[Signal | None, list[dict[str, object]]]:
    """The feedback signal of the sessions on days `start` <= day < `end`, and what it rests on.

    "too hard" from any such session; else "too easy" from a moderate, long or hard one.
    """
    sessions = {
        s.session_id: s for s in history if s.session_id is not None and start <= s.day < end
    }
    used: list[dict[str, object]] = []
    signals = set()
    for item in feedback:
        session = sessions.get(item.session_id)
        signal = item.signal
        if session is None or signal is None:
            continue
        if signal == "too easy" and session.kind == "easy":
            continue
        signals.add(signal)
        used.append(
            {
                "session_id": item.session_id,
                "day": session.day.isoformat(),
                "session_kind": session.kind,
                "rpe": item.rpe,
                "text": item.text,
                "signal": signal,
            }
        )
    signal: Signal | None = (
        "too hard" if "too hard" in signals else "too easy" if "too easy" in signals else None
    )
    return signal, used


@dataclass(frozen=True, slots=True)
class Suggestion:
    kind: Kind
    minutes: int
    #: The heart-rate zones (Karvonen, 1..5) to stay in; empty on a rest day.
    zones: tuple[int, ...]
    text: str
    basis: dict[str, object] = field(default_factory=dict)
    day: date | None = None

    @property
    def expected_load(self) -> float:
        """TRIMP expected from the minutes and kind; what was measured, for a day already done."""
        if "actual_load" in self.basis:
            return float(self.basis["actual_load"])  # type: ignore[arg-type]
        k = float(self.basis.get("k", BANISTER_K_MALE))  # type: ignore[arg-type]
        return self.minutes * trimp_per_minute(self.kind, k)

    def facts(self) -> dict[str, object]:
        """Plain values for the language model that words the suggestion: no nesting."""
        basis = self.basis
        facts: dict[str, object] = {
            "day": None if self.day is None else self.day.isoformat(),
            "kind": self.kind,
            "minutes": self.minutes,
            "zone_low": min(self.zones) if self.zones else None,
            "zone_high": max(self.zones) if self.zones else None,
            "reason": basis.get("rule"),
        }
        for key in (
            "readiness_score",
            "readiness_level",
            "week_load_so_far",
            "week_load_target",
            "week_load_cap",
            "last_week_load",
            "acute_chronic_ratio",
            "hard_sessions_this_week",
            "hard_days_allowed",
            "yesterday",
            "feedback",
        ):
            if key in basis:
                value = basis[key]
                facts[key] = round(value, 2) if isinstance(value, float) else value
        return facts

    def as_dict(self) -> dict[str, object]:
        return {
            "day": None if self.day is None else self.day.isoformat(),
            "kind": self.kind,
            "minutes": self.minutes,
            "zones": list(self.zones),
            "text": self.text,
            "basis": self.basis,
        }


@dataclass(frozen=True, slots=True)
class WeeklyPlan:
    days: list[Suggestion]
    #: The week's TRIMP bound: never more than 10 % above last week's.
    weekly_load_target: float
    basis: dict[str, object] = field(default_factory=dict)

    @property
    def hard_days(self) -> int:
        return sum(1 for d in self.days if d.kind == "hard")

    @property
    def rest_days(self) -> int:
        return sum(1 for d in self.days if d.kind == "rest")

    @property
    def planned_load(self) -> float:
        return planned_load(self.days)

    def as_dict(self) -> dict[str, object]:
        return {
            "weekly_load_target": round(self.weekly_load_target, 1),
            "planned_load": round(self.planned_load, 1),
            "hard_days": self.hard_days,
            "rest_days": self.rest_days,
            "days": [d.as_dict() for d in self.days],
            "basis": self.basis,
        }


def planned_load(days: Iterable[Suggestion]) -> float:
    return sum(d.expected_load for d in days)


# -- the week's bounds ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _WeekRules:
    target: float
    cap: float | None
    hard_days: int
    #: What `hard_days` would be without the feedback.
    hard_days_unadjusted: int
    signal: Signal | None
    basis: dict[str, object]


def _week_rules(
    history: Sequence[SessionLoad],
    feedback: Sequence[Feedback],
    start: date,
    *,
    goal_minutes: float,
    k: float,
    feedback_from: date,
    feedback_to: date,
    acwr_as_of: date,
) -> _WeekRules:
    """Load target, cap and hard days for the 7 days from `start`, from the 7 days before it."""
    last_start = start - timedelta(days=7)
    last_load = load_between(history, last_start, start)
    last_hard = sum(1 for s in history if last_start <= s.day < start and s.kind == "hard")
    acwr = acute_chronic_ratio(history, acwr_as_of)
    signal, used = feedback_signal(history, feedback, feedback_from, feedback_to)
    per_moderate_minute = banister_trimp_per_minute(0.5, k)
    goal_load = goal_minutes * per_moderate_minute
    start_load = goal_load * 2 / 3
    upper_load = 2 * goal_load
    rules: list[str] = []
    if last_load < start_load:
        ramp = {"too hard": HARD_FEEDBACK_RAMP, "too easy": EASY_FEEDBACK_RAMP}.get(
            signal or "", 1.0
        )
        target, cap = start_load * ramp, None
        unadjusted = 0
        hard = 1 if signal == "too easy" else 0
        rules.append(
            "last week below the starting level: start at two thirds of the guideline "
            "load, no hard days"
        )
    else:
        if signal == "too hard":
            ramp = HARD_FEEDBACK_RAMP
            rules.append("'too hard' feedback: load -15 % from last week, one hard day fewer")
        elif signal == "too easy":
            ramp = EASY_FEEDBACK_RAMP
            rules.append("'too easy' feedback: load +10 % (the cap), one hard day more")
        elif last_load >= upper_load:
            ramp = 1.0
            rules.append("last week above the guideline's upper end: hold the load")
        else:
            ramp = NORMAL_RAMP
            rules.append("progress the load by 5 % (at most 10 % a week)")
        hard = min(MAX_HARD_DAYS, last_hard + 1)
        if acwr is not None and acwr > ACWR_NO_RAMP:
            ramp = min(ramp, 1.0)
            hard = min(hard, 1)
            rules.append(
                f"acute:chronic ratio {acwr:.2f} above {ACWR_NO_RAMP}: no ramp, at most "
                "one hard day"
            )
        unadjusted = hard
        if signal == "too hard":
            hard = max(0, hard - 1)
        elif signal == "too easy":
            hard = min(MAX_HARD_DAYS, hard + 1)
        cap = last_load * (1.0 + MAX_WEEKLY_INCREASE)
        target = min(last_load * ramp, cap)
    basis: dict[str, object] = {
        "k": k,
        "week_start": start.isoformat(),
        "last_week_load": round(last_load, 1),
        "last_week_hard_sessions": last_hard,
        "acute_chronic_ratio": None if acwr is None else round(acwr, 2),
        "guideline_load": round(goal_load, 1),
        "guideline": f"{goal_minutes:g}-{2 * goal_minutes:g} min moderate or "
        f"{goal_minutes / 2:g}-{goal_minutes:g} min vigorous a week (WHO 2020)",
        "ramp": round(ramp, 3),
        "week_load_target": round(target, 1),
        "week_load_cap": None if cap is None else round(cap, 1),
        "hard_days_allowed": hard,
        "feedback": signal,
        "feedback_used": used,
        "rules": rules,
    }
    return _WeekRules(target, cap, hard, unadjusted, signal, basis)


# -- building days -------------------------------------------------------------------------------

_REASONS = {
    "already trained": "You have already trained today.",
    "seven day rest": "You have trained every day for almost a week: take a day off to recover.",
    "after hard": "Yesterday was hard, so today is easy: a hard day is always followed by an "
    "easy one or rest.",
    "after hard, low readiness": "Yesterday was hard and readiness is low, so today is rest.",
    "low readiness": "Your resting heart-rate variability or heart rate is off your own normal "
    "of the last week, so today stays easy. This is a training suggestion, not "
    "a medical assessment; if you feel unwell, rest.",
    "load reached": "This week's load target is reached.",
    "hard": "A hard day is due: there has been none in the last two days and the week allows it.",
    "too hard": "Recent sessions felt too hard, so no hard session today.",
    "long": "No long session this week yet.",
    "after moderate": "Yesterday was a steady session, so today is easy.",
    "moderate": "A steady session fits this week's load.",
    "template": "",
    "dropped": "Made a rest day to keep the week within its load target.",
}


def _text(kind: Kind, minutes: int, reason: str, zones: tuple[int, ...], note: str = "") -> str:
    if reason == "done":
        head = f"Done: {kind} session, {minutes} min." if kind != "rest" else "Done."
        return f"{head} {note}".strip()
    if kind == "rest":
        head = "Rest day: no training; an easy walk is fine."
    elif kind == "easy":
        where = "zone 1" if zones == (1,) else "zones 1-2"
        head = (
            f"Easy {minutes} min in {where}: keep to a pace at which you can talk in full "
            "sentences."
        )
    elif kind == "moderate":
        head = f"Moderate {minutes} min: 10 min easy in zone 2, then steady in zone 3."
    elif kind == "hard":
        reps = hard_reps(minutes)
        head = (
            f"Hard {minutes} min: warm up 10 min in zone 2, then push through {reps} x 3 min "
            "in zone 4 with 2 min easy between, and cool down."
        )
    else:
        head = f"Long {minutes} min, steady in zone 2."
    sentence = _REASONS.get(reason)
    if sentence is None:
        sentence = reason[:1].upper() + reason[1:] + "."
    return " ".join(part for part in (head, sentence, note) if part)


#: How a reply would state each rule's reason: a reply that states another rule's is untrue.
REASON_CLAIMS = {
    "already trained": r"already trained",
    "seven day rest": r"every day|in a row|six days|days straight",
    "after hard": r"yesterday(?:'s| was)? (?:a )?hard|after (?:a |yesterday's )?hard",
    "low readiness": r"readiness (?:is )?(?:low|down)|low readiness",
    "load reached": r"load (?:target )?(?:is )?(?:reached|done)|reached (?:this|the) week's",
    "after moderate": r"yesterday was (?:a )?steady|after (?:a |yesterday's )?steady",
    "too hard": r"too hard",
    "hard": r"hard day is due|due (?:for )?a hard",
    "long": r"no long session",
    "moderate": r"fits (?:in )?this week's load",
}
#: Rules whose reason is two others' together.
_BOTH = {"after hard, low readiness": ("after hard", "low readiness")}


def untrue_reasons(rule: str, also_true: Iterable[str] = ()) -> str:
    """A regular expression for the reasons that `rule` does not give (for the guard); those
    in `also_true` may be said all the same (a low readiness, stated as a fact)."""
    true = {rule, *_BOTH.get(rule, ()), *also_true}
    return "|".join(f"(?:{claim})" for name, claim in REASON_CLAIMS.items() if name not in true)


def hard_reps(minutes: int) -> int:
    """The 3-minute efforts of a hard day of `minutes` (10 min warm-up, 2 min easy between)."""
    return min(max((minutes - 20) // 5, 3), 8)


def reason_token(rule: str) -> str:
    """A rule ("after hard, low readiness") as one word for the language model's facts."""
    return "_".join(re.findall(r"[a-z0-9]+", rule.lower()))


def rule_of(token: str) -> str:
    """The rule a `reason_token` stands for."""
    return {reason_token(rule): rule for rule in _REASONS}.get(token, token.replace("_", " "))


def suggestion_text(kind: Kind, minutes: int, rule: str) -> str:
    """The rules' words for a suggestion of `kind` and `minutes` made by `rule`."""
    if kind == "rest":
        zones: tuple[int, ...] = ()
    else:
        zones = (1,) if rule == "low readiness" else SPECS[kind].zones
    return _text(kind, minutes, rule, zones)


def _suggestion(
    kind: Kind,
    minutes: int,
    reason: str,
    basis: dict[str, object],
    day: date | None,
    zones: tuple[int, ...] | None = None,
    note: str = "",
) -> Suggestion:
    if kind == "rest":
        minutes, zones = 0, ()
    elif zones is None:
        zones = SPECS[kind].zones
    return Suggestion(
        kind,
        minutes,
        zones,
        _text(kind, minutes, reason, zones, note),
        {**basis, "rule": reason},
        day,
    )


def _floor5(minutes: float) -> int:
    return int(math.floor(minutes / 5 + 1e-9) * 5)


def _fit_minutes(
    kinds: list[Kind], fixed: dict[int, int], budget: float, k: float
) -> tuple[list[Kind], dict[int, int]]:
    """Minutes per day that fill `budget` TRIMP without exceeding it, dropping days if needed.

    Flexible days are scaled together from their default lengths, each kept within its range and
    rounded down to 5 min, then grown 5 min at a time (longest first) while the budget allows;
    when even the shortest sessions would exceed the budget, easy days (latest first), then
    moderate, long and hard days become rest until it fits.
    """
    kinds = list(kinds)
    fixed = dict(fixed)
    order = ("easy", "moderate", "long", "hard")
    while True:
        fixed_load = sum(m * trimp_per_minute(kinds[i], k) for i, m in fixed.items())
        flexible = [i for i, kind in enumerate(kinds) if kind != "rest" and i not in fixed]
        base = sum(SPECS[kinds[i]].minutes * trimp_per_minute(kinds[i], k) for i in flexible)
        room = budget - fixed_load
        scale = room / base if base > 0 else 0.0
        minutes = {}
        for i in flexible:
            spec = SPECS[kinds[i]]
            minutes[i] = min(max(_floor5(spec.minutes * scale), spec.lo), spec.hi)
        total = fixed_load + sum(m * trimp_per_minute(kinds[i], k) for i, m in minutes.items())
        if total <= budget + 1e-9:
            # Rounding down left room: add 5 min at a time, longest session first, while it fits.
            grown = True
            while grown:
                grown = False
                for i in sorted(minutes, key=lambda i: -minutes[i]):
                    extra = 5 * trimp_per_minute(kinds[i], k)
                    if minutes[i] + 5 <= SPECS[kinds[i]].hi and total + extra <= budget + 1e-9:
                        minutes[i] += 5
                        total += extra
                        grown = True
            return kinds, {**fixed, **minutes}
        droppable = [i for kind in order for i in reversed(flexible) if kinds[i] == kind]
        if not droppable:
            droppable = sorted(fixed, reverse=True)
            if not droppable:
                return kinds, {}
            fixed.pop(droppable[0])
        kinds[droppable[0]] = "rest"


def weekly_plan(
    history: Sequence[SessionLoad],
    readiness: Readiness | None,
    feedback: Sequence[Feedback],
    week_start: date,
    goal_minutes: float = 150,
    *,
    k: float = BANISTER_K_MALE,
) -> WeeklyPlan:
    """Seven days from `week_start`, bounded by the rules in the module docstring.

    The week's load target comes from the 7 days before `week_start`; feedback counts from the
    sessions of those days. The layout is `TEMPLATES[hard days allowed]`; low readiness makes its
    day (`readiness.date` when it falls in the week, else day 0) a 20-min easy day in zone 1 and
    the next day's hard session moderate. The other days' minutes are scaled so the planned load
    fills the target without exceeding it (`_fit_minutes`).
    """
    rules = _week_rules(
        history,
        feedback,
        week_start,
        goal_minutes=goal_minutes,
        k=k,
        feedback_from=week_start - timedelta(days=7),
        feedback_to=week_start,
        acwr_as_of=week_start,
    )
    kinds: list[Kind] = list(TEMPLATES[rules.hard_days])
    reasons = ["template"] * 7
    fixed: dict[int, int] = {}
    zones: dict[int, tuple[int, ...]] = {}
    basis = dict(rules.basis)
    basis["layout"] = list(TEMPLATES[rules.hard_days])
    applied = list(rules.basis["rules"])  # type: ignore[call-overload]
    # Days of the week already trained (usually today, after a session) are done: their load
    # counts against the target and a hard one is followed by an easy day.
    done: dict[int, list[SessionLoad]] = {}
    for session in history:
        offset = (session.day - week_start).days
        if 0 <= offset < 7:
            done.setdefault(offset, []).append(session)
    done_load = sum(s.trimp for sessions in done.values() for s in sessions)
    for offset in done:
        kinds[offset] = "rest"
    if readiness is not None and readiness.known:
        basis.update(readiness_score=readiness.score, readiness_level=readiness.level)
    if readiness is not None and readiness.level == "low":
        offset = (readiness.date - week_start).days if readiness.date is not None else 0
        if 0 <= offset < 7 and offset not in done:
            if kinds[offset] != "rest":
                kinds[offset] = "easy"
                fixed[offset] = LOW_READINESS_MINUTES
                zones[offset] = (1,)
                reasons[offset] = "low readiness"
            if offset + 1 < 7 and kinds[offset + 1] == "hard":
                kinds[offset + 1] = "moderate"
                reasons[offset + 1] = "low readiness the day before: moderate instead of hard"
            applied.append(f"readiness low on day {offset}: easy, and no hard day after it")
    for offset, sessions in done.items():
        if (
            _hardest(s.kind for s in sessions) == "hard"
            and offset + 1 < 7
            and kinds[offset + 1] == "hard"
        ):
            kinds[offset + 1] = "easy"
            reasons[offset + 1] = "after hard"
    open_days = [i for i in range(7) if i not in done]
    if open_days and not any(kinds[i] == "rest" for i in open_days):
        last = max((i for i in open_days if kinds[i] != "hard"), default=open_days[-1])
        kinds[last] = "rest"
        reasons[last] = "seven day rest"
    basis["rules"] = applied
    kinds, minutes = _fit_minutes(kinds, fixed, max(rules.target - done_load, 0.0), k)
    days = []
    for i, kind in enumerate(kinds):
        day = week_start + timedelta(days=i)
        day_basis: dict[str, object] = {
            "k": k,
            "week_load_target": basis["week_load_target"],
            "hard_days_allowed": rules.hard_days,
            "feedback": rules.signal,
        }
        if "readiness_score" in basis and i == 0:
            day_basis.update(
                readiness_score=basis["readiness_score"], readiness_level=basis["readiness_level"]
            )
        if i in done:
            sessions = done[i]
            load = sum(s.trimp for s in sessions)
            day_basis.update(actual_load=round(load, 1), sessions=[s.session_id for s in sessions])
            days.append(
                _suggestion(
                    _hardest(s.kind for s in sessions),  # type: ignore[arg-type]
                    round(sum(s.minutes for s in sessions)),
                    "done",
                    day_basis,
                    day,
                    (),
                    f"TRIMP {load:.0f}.",
                )
            )
            continue
        reason = reasons[i]
        if kind == "rest" and basis["layout"][i] != "rest":  # type: ignore[index]
            reason = "dropped"
        days.append(_suggestion(kind, minutes.get(i, 0), reason, day_basis, day, zones.get(i)))
    basis["done_load"] = round(done_load, 1)
    basis["planned_load"] = round(planned_load(days), 1)
    basis["planned_moderate_equivalent_min"] = round(
        sum(
            d.minutes * moderate_equivalent_per_minute(d.kind)
            for d in days
            if d.basis.get("rule") != "done"
        ),
        1,
    )
    return WeeklyPlan(days, rules.target, basis)


def _hardest(kinds: Iterable[str]) -> str:
    return max(kinds, key=lambda kind: _INTENSITY_RANK[kind], default="rest")


def daily_suggestion(
    history: Sequence[SessionLoad],
    readiness: Readiness | None,
    feedback: Sequence[Feedback],
    today: date,
    goal_minutes: float = 150,
    *,
    k: float = BANISTER_K_MALE,
) -> Suggestion:
    """Today's session, from the rolling week (the 6 days before today and today).

    The rolling week's load target follows the weekly rules, from the 7 days before it; feedback
    counts from the sessions of the last 7 days. The first rule that applies decides:

    1. a session today already: rest;  2. training on each of the last 6 days: rest;
    3. hard yesterday: easy (rest when readiness is low);  4. low readiness: 20 min easy;
    5. a hard day due (one allowed this rolling week, none in the last two days): hard, or
    moderate after "too hard" feedback;  6. no long session in the rolling week: long;
    7. moderate or long yesterday: easy; else moderate.

    Minutes are the kind's default (x0.85 after "too hard", x1.1 after "too easy"), cut to what
    is left of the week's load target; a kind that no longer fits becomes easy, and rest when
    not even 20 easy minutes fit.
    """
    window_start = today - timedelta(days=6)
    rules = _week_rules(
        history,
        feedback,
        window_start,
        goal_minutes=goal_minutes,
        k=k,
        feedback_from=today - timedelta(days=7),
        feedback_to=today,
        acwr_as_of=today,
    )
    done = load_between(history, window_start, today)
    remaining = rules.target - done
    in_window = [s for s in history if window_start <= s.day < today]
    trained_days = {s.day for s in in_window}
    hard_days = sorted({s.day for s in in_window if s.kind == "hard"})
    yesterday = _hardest(s.kind for s in history if s.day == today - timedelta(days=1))
    low = readiness is not None and readiness.level == "low"
    basis: dict[str, object] = {
        **rules.basis,
        "week_load_so_far": round(done, 1),
        "week_load_remaining": round(max(remaining, 0.0), 1),
        "hard_sessions_this_week": len(hard_days),
        "training_days_this_week": len(trained_days),
        "yesterday": yesterday,
    }
    if readiness is not None:
        basis.update(
            readiness_score=readiness.score,
            readiness_level=readiness.level,
            readiness=readiness.basis,
        )

    def make(kind: Kind, reason: str) -> Suggestion:
        if kind == "rest":
            return _suggestion("rest", 0, reason, basis, today)
        zones = (1,) if reason == "low readiness" else None
        if reason == "low readiness":
            minutes = float(LOW_READINESS_MINUTES)
        else:
            minutes = SPECS[kind].minutes * MINUTES_AFTER.get(rules.signal or "", 1.0)
        note = ""
        extra: dict[str, object] = {}
        while True:
            spec = SPECS[kind]
            fits = _floor5(min(minutes, spec.hi, remaining / trimp_per_minute(kind, k)))
            if fits >= spec.lo:
                return _suggestion(kind, fits, reason, {**basis, **extra}, today, zones, note)
            if kind == "easy":
                return _suggestion("rest", 0, "load reached", basis, today)
            extra["cut_to_easy_from"] = kind
            extra["load_left"] = round(max(remaining, 0.0))
            note = (
                f"Only {extra['load_left']} TRIMP of this week's load target is left, "
                f"so it is an easy session instead of a {kind} one."
            )
            kind, minutes = "easy", float(SPECS["easy"].minutes)

    if any(s.day == today for s in history):
        return make("rest", "already trained")
    if len(trained_days) >= 6:
        return make("rest", "seven day rest")
    if yesterday == "hard":
        return make("rest", "after hard, low readiness") if low else make("easy", "after hard")
    if low:
        return make("easy", "low readiness")
    recent_hard = any(d >= today - timedelta(days=2) for d in hard_days)
    if len(hard_days) < max(rules.hard_days, rules.hard_days_unadjusted) and not recent_hard:
        if rules.signal == "too hard":
            return make("moderate", "too hard")
        if len(hard_days) < rules.hard_days:
            return make("hard", "hard")
    if not any(s.kind == "long" for s in in_window) and yesterday != "long":
        return make("long", "long")
    if yesterday in ("moderate", "long"):
        return make("easy", "after moderate")
    return make("moderate", "moderate")
