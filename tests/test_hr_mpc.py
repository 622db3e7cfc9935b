"""Heart-rate mode by model-predictive control: within its limits whatever the heart does, and
holding the zone on simulated people through the machine coach and over the BLE path."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.coach.hr_control import ControlInput
from edge.coach.hr_mpc import MpcPowerController, MpcSettings
from edge.coach.machine_coach import MachineCoach
from edge.core.zones import ZoneModel
from edge.health.kinetics import KineticsParams
from edge.health.personal_kinetics import PersonalKinetics, update_personal_kinetics
from edge.profile import Profile
from edge.settings import MachineSettings
from edge.stream.machine import MachineEvent, MachineEventKind, RequestControl, SetTargetPower
from edge.stream.readings import AlignedSample
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider, random_rider
from firmware_bridge.simulator import Athlete

kinetics = st.builds(
    KineticsParams,
    rest_bpm=st.floats(50, 100),
    gain=st.floats(0.1, 1.0),
    tau_s=st.floats(15, 150),
    delay_s=st.integers(0, 15),
    drift_bpm_per_min=st.floats(0, 1.0),
)


@settings(deadline=None, max_examples=40)
@given(
    kinetics,
    st.floats(60, 400),  # the cap
    st.floats(20, 60),  # the floor
    st.lists(st.one_of(st.none(), st.floats(40, 220)), min_size=60, max_size=240),
    st.sampled_from([(120.0, 135.0), (150.0, 162.0), (90.0, 100.0)]),
    st.booleans(),
)
def test_the_mpc_never_leaves_its_limits_whatever_the_heart_does(
    params, cap, floor, hrs, zone, reports_power
) -> None:
    mpc = MpcPowerController(params, start_power_w=floor)
    s = mpc.settings
    outputs = [floor]
    change_times = []
    for t, hr in enumerate(hrs):
        measured = outputs[-1] if reports_power else None
        out = mpc.update(
            ControlInput(t + 1, hr, *zone, power_w=measured, max_power_w=cap, min_power_w=floor)
        )
        assert floor - 1e-9 <= out <= cap + 1e-9
        assert abs(out - outputs[-1]) <= s.max_step_w + 1e-9
        if out != outputs[-1]:
            change_times.append(t + 1)
            if hr is None:
                pytest.fail("the power changed on a second without a heart rate")
        outputs.append(out)
    assert all(b - a >= s.decide_every_s for a, b in pairwise(change_times))


def test_a_missing_heart_rate_holds_the_power() -> None:
    mpc = MpcPowerController(KineticsParams(70, 0.4, 40, 5), start_power_w=120)
    assert mpc.update(ControlInput(30, None, 140, 150)) == 120


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        MpcSettings(max_step_w=0)
    with pytest.raises(ValueError):
        MpcSettings(set_point_fraction=1.5)
    with pytest.raises(ValueError, match="power kinetics"):
        MpcPowerController(KineticsParams(70, 20, 40, 5, effort_kind="speed"))


def calibrated(response: PowerResponse, seed: int) -> KineticsParams:
    """The person's kinetics learnt from a 30-minute ERG ride, as the daemon learns them."""
    rng = np.random.default_rng(seed)
    rider = SimulatedRider(response, seed=seed + 1000)
    cap = response.power_for(response.athlete.max_hr - 5)
    samples: list[AlignedSample] = []
    while len(samples) < 1800:
        power = float(rng.uniform(0.3, 0.85) * cap)
        for _ in range(int(rng.integers(90, 240))):
            hr = rider.step(power)
            samples.append(
                AlignedSample(
                    len(samples), hr, (), None, None, None, None, True, False, power_w=power
                )
            )
    known, _ = update_personal_kinetics(PersonalKinetics("rider"), samples)
    params = known.for_kind("power")
    assert params is not None
    return params


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_mpc_holds_a_simulated_rider_in_the_zone_through_the_machine_coach(seed) -> None:
    rng = np.random.default_rng(seed)
    athlete = Athlete(age=40, resting_hr=55.0, max_hr=185.0, fitness=0.5)
    response = random_rider(rng, athlete)
    zones = ZoneModel.for_profile(Profile("rider", 40, 55.0, 185.0))
    settings_ = MachineSettings(kind="bike", drive=True, hold_zone=3, max_power_w=300.0)
    mpc = MpcPowerController(calibrated(response, seed), start_power_w=40)
    coach = MachineCoach(settings_, zones, controller=mpc)
    rider = SimulatedRider(response, seed=seed)
    low, high = zones.bounds_bpm(3)
    power = 0.0
    hr = rider.step(power)
    inside = []
    for t in range(1200):
        sample = AlignedSample(t, hr, (), None, None, None, None, True, False, power_w=power)
        for command in coach.tick(sample).commands:
            if isinstance(command, RequestControl):
                coach.on_event(MachineEvent("bike", t + 0.2, MachineEventKind.CONTROL_GRANTED))
            elif isinstance(command, SetTargetPower):
                assert command.watts <= 300 and abs(command.watts - max(power, 40)) <= 25
                power = command.watts
        hr = rider.step(power)
        if t >= 180:
            inside.append(low <= hr < high)
    assert sum(inside) / len(inside) > 0.95


