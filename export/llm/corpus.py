"""Stage 1, corpus: the coaching corpus, distilled from the project's own coach.

Every example is a structured set of facts, drawn the way the coach's rules make them (zones from
`ZoneModel` for random people, cues with the facts `edge.coach.coach` attaches), the `Advice` the
rules in `edge.narrator.advice` decide from them, and a reference text: the rule-made template or
one of several paraphrases of it, chosen by a seeded generator. Situations:

- live cues of every `CueKind` (zone changes up and down, zone 5, forecast overshoot, above max,
  implausible readings, signal lost and back), some with the session's plan as context;
- session summaries from `SessionSummary`-like facts;
- morning readiness (resting heart rate against the usual, the last session, the week);
- plan explanations: the device planner's suggestions for random fortnights of training
  (rest, easy, moderate, hard, long, with the rule that chose them and readiness), and the
  simple rules' plans (rest, easy, long, intervals);
- questions and answers: the last session, heart rate, zones, trend, readiness, plan, and the
  answers that say "stop" (safety words) or "I don't know" (no data, topics the device does not
  measure, too few sessions for a trend).

Every reference passes the runtime guard for its advice (checked here: a reference that fails is
a bug in this file). The prompt of each example is `edge.narrator.prompts.advice_prompt(...,
FACTS)`, the exact prompt the device sends the tuned model. Split by example into train and
held-out with the seed; output ``corpus/train.jsonl`` and ``corpus/heldout.jsonl`` plus
``corpus/train.jsonl.meta.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from edge.core.cues import Action, CueKind
from edge.core.zones import ZoneModel
from edge.narrator import guard
from edge.narrator.advice import (
    Advice,
    Intent,
    advice_for,
    plan_facts,
    summary_facts,
)
from edge.narrator.plans import readiness_advice_for, suggestion_advice
from edge.narrator.prompts import FACTS, advice_prompt, format_value
from edge.profile import Profile
from edge.training.load import SessionLoad
from edge.training.plan import Feedback, Suggestion, daily_suggestion, trimp_per_minute
from edge.training.readiness import Readiness
from export.llm._stage import stopwatch, write_meta

log = logging.getLogger(__name__)

TRAIN_FILE = "train.jsonl"
HELDOUT_FILE = "heldout.jsonl"


@dataclass(frozen=True, slots=True)
class CorpusSettings:
    #: Examples per situation group (see `GROUPS`); the split takes `heldout_fraction` of each.
    per_group: int = 130
    heldout_fraction: float = 0.15


QUICK = CorpusSettings(per_group=6, heldout_fraction=0.25)


# -- facts the way the coach makes them ---------------------------------------------------------


def _person(rng: random.Random) -> ZoneModel:
    age = rng.randint(18, 70)
    resting = rng.randint(42, 78)
    max_hr = rng.randint(165, 205) if rng.random() < 0.5 else None
    return ZoneModel.for_profile(Profile(age=age, resting_hr=resting, max_hr=max_hr))


def _hr_in(rng: random.Random, zones: ZoneModel, zone: int) -> int:
    low, high = (
        zones.bounds_bpm(zone)
        if zone >= 1
        else (round(zones.resting_hr) + 5, zones.bounds_bpm(1)[0])
    )
    return rng.randint(low, max(low, high - 1))


def _zone_facts(rng: random.Random, zones: ZoneModel, zone: int, previous: int) -> dict:
    """What `Coach._zone_cues` attaches to a zone cue."""
    hr = _hr_in(rng, zones, zone)
    facts: dict[str, Any] = {"hr": hr, "zone": zone, "previous_zone": previous}
    if zone >= 1:
        low, high = zones.bounds_bpm(zone)
        facts |= {"zone_low": low, "zone_high": high}
    if zone == 5:
        facts["zone5_lower"] = round(zones.lower_bpm(5))
    return facts


def _pick(rng: random.Random, variants: list[str], **facts: Any) -> str:
    """One of `variants` with the facts written as the prompt writes them (7.4, not 7.40)."""
    shown = {k: format_value(v) for k, v in facts.items()}
    session = str(facts.get("session", ""))
    shown["a_session"] = ("an " if session[:1] in tuple("aeiou") else "a ") + session
    return rng.choice(variants).format(**shown)


# -- live cues ----------------------------------------------------------------------------------


def cue_zone_up(rng: random.Random) -> tuple[Advice, str]:
    zones = _person(rng)
    zone = rng.randint(1, 4)
    facts = _zone_facts(rng, zones, zone, max(0, zone - rng.choice((1, 1, 1, 2))))
    if rng.random() < 0.2:
        facts["session"] = rng.choice(("easy", "long", "intervals", "tempo"))
    advice = advice_for("cue", facts, kind=CueKind.ZONE_CHANGE)
    text = _pick(
        rng,
        [
            advice.template,
            "You're in zone {zone} now at {hr}. Hold this effort.",
            "Heart rate {hr}, up to zone {zone}. Keep this effort steady.",
            "Zone {zone}, heart rate {hr}. Hold it here.",
            "That's zone {zone} at {hr}. Stay steady and hold this pace.",
            "Up into zone {zone}, heart rate {hr}. Keep it steady between {zone_low} and "
            "{zone_high}.",
            "{hr} now, zone {zone}. Hold this effort and stay below {zone_high}.",
            "Zone {zone} now. Heart rate {hr}, keep it steady.",
        ],
        **facts,
    )
    return advice, text


def cue_zone_down(rng: random.Random) -> tuple[Advice, str]:
    zones = _person(rng)
    zone = rng.randint(0, 4)
    facts = _zone_facts(rng, zones, zone, min(5, zone + rng.choice((1, 1, 2))))
    advice = advice_for("cue", facts, kind=CueKind.ZONE_CHANGE)
    if zone == 0:
        variants = [
            advice.template,
            "You're at {hr}, very light effort now. Easy does it.",
            "Heart rate down to {hr}, very light. Nice and easy.",
            "{hr} now, a very light effort. Enjoy the easy part.",
        ]
    else:
        variants = [
            advice.template,
            "Zone {zone} now, heart rate {hr}. Nice and relaxed.",
            "You've dropped to zone {zone} at {hr}. Keep it relaxed.",
            "Heart rate {hr}, back down in zone {zone}. Easy does it.",
            "Down in zone {zone}, {hr} beats. Keep it relaxed and smooth.",
            "Zone {zone}, heart rate {hr}. Good, settle in here.",
        ]
    return advice, _pick(rng, variants, **facts)


def cue_high_zone(rng: random.Random) -> tuple[Advice, str]:
    zones = _person(rng)
    facts = _zone_facts(rng, zones, 5, rng.choice((3, 4, 4, 4)))
    context = rng.random() < 0.3
    if context:
        facts["session"] = rng.choice(("easy", "easy", "long", "recovery"))
    advice = advice_for("cue", facts, kind=CueKind.HIGH_ZONE)
    variants = [
        advice.template,
        "You're at {hr}, zone 5. Ease off until you're below {zone5_lower}.",
        "Heart rate {hr}, that's zone 5, close to your max. Slow down and bring it under "
        "{zone5_lower}.",
        "Zone 5 at {hr}. Back off a little, aim for below {zone5_lower}.",
        "{hr} is zone 5, near your maximum. Ease off now.",
        "Slow down now: heart rate {hr}, zone 5. Get it back under {zone5_lower}.",
        "That's {hr}, zone 5. Ease off and let it drop below {zone5_lower}.",
    ]
    if context:
        variants = [
            "This should be {a_session} run and you're at {hr}, zone 5. Slow down until "
            "you're under {zone5_lower}.",
            "Heart rate {hr} is zone 5, too hard for {a_session} run. Ease off below "
            "{zone5_lower}.",
            "Zone 5 at {hr} on {a_session} day. Slow down and keep it under {zone5_lower}.",
        ]
    return advice, _pick(rng, variants, **facts)


def cue_forecast(rng: random.Random) -> tuple[Advice, str]:
    zones = _person(rng)
    threshold = round(zones.lower_bpm(5))
    hr = rng.randint(threshold - 14, threshold - 2)
    horizon = rng.choice((10, 30, 30))
    facts: dict[str, Any] = {
        "hr": hr,
        "forecast_hr": rng.randint(threshold, threshold + 8),
        "horizon_s": horizon,
        "zone5_lower": threshold,
    }
    if rng.random() < 0.2:
        facts["session"] = rng.choice(("easy", "long"))
    advice = advice_for("cue", facts, kind=CueKind.FORECAST_OVERSHOOT)
    text = _pick(
        rng,
        [
            advice.template,
            "Ease off a little: at this pace you'll pass {zone5_lower} in about {horizon_s} seconds.",
            "You're at {hr} and climbing toward {forecast_hr}. Ease off now to stay below "
            "{zone5_lower}.",
            "Slow down slightly, heart rate {hr} is heading for {forecast_hr} within {horizon_s} "
            "seconds.",
            "Heart rate {hr} and rising. Back off now or you'll be over {zone5_lower} in about "
            "{horizon_s} seconds.",
            "Ease off now, you're on course for {forecast_hr} in {horizon_s} seconds.",
        ],
        **facts,
    )
    return advice, text


def cue_above_max(rng: random.Random) -> tuple[Advice, str]:
    zones = _person(rng)
    facts = {
        "hr": round(zones.max_hr) + rng.randint(5, 15),
        "max_hr": round(zones.max_hr),
        "held_s": rng.randint(3, 8),
    }
    advice = advice_for("cue", facts, kind=CueKind.ABOVE_MAX_HR)
    return advice, advice.template  # fixed words: the model never rewords a safety cue


def cue_implausible(rng: random.Random) -> tuple[Advice, str]:
    hr = rng.choice((rng.randint(5, 29), rng.randint(231, 255)))
    advice = advice_for("cue", {"hr": hr}, kind=CueKind.IMPLAUSIBLE_READING)
    return advice, advice.template


def cue_sensor_lost(rng: random.Random) -> tuple[Advice, str]:
    facts = {"gap_s": rng.randint(5, 12)}
    advice = advice_for("cue", facts, kind=CueKind.SENSOR_LOST)
    return advice, _pick(
        rng,
        [
            advice.template,
            "I've lost your heart rate signal. Check the strap; I'll keep recording.",
            "No heart rate for {gap_s} seconds. Check that your strap is on and snug.",
            "Heart rate signal gone. Check the strap, the rest is still being recorded.",
        ],
        **facts,
    )


def cue_sensor_back(rng: random.Random) -> tuple[Advice, str]:
    facts = {"hr": rng.randint(70, 185)}
    advice = advice_for("cue", facts, kind=CueKind.SENSOR_BACK)
    return advice, _pick(
        rng,
        [
            advice.template,
            "Got your heart rate back: {hr}.",
            "Signal's back. Heart rate {hr}.",
            "Heart rate back at {hr}.",
        ],
        **facts,
    )


def _has_kind(value: str) -> bool:
    return value in {k.value for k in CueKind}


def _duration_facts(seconds: int) -> dict[str, int]:
    """`edge.core.cues.duration_facts` (the wording of a duration as facts)."""
    from edge.core import cues as cue_rules

    return cue_rules.duration_facts(seconds)  # type: ignore[attr-defined]


def cue_drift(rng: random.Random) -> tuple[Advice, str]:
    """Aerobic decoupling (`edge.coach.drift`): heart rate crept up at the same pace or power."""
    start = rng.randint(125, 160)
    rise = rng.randint(7, 18)
    facts = {
        "hr": start + rise + rng.randint(0, 3),
        "start_hr": start,
        "decoupling_pct": rng.randint(5, 12),
        "steady_min": 30,
        "measure": rng.choice(("pace", "pace", "power")),
    }
    advice = advice_for("cue", facts, kind="drift")
    return advice, _pick(
        rng,
        [
            advice.template,
            "Heart rate up from {start_hr} to {hr} at the same {measure}: heat or fatigue. Ease off "
            "a little and drink.",
            "You're drifting: {hr} now, {start_hr} earlier at this {measure}. Slow down a touch and "
            "drink.",
        ],
        **facts,
    )


def cue_hard_step_ahead(rng: random.Random) -> tuple[Advice, str]:
    """A planned effort step the person's learnt kinetics say is too hard
    (`edge.coach.step_lookahead`), said before it starts with the effort to start it at."""
    zones = _person(rng)
    zone = rng.randint(2, 4)
    limit = zones.bounds_bpm(zone)[1]
    power = rng.choice((200, 220, 230, 250, 260, 280, 300))
    facts: dict[str, Any] = {
        "hr": rng.randint(limit - 40, limit - 15),
        "step": rng.randint(2, 9),
        "step_kind": "work",
        "forecast_hr": limit + rng.randint(2, 14),
        "within_s": rng.choice((60, 90, 120, 150, 180)),
        "limit_hr": limit,
        "effort": "power",
        "kinetics_sessions": rng.randint(1, 12),
        "next_power_w": power,
        "suggested_power_w": power - rng.choice((10, 15, 20, 25, 30, 40)),
    }
    advice = advice_for("cue", facts, kind="hard_step_ahead")
    return advice, _pick(
        rng,
        [
            advice.template,
            "The next interval at {next_power_w} watts would take you to {forecast_hr}, over "
            "{limit_hr}. Ease it back to {suggested_power_w} watts to start.",
            "Coming up: {next_power_w} watts. That would take you to {forecast_hr} within "
            "{within_s} seconds. Start easier, at {suggested_power_w} watts.",
        ],
        **facts,
    )


def cue_on_target(rng: random.Random) -> tuple[Advice, str]:
    """The steady-state word: heart rate held inside the planned step's target."""
    zones = _person(rng)
    zone = rng.randint(1, 4)
    top = min(zone + rng.choice((0, 0, 1)), 5)
    low, high = zones.bounds_bpm(zone)[0], zones.bounds_bpm(top)[1]
    facts: dict[str, Any] = {
        "hr": rng.randint(low + 1, high - 1),
        "zone": zone,
        "target_low": low,
        "target_high": high,
    }
    if top != zone:
        facts["top_zone"] = top
    advice = advice_for("cue", facts, kind="on_target")
    where = "zone {zone}" if top == zone else "zone {zone} to {top_zone}"
    return advice, _pick(
        rng,
        [
            advice.template,
            "Right where you should be: {hr}, " + where + ". Keep it steady.",
            "Nice and steady at {hr}. Hold this effort.",
        ],
        **facts,
    )


