import argparse
import json
import shutil
import time
from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edge.artifacts import Manifest, record
from edge.errors import ExportError
from edge.health.features import FEATURE_NAMES, OUTPUT_NAMES, WINDOW_S, Normalisation
from edge.health.model import FLOAT_MODEL_FILE, MODEL_FILE, NORMALISATION_FILE, HealthModel
from export.health import cli
from export.health._stage import (
    CROSSVAL_FILE,
    HEADROOM_FILE,
    STUDENT_FILE,
    TEACHER_FILE,
    TEACHER_ONNX_FILE,
    VERIFY_FILE,
    WINDOWS_FILE,
    meta_path,
)
from export.health.crossval import assign_folds
from export.health.effort_cv import EFFORT_CV_FILE
from export.health.net import HealthEnsemble, load_checkpoint
from export.health.pipeline import MODEL_CARD, run_pipeline
from export.health.prepare import load_real, load_windows
from export.health.quantise import ARM64_DYNAMIC
from export.health.train import predict_bpm, split_real_files
from export.health.verify import INT8_TOLERANCE, TOLERANCE_BPM, compare_int8, verify

pytestmark = pytest.mark.slow

STAGE_OUTPUTS = [
    (WINDOWS_FILE, "prepare"),
    (TEACHER_FILE, "train"),
    (STUDENT_FILE, "distil"),
    (FLOAT_MODEL_FILE, "onnx_export"),
    (TEACHER_ONNX_FILE, "onnx_export"),
    (MODEL_FILE, "quantise"),
    (VERIFY_FILE, "verify"),
]


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
    assert wall < 30


@pytest.mark.parametrize(("output", "stage"), STAGE_OUTPUTS)
def test_every_stage_writes_its_output_and_meta(quick_run, output, stage):
    work, *_ = quick_run
    assert (work / output).is_file()
    meta = json.loads(meta_path(work / output).read_text())
    for key in ("stage", "inputs", "seed", "sizes", "metrics", "versions", "wall_s"):
        assert key in meta, key
    assert meta["stage"] == stage
    assert meta["seed"] == 0
    assert meta["versions"]["torch"].startswith("2.13")
    assert meta["output"]["bytes"] == (work / output).stat().st_size


def test_stages_record_their_inputs_by_hash(quick_run):
    work, *_ = quick_run
    sha = {
        name: json.loads(meta_path(work / name).read_text())["output"]["sha256"]
        for name, _ in STAGE_OUTPUTS
    }
    train_meta = json.loads(meta_path(work / TEACHER_FILE).read_text())
    distil_meta = json.loads(meta_path(work / STUDENT_FILE).read_text())
    quant_meta = json.loads(meta_path(work / MODEL_FILE).read_text())
    assert train_meta["inputs"]["windows"]["sha256"] == sha[WINDOWS_FILE]
    assert distil_meta["inputs"]["teacher"]["sha256"] == sha[TEACHER_FILE]
    assert quant_meta["inputs"]["float_model"]["sha256"] == sha[FLOAT_MODEL_FILE]
    for meta in (train_meta, distil_meta):
        assert meta["metrics"]["members"]
        assert all(member["history"] for member in meta["metrics"]["members"])


def test_the_student_is_smaller_than_its_teacher(quick_run):
    work, *_ = quick_run
    teacher, _ = load_checkpoint(work / TEACHER_FILE)
    student, ckpt = load_checkpoint(work / STUDENT_FILE)
    assert teacher.layers == 2 and student.layers == 1
    assert student.n_parameters < teacher.n_parameters / 2
    assert ckpt["role"] == "student"
    t_norm = Normalisation.from_json(load_checkpoint(work / TEACHER_FILE)[1]["normalisation"])
    s_norm = Normalisation.from_json(ckpt["normalisation"])
    assert s_norm.input_mean == t_norm.input_mean and s_norm.output_std == t_norm.output_std
    # Each member's gains live in the graph; the shared normalisation applies none.
    assert s_norm.output_gain == (1.0,) * len(OUTPUT_NAMES)
    for member in ckpt["members"]:
        gains = Normalisation.from_json(member["normalisation"]).output_gain
        assert all(0.0 <= g <= 1.0 for g in gains)


