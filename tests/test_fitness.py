"""Fitness markers per session (efficiency factor, aerobic decoupling, heart rate at a reference
effort), stored, shown in the history and the report, and their trend answered by `ask`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge.coach.drift import decoupling_pct
from edge.commands.ask import answer_question
from edge.narrator import guard
from edge.narrator.advice import Intent, question_advice
from edge.profile import Profile
from edge.reports.fitness import (
    MIN_TREND_DAYS,
    FitnessMarkers,
    fitness_trend,
    normalized_power,
    session_markers,
)
from edge.reports.history import format_history, history
from edge.reports.metrics import load_session
from edge.reports.report import render_report
from edge.store import SessionStore
from edge.stream.readings import AlignedSample
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider
from firmware_bridge.simulator import Athlete

PROFILE = Profile(name="sam", age=40, resting_hr=55.0, max_hr=185.0)
ATHLETE = Athlete(age=40, resting_hr=55.0, max_hr=185.0, fitness=0.5)
HEART = PowerResponse(ATHLETE, gain_bpm_per_w=0.36, time_constant_s=45.0, delay_s=5)
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def ride(response: PowerResponse, seed: int, minutes: int = 45) -> list[AlignedSample]:
    """Blocks of 100-220 W, 2-4 minutes each, as the stream records them."""
    rng = np.random.default_rng(seed)
    rider = SimulatedRider(response, seed=seed)
    samples: list[AlignedSample] = []
    while len(samples) < minutes * 60:
        power = float(rng.uniform(100, 220))
        for _ in range(int(rng.integers(120, 240))):
            t = len(samples)
            samples.append(
                AlignedSample(
                    t,
                    round(rider.step(power)),
                    (),
                    88.0,
                    None,
                    None,
                    None,
                    True,
                    False,
                    power_w=power,
                )
            )
    return samples


def run(speed_mps: float, minutes: int = 30) -> list[AlignedSample]:
    return [
        AlignedSample(t, 140.0 + t / 300, (), 170.0, speed_mps, 3.0 * t, None, True, False)
        for t in range(minutes * 60)
    ]


def test_normalized_power_is_coggans() -> None:
    assert normalized_power([200.0] * 600) == pytest.approx(200.0)
    surges = np.tile(np.r_[np.zeros(60), np.full(60, 300.0)], 10)
    # The same mean of 150 W ridden as surges costs more: NP above the mean.
    assert normalized_power(surges) > 190.0
    assert normalized_power([200.0] * 20) is None


def test_a_ride_gets_its_markers() -> None:
    samples = ride(HEART, 1)
    m = session_markers(samples)
    assert m is not None and m.measure == "power"
    power = np.array([s.power_w for s in samples])
    hr = np.array([s.hr_bpm for s in samples], dtype=float)
    assert m.normalized_power_w == pytest.approx(normalized_power(power), abs=0.1)
    assert m.efficiency_factor == pytest.approx(m.normalized_power_w / hr.mean(), abs=0.005)
    # Heart rate at 150 W: this heart's steady state there (seated 67 + 0.36 x 150 = 121).
    assert m.hr_at_reference == pytest.approx(55 + 12 + 0.36 * 150, abs=3)
    # Decoupling with the drift module's formula, over the halves after the warm-up.
    after = np.arange(600, len(samples))
    first, last = after[: len(after) // 2], after[len(after) // 2 :]
    expected = decoupling_pct(
        hr[first].mean(), power[first].mean(), hr[last].mean(), power[last].mean()
    )
    assert m.decoupling_pct == pytest.approx(expected, abs=0.05)
    assert FitnessMarkers.from_dict(m.as_dict()) == m


def test_a_run_is_measured_by_speed_and_a_short_or_still_session_not_at_all() -> None:
    m = session_markers(run(2.8))
    assert m is not None and m.measure == "speed" and m.normalized_power_w is None
    assert m.efficiency_factor == pytest.approx(2.8 * 60 / m.mean_hr, abs=0.005)
    assert m.decoupling_pct is not None and m.decoupling_pct > 0  # heart rate crept up
    assert m.hr_at_reference is None  # never ran near 2.5 m/s: not extrapolated
    assert session_markers(run(2.8, minutes=5)) is None
    assert session_markers(run(0.3)) is None  # standing, not moving


def test_the_trend_needs_enough_sessions_over_enough_weeks() -> None:
    m = session_markers(ride(HEART, 1))
    assert m is not None
    few = fitness_trend([(NOW - timedelta(days=d), m) for d in (3, 2, 1)])
    assert few["needed_sessions"] == 4 and "ef_recent" not in few
    short = fitness_trend([(NOW - timedelta(days=d), m) for d in (10, 8, 5, 2, 1)])
    assert short["needed_days"] == MIN_TREND_DAYS and short["fitness_days"] == 9


def fitter_weeks(store: SessionStore, *, store_markers: bool) -> None:
    """Six weekly rides of the same blocks while the heart gets stronger: gain 0.42 -> 0.32."""
    for week, gain in enumerate(np.linspace(0.42, 0.32, 6)):
        started = NOW - timedelta(days=7 * (6 - week))
        samples = ride(replace(HEART, gain_bpm_per_w=float(gain)), seed=week, minutes=40)
        session = store.start_session("sam", "ble", PROFILE, started)
        for s in samples:
            store.add_sample(session, s)
        rates = [s.hr_bpm for s in samples]
        store.end_session(
            session,
            started + timedelta(seconds=len(samples)),
            {"duration_s": len(samples), "mean_hr": sum(rates) / len(rates), "max_hr": max(rates)},
        )
        if store_markers:
            markers = session_markers(samples)
            assert markers is not None
            store.set_fitness(session, markers.as_dict())
    store.commit()


@pytest.mark.parametrize("stored", [True, False])
def test_am_i_getting_fitter_answers_from_the_efficiency_factor(tmp_path, stored) -> None:
    with SessionStore.open(tmp_path / "edgecoach.db") as store:
        fitter_weeks(store, store_markers=stored)
        assert len(store.fitness("sam")) == (6 if stored else 0)
        answer = answer_question("Am I getting fitter?", store, PROFILE, None, now=NOW)
    facts = dict(answer.facts_used)
    assert answer.intent == "trend" and facts["measure"] == "power"
    assert facts["ef_direction"] == "up" and facts["ef_recent"] > facts["ef_before"]
    assert facts["hr_at_reference_recent"] < facts["hr_at_reference_before"]
    assert facts["weeks"] == 5
    assert answer.text.startswith(
        f"Your efficiency factor, power per heartbeat, went from {facts['ef_before']:g} to "
        f"{facts['ef_recent']:g} over 5 weeks, {facts['ef_change_pct']} percent up."
    )
    assert "sign of better aerobic fitness" in answer.text
    assert "diagnos" not in answer.text


def test_the_fitness_answer_passes_the_guard_both_ways() -> None:
    base = {
        "sessions": 8,
        "measure": "power",
        "fitness_sessions": 8,
        "fitness_days": 40,
        "weeks": 6,
        "ef_before": 1.52,
        "ef_recent": 1.45,
        "ef_change_pct": 5,
        "ef_direction": "down",
        "reference": 150.0,
        "hr_at_reference_before": 131,
        "hr_at_reference_recent": 136,
    }
    advice = question_advice("Am I getting fitter?", Intent.TREND, base)
    assert "can't tell which" in advice.template
    assert guard.check_advice(advice.template, advice).ok


def test_history_and_report_show_the_markers(tmp_path) -> None:
    with SessionStore.open(tmp_path / "edgecoach.db") as store:
        fitter_weeks(store, store_markers=True)
        rows = history(store, "sam")
        data = load_session(store, rows[-1]["id"])
    last = rows[-1]["fitness"]
    assert last["measure"] == "power" and last["efficiency_factor"] > 1.0
    table = format_history(rows)
    assert f"{last['efficiency_factor']:.2f}" in table.splitlines()[-2]
    assert "EF: efficiency factor" in table
    page = render_report(data)
    assert '<section id="fitness"><h2>Fitness markers</h2>' in page
    assert f"{last['efficiency_factor']:.2f} W per beat/min" in page
    assert "Heart rate at 150 W" in page
