"""Planned workouts: the text and TOML forms, and the coach following a plan second by second."""

import pytest

from edge.coach.coach import Coach
from edge.coach.workouts import (
    PlannedStep,
    PlannedWorkout,
    WorkoutError,
    load_workout,
    parse_workout,
)
from edge.core.cues import Action, CueKind, Priority
from edge.core.events import StepProgress
from edge.core.forecast import Forecast
from edge.errors import ConfigError
from edge.narrator import guard
from edge.profile import Profile
from edge.stream.readings import AlignedSample

PROFILE = Profile(age=35, resting_hr=58, max_hr=187)  # z1 123-135, z2 135-148, z4 161-174
INTERVALS = "10m z2, 4x(3m z4, 2m z1), 5m z1"
WORKOUT_KINDS = {
    CueKind.STEP_START,
    CueKind.STEP_HALFWAY,
    CueKind.STEP_END,
    CueKind.WORKOUT_DONE,
    CueKind.OFF_TARGET,
}


def sample(t: int, bpm: float | None) -> AlignedSample:
    return AlignedSample(t, bpm, (), None, None, None, None, True if bpm else None, bpm is None)


def follow(
    coach: Coach,
    plan: PlannedWorkout,
    *,
    lag: float = 0.05,
    start: float = 100.0,
    after_s: int = 60,
    override=None,
    forecast=None,
) -> list:
    """Run `plan` with a heart that moves towards the middle of each target, a few bpm a second.

    `override(t)` may return a target of its own for second t (someone not following the plan).
    """
    targets = []
    for step in plan.steps:
        low, high = step.target_bpm(coach.zones)
        targets += [(low + high) / 2] * step.duration_s
    targets += [110.0] * after_s
    hr, cues = start, []
    for t, target in enumerate(targets):
        if override is not None and (wanted := override(t)) is not None:
            target = wanted
        hr += max(-3.0, min(3.0, (target - hr) * lag))
        cues += coach.update(sample(t, hr), forecast)
    return cues


# -- the text form ------------------------------------------------------------------------------


def test_the_whiteboard_form_parses_into_steps_with_kinds_and_names():
    plan = PlannedWorkout.parse(INTERVALS, name="threshold")
    assert plan.name == "threshold" and len(plan.steps) == 10
    assert plan.duration_s == 35 * 60
    assert plan.steps[0] == PlannedStep("Warm-up", 600, 2, "warmup")
    assert plan.steps[1] == PlannedStep("Interval 1", 180, 4, "work")
    assert plan.steps[2] == PlannedStep("Recovery 1", 120, 1, "recover")
    assert plan.steps[7] == PlannedStep("Interval 4", 180, 4, "work")
    assert plan.steps[-1] == PlannedStep("Cool-down", 300, 1, "cooldown")
    assert plan.describe().startswith("10m z2 warmup, 3m z4 work, 2m z1 recover, 3m z4 work")
    assert parse_workout(INTERVALS) == PlannedWorkout.parse(INTERVALS)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s z3", 90),
        ("1m30s z3", 90),
        ("1:30 z3", 90),
        ("1h z2", 3600),
        ("1h5m z2", 3900),
        ("45sec z3", 45),
        ("20min z2", 1200),
    ],
)
def test_durations_in_the_usual_spellings(text, seconds):
    assert PlannedWorkout.parse(text).steps[0].duration_s == seconds


def test_zone_ranges_and_explicit_kinds():
    plan = PlannedWorkout.parse("15m z1-2 warmup, 20m z3-z4, 10m zone2 cooldown")
    assert [s.target_zone for s in plan.steps] == [(1, 2), (3, 4), 2]
    assert [s.kind for s in plan.steps] == ["warmup", "work", "cooldown"]
    assert plan.steps[1].zone_range == (3, 4)
    coach = Coach(PROFILE)
    assert plan.steps[1].target_bpm(coach.zones) == (148, 174)  # zone 3's low to zone 4's high