def test_the_ensemble_is_the_mean_of_its_members_each_with_its_own_normalisation(quick_run):
    work, *_ = quick_run
    ensemble, ckpt = load_checkpoint(work / STUDENT_FILE)
    assert len(ensemble.members) == len(ckpt["members"]) == 2
    assert [m["seed"] for m in ckpt["members"]] == [0, 1]
    # Members whose statistics, gains and anchors all differ, as seeds and validation files
    # make them on the real export: the graph must map the shared inputs to each one's.
    base = Normalisation.from_json(ckpt["members"][0]["normalisation"])
    rng = np.random.default_rng(0)
    n_out = len(OUTPUT_NAMES)
    norms = [
        base,
        replace(
            base,
            input_mean=tuple(
                m + 0.1 * s for m, s in zip(base.input_mean, base.input_std, strict=True)
            ),
            input_std=tuple(s * 1.3 for s in base.input_std),
            output_mean=tuple(rng.uniform(-0.5, 0.5, n_out)),
            output_std=tuple(s * 0.8 for s in base.output_std),
            output_gain=tuple(rng.uniform(0, 1, n_out)),
            output_gain_power=tuple(rng.uniform(0, 1, n_out)),
            output_gain_speed=tuple(rng.uniform(0, 1, n_out)),
            reversion=(-0.2, -0.4, 0.1, 0.0),
        ),
    ]
    nets = list(ensemble.members)
    x = np.concatenate([load_windows(work / WINDOWS_FILE, s)[0] for s in ("train", "test")])
    last = x[:, -1]
    planned = last[:, FEATURE_NAMES.index("plan_known")] > 0.5
    power = planned & (last[:, FEATURE_NAMES.index("plan_power")] > 0.5)
    kinetics = power & (last[:, FEATURE_NAMES.index("kin_known")] > 0.5)
    assert kinetics.any() and (planned & ~power).any() and (~planned).any()
    assert np.abs(last[:, FEATURE_NAMES.index("hr_vs_recent")]).max() > 1.0
    each = [predict_bpm(net, norm, x) for net, norm in zip(nets, norms, strict=True)]
    assert np.abs(each[0] - each[1]).max() > 1.0
    mixed = HealthEnsemble(list(zip(nets, norms, strict=True)))
    np.testing.assert_allclose(
        predict_bpm(mixed, mixed.normalisation, x), np.mean(each, axis=0), atol=1e-3
    )


