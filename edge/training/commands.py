"""`edgecoach plan` and `edgecoach feedback`: the training functions over the session store.

This is the only module of `edge.training` that does I/O: it reads sessions, samples and
feedback from the store it is given (and writes feedback to it), runs the pure functions of
`physiology`, `load`, `readiness` and `plan`, and prints the result with the measurements each
recommendation rests on. The CLI opens the store and passes it in.

Settings read (all optional, with defaults): `settings.training.trimp_k` (Banister's sex
factor, 1.92; a profile's `sex` of "female"/"male", where there is one, takes precedence),
`settings.training.goal_minutes` (150, the WHO/ACSM weekly minimum of moderate activity) and
`settings.training.history_days` (42: four weeks of chronic load plus two).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from edge.coach.zones import ZoneModel
from edge.errors import ConfigError
from edge.narrator.advice import Advice, Task, plan_advice
from edge.profile import Profile
from edge.store import FeedbackError, SessionRow, SessionStore
from edge.stream.readings import AlignedSample
from edge.training.load import BANISTER_K_FEMALE, BANISTER_K_MALE, SessionLoad, session_load
from edge.training.physiology import measured_profile
from edge.training.plan import (
    Feedback,
    Suggestion,
    WeeklyPlan,
    daily_suggestion,
    hard_reps,
    reason_token,
    weekly_plan,
)
from edge.training.readiness import MorningReading, Readiness, readiness, reading_from_samples

__all__ = [
    "TrainingInputs",
    "configure_feedback_parser",
    "configure_plan_parser",
    "default_person",
    "feedback_text",
    "latest_session_id",
    "load_inputs",
    "profile_for",
    "record_feedback",
    "run_feedback",
    "run_plan",
]

log = logging.getLogger(__name__)

DEFAULT_GOAL_MINUTES = 150.0
DEFAULT_HISTORY_DAYS = 42


# -- arguments ----------------------------------------------------------------------------------

def _rpe(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(
            f"RPE must be a whole number from 1 (very easy) to 10 (all-out), not {text!r}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _session_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a session is a positive number, not {text!r}")
    return value


def configure_plan_parser(parser: argparse.ArgumentParser) -> None:
    """Add `edgecoach plan`'s flags to `parser`."""
    parser.add_argument("--person", metavar="NAME",
                        help="whose plan (default: the one person in the config)")
    parser.add_argument("--week", action="store_true",
                        help="the next seven days instead of today only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--date", type=_day, metavar="YYYY-MM-DD",
                        help="plan as if today were this day (default: today)")
    parser.add_argument("--no-llm", action="store_true",
                        help="the rules' words only (no language-model explanation)")


def configure_feedback_parser(parser: argparse.ArgumentParser) -> None:
    """Add `edgecoach feedback`'s arguments to `parser`."""
    parser.add_argument("session", nargs="?", type=_session_id, metavar="SESSION",
                        help="the session's number (default: the person's latest session)")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--rpe", type=_rpe, metavar="N",
                     help="how hard it felt, 1 (very easy) to 10 (all-out)")
    how.add_argument("--too-hard", action="store_true", help="it was too hard")
    how.add_argument("--too-easy", action="store_true", help="it was too easy")
    parser.add_argument("--note", metavar="TEXT", help="a note of your own")
    parser.add_argument("--person", metavar="NAME",
                        help="whose latest session, when SESSION is not given")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


# -- settings and people ------------------------------------------------------------------------

def _training_setting(settings: Any, name: str, default: Any) -> Any:
    return getattr(getattr(settings, "training", None), name, default)


def _trimp_k(settings: Any, profile: Profile) -> float:
    sex = str(getattr(profile, "sex", "") or "").strip().lower()
    if sex in ("female", "f", "woman"):
        return BANISTER_K_FEMALE
    if sex in ("male", "m", "man"):
        return BANISTER_K_MALE
    return float(_training_setting(settings, "trimp_k", BANISTER_K_MALE))


def default_person(settings: Any) -> str:
    """The one person in the config, or the `[profile]` name when there are no `[[people]]`."""
    people = tuple(getattr(settings, "people", ()))
    if len(people) == 1:
        return people[0].profile.name
    if len(people) > 1:
        names = ", ".join(p.profile.name for p in people)
        raise ConfigError(f"several people are configured ({names}): choose one with --person")
    return settings.profile.name


