"""Training between sessions: HRV, measured profile, readiness, load, plans, feedback, CLI."""

import argparse
import json
import math
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from edge.commands import feedback as feedback_command
from edge.commands import plan as plan_command
from edge.core.zones import ZoneModel
from edge.errors import ConfigError
from edge.profile import Profile
from edge.settings import Person, Settings
from edge.sources.simulator import to_aligned
from edge.store import FeedbackError, SessionStore
from edge.stream.readings import AlignedSample
from edge.training.load import (
    BANISTER_K_FEMALE,
    SessionLoad,
    acute_chronic_ratio,
    banister_trimp_per_minute,
    load_between,
    session_load,
    session_trimp,
    weekly_load,
)
from edge.training.physiology import (
    accepted_differences,
    max_hr_from_sessions,
    measured_profile,
    resting_hr_from_samples,
    rmssd_from_samples,
    rmssd_ms,
)
from edge.training.plan import (
    MAX_WEEKLY_INCREASE,
    Feedback,
    daily_suggestion,
    reason_token,
    weekly_plan,
)
from edge.training.readiness import MorningReading, Readiness, readiness, reading_from_samples
from firmware_bridge.simulator import Athlete, Segment, WorkoutPlan, simulate

ATHLETE = Athlete(age=35, resting_hr=55.0, max_hr=176.0, fitness=0.6)
TANAKA_35 = 208 - 0.7 * 35  # 183.5: the estimate is 7.5 bpm above the athlete's true maximum
MONDAY = date(2026, 5, 4)


def sim(*segments: Segment, seed: int = 0) -> list[AlignedSample]:
    return to_aligned(simulate(WorkoutPlan("test", segments), ATHLETE, seed=seed))


def rest_then_walk(seed: int = 0) -> list[AlignedSample]:
    return sim(Segment("sit", 300, "rest", 0.0), Segment("walk", 300, "walk", 0.3), seed=seed)


def hard_run(seed: int = 0) -> list[AlignedSample]:
    return sim(
        Segment("warm-up", 300, "run", 0.6),
        Segment("all-out", 240, "run", 1.1),
        Segment("cool-down", 200, "walk", 0.3),
        seed=seed,
    )


def easy_run(seed: int = 0) -> list[AlignedSample]:
    return sim(Segment("steady", 900, "run", 0.55), seed=seed)


def hr_sample(
    t: int,
    hr: float | None,
    rr: tuple[float, ...] = (),
    cadence: float | None = 0.0,
    speed: float | None = 0.0,
) -> AlignedSample:
    return AlignedSample(
        t, hr, rr if hr is not None else (), cadence, speed, None, None, hr is not None, hr is None
    )


# -- RMSSD -------------------------------------------------------------------------------------


def test_rmssd_of_a_clean_sequence_matches_the_hand_computation():
    # differences +20, -30, +20 ms: sqrt((400 + 900 + 400) / 3) = 23.805 ms
    assert rmssd_ms([0.80, 0.82, 0.79, 0.81]) == pytest.approx(math.sqrt(1700 / 3), abs=1e-9)
    assert rmssd_ms([1.0, 1.0, 1.0]) == 0.0


def test_rmssd_drops_out_of_range_beats_and_jumps_over_20_percent():
    # 0.5 s is 39 % off 0.82 s, 2.5 s is out of range: only 0.80->0.82 and 0.79->0.81 remain
    rr = [0.80, 0.82, 0.50, 0.79, 0.81, 2.50, 0.80]
    assert accepted_differences(rr) == pytest.approx([0.02, 0.02])
    assert rmssd_ms(rr) == pytest.approx(20.0)
    # An ectopic beat and its compensatory pause both go; the beats around them stay.
    assert rmssd_ms([0.80, 0.81, 0.60, 1.00, 0.80, 0.79]) == pytest.approx(10.0)
    # A bad first beat is judged against the median, so it cannot poison the rest.
    assert rmssd_ms([0.40, 0.80, 0.82, 0.80]) == pytest.approx(20.0)


def test_rmssd_needs_enough_clean_differences():
    assert rmssd_ms([]) is None
    assert rmssd_ms([0.8, 0.82]) is None  # one difference; two are needed by default
    assert rmssd_ms([0.8, 0.82], min_differences=1) == pytest.approx(20.0)
    assert rmssd_ms([2.5, 0.1, 3.0, 0.2]) is None