def _step_facts(rng: random.Random) -> tuple[ZoneModel, dict[str, Any]]:
    """What `WorkoutTracker._facts` attaches to a planned step's cue."""
    zones = _person(rng)
    kind = rng.choice(("warmup", "work", "work", "recover", "cooldown"))
    low = {
        "warmup": rng.choice((1, 2)),
        "work": rng.choice((3, 4, 4, 5)),
        "recover": 1,
        "cooldown": 1,
    }[kind]
    high = low + (1 if kind == "work" and low < 5 and rng.random() < 0.3 else 0)
    reps = rng.randint(3, 8) if kind in ("work", "recover") else 1
    duration = rng.choice((60, 90, 120, 180, 240, 300, 600, 900))
    steps = 2 * reps + 2
    facts: dict[str, Any] = {
        "step": rng.randint(1, steps),
        "steps": steps,
        "step_kind": kind,
        "rep": rng.randint(1, reps),
        "reps": reps,
        "zone": low,
        "target_low": zones.bounds_bpm(low)[0],
        "target_high": zones.bounds_bpm(high)[1],
        "remaining_s": duration,
    }
    if high != low:
        facts["top_zone"] = high
    return zones, facts


def cue_step_start(rng: random.Random) -> tuple[Advice, str]:
    zones, facts = _step_facts(rng)
    facts |= _duration_facts(facts["remaining_s"])
    action = rng.choice(("info", "push", "ease_off", "hold")) if facts["step"] > 1 else "info"
    advice = advice_for("cue", facts, kind="step_start", action=action)
    return advice, advice.template


