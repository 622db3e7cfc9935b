import argparse
import json
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edge.artifacts import Manifest, record
from edge.errors import ExportError
from edge.health.features import FEATURE_NAMES, OUTPUT_NAMES, WINDOW_S, Normalisation
from edge.health.model import MODEL_FILE, NORMALISATION_FILE, HealthModel
from export.health import cli
from export.health._stage import CHECKPOINT_FILE, VERIFY_FILE, WINDOWS_FILE, meta_path
from export.health.net import load_checkpoint
from export.health.pipeline import MODEL_CARD, run_pipeline
from export.health.prepare import load_windows
from export.health.train import predict_bpm
from export.health.verify import TOLERANCE_BPM, verify

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("health-export")
    work, models = root / "work", root / "models"
    models.mkdir()
    # Another artefact already in the manifest must survive the export.
    other = models / "narrator.gguf"
    other.write_bytes(b"GGUF not really")
    record(models, other, "narrator-model", "test")
    start = time.perf_counter()
    summary = run_pipeline(work, models, seed=0, quick=True)
    return work, models, summary, time.perf_counter() - start


def test_quick_pipeline_is_quick(quick_run):
    *_, wall = quick_run
    assert wall < 45


@pytest.mark.parametrize("output", [WINDOWS_FILE, CHECKPOINT_FILE, MODEL_FILE, VERIFY_FILE])
def test_every_stage_writes_its_output_and_meta(quick_run, output):
    work, *_ = quick_run
    assert (work / output).is_file()
    meta = json.loads(meta_path(work / output).read_text())
    for key in ("stage", "inputs", "seed", "sizes", "metrics", "versions", "wall_s"):
        assert key in meta, key
    assert meta["seed"] == 0
    assert meta["versions"]["torch"].startswith("2.13")
    assert meta["output"]["bytes"] == (work / output).stat().st_size


def test_stages_record_their_inputs_by_hash(quick_run):
    work, *_ = quick_run
    train_meta = json.loads(meta_path(work / CHECKPOINT_FILE).read_text())
    windows_meta = json.loads(meta_path(work / WINDOWS_FILE).read_text())
    assert train_meta["inputs"]["windows"]["sha256"] == windows_meta["output"]["sha256"]
    assert train_meta["metrics"]["history"]