def test_rmssd_from_samples_never_differences_across_a_gap():
    samples = [
        hr_sample(0, 75, (0.80,)),
        hr_sample(1, 73, (0.82,)),
        hr_sample(2, None),
        hr_sample(3, 85, (0.70,)),
        hr_sample(4, 83, (0.72,)),
    ]
    # Across the gap 0.82 -> 0.70 (15 %) would pass the filter and count -120 ms.
    assert rmssd_from_samples(samples, min_differences=1) == pytest.approx(20.0)


def test_simulated_rmssd_is_high_at_rest_and_low_at_maximum():
    rest = rmssd_from_samples(rest_then_walk()[:300])
    sprint = rmssd_from_samples(hard_run()[300:540])
    assert 25 < rest < 60 and sprint < 8


# -- resting and maximum heart rate ---------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_resting_hr_is_measured_from_still_periods(seed):
    resting = resting_hr_from_samples(rest_then_walk(seed))
    assert resting is not None and abs(resting - ATHLETE.resting_hr) <= 4


def test_resting_hr_needs_steady_still_data():
    assert resting_hr_from_samples(easy_run()) is None  # never still
    strength = sim(Segment("warm-up", 200, "walk", 0.3), Segment("sets", 600, "strength", 0.7))
    assert resting_hr_from_samples(strength) is None  # still between sets, but not steady
    # Without a stride sensor a steady rest cannot be told from a steady run.
    blind = [replace(s, cadence_spm=None, speed_mps=None) for s in rest_then_walk()]
    assert resting_hr_from_samples(blind) is None
    assert resting_hr_from_samples(rest_then_walk()[:90]) is None  # too short


def test_max_hr_is_measured_only_from_a_hard_effort():
    measured = max_hr_from_sessions([easy_run(), hard_run()], reference_max_hr=TANAKA_35)
    assert measured is not None and abs(measured - ATHLETE.max_hr) <= 3
    assert max_hr_from_sessions([easy_run(), rest_then_walk()], reference_max_hr=TANAKA_35) is None
    assert max_hr_from_sessions([], reference_max_hr=TANAKA_35) is None


def test_max_hr_ignores_implausible_spikes():
    spiky = easy_run()
    for t in range(100, 900, 97):  # one- and two-second spikes, as a band double-counting
        for dt in range(1 + t % 2):
            spiky[t + dt] = replace(spiky[t + dt], hr_bpm=205.0 if t % 3 else 250.0)
    assert max_hr_from_sessions([spiky], reference_max_hr=TANAKA_35) is None
    hard = hard_run()
    hard[400] = replace(hard[400], hr_bpm=215.0)
    measured = max_hr_from_sessions([hard], reference_max_hr=TANAKA_35)
    assert measured is not None and measured <= ATHLETE.max_hr + 3


def test_measured_profile_says_what_was_measured_and_what_estimated():
    profile = Profile(name="ann", age=35, resting_hr=60.0)
    measured, basis = measured_profile(profile, [rest_then_walk(), hard_run()])
    assert abs(measured.resting_hr - ATHLETE.resting_hr) <= 4
    assert abs(measured.effective_max_hr - ATHLETE.max_hr) <= 3
    assert basis["resting_hr"]["source"] == "measured"
    assert basis["max_hr"]["source"] == "measured"
    assert basis["max_hr"]["replaces"] == pytest.approx(TANAKA_35)

    same, basis = measured_profile(profile, [easy_run()])
    assert same == profile
    assert basis["resting_hr"]["source"] == "configured"
    assert basis["max_hr"]["source"] == "estimated" and "Tanaka" in basis["max_hr"]["method"]

    configured = replace(profile, max_hr=190.0)  # higher than anything measured: kept
    kept, basis = measured_profile(configured, [hard_run()])
    assert kept.max_hr == 190.0 and basis["max_hr"]["source"] == "configured"


# -- readiness ---------------------------------------------------------------------------------


def baseline(
    rmssd=(45, 58, 50, 42, 55, 48, 60), resting=(52, 53, 51, 52, 52, 53, 51), today=MONDAY
):
    return [
        MorningReading(today - timedelta(days=len(rmssd) - i), float(resting[i]), float(rmssd[i]))
        for i in range(len(rmssd))
    ]


def test_readiness_is_normal_on_a_usual_morning():
    state = readiness(baseline(), MorningReading(MONDAY, 52.0, 52.0))
    assert state.level == "normal" and 40 <= state.score <= 60
    assert state.basis["baseline_days"] == 7 and state.basis["uses"] == ["hrv", "resting_hr"]