def cue_step_halfway(rng: random.Random) -> tuple[Advice, str]:
    zones, facts = _step_facts(rng)
    facts["remaining_s"] //= 2
    facts |= _duration_facts(facts["remaining_s"])
    if rng.random() < 0.6:
        facts["hr"] = rng.randint(
            facts["target_low"], max(facts["target_low"], facts["target_high"] - 1)
        )
    advice = advice_for("cue", facts, kind="step_halfway", action="hold")
    return advice, advice.template


def cue_step_end(rng: random.Random) -> tuple[Advice, str]:
    zones, facts = _step_facts(rng)
    facts |= {"step_kind": "work", "remaining_s": 0, "hr": rng.randint(130, 185)}
    facts["reps"] = max(2, facts["reps"])
    facts["rep"] = min(facts["rep"], facts["reps"])
    advice = advice_for("cue", facts, kind="step_end", action="info")
    return advice, advice.template


def cue_off_target(rng: random.Random) -> tuple[Advice, str]:
    zones, facts = _step_facts(rng)
    push = facts["step_kind"] in ("warmup", "work") and rng.random() < 0.5
    if push:
        facts["hr"] = facts["target_low"] - rng.randint(6, 20)
    else:
        facts["hr"] = facts["target_high"] + rng.randint(6, 15)
    facts["held_s"] = rng.randint(20, 60)
    advice = advice_for("cue", facts, kind="off_target", action="push" if push else "ease_off")
    return advice, advice.template


