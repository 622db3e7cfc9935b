import math

import numpy as np
import pytest

from edge.sources.simulator import simulate_sessions, to_aligned
from firmware_bridge.simulator import (
    ACTIVITIES,
    DEMO_ATHLETE,
    DEMO_WORKOUT,
    Athlete,
    Segment,
    WorkoutPlan,
    random_athlete,
    random_plan,
    simulate,
    target_hr,
)


def hrr_fraction(athlete: Athlete, hr: float) -> float:
    return (hr - athlete.resting_hr) / (athlete.max_hr - athlete.resting_hr)


def test_same_seed_same_seconds_other_seed_other_seconds():
    a = simulate(DEMO_WORKOUT, DEMO_ATHLETE, seed=7, dropout_rate=0.05)
    b = simulate(DEMO_WORKOUT, DEMO_ATHLETE, seed=7, dropout_rate=0.05)
    c = simulate(DEMO_WORKOUT, DEMO_ATHLETE, seed=8, dropout_rate=0.05)
    assert a == b
    assert a != c


def test_random_plans_and_athletes_are_deterministic_in_the_generator():
    one = [(random_athlete(g), random_plan(g)) for g in [np.random.default_rng(3)] * 5]
    two = [(random_athlete(g), random_plan(g)) for g in [np.random.default_rng(3)] * 5]
    assert one == two


def test_one_second_per_second_of_plan_with_segment_names():
    seconds = simulate(DEMO_WORKOUT, DEMO_ATHLETE)
    assert len(seconds) == DEMO_WORKOUT.duration_s
    assert [s.t for s in seconds] == list(range(len(seconds)))
    assert [s.segment for s in seconds[:45]] == ["warm-up walk"] * 45
    assert seconds[-1].segment == "cool-down"


def test_demo_workout_is_about_six_minutes_and_crosses_into_zone_5():
    assert 300 <= DEMO_WORKOUT.duration_s <= 420
    seconds = simulate(DEMO_WORKOUT, DEMO_ATHLETE, seed=0)
    frac = np.array([hrr_fraction(DEMO_ATHLETE, s.hr_bpm) for s in seconds])
    segment = np.array([s.segment for s in seconds])
    warm = frac[np.isin(segment, ["warm-up walk", "warm-up jog"])]
    assert warm.max() < 0.72  # zones 1-2
    assert 0.5 < warm[-20:].mean() < 0.72
    assert (frac > 0.8).any() and (frac > 0.9).any()
    first_z4 = int(np.argmax(frac > 0.8))
    first_z5 = int(np.argmax(frac > 0.9))
    assert first_z4 < first_z5
    assert (frac > 0.9).sum() < 90  # briefly
    assert frac[-1] < 0.6  # cooled down


@pytest.mark.parametrize("seed", range(6))
def test_demo_crosses_ninety_percent_whatever_the_seed(seed):
    seconds = simulate(DEMO_WORKOUT, DEMO_ATHLETE, seed=seed)
    assert max(hrr_fraction(DEMO_ATHLETE, s.hr_bpm) for s in seconds) > 0.9


@pytest.mark.parametrize("seed", range(12))
def test_heart_rate_stays_between_rest_and_max(seed):
    rng = np.random.default_rng(seed)
    athlete, plan = random_athlete(rng), random_plan(rng)
    seconds = simulate(plan, athlete, seed=seed, noise_bpm=1.0)
    hr = np.array([s.hr_bpm for s in seconds], dtype=float)
    assert hr.min() >= athlete.resting_hr - 8
    assert hr.max() <= athlete.max_hr + 4
    assert all(float(h).is_integer() for h in hr)  # bands report whole beats


def test_heart_rate_follows_kinetics_and_fit_is_faster():
    plan = WorkoutPlan("step", (Segment("rest", 120, "rest", 0.0), Segment("run", 400, "run", 0.7)))

    def time_to_63_percent(fitness: float) -> int:
        athlete = Athlete(age=30, resting_hr=60, max_hr=190, fitness=fitness)
        hr = np.array([s.hr_bpm for s in simulate(plan, athlete, seed=1, noise_bpm=0.0)])
        start = hr[100:120].mean()
        goal = target_hr(athlete, 0.7)
        return int(np.argmax(hr[120:] >= start + 0.63 * (goal - start)))

    fit, unfit = time_to_63_percent(0.95), time_to_63_percent(0.05)
    assert 20 <= fit < unfit <= 80


