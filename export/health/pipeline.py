"""The whole health export: prepare -> train -> onnx_export -> verify -> install.

`run_pipeline` runs every stage into `work_dir`, then installs the ONNX model and its
normalisation into `models_dir`, records both in the manifest, writes ``MODEL_CARD_health.md``
and finally loads the installed model the way the device does (`edge.health.model.HealthModel`)
to check it gives what verify measured.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edge.artifacts import record
from edge.errors import ExportError
from edge.health.features import FEATURE_NAMES, OUTPUT_NAMES, WINDOW_S
from edge.health.model import MODEL_FILE, NORMALISATION_FILE, HealthModel
from export.health import prepare as prepare_stage
from export.health import train as train_stage
from export.health._stage import meta_path, stopwatch, versions, write_json
from export.health.onnx_export import OPSET, export_onnx
from export.health.verify import TOLERANCE_BPM, verify

log = logging.getLogger(__name__)

MODEL_CARD = "MODEL_CARD_health.md"
#: Real recordings beside the checkout, used (when present) for the model card's real-data figures.
REAL_WORKOUTS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "workouts"


def _install(src: Path, models_dir: Path) -> Path:
    dest = models_dir / src.name
    tmp = models_dir / f".{src.name}.tmp"
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    return dest


def _read_json(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text(encoding="utf-8"))


def run_pipeline(
    work_dir: Path,
    models_dir: Path,
    *,
    seed: int = 0,
    quick: bool = False,
    real_data_dir: Path | None = None,
) -> dict[str, Any]:
    """Run every stage and install the model; return a summary (paths, metrics, wall times).

    `quick` makes a small model in seconds (for tests); the default run makes the committed one.
    `real_data_dir` (FIT files) adds real-data figures; by default ``../shared/data/workouts``
    is used when it exists and this is not a quick run.
    """
    work_dir, models_dir = Path(work_dir), Path(models_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    models_dir.mkdir(parents=True, exist_ok=True)
    walls: dict[str, float] = {}
    with stopwatch() as total:
        with stopwatch() as t:
            windows = prepare_stage.prepare(
                work_dir, seed=seed, settings=prepare_stage.QUICK if quick else None
            )
        walls["prepare"] = t[0]
        with stopwatch() as t:
            checkpoint = train_stage.train(
                windows, work_dir, seed=seed, settings=train_stage.QUICK if quick else None
            )
        walls["train"] = t[0]
        with stopwatch() as t:
            onnx_path = export_onnx(checkpoint, work_dir, seed=seed)
        walls["onnx_export"] = t[0]
        with stopwatch() as t:
            report_path = verify(checkpoint, onnx_path, windows, work_dir, seed=seed)
        walls["verify"] = t[0]
        report = _read_json(report_path)

        with stopwatch() as t:
            source = f"edgecoach export health (seed {seed}{', quick' if quick else ''})"
            installed_model = _install(onnx_path, models_dir)
            installed_norm = _install(onnx_path.with_name(NORMALISATION_FILE), models_dir)
            record(models_dir, installed_model, "health-model", source)
            record(models_dir, installed_norm, "normalisation", source)
            model = HealthModel.load(models_dir)
            try:
                x, _, _ = prepare_stage.load_windows(windows, "test")
                device = model.predict_array(x[:256])
                direct = _ort_reference(onnx_path, x[:256])
                diff = float(np.max(np.abs(device - direct)))
                if diff > TOLERANCE_BPM:
                    raise ExportError(
                        f"the installed model in {models_dir} gives other forecasts than the "
                        f"verified one (max |diff| {diff:.3g} bpm)"
                    )
                real = None
                data_dir = real_data_dir or (None if quick else REAL_WORKOUTS)
                if data_dir is not None and Path(data_dir).is_dir():
                    real = _real_data(Path(data_dir), model)
            finally:
                model.close()
        walls["install"] = t[0]

    train_meta = _read_json(meta_path(checkpoint))
    prepare_meta = _read_json(meta_path(windows))
    summary: dict[str, Any] = {
        "seed": seed,
        "quick": quick,
        "work_dir": str(work_dir),
        "models_dir": str(models_dir),
        "outputs": {
            "windows": str(windows),
            "checkpoint": str(checkpoint),
            "onnx": str(onnx_path),
            "verify": str(report_path),
            "installed_model": str(installed_model),
            "installed_normalisation": str(installed_norm),
            "model_card": str(models_dir / MODEL_CARD),
        },
        "held_out_mae": report["held_out_mae"],
        "parity": report["parity"],
        "real_data": real,
        "sizes": {
            **prepare_meta["sizes"],
            "parameters": train_meta["sizes"]["parameters"],
            "onnx_bytes": installed_model.stat().st_size,
        },
        "best_epoch": train_meta["metrics"]["best_epoch"],
        "wall_s": {k: round(v, 2) for k, v in walls.items()} | {"total": round(total[0], 2)},
        "versions": versions(),
    }
    (models_dir / MODEL_CARD).write_text(
        model_card(summary, prepare_meta, train_meta), encoding="utf-8"
    )
    write_json(work_dir / "pipeline.json", summary)
    log.info("health export done in %.1f s: %s", total[0], summary["held_out_mae"])
    return summary


def _ort_reference(onnx_path: Path, x: np.ndarray) -> np.ndarray:
    """The verified work-dir model's forecasts, for checking the installed copy."""
    import onnxruntime as ort

    from edge.health.features import Normalisation
    from edge.health.model import INPUT_NAME, OUTPUT_NAME

    norm = Normalisation.from_json(
        onnx_path.with_name(NORMALISATION_FILE).read_text(encoding="utf-8")
    )
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (z,) = session.run([OUTPUT_NAME], {INPUT_NAME: norm.inputs(x)})
    return norm.outputs_to_bpm(z, x)