def profile_for(person: str, settings: Any, rows: Sequence[SessionRow] = ()) -> Profile:
    """The person's configured profile (`[[people]]`, else `[profile]`), else the one their
    latest session was recorded with (`rows`), else the defaults under their name."""
    for configured in getattr(settings, "people", ()):
        if configured.profile.name == person:
            return configured.profile
    if settings.profile.name == person:
        return settings.profile
    if rows:
        return rows[-1].profile
    return Profile(name=person)


def _local_day(moment: datetime) -> date:
    return moment.astimezone().date() if moment.tzinfo is not None else moment.date()


# -- reading the store --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TrainingInputs:
    """Everything the plan needs for one person, read from the store once."""

    person: str
    today: date
    #: The profile with measured resting and maximum heart rate where the data allows.
    profile: Profile
    profile_basis: dict[str, Any]
    loads: list[SessionLoad]
    feedback: list[Feedback]
    readiness: Readiness
    #: Banister's sex factor used for TRIMP.
    k: float
    goal_minutes: float


#: Sessions recorded by `edgecoach morning` are stored with this source prefix ("morning/ble").
MORNING_SOURCE = "morning/"


def load_inputs(store: SessionStore, settings: Any, person: str, today: date) -> TrainingInputs:
    """Sessions of the last `history_days` up to `today`: measured profile, loads, feedback and
    today's readiness (from the still period that starts today's first session, if any)."""
    history_days = int(_training_setting(settings, "history_days", DEFAULT_HISTORY_DAYS))
    goal = float(_training_setting(settings, "goal_minutes", DEFAULT_GOAL_MINUTES))
    all_rows = sorted(store.sessions(person), key=lambda r: (r.started_at, r.id))
    first_day = today - timedelta(days=history_days)
    rows = [r for r in all_rows if first_day <= _local_day(r.started_at) <= today]
    samples: dict[int, list[AlignedSample]] = {r.id: store.samples(r.id) for r in rows}
    profile = profile_for(person, settings, all_rows)
    k = _trimp_k(settings, profile)
    with_samples = [r for r in rows if samples[r.id]]
    measured, profile_basis = measured_profile(profile, [samples[r.id] for r in with_samples])
    loads = [session_load(samples[r.id], measured, day=_local_day(r.started_at), session_id=r.id,
                          started_at=r.started_at, k=k) for r in with_samples]
    feedback = [Feedback.from_store(r.id, row) for r in rows for row in store.feedback(r.id)]
    readings: dict[date, MorningReading] = {}
    for r in with_samples:
        day = _local_day(r.started_at)
        if day not in readings:
            found = reading_from_samples(day, samples[r.id],
                                         declared_still=r.source.startswith(MORNING_SOURCE))
            if found is not None:
                readings[day] = found
    todays = readings.pop(today, None)
    if todays is None:
        state = Readiness(None, "unknown", {
            "reason": "no resting reading today: sit or lie still for 2 minutes with the band on "
                      "before a session to measure one"}, today)
    else:
        state = readiness(list(readings.values()), todays)
    return TrainingInputs(person, today, measured, profile_basis, loads, feedback, state, k, goal)


# -- output -------------------------------------------------------------------------------------

def _zone_text(zones: tuple[int, ...], model: ZoneModel) -> str:
    if not zones:
        return ""
    low, high = min(zones), max(zones)
    bpm_low = model.bounds_bpm(low)[0]
    bpm_high = model.bounds_bpm(high)[1]
    label = f"zone {low}" if low == high else f"zones {low}-{high}"
    return f"{label} ({bpm_low}-{bpm_high} bpm)"


