"""The whole health export: prepare -> [crossval] -> train -> distil -> export -> quantise ->
verify -> install.

`run_pipeline` runs every stage into `work_dir`, then installs the int8 student (the default the
device loads), the float student and their normalisation into `models_dir`, records all three
in the manifest (kinds ``health-model``, ``health-model-float``, ``normalisation``), writes
``MODEL_CARD_health.md`` and finally loads the installed models the way the device does
(`edge.health.model.HealthModel`) to check they give what verify measured.

Real recordings: `real_data_dir` (``--data DIR``, repeatable), or by default
``../shared/data/workouts`` (when it exists) and the recordings collected in
``export/health/data`` when this is not a quick run. With them, the file-level cross-validation runs
first (`export.health.crossval`: its figures are the honest real-data figures), then the
shipped model is trained on all the files plus the simulated workouts.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.artifacts import record
from edge.errors import ExportError
from edge.health.model import (
    MODEL_FILES,
    MODEL_KINDS,
    NORMALISATION_FILE,
    HealthModel,
)
from export.health import prepare as prepare_stage
from export.health import train as train_stage
from export.health._stage import (
    CROSSVAL_FILE,
    HEADROOM_FILE,
    STUDENT_FILE,
    TEACHER_FILE,
    TEACHER_ONNX_FILE,
    WINDOWS_FILE,
    as_folders,
    default_real_data,
    meta_path,
    stopwatch,
    versions,
    write_json,
)
from export.health.card import model_card
from export.health.crossval import crossval
from export.health.distil import distil
from export.health.effort_cv import EFFORT_CV_FILE, effort_cv
from export.health.headroom import write_headroom
from export.health.onnx_export import export_onnx
from export.health.quantise import quantise
from export.health.verify import TOLERANCE_BPM, ort_bpm, session_for, verify

log = logging.getLogger(__name__)

MODEL_CARD = "MODEL_CARD_health.md"
#: What the summary keeps of each network's training metrics.
TRAIN_METRICS = (
    "best_epoch",
    "gains",
    "gains_planned_power",
    "gains_planned_speed",
    "reversion",
)
#: Where `run_pipeline` can start: each reuses the outputs of the stages before it.
START_STAGES = ("prepare", "train", "export")


@dataclass(frozen=True, slots=True)
class Recipe:
    prepare: prepare_stage.PrepareSettings
    teacher: train_stage.TrainSettings
    student: train_stage.TrainSettings
    #: Cross-validation folds when real data are there (0: none).
    cv_folds: int
    latency_calls: int


FULL = Recipe(
    prepare_stage.PrepareSettings(),
    train_stage.TEACHER_SETTINGS,
    train_stage.STUDENT_SETTINGS,
    cv_folds=4,
    latency_calls=2000,
)
QUICK = Recipe(
    prepare_stage.QUICK,
    train_stage.QUICK_TEACHER,
    train_stage.QUICK_STUDENT,
    cv_folds=0,
    latency_calls=50,
)


def _install(src: Path, models_dir: Path) -> Path:
    dest = models_dir / src.name
    tmp = models_dir / f".{src.name}.tmp"
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    return dest


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def run_pipeline(
    work_dir: Path,
    models_dir: Path,
    *,
    seed: int = 0,
    quick: bool = False,
    real_data_dir: Path | Sequence[Path] | None = None,
    cv_folds: int | None = None,
    start_at: str = "prepare",
) -> dict[str, Any]:
    """Run every stage and install the models; return a summary (paths, metrics, wall times).

    `quick` makes small models in seconds (for tests); the default run makes the committed ones.
    `cv_folds` overrides the recipe's (4; quick: 0) when there are real recordings. `start_at`
    (one of `START_STAGES`) reuses what the earlier stages left in `work_dir`: "train" keeps
    ``windows.npz`` and ``crossval.json``, "export" also the teacher and the student.
    """
    if start_at not in START_STAGES:
        raise ValueError(f"start_at must be one of {START_STAGES}, not {start_at!r}")
    later = START_STAGES.index(start_at)
    recipe = QUICK if quick else FULL
    work_dir, models_dir = Path(work_dir), Path(models_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    models_dir.mkdir(parents=True, exist_ok=True)
    data_dir: tuple[Path, ...] | None = as_folders(real_data_dir) or None
    if data_dir is None and not quick:
        data_dir = default_real_data() or None
    folds = recipe.cv_folds if cv_folds is None else cv_folds
    walls: dict[str, float] = {}
    with stopwatch() as total:
        windows = work_dir / WINDOWS_FILE
        if later < 1:
            with stopwatch() as t:
                windows = prepare_stage.prepare(
                    work_dir, seed=seed, settings=recipe.prepare, data_dir=data_dir
                )
            walls["prepare"] = t[0]
        prepare_meta = _read_json(meta_path(windows))
        if later >= 1:
            real = prepare_meta["inputs"].get("real_data")
            data_dir = None if real is None else as_folders(real["dir"])
        cv_report = None
        if later >= 1 and (work_dir / CROSSVAL_FILE).is_file():
            cv_report = _read_json(work_dir / CROSSVAL_FILE)
        elif folds and prepare_meta["sizes"]["real_files"] >= 2:
            with stopwatch() as t:
                cv_path = crossval(
                    windows,
                    work_dir,
                    folds=folds,
                    seed=seed,
                    teacher_settings=recipe.teacher,
                    student_settings=recipe.student,
                )
            walls["crossval"] = t[0]
            cv_report = _read_json(cv_path)
        headroom_report = None
        if later >= 1 and (work_dir / HEADROOM_FILE).is_file():
            headroom_report = _read_json(work_dir / HEADROOM_FILE)
        elif cv_report is not None and data_dir is not None:
            with stopwatch() as t:
                headroom_report = _read_json(
                    write_headroom(
                        data_dir,
                        work_dir,
                        folds=cv_report["folds"],
                        seed=seed,
                        mlp_epochs=8 if quick else 40,
                    )
                )
            walls["headroom"] = t[0]
        effort_report = None
        if later >= 1 and (work_dir / EFFORT_CV_FILE).is_file():
            effort_report = _read_json(work_dir / EFFORT_CV_FILE)
        elif cv_report is not None and data_dir is not None:
            with stopwatch() as t:
                effort_report = _read_json(effort_cv(data_dir, work_dir, cv_report, seed=seed))
            walls["effort_cv"] = t[0]
        teacher, student = work_dir / TEACHER_FILE, work_dir / STUDENT_FILE
        if later < 2:
            with stopwatch() as t:
                teacher = train_stage.train(windows, work_dir, seed=seed, settings=recipe.teacher)
            walls["train"] = t[0]
            with stopwatch() as t:
                student = distil(windows, teacher, work_dir, seed=seed, settings=recipe.student)
            walls["distil"] = t[0]
        with stopwatch() as t:
            float_onnx = export_onnx(student, work_dir, seed=seed)
            teacher_onnx = export_onnx(teacher, work_dir, seed=seed, name=TEACHER_ONNX_FILE)
        walls["export"] = t[0]
        with stopwatch() as t:
            int8_onnx = quantise(float_onnx, work_dir, seed=seed)
        walls["quantise"] = t[0]
        with stopwatch() as t:
            report_path = verify(
                teacher,
                teacher_onnx,
                student,
                float_onnx,
                int8_onnx,
                windows,
                work_dir,
                seed=seed,
                latency_calls=recipe.latency_calls,
            )
        walls["verify"] = t[0]
        report = _read_json(report_path)

        with stopwatch() as t:
            source = f"edgecoach export health (seed {seed}{', quick' if quick else ''})"
            installed = {
                "int8": _install(int8_onnx, models_dir),
                "float": _install(float_onnx, models_dir),
            }
            installed_norm = _install(float_onnx.with_name(NORMALISATION_FILE), models_dir)
            for variant, path in installed.items():
                record(models_dir, path, MODEL_KINDS[variant], source)
            record(models_dir, installed_norm, "normalisation", source)
            _check_installed(models_dir, windows, {"int8": int8_onnx, "float": float_onnx})
            real_eval = None
            if data_dir is not None and not quick:
                from edge.health.evaluate import evaluate_folder

                with HealthModel.load(models_dir) as model:
                    real_eval = evaluate_folder(data_dir, model, planned=False)
        walls["install"] = t[0]

    # Stages reused from an earlier run count with the time they took then.
    reused = {
        "prepare": windows,
        "crossval": work_dir / CROSSVAL_FILE,
        "headroom": work_dir / HEADROOM_FILE,
        "effort_cv": work_dir / EFFORT_CV_FILE,
        "train": teacher,
        "distil": student,
    }
    for name, path in reused.items():
        reused_report = {
            "crossval": cv_report,
            "headroom": headroom_report,
            "effort_cv": effort_report,
        }
        if (
            name not in walls
            and meta_path(path).is_file()
            and reused_report.get(name, True) is not None
        ):
            walls[name] = float(_read_json(meta_path(path))["wall_s"])
    order = (
        "prepare",
        "crossval",
        "headroom",
        "effort_cv",
        "train",
        "distil",
        "export",
        "quantise",
        "verify",
        "install",
    )
    walls = {k: walls[k] for k in order if k in walls}
    teacher_meta = _read_json(meta_path(teacher))
    student_meta = _read_json(meta_path(student))
    quantise_meta = _read_json(meta_path(int8_onnx))
    summary: dict[str, Any] = {
        "seed": seed,
        "quick": quick,
        "work_dir": str(work_dir),
        "models_dir": str(models_dir),
        "real_data_dir": None if data_dir is None else [str(d) for d in data_dir],
        "outputs": {
            "windows": str(windows),
            "teacher": str(teacher),
            "student": str(student),
            "float_onnx": str(float_onnx),
            "int8_onnx": str(int8_onnx),
            "teacher_onnx": str(teacher_onnx),
            "verify": str(report_path),
            "installed_model": str(installed["int8"]),
            "installed_float_model": str(installed["float"]),
            "installed_normalisation": str(installed_norm),
            "model_card": str(models_dir / MODEL_CARD),
        },
        "held_out_mae": report["held_out_mae"],
        "parity": report["parity"],
        "int8_vs_float": report["int8_vs_float"],
        "models": report["models"],
        "crossval": cv_report,
        "headroom": headroom_report,
        "effort_cv": effort_report,
        "real_in_sample": real_eval,
        "sizes": prepare_meta["sizes"],
        "train": {
            "teacher": {k: teacher_meta["metrics"].get(k) for k in TRAIN_METRICS},
            "student": {k: student_meta["metrics"].get(k) for k in TRAIN_METRICS},
            "real_train_files": teacher_meta["inputs"].get("real_train_files", []),
            "real_val_files": teacher_meta["inputs"].get("real_val_files", []),
        },
        "quantise": quantise_meta["settings"],
        "settings": {
            "prepare": asdict(recipe.prepare),
            "teacher": asdict(recipe.teacher),
            "student": asdict(recipe.student),
            "cv_folds": folds,
        },
        "wall_s": {k: round(v, 2) for k, v in walls.items()}
        | {"total": round(sum(walls.values()) if later else total[0], 2)},
        "started_at": start_at,
        "versions": versions(),
    }
    (models_dir / MODEL_CARD).write_text(model_card(summary), encoding="utf-8")
    write_json(work_dir / "pipeline.json", summary)
    log.info("health export done in %.1f s", total[0])
    return summary


def _check_installed(models_dir: Path, windows: Path, verified: dict[str, Path]) -> None:
    """The installed files, loaded as the device loads them, give the verified forecasts."""
    from edge.health.features import Normalisation

    x, _, _ = prepare_stage.load_windows(windows, "test")
    x = x[:256]
    norm = Normalisation.from_json(
        verified["float"].with_name(NORMALISATION_FILE).read_text(encoding="utf-8")
    )
    for variant, path in verified.items():
        with HealthModel.load(models_dir, variant=variant) as model:
            device = model.predict_array(x)
        direct = ort_bpm(session_for(path), norm, x)
        diff = float(np.max(np.abs(device - direct)))
        if diff > TOLERANCE_BPM:
            raise ExportError(
                f"the installed {MODEL_FILES[variant]} in {models_dir} gives other forecasts than "
                f"the verified one (max |diff| {diff:.3g} bpm)"
            )
