"""The headroom analysis tells a learnable folder from one whose future is not in its inputs."""

import json

import numpy as np
import pytest

from edge.cli import main
from edge.errors import ExportError
from edge.sources.simulator import to_aligned
from export.health.headroom import (
    Recorded,
    format_report,
    headroom,
    segment_rows,
    segments_of,
)
from firmware_bridge.simulator import random_athlete, random_plan, simulate

pytest.importorskip("torch")


def simulated_folder(n: int) -> list[Recorded]:
    out = []
    for seed in range(n):
        rng = np.random.default_rng(seed)
        seconds = simulate(random_plan(rng), random_athlete(rng), seed=seed)
        out.append(Recorded(f"sim{seed}", segments_of(to_aligned(seconds))))
    return out


def unrelated_folder(n: int) -> list[Recorded]:
    """Heart rate a random walk; cadence and speed change on their own schedule."""
    out = []
    for seed in range(n):
        rng = np.random.default_rng(100 + seed)
        hr = 120 + np.cumsum(rng.normal(0, 0.8, 1500))
        cadence = np.repeat(rng.uniform(150, 180, 15), 100)
        speed = np.repeat(rng.uniform(2, 4, 15), 100)
        out.append(Recorded(f"walk{seed}", ((hr, cadence, speed),)))
    return out


def test_effort_driven_heart_rate_shows_headroom():
    result = headroom(simulated_folder(8), folds=4, mlp_epochs=8, progress=False)
    for horizon in ("30", "60"):
        row = result["horizons"][horizon]
        # In the simulator heart rate follows effort with 30-60 s kinetics: the coming effort
        # explains much of the change, and even the past alone some of it.
        assert row["oracle_ridge_vs_persistence"] < -0.2, row
        assert row["mlp_vs_persistence"] < -0.05, row
        assert row["windows"] > 500


def test_a_random_walk_leaves_nothing_to_learn():
    result = headroom(unrelated_folder(4), folds=4, mlp_epochs=8, progress=False)
    for row in result["horizons"].values():
        for name in ("ridge", "oracle_ridge", "mlp", "oracle_mlp"):
            assert row[f"{name}_vs_persistence"] > -0.05, (name, row)


def test_oracle_features_are_the_seconds_being_forecast():
    hr = np.full(400, 100.0)
    cadence = np.r_[np.full(250, 150.0), np.full(150, 170.0)]
    speed = np.full(400, 3.0)
    causal, future, target, ends = segment_rows(hr, cadence, speed, 30)
    before = ends + 30 <= 250
    after = ends >= 250
    assert np.allclose(future[before], 0.0)
    assert np.all(np.abs(future[~before & ~after]).max(axis=1) > 0)
    assert np.allclose(causal[ends - 120 >= 250][:, :9], 0.0)  # flat heart rate, long after
    assert np.allclose(target, 0.0)


def test_too_few_recordings_is_a_clear_error():
    with pytest.raises(ExportError, match="at least 4 usable recordings"):
        headroom(unrelated_folder(2), folds=4, progress=False)


def test_cli_prints_json_and_skips_a_corrupt_file(tmp_path, capsys):
    for i, rec in enumerate(unrelated_folder(4)):
        hr, cadence, speed = rec.segments[0]
        lines = ["time,hr,cadence,speed"]
        lines += [f"{t},{hr[t]:.1f},{cadence[t]:.0f},{speed[t]:.2f}" for t in range(len(hr))]
        (tmp_path / f"walk{i}.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "broken.fit").write_bytes(b"\x0e\x10garbage")
    assert main(["export", "headroom", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["files"] == 4
    assert [s["file"] for s in result["skipped"]] == ["broken.fit"]
    assert set(result["horizons"]) == {"30", "60"}
    assert "skipped broken.fit: " in format_report(result)


def powered_folder(n: int) -> list[Recorded]:
    """Simulated people on an ERG bike: power steps, heart rate following with its kinetics."""
    from firmware_bridge.power_kinetics import SimulatedRider, random_rider

    out = []
    for seed in range(n):
        rng = np.random.default_rng(300 + seed)
        rider = SimulatedRider(random_rider(rng, random_athlete(rng)), seed=seed)
        power = np.repeat(rng.uniform(90, 260, 20), 120)
        hr = np.array([rider.step(p) for p in power])
        cadence = np.full(len(power), 85.0)
        speed = np.full(len(power), np.nan)
        out.append(Recorded(f"erg{seed}", ((hr, cadence, speed, power),)))
    return out


def test_power_and_the_kinetics_baseline_where_heart_rate_follows_power():
    result = headroom(powered_folder(4), folds=4, mlp_epochs=4, progress=False)
    assert result["power_files"]["files"] == 4
    for horizon in ("30", "60"):
        row = result["horizons"][horizon]
        assert row == result["power_files"]["horizons"][horizon]
        # Physiology given the coming power: most of persistence's error gone.
        assert row["kinetics_planned_vs_persistence"] < -0.5, row
        # The oracles see the coming power as a feature now.
        assert row["oracle_ridge_vs_persistence"] < -0.3, row
        # Live, holding the recent power, physiology does not know the next step either.
        assert row["kinetics_vs_persistence"] > row["kinetics_planned_vs_persistence"]