def cue_workout_done(rng: random.Random) -> tuple[Advice, str]:
    duration = rng.randint(15, 90) * 60
    facts: dict[str, Any] = {
        "steps": rng.randint(3, 18),
        "duration_s": duration,
        **_duration_facts(duration),
    }
    if rng.random() < 0.7:
        facts["hr"] = rng.randint(95, 150)
    advice = advice_for("cue", facts, kind="workout_done", action="info")
    return advice, advice.template


def cue_milestone(rng: random.Random) -> tuple[Advice, str]:
    zones = _person(rng)
    measure = rng.choice(("time", "time", "distance", "steps"))
    facts: dict[str, Any] = {"measure": measure}
    if measure == "time":
        facts["elapsed_min"] = 10 * rng.randint(1, 9)
    elif measure == "distance":
        lap = rng.randint(200, 420)
        facts |= {"distance_km": rng.randint(1, 21), "lap_s": lap, **_duration_facts(lap)}
    else:
        facts["total_steps"] = 1000 * rng.randint(1, 12)
    if rng.random() < 0.8:
        zone = rng.randint(1, 4)
        facts |= {"hr": _hr_in(rng, zones, zone), "zone": zone}
    advice = advice_for("cue", facts, kind="milestone", action="info")
    return advice, advice.template


# -- summaries, readiness, plans ---------------------------------------------------------------


def _summary_dict(rng: random.Random) -> dict[str, Any]:
    """A `SessionSummary.as_dict()` as a session of this person could end."""
    zones = _person(rng)
    duration = rng.randint(12, 120) * 60 + rng.randint(0, 59)
    weights = [rng.random() ** 2 for _ in range(6)]
    if rng.random() < 0.4:
        weights[4] += rng.random()
        weights[5] += rng.random()
    total = sum(weights)
    in_zone = {str(z): round(duration * w / total) for z, w in enumerate(weights)}
    mean_zone = sum(z * w for z, w in enumerate(weights)) / total
    mean = zones.resting_hr + zones.reserve * (0.45 + 0.09 * mean_zone)
    summary = {
        "duration_s": duration,
        "mean_hr": round(mean, 1),
        "max_hr": float(min(round(zones.max_hr) + 3, round(mean) + rng.randint(8, 35))),
        "time_in_zone_s": in_zone,
        "gaps": [],
    }
    if rng.random() < 0.6:
        summary["distance_m"] = round(duration * rng.uniform(1.8, 3.6), 1)
    if rng.random() < 0.2:
        summary["gaps"] = [{"start_t": 100, "seconds": rng.randint(5, 60)}]
    return summary


def session_summary(rng: random.Random) -> tuple[Advice, str]:
    facts = summary_facts(_summary_dict(rng))
    advice = advice_for("summary", facts)
    f = facts
    parts = [
        _pick(
            rng,
            [
                "You trained for {duration_min} minutes at an average heart rate of {mean_hr}, peaking "
                "at {max_hr}.",
                "{duration_min} minutes today, averaging {mean_hr} with a peak of {max_hr}.",
                "That was {duration_min} minutes, average heart rate {mean_hr}, highest {max_hr}.",
            ],
            **f,
        )
    ]
    if "main_zone" in f:
        parts.append(
            _pick(
                rng,
                [
                    "Most of it, {main_zone_min} minutes, was in zone {main_zone}.",
                    "You spent {main_zone_min} minutes in zone {main_zone}, more than in any other.",
                    "Zone {main_zone} took most of it: {main_zone_min} minutes.",
                ],
                **f,
            )
        )
    if "distance_km" in f:
        parts.append(
            _pick(rng, ["You covered {distance_km} km.", "Distance: {distance_km} km."], **f)
        )
    if f.get("gap_s"):
        parts.append(
            _pick(
                rng,
                [
                    "The strap lost contact for {gap_s} seconds.",
                    "For {gap_s} seconds there was no heart rate.",
                ],
                **f,
            )
        )
    if advice.action is Action.EASE_OFF:
        parts.append(
            _pick(
                rng,
                [
                    "With {hard_min} hard minutes, keep tomorrow easy.",
                    "{hard_min} minutes were hard, so take it easy tomorrow.",
                    "That's {hard_min} hard minutes: make tomorrow an easy day.",
                ],
                **f,
            )
        )
    else:
        parts.append(
            rng.choice(
                [
                    "A steady session: keep it up.",
                    "Nice steady work, keep it up.",
                    "Good, steady session. Keep it going.",
                ]
            )
        )
    text = " ".join(parts) if rng.random() < 0.7 else advice.template
    return advice, text