def test_kinds_are_inferred_from_the_shape_of_the_plan():
    kinds = lambda text: [s.kind for s in PlannedWorkout.parse(text).steps]  # noqa: E731
    assert kinds("30m z2") == ["work"]
    assert kinds("10m z2, 20m z3, 5m z1") == ["warmup", "work", "cooldown"]
    # Nested repeats: the hardest steps of the innermost group are the work.
    assert kinds("2x(3x(1m z5, 1m z1), 5m z1)") == (["work", "recover"] * 3 + ["recover"]) * 2
    # Between two sets, a steady step is work and an easy one recovery.
    assert kinds("10m z2, 2x(5m z4, 1m z1), 10m z3, 5m z1, 2x(2m z5, 2m z1), 5m z1") == [
        "warmup",
        "work",
        "recover",
        "work",
        "recover",
        "work",
        "recover",
        "work",
        "recover",
        "work",
        "recover",
        "cooldown",
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("10m z7", "'z7' is not a target zone"),
        ("10m z4-2", "'z4-2' is not a target zone"),
        ("10 z2", "'10' is not a duration"),
        ("0m z2", "'0m' is not a duration"),
        ("4x(3m z4, 2m z1", "missing ')'"),
        ("3m z4,, 2m z1", "a step is missing before ','"),
        ("3m z4 2m z1", "a step is a duration and a zone"),
        ("3m z4)", "unexpected ')' at character 6"),
        ("0x(1m z2)", "a repeat needs a count of 1 or more"),
        ("3m z4 sprint", "'sprint' is not a step kind"),
        ("", "no steps"),
    ],
)
def test_a_plan_that_cannot_be_read_says_where(text, message):
    with pytest.raises(WorkoutError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PlannedWorkout.parse(text)


def test_a_bad_plan_is_a_config_error():
    assert issubclass(WorkoutError, ConfigError)  # the CLI prints it and exits 2


def test_steps_check_themselves():
    with pytest.raises(WorkoutError, match="duration must be positive"):
        PlannedStep("x", 0, 2)
    with pytest.raises(WorkoutError, match="target zone must be 1..5"):
        PlannedStep("x", 60, (3, 6))
    with pytest.raises(WorkoutError, match="kind must be one of"):
        PlannedStep("x", 60, 3, "sprint")  # type: ignore[arg-type]
    with pytest.raises(WorkoutError, match="has no steps"):
        PlannedWorkout("empty", ())


# -- TOML and files -----------------------------------------------------------------------------


def test_toml_with_the_text_form_or_a_table_per_step():
    text_form = PlannedWorkout.from_toml(f'name = "threshold"\nsteps = "{INTERVALS}"\n')
    tables = PlannedWorkout.from_toml("""
        name = "threshold"
        [[steps]]
        duration = "10m"
        zone = 2
        [[steps]]
        repeat = 4
        steps = "3m z4, 2m z1"
        [[steps]]
        duration = 300
        zone = "1"
        kind = "cooldown"
    """)
    assert tables == text_form == PlannedWorkout.parse(INTERVALS, name="threshold")
    ranged = PlannedWorkout.from_toml('[[steps]]\nduration = "20m"\nzone = [3, 4]\n')
    assert ranged.steps[0].target_zone == (3, 4) and ranged.name == "workout"


@pytest.mark.parametrize(
    "text, message",
    [
        ("steps = 3", "steps must be a text plan or an array of tables"),
        ('nmae = "x"\nsteps = "3m z4"', "unknown key"),
        ('[[steps]]\nduration = "3m"\nzone = 7', "zone must be 1..5"),
        ('[[steps]]\nduration = "soon"\nzone = 2', "duration must be seconds"),
        ('[[steps]]\nduration = "3m"\nzone = 2\npace = 4', "unknown key"),
        ('[[steps]]\nrepeat = 0\nsteps = "3m z4"', "repeat must be a whole number"),
        ('[[steps]]\nrepeat = 2\nsteps = ")"', r"a step is missing before '\)'"),
        ("steps = [", "not valid TOML"),
    ],
)
def test_toml_mistakes_are_named(text, message):
    with pytest.raises(WorkoutError, match=message):
        PlannedWorkout.from_toml(text, where="plan.toml")


def test_toml_steps_carry_power_speed_and_incline_targets():
    erg = PlannedWorkout.from_toml("""
        [[steps]]
        duration = "10m"
        zone = 2
        power_w = 120
        [[steps]]
        repeat = 4
        [[steps.steps]]
        duration = "3m"
        power_w = 250
        [[steps.steps]]
        duration = 120
        power_w = 120.0
        kind = "recover"
    """)
    assert erg == PlannedWorkout.parse("10m z2 120W, 4x(3m 250W, 2m 120W recover)")
    assert [s.power_w for s in erg.steps[:3]] == [120, 250, 120]
    walk = PlannedWorkout.from_toml(
        '[[steps]]\nduration = "10m"\nspeed_kmh = 9.5\nincline_pct = 2\n'
        '[[steps]]\nduration = "5m"\nspeed_kmh = 5\nincline_pct = -1.5\nzone = "1-2"\n'
    )
    assert [(s.speed_kmh, s.incline_pct, s.target_zone) for s in walk.steps] == [
        (9.5, 2.0, None),
        (5.0, -1.5, (1, 2)),
    ]


@pytest.mark.parametrize(
    "step, message",
    [
        ("power_w = 250.5", "power_w must be whole watts"),
        ("power_w = 0", "power_w must be a number of watts from 1 to 2000, got 0"),
        ('power_w = "250W"', "power_w must be a number of watts"),
        ("power_w = true", "power_w must be a number"),
        ("speed_kmh = 45", "speed_kmh must be a number of km/h from 0.1 to 30"),
        ("speed_kmh = nan", "speed_kmh must be a number"),
        ("incline_pct = 60\nspeed_kmh = 5", "incline_pct must be a number of percent"),
        ("power_w = 200\nspeed_kmh = 8", "a bike's power .* or a treadmill's speed"),
        ("incline_pct = 2", "needs a zone, a power_w or a speed_kmh"),
        ("watts = 200", "unknown key.*known: duration, zone, kind, name, power_w"),
    ],
)
def test_toml_effort_targets_are_checked_with_what_to_write(step, message):
    with pytest.raises(WorkoutError, match=message) as raised:
        PlannedWorkout.from_toml(f'[[steps]]\nduration = "3m"\n{step}\n', where="plan.toml")
    assert "plan.toml step #1" in str(raised.value)


def test_plans_load_from_files(tmp_path):
    (tmp_path / "threshold.toml").write_text(f'steps = "{INTERVALS}"\n')
    (tmp_path / "threshold.txt").write_text(
        "# Tuesday\n10m z2,\n4x(3m z4, 2m z1),  # the set\n5m z1\n"
    )
    toml = load_workout(tmp_path / "threshold.toml")
    text = load_workout(tmp_path / "threshold.txt")
    assert toml.steps == text.steps == PlannedWorkout.parse(INTERVALS).steps
    assert text.name == "threshold"
    with pytest.raises(WorkoutError, match="cannot read workout plan"):
        load_workout(tmp_path / "missing.txt")


# -- the coach following a plan -----------------------------------------------------------------


def test_a_followed_plan_is_announced_step_by_step():
    plan = PlannedWorkout.parse(INTERVALS)
    coach = Coach(PROFILE, plan=plan)
    cues = follow(coach, plan)
    workout = [c for c in cues if c.kind in WORKOUT_KINDS]
    assert all(c.priority is Priority.WORKOUT for c in workout)
    starts = [c for c in workout if c.kind is CueKind.STEP_START]
    assert [c.facts["step"] for c in starts] == list(range(1, 11))
    assert [c.template_text for c in starts[:3]] == [
        "Warm-up: 10 minutes at zone 2.",
        "Interval 1 of 4: 3 minutes at zone 4. Pick up the pace.",
        "Recovery: 2 minutes at zone 1. Ease off.",
    ]
    assert starts[3].template_text.startswith("Interval 2 of 4: 3 minutes at zone 4.")
    assert starts[0].t == 0 and starts[1].t == 600
    assert starts[2].t == 781  # second 780 is interval 1's end
    ends = [c for c in workout if c.kind is CueKind.STEP_END]
    assert [(c.t, c.facts["rep"]) for c in ends] == [(780, 1), (1080, 2), (1380, 3), (1680, 4)]
    assert ends[0].template_text == f"Interval 1 of 4 done, heart rate {ends[0].facts['hr']}."
    # Halfway only in steps of 4 minutes or more: the warm-up and the cool-down.
    halfway = [c for c in workout if c.kind is CueKind.STEP_HALFWAY]
    assert [(c.t, c.facts["step"]) for c in halfway] == [(300, 1), (1950, 10)]
    assert halfway[0].template_text == "Halfway: 5 more minutes at zone 2. Keep it steady."
    assert halfway[1].template_text.startswith("Halfway: 2 minutes 30 seconds to go at zone 1.")
    done = [c for c in workout if c.kind is CueKind.WORKOUT_DONE]
    assert len(done) == 1 and done[0].t == 2100 and done[0].facts["spoken_min"] == 35
    assert not [c for c in workout if c.kind is CueKind.OFF_TARGET]  # it was followed
    assert coach.workout is not None and coach.workout.finished(2100)


def test_every_workout_cue_carries_its_step_and_target_and_passes_the_guard():
    plan = PlannedWorkout.parse(INTERVALS)
    coach = Coach(PROFILE, plan=plan)
    cues = follow(coach, plan, override=lambda t: 140 if 900 <= t < 1000 else None)
    workout = [c for c in cues if c.kind in WORKOUT_KINDS - {CueKind.WORKOUT_DONE}]
    assert len(workout) >= 17  # 10 starts, 4 ends, 2 halfway, a push or two
    for cue in workout:
        assert {"step", "steps", "zone", "target_low", "target_high", "remaining_s", "hr"} <= set(
            cue.facts
        ), cue
        assert cue.facts["steps"] == 10
        verdict = guard.check(cue.template_text, cue)
        assert verdict.ok, (cue.template_text, verdict.reason)
    interval = next(c for c in workout if c.kind is CueKind.STEP_START and c.facts["step"] == 2)
    assert (interval.facts["target_low"], interval.facts["target_high"]) == (161, 174)
    assert interval.facts["remaining_s"] == 180 and interval.facts["rep"] == 1


def test_lagging_behind_an_interval_gets_a_push_and_overdoing_a_step_an_ease_off():
    plan = PlannedWorkout.parse(INTERVALS)
    # Interval 2 (900-1080) run at zone 2; the warm-up (0-600) run at zone 3.
    cues = follow(
        Coach(PROFILE, plan=plan),
        plan,
        override=lambda t: 140 if 900 <= t < 1080 else 155 if 60 <= t < 600 else None,
    )
    off = [c for c in cues if c.kind is CueKind.OFF_TARGET]
    ease = [c for c in off if c.action is Action.EASE_OFF]
    push = [c for c in off if c.action is Action.PUSH]
    assert ease and all(c.facts["step"] == 1 and c.facts["hr"] >= 150 for c in ease)
    assert "Ease off to below 148" in ease[0].template_text
    assert push and all(c.facts["step"] == 4 and c.facts["hr"] < 159 for c in push)
    assert push[0].t >= 900 + 30 + 30 and push[0].facts["held_s"] > 30
    assert "Push a little, up to 161 or more." in push[0].template_text
    assert push[0].template_text.startswith(f"Heart rate {push[0].facts['hr']}, under zone 4 ")
    # Repeated while it lasts, but not more than once a minute.
    assert all(b.t - a.t >= 60 for a, b in zip(push, push[1:], strict=False))
    assert len(push) == 2  # at 60 s and 120 s; not in the last 15 s of the step


def test_no_push_when_the_forecast_says_the_heart_is_on_its_way():
    plan = PlannedWorkout.parse(INTERVALS)
    coming = Forecast(hr_10s=158, hr_30s=165, hr_60s=168, hr_expected=168)
    cues = follow(
        Coach(PROFILE, plan=plan),
        plan,
        forecast=coming,
        override=lambda t: 140 if 900 <= t < 1080 else None,
    )
    assert not [c for c in cues if c.kind is CueKind.OFF_TARGET and c.action is Action.PUSH]


def test_a_warm_up_is_pushed_only_in_its_second_half():
    plan = PlannedWorkout.parse("10m z2, 3m z4")
    cues = follow(Coach(PROFILE, plan=plan), plan, override=lambda t: 120 if t < 600 else None)
    push = [c for c in cues if c.kind is CueKind.OFF_TARGET]
    assert push and push[0].t == 300 + 30 and push[0].facts["step_kind"] == "warmup"
    assert "for this warm-up" in push[0].template_text


def test_below_target_in_a_recovery_is_fine():
    plan = PlannedWorkout.parse("2m z3, 5m z2 recover")
    cues = follow(
        Coach(PROFILE, plan=plan), plan, start=150, override=lambda t: 110 if t >= 120 else None
    )
    assert not [c for c in cues if c.kind is CueKind.OFF_TARGET]


def test_zone_news_during_a_step_is_only_the_target():
    plan = PlannedWorkout.parse("20m z2")
    # Wandering up into zone 3 and back: the step's ease-off speaks, not a zone change.
    cues = follow(
        Coach(PROFILE, plan=plan),
        plan,
        start=120,
        override=lambda t: 155 if 300 <= t < 500 else None,
        after_s=0,
    )
    kinds = [c.kind for c in cues]
    zone = [c for c in cues if c.kind is CueKind.ZONE_CHANGE]
    assert [c.facts["zone"] for c in zone] == [2, 2]  # reaching the target, twice
    assert CueKind.OFF_TARGET in kinds


def test_a_zone_5_step_is_not_warned_about_zone_5():
    plan = PlannedWorkout.parse("2m z4, 1m z5, 2m z1")
    coach = Coach(PROFILE, plan=plan)
    sprint = Forecast(hr_10s=176, hr_30s=180, hr_60s=181, hr_expected=180)
    cues = follow(
        coach,
        plan,
        start=160,
        lag=0.2,
        forecast=sprint,
        after_s=0,
        override=lambda t: 182 if 120 <= t < 180 else None,
    )
    assert not [
        c
        for c in cues
        if c.kind in (CueKind.HIGH_ZONE, CueKind.FORECAST_OVERSHOOT) and 120 <= c.t < 180
    ]
    # Outside the plan, the same heart rate is warned about as ever.
    free = follow(
        Coach(PROFILE),
        plan,
        start=160,
        lag=0.2,
        forecast=sprint,
        after_s=0,
        override=lambda t: 182 if 120 <= t < 180 else None,
    )
    assert [c for c in free if c.kind is CueKind.HIGH_ZONE]


def test_a_step_start_that_loses_its_second_is_given_the_next_one():
    plan = PlannedWorkout.parse("10m z2, 3m z4")
    coach = Coach(PROFILE, plan=plan)
    cues = []
    for t in range(0, 596):
        cues += coach.update(sample(t, 140))
    for t in range(596, 603):  # the strap drops out: "signal lost" at 600 takes the second
        cues += coach.update(sample(t, None))
    late = [c for c in cues if c.t >= 596]
    assert [(c.t, c.kind) for c in late] == [(600, CueKind.SENSOR_LOST), (601, CueKind.STEP_START)]
    assert late[1].facts["step"] == 2 and "hr" not in late[1].facts
    assert guard.check(late[1].template_text, late[1]).ok


def test_a_resumed_session_keeps_its_place_in_the_plan():
    plan = PlannedWorkout.parse(INTERVALS)
    coach = Coach(PROFILE, plan=plan, plan_start_t=0)
    coach.update(sample(700, 165))
    status = coach.workout.status(700)
    assert status is not None and status.step.name == "Interval 1"
    assert status.progress() == StepProgress(
        step=2,
        steps=10,
        name="Interval 1",
        kind="work",
        zone=4,
        target_low=161,
        target_high=174,
        elapsed_s=100,
        remaining_s=80,
    )
    assert coach.workout.status(2100) is None and coach.workout.status(-1) is None
