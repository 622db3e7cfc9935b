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
        "Simulate workouts, train the heart-rate forecast LSTM, export it to ONNX, verify it "
        "against torch and install it (with its manifest entries and model card)."
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
    parser.add_argument("--seed", type=int, default=0, help="seed for simulation and training")
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
        summary = run_pipeline(args.work_dir, models_dir, seed=args.seed, quick=args.quick)
    except EdgecoachError:
        raise
    except (OSError, ValueError) as exc:
        raise ExportError(f"health export failed: {exc}") from exc
    print(f"health model installed in {models_dir} ({summary['wall_s']['total']:.0f} s)")
    for name, row in summary["held_out_mae"].items():
        print(
            f"  {name}: MAE {row['model_mae_bpm']:.2f} bpm "
            f"(persistence {row['persistence_mae_bpm']:.2f}) on held-out simulated workouts"
        )
    real = summary.get("real_data")
    if real and real.get("windows"):
        for name, row in real["overall"].items():
            print(
                f"  {name}: MAE {row['model_mae_bpm']:.2f} bpm "
                f"(persistence {row['persistence_mae_bpm']:.2f}) on real recordings"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.health.cli")
    configure_parser(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return run(args)
    except EdgecoachError as exc:
        print(f"error: {exc}")
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