def _why_lines(basis: dict[str, Any], inputs: TrainingInputs) -> list[str]:
    lines = []
    so_far = basis.get("week_load_so_far")
    target = basis.get("week_load_target")
    cap = basis.get("week_load_cap")
    load = (f"load: {so_far:.0f} of {target:.0f} TRIMP in the last 6 days"
            if so_far is not None else f"load target: {target:.0f} TRIMP for the week")
    load += f" (last week {basis.get('last_week_load', 0):.0f}"
    load += f", cap {cap:.0f})" if cap is not None else ", no cap: starting level)"
    lines.append(load)
    acwr = basis.get("acute_chronic_ratio")
    lines.append("acute:chronic load ratio: "
                 + ("not enough history (3 weeks needed)" if acwr is None else f"{acwr:.2f}"))
    if "hard_sessions_this_week" in basis:
        lines.append(f"hard sessions in the last 6 days: {basis['hard_sessions_this_week']} of "
                     f"{basis['hard_days_allowed']} allowed; yesterday: {basis['yesterday']}")
    else:
        lines.append(f"hard days allowed: {basis['hard_days_allowed']}")
    state = inputs.readiness
    if state.known:
        lines.append(f"readiness: {state.level} ({state.score}/100 against your 7-day normal)")
    else:
        lines.append(f"readiness: unknown ({state.basis.get('reason')})")
    used = basis.get("feedback_used") or []
    if used:
        lines.append("feedback: " + "; ".join(
            f"session {u['session_id']} ({u['session_kind']}): "
            + ", ".join(str(x) for x in (f"RPE {u['rpe']}" if u["rpe"] else None, u["text"])
                        if x) for u in used) + f" -> {basis['feedback']}")
    else:
        lines.append("feedback: none that changes the plan")
    for rule in basis.get("rules", []):
        lines.append(f"rule: {rule}")
    rest, peak = inputs.profile_basis["resting_hr"], inputs.profile_basis["max_hr"]
    lines.append(f"heart rates: resting {rest['value']:.0f} ({rest['source']}), "
                 f"max {peak['value']:.0f} ({peak['source']})")
    return lines


def _print_suggestion(suggestion: Suggestion, inputs: TrainingInputs) -> None:
    model = ZoneModel.for_profile(inputs.profile)
    head = f"{suggestion.kind}" + (f", {suggestion.minutes} min in "
                                   f"{_zone_text(suggestion.zones, model)}"
                                   if suggestion.kind != "rest" else "")
    print(f"Today, {inputs.today:%a %d %b %Y}, for {inputs.person}: {head}")
    print(f"  {suggestion.text}")
    print("Why:")
    for line in _why_lines(suggestion.basis, inputs):
        print(f"  {line}")


def _print_week(plan: WeeklyPlan, inputs: TrainingInputs,
                words: list[dict[str, object]] | None = None) -> None:
    model = ZoneModel.for_profile(inputs.profile)
    print(f"Week from {inputs.today:%a %d %b %Y} for {inputs.person}: "
          f"{plan.planned_load:.0f} of {plan.weekly_load_target:.0f} TRIMP planned, "
          f"{plan.hard_days} hard, {plan.rest_days} rest")
    for index, day in enumerate(plan.days):
        minutes = f"{day.minutes:3d} min" if day.kind != "rest" else "       "
        print(f"  {day.day:%a %d %b}  {day.kind:<8} {minutes}  {_zone_text(day.zones, model)}")
        print(f"      {words[index]['text'] if words else day.text}")
    print("Why:")
    for line in _why_lines(plan.basis, inputs):
        print(f"  {line}")


def _profile_dict(inputs: TrainingInputs) -> dict[str, object]:
    return {"resting_hr": inputs.profile.resting_hr,
            "max_hr": round(inputs.profile.effective_max_hr, 1), "basis": inputs.profile_basis}


