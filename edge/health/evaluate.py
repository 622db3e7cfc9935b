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

``"planned"`` adds the same horizons scored as an ERG bike or a treadmill program would have
run each recording: every window is given the effort that actually followed it as its plan
(`edge.health.features.future_plan`), per kind of effort, on the files (and seconds) where that
effort is known ahead::

    "planned": {"power": {"files": N, "kinetics_fitted": share,
                          "horizons": {"10": {"model": MAE, "persistence": MAE,
                                              "kinetics": MAE}, ...}},
                "speed": {...}}

``kinetics`` is what physiology alone gets from the same plan: the person's first-order
kinetics fitted causally on the file's own last ten minutes (`edge.health.baseline`; where it
cannot be fitted it says persistence, and ``kinetics_fitted`` is the share of windows where it
could).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.errors import SourceFileError
from edge.health.baseline import kinetics_forecasts
from edge.health.features import HORIZONS_S, HR_INDEX, PLAN_KINDS, WINDOW_S, effort_array
from edge.health.samples import (
    STRIDE_S,
    hr_array,
    recording_to_samples,
    recording_windows,
    samples_windows,
    split_at_pauses,
)
from edge.profile import Profile
from edge.sources.recordings import Recording, iter_recordings

if TYPE_CHECKING:
    from edge.health.model import HealthModel

__all__ = ["evaluate_folder", "format_report", "planned_errors", "pooled", "window_errors"]

log = logging.getLogger(__name__)

#: Windows per call of the model.
BATCH = 4096