def test_readiness_is_low_when_hrv_drops_or_resting_hr_rises():
    history = baseline()
    ln = [math.log(r.rmssd_ms) for r in history]
    mean = sum(ln) / len(ln)
    sd = math.sqrt(sum((x - mean) ** 2 for x in ln) / (len(ln) - 1))
    dropped = math.exp(mean - 2 * sd)
    state = readiness(history, MorningReading(MONDAY, 52.0, dropped))
    assert state.level == "low" and state.basis["z_hrv"] == pytest.approx(-2, abs=0.05)
    assert readiness(history, MorningReading(MONDAY, 62.0, 52.0)).level == "low"
    assert readiness(history, MorningReading(MONDAY, 52.0, math.exp(mean + 2 * sd))).level == "high"


def test_readiness_without_three_days_of_baseline_is_unknown():
    few = baseline(rmssd=(50, 55), resting=(52, 53))
    state = readiness(few, MorningReading(MONDAY, 52.0, 52.0))
    assert state.level == "unknown" and state.score is None and not state.known
    assert "not enough data" in state.basis["reason"]
    # Days older than the 7-day baseline do not count.
    old = [replace(r, date=r.date - timedelta(days=10)) for r in baseline()]
    assert readiness(old, MorningReading(MONDAY, 52.0, 52.0)).level == "unknown"
    assert readiness(baseline(), MorningReading(MONDAY, None, None)).level == "unknown"


def test_a_reading_comes_from_the_still_start_of_a_session():
    reading = reading_from_samples(MONDAY, rest_then_walk())
    assert reading is not None and abs(reading.resting_hr - ATHLETE.resting_hr) <= 5
    assert 25 < reading.rmssd_ms < 60
    assert reading_from_samples(MONDAY, easy_run()) is None


# -- load --------------------------------------------------------------------------------------


def test_trimp_of_a_known_session():
    profile = Profile(resting_hr=60.0, max_hr=180.0)
    # 30 min at 120 bpm = 50 % of reserve: 30 x 0.5 x 0.64 x e^(1.92 x 0.5) = 25.07
    samples = [hr_sample(t, 120.0) for t in range(1800)]
    samples += [hr_sample(1800 + t, None) for t in range(60)]  # a gap counts nothing
    expected = 30 * 0.5 * 0.64 * math.exp(0.96)
    assert session_trimp(samples, profile) == pytest.approx(expected)
    assert expected == pytest.approx(25.07, abs=0.01)
    assert session_trimp(samples, profile, BANISTER_K_FEMALE) == pytest.approx(
        30 * 0.5 * 0.64 * math.exp(1.67 * 0.5)
    )
    load = session_load(samples, profile, day=MONDAY, session_id=1)
    assert load.trimp == pytest.approx(expected) and load.duration_s == 1860
    assert load.kind == "easy" and load.moderate_min == pytest.approx(30)
    # Below resting counts nothing; above maximum counts as maximum.
    assert banister_trimp_per_minute(-0.2) == 0.0
    assert banister_trimp_per_minute(1.3) == banister_trimp_per_minute(1.0)


def test_session_kinds_from_simulated_sessions():
    profile = Profile(age=35, resting_hr=55.0, max_hr=176.0)
    intervals = sim(
        Segment("warm-up", 300, "run", 0.6),
        Segment("reps", 720, "run", 0.9),
        Segment("cool-down", 300, "walk", 0.3),
    )
    assert session_load(intervals, profile, day=MONDAY).kind == "hard"
    assert session_load(hard_run(), profile, day=MONDAY).kind == "easy"  # 4 min all-out only
    assert session_load(easy_run(), profile, day=MONDAY).kind == "easy"


def loads(*days_kinds_trimp, start=0):
    return [
        SessionLoad(start + i, day, trimp, 45 * 60, 45 * 60, kind)
        for i, (day, kind, trimp) in enumerate(days_kinds_trimp)
    ]


def steady_history(weeks=4, before=MONDAY, scale=1.0):
    """Weeks before `before`: easy Mon, hard Tue, easy Wed, hard Fri, long Sun (300 TRIMP)."""
    out = []
    for w in range(weeks, 0, -1):
        start = before - timedelta(days=7 * w)
        for offset, kind, trimp in (
            (0, "easy", 35),
            (1, "hard", 75),
            (2, "easy", 35),
            (4, "hard", 75),
            (6, "long", 80),
        ):
            out.append((start + timedelta(days=offset), kind, trimp * scale))
    return loads(*out)


def test_weekly_load_and_acute_chronic_ratio():
    history = steady_history()
    assert weekly_load(history, MONDAY - timedelta(days=7)) == 300
    assert load_between(history, MONDAY - timedelta(days=28), MONDAY) == 1200
    assert acute_chronic_ratio(history, MONDAY) == pytest.approx(1.0)
    spike = history + loads((MONDAY - timedelta(days=1), "long", 300), start=100)
    assert acute_chronic_ratio(spike, MONDAY) == pytest.approx(600 / 375)
    assert acute_chronic_ratio(steady_history(weeks=2), MONDAY) is None  # under 3 weeks
    assert acute_chronic_ratio([], MONDAY) is None