def _real_data(data_dir: Path, model: HealthModel) -> dict[str, Any] | None:
    try:
        import fitdecode  # noqa: F401
    except ImportError:
        log.info("fitdecode is not installed: no real-data figures")
        return None
    from export.health.fit_eval import evaluate_dir

    return evaluate_dir(data_dir, model.predict_array)


def _mae_table(mae: dict[str, dict[str, float]]) -> str:
    lines = ["| output | model MAE (bpm) | persistence MAE (bpm) | windows |", "|---|---|---|---|"]
    for name, row in mae.items():
        lines.append(
            f"| {name} | {row['model_mae_bpm']:.2f} | {row['persistence_mae_bpm']:.2f} "
            f"| {row['n']} |"
        )
    return "\n".join(lines)


def model_card(
    summary: dict[str, Any], prepare_meta: dict[str, Any], train_meta: dict[str, Any]
) -> str:
    """The model card's Markdown, from the stages' metadata."""
    sizes = summary["sizes"]
    parity = max(c["max_abs_diff_bpm"] for c in summary["parity"].values())
    settings = prepare_meta["settings"]
    tsettings = train_meta["settings"]
    command = "edgecoach export health" + (f" --seed {summary['seed']}" if summary["seed"] else "")
    if summary["quick"]:
        command += " --quick"
    real = summary.get("real_data")
    if real and real.get("windows"):
        overall = real["overall"]
        worse = [
            n for n, row in overall.items() if row["model_mae_bpm"] > row["persistence_mae_bpm"]
        ]
        verdict = (
            "**On these recordings the model does not yet beat persistence** (worse at "
            + ", ".join(f"`{n}`" for n in worse)
            + "): it has only seen the simulator, and real heart rate wanders in ways the "
            "simulator does not (see `real_data.files` in `build/export-health/pipeline.json` "
            "for each file). Treat these rows as the honest figures; closing the gap (tuning on "
            "real data, distillation) is later work."
            if worse
            else "On these recordings the model beats persistence at every horizon."
        )
        n_files = len(real["files"])
        real_text = (
            f"{real['windows']} windows from the {n_files} real recordings in "
            f"`{Path(real['data_dir']).name}/` (FIT: running, cycling, gym, swimming; read by "
            "`export/health/fit_eval.py`). The files carry no profile, so the default one (age "
            "40, resting 60, max from age) is used, as for a new user; a window every 5 s where "
            "that second and the target second have a reading; all windows pooled (the 7-hour "
            "multisport file is about a quarter of them):\n\n"
            + _mae_table(overall)
            + "\n\n"
            + verdict
        )
    else:
        real_text = "Not measured in this run (no real recordings or no fitdecode)."
    v = summary["versions"]
    return f"""# Health model: heart-rate forecast LSTM

`{MODEL_FILE}` with `{NORMALISATION_FILE}`, both listed with their sha256 in `manifest.json`
and checked by the device before loading.{" **Quick build (tests only): not the committed model.**" if summary["quick"] else ""}

## What it is
A one-layer LSTM (hidden {tsettings["hidden"]}, {sizes["parameters"]} parameters, {sizes["onnx_bytes"]} bytes
of ONNX, opset {OPSET}) that reads the last {WINDOW_S} seconds of the 1 Hz stream and the person's
profile and forecasts their heart rate 10, 30 and 60 seconds ahead, plus the heart rate their
current effort would settle at ("expected"; for simulated data the simulator's steady-state
Karvonen target, without noise and drift). It is a coaching aid, not a medical device.

## Inputs and outputs
- Input `window`: float32 (batch, time, {len(FEATURE_NAMES)}), the rows of
  `edge.health.features.build_window` normalised with the JSON's `input_mean`/`input_std`
  (the runtime does this; the graph does not). Features: {", ".join(f"`{n}`" for n in FEATURE_NAMES)}.
  Dynamic axes `batch` and `time` (trained on {WINDOW_S} s).
- Output `forecast`: float32 (batch, {len(OUTPUT_NAMES)}), normalised changes from the window's last
  heart rate: bpm = last `hr_bpm` + `output_mean` + z x `output_std`, in the order
  {", ".join(f"`{n}`" for n in OUTPUT_NAMES)}. `edge.health.model.HealthModel` returns a `Forecast` in bpm.

## Training data
Simulated only (`firmware_bridge.simulator`, varied on purpose by `export/health/prepare.py`),
seed {summary["seed"]}: {settings["n_workouts"]} workouts ({sizes["simulated_seconds"]} simulated seconds, each cut
to at most {settings["max_duration_s"]} s): walks, steady runs and rides, races, run and ride intervals, strength
circuits, mixed sessions; random athletes aged 18-70 of varied fitness; hills and pacing; speed
scaled 0.6-1.5x and cadence shifted per workout; GPS-like speed wobble and spikes, cadence
jitter; sensor noise 0.2-1.5 bpm; dropouts in 40 % of workouts; 45 % without a full stride
sensor; 15 % recorded "smart" (a reading every 1-6 s); profiles roughly right (45 %), age and
a guessed resting HR (30 %) or left at the defaults (25 %). Windows every {settings["stride_s"]} s, split by
workout: {sizes["windows_train"]} train, {sizes["windows_val"]} validation, {sizes["windows_test"]} held-out test.

## How it was made
`{command}` (prepare -> train -> onnx_export -> verify -> install, in
`export/health/`): AdamW with a one-cycle schedule, {tsettings["epochs"]} epochs (best validation
epoch {summary["best_epoch"]} kept), masked Huber loss on normalised changes, CPU, seeded.
Took {summary["wall_s"]["total"]:.0f} s on 2 cores. torch {v.get("torch", "?")}, onnx {v.get("onnx", "?")},
onnxruntime {v.get("onnxruntime", "?")}. ONNX Runtime agrees with torch within {parity:.1g} bpm on the
held-out windows (tolerance {TOLERANCE_BPM} bpm, also at batch 1 and at 30 s and 90 s windows).

## Figures
Held-out simulated workouts (persistence = "heart rate stays as it is"; for `hr_expected` it
means guessing the current heart rate):

{_mae_table(summary["held_out_mae"])}

Real recordings: {real_text}

## Limits
- Trained on a simulator: real hearts respond to heat, hydration, caffeine, stress and terrain
  the simulator does not have; forecasts cannot know about an effort change that has not happened.
- Cadence and speed enter only relative to their own mean over the window (a change of pace),
  never as absolute values, so `hr_expected` reads the effort from the heart rate's own course
  plus pace changes; with a heart-rate band alone (or in strength training) it follows the
  heart rate's trend only. `hr_expected` cannot be measured on real recordings.
- Max HR estimated from age is often 10+ bpm off; entering a measured max helps.
"""