def test_recovery_is_slower_than_the_rise():
    athlete = Athlete(age=40, resting_hr=60, max_hr=180, fitness=0.5)
    plan = WorkoutPlan(
        "up-down", (Segment("hard", 400, "run", 0.8), Segment("rest", 400, "rest", 0.0))
    )
    hr = np.array([s.hr_bpm for s in simulate(plan, athlete, seed=2, noise_bpm=0.0)])
    low, high = hr[:5].mean(), hr[380:400].mean()
    rise = int(np.argmax(hr >= low + 0.5 * (high - low)))
    fall = int(np.argmax(hr[400:] <= high - 0.5 * (high - low)))
    assert fall > rise


def test_long_steady_efforts_drift_upwards():
    athlete = Athlete(age=40, resting_hr=60, max_hr=185, fitness=0.3)
    plan = WorkoutPlan("long", (Segment("steady", 3600, "cycle", 0.65),))
    hr = np.array([s.hr_bpm for s in simulate(plan, athlete, seed=3, noise_bpm=0.0)])
    assert hr[3300:3600].mean() - hr[600:900].mean() > 6
    assert hr.max() <= athlete.max_hr


def test_rr_intervals_agree_with_heart_rate():
    seconds = simulate(DEMO_WORKOUT, DEMO_ATHLETE, seed=4, noise_bpm=0.0)
    counts = [len(s.rr_intervals_s) for s in seconds]
    assert max(counts) <= 4
    assert 1.0 <= np.mean(counts) <= 3.0
    for start in range(0, len(seconds) - 30, 30):
        chunk = seconds[start : start + 30]
        rr = [r for s in chunk for r in s.rr_intervals_s]
        hr_from_rr = 60.0 / np.mean(rr)
        hr = np.mean([s.hr_bpm for s in chunk])
        assert abs(hr_from_rr - hr) < 4.0, (start, hr_from_rr, hr)
    # One interval per beat: together they cover the workout.
    total = sum(r for s in seconds for r in s.rr_intervals_s)
    assert abs(total - len(seconds)) < 3.0


def test_rr_variability_shrinks_as_heart_rate_climbs():
    athlete = Athlete(age=30, resting_hr=55, max_hr=190, fitness=0.5)
    plan = WorkoutPlan("two", (Segment("rest", 300, "rest", 0.0), Segment("run", 600, "run", 0.95)))
    seconds = simulate(plan, athlete, seed=5, noise_bpm=0.0)

    def rmssd(part):
        rr = np.array([r for s in part for r in s.rr_intervals_s])
        return float(np.sqrt(np.mean(np.diff(rr) ** 2)))

    assert rmssd(seconds[60:300]) > 3 * rmssd(seconds[700:900])


def test_dropouts_give_none_without_rr_or_contact():
    seconds = simulate(DEMO_WORKOUT, DEMO_ATHLETE, seed=9, dropout_rate=0.1)
    lost = [s for s in seconds if s.hr_bpm is None]
    assert 0.03 * len(seconds) <= len(lost) <= 0.2 * len(seconds)
    assert all(s.rr_intervals_s == () and s.contact is False for s in lost)
    assert all(s.contact for s in seconds if s.hr_bpm is not None)
    assert all(s.hr_bpm is not None for s in simulate(DEMO_WORKOUT, DEMO_ATHLETE, seed=9))


def test_dropout_rate_is_roughly_the_fraction_lost():
    athlete = DEMO_ATHLETE
    plan = WorkoutPlan("long", (Segment("walk", 6000, "walk", 0.3),))
    seconds = simulate(plan, athlete, seed=10, dropout_rate=0.05)
    assert 0.03 < sum(s.hr_bpm is None for s in seconds) / len(seconds) < 0.07