def _readiness_facts(rng: random.Random) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if rng.random() < 0.7:
        base = rng.randint(45, 70)
        facts |= {
            "resting_hr": base + rng.choice((-2, -1, 0, 1, 2, 3, 4, 5, 7, 9)),
            "baseline_resting_hr": base,
        }
    facts |= {
        "hours_since_last": rng.randint(10, 96),
        "last_hard_min": rng.choice((0, 0, 3, 8, 15, 22, 30, 41)),
        "sessions_7d": rng.choice((1, 2, 3, 4, 5, 6)),
    }
    return facts


def readiness(rng: random.Random) -> tuple[Advice, str]:
    facts = _readiness_facts(rng)
    advice = advice_for("readiness", facts)
    return advice, _readiness_text(rng, advice)


def _readiness_text(rng: random.Random, advice: Advice) -> str:
    f, keys = advice.facts, set(advice.key_facts)
    if rng.random() < 0.5:
        return advice.template
    if advice.action is Action.STOP:
        if "resting_hr" in keys:
            variants = [
                "Rest today: a resting heart rate of {resting_hr} against your usual "
                "{baseline_resting_hr} says you need recovery."
            ]
        else:
            variants = [
                "{sessions_7d} sessions this week is plenty. Rest today and let it sink in.",
                "Take today off and rest: {sessions_7d} sessions this week is a lot.",
            ]
    elif advice.action is Action.EASE_OFF:
        if "last_hard_min" in keys:
            variants = [
                "Go easy today: {last_hard_min} hard minutes {hours_since_last} hours "
                "ago still need recovering from.",
                "Keep it easy today. Your last session had {last_hard_min} hard minutes.",
            ]
        else:
            variants = [
                "Keep it easy today, your resting heart rate of {resting_hr} is up from "
                "{baseline_resting_hr}."
            ]
    elif "resting_hr" in keys:
        variants = [
            "Your resting heart rate is {resting_hr}, right by your usual "
            "{baseline_resting_hr}. You're ready, keep to your plan."
        ]
    else:
        variants = [
            "You're good to go: keep to your plan.",
            "All clear today. Keep to the plan and enjoy it.",
        ]
    return _pick(rng, variants, **f)


def _zone_bounds(zones: ZoneModel) -> dict[int, tuple[int, int]]:
    return {z: zones.bounds_bpm(z) for z in range(1, 6)}


def _plan_inputs(rng: random.Random) -> dict[str, Any]:
    return {
        "hours_since_last": rng.choice((None, rng.randint(10, 120))),
        "last_hard_min": rng.choice((0, 5, 12, 18, 30)),
        "sessions_7d": rng.randint(0, 7),
        "hard_sessions_7d": rng.randint(0, 2),
    }


def plan(rng: random.Random) -> tuple[Advice, str]:
    # Mostly the planner's own suggestions (what `edgecoach plan` and `ask` word on the
    # device), sometimes the simple rules' plan (what `ask` uses without the app's settings).
    if rng.random() < 0.75:
        advice = suggestion_advice(*_planned_day(rng))
        return advice, _suggestion_text(rng, advice)
    facts = plan_facts(**_plan_inputs(rng), zone_bounds=_zone_bounds(_person(rng)))
    advice = advice_for("plan", facts)
    variants = [advice.template]
    match facts["session"]:
        case "easy":
            variants += [
                "An easy day: {duration_min} minutes in zone {zone}, between {zone_low} "
                "and {zone_high}. Keep it relaxed."
            ]
        case "long":
            variants += [
                "Go long today: {duration_min} steady minutes, heart rate {zone_low} to "
                "{zone_high}. Hold an easy, talking pace."
            ]
        case "intervals":
            variants += [
                "Intervals today: {reps} efforts of {rep_min} minutes at {zone_low} to "
                "{zone_high}. Push hard in each one, jog easy between."
            ]
        case "rest":
            variants += ["Rest today. Recovery is where the training pays off."]
    return advice, _pick(rng, variants, **facts)


_PLANNED_KINDS = ("easy", "easy", "moderate", "hard", "long")


#: The rules of `daily_suggestion`, each drawn equally often: on random fortnights some are
#: rare (a steady day after "too hard" feedback, about 3 %), and the first export, drawing
#: fortnights alone, learned those few examples badly (it gave them another rule's reason).
_DAILY_RULES = (
    "already trained",
    "seven day rest",
    "after hard",
    "after hard, low readiness",
    "low readiness",
    "hard",
    "too hard",
    "long",
    "after moderate",
    "moderate",
    "load reached",
)


def _planned_day(rng: random.Random) -> tuple[Suggestion, ZoneModel]:
    """Today's suggestion of the device's planner, for a random fortnight of training that
    makes a rule drawn from `_DAILY_RULES` decide (the last fortnight tried if none does)."""
    want = rng.choice(_DAILY_RULES)
    for _ in range(2000):
        suggestion, zones = _random_fortnight(rng)
        if suggestion.basis.get("rule") == want:
            break
    return suggestion, zones


