import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.commands import eval as eval_command
from edge.health.evaluate import evaluate_folder, format_report
from edge.health.model import HealthModel
from edge.settings import Settings

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "models"
REAL_FILES = ("activity-small-fenix2-run.fit", "sample-activity-indoor-trainer.fit")


def write_csv(path: Path, seconds: int, *, seed: int = 0) -> None:
    """A plausible 1 Hz run: warm-up, a harder block, an easy end; some empty HR cells."""
    rng = np.random.default_rng(seed)
    lines = ["time,hr,cadence,speed"]
    hr = 95.0
    for t in range(seconds):
        goal = 150.0 if seconds // 3 <= t < 2 * seconds // 3 else 120.0
        hr += (goal - hr) / 40.0 + rng.normal(0, 0.6)
        cell = "" if rng.random() < 0.03 else f"{hr:.0f}"
        lines.append(f"{t},{cell},{170 if goal > 130 else 160},{3.5 if goal > 130 else 2.8}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def folder(tmp_path, shared_workouts):
    dest = tmp_path / "workouts"
    dest.mkdir()
    for name in REAL_FILES:
        shutil.copyfile(shared_workouts / name, dest / name)
    (dest / "garbage.fit").write_bytes(np.random.default_rng(1).bytes(4096))
    write_csv(dest / "tempo.csv", 900)
    (dest / "tiny.csv").write_text("time,hr\n0,100\n1,101\n2,102\n")
    return dest


@pytest.fixture(scope="module")
def model():
    with HealthModel.load(COMMITTED) as m:
        yield m


@pytest.mark.shared_data
def test_eval_skips_bad_files_and_scores_the_rest(folder, model):
    result = evaluate_folder(folder, model)
    assert set(result) == {"files", "skipped", "horizons", "planned"}
    assert result["files"] == 3  # two real FIT files and the CSV
    skipped = {s["file"]: s["reason"] for s in result["skipped"]}
    assert set(skipped) == {"garbage.fit", "tiny.csv"}
    assert "FIT" in skipped["garbage.fit"]
    assert "not enough heart rate" in skipped["tiny.csv"]
    for item in result["skipped"]:
        assert set(item) == {"file", "reason"}
    assert set(result["horizons"]) == {"10", "30", "60"}
    for row in result["horizons"].values():
        assert set(row) == {"model", "persistence"}
        assert 0 < row["model"] < 20 and 0 < row["persistence"] < 20
    json.dumps(result)  # plain JSON types only
    text = format_report(result)
    assert "+ 30 s" in text and "garbage.fit" in text


@pytest.mark.shared_data
def test_model_and_persistence_are_scored_on_the_same_seconds(folder, model):
    class Persistence:
        def predict_array(self, windows):
            return np.repeat(windows[:, -1, :1].astype(np.float64), 4, axis=1)

    result = evaluate_folder(folder, Persistence())  # type: ignore[arg-type]
    for row in result["horizons"].values():
        assert row["model"] == pytest.approx(row["persistence"], abs=1e-9)


@pytest.mark.shared_data
def test_eval_cli_prints_json(folder, capsys):
    parser = argparse.ArgumentParser()
    eval_command.configure(parser)
    args = parser.parse_args(["hr", str(folder), "--json", "--models-dir", str(COMMITTED)])
    assert eval_command.run(args, Settings()) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["files"] == 3 and len(out["skipped"]) == 2
    assert out["planned"]["power"]["files"] == 1  # the indoor trainer has power
    args = parser.parse_args(
        ["hr", str(folder), "--json", "--live-only", "--models-dir", str(COMMITTED)]
    )
    assert eval_command.run(args, Settings()) == 0
    assert "planned" not in json.loads(capsys.readouterr().out)


def test_an_empty_folder_gives_no_figures(tmp_path, model):
    result = evaluate_folder(tmp_path, model)
    assert result == {
        "files": 0,
        "skipped": [],
        "horizons": {h: {"model": None, "persistence": None} for h in ("10", "30", "60")},
        "planned": {
            kind: {
                "files": 0,
                "kinetics_fitted": None,
                "horizons": {
                    h: {"model": None, "persistence": None, "kinetics": None}
                    for h in ("10", "30", "60")
                },
            }
            for kind in ("power", "speed")
        },
    }
    assert "0 file" in format_report(result)
