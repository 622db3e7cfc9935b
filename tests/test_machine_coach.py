"""The machine coach and its heart-rate controller, pure: samples and machine events in, commands
and words out. Each safety path of issue 14 is a test here; the same paths run over real bleak
against a virtual machine in test_machine_ble.py."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from edge.coach.hr_control import ControlInput, PidPowerController, PidSettings
from edge.coach.machine_coach import DriveState, MachineCoach
from edge.coach.workouts import PlannedWorkout, WorkoutError, parse_workout
from edge.core.zones import ZoneModel
from edge.errors import ConfigError
from edge.profile import Profile
from edge.settings import MachineSettings, load_settings
from edge.stream.machine import (
    MachineEvent,
    MachineEventKind,
    ReleaseControl,
    RequestControl,
    SetTargetIncline,
    SetTargetPower,
    SetTargetResistance,
    SetTargetSpeed,
    StartMachine,
)
from edge.stream.readings import AlignedSample
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider, random_rider
from firmware_bridge.simulator import Athlete

PROFILE = Profile(name="Ann", age=40, resting_hr=55.0, max_hr=185.0)
ZONES = ZoneModel.for_profile(PROFILE)
BIKE = MachineSettings(
    kind="bike", drive=True, max_power_w=260.0, max_step_w=25.0, step_interval_s=2.0
)


def sample(t: int, hr: float | None = 130.0, power: float | None = None) -> AlignedSample:
    return AlignedSample(
        t, hr, (), None, None, None, None, None if hr is None else True, hr is None, power_w=power
    )


def event(t: float, kind: MachineEventKind, value: float | None = None) -> MachineEvent:
    return MachineEvent("bike", t, kind, value)


def started(coach: MachineCoach, t: int = 0) -> int:
    """Through the handshake: a heart rate, control asked for and granted. Returns the next t."""
    assert coach.tick(sample(t)).commands == (RequestControl(),)
    coach.on_event(event(t + 0.5, MachineEventKind.CONTROL_GRANTED))
    assert coach.driving
    return t + 1


def powers(decisions) -> list[int]:
    return [c.watts for d in decisions for c in d.commands if isinstance(c, SetTargetPower)]


# -- plans with effort targets -----------------------------------------------------------------


def test_power_and_speed_targets_parse_with_kinds_inferred():
    plan = parse_workout("10m 120W, 4x(3m 250W, 2m 120W), 5m 100W")
    assert [s.kind for s in plan.steps[:3]] == ["warmup", "work", "recover"]
    assert plan.steps[1].power_w == 250 and plan.steps[1].target_zone is None
    run = parse_workout("10m 9.5kmh 2%")
    assert (run.steps[0].speed_kmh, run.steps[0].incline_pct) == (9.5, 2.0)
    both = parse_workout("5m z2 150W warmup")
    assert both.steps[0].zone_range == (2, 2) and both.steps[0].power_w == 150
    assert parse_workout("3m 250W, 2m 120W").describe() == "3m 250W work, 2m 120W cooldown"


@pytest.mark.parametrize(
    "text, message",
    [
        ("3m 2%", "an incline needs a speed"),
        ("3m 250W 260W", "two power targets"),
        ("3m 3000W", "power must be 1..2000 W"),
        ("3m 40kmh", "speed must be above 0 and at most 30"),
        ("3m 250W sprint", "'sprint' is not a step kind"),
    ],
)
def test_bad_effort_targets_say_what_is_wrong(text, message):
    with pytest.raises(WorkoutError, match=message):
        parse_workout(text)


# -- ERG plan ----------------------------------------------------------------------------------


def test_no_control_is_taken_before_there_is_a_heart_rate():
    coach = MachineCoach(BIKE, ZONES, parse_workout("1m 150W"))
    assert coach.tick(sample(0, hr=None)).commands == ()
    assert coach.state is DriveState.WAITING
    assert coach.tick(sample(1)).commands == (RequestControl(),)


def test_an_erg_plan_ramps_to_each_target_in_bounded_steps_and_hands_back_at_the_end():
    coach = MachineCoach(BIKE, ZONES, parse_workout("30s 150W, 30s 250W, 20s 100W"))
    t = started(coach)
    decisions = {u: coach.tick(sample(u)) for u in range(t, t + 81)}
    sent = powers(decisions.values())
    assert sent[:5] == [65, 90, 115, 140, 150]  # from the floor (40 W), 25 W at a time
    said = [w for d in decisions.values() for w in d.say]
    assert said == [
        "Warm-up: 150 watts for 30 seconds.",
        "Interval: 250 watts for 30 seconds.",
        "Cool-down: 100 watts for 20 seconds.",
        "The workout is done: the machine is yours.",
    ]
    assert max(abs(b - a) for a, b in pairwise(sent)) <= 25
    assert 250 in sent and sent[-1] == 100
    times = [
        u for u, d in decisions.items() if any(isinstance(c, SetTargetPower) for c in d.commands)
    ]
    assert min(b - a for a, b in pairwise(times)) >= 2
    (last,) = [
        d for d in decisions.values() if any(isinstance(c, ReleaseControl) for c in d.commands)
    ]
    assert last.commands == (ReleaseControl("the workout is done", SetTargetResistance(5.0)),)
    assert coach.state is DriveState.DONE


def test_power_never_goes_above_the_persons_cap():
    coach = MachineCoach(BIKE, ZONES, parse_workout("5m 400W"))
    t = started(coach)
    sent = powers(coach.tick(sample(u)) for u in range(t, t + 120))
    assert max(sent) == 260 and sent[-1] == 260


def test_a_change_at_the_machine_is_the_persons_and_is_followed_for_the_step():
    coach = MachineCoach(BIKE, ZONES, parse_workout("60s 150W, 60s 200W"))
    t = started(coach)
    for u in range(t, t + 20):
        coach.tick(sample(u))
    # The machine confirms our own target: not an override.
    assert coach.on_event(event(20.2, MachineEventKind.TARGET_POWER_CHANGED, 150.0)).say == ()
    decision = coach.on_event(event(21.0, MachineEventKind.TARGET_POWER_CHANGED, 120.0))
    assert decision.say == ("Following your change of power.",)
    assert powers(coach.tick(sample(u)) for u in range(21, 61)) == []  # the step is theirs
    assert powers([coach.tick(sample(61))]) == [145]  # next step: from their 120 W, bounded


def test_our_own_confirmation_arriving_after_the_persons_change_is_not_taken_for_theirs():
    coach = MachineCoach(BIKE, ZONES, parse_workout("60s 150W, 60s 200W"))
    t = started(coach)
    sent = powers(coach.tick(sample(u)) for u in range(t, t + 6))
    assert sent[-1] == 115
    # The person set 100 W just after the coach's 115 W went out; the statuses cross.
    assert coach.on_event(event(6.1, MachineEventKind.TARGET_POWER_CHANGED, 100.0)).say
    assert coach.on_event(event(6.2, MachineEventKind.TARGET_POWER_CHANGED, 115.0)).say == ()
    assert powers(coach.tick(sample(u)) for u in range(7, 61)) == []
    assert powers([coach.tick(sample(61))]) == [125]  # from their 100 W, not from 115 W


def test_resistance_set_at_the_machine_ends_erg_for_the_step():
    coach = MachineCoach(BIKE, ZONES, parse_workout("60s 150W, 60s 200W"))
    t = started(coach)
    for u in range(t, t + 10):
        coach.tick(sample(u))
    assert coach.on_event(event(10.5, MachineEventKind.TARGET_RESISTANCE_CHANGED, 8.0)).say
    assert powers(coach.tick(sample(u)) for u in range(11, 60)) == []


# -- the safety paths ---------------------------------------------------------------------------


def drive_a_while(coach: MachineCoach) -> int:
    t = started(coach)
    for u in range(t, t + 30):
        coach.tick(sample(u))
    return t + 30


def test_a_safety_cue_releases_at_once_to_a_safe_low_resistance():
    coach = MachineCoach(BIKE, ZONES, parse_workout("10m 200W"))
    t = drive_a_while(coach)
    decision = coach.safety_cue("heart rate above your maximum")
    assert decision.commands == (
        ReleaseControl("heart rate above your maximum", SetTargetResistance(5.0)),
    )
    assert "heart rate above your maximum" in decision.say[0]
    assert coach.state is DriveState.RELEASED
    assert all(coach.tick(sample(u)).commands == () for u in range(t, t + 60))  # never retaken


def test_heart_rate_signal_loss_releases_at_once():
    coach = MachineCoach(BIKE, ZONES, parse_workout("10m 200W"))
    t = drive_a_while(coach)
    decision = coach.tick(sample(t, hr=None))
    assert decision.commands == (
        ReleaseControl("the heart-rate signal was lost", SetTargetResistance(5.0)),
    )
    assert coach.tick(sample(t + 1)).commands == ()  # the signal is back: control is not


def test_the_persons_stop_releases_at_once():
    coach = MachineCoach(BIKE, ZONES, parse_workout("10m 200W"))
    drive_a_while(coach)
    assert coach.person_stop().commands == (
        ReleaseControl("you asked to stop", SetTargetResistance(5.0)),
    )


def test_stopped_at_the_machine_gives_control_back_without_touching_it():
    coach = MachineCoach(BIKE, ZONES, parse_workout("10m 200W"))
    t = drive_a_while(coach)
    decision = coach.on_event(event(t, MachineEventKind.STOPPED_BY_USER))
    assert decision.commands == (ReleaseControl("you stopped the machine", None),)
    assert all(coach.tick(sample(u)).commands == () for u in range(t, t + 30))


def test_control_taken_by_another_app_is_not_fought_for():
    coach = MachineCoach(BIKE, ZONES, parse_workout("10m 200W"))
    t = drive_a_while(coach)
    decision = coach.on_event(event(t, MachineEventKind.CONTROL_LOST))
    assert decision.commands == () and "another app" in decision.say[0]
    assert all(coach.tick(sample(u)).commands == () for u in range(t, t + 30))


def test_control_refused_is_reported_and_not_asked_again():
    coach = MachineCoach(BIKE, ZONES, parse_workout("10m 200W"))
    coach.tick(sample(0))
    refused = MachineEvent(
        "bike", 0.5, MachineEventKind.COMMAND_FAILED, None, "control not permitted"
    )
    assert "refused control" in coach.on_event(refused).say[0]
    assert all(coach.tick(sample(u)).commands == () for u in range(1, 30))


# -- treadmills ---------------------------------------------------------------------------------

TREADMILL = MachineSettings(kind="treadmill", drive=True)


def test_a_treadmill_is_never_started_or_sped_up_unless_allowed():
    coach = MachineCoach(TREADMILL, ZONES, parse_workout("5m 9.5kmh 2%"))
    t = started(coach)
    first = coach.tick(sample(t))
    assert first.say == (
        "Interval: 9.5 km/h at 2 percent for 5 minutes. Set the speed yourself when you are ready.",
    )
    commands = [*first.commands]
    commands += [c for u in range(t + 1, t + 60) for c in coach.tick(sample(u)).commands]
    assert commands == [SetTargetIncline(2.0)]  # the incline, never the belt
    coach.on_event(event(61, MachineEventKind.TARGET_SPEED_CHANGED, 8.0))  # the person's start
    commands = [c for u in range(62, 120) for c in coach.tick(sample(u)).commands]
    assert not any(isinstance(c, SetTargetSpeed | StartMachine) for c in commands)


def test_slowing_a_treadmill_is_always_allowed():
    coach = MachineCoach(TREADMILL, ZONES, parse_workout("1m 6kmh"))
    coach.on_event(event(0, MachineEventKind.TARGET_SPEED_CHANGED, 10.0))  # the person ran
    t = started(coach)
    assert coach.tick(sample(t)).commands == (SetTargetSpeed(6.0),)


def test_an_allowed_speed_up_comes_in_small_steps_each_announced_first():
    allowed = MachineSettings(
        kind="treadmill",
        drive=True,
        treadmill_may_speed_up=True,
        max_speed_step_kmh=0.5,
        announce_lead_s=5.0,
    )
    coach = MachineCoach(allowed, ZONES, parse_workout("5m 9.5kmh"))
    coach.on_event(event(0, MachineEventKind.TARGET_SPEED_CHANGED, 8.0))
    t = started(coach)
    log = [(u, coach.tick(sample(u))) for u in range(t, t + 60)]
    said = [(u, w) for u, d in log for w in d.say if w.startswith("Speeding up")]
    assert log[0][1].say[0] == "Interval: 9.5 km/h for 5 minutes."
    speeds = [(u, c.kmh) for u, d in log for c in d.commands if isinstance(c, SetTargetSpeed)]
    assert [k for _, k in speeds] == [8.5, 9.0, 9.5]
    assert said[0] == (1, "Speeding up to 8.5 km/h in 5 seconds.")
    for (said_t, _), (speed_t, _) in zip(said, speeds, strict=True):
        assert speed_t - said_t >= 5  # every step announced first


def test_an_allowed_belt_start_is_announced_before_the_belt_moves():
    allowed = MachineSettings(kind="treadmill", drive=True, treadmill_may_speed_up=True)
    coach = MachineCoach(allowed, ZONES, parse_workout("5m 5kmh"))
    t = started(coach)
    first = coach.tick(sample(t))
    assert first.commands == () and first.say[0] == "Interval: 5 km/h for 5 minutes."
    assert first.say[1].startswith("The belt starts in 5 seconds")
    later = [c for u in range(t + 1, t + 7) for c in coach.tick(sample(u)).commands]
    assert later[:2] == [StartMachine(), SetTargetSpeed(0.5)]


def test_a_treadmill_released_is_slowed_to_a_walk():
    coach = MachineCoach(TREADMILL, ZONES, parse_workout("5m 6kmh"))
    coach.on_event(event(0, MachineEventKind.TARGET_SPEED_CHANGED, 10.0))
    t = started(coach)
    coach.tick(sample(t))
    assert coach.safety_cue("stop now").commands == (
        ReleaseControl("stop now", SetTargetSpeed(4.0)),
    )


# -- heart-rate mode ----------------------------------------------------------------------------


def test_the_pid_never_leaves_its_limits_and_steps_boundedly():
    pid = PidPowerController(PidSettings(max_step_w=20, min_interval_s=10), start_power_w=100)
    outputs = [
        pid.update(ControlInput(t, 80.0, 140, 150, max_power_w=180, min_power_w=60))
        for t in range(600)
    ]
    assert max(outputs) == 180 and min(outputs) >= 100
    assert max(abs(b - a) for a, b in pairwise(outputs)) <= 20
    changes = [t for t in range(1, 600) if outputs[t] != outputs[t - 1]]
    assert min(b - a for a, b in pairwise(changes)) >= 10


def test_the_pid_does_not_wind_up_against_the_cap():
    # Far below target for ten minutes at the cap, then far above: power must fall promptly.
    pid = PidPowerController(start_power_w=100)
    for t in range(600):
        pid.update(ControlInput(t, 90.0, 150, 160, max_power_w=200))
    assert pid.power_w == 200
    falls = [pid.update(ControlInput(t, 175.0, 150, 160, max_power_w=200)) for t in range(600, 660)]
    assert falls[-1] < 150  # with windup the integral would hold it at the cap for minutes


def test_a_missing_heart_rate_holds_the_last_power():
    pid = PidPowerController(start_power_w=120)
    assert pid.update(ControlInput(0, None, 140, 150)) == 120


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_heart_rate_mode_holds_a_simulated_rider_in_the_zone(seed):
    rng = np.random.default_rng(seed)
    athlete = Athlete(age=40, resting_hr=55.0, max_hr=185.0, fitness=0.5)
    rider = SimulatedRider(random_rider(rng, athlete), seed=seed)
    settings = MachineSettings(kind="bike", drive=True, hold_zone=3, max_power_w=300.0)
    coach = MachineCoach(settings, ZONES)
    low, high = ZONES.bounds_bpm(3)
    power = 0.0
    hr = rider.step(power)
    inside = []
    for t in range(1200):
        decision = coach.tick(sample(t, hr))
        for command in decision.commands:
            if isinstance(command, RequestControl):
                coach.on_event(event(t + 0.2, MachineEventKind.CONTROL_GRANTED))
            elif isinstance(command, SetTargetPower):
                assert command.watts <= 300
                power = command.watts
        hr = rider.step(power)
        if t >= 300:
            inside.append(low <= hr < high)
    assert sum(inside) / len(inside) > 0.9


def test_heart_rate_mode_follows_the_persons_change_then_resumes_from_it():
    settings = MachineSettings(kind="bike", drive=True, hold_zone=3, max_power_w=300.0)
    coach = MachineCoach(settings, ZONES, override_hold_s=60)
    t = started(coach)
    for u in range(t, t + 30):
        coach.tick(sample(u, hr=100.0))
    coach.on_event(event(31, MachineEventKind.TARGET_POWER_CHANGED, 90.0))
    assert powers(coach.tick(sample(u, hr=100.0)) for u in range(32, 91)) == []
    resumed = powers(coach.tick(sample(u, hr=100.0)) for u in range(91, 140))
    assert resumed and abs(resumed[0] - 90) <= settings.max_step_w


def test_heart_rate_mode_on_a_treadmill_waits_for_the_person_then_holds_by_announced_steps():
    # A runner whose heart gains 8 bpm per km/h (the kinetics of a bike rider, km/h for watts).
    athlete = Athlete(age=40, resting_hr=55.0, max_hr=185.0, fitness=0.5)
    runner = SimulatedRider(PowerResponse(athlete, 8.0, 40.0, 5, seated_bpm=5.0), seed=3)
    settings = MachineSettings(
        kind="treadmill",
        drive=True,
        hold_zone=3,
        treadmill_may_speed_up=True,
        max_speed_step_kmh=0.5,
        max_speed_kmh=11.0,
    )
    coach = MachineCoach(settings, ZONES)
    low, high = ZONES.bounds_bpm(3)
    belt, hr = 0.0, runner.step(0.0)
    said: list[tuple[int, str]] = []
    speeds: list[tuple[int, float]] = []
    inside = []
    for t in range(1500):
        if t == 60:
            belt = 5.0  # the person starts the belt at a walk, when they are ready
            coach.on_event(event(t, MachineEventKind.TARGET_SPEED_CHANGED, belt))
        tick = AlignedSample(
            t, hr, (), None, None, None, None, True, False, machine_speed_mps=belt / 3.6
        )
        decision = coach.tick(tick)
        said += [(t, text) for text in decision.say]
        for command in decision.commands:
            assert not isinstance(command, StartMachine)  # never, in heart-rate mode
            if isinstance(command, RequestControl):
                coach.on_event(event(t + 0.2, MachineEventKind.CONTROL_GRANTED))
            elif isinstance(command, SetTargetSpeed):
                speeds.append((t, command.kmh))
                coach.on_event(event(t + 0.5, MachineEventKind.TARGET_SPEED_CHANGED, command.kmh))
                belt = command.kmh
        hr = runner.step(belt)
        if t >= 360:
            inside.append(low <= hr < high)
    # Standing still: asked once to start the belt, and nothing sent.
    assert said[0][1].startswith("Start the belt yourself") and said[0][0] < 60
    assert not [s for s in speeds if s[0] < 60]
    # Then in steps of at most 0.5 km/h, never above the top, each speed-up said first.
    assert speeds and max(kmh for _, kmh in speeds) <= 11.0
    previous = 5.0
    for t, kmh in speeds:
        assert kmh - previous <= 0.5 + 1e-9
        if kmh > previous:
            assert any(
                text == f"Speeding up to {kmh:.1f} km/h in 5 seconds." and t - 6 <= u <= t - 5
                for u, text in said
            ), (t, kmh)
        previous = kmh
    assert sum(inside) / len(inside) > 0.8, sum(inside) / len(inside)


def test_heart_rate_mode_on_a_treadmill_slows_a_heart_above_the_zone_no_lower_than_a_walk():
    settings = MachineSettings(
        kind="treadmill", drive=True, hold_zone=2, treadmill_may_speed_up=True
    )
    coach = MachineCoach(settings, ZONES)
    t = started(coach)
    coach.on_event(event(t, MachineEventKind.TARGET_SPEED_CHANGED, 7.0))  # the person's start
    speeds = []
    for u in range(t, t + 900):
        tick = AlignedSample(u, 175.0, (), None, None, None, None, True, False)
        for command in coach.tick(tick).commands:
            assert isinstance(command, SetTargetSpeed)
            speeds.append(command.kmh)
            coach.on_event(event(u + 0.5, MachineEventKind.TARGET_SPEED_CHANGED, command.kmh))
    assert speeds[0] < 7.0 and speeds == sorted(speeds, reverse=True)
    assert min(speeds) == settings.safe_speed_kmh == 4.0  # slowed, at once, never below a walk
    assert coach.driving


# -- settings -----------------------------------------------------------------------------------


def test_machines_in_the_config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[[people]]\nname = "ann"\nage = 40\n[[people.machines]]\n'
        'name = "KICKR"\nkind = "bike"\ndrive = true\nhold_zone = 2\n'
        "max_power_w = 220\n",
        encoding="utf-8",
    )
    (person,) = load_settings(path).people
    (machine,) = person.machines
    assert (machine.name, machine.hold_zone, machine.max_power_w) == ("KICKR", 2, 220.0)
    assert machine.treadmill_may_speed_up is False  # never unless said


def test_a_machine_plan_in_the_config_may_be_step_tables(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[[people]]\nname = "ann"\nage = 40\n[[people.machines]]\nname = "KICKR"\n'
        "drive = true\n"
        '[[people.machines.plan]]\nduration = "10m"\npower_w = 120\n'
        "[[people.machines.plan]]\nrepeat = 4\n"
        '[[people.machines.plan.steps]]\nduration = "3m"\npower_w = 250\n'
        '[[people.machines.plan.steps]]\nduration = "2m"\npower_w = 120\n',
        encoding="utf-8",
    )
    (person,) = load_settings(path).people
    (machine,) = person.machines
    assert machine.plan == "10m 120W, 4x(3m 250W, 2m 120W)"
    assert parse_workout(machine.plan) == parse_workout("10m 120W, 4x(3m 250W, 2m 120W)")
    path.write_text(
        '[[people]]\nname = "ann"\n[[people.machines]]\n[[people.machines.plan]]\n'
        'duration = "3m"\npower_w = 5000\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"machine #1 plan step #1: power_w must be a number"):
        load_settings(path)


@pytest.mark.parametrize(
    "table, message",
    [
        ('kind = "rocket"', "kind must be one of"),
        ('hold_zone = 3\nkind = "treadmill"', "only with treadmill_may_speed_up = true"),
        ('hold_zone = 3\nkind = "rower"', "hold_zone sets a bike's power or a treadmill"),
        ('hold_zone = 3\nplan = "10m 150W"', "either a plan or hold_zone"),
        ("max_power_w = 3000", "power limits"),
        ("speed = 3", "unknown setting"),
    ],
)
def test_bad_machine_settings_name_the_problem(tmp_path, table, message):
    path = tmp_path / "config.toml"
    path.write_text(f'[[people]]\nname = "ann"\n[[people.machines]]\n{table}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_a_machine_coach_needs_something_to_do():
    with pytest.raises(ValueError, match="a plan or a zone"):
        MachineCoach(BIKE, ZONES)
    assert isinstance(PlannedWorkout.parse("1m 100W"), PlannedWorkout)