@pytest.mark.parametrize(
    ("activity", "intensity", "cadence", "speed"),
    [
        ("walk", 0.3, (98, 122), (1.0, 2.0)),
        ("run", 0.75, (148, 182), (2.0, 6.0)),
        ("cycle", 0.6, (68, 97), (4.5, 11.5)),
        ("strength", 0.6, (0, 0), (0, 0)),
        ("rest", 0.0, (0, 0), (0, 0)),
    ],
)
def test_cadence_and_speed_fit_the_activity(activity, intensity, cadence, speed):
    plan = WorkoutPlan("one", (Segment(activity, 200, activity, intensity),))
    seconds = simulate(plan, DEMO_ATHLETE, seed=11)[20:]
    cad = np.array([s.cadence_spm for s in seconds])
    spd = np.array([s.speed_mps for s in seconds])
    assert cadence[0] - 1e-9 <= cad.min() and cad.max() <= cadence[1] + 1e-9
    assert speed[0] - 1e-9 <= spd.min() and spd.max() <= speed[1] + 1e-9
    dist = [s.distance_m for s in seconds]
    assert dist == sorted(dist)


def test_harder_running_is_faster_with_higher_cadence():
    def steady(x):
        plan = WorkoutPlan("r", (Segment("r", 120, "run", x),))
        part = simulate(plan, DEMO_ATHLETE, seed=12)[30:]
        return np.mean([s.cadence_spm for s in part]), np.mean([s.speed_mps for s in part])

    (c1, v1), (c2, v2) = steady(0.55), steady(1.0)
    assert c2 > c1 and v2 > v1


def test_strength_alternates_sets_and_rests():
    plan = WorkoutPlan("gym", (Segment("block", 400, "strength", 0.75),))
    seconds = simulate(plan, DEMO_ATHLETE, seed=13)
    levels = sorted({round(s.intensity, 3) for s in seconds})
    assert levels == [0.25, 0.75]


def test_random_plans_are_varied_and_valid():
    rng = np.random.default_rng(0)
    plans = [random_plan(rng) for _ in range(80)]
    activities = {seg.activity for p in plans for seg in p.segments}
    assert activities == set(ACTIVITIES)
    assert len({p.name for p in plans}) >= 6
    assert any(len(p.segments) >= 8 for p in plans)  # intervals
    assert all(300 <= p.duration_s <= 4 * 3600 for p in plans)


def test_random_athletes_are_plausible():
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = random_athlete(rng)
        assert 18 <= a.age <= 70
        assert 40 <= a.resting_hr <= 90
        assert a.max_hr - a.resting_hr > 60
        assert 0 <= a.fitness <= 1


def test_target_hr_is_karvonen_capped_below_max():
    a = Athlete(age=35, resting_hr=60, max_hr=190, fitness=0.5)
    assert target_hr(a, 0.0) == 60
    assert math.isclose(target_hr(a, 0.5), 125)
    assert target_hr(a, 1.1) < 190


def test_bad_segments_are_refused():
    with pytest.raises(ValueError, match="activity"):
        Segment("x", 10, "swim", 0.5)
    with pytest.raises(ValueError, match="intensity"):
        Segment("x", 10, "run", 1.5)
    with pytest.raises(ValueError, match="duration"):
        Segment("x", 0, "run", 0.5)


def test_to_aligned_keeps_gaps_as_gaps():
    seconds = simulate(DEMO_WORKOUT, DEMO_ATHLETE, seed=14, dropout_rate=0.1)
    aligned = to_aligned(seconds)
    assert len(aligned) == len(seconds)
    for sim, a in zip(seconds, aligned, strict=True):
        assert a.t == sim.t
        assert a.hr_bpm == sim.hr_bpm
        assert a.hr_gap == (sim.hr_bpm is None)
        assert a.rr_intervals_s == sim.rr_intervals_s
    steps = [a.steps for a in aligned]
    assert steps == sorted(steps) and steps[-1] > 300


def test_simulate_sessions_is_one_persons_deterministic_history():
    athlete = Athlete(age=45, resting_hr=50.0, max_hr=195.0, fitness=0.7)
    one = simulate_sessions(athlete, 3, seed=4, max_duration_s=900)
    two = simulate_sessions(athlete, 3, seed=4, max_duration_s=900)
    other = simulate_sessions(athlete, 3, seed=5, max_duration_s=900)
    assert one == two and one != other
    assert len(one) == 3 and all(0 < len(s) <= 900 for s in one)
    for session in one:
        assert [s.t for s in session] == list(range(len(session)))
        hr = np.array([s.hr_bpm for s in session], dtype=float)
        assert hr.min() >= athlete.resting_hr - 8 and hr.max() <= athlete.max_hr + 4