# -- plan rules --------------------------------------------------------------------------------


def last_week_sessions(history, kind=None):
    return [
        s
        for s in history
        if MONDAY - timedelta(days=7) <= s.day < MONDAY and (kind is None or s.kind == kind)
    ]


def check_week_rules(plan):
    kinds = [d.kind for d in plan.days]
    assert "rest" in kinds
    for today, tomorrow in zip(kinds, kinds[1:], strict=False):
        if today == "hard":
            assert tomorrow in ("easy", "rest")
    assert kinds[0] in ("easy", "rest")  # a hard day before the week is followed by an easy one
    assert plan.planned_load <= plan.weekly_load_target + 1e-6


@pytest.mark.parametrize("scale", [0.5, 0.8, 1.0, 1.5])
@pytest.mark.parametrize("signal", [None, "too easy", "too hard"])
def test_the_weekly_load_never_rises_more_than_10_percent(scale, signal):
    history = steady_history(scale=scale)
    hard = last_week_sessions(history, "hard")[-1]
    feedback = [Feedback(hard.session_id, None, signal)] if signal else []
    high = Readiness(90, "high", {}, MONDAY)
    plan = weekly_plan(history, high, feedback, MONDAY)
    last = weekly_load(history, MONDAY - timedelta(days=7))
    assert plan.weekly_load_target <= last * (1 + MAX_WEEKLY_INCREASE) + 1e-9
    check_week_rules(plan)
    assert plan.hard_days <= 2


def test_no_ramp_when_acute_load_is_well_above_chronic():
    history = steady_history(weeks=3, before=MONDAY - timedelta(days=7))  # three easy-ish weeks
    history += loads(
        *[(MONDAY - timedelta(days=7 - i), "moderate", 110) for i in range(5)], start=100
    )
    last = weekly_load(history, MONDAY - timedelta(days=7))
    plan = weekly_plan(history, None, [], MONDAY)
    assert plan.basis["acute_chronic_ratio"] > 1.3
    assert plan.weekly_load_target <= last
    assert plan.hard_days <= 1
    check_week_rules(plan)


def test_without_history_the_week_starts_below_the_guideline():
    plan = weekly_plan([], None, [], MONDAY)
    assert plan.hard_days == 0 and plan.rest_days >= 1
    assert plan.weekly_load_target < plan.basis["guideline_load"]
    assert plan.basis["week_load_cap"] is None
    check_week_rules(plan)


def replaced(history, changes):
    """`history` with the sessions of some days replaced: {days before MONDAY: (kind, trimp)}."""
    days = {MONDAY - timedelta(days=d): v for d, v in changes.items()}
    kept = [s for s in history if s.day not in days]
    return kept + loads(*[(day, kind, trimp) for day, (kind, trimp) in days.items()], start=200)


def test_a_hard_day_yesterday_makes_today_easy():
    history = replaced(steady_history(), {1: ("hard", 75), 3: ("easy", 35)})
    suggestion = daily_suggestion(history, None, [], MONDAY)
    assert suggestion.kind == "easy" and suggestion.basis["rule"] == "after hard"
    assert suggestion.basis["yesterday"] == "hard"
    low = Readiness(15, "low", {}, MONDAY)
    assert daily_suggestion(history, low, [], MONDAY).kind == "rest"


def test_six_training_days_in_a_row_make_a_rest_day():
    history = loads(*[(MONDAY - timedelta(days=d), "easy", 30) for d in range(1, 7)])
    assert daily_suggestion(history, None, [], MONDAY).kind == "rest"


def hard_day_due():
    """A history where today (Monday) is a hard day: one hard session, 6 days ago, this week."""
    return replaced(steady_history(), {3: ("easy", 35), 1: ("easy", 35)})


def test_low_readiness_lowers_todays_intensity():
    history = hard_day_due()
    normal = daily_suggestion(history, Readiness(50, "normal", {}, MONDAY), [], MONDAY)
    assert normal.kind == "hard"
    low = daily_suggestion(history, Readiness(20, "low", {"z_hrv": -1.6}, MONDAY), [], MONDAY)
    assert low.kind == "easy" and low.zones == (1,) and low.minutes < normal.minutes
    assert low.basis["readiness_level"] == "low" and low.basis["readiness"] == {"z_hrv": -1.6}
    assert "not a medical assessment" in low.text

    week = weekly_plan(steady_history(), None, [], MONDAY)
    low_week = weekly_plan(steady_history(), Readiness(20, "low", {}, MONDAY), [], MONDAY)
    assert week.days[1].kind == "hard" and low_week.days[1].kind == "moderate"
    assert low_week.days[0].zones == (1,) and low_week.days[0].minutes <= week.days[0].minutes
    check_week_rules(low_week)