def _random_fortnight(rng: random.Random) -> tuple[Suggestion, ZoneModel]:
    zones = _person(rng)
    today = date(2026, 3, 2) + timedelta(days=rng.randint(0, 300))
    rate = rng.choice((0.2, 0.35, 0.5, 0.7, 0.9))
    history = []
    for back in range(13, -1, -1):
        if rng.random() >= (rate if back else 0.15):
            continue
        kind = rng.choice(_PLANNED_KINDS)
        minutes = rng.choice((25, 30, 40, 45, 60, 75))
        history.append(
            SessionLoad(
                len(history) + 1,
                today - timedelta(days=back),
                minutes * trimp_per_minute(kind),
                minutes * 60,
                minutes * 60,
                kind,
            )
        )  # type: ignore[arg-type]
    ready = None
    if rng.random() < 0.7:
        level = rng.choice(("low", "normal", "normal", "high"))
        score = {
            "low": rng.randint(15, 39),
            "normal": rng.randint(40, 60),
            "high": rng.randint(61, 90),
        }[level]
        ready = Readiness(score, level)  # type: ignore[arg-type]
    feedback = []
    if history and rng.random() < 0.3:
        feedback.append(
            Feedback(history[-1].session_id or 0, text=rng.choice(("too hard", "too easy")))
        )
    suggestion = daily_suggestion(
        history, ready, feedback, today, goal_minutes=rng.choice((150, 150, 200, 300))
    )
    return suggestion, zones


#: Why a day is what it is, in the words of several replies (the rule names are the planner's).
_WHY = {
    "already_trained": ["You have already trained today."],
    "seven_day_rest": [
        "You have trained every day this week, so today is for recovery.",
        "After a week of training every day, rest is where you get fitter.",
    ],
    "after_hard_low_readiness": [
        "Yesterday was hard and your readiness is low, at {readiness_score}."
    ],
    "load_reached": ["You have reached this week's training load."],
    "after_hard": [
        "Yesterday was hard, so today stays easy.",
        "After yesterday's hard session, recovery comes first.",
    ],
    "low_readiness": [
        "Your readiness is low today, at {readiness_score}, so keep it short and gentle."
    ],
    "after_moderate": ["Yesterday was a steady session, so today is easy."],
    "too_hard": ["Your recent sessions felt too hard, so nothing harder than steady today."],
    "hard": ["A hard day is due this week."],
    "long": ["You have had no long session this week yet."],
    "moderate": ["It fits this week's load."],
}


def _suggestion_text(rng: random.Random, advice: Advice) -> str:
    f = advice.facts
    candidates = []
    if guard.check_advice(advice.template, advice).ok:
        candidates.append(advice.template)
    why = rng.choice(_WHY.get(str(f["reason"]), [""]))
    if "instead_of" in f:
        why = "This week's load leaves room for an easy session only, not {instead_of}."
    match f["session"]:
        case "rest":
            heads = ["Rest today.", "Take today off and rest.", "Today is a rest day."]
            tails = ["An easy walk is fine.", "Let your body recover.", ""]
            text = " ".join(p for p in (rng.choice(heads), why, rng.choice(tails)) if p)
        case "easy":
            text = (
                "Keep it easy today: {duration_min} minutes in zone {zone}, heart rate "
                "{zone_low} to {zone_high}. " + why
            )
        case "moderate":
            text = (
                "A steady {duration_min} minutes today: {warmup_min} easy, then hold zone "
                "{zone}, heart rate {zone_low} to {zone_high}. " + why
            )
        case "hard":
            text = (
                "A hard day: warm up {warmup_min} minutes, then {reps} efforts of {rep_min} "
                "minutes in zone {zone}, heart rate {zone_low} to {zone_high}. Push in each "
                "one and jog easy between."
            )
        case _:
            text = (
                "Go long today: {duration_min} steady minutes in zone {zone}, heart rate "
                "{zone_low} to {zone_high}. Hold a pace you could talk at. " + why
            )
    candidates.append(text.strip())
    return _pick(rng, candidates, **f)


# -- questions ---------------------------------------------------------------------------------

QUESTIONS: dict[Intent, list[str]] = {
    Intent.LAST_SESSION: [
        "How did my run go?",
        "How was today's session?",
        "How did my last workout go?",
        "Tell me about my last run.",
        "How was my training yesterday?",
        "Summarise my last session.",
    ],
    Intent.HEART_RATE: [
        "What was my max heart rate?",
        "What was my average heart rate?",
        "How high did my heart rate get?",
        "What was my peak bpm?",
    ],
    Intent.ZONES: [
        "What is my zone 2?",
        "What are my heart rate zones?",
        "Where does zone 5 start for me?",
        "What's my zone 4?",
    ],
    Intent.TREND: [
        "Am I getting fitter?",
        "Am I improving?",
        "How is my fitness trend?",
        "Have I made progress lately?",
    ],
    Intent.READINESS: [
        "Should I train today?",
        "Am I ready for a hard session?",
        "Should I take a rest day?",
        "Am I recovered?",
    ],
    Intent.PLAN: [
        "What should I do today?",
        "What's my plan today?",
        "What workout should I do?",
        "What's next?",
    ],
    Intent.UNKNOWN: [
        "How did I sleep?",
        "How many calories did I burn?",
        "What's my VO2max?",
        "What's my blood pressure?",
        "How much do I weigh?",
        "What should I eat before a run?",
        "What's the weather like?",
        "Is my knee injury getting better?",
        "What's my HRV?",
    ],
    Intent.SAFETY: [
        "I have chest pain, what should I do?",
        "I feel dizzy.",
        "I feel faint after that interval.",
        "My heart is racing and I feel unwell.",
        "I can't breathe properly.",
    ],
}


