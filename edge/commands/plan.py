"""`edgecoach plan`: today's suggestion or this week's plan, each line with what it rests on."""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import date
from typing import TYPE_CHECKING, Any

from edge.core.zones import ZoneModel
from edge.settings import Settings

if TYPE_CHECKING:
    from edge.narrator.advice import Advice
    from edge.store import SessionStore
    from edge.training.inputs import TrainingInputs
    from edge.training.plan import Suggestion, WeeklyPlan

NAME = "plan"
HELP = "today's suggestion or this week's plan, with what it rests on"


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--person", metavar="NAME", help="whose plan (default: the one person in the config)"
    )
    parser.add_argument(
        "--week", action="store_true", help="the next seven days instead of today only"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--date",
        type=_day,
        metavar="YYYY-MM-DD",
        help="plan as if today were this day (default: today)",
    )
    parser.add_argument(
        "--no-llm",
        action="store_true",
        help="the rules' words only (no language-model explanation)",
    )


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    """Today's suggestion, or the week with `--week`, each with its basis."""
    from edge.store import open_store

    assert settings is not None
    with open_store(settings.daemon, create=False) as store:  # reading makes no file
        return run_with_store(args, settings, store)


def run_with_store(args: argparse.Namespace, settings: Settings, store: SessionStore) -> int:
    """`run` on a store already open (tests, and callers holding the store)."""
    from edge.training.inputs import load_inputs, todays_suggestion
    from edge.training.plan import weekly_plan

    person = args.person or settings.default_person()
    today = args.date or date.today()
    inputs = load_inputs(store, settings, person, today)
    if args.week:
        plan = weekly_plan(
            inputs.loads, inputs.readiness, inputs.feedback, today, inputs.goal_minutes, k=inputs.k
        )
        week_words = explain_week(
            plan, inputs, settings, use_llm=not getattr(args, "no_llm", False)
        )
        week = plan.as_dict()
        week["days"] = [{**d, "words": w} for d, w in zip(week["days"], week_words, strict=True)]
        result: dict[str, object] = {"week": week}
    else:
        suggestion, _ = todays_suggestion(store, settings, person, today)
        words = explain_suggestion(
            suggestion, inputs, settings, use_llm=not getattr(args, "no_llm", False)
        )
        result = {
            "suggestion": {**suggestion.as_dict(), "facts": suggestion.facts()},
            "words": words,
        }
    if args.json:
        print(
            json.dumps(
                {
                    "person": person,
                    "date": today.isoformat(),
                    "sessions": len(inputs.loads),
                    "profile": _profile_dict(inputs),
                    "readiness": inputs.readiness.as_dict(),
                    **result,
                },
                default=str,
            )
        )
        return 0
    if not inputs.loads:
        print(
            f"No sessions recorded for {person} in the last "
            f"{settings.training.history_days} days: "
            "the plan starts gently."
        )
    if args.week:
        _print_week(plan, inputs, week_words)
    else:
        _print_suggestion(suggestion, inputs)
        said_by = (
            "the on-device language model"
            if words["source"] == "llm"
            else f"the rules ({words['reason']})"
        )
        print(f"In words ({said_by}):\n  {words['text']}")
    return 0


def explain_suggestion(
    suggestion: Suggestion, inputs: TrainingInputs, settings: Settings, *, use_llm: bool = True
) -> dict[str, object]:
    """The suggestion in the language model's words, guarded like any cue, or the rules'."""
    from edge.core.zones import ZoneModel
    from edge.narrator.plans import suggestion_advice

    return explain_advice(
        suggestion_advice(suggestion, ZoneModel.for_profile(inputs.profile)),
        settings,
        use_llm=use_llm,
    )


def explain_advice(
    advice: Advice, settings: Settings, *, use_llm: bool = True
) -> dict[str, object]:
    """`advice` in the language model's words (`[llm]` settings, guarded), or the rules'."""
    from edge.engines import load_narrator

    if not use_llm:
        settings = dataclasses.replace(
            settings, llm=dataclasses.replace(settings.llm, enabled=False)
        )
    narrator = load_narrator(settings)
    try:
        narration = narrator.narrate_sync(advice)
    finally:
        narrator.close()
    return {
        "text": narration.text,
        "source": narration.source,
        "model": narration.model,
        "reason": narration.reason or ("" if narration.source == "llm" else "template"),
    }