@pytest.mark.parametrize("name", [FLOAT_MODEL_FILE, MODEL_FILE, TEACHER_ONNX_FILE])
def test_onnx_graphs_have_named_dynamic_axes_and_a_recent_opset(quick_run, name):
    work, *_ = quick_run
    model = onnx.load(str(work / name))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    (inp,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", "time", len(FEATURE_NAMES)]
    (out,) = model.graph.output
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert dims == ["batch", len(OUTPUT_NAMES)]
    ops = {n.op_type for n in model.graph.node}
    assert ("DynamicQuantizeLSTM" if name == MODEL_FILE else "LSTM") in ops


def test_onnx_matches_torch_on_held_out_windows(quick_run):
    work, *_ = quick_run
    report = json.loads((work / VERIFY_FILE).read_text())
    assert report["tolerance_bpm"] == TOLERANCE_BPM
    for role in ("teacher", "student_float"):
        checks = report["parity"][role]
        assert {"held_out", "batch_1", "time_30s", "time_90s"} <= set(checks)
        assert all(c["max_abs_diff_bpm"] <= TOLERANCE_BPM for c in checks.values())
    # And independently of verify: torch and ONNX Runtime, side by side.
    net, ckpt = load_checkpoint(work / STUDENT_FILE)
    norm = Normalisation.from_json(ckpt["normalisation"])
    x, _, _ = load_windows(work / WINDOWS_FILE, "test")
    session = ort.InferenceSession(str(work / FLOAT_MODEL_FILE), providers=["CPUExecutionProvider"])
    (z,) = session.run(None, {"window": norm.inputs(x[:100])})
    np.testing.assert_allclose(
        norm.outputs_to_bpm(z, x[:100]), predict_bpm(net, norm, x[:100]), atol=TOLERANCE_BPM
    )


def test_int8_is_verified_against_the_float_student(quick_run):
    work, *_ = quick_run
    report = json.loads((work / VERIFY_FILE).read_text())
    int8 = report["int8_vs_float"]
    assert int8["tolerance"] == INT8_TOLERANCE == 0.03
    assert set(int8["held_out_sim"]) == {"10", "30", "60"}
    for row in int8["held_out_sim"].values():
        assert row["relative_difference"] <= INT8_TOLERANCE
    quant = json.loads(meta_path(work / MODEL_FILE).read_text())
    assert quant["settings"]["config"] == json.loads(json.dumps(ARM64_DYNAMIC))
    assert quant["settings"]["tool"]
    assert "DynamicQuantizeLSTM" in quant["metrics"]["operators"]


def test_int8_drift_past_the_tolerance_is_an_export_error():
    rng = np.random.default_rng(0)
    x = rng.normal(120, 10, size=(50, WINDOW_S, len(FEATURE_NAMES)))
    target = rng.normal(120, 10, size=(50, 4))
    mask = np.ones((50, 4), bool)
    float_bpm = target + rng.normal(0, 2, size=target.shape)
    compare_int8(float_bpm, float_bpm + 0.01, target, mask, x, "test windows")
    with pytest.raises(ExportError, match="int8"):
        compare_int8(float_bpm, float_bpm + 1.0, target, mask, x, "test windows")


def test_held_out_metrics_are_reported_against_persistence(quick_run):
    *_, summary, _ = quick_run
    for role in ("teacher", "student_float", "student_int8"):
        assert set(summary["held_out_mae"][role]) == set(OUTPUT_NAMES)
        for row in summary["held_out_mae"][role].values():
            assert row["n"] > 0
            assert 0 < row["model_mae_bpm"] < 40 and 0 < row["persistence_mae_bpm"] < 40
    for role in ("teacher", "student_float", "student_int8"):
        lat = summary["models"][role]["latency_batch1"]
        assert 0 < lat["p50_ms"] <= lat["p99_ms"]


def test_manifest_is_updated_and_keeps_other_entries(quick_run):
    _, models, *_ = quick_run
    manifest = Manifest.load(models)
    assert manifest.entries[MODEL_FILE].kind == "health-model"
    assert manifest.entries[FLOAT_MODEL_FILE].kind == "health-model-float"
    assert manifest.entries[NORMALISATION_FILE].kind == "normalisation"
    assert manifest.entries["narrator.gguf"].kind == "narrator-model"
    assert "quick" in manifest.entries[MODEL_FILE].source
    for name in (MODEL_FILE, FLOAT_MODEL_FILE, NORMALISATION_FILE):
        manifest.verified_path(name)
    card = (models / MODEL_CARD).read_text()
    assert "Quick build" in card and "persistence" in card and "int8" in card


def test_installed_models_load_and_predict(quick_run):
    work, models, *_ = quick_run
    x, _, _ = load_windows(work / WINDOWS_FILE, "test")
    for variant in ("int8", "float"):
        with HealthModel.load(models, variant=variant) as model:
            forecasts = model.predict_batch(x[:5])
            assert model.variant == variant
        assert len(forecasts) == 5
        assert all(30 < f.hr_30s < 230 for f in forecasts)


def test_a_stage_reruns_alone(quick_run, tmp_path):
    work, *_ = quick_run
    out = verify(
        work / TEACHER_FILE,
        work / TEACHER_ONNX_FILE,
        work / STUDENT_FILE,
        work / FLOAT_MODEL_FILE,
        work / MODEL_FILE,
        work / WINDOWS_FILE,
        tmp_path,
        latency_calls=5,
    )
    again = json.loads(out.read_text())
    first = json.loads((work / VERIFY_FILE).read_text())
    assert again["held_out_mae"] == first["held_out_mae"]
    assert meta_path(out).is_file()


def test_verify_raises_export_error_when_onnx_drifts(quick_run, tmp_path):
    work, *_ = quick_run
    model = onnx.load(str(work / FLOAT_MODEL_FILE))
    (init,) = [t for t in model.graph.initializer if t.name == "members.0.head.2.bias"]
    values = onnx.numpy_helper.to_array(init) + 1.0  # one normalised unit on every output
    init.CopyFrom(onnx.numpy_helper.from_array(values.astype(np.float32), init.name))
    drifted = tmp_path / FLOAT_MODEL_FILE
    onnx.save(model, str(drifted))
    shutil.copyfile(work / NORMALISATION_FILE, tmp_path / NORMALISATION_FILE)
    with pytest.raises(ExportError, match="drifts"):
        verify(
            work / TEACHER_FILE,
            work / TEACHER_ONNX_FILE,
            work / STUDENT_FILE,
            drifted,
            work / MODEL_FILE,
            work / WINDOWS_FILE,
            tmp_path / "v",
            latency_calls=5,
        )


def test_the_seed_makes_a_run_reproducible(quick_run, tmp_path):
    work, *_ = quick_run
    again = run_pipeline(tmp_path / "w", tmp_path / "m", seed=0, quick=True)
    first = json.loads((work / VERIFY_FILE).read_text())
    assert again["held_out_mae"] == first["held_out_mae"]


def test_the_pipeline_can_start_at_a_later_stage(quick_run, tmp_path):
    work, _, summary, _ = quick_run
    again_work = tmp_path / "work"
    shutil.copytree(work, again_work)
    again = run_pipeline(again_work, tmp_path / "m", seed=0, quick=True, start_at="export")
    assert again["started_at"] == "export"
    assert again["held_out_mae"] == summary["held_out_mae"]
    for name in (WINDOWS_FILE, TEACHER_FILE, STUDENT_FILE):  # reused, not rewritten
        assert (again_work / name).read_bytes() == (work / name).read_bytes()
    with pytest.raises(ValueError, match="start_at"):
        run_pipeline(again_work, tmp_path / "m", quick=True, start_at="distil")


def test_cli_parser_flags_and_defaults():
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    args = parser.parse_args([])
    assert args.seed == 0 and args.quick is False and args.models_dir is None
    assert args.data is None and args.cv_folds is None and args.from_stage == "prepare"
    assert args.work_dir.name == "export-health"
    args = parser.parse_args(
        [
            "--work-dir",
            "w",
            "--models-dir",
            "m",
            "--seed",
            "3",
            "--quick",
            "--data",
            "d",
            "--cv-folds",
            "2",
        ]
    )
    assert (str(args.work_dir), str(args.models_dir), args.seed, args.quick) == ("w", "m", 3, True)
    assert ([str(d) for d in args.data], args.cv_folds) == (["d"], 2)


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


def test_folds_and_validation_files_are_whole_files():
    files = np.repeat(np.arange(6), [500, 300, 200, 200, 100, 100])
    folds = assign_folds(files, 6, 3)
    assert sorted(f for fold in folds for f in fold) == list(range(6))
    assert max(sum(np.sum(files == f) for f in fold) for fold in folds) <= 500
    train, val = split_real_files(files, [0, 1, 2, 3], 0.25, seed=0)
    assert not set(train) & set(val) and sorted(train + val) == [0, 1, 2, 3] and val


@pytest.mark.shared_data
def test_real_data_and_file_level_cross_validation(shared_workouts, tmp_path):
    data = tmp_path / "real"
    data.mkdir()
    for name in (
        "activity-small-fenix2-run.fit",
        "sample-activity-indoor-trainer.fit",
        "developer-types-sample.fit",
    ):
        shutil.copyfile(shared_workouts / name, data / name)
    (data / "broken.fit").write_bytes(b"not a fit file at all")
    summary = run_pipeline(
        tmp_path / "w", tmp_path / "m", quick=True, real_data_dir=data, cv_folds=2
    )
    work = tmp_path / "w"
    x, target, mask, files, names = load_real(work / WINDOWS_FILE)
    assert len(names) == 3 and len(x) == len(files) and not mask[:, 3].any()
    prep = json.loads(meta_path(work / WINDOWS_FILE).read_text())
    assert [s["file"] for s in prep["inputs"]["real_data"]["skipped"]] == ["broken.fit"]
    cv = json.loads((work / CROSSVAL_FILE).read_text())
    assert cv["folds"] == 2 and meta_path(work / CROSSVAL_FILE).is_file()
    held = [set(f["held_out_files"]) for f in cv["per_fold"]]
    assert set.union(*held) == set(names) and not set.intersection(*held)
    for fold in cv["per_fold"]:  # validation files come from the training folds only
        assert not set(fold["validation_files"]) & set(fold["held_out_files"])
    for row in cv["pooled"].values():
        assert row["n"] > 0
        for role in ("teacher", "student_float", "student_int8", "persistence"):
            assert 0 < row[role] < 20
    assert summary["crossval"]["pooled"] == cv["pooled"]
    card = (tmp_path / "m" / MODEL_CARD).read_text()
    assert "cross-validation **by file**" in card
    room = json.loads((work / HEADROOM_FILE).read_text())
    assert room["files"] == 3 and room["folds"] == 2 and meta_path(work / HEADROOM_FILE).is_file()
    assert [s["file"] for s in room["skipped"]] == ["broken.fit"]
    assert summary["headroom"]["horizons"] == room["horizons"]
    assert "| +60 s | " + str(room["horizons"]["60"]["windows"]) in card
    assert room["power_files"]["files"] == 2  # the indoor trainer and the Stryd run
    assert "kinetics_planned" in room["horizons"]["60"]
    effort = json.loads((work / EFFORT_CV_FILE).read_text())
    assert summary["effort_cv"]["planned"] == effort["planned"]
    assert effort["planned"]["power"]["files"] == 2 and effort["live"]["all_files"]["files"] == 3
    for row in effort["planned"]["power"]["horizons"].values():
        assert set(row) >= {"model", "model_float", "persistence", "kinetics", "n"}
    assert "### With effort: live and planned" in card and "planned power +60 s" in card
    assert "real" in summary["int8_vs_float"]


def _windows_with_gap(n: int, gap: np.ndarray, *, power_plan: bool = False) -> np.ndarray:
    x = np.zeros((n, WINDOW_S, len(FEATURE_NAMES)), np.float32)
    x[:, :, FEATURE_NAMES.index("hr_bpm")] = 140.0
    x[:, :, FEATURE_NAMES.index("hr_vs_recent")] = gap[:, None]
    if power_plan:
        for name in ("plan_known", "plan_power", "kin_known"):
            x[:, :, FEATURE_NAMES.index(name)] = 1.0
        x[:, :, FEATURE_NAMES.index("kin_60")] = 7.0
    return x


def test_the_reversion_is_fitted_where_persistence_is_the_anchor_and_used_only_there():
    """A heart 20 bpm above its ten-minute mean that comes back 30 % of the way by +60 s: the
    fitted factor at +60 s says so, and the anchor uses it on windows without a plan in watts."""
    from edge.health.features import forecast_anchor
    from export.health.train import fit_reversion

    rng = np.random.default_rng(0)
    gap = rng.uniform(-20, 20, 4000)
    x = _windows_with_gap(len(gap), gap)
    change = np.stack([-0.05 * gap, -0.15 * gap, -0.3 * gap, np.zeros_like(gap)], axis=1)
    target = 140.0 + change + rng.laplace(0, 2, change.shape)
    mask = np.ones_like(target, dtype=bool)
    reversion = fit_reversion(x, target, mask, np.ones(len(gap), np.float32))
    assert reversion[:3] == pytest.approx([-0.05, -0.15, -0.3], abs=0.03)
    assert reversion[3] == 0.0

    anchor = forecast_anchor(x[:2], reversion)
    np.testing.assert_allclose(anchor[:, 2], 140.0 + reversion[2] * gap[:2], atol=1e-4)
    planned = _windows_with_gap(2, gap[:2], power_plan=True)
    np.testing.assert_allclose(forecast_anchor(planned, reversion)[:, 2], 147.0)
    norm = Normalisation.from_json(
        Normalisation.fit(x, change.astype(np.float32), mask).with_reversion(reversion).to_json()
    )
    assert norm.reversion == pytest.approx(reversion)