def test_a_day_already_trained_counts_in_the_week():
    history = steady_history() + loads((MONDAY, "hard", 90), start=300)
    plan = weekly_plan(history, None, [], MONDAY)
    first = plan.days[0]
    assert first.basis["rule"] == "done" and first.kind == "hard"
    assert first.expected_load == 90 and first.text.startswith("Done: hard session")
    assert plan.days[1].kind in ("easy", "rest")
    assert plan.planned_load <= plan.weekly_load_target + 1e-6
    assert plan.rest_days >= 1


def test_following_the_daily_suggestions_keeps_the_rules():
    history = steady_history(weeks=3)
    day = MONDAY
    for n in range(42):
        suggestion = daily_suggestion(history, None, [], day)
        if suggestion.kind != "rest":
            history += loads((day, suggestion.kind, suggestion.expected_load), start=1000 + n)
        day += timedelta(days=1)
    by_day = {d: "rest" for d in (MONDAY + timedelta(days=i) for i in range(42))}
    by_day.update({s.day: s.kind for s in history if s.day >= MONDAY})
    kinds = [by_day[d] for d in sorted(by_day)]
    for i, kind in enumerate(kinds[:-1]):
        if kind == "hard":
            assert kinds[i + 1] in ("easy", "rest")
    for i in range(len(kinds) - 6):
        assert "rest" in kinds[i : i + 7]
    for start in range(0, 42 - 13):
        first = MONDAY + timedelta(days=start)
        before = load_between(history, first, first + timedelta(days=7))
        after = load_between(history, first + timedelta(days=7), first + timedelta(days=14))
        assert after <= before * (1 + MAX_WEEKLY_INCREASE) + 1e-6


# -- feedback ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rpe, text", [(9, None), (None, "too hard"), (None, "too hard: legs heavy")]
)
def test_too_hard_feedback_lowers_the_next_week(rpe, text):
    history = steady_history()
    hard = last_week_sessions(history, "hard")[-1]
    without = weekly_plan(history, None, [], MONDAY)
    with_it = weekly_plan(history, None, [Feedback(hard.session_id, rpe, text)], MONDAY)
    assert with_it.weekly_load_target <= 0.9 * without.weekly_load_target
    assert with_it.hard_days == without.hard_days - 1
    assert with_it.basis["feedback"] == "too hard"
    assert with_it.basis["feedback_used"][0]["session_id"] == hard.session_id
    check_week_rules(with_it)


def test_too_hard_feedback_takes_the_hard_day_out_of_today():
    history = hard_day_due()
    hard = last_week_sessions(history, "hard")[-1]
    without = daily_suggestion(history, None, [], MONDAY)
    with_it = daily_suggestion(history, None, [Feedback(hard.session_id, 9, None)], MONDAY)
    assert without.kind == "hard" and with_it.kind == "moderate"
    assert with_it.basis["week_load_target"] < without.basis["week_load_target"]
    assert with_it.facts()["feedback"] == "too hard"


@pytest.mark.parametrize("rpe, text", [(2, None), (None, "too easy")])
def test_too_easy_feedback_raises_the_next_week_within_the_cap(rpe, text):
    history = steady_history(scale=0.7)  # below the guideline's upper end: normally +5 %
    hard = last_week_sessions(history, "hard")[-1]
    last = weekly_load(history, MONDAY - timedelta(days=7))
    without = weekly_plan(history, None, [], MONDAY)
    with_it = weekly_plan(history, None, [Feedback(hard.session_id, rpe, text)], MONDAY)
    assert with_it.weekly_load_target > without.weekly_load_target
    assert with_it.weekly_load_target <= last * (1 + MAX_WEEKLY_INCREASE) + 1e-9
    assert with_it.planned_load > without.planned_load
    check_week_rules(with_it)


def test_easy_sessions_that_felt_easy_and_old_or_free_feedback_change_nothing():
    history = steady_history()
    easy = last_week_sessions(history, "easy")[0]
    old = [s for s in history if s.day < MONDAY - timedelta(days=7) and s.kind == "hard"][0]
    base = weekly_plan(history, None, [], MONDAY)
    for feedback in (
        [Feedback(easy.session_id, 2, "too easy")],
        [Feedback(old.session_id, 10)],
        [Feedback(easy.session_id, 5, "nice run, not too hard")],
    ):
        plan = weekly_plan(history, None, feedback, MONDAY)
        assert plan.weekly_load_target == base.weekly_load_target
        assert plan.hard_days == base.hard_days