def explain_week(
    plan: WeeklyPlan, inputs: TrainingInputs, settings: Settings, *, use_llm: bool = True
) -> list[dict[str, object]]:
    """Each day of the week in the language model's words, guarded like today's suggestion (the
    day's facts, its action, no medical claims), or the rules' text; one model load for all."""
    from edge.core.zones import ZoneModel
    from edge.engines import load_narrator
    from edge.narrator.plans import suggestion_advice

    if not use_llm:
        settings = dataclasses.replace(
            settings, llm=dataclasses.replace(settings.llm, enabled=False)
        )
    zones = ZoneModel.for_profile(inputs.profile)
    narrator = load_narrator(settings)
    words: list[dict[str, object]] = []
    try:
        for day in plan.days:
            narration = narrator.narrate_sync(suggestion_advice(day, zones))
            words.append(
                {
                    "text": narration.text,
                    "source": narration.source,
                    "model": narration.model,
                    "reason": narration.reason or ("" if narration.source == "llm" else "template"),
                }
            )
    finally:
        narrator.close()
    return words


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
    load = (
        f"load: {so_far:.0f} of {target:.0f} TRIMP in the last 6 days"
        if so_far is not None
        else f"load target: {target:.0f} TRIMP for the week"
    )
    load += f" (last week {basis.get('last_week_load', 0):.0f}"
    load += f", cap {cap:.0f})" if cap is not None else ", no cap: starting level)"
    lines.append(load)
    acwr = basis.get("acute_chronic_ratio")
    lines.append(
        "acute:chronic load ratio: "
        + ("not enough history (3 weeks needed)" if acwr is None else f"{acwr:.2f}")
    )
    if "hard_sessions_this_week" in basis:
        lines.append(
            f"hard sessions in the last 6 days: {basis['hard_sessions_this_week']} of "
            f"{basis['hard_days_allowed']} allowed; yesterday: {basis['yesterday']}"
        )
    else:
        lines.append(f"hard days allowed: {basis['hard_days_allowed']}")
    state = inputs.readiness
    if state.known:
        lines.append(f"readiness: {state.level} ({state.score}/100 against your 7-day normal)")
    else:
        lines.append(f"readiness: unknown ({state.basis.get('reason')})")
    used = basis.get("feedback_used") or []
    if used:
        lines.append(
            "feedback: "
            + "; ".join(
                f"session {u['session_id']} ({u['session_kind']}): "
                + ", ".join(
                    str(x) for x in (f"RPE {u['rpe']}" if u["rpe"] else None, u["text"]) if x
                )
                for u in used
            )
            + f" -> {basis['feedback']}"
        )
    else:
        lines.append("feedback: none that changes the plan")
    for rule in basis.get("rules", []):
        lines.append(f"rule: {rule}")
    rest, peak = inputs.profile_basis["resting_hr"], inputs.profile_basis["max_hr"]
    lines.append(
        f"heart rates: resting {rest['value']:.0f} ({rest['source']}), "
        f"max {peak['value']:.0f} ({peak['source']})"
    )
    return lines


def _print_suggestion(suggestion: Suggestion, inputs: TrainingInputs) -> None:
    model = ZoneModel.for_profile(inputs.profile)
    head = f"{suggestion.kind}" + (
        f", {suggestion.minutes} min in {_zone_text(suggestion.zones, model)}"
        if suggestion.kind != "rest"
        else ""
    )
    print(f"Today, {inputs.today:%a %d %b %Y}, for {inputs.person}: {head}")
    print(f"  {suggestion.text}")
    print("Why:")
    for line in _why_lines(suggestion.basis, inputs):
        print(f"  {line}")


def _print_week(
    plan: WeeklyPlan, inputs: TrainingInputs, words: list[dict[str, object]] | None = None
) -> None:
    model = ZoneModel.for_profile(inputs.profile)
    print(
        f"Week from {inputs.today:%a %d %b %Y} for {inputs.person}: "
        f"{plan.planned_load:.0f} of {plan.weekly_load_target:.0f} TRIMP planned, "
        f"{plan.hard_days} hard, {plan.rest_days} rest"
    )
    for index, day in enumerate(plan.days):
        minutes = f"{day.minutes:3d} min" if day.kind != "rest" else "       "
        print(f"  {day.day:%a %d %b}  {day.kind:<8} {minutes}  {_zone_text(day.zones, model)}")
        print(f"      {words[index]['text'] if words else day.text}")
    print("Why:")
    for line in _why_lines(plan.basis, inputs):
        print(f"  {line}")


def _profile_dict(inputs: TrainingInputs) -> dict[str, object]:
    return {
        "resting_hr": inputs.profile.resting_hr,
        "max_hr": round(inputs.profile.effective_max_hr, 1),
        "basis": inputs.profile_basis,
    }
