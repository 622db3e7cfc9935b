"""``edgecoach export health``: make the health model and install it into the models folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from edge.artifacts import default_models_dir
from edge.errors import EdgecoachError, ExportError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Simulate workouts, read real recordings, train the heart-rate teacher LSTM, distil a "
        "small student, export it to ONNX, quantise it to int8, verify both against torch and "
        "each other, and install them (with manifest entries and the model card). With real "
        "recordings a file-level cross-validation runs first."
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=REPO / "build" / "export-health",
        help="where the stages write their files and metadata (default: build/export-health)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where to install the model (default: the repository's models/, or "
        "$EDGECOACH_MODELS_DIR)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        default=None,
        help="folder of real recordings (FIT, TCX, GPX, CSV) to train and cross-validate on, "
        "e.g. your own history; repeatable (default: ../shared/data/workouts when it exists "
        "and export/health/data; none with --quick)",
    )
    parser.add_argument(
        "--cv-folds",
        type=int,
        default=None,
        help="file-level cross-validation folds on the real data (default 4; --quick: 0)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for simulation and training")
    parser.add_argument(
        "--from-stage",
        choices=("prepare", "train", "export"),
        default="prepare",
        help="start there, reusing the earlier stages' files in --work-dir (default: prepare)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small model in seconds, for tests; not the one to commit",
    )


def run(args: argparse.Namespace) -> int:
    try:
        from export.health.pipeline import run_pipeline
    except ImportError as exc:  # torch / onnx are the export extra, not the device runtime
        raise ExportError(
            f"the export stage needs the export extra ({exc.name or exc} is missing): "
            "pip install -e '.[export]'"
        ) from exc
    models_dir = args.models_dir if args.models_dir is not None else default_models_dir()
    try:
        summary = run_pipeline(
            args.work_dir,
            models_dir,
            seed=args.seed,
            quick=args.quick,
            real_data_dir=args.data,
            cv_folds=args.cv_folds,
            start_at=args.from_stage,
        )
    except EdgecoachError:
        raise
    except (OSError, ValueError) as exc:
        raise ExportError(f"health export failed: {exc}") from exc
    print(f"health model installed in {models_dir} ({summary['wall_s']['total']:.0f} s)")
    for name, row in summary["held_out_mae"]["student_int8"].items():
        print(
            f"  {name}: int8 student MAE {row['model_mae_bpm']:.2f} bpm "
            f"(persistence {row['persistence_mae_bpm']:.2f}) on held-out simulated workouts"
        )
    cv = summary.get("crossval")
    if cv:
        for h, row in cv["pooled"].items():
            print(
                f"  +{h} s: int8 student MAE {row['student_int8']:.2f} bpm (persistence "
                f"{row['persistence']:.2f}) on real recordings, {cv['folds']}-fold CV by file"
            )
    return 0