def _question(rng: random.Random, intent: Intent) -> str:
    return rng.choice(QUESTIONS[intent])


def _volume_question(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """ "Can I train 200 minutes next week?" with the facts `edge.ask.volume_facts` gives."""
    last = rng.randint(6, 40) * 10
    facts: dict[str, Any] = {
        "last_week_min": last,
        "increase_pct": 10,
        "next_week_max_min": round(last * 1.1),
    }
    if rng.random() < 0.3:
        longest = rng.randint(30, 120)
        facts |= {
            "doubling": "yes",
            "longest_min": longest,
            "longest_next_max_min": round(longest * 1.1),
        }
        return rng.choice(
            ("Is it fine to double my long run?", "Can I double my longest session?")
        ), facts
    if rng.random() < 0.2:
        return "How much more can I train next week?", facts
    asked = rng.choice((last + rng.randint(1, max(last // 10, 2)), round(last * 1.5), 2 * last))
    facts["asked_min"] = asked
    return rng.choice(
        (f"Can I train {asked} minutes next week?", f"Is {asked} minutes next week too much?")
    ), facts


def question(rng: random.Random) -> tuple[Advice, str]:
    intent = rng.choice(
        list(QUESTIONS) + [Intent.NO_DATA, Intent.UNKNOWN, Intent.TREND, Intent.VOLUME]
    )
    if intent is Intent.VOLUME:
        q, facts = _volume_question(rng)
        advice = advice_for("question", facts, kind=intent.value, question=q)
        return advice, advice.template
    q = _question(
        rng,
        intent
        if intent is not Intent.NO_DATA
        else rng.choice((Intent.LAST_SESSION, Intent.TREND, Intent.READINESS)),
    )
    zones = _person(rng)
    facts: dict[str, Any]
    match intent:
        case Intent.LAST_SESSION:
            facts = summary_facts(_summary_dict(rng), days_ago=rng.choice((0, 0, 1, 2, 5)))
        case Intent.HEART_RATE:
            s = summary_facts(_summary_dict(rng), days_ago=rng.choice((0, 0, 1, 3)))
            facts = {k: s[k] for k in ("duration_min", "mean_hr", "max_hr", "days_ago")}
        case Intent.ZONES:
            zone = rng.randint(1, 5)
            low, high = zones.bounds_bpm(zone)
            facts = {
                "zone": zone,
                "zone_low": low,
                "zone_high": high,
                "resting_hr": round(zones.resting_hr),
                "max_hr": round(zones.max_hr),
            }
            if "zones" in q:
                facts = {
                    "resting_hr": round(zones.resting_hr),
                    "max_hr": round(zones.max_hr),
                    "zone5_lower": round(zones.lower_bpm(5)),
                }
        case Intent.TREND:
            sessions = rng.randint(0, 14)
            facts = {"sessions": sessions}
            if sessions >= 6:
                before = rng.randint(130, 160)
                facts |= {"mean_hr_recent": before + rng.randint(-8, 8), "mean_hr_before": before}
        case Intent.READINESS if rng.random() < 0.6:
            # As `edgecoach ask` answers it: the morning readiness and today's plan.
            advice = readiness_advice_for(*_planned_day(rng), q)
            return advice, advice.template
        case Intent.READINESS:
            facts = _readiness_facts(rng)
        case Intent.PLAN if rng.random() < 0.75:
            advice = suggestion_advice(*_planned_day(rng), question=q)
            return advice, _suggestion_text(rng, advice)
        case Intent.PLAN:
            facts = plan_facts(**_plan_inputs(rng), zone_bounds=_zone_bounds(zones))
        case Intent.UNKNOWN:
            facts = {}
        case _:
            facts = {}
    advice = advice_for("question", facts, kind=intent.value, question=q)
    text = advice.template
    if intent is Intent.UNKNOWN and rng.random() < 0.5:
        text = rng.choice(
            [
                "I don't know: this device only records your heart rate, cadence and sessions.",
                "I'm not sure, I don't have that. I only see the heart "
                "rate and sessions recorded here.",
            ]
        )
    elif intent is Intent.READINESS:
        text = _readiness_text(rng, advice)
    return advice, text


#: Situation groups and how often each is drawn (per `per_group` units). The groups whose
#: replies carry several numbers (drift, workout steps, plans, summaries) are drawn more: a
#: first run failed the guard mostly there, by copying the wrong number into a slot.
GROUPS: dict[str, tuple[Callable[[random.Random], tuple[Advice, str]], float]] = {
    "cue_zone_up": (cue_zone_up, 1.0),
    "cue_zone_down": (cue_zone_down, 1.0),
    "cue_high_zone": (cue_high_zone, 1.4),
    "cue_forecast": (cue_forecast, 1.2),
    "cue_above_max": (cue_above_max, 0.25),
    "cue_implausible": (cue_implausible, 0.25),
    "cue_sensor_lost": (cue_sensor_lost, 0.5),
    "cue_sensor_back": (cue_sensor_back, 0.5),
    "cue_drift": (cue_drift, 0.8),
    "cue_step_start": (cue_step_start, 0.7),
    "cue_step_halfway": (cue_step_halfway, 0.6),
    "cue_step_end": (cue_step_end, 0.5),
    "cue_off_target": (cue_off_target, 0.5),
    "cue_workout_done": (cue_workout_done, 0.2),
    "cue_milestone": (cue_milestone, 0.6),
    "cue_on_target": (cue_on_target, 0.5),
    "cue_hard_step_ahead": (cue_hard_step_ahead, 0.4),
    "summary": (session_summary, 1.3),
    "readiness": (readiness, 0.8),
    "plan": (plan, 2.2),
    "question": (question, 2.2),
}


#: The cue kinds each group makes (groups for kinds this checkout's coach lacks are skipped).
GROUP_KINDS = {
    "cue_zone_up": "zone_change",
    "cue_zone_down": "zone_change",
    "cue_high_zone": "high_zone",
    "cue_forecast": "forecast_overshoot",
    "cue_above_max": "above_max_hr",
    "cue_implausible": "implausible_reading",
    "cue_sensor_lost": "sensor_lost",
    "cue_sensor_back": "sensor_back",
    "cue_drift": "drift",
    "cue_step_start": "step_start",
    "cue_step_halfway": "step_halfway",
    "cue_step_end": "step_end",
    "cue_off_target": "off_target",
    "cue_workout_done": "workout_done",
    "cue_milestone": "milestone",
    "cue_on_target": "on_target",
    "cue_hard_step_ahead": "hard_step_ahead",
}


def active_groups() -> dict[str, tuple[Callable[[random.Random], tuple[Advice, str]], float]]:
    return {g: v for g, v in GROUPS.items() if g not in GROUP_KINDS or _has_kind(GROUP_KINDS[g])}


def record(group: str, advice: Advice, reference: str) -> dict[str, Any]:
    """One corpus line: the advice (enough to rebuild it with `advice_for`), prompt and answer."""
    verdict = guard.check_advice(reference, advice)
    if not verdict.ok:
        raise AssertionError(
            f"corpus reference fails the guard ({verdict.reason}): "
            f"{reference!r} for {advice.kind} {dict(advice.facts)}"
        )
    if not guard.action_agrees(reference, advice.action):
        raise AssertionError(f"corpus reference does not ask for {advice.action}: {reference!r}")
    messages = advice_prompt(advice, FACTS).messages
    return {
        "group": group,
        "task": advice.task.value,
        "kind": advice.kind,
        "action": None if advice.action is None else advice.action.value,
        "facts": dict(advice.facts),
        "question": advice.question,
        "messages": messages + [{"role": "assistant", "content": reference}],
        "reference": reference,
        "template": advice.template,
        "deterministic": advice.deterministic,
    }


def generate(seed: int, settings: CorpusSettings = CorpusSettings()) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for group, (make, weight) in active_groups().items():
        for _ in range(max(2, round(settings.per_group * weight))):
            advice, text = make(rng)
            yield record(group, advice, text)


def advice_of(line: dict[str, Any]) -> Advice:
    """Rebuild a corpus line's `Advice` (for the guard and the held-out scores)."""
    return advice_for(
        line["task"],
        line["facts"],
        kind=line["kind"],
        action=line["action"],
        question=line.get("question", ""),
    )


def build_corpus(work_dir: Path, *, seed: int = 0, settings: CorpusSettings | None = None) -> Path:
    """Write the corpus into ``work_dir/corpus/``; return the train file."""
    settings = settings or CorpusSettings()
    out = Path(work_dir) / "corpus"
    out.mkdir(parents=True, exist_ok=True)
    with stopwatch() as t:
        lines = list(generate(seed, settings))
        # Repeats (the same facts and words) would leak between the splits: keep one.
        unique = list({json.dumps(x, sort_keys=True): x for x in lines}.values())
        rng = random.Random(seed + 1)
        train, heldout = [], []
        by_group: dict[str, list[dict]] = {}
        for line in unique:
            by_group.setdefault(line["group"], []).append(line)
        for group_lines in by_group.values():
            rng.shuffle(group_lines)
            n = max(1, round(len(group_lines) * settings.heldout_fraction))
            heldout += group_lines[:n]
            train += group_lines[n:]
        rng.shuffle(train)
        train_path, heldout_path = out / TRAIN_FILE, out / HELDOUT_FILE
        for path, rows in ((train_path, train), (heldout_path, heldout)):
            # Keys in the rules' order: a fact line rebuilt from the file (advice_of) must read
            # exactly as the prompt the model was trained on.
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    digest = corpus_sha256(train_path, heldout_path)
    write_meta(
        train_path,
        stage="corpus",
        inputs={"coach_rules": "edge.narrator.advice", "prompt_style": FACTS},
        seed=seed,
        settings={"per_group": settings.per_group, "heldout_fraction": settings.heldout_fraction},
        sizes={
            "train": len(train),
            "heldout": len(heldout),
            "duplicates_dropped": len(lines) - len(unique),
            "train_by_group": dict(Counter(x["group"] for x in train)),
            "heldout_by_group": dict(Counter(x["group"] for x in heldout)),
            "distinct_references": len({x["reference"] for x in unique}),
        },
        metrics={"corpus_sha256": digest, "heldout_path": str(heldout_path)},
        wall_s=t[0],
    )
    log.info(
        "corpus: %d train, %d held-out examples (sha256 %s)", len(train), len(heldout), digest[:12]
    )
    return train_path


def corpus_sha256(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(Path(path).read_bytes())
    return h.hexdigest()


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x]
