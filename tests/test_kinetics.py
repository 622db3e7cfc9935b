"""The first-order heart-rate kinetics: fitted on simulated riders, forecasting with a plan."""

from __future__ import annotations

import numpy as np
import pytest

from edge.health.kinetics import (
    KineticsParams,
    fit_kinetics,
    fit_rest,
    predict,
    working_minutes,
)
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider, random_rider
from firmware_bridge.simulator import random_athlete


def _ride(seed: int, blocks: int = 12) -> tuple[PowerResponse, np.ndarray, np.ndarray]:
    """A rider of random kinetics on blocks of random power (60-240 s each)."""
    rng = np.random.default_rng(seed)
    athlete = random_athlete(rng)
    response = random_rider(rng, athlete)
    cap = response.power_for(athlete.max_hr - 5)
    rider = SimulatedRider(response, seed=seed)
    powers: list[float] = []
    for _ in range(blocks):
        powers += [float(rng.uniform(0.25, 0.85) * cap)] * int(rng.integers(60, 240))
    hr = np.array([rider.step(p) for p in powers])
    return response, hr, np.array(powers)


@pytest.mark.parametrize("seed", range(6))
def test_fit_recovers_a_simulated_riders_kinetics(seed: int) -> None:
    response, hr, power = _ride(seed)
    fit = fit_kinetics(hr, power)
    assert fit is not None
    p = fit.params
    assert p.gain == pytest.approx(response.gain_bpm_per_w, rel=0.08)
    # One time constant for rises and (faster) falls: the fit lands between the two.
    assert 0.7 * response.time_constant_s <= p.tau_s <= 1.15 * response.time_constant_s
    assert abs(p.delay_s - response.delay_s) <= 3
    seated = response.athlete.resting_hr + response.seated_bpm
    assert p.rest_bpm == pytest.approx(seated, abs=4.0)
    assert 0.0 <= p.drift_bpm_per_min <= 1.5
    assert fit.rmse_bpm < 2.5


def test_forecast_with_the_coming_power_beats_persistence() -> None:
    errors = {30: ([], []), 60: ([], [])}
    for seed in range(6):
        _, hr, power = _ride(100 + seed, blocks=14)
        fit = None
        for t in range(600, len(hr) - 60, 15):
            if fit is None or t % 120 == 0:  # refitted every 2 min on the last 10 only
                fit = fit_kinetics(hr[t - 600 : t], power[t - 600 : t])
                assert fit is not None
            forecast = predict(
                fit.params,
                hr[t - 1],
                power[t : t + 60],
                past_effort=power[:t],
                working_min=fit.working_min_at_end,
            )
            for horizon, (model, persistence) in errors.items():
                model.append(abs(forecast[horizon - 1] - hr[t + horizon - 1]))
                persistence.append(abs(hr[t - 1] - hr[t + horizon - 1]))
    for model, persistence in errors.values():
        assert np.mean(model) < 0.6 * np.mean(persistence)


def test_predict_follows_a_step_with_its_delay_and_time_constant() -> None:
    params = KineticsParams(rest_bpm=70.0, gain=0.4, tau_s=40.0, delay_s=5)
    hr = predict(params, 110.0, [200.0] * 400, past_effort=[100.0] * 20)
    # For the first 5 s the heart still answers the 100 W already ridden (steady 110).
    assert hr[:5] == pytest.approx([110.0] * 5)
    # Then it rises to 150 with tau 40 s: 63 % of the way 40 s after the delay.
    assert hr[44] == pytest.approx(110.0 + 40.0 * (1 - np.exp(-40 / 40)), abs=0.6)
    assert hr[-1] == pytest.approx(150.0, abs=0.1)
    assert np.all(np.diff(hr) >= 0)


def test_predict_adds_drift_for_work_done() -> None:
    params = KineticsParams(70.0, 0.4, 30.0, 0, drift_bpm_per_min=0.5)
    flat = predict(params, 110.0, [100.0] * 600, working_min=20.0)
    # 20 minutes already worked: steady state 110 + 10 bpm, then another 5 bpm over 10 min.
    assert flat[-1] == pytest.approx(70 + 40 + 0.5 * 30, abs=1.0)


def test_fit_refuses_what_cannot_tell_a_gain() -> None:
    rng = np.random.default_rng(0)
    hr = 120 + rng.normal(0, 1, 900)
    assert fit_kinetics(hr, np.full(900, 150.0)) is None  # effort never changed
    assert fit_kinetics(hr[:60], np.linspace(50, 250, 60)) is None  # a minute is not enough
    with pytest.raises(ValueError):
        fit_kinetics(hr, np.zeros(10))


def test_fit_skips_heart_rate_gaps_and_holds_effort_through_gaps() -> None:
    response, hr, power = _ride(3)
    hr = hr.copy()
    power = power.copy()
    hr[300:360] = np.nan  # the band dropped out for a minute
    power[500:510] = np.nan  # the power meter missed ten packets
    fit = fit_kinetics(hr, power)
    assert fit is not None
    assert fit.params.gain == pytest.approx(response.gain_bpm_per_w, rel=0.1)


def test_fit_rest_moves_only_the_level() -> None:
    response, hr, power = _ride(4)
    fit = fit_kinetics(hr, power)
    assert fit is not None
    shifted = fit_rest(fit.params, hr[:600] + 8.0, power[:600])
    assert shifted is not None
    assert shifted.gain == fit.params.gain and shifted.tau_s == fit.params.tau_s
    assert shifted.rest_bpm == pytest.approx(fit.params.rest_bpm + 8.0, abs=2.5)


def test_speed_kinetics_for_a_runner() -> None:
    truth = KineticsParams(rest_bpm=65.0, gain=22.0, tau_s=45.0, delay_s=4, effort_kind="speed")
    rng = np.random.default_rng(5)
    speed = np.repeat(rng.uniform(1.2, 3.8, 14), 150)
    hr = np.concatenate([[95.0], predict(truth, 95.0, speed[1:], past_effort=speed[:1])])
    hr = hr + rng.normal(0, 1.0, len(hr))
    fit = fit_kinetics(hr, speed, effort_kind="speed")
    assert fit is not None
    assert fit.params.effort_kind == "speed"
    assert fit.params.gain == pytest.approx(22.0, rel=0.05)
    assert fit.params.tau_s == pytest.approx(45.0, rel=0.25)


def test_working_minutes_count_only_effort() -> None:
    minutes = working_minutes([0, 100, 100, 0, 100], start_min=1.0)
    assert minutes == pytest.approx([1.0, 1.0, 1 + 1 / 60, 1 + 2 / 60, 1 + 2 / 60])


def test_params_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        KineticsParams(70.0, 0.0, 40.0, 5)
    with pytest.raises(ValueError):
        KineticsParams(70.0, 0.3, 40.0, 5, effort_kind="cadence")