def test_the_mpc_holds_a_slow_heart_the_pid_was_not_tuned_for() -> None:
    """A heart twice as slow as the PID's tuning and with a long delay: the MPC, knowing it,
    still holds the zone and does not overshoot it."""
    athlete = Athlete(age=55, resting_hr=62.0, max_hr=165.0, fitness=0.2)
    response = PowerResponse(athlete, gain_bpm_per_w=0.35, time_constant_s=130.0, delay_s=14)
    zones = ZoneModel.for_profile(Profile("slow", 55, 62.0, 165.0))
    settings_ = MachineSettings(kind="bike", drive=True, hold_zone=2, max_power_w=250.0)
    coach = MachineCoach(
        settings_, zones, controller=MpcPowerController(calibrated(response, 5), start_power_w=40)
    )
    rider = SimulatedRider(response, seed=5)
    low, high = zones.bounds_bpm(2)
    power, hr = 0.0, rider.step(0.0)
    inside, over = [], 0.0
    for t in range(1800):
        sample = AlignedSample(t, hr, (), None, None, None, None, True, False, power_w=power)
        for command in coach.tick(sample).commands:
            if isinstance(command, RequestControl):
                coach.on_event(MachineEvent("bike", t + 0.2, MachineEventKind.CONTROL_GRANTED))
            elif isinstance(command, SetTargetPower):
                power = command.watts
        hr = rider.step(power)
        over += max(0.0, hr - high)
        if t >= 600:
            inside.append(low <= hr < high)
    assert sum(inside) / len(inside) > 0.9
    assert over < 30.0


@pytest.mark.parametrize("off_bpm", [-8.0, 8.0])
def test_a_calibration_some_beats_off_still_settles_at_the_set_point(off_bpm) -> None:
    """Another day (a cold, heat, sleep): the learnt kinetics put the heart `off_bpm` away from
    where it is. The measured offset takes that up within a minute or two: from minute 5 to 15
    the heart averages within 0.75 bpm of the set point. (The MPC's first observer corrected
    its state, saw a steady error only through the heart's time constant, and held this heart
    1.4-1.6 bpm off the set point over those minutes.)"""
    athlete = Athlete(age=40, resting_hr=55.0, max_hr=185.0, fitness=0.5)
    response = random_rider(np.random.default_rng(4), athlete)
    learnt = calibrated(response, 4)
    learnt = replace(learnt, rest_bpm=learnt.rest_bpm + off_bpm)
    zones = ZoneModel.for_profile(Profile("rider", 40, 55.0, 185.0))
    settings_ = MachineSettings(kind="bike", drive=True, hold_zone=3, max_power_w=300.0)
    mpc = MpcPowerController(learnt, start_power_w=40)
    coach = MachineCoach(settings_, zones, controller=mpc)
    rider = SimulatedRider(response, seed=4)
    low, high = zones.bounds_bpm(3)
    power, hr, late = 0.0, rider.step(0.0), []
    for t in range(900):
        sample = AlignedSample(t, hr, (), None, None, None, None, True, False, power_w=power)
        for command in coach.tick(sample).commands:
            if isinstance(command, RequestControl):
                coach.on_event(MachineEvent("bike", t + 0.2, MachineEventKind.CONTROL_GRANTED))
            elif isinstance(command, SetTargetPower):
                power = command.watts
        hr = rider.step(power)
        if t >= 300:
            late.append(hr)
    set_point = low + MpcSettings().set_point_fraction * (high - low)
    assert abs(np.mean(late) - set_point) < 0.75
    assert all(low <= h < high for h in late)


@settings(deadline=None, max_examples=12)
@given(st.integers(0, 10_000), st.sampled_from([1, 2, 3, 4]), st.floats(120, 350))
def test_the_mpc_stays_within_the_cap_and_steps_on_random_people(seed, zone, cap) -> None:
    """Closed loop through the machine coach, a random person (their kinetics learnt, or an
    average heart's when they are far off), a random zone and cap: every power asked is within
    the cap and the floor, and moves by at most the step limit."""
    from firmware_bridge.simulator import random_athlete

    rng = np.random.default_rng(seed)
    athlete = random_athlete(rng)
    response = random_rider(rng, athlete)
    profile = Profile("rider", athlete.age, athlete.resting_hr, athlete.max_hr)
    zones = ZoneModel.for_profile(profile)
    limits = MachineSettings(kind="bike", drive=True, hold_zone=zone, max_power_w=cap)
    params = KineticsParams(
        rest_bpm=athlete.resting_hr + rng.uniform(0, 25),
        gain=float(rng.uniform(0.15, 0.8)),
        tau_s=float(rng.uniform(20, 120)),
        delay_s=int(rng.integers(0, 15)),
    )
    coach = MachineCoach(limits, zones, controller=MpcPowerController(params, start_power_w=40))
    rider = SimulatedRider(response, seed=seed)
    power, hr = 0.0, rider.step(0.0)
    sent = []
    for t in range(480):
        sample = AlignedSample(t, hr, (), None, None, None, None, True, False, power_w=power)
        for command in coach.tick(sample).commands:
            if isinstance(command, RequestControl):
                coach.on_event(MachineEvent("bike", t + 0.2, MachineEventKind.CONTROL_GRANTED))
            elif isinstance(command, SetTargetPower):
                sent.append(command.watts)
                power = command.watts
        hr = rider.step(power)
    assert sent and max(sent) <= cap and min(sent) >= min(limits.min_power_w, cap)
    steps = [abs(b - a) for a, b in pairwise([limits.min_power_w, *sent])]
    assert max(steps) <= limits.max_step_w + 0.5  # rounded to whole watts