def run_plan(args: argparse.Namespace, settings: Any, store: SessionStore) -> int:
    """`edgecoach plan`: today's suggestion, or the week with `--week`, each with its basis."""
    person = args.person or default_person(settings)
    today = args.date or date.today()
    inputs = load_inputs(store, settings, person, today)
    if args.week:
        plan = weekly_plan(inputs.loads, inputs.readiness, inputs.feedback, today,
                           inputs.goal_minutes, k=inputs.k)
        week_words = explain_week(plan, inputs, settings,
                                  use_llm=not getattr(args, "no_llm", False))
        week = plan.as_dict()
        week["days"] = [{**d, "words": w} for d, w in zip(week["days"], week_words, strict=True)]
        result: dict[str, object] = {"week": week}
    else:
        suggestion, _ = todays_suggestion(store, settings, person, today)
        words = explain_suggestion(suggestion, inputs, settings,
                                   use_llm=not getattr(args, "no_llm", False))
        result = {"suggestion": {**suggestion.as_dict(), "facts": suggestion.facts()},
                  "words": words}
    if args.json:
        print(json.dumps({"person": person, "date": today.isoformat(),
                          "sessions": len(inputs.loads), "profile": _profile_dict(inputs),
                          "readiness": inputs.readiness.as_dict(), **result}, default=str))
        return 0
    if not inputs.loads:
        print(f"No sessions recorded for {person} in the last "
              f"{_training_setting(settings, 'history_days', DEFAULT_HISTORY_DAYS)} days: "
              "the plan starts gently.")
    if args.week:
        _print_week(plan, inputs, week_words)
    else:
        _print_suggestion(suggestion, inputs)
        said_by = ("the on-device language model" if words["source"] == "llm"
                   else f"the rules ({words['reason']})")
        print(f"In words ({said_by}):\n  {words['text']}")
    return 0


def suggestion_facts(suggestion: Suggestion, zones: ZoneModel) -> dict[str, object]:
    """What the language model is told of a suggestion: kind, the rule that chose it, minutes,
    the heart-rate range, the structure of a hard or steady day, and readiness when known.
    The corpus of `edgecoach export llm` is made with this same function."""
    facts: dict[str, object] = {"session": suggestion.kind,
                                "reason": reason_token(str(suggestion.basis.get("rule", "")))}
    if suggestion.kind != "rest":
        facts["duration_min"] = suggestion.minutes
    if "cut_to_easy_from" in suggestion.basis:
        facts["instead_of"] = suggestion.basis["cut_to_easy_from"]
        facts["load_left"] = suggestion.basis["load_left"]
    if suggestion.kind in ("moderate", "hard"):
        facts.update(warmup_min=10, warmup_zone=2)
    if suggestion.kind == "hard":
        facts.update(reps=hard_reps(suggestion.minutes), rep_min=3, easy_min=2)
    if suggestion.zones:
        low, _ = zones.bounds_bpm(min(suggestion.zones))
        _, high = zones.bounds_bpm(max(suggestion.zones))
        facts.update(zone=max(suggestion.zones), zone_low=low, zone_high=high)
    for key in ("readiness_level", "readiness_score"):
        if suggestion.basis.get(key) is not None:
            facts[key] = suggestion.basis[key]
    return facts


def suggestion_advice(suggestion: Suggestion, zones: ZoneModel, *, question: str = ""
                      ) -> Advice:
    """Today's suggestion for the narrator: `suggestion_facts`, and the rules' own text as the
    template (what is said when the model's words fail the guard)."""
    facts = suggestion_facts(suggestion, zones)
    if question:  # `edgecoach ask "what should I do today?"`: the same plan, as an answer
        return plan_advice(facts, task=Task.QUESTION, kind="plan", question=question,
                           template=suggestion.text)
    return plan_advice(facts, template=suggestion.text)


def todays_suggestion(store: SessionStore, settings: Any, person: str, today: date
                      ) -> tuple[Suggestion, TrainingInputs]:
    """What `edgecoach plan` suggests for `today` (also what `ask` answers with)."""
    inputs = load_inputs(store, settings, person, today)
    return daily_suggestion(inputs.loads, inputs.readiness, inputs.feedback, today,
                            inputs.goal_minutes, k=inputs.k), inputs


def explain_suggestion(suggestion: Suggestion, inputs: TrainingInputs, settings: Any, *,
                       use_llm: bool = True) -> dict[str, object]:
    """The suggestion in the language model's words, guarded like any cue, or the rules'."""
    import dataclasses

    from edge.engines import load_narrator

    llm = getattr(settings, "llm", None)
    if llm is not None and not use_llm:
        settings = dataclasses.replace(settings, llm=dataclasses.replace(llm, enabled=False))
    narrator = load_narrator(settings)
    try:
        narration = narrator.narrate_sync(
            suggestion_advice(suggestion, ZoneModel.for_profile(inputs.profile)))
    finally:
        narrator.close()
    return {"text": narration.text, "source": narration.source, "model": narration.model,
            "reason": narration.reason or ("" if narration.source == "llm" else "template")}


