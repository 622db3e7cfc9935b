"""`edgecoach eval hr DIR`: the health model against persistence on a folder of recordings.

Every recording in the folder (FIT, TCX, GPX, CSV, read by `edge.sources.recordings`) becomes
one sample per second (`edge.health.samples`), split at long pauses, and is cut into windows
every `STRIDE_S` seconds that have a heart rate. At each horizon the model's forecast and
persistence ("heart rate stays as it is") are scored on exactly the same seconds: those whose
heart rate is known at the horizon. Files that cannot be read, or that have too little heart
rate for one window, are skipped with the reason. The model runs batched (`predict_array`).

`evaluate_folder` returns::

    {"files": N, "skipped": [{"file": name, "reason": "..."}],
     "horizons": {"10": {"model": MAE, "persistence": MAE}, "30": {...}, "60": {...}}}

MAE in bpm, pooled over all windows of all files (None at a horizon with no window).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.errors import SourceFileError
from edge.health.features import HORIZONS_S, HR_INDEX, WINDOW_S
from edge.health.samples import STRIDE_S, recording_windows
from edge.profile import Profile
from edge.sources.recordings import iter_recordings

if TYPE_CHECKING:
    from edge.health.model import HealthModel

__all__ = ["evaluate_folder", "format_report"]

log = logging.getLogger(__name__)

#: Windows per call of the model.
BATCH = 4096


def evaluate_folder(
    folder: Path | Sequence[Path],
    model: HealthModel,
    *,
    profile: Profile | None = None,
    stride_s: int = STRIDE_S,
) -> dict[str, Any]:
    """MAE per horizon of `model` and of persistence over the recordings in `folder`.

    `profile` (default `Profile()`, what a new user has) is used for every file. Raises
    SourceFileError only when `folder` is not a folder.
    """
    profile = profile or Profile()
    err_model: list[np.ndarray] = []
    err_base: list[np.ndarray] = []
    skipped: list[dict[str, str]] = []
    files = 0
    folders = [Path(folder)] if isinstance(folder, (str, Path)) else [Path(f) for f in folder]
    for root, path, rec in ((d, p, r) for d in folders for p, r in iter_recordings(d)):
        name = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
        if isinstance(rec, SourceFileError):
            skipped.append({"file": name, "reason": str(rec)})
            continue
        rw = recording_windows(rec, profile, stride_s=stride_s)
        if len(rw) == 0:
            skipped.append(
                {
                    "file": name,
                    "reason": f"not enough heart rate: no stretch of {max(HORIZONS_S) + 1} s "
                    "or more with a reading at its start and end",
                }
            )
            continue
        pred = np.concatenate(
            [model.predict_array(rw.x[i : i + BATCH]) for i in range(0, len(rw), BATCH)]
        )[:, : len(HORIZONS_S)]
        last = rw.x[:, -1, HR_INDEX].astype(np.float64)[:, None]
        err_model.append(np.abs(pred - rw.target))
        err_base.append(np.abs(last - rw.target))
        files += 1
    horizons: dict[str, dict[str, float | None]] = {}
    em = np.concatenate(err_model) if err_model else np.zeros((0, len(HORIZONS_S)))
    eb = np.concatenate(err_base) if err_base else np.zeros((0, len(HORIZONS_S)))
    for j, h in enumerate(HORIZONS_S):
        ok = ~np.isnan(em[:, j])
        horizons[str(h)] = {
            "model": round(float(em[ok, j].mean()), 4) if ok.any() else None,
            "persistence": round(float(eb[ok, j].mean()), 4) if ok.any() else None,
        }
    return {"files": files, "skipped": skipped, "horizons": horizons}


def format_report(result: dict[str, Any]) -> str:
    """`evaluate_folder`'s result as a small table for a person."""
    lines = [f"heart-rate forecast on {result['files']} file(s) (window {WINDOW_S} s)"]
    lines.append("  horizon   model MAE   persistence MAE   change")
    for h, row in result["horizons"].items():
        if row["model"] is None:
            lines.append(f"  +{h:>3} s   -           -                 -")
            continue
        change = 100.0 * (row["model"] / row["persistence"] - 1.0) if row["persistence"] else 0.0
        lines.append(
            f"  +{h:>3} s   {row['model']:5.2f} bpm   {row['persistence']:5.2f} bpm"
            f"         {change:+.1f} %"
        )
    for item in result["skipped"]:
        lines.append(f"  skipped {item['file']}: {item['reason']}")
    return "\n".join(lines)
