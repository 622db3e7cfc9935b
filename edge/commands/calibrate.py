"""`edgecoach calibrate`: adapt the health model to a person from their own recordings."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from edge.settings import Settings

NAME = "calibrate"
HELP = "adapt the health model to you from your recorded sessions"


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edgecoach calibrate DIR [--person NAME] [--out PATH] [--json]``."""
    parser.description = (
        "Personalise the heart-rate model from your own recordings (FIT, TCX, GPX, CSV): "
        "measure resting and max heart rate where the data allow, fit a small correction "
        "head, and report the change on your latest sessions."
    )
    parser.add_argument("folder", type=Path, help="folder with your recorded sessions")
    parser.add_argument("--person", help="whose calibration this is (default: the profile name)")
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write it (default: $XDG_STATE_HOME/edgecoach/PERSON/calibration.json)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--models-dir", type=Path, help="models folder (default: the installed)")
    parser.add_argument("--variant", choices=("int8", "float"), default="int8")


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    """Run ``edgecoach calibrate``; EdgecoachError subclasses reach the caller."""
    from edge.health.calibrate import calibrate_folder, format_report
    from edge.health.calibration import default_calibration_path
    from edge.health.model import HealthModel
    from edge.profile import Profile

    profile = settings.profile if settings is not None else Profile()
    person = args.person or profile.name
    models_dir = args.models_dir
    if models_dir is None and settings is not None:
        models_dir = settings.health.models_dir
    threads = settings.health.threads if settings is not None else 1
    with HealthModel.load(models_dir, threads=threads, variant=args.variant) as model:
        result = calibrate_folder(args.folder, model, replace(profile, name=person), person=person)
    out = args.out or default_calibration_path(person)
    result.calibration.save(out)
    if args.json:
        print(json.dumps({**result.report, "saved": str(out)}, indent=2))
    else:
        print(format_report(result.report))
        print(f"saved {out}")
    return 0
