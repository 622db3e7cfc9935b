"""A planned rep that the person's calibrated kinetics say is too hard is announced before it
starts, with the power to start it at; for a person it suits, nothing is said."""

from __future__ import annotations

import numpy as np
import pytest

from edge.coach.coach import Coach
from edge.coach.workouts import parse_workout
from edge.core.cues import Action, CueKind, Priority
from edge.health.kinetics import KineticsParams
from edge.health.personal_kinetics import PersonalKinetics, update_personal_kinetics
from edge.narrator import guard
from edge.narrator.advice import cue_advice
from edge.profile import Profile
from edge.stream.readings import AlignedSample
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider
from firmware_bridge.simulator import Athlete

PROFILE = Profile(name="Ann", age=40, resting_hr=55.0, max_hr=185.0)
ATHLETE = Athlete(age=40, resting_hr=55.0, max_hr=185.0, fitness=0.5)
#: Warm-up, then three reps in zone 3 (146-159 bpm for this profile) at 230 W on an ERG bike.
PLAN = "10m 120W, 3x(3m z3 230W, 2m z1 100W)"
REP_STARTS = (600, 900, 1200)


def sample(t: int, hr: float, power: float) -> AlignedSample:
    return AlignedSample(t, hr, (), 85.0, None, None, None, True, False, power_w=power)


def learnt(response: PowerResponse) -> PersonalKinetics:
    """The person's kinetics learnt from two earlier 30-minute rides (as the daemon does)."""
    known = PersonalKinetics("Ann")
    for seed in (11, 12):
        rng = np.random.default_rng(seed)
        rider = SimulatedRider(response, seed=seed)
        samples: list[AlignedSample] = []
        while len(samples) < 1800:
            power = float(rng.uniform(60, 200))
            for _ in range(int(rng.integers(90, 240))):
                samples.append(sample(len(samples), rider.step(power), power))
        known, _ = update_personal_kinetics(known, samples)
    return known


def ride(response: PowerResponse, kinetics: PersonalKinetics | None):
    """The plan on an ERG bike (the power is the plan's), coached second by second."""
    plan = parse_workout(PLAN)
    coach = Coach(PROFILE, plan=plan, plan_start_t=0, kinetics=kinetics)
    rider = SimulatedRider(response, seed=3)
    powers = [float(s.power_w) for s in plan.steps for _ in range(s.duration_s)]
    cues, hrs = [], []
    for t, power in enumerate(powers):
        hr = rider.step(power)
        hrs.append(hr)
        cues += coach.update(sample(t, round(hr), power))
    return cues, hrs


STRONG = PowerResponse(ATHLETE, gain_bpm_per_w=0.45, time_constant_s=45.0, delay_s=5)
SUITED = PowerResponse(ATHLETE, gain_bpm_per_w=0.30, time_constant_s=45.0, delay_s=5)


def test_a_rep_too_hard_for_this_heart_is_announced_before_it_starts() -> None:
    cues, hrs = ride(STRONG, learnt(STRONG))
    warnings = [c for c in cues if c.kind is CueKind.HARD_STEP_AHEAD]
    # One before each rep, inside the 40 s before it starts, never once it has started.
    assert [next(s for s in REP_STARTS if s > c.t) for c in warnings] == list(REP_STARTS)
    assert all(0 < start - c.t <= 40 for c, start in zip(warnings, REP_STARTS, strict=True))
    first = warnings[0]
    assert first.priority is Priority.FORECAST and first.action is Action.EASE_OFF
    f = first.facts
    assert f["next_power_w"] == 230 and f["limit_hr"] == 159 and f["kinetics_sessions"] == 2
    # What the heart actually did in that rep: past the zone, as the warning said.
    assert max(hrs[600:780]) > 159
    assert f["forecast_hr"] == pytest.approx(max(hrs[600:780]), abs=4)
    assert 150 <= f["suggested_power_w"] < 230
    assert first.template_text == (
        f"The next interval at 230 watts would take you to {f['forecast_hr']} within "
        f"{f['within_s']} seconds, over 159. Start it easier, at {f['suggested_power_w']} watts."
    )
    assert guard.check_advice(first.template_text, cue_advice(first)).ok  # every number a fact


def test_the_suggested_start_keeps_the_heart_in_the_zone() -> None:
    cues, _ = ride(STRONG, learnt(STRONG))
    warning = next(c for c in cues if c.kind is CueKind.HARD_STEP_AHEAD)
    suggested = float(warning.facts["suggested_power_w"])
    rider = SimulatedRider(STRONG, seed=3)
    hrs = [rider.step(p) for p in [120.0] * 600 + [suggested] * 180]
    assert max(hrs[600:]) < 159 + 2  # the model's own error, a beat or two


def test_a_rep_that_suits_this_heart_is_not_announced() -> None:
    cues, hrs = ride(SUITED, learnt(SUITED))
    assert max(hrs) < 159
    assert not [c for c in cues if c.kind is CueKind.HARD_STEP_AHEAD]
    assert [c for c in cues if c.kind is CueKind.STEP_START]  # the plan is coached as before


def test_without_learnt_kinetics_nothing_is_guessed() -> None:
    cues, _ = ride(STRONG, None)
    assert not [c for c in cues if c.kind is CueKind.HARD_STEP_AHEAD]


def test_a_speed_step_on_a_treadmill_is_judged_with_speed_kinetics() -> None:
    """A runner's learnt speed kinetics and a plan of belt speeds: 12 km/h is too fast."""
    runner = KineticsParams(rest_bpm=75.0, gain=30.0, tau_s=40.0, delay_s=3, effort_kind="speed")
    known = PersonalKinetics("Ann", {"speed": runner}, {"speed": 3})
    plan = parse_workout("5m 8kmh, 4m z3 12kmh")
    coach = Coach(PROFILE, plan=plan, plan_start_t=0, kinetics=known)
    cues = []
    for t in range(300):
        hr = 75.0 + 30.0 * 8 / 3.6  # steady at 8 km/h: 142
        s = AlignedSample(
            t, hr, (), 160.0, None, None, None, True, False, machine_speed_mps=8 / 3.6
        )
        cues += coach.update(s)
    (warning,) = [c for c in cues if c.kind is CueKind.HARD_STEP_AHEAD]
    assert warning.facts["next_speed_kmh"] == 12.0
    assert warning.facts["suggested_speed_kmh"] < 12.0
    assert "km/h" in warning.template_text and warning.t < 300