def test_facts_are_flat_plain_values():
    suggestion = daily_suggestion(hard_day_due(), Readiness(55, "normal", {}, MONDAY), [], MONDAY)
    facts = suggestion.facts()
    assert facts["kind"] == "hard" and facts["minutes"] == suggestion.minutes
    assert facts["zone_low"] == 4 and facts["readiness_score"] == 55
    assert all(isinstance(v, str | int | float | type(None)) for v in facts.values())
    json.dumps(suggestion.as_dict())


# -- the commands ------------------------------------------------------------------------------

ANN = Profile(name="ann", age=35, resting_hr=60.0)


def parse(configure, *argv):
    parser = argparse.ArgumentParser(prog="edgecoach")
    configure(parser)
    return parser.parse_args(list(argv))


def fill_store(store, days=24, first=MONDAY - timedelta(days=24)):
    """A simulated month: a rest minute before each session; hard on Tue and Fri, rest Thu."""
    last = None
    for n in range(days):
        day = first + timedelta(days=n)
        if day.weekday() == 3:
            continue
        if day.weekday() in (1, 4):
            main = (
                Segment("warm-up", 300, "run", 0.6),
                Segment("reps", 720, "run", 0.9),
                Segment("cool-down", 300, "walk", 0.3),
            )
        else:
            main = (Segment("steady", 1500, "run", 0.55),)
        samples = sim(Segment("sit", 120, "rest", 0.0), *main, seed=n)
        started = datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)
        last = store.start_session("ann", "simulator", ANN, started)
        for sample in samples:
            store.add_sample(last, sample)
        store.end_session(last, started + timedelta(seconds=len(samples)), {})
    return last


@pytest.fixture(scope="module")
def month_db(tmp_path_factory):
    """A store file with a simulated month (24 days) and one with that month and MONDAY."""
    folder = tmp_path_factory.mktemp("month")
    with SessionStore.open(folder / "month.db") as store:
        fill_store(store)
    shutil.copy(folder / "month.db", folder / "with-today.db")
    with SessionStore.open(folder / "with-today.db") as store:
        fill_store(store, days=1, first=MONDAY)
    return folder


@pytest.fixture
def store(tmp_path):
    with SessionStore.open(tmp_path / "db") as store:
        yield store


def opened(month_db, tmp_path, name):
    shutil.copy(month_db / name, tmp_path / name)
    return SessionStore.open(tmp_path / name)


@pytest.fixture
def month_store(month_db, tmp_path):
    with opened(month_db, tmp_path, "month.db") as store:
        yield store


@pytest.fixture
def today_store(month_db, tmp_path):
    with opened(month_db, tmp_path, "with-today.db") as store:
        yield store


SETTINGS = Settings(profile=ANN)