def _batched(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.concatenate([predict(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])[
        :, : len(HORIZONS_S)
    ]


def window_errors(
    recording: Recording,
    predict: Callable[[np.ndarray], np.ndarray],
    plan: str | None,
    *,
    profile: Profile | None = None,
    stride_s: int = STRIDE_S,
    others: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """Absolute errors (N, horizons) of model, persistence and kinetics on one recording's
    windows (and of each of `others`, under its name), and how many windows had a kinetics fit.

    With `plan` ("power" or "speed") every window is given the effort that followed it as its
    plan, and only windows where that effort is known ahead are scored (empty arrays when there
    are none); without, the live windows are scored and the kinetics hold the recent effort
    (power where the segment mostly has it, else speed).
    """
    profile = profile or Profile()
    others = dict(others or {})
    errors: dict[str, list[np.ndarray]] = {
        name: [] for name in ("model", "persistence", "kinetics", *others)
    }
    fitted = 0
    for segment in split_at_pauses(recording_to_samples(recording)):
        x, target, ends = samples_windows(segment, profile, stride_s=stride_s, plan=plan)
        if len(x) == 0:
            continue
        kind = plan
        if kind is None:
            power = effort_array(segment, "power")
            kind = "power" if np.mean(~np.isnan(power)) >= 0.5 else "speed"
        kin, share = kinetics_forecasts(
            hr_array(segment),
            effort_array(segment, kind),
            ends,
            HORIZONS_S,
            effort_kind=kind,
            planned=plan is not None,
        )
        fitted += round(share * len(ends))
        last = x[:, -1, HR_INDEX].astype(np.float64)[:, None]
        errors["model"].append(np.abs(_batched(predict, x) - target))
        errors["persistence"].append(np.abs(last - target))
        errors["kinetics"].append(np.abs(kin - target))
        for name, other in others.items():
            errors[name].append(np.abs(_batched(other, x) - target))
    empty = np.zeros((0, len(HORIZONS_S)))
    return {k: np.concatenate(v) if v else empty for k, v in errors.items()}, fitted


def planned_errors(
    recording: Recording,
    predict: Callable[[np.ndarray], np.ndarray],
    kind: str,
    *,
    profile: Profile | None = None,
    stride_s: int = STRIDE_S,
) -> tuple[dict[str, np.ndarray], int]:
    """`window_errors` with the `kind` of effort that followed each window as its plan."""
    return window_errors(recording, predict, kind, profile=profile, stride_s=stride_s)


def pooled(errors: dict[str, list[np.ndarray]]) -> dict[str, dict[str, float | None]]:
    """MAE per horizon and role, on the seconds whose heart rate is known at the horizon."""
    stacked = {
        role: np.concatenate(v) if v else np.zeros((0, len(HORIZONS_S)))
        for role, v in errors.items()
    }
    first = next(iter(stacked.values()))
    out: dict[str, dict[str, float | None]] = {}
    for j, h in enumerate(HORIZONS_S):
        ok = ~np.isnan(first[:, j])
        out[str(h)] = {
            role: round(float(e[ok, j].mean()), 4) if ok.any() else None
            for role, e in stacked.items()
        }
    return out


def evaluate_folder(
    folder: Path | Sequence[Path],
    model: HealthModel,
    *,
    profile: Profile | None = None,
    stride_s: int = STRIDE_S,
    planned: bool = True,
) -> dict[str, Any]:
    """MAE per horizon of `model` and of persistence over the recordings in `folder` (one folder
    or several), and with `planned` the ``"planned"`` scores (see the module doc).

    `profile` (default `Profile()`, what a new user has) is used for every file. Raises
    SourceFileError only when `folder` is not a folder.
    """
    profile = profile or Profile()
    live: dict[str, list[np.ndarray]] = {"model": [], "persistence": []}
    plan_errors = {k: {"model": [], "persistence": [], "kinetics": []} for k in PLAN_KINDS}
    plan_files = dict.fromkeys(PLAN_KINDS, 0)
    plan_fitted = dict.fromkeys(PLAN_KINDS, 0)
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
        last = rw.x[:, -1, HR_INDEX].astype(np.float64)[:, None]
        live["model"].append(np.abs(_batched(model.predict_array, rw.x) - rw.target))
        live["persistence"].append(np.abs(last - rw.target))
        files += 1
        if not planned:
            continue
        for kind in PLAN_KINDS:
            errs, fitted = planned_errors(
                rec, model.predict_array, kind, profile=profile, stride_s=stride_s
            )
            if len(errs["model"]) == 0:
                continue
            plan_files[kind] += 1
            plan_fitted[kind] += fitted
            for role, e in errs.items():
                plan_errors[kind][role].append(e)
    result: dict[str, Any] = {"files": files, "skipped": skipped, "horizons": pooled(live)}
    if planned:
        result["planned"] = {}
        for kind in PLAN_KINDS:
            n = sum(len(e) for e in plan_errors[kind]["model"])
            result["planned"][kind] = {
                "files": plan_files[kind],
                "kinetics_fitted": round(plan_fitted[kind] / n, 4) if n else None,
                "horizons": pooled(plan_errors[kind]),
            }
    return result


def format_report(result: dict[str, Any]) -> str:
    """`evaluate_folder`'s result as a small table for a person."""
    lines = [f"heart-rate forecast on {result['files']} file(s) (window {WINDOW_S} s)"]
    lines.append("  horizon   model MAE   persistence MAE   change")
    lines += _rows(result["horizons"])
    for kind, part in result.get("planned", {}).items():
        lines.append(
            f"with the coming {kind} known as a plan, on {part['files']} file(s) "
            "(kinetics: the person's own first-order model, fitted on the last 10 min)"
        )
        lines.append("  horizon   model MAE   persistence MAE   change   kinetics MAE")
        lines += _rows(part["horizons"])
    for item in result["skipped"]:
        lines.append(f"  skipped {item['file']}: {item['reason']}")
    return "\n".join(lines)


def _rows(horizons: dict[str, dict[str, float | None]]) -> list[str]:
    lines = []
    for h, row in horizons.items():
        if row["model"] is None or row["persistence"] is None:
            lines.append(f"  +{h:>3} s   -           -                 -")
            continue
        change = 100.0 * (row["model"] / row["persistence"] - 1.0) if row["persistence"] else 0.0
        line = (
            f"  +{h:>3} s   {row['model']:5.2f} bpm   {row['persistence']:5.2f} bpm"
            f"         {change:+.1f} %"
        )
        if row.get("kinetics") is not None:
            line += f"   {row['kinetics']:5.2f} bpm"
        lines.append(line)
    return lines
