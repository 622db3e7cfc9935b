import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge.commands import calibrate as calibrate_command
from edge.errors import ModelError
from edge.health.calibrate import calibrate_sessions, estimate_profile, fit_head, format_report
from edge.health.calibration import HEAD_INPUTS, Calibration, default_calibration_path
from edge.health.features import FEATURE_NAMES, OUTPUT_NAMES, build_windows
from edge.health.model import HealthModel
from edge.profile import Profile
from edge.sources.simulator import simulate_sessions
from firmware_bridge.simulator import Athlete

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "models"
#: Fitter than the defaults say: resting 48 (profile: 60), max 200 (profile: 208 - 0.7 x 40).
PERSON = Athlete(age=40, resting_hr=48.0, max_hr=200.0, fitness=0.7)


@pytest.fixture(scope="module")
def sessions():
    return simulate_sessions(PERSON, 8, seed=3, max_duration_s=1800)


@pytest.fixture(scope="module")
def model():
    with HealthModel.load(COMMITTED) as m:
        yield m


@pytest.fixture(scope="module")
def result(sessions, model):
    return calibrate_sessions(sessions, model, Profile(name="sim"), person="sim")


def test_measured_parameters_move_towards_the_truth(sessions):
    profile, how = estimate_profile(sessions, Profile())
    assert abs(profile.resting_hr - PERSON.resting_hr) < abs(60.0 - PERSON.resting_hr)
    assert profile.max_hr is not None and profile.effective_max_hr > Profile().effective_max_hr
    assert abs(profile.effective_max_hr - PERSON.max_hr) < 12
    assert how["max_hr"]["after"] == profile.effective_max_hr
    # No evidence: a profile whose max is above anything seen keeps it.
    high = Profile(max_hr=215.0)
    assert estimate_profile(sessions, high)[0].max_hr == 215.0


@pytest.mark.slow
def test_calibration_improves_the_held_out_sessions(result):
    report = result.report
    assert report["sessions"]["held_out"] == ["session 7", "session 8"]
    horizons = report["horizons"]
    assert set(horizons) == {"10", "30", "60"}
    for h in ("30", "60"):
        assert horizons[h]["after"] < horizons[h]["before"], horizons
    assert all(row["n"] > 100 for row in horizons.values())


def test_the_saved_calibration_is_applied_by_the_model(result, model, sessions, tmp_path):
    path = result.calibration.save(tmp_path / "calibration.json")
    data = json.loads(path.read_text())
    assert data["head"]["inputs"] == list(HEAD_INPUTS)
    assert data["model_sha256"] == model.model_sha256
    calib = Calibration.load(path)
    assert calib.weights == result.calibration.weights
    x = build_windows(sessions[-1], Profile(), list(range(100, len(sessions[-1]), 50)))
    with HealthModel.load(COMMITTED, calibration=path) as calibrated:
        assert calibrated.calibration is not None
        got = calibrated.predict_array(x)
        bare = calibrated.predict_array(x, calibrated=False)
        forecasts = calibrated.predict_batch(x[:2])
        pair = calibrated.predict_array(x[:2])
    xa = calib.windows(x)
    np.testing.assert_allclose(got, calib.correct(model.predict_array(xa, calibrated=False), xa))
    assert not np.allclose(got, bare)
    assert forecasts[0].hr_30s == pytest.approx(pair[0, 1])


def test_an_identity_calibration_changes_only_the_profile(model, sessions):
    x = build_windows(sessions[0], Profile(), [200, 400])
    same = Calibration.identity("x", Profile())
    with HealthModel.load(COMMITTED, calibration=same) as m:
        np.testing.assert_allclose(m.predict_array(x), model.predict_array(x), atol=1e-9)


def test_a_calibration_for_another_model_is_refused(result, tmp_path):
    other = replace(result.calibration, model_sha256="0" * 64)
    path = other.save(tmp_path / "calibration.json")
    with pytest.raises(ModelError, match="another health model"):
        HealthModel.load(COMMITTED, calibration=path)


def test_a_damaged_calibration_is_a_model_error(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text("{not json")
    with pytest.raises(ModelError, match="calibrate"):
        HealthModel.load(COMMITTED, calibration=path)
    with pytest.raises(ModelError, match="no calibration"):
        HealthModel.load(COMMITTED, calibration=tmp_path / "missing.json")


def test_the_head_falls_back_to_the_model_without_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 60, len(FEATURE_NAMES))).astype(np.float32)
    bpm = rng.normal(size=(5, len(OUTPUT_NAMES)))
    w = fit_head(bpm, x, np.full((5, 3), np.nan))
    identity = Calibration.identity("x", Profile()).weight_array
    np.testing.assert_array_equal(w, identity)
    # A few windows move it only a little from the identity (the ridge).
    x[:, -1, 0] = 120.0
    x[:, -1, 1] = 0.5
    w = fit_head(120.0 + bpm, x, 120.0 + rng.normal(size=(5, 3)) * 3)
    assert np.abs(w - identity).max() < 0.2


def write_csv(path: Path, session) -> None:
    rows = ["time,hr,cadence,speed"]
    for s in session:
        hr = "" if s.hr_bpm is None else f"{s.hr_bpm:.0f}"
        rows.append(f"{s.t},{hr},{s.cadence_spm},{s.speed_mps}")
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.slow
def test_calibrate_cli_writes_the_file_and_reports(sessions, tmp_path, capsys):
    folder = tmp_path / "history"
    folder.mkdir()
    for i, session in enumerate(sessions[:4]):
        write_csv(folder / f"2026-01-0{i + 1}.csv", session[:900])
    (folder / "broken.fit").write_bytes(b"\x00" * 100)
    parser = argparse.ArgumentParser()
    calibrate_command.configure(parser)
    out = tmp_path / "state" / "calibration.json"
    args = parser.parse_args(
        [
            str(folder),
            "--person",
            "ann",
            "--out",
            str(out),
            "--json",
            "--models-dir",
            str(COMMITTED),
        ]
    )
    assert calibrate_command.run(args, None) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["person"] == "ann" and report["saved"] == str(out)
    assert report["sessions"]["held_out"] == ["2026-01-04.csv"]
    assert [s["file"] for s in report["skipped"]] == ["broken.fit"]
    assert Calibration.load(out).person == "ann"
    text = format_report(report)
    assert "held back 1 latest session" in text and "broken.fit" in text


def test_default_path_is_in_the_state_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert (
        default_calibration_path("ann b") == tmp_path / "edgecoach" / "ann_b" / "calibration.json"
    )
