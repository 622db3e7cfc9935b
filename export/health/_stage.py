"""The health-model export's stage files and metrics; metadata helpers are `export.stages`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import SourceFileError
from edge.health.features import HR_INDEX, OUTPUT_NAMES
from edge.sources.recordings import Recording, iter_recordings
from export import stages
from export.stages import meta_path, sha256_file, stopwatch, write_json

__all__ = [
    "COLLECTED_RECORDINGS",
    "CROSSVAL_FILE",
    "HEADROOM_FILE",
    "REAL_WORKOUTS",
    "STUDENT_FILE",
    "TEACHER_FILE",
    "TEACHER_ONNX_FILE",
    "VERIFY_FILE",
    "WINDOWS_FILE",
    "as_folders",
    "default_real_data",
    "describe_input",
    "iter_folders",
    "mae_report",
    "meta_path",
    "sha256_file",
    "stopwatch",
    "versions",
    "write_json",
    "write_meta",
]

#: The files each stage writes inside the work folder.
WINDOWS_FILE = "windows.npz"
TEACHER_FILE = "teacher.pt"
STUDENT_FILE = "student.pt"
TEACHER_ONNX_FILE = "teacher.onnx"
VERIFY_FILE = "verify.json"
CROSSVAL_FILE = "crossval.json"
HEADROOM_FILE = "headroom.json"

#: Real recordings beside the checkout, used (when present) for training and cross-validation.
#: A worktree elsewhere names it with EDGECOACH_SHARED_WORKOUTS (as the tests do).
REAL_WORKOUTS = Path(
    os.environ.get("EDGECOACH_SHARED_WORKOUTS")
    or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "workouts"
)
#: Public real recordings collected for the health model, in the repository (see its README).
COLLECTED_RECORDINGS = Path(__file__).resolve().parent / "data"


def default_real_data() -> tuple[Path, ...]:
    """The folders of real recordings the export reads when given none: those that exist."""
    return tuple(d for d in (REAL_WORKOUTS, COLLECTED_RECORDINGS) if d.is_dir())


def as_folders(data: Path | str | Sequence[Path | str] | None) -> tuple[Path, ...]:
    """One folder, several, or none, as a tuple of paths."""
    if data is None:
        return ()
    if isinstance(data, (str, Path)):
        return (Path(data),)
    return tuple(Path(d) for d in data)


def iter_folders(
    data: Path | Sequence[Path],
) -> Iterator[tuple[Path, Recording | SourceFileError]]:
    """`edge.sources.recordings.iter_recordings` over one folder or several, in order."""
    for folder in as_folders(data):
        yield from iter_recordings(folder)


#: The distributions whose versions every health-model stage records.
DISTRIBUTIONS = ("edgecoach", "numpy", "torch", "onnx", "onnxruntime", "optimum")


def versions() -> dict[str, str]:
    return stages.versions(DISTRIBUTIONS)


def describe_input(path: Path) -> dict[str, Any]:
    return stages.describe(path)


write_meta: Any = partial(stages.write_meta, versions_of=DISTRIBUTIONS)


def mae_report(
    pred_bpm: np.ndarray, target_bpm: np.ndarray, mask: np.ndarray, windows: np.ndarray
) -> dict[str, dict[str, float]]:
    """MAE (bpm) per output for the model and for persistence ("heart rate stays as it is")."""
    last = windows[:, -1, HR_INDEX].astype(np.float64)
    report: dict[str, dict[str, float]] = {}
    for j, name in enumerate(OUTPUT_NAMES):
        m = mask[:, j]
        if not m.any():
            continue
        err = np.abs(pred_bpm[m, j] - target_bpm[m, j])
        base = np.abs(last[m] - target_bpm[m, j])
        report[name] = {
            "model_mae_bpm": round(float(err.mean()), 3),
            "persistence_mae_bpm": round(float(base.mean()), 3),
            "n": int(m.sum()),
        }
    return report