def test_onnx_graph_has_named_dynamic_axes_and_a_recent_opset(quick_run):
    work, *_ = quick_run
    model = onnx.load(str(work / MODEL_FILE))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    (inp,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", "time", len(FEATURE_NAMES)]
    (out,) = model.graph.output
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert dims == ["batch", len(OUTPUT_NAMES)]
    assert "LSTM" in {n.op_type for n in model.graph.node}


def test_onnx_matches_torch_on_held_out_windows(quick_run):
    work, *_ = quick_run
    report = json.loads((work / VERIFY_FILE).read_text())
    assert report["tolerance_bpm"] == TOLERANCE_BPM
    assert {"held_out", "batch_1", "time_30s", "time_90s"} <= set(report["parity"])
    assert all(c["max_abs_diff_bpm"] <= TOLERANCE_BPM for c in report["parity"].values())
    # And independently of verify: torch and ONNX Runtime, side by side.
    net, ckpt = load_checkpoint(work / CHECKPOINT_FILE)
    norm = Normalisation.from_json(ckpt["normalisation"])
    x, _, _ = load_windows(work / WINDOWS_FILE, "test")
    session = ort.InferenceSession(str(work / MODEL_FILE), providers=["CPUExecutionProvider"])
    (z,) = session.run(None, {"window": norm.inputs(x[:100])})
    np.testing.assert_allclose(
        norm.outputs_to_bpm(z, x[:100]), predict_bpm(net, norm, x[:100]), atol=TOLERANCE_BPM
    )


def test_held_out_metrics_are_reported_against_persistence(quick_run):
    *_, summary, _ = quick_run
    assert set(summary["held_out_mae"]) == set(OUTPUT_NAMES)
    for row in summary["held_out_mae"].values():
        assert row["n"] > 0
        assert 0 < row["model_mae_bpm"] < 40 and 0 < row["persistence_mae_bpm"] < 40


def test_manifest_is_updated_and_keeps_other_entries(quick_run):
    _, models, *_ = quick_run
    manifest = Manifest.load(models)
    assert manifest.entries[MODEL_FILE].kind == "health-model"
    assert manifest.entries[NORMALISATION_FILE].kind == "normalisation"
    assert manifest.entries["narrator.gguf"].kind == "narrator-model"
    assert "quick" in manifest.entries[MODEL_FILE].source
    manifest.verified_path(MODEL_FILE)
    manifest.verified_path(NORMALISATION_FILE)
    card = (models / MODEL_CARD).read_text()
    assert "Quick build" in card and "persistence" in card


def test_installed_model_loads_and_predicts(quick_run):
    work, models, *_ = quick_run
    x, _, _ = load_windows(work / WINDOWS_FILE, "test")
    with HealthModel.load(models) as model:
        forecasts = model.predict_batch(x[:5])
    assert len(forecasts) == 5
    assert all(30 < f.hr_30s < 230 for f in forecasts)


def test_a_stage_reruns_alone(quick_run, tmp_path):
    work, *_ = quick_run
    out = verify(work / CHECKPOINT_FILE, work / MODEL_FILE, work / WINDOWS_FILE, tmp_path)
    again = json.loads(out.read_text())
    first = json.loads((work / VERIFY_FILE).read_text())
    assert again["held_out_mae"] == first["held_out_mae"]
    assert meta_path(out).is_file()


def test_verify_raises_export_error_when_onnx_drifts(quick_run, tmp_path):
    work, *_ = quick_run
    model = onnx.load(str(work / MODEL_FILE))
    init = max(model.graph.initializer, key=lambda t: len(t.raw_data) or len(t.float_data))
    values = onnx.numpy_helper.to_array(init) * 1.05
    init.CopyFrom(onnx.numpy_helper.from_array(values.astype(np.float32), init.name))
    drifted = tmp_path / MODEL_FILE
    onnx.save(model, str(drifted))
    (tmp_path / NORMALISATION_FILE).write_bytes((work / NORMALISATION_FILE).read_bytes())
    with pytest.raises(ExportError, match="drifts"):
        verify(work / CHECKPOINT_FILE, drifted, work / WINDOWS_FILE, tmp_path / "v")


def test_cli_parser_flags_and_defaults():
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    args = parser.parse_args([])
    assert args.seed == 0 and args.quick is False and args.models_dir is None
    assert args.work_dir.name == "export-health"
    args = parser.parse_args(["--work-dir", "w", "--models-dir", "m", "--seed", "3", "--quick"])
    assert (str(args.work_dir), str(args.models_dir), args.seed, args.quick) == ("w", "m", 3, True)


def test_cli_runs_the_quick_pipeline(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    args = parser.parse_args(
        [
            "--work-dir",
            str(tmp_path / "w"),
            "--models-dir",
            str(tmp_path / "m"),
            "--quick",
            "--seed",
            "1",
        ]
    )
    assert cli.run(args) == 0
    assert "installed" in capsys.readouterr().out
    assert Manifest.load(tmp_path / "m").entries[MODEL_FILE].source.endswith("(seed 1, quick)")


def test_windows_have_the_runtime_shape(quick_run):
    work, *_ = quick_run
    x, target, mask = load_windows(work / WINDOWS_FILE, "train")
    assert x.shape[1:] == (WINDOW_S, len(FEATURE_NAMES)) and x.dtype == np.float32
    assert target.shape == (len(x), len(OUTPUT_NAMES)) and mask.shape == target.shape
    assert (x[:, :, FEATURE_NAMES.index("pad")] == 1).any()  # short histories are in there
    assert (x[:, :, FEATURE_NAMES.index("hr_gap")] == 1).any()  # and gaps


@pytest.mark.shared_data
def test_fit_reader_reads_a_real_run(shared_workouts):
    pytest.importorskip("fitdecode")
    from export.health.fit_eval import read_fit, recording_windows

    rec = read_fit(shared_workouts / "activity-small-fenix2-run.fit")
    assert rec.sport == "running"
    samples = [s for stretch in rec.stretches for s in stretch]
    with_hr = [s for s in samples if s.hr_bpm is not None]
    assert len(with_hr) > 2500
    cadence = np.median([s.cadence_spm for s in samples if s.cadence_spm])
    assert 140 < cadence < 200  # strides per minute doubled into steps per minute
    x, target = recording_windows(rec)
    assert x.shape[1:] == (WINDOW_S, len(FEATURE_NAMES)) and len(target) == len(x)


@pytest.mark.shared_data
def test_fit_reader_survives_a_truncated_file(shared_workouts):
    pytest.importorskip("fitdecode")
    from export.health.fit_eval import read_fit

    rec = read_fit(shared_workouts / "nick.fit")
    assert sum(len(s) for s in rec.stretches) > 10000