def explain_week(plan: WeeklyPlan, inputs: TrainingInputs, settings: Any, *,
                 use_llm: bool = True) -> list[dict[str, object]]:
    """Each day of the week in the language model's words, guarded like today's suggestion (the
    day's facts, its action, no medical claims), or the rules' text; one model load for all."""
    import dataclasses

    from edge.engines import load_narrator

    llm = getattr(settings, "llm", None)
    if llm is not None and not use_llm:
        settings = dataclasses.replace(settings, llm=dataclasses.replace(llm, enabled=False))
    zones = ZoneModel.for_profile(inputs.profile)
    narrator = load_narrator(settings)
    words: list[dict[str, object]] = []
    try:
        for day in plan.days:
            narration = narrator.narrate_sync(suggestion_advice(day, zones))
            words.append({"text": narration.text, "source": narration.source,
                          "model": narration.model,
                          "reason": narration.reason or ("" if narration.source == "llm"
                                                         else "template")})
    finally:
        narrator.close()
    return words


#: What `--too-hard` / `--too-easy` (the zone board's "too_hard" / "too_easy") store as the
#: feedback's text: `Feedback.label` reads them back.
VERDICT_LABELS = {"too_hard": "too hard", "too_easy": "too easy"}


def feedback_text(verdict: str | None, note: str | None = None) -> str | None:
    """The stored text of a verdict ("too_hard", "too_easy" or None) and an optional note:
    "too hard", "too hard: legs heavy", the note alone, or None."""
    if verdict is not None and verdict not in VERDICT_LABELS:
        raise FeedbackError(f"a verdict is \"too_hard\" or \"too_easy\", not {verdict!r}")
    label = VERDICT_LABELS.get(verdict) if verdict is not None else None
    note = note.strip() if note and note.strip() else None
    return f"{label}: {note}" if label and note else label or note


def latest_session_id(store: SessionStore, person: str) -> int:
    """The person's latest session (by start, then number); FeedbackError if there is none."""
    rows = store.sessions(person)
    if not rows:
        raise FeedbackError(f"{person} has no sessions in {store.path}: record one first, "
                            "or give the session's number", path=store.path)
    return max(rows, key=lambda r: (r.started_at, r.id)).id


def record_feedback(store: SessionStore, session_id: int, rpe: int | None,
                    verdict: str | None = None, note: str | None = None) -> dict[str, object]:
    """Record how session `session_id` felt, as `edgecoach feedback` does; what was recorded:
    `{"session_id", "rpe", "text", "signal"}` (the signal the next plan reads from it)."""
    text = feedback_text(verdict, note)
    store.add_feedback(session_id, rpe, text)
    return {"session_id": session_id, "rpe": rpe, "text": text,
            "signal": Feedback(session_id, rpe, text).signal}


def run_feedback(args: argparse.Namespace, settings: Any, store: SessionStore) -> int:
    """`edgecoach feedback`: record how a session felt; the next plan takes it into account."""
    if args.session is not None:
        session_id = args.session
    else:
        session_id = latest_session_id(store, args.person or default_person(settings))
    verdict = "too_hard" if args.too_hard else "too_easy" if args.too_easy else None
    text = feedback_text(verdict, args.note)
    if args.rpe is None and text is None:
        raise FeedbackError("say how it felt: --rpe N (1 very easy to 10 all-out), --too-hard or "
                            "--too-easy, with an optional --note", path=store.path)
    store.add_feedback(session_id, args.rpe, text)
    if args.json:
        print(json.dumps({"session_id": session_id, "rpe": args.rpe, "text": text}))
        return 0
    said = ", ".join(x for x in (f"RPE {args.rpe}" if args.rpe else None, text) if x)
    signal = Feedback(session_id, args.rpe, text).signal
    effect = {"too hard": "the next plan eases off",
              "too easy": "after a moderate, long or hard session the next plan steps up, "
                          "within its 10 % weekly cap"}.get(
        signal or "", "noted; it does not change the plan")
    print(f"Feedback for session {session_id}: {said}. {effect[:1].upper() + effect[1:]}.")
    return 0
