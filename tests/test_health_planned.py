"""Health model v2: power and a planned effort as inputs, the kinetics baseline, and the
``"planned"`` scores of `edgecoach eval hr`."""

import json
from pathlib import Path

import numpy as np
import pytest

from edge.health.baseline import kinetics_forecasts
from edge.health.evaluate import evaluate_folder, format_report
from edge.health.features import (
    FEATURE_NAMES,
    PlannedEffort,
    build_window,
    build_windows,
    future_plan,
)
from edge.health.model import HealthModel
from edge.profile import Profile
from edge.stream.readings import AlignedSample
from firmware_bridge.power_kinetics import SimulatedRider, random_rider
from firmware_bridge.simulator import random_athlete

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "models"
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def sample(t: int, hr: float | None, power: float | None = None, speed: float | None = None):
    return AlignedSample(
        t=t,
        hr_bpm=hr,
        rr_intervals_s=(),
        cadence_spm=None if power is None else 85.0,
        speed_mps=speed,
        distance_m=None,
        steps=None,
        contact=None,
        hr_gap=hr is None,
        power_w=power,
    )


def rider_ride(seed: int, minutes: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A simulated person on an ERG bike: power steps every 1-3 minutes, heart rate following."""
    rng = np.random.default_rng(seed)
    rider = SimulatedRider(random_rider(rng, random_athlete(rng)), seed=seed)
    power: list[float] = []
    while len(power) < minutes * 60:
        power += [float(rng.uniform(90, 260))] * int(rng.integers(60, 181))
    watts = np.array(power[: minutes * 60])
    hr = np.array([rider.step(p) for p in watts])
    return hr, watts


def write_csv(path: Path, hr: np.ndarray, power: np.ndarray) -> None:
    lines = ["time,hr,power"] + [
        f"{t},{h:.0f},{p:.0f}" for t, (h, p) in enumerate(zip(hr, power, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def model():
    with HealthModel.load(COMMITTED) as m:
        yield m


@pytest.fixture(scope="module")
def erg_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("erg")
    for seed in range(3):
        write_csv(folder / f"erg{seed}.csv", *rider_ride(seed))
    return folder


@pytest.fixture(scope="module")
def random_walk_folder(tmp_path_factory):
    """Heart rate that wanders on its own while the power changes: nothing to learn from it."""
    folder = tmp_path_factory.mktemp("walk")
    rng = np.random.default_rng(7)
    for k in range(2):
        n = 2400
        hr = np.clip(130 + np.cumsum(rng.normal(0, 0.8, n)), 90, 185)
        power = np.repeat(rng.uniform(90, 260, n // 90 + 1), 90)[:n]
        write_csv(folder / f"walk{k}.csv", hr, power)
    return folder


# --- inputs --------------------------------------------------------------------------------


def test_a_plan_fills_the_plan_columns_relative_to_the_recent_effort():
    history = [sample(t, 120.0, power=150.0) for t in range(90)]
    plain = build_window(history, Profile())
    assert (plain[:, COL["plan_known"]] == 0).all()
    assert (plain[:, [COL["plan_0_10"], COL["plan_10_30"], COL["plan_30_60"]]] == 0).all()
    plan = PlannedEffort("power", tuple([150.0] * 10 + [300.0] * 50))
    w = build_window(history, Profile(), plan)
    assert (w[:, COL["plan_known"]] == 1).all() and (w[:, COL["plan_power"]] == 1).all()
    assert w[-1, COL["plan_0_10"]] == pytest.approx(0.0)
    assert w[-1, COL["plan_10_30"]] == pytest.approx(1.0)
    assert w[-1, COL["plan_30_60"]] == pytest.approx(1.0)
    # Everything else is the window without a plan.
    others = [i for n, i in COL.items() if not n.startswith("plan_")]
    np.testing.assert_array_equal(w[:, others], plain[:, others])
    assert w[-1, COL["power_level"]] == pytest.approx(1.5)
    assert (w[:, COL["power_gap"]] == 0).all()


def test_a_short_plan_is_held_and_a_bad_one_refused():
    short = PlannedEffort("speed", (2.0, 3.0))
    assert short.slice_means().tolist() == pytest.approx([2.9, 3.0, 3.0])
    with pytest.raises(ValueError, match="power or speed"):
        PlannedEffort("cadence", (1.0,))
    with pytest.raises(ValueError, match="at least one"):
        PlannedEffort("power", ())
    with pytest.raises(ValueError, match="finite"):
        PlannedEffort("power", (float("nan"),))


def test_future_plan_is_what_followed_and_none_where_it_is_unknown():
    history = [sample(t, 120.0, power=float(t)) for t in range(100)]
    plan = future_plan(history, 10, "power")
    assert plan is not None and plan.values[:3] == (11.0, 12.0, 13.0)
    assert len(plan.values) == 60
    no_power = [sample(t, 120.0, speed=3.0) for t in range(100)]
    assert future_plan(no_power, 10, "power") is None
    assert future_plan(no_power, 10, "speed").values[0] == 3.0


def test_build_windows_with_plans_equals_build_window_with_each_plan():
    hr, watts = rider_ride(3, minutes=6)
    history = [
        sample(t, float(h), power=float(p)) for t, (h, p) in enumerate(zip(hr, watts, strict=True))
    ]
    ends = [190, 250, 330]
    plans = [future_plan(history, e, "power") for e in ends]
    plans[1] = None
    batch = build_windows(history, Profile(), ends, plans)
    assert (batch[:, -1, COL["kin_known"]] == 1).all()  # the kinetics columns are in play
    for w, e, p in zip(batch, ends, plans, strict=True):
        np.testing.assert_array_equal(w, build_window(history[: e + 1], Profile(), p))
    with pytest.raises(ValueError, match="plans"):
        build_windows(history, Profile(), ends, plans[:2])


# --- the kinetics baseline ------------------------------------------------------------------


def test_kinetics_baseline_knows_the_coming_power_and_falls_back_to_persistence():
    hr, watts = rider_ride(1)
    ends = np.arange(600, len(hr) - 60, 5)
    planned, fitted = kinetics_forecasts(
        hr, watts, ends, (10, 30, 60), effort_kind="power", planned=True
    )
    assert fitted == 1.0
    persistence = np.abs(hr[ends, None] - hr[ends[:, None] + [10, 30, 60]]).mean(0)
    err = np.abs(planned - hr[ends[:, None] + [10, 30, 60]]).mean(0)
    assert (err[1:] < 0.5 * persistence[1:]).all()
    # No effort measured: no fit, and the baseline says persistence.
    none, fitted = kinetics_forecasts(
        hr, np.full(len(hr), np.nan), ends, (10, 30, 60), effort_kind="power", planned=True
    )
    assert fitted == 0.0
    np.testing.assert_array_equal(none, np.repeat(hr[ends, None], 3, axis=1))


# --- eval hr: "planned" ---------------------------------------------------------------------


def test_eval_adds_planned_scores_per_kind_of_effort(erg_folder, model):
    result = evaluate_folder(erg_folder, model)
    assert set(result) == {"files", "skipped", "horizons", "planned"}
    assert set(result["planned"]) == {"power", "speed"}
    power = result["planned"]["power"]
    assert power["files"] == 3 and power["kinetics_fitted"] > 0.5
    assert set(power["horizons"]) == {"10", "30", "60"}
    for row in power["horizons"].values():
        assert set(row) == {"model", "persistence", "kinetics"}
    speed = result["planned"]["speed"]  # these rides carry no speed
    assert speed["files"] == 0 and speed["horizons"]["30"]["model"] is None
    json.dumps(result)
    text = format_report(result)
    assert "coming power known" in text


def test_planned_forecast_beats_persistence_where_heart_rate_follows_power(erg_folder, model):
    rows = evaluate_folder(erg_folder, model)["planned"]["power"]["horizons"]
    for h in ("30", "60"):
        assert rows[h]["model"] < 0.8 * rows[h]["persistence"], rows
        assert rows[h]["kinetics"] < 0.8 * rows[h]["persistence"], rows


def test_planned_forecast_claims_nothing_on_a_random_walk(random_walk_folder, model):
    rows = evaluate_folder(random_walk_folder, model)["planned"]["power"]["horizons"]
    for h in ("30", "60"):
        assert rows[h]["model"] > 0.9 * rows[h]["persistence"], rows


def test_planned_model_and_persistence_are_scored_on_the_same_seconds(erg_folder):
    class Persistence:
        def predict_array(self, windows):
            return np.repeat(windows[:, -1, :1].astype(np.float64), 4, axis=1)

    result = evaluate_folder(erg_folder, Persistence())  # type: ignore[arg-type]
    for row in result["planned"]["power"]["horizons"].values():
        assert row["model"] == pytest.approx(row["persistence"], abs=1e-9)