def test_plan_command_prints_todays_suggestion_with_its_basis(month_store, capsys):
    store = month_store
    assert (
        plan_command.run_with_store(
            parse(plan_command.configure, "--date", MONDAY.isoformat()), SETTINGS, store
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Today, Mon 04 May 2026, for ann" in out and "Why:" in out
    assert "resting" in out and "(measured)" in out and "TRIMP" in out

    assert (
        plan_command.run_with_store(
            parse(plan_command.configure, "--json", "--date", MONDAY.isoformat()), SETTINGS, store
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["sessions"] == 21
    assert result["profile"]["basis"]["resting_hr"]["source"] == "measured"
    assert abs(result["profile"]["resting_hr"] - ATHLETE.resting_hr) <= 4
    assert result["profile"]["basis"]["max_hr"]["source"] in ("measured", "estimated")
    assert result["readiness"]["level"] == "unknown"  # no session yet today
    suggestion = result["suggestion"]
    assert suggestion["kind"] in ("rest", "easy", "moderate", "hard", "long")
    assert suggestion["basis"]["week_load_target"] > 0
    assert suggestion["facts"]["kind"] == suggestion["kind"]


def test_plan_command_takes_no_readiness_from_a_training_session(today_store, capsys):
    """Readiness comes from morning readings only (`edgecoach morning`): the still minute at
    the start of today's session is no reading (it used to be one)."""
    store = today_store  # the last session is on MONDAY itself
    plan_command.run_with_store(
        parse(plan_command.configure, "--json", "--date", MONDAY.isoformat()), SETTINGS, store
    )
    result = json.loads(capsys.readouterr().out)
    assert result["readiness"]["level"] == "unknown"
    assert "edgecoach morning" in result["readiness"]["basis"]["reason"]
    assert result["suggestion"]["basis"]["rule"] == "already trained"


def test_feedback_command_changes_the_next_week(month_store, capsys):
    store = month_store
    # The rules' words are enough here (the model's wording of a week has its own test).
    week = ("--week", "--json", "--no-llm", "--date", MONDAY.isoformat())
    plan_command.run_with_store(parse(plan_command.configure, *week), SETTINGS, store)
    before = json.loads(capsys.readouterr().out)["week"]
    hard = [r for r in store.sessions("ann") if r.started_at.weekday() == 4][-1]
    assert (
        feedback_command.run_with_store(
            parse(feedback_command.configure, str(hard.id), "--too-hard", "--note", "legs heavy"),
            SETTINGS,
            store,
        )
        == 0
    )
    assert "eases off" in capsys.readouterr().out
    assert store.feedback(hard.id)[0]["text"] == "too hard: legs heavy"
    plan_command.run_with_store(parse(plan_command.configure, *week), SETTINGS, store)
    after = json.loads(capsys.readouterr().out)["week"]
    assert after["weekly_load_target"] < before["weekly_load_target"]
    assert after["hard_days"] < before["hard_days"]
    assert after["basis"]["feedback_used"][0]["session_id"] == hard.id

    plan_command.run_with_store(
        parse(plan_command.configure, "--week", "--date", MONDAY.isoformat()), SETTINGS, store
    )
    out = capsys.readouterr().out
    assert "Week from Mon 04 May 2026" in out and "too hard" in out


def test_feedback_defaults_to_the_latest_session_and_validates_rpe(store, capsys):
    latest = fill_store(store, days=3)
    assert (
        feedback_command.run_with_store(
            parse(feedback_command.configure, "--rpe", "6"), SETTINGS, store
        )
        == 0
    )
    assert store.feedback(latest)[0]["rpe"] == 6
    assert f"session {latest}: RPE 6" in capsys.readouterr().out
    for bad in ("11", "0", "hard"):
        with pytest.raises(SystemExit) as exit_info:
            parse(feedback_command.configure, "--rpe", bad)
        assert exit_info.value.code == 2
        assert "RPE must be a whole number from 1 (very easy) to 10" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(feedback_command.configure, "--rpe", "5", "--too-hard")
    capsys.readouterr()
    with pytest.raises(FeedbackError, match="say how it felt"):
        feedback_command.run_with_store(parse(feedback_command.configure), SETTINGS, store)
    with pytest.raises(FeedbackError, match="no sessions"):
        feedback_command.run_with_store(
            parse(feedback_command.configure, "--person", "bob", "--too-easy"), SETTINGS, store
        )
    with pytest.raises(FeedbackError, match="there is no session 999"):
        feedback_command.run_with_store(
            parse(feedback_command.configure, "999", "--too-easy"), SETTINGS, store
        )


def test_the_person_defaults_to_the_only_one_configured():
    assert SETTINGS.default_person() == "ann"
    one = Settings(people=(Person(Profile(name="bob")),))
    assert one.default_person() == "bob"
    two = Settings(people=(Person(Profile(name="bob")), Person(Profile(name="cy"))))
    with pytest.raises(ConfigError, match="--person"):
        two.default_person()


def test_plan_for_someone_without_sessions_starts_gently(store, capsys):
    assert (
        plan_command.run_with_store(
            parse(
                plan_command.configure,
                "--person",
                "dee",
                "--week",
                "--no-llm",
                "--date",
                MONDAY.isoformat(),
            ),
            SETTINGS,
            store,
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "No sessions recorded for dee" in out and "0 hard" in out


def test_the_plan_is_explained_in_guarded_words_resting_on_its_facts(month_store, capsys):
    from edge.commands.plan import explain_suggestion
    from edge.narrator import guard
    from edge.narrator.plans import suggestion_advice
    from edge.training.inputs import load_inputs

    inputs = load_inputs(month_store, SETTINGS, "ann", MONDAY)
    suggestion = daily_suggestion(
        inputs.loads, inputs.readiness, inputs.feedback, MONDAY, inputs.goal_minutes, k=inputs.k
    )
    advice = suggestion_advice(suggestion, ZoneModel.for_profile(inputs.profile))
    assert advice.facts["session"] == suggestion.kind and advice.template == suggestion.text
    assert advice.facts["reason"] == reason_token(str(suggestion.basis["rule"]))
    if suggestion.kind != "rest":
        assert advice.facts["duration_min"] == suggestion.minutes
        assert advice.facts["zone_low"] < advice.facts["zone_high"]
    rules = explain_suggestion(suggestion, inputs, SETTINGS, use_llm=False)
    assert rules["source"] == "template" and rules["text"] == suggestion.text
    # With the real model: its words pass the guard, or the rules' words are said.
    words = explain_suggestion(suggestion, inputs, SETTINGS)
    assert words["source"] == "template" or guard.check_advice(words["text"], advice).ok
    assert (
        plan_command.run_with_store(
            parse(plan_command.configure, "--date", MONDAY.isoformat()), SETTINGS, month_store
        )
        == 0
    )
    assert "In words (" in capsys.readouterr().out


def test_the_week_is_worded_by_the_model_under_the_same_guard(month_store, capsys):
    from edge.commands.plan import explain_week
    from edge.narrator import guard
    from edge.narrator.plans import suggestion_advice
    from edge.training.inputs import load_inputs

    inputs = load_inputs(month_store, SETTINGS, "ann", MONDAY)
    plan = weekly_plan(
        inputs.loads, inputs.readiness, inputs.feedback, MONDAY, inputs.goal_minutes, k=inputs.k
    )
    zones = ZoneModel.for_profile(inputs.profile)
    # A patient time limit: this checks the words, not how fast a shared core is.
    patient = replace(SETTINGS, llm=replace(SETTINGS.llm, timeout_s=60.0))
    rules = explain_week(plan, inputs, patient, use_llm=False)
    assert [w["text"] for w in rules] == [d.text for d in plan.days]
    assert {w["source"] for w in rules} == {"template"}
    words = explain_week(plan, inputs, patient)
    assert len(words) == len(plan.days)
    for day, said in zip(plan.days, words, strict=True):
        if said["source"] == "llm":  # each day's words pass its own guard, or the rules speak
            assert (
                said["model"] and guard.check_advice(said["text"], suggestion_advice(day, zones)).ok
            )
        else:
            assert said["text"] == day.text and said["reason"]
    assert any(w["source"] == "llm" for w in words), [(w["reason"], w["text"]) for w in words]
    assert (
        plan_command.run_with_store(
            parse(plan_command.configure, "--week", "--json", "--date", MONDAY.isoformat()),
            patient,
            month_store,
        )
        == 0
    )
    days = json.loads(capsys.readouterr().out)["week"]["days"]
    assert len(days) == len(plan.days)
    assert all(d["words"]["text"] and d["words"]["source"] in ("llm", "template") for d in days)


#: A week of training before the rolling week, so this week's load target leaves room.
_WEEK_BEFORE = [
    (8, "easy", 45),
    (9, "moderate", 45),
    (10, "long", 75),
    (12, "hard", 45),
    (13, "easy", 45),
]


@pytest.mark.parametrize(
    "case",
    [
        ("already trained", [(0, "easy", 40)], None),
        ("seven day rest", [(d, "easy", 30) for d in range(1, 7)], None),
        ("after hard", [(1, "hard", 40), *_WEEK_BEFORE], None),
        ("after hard, low readiness", [(1, "hard", 40)], Readiness(25, "low")),
        ("low readiness", [(3, "easy", 30)], Readiness(25, "low")),
        ("hard", [(3, "easy", 30), (5, "long", 60), *_WEEK_BEFORE], None),
    ],
)
def test_each_rule_reaches_the_model_as_a_reason_it_can_word(case):
    """The language model is told why (the rule), and the facts rebuild the rules' own words."""
    from edge.narrator.advice import advice_for
    from edge.narrator.plans import suggestion_advice
    from edge.training.load import SessionLoad
    from edge.training.plan import rule_of, trimp_per_minute

    rule, days, ready = case
    history = [
        SessionLoad(
            i + 1,
            MONDAY - timedelta(days=back),
            minutes * trimp_per_minute(kind),
            minutes * 60,
            minutes * 60,
            kind,
        )
        for i, (back, kind, minutes) in enumerate(days)
    ]
    suggestion = daily_suggestion(history, ready, [], MONDAY, 150)
    assert suggestion.basis["rule"] == rule
    advice = suggestion_advice(suggestion, ZoneModel.for_profile(Profile(age=40)))
    assert rule_of(str(advice.facts["reason"])) == rule
    if ready is not None:
        assert advice.facts["readiness_score"] == 25
    if suggestion.kind == "hard":
        assert advice.facts["reps"] >= 3 and advice.facts["warmup_min"] == 10
    # What a corpus line or a scenario rebuilds from the facts alone reads as `edgecoach plan`.
    assert advice_for("plan", advice.facts).template == suggestion.text
    assert advice.action.value == {"rest": "stop", "hard": "push"}.get(suggestion.kind, "hold")
