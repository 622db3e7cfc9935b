"""Cross-validation by file with effort: live and planned, against physiology alone.

Runs after `export.health.crossval`, on the models each fold left in ``cv/fold_<k>`` (trained
without the fold's files), and scores each held-out recording three ways at +10/+30/+60 s:

- ``live``: the windows as the device sees them, no plan; over all files and over the files
  with power;
- ``planned`` ``power`` / ``speed``: every window given the effort that actually followed it as
  its plan (what an ERG bike or a treadmill program would have enforced), on the files and
  seconds where that effort is known ahead;

each for the int8 student (what the device runs), the float student, persistence, and the
first-order kinetics baseline (`edge.health.baseline`: the person's own kinetics fitted on the
file's last ten minutes; live it holds the recent effort, planned it is given the plan). Windows
every `STRIDE_S` seconds, default profile, MAE pooled over windows (and over files, each file
once). Output: ``effort_cv.json`` and its metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from edge.errors import SourceFileError
from edge.health.evaluate import pooled, window_errors
from edge.health.features import HORIZONS_S, PLAN_KINDS, Normalisation, effort_array
from edge.health.model import FLOAT_MODEL_FILE, MODEL_FILE, NORMALISATION_FILE
from edge.health.samples import STRIDE_S, recording_to_samples
from edge.sources.recordings import Recording
from export.health._stage import as_folders, iter_folders, stopwatch, write_json, write_meta
from export.health.verify import ort_bpm, session_for

log = logging.getLogger(__name__)

EFFORT_CV_FILE = "effort_cv.json"
ROLES = ("model", "model_float", "persistence", "kinetics")
#: A file "has power" when at least this share of its seconds carry it (and some of it is above
#: zero: a head unit without a power meter may write 0 W throughout).
POWER_FILE_SHARE = 0.5


def _predictor(fold_dir: Path, model_file: str) -> Any:
    norm = Normalisation.from_json((fold_dir / NORMALISATION_FILE).read_text(encoding="utf-8"))
    session = session_for(fold_dir / model_file)
    return lambda x: ort_bpm(session, norm, x)


def _has_power(recording: Recording) -> bool:
    power = effort_array(recording_to_samples(recording), "power")
    known = ~np.isnan(power)
    return bool(power.size) and known.mean() >= POWER_FILE_SHARE and bool(np.any(power[known] > 0))


def _scores(
    recording: Recording, int8: Any, floating: Any, plan: str | None, stride_s: int
) -> tuple[dict[str, np.ndarray], int]:
    errors, fitted = window_errors(
        recording, int8, plan, stride_s=stride_s, others={"model_float": floating}
    )
    return {r: errors[r] for r in ROLES}, fitted


def _summary(parts: list[dict[str, np.ndarray]], fitted: int) -> dict[str, Any]:
    errors = {r: [p[r] for p in parts] for r in ROLES}
    n = sum(len(p["model"]) for p in parts)
    rows = pooled(errors)
    for h, row in rows.items():
        base = row["persistence"]
        for role in ("model", "kinetics"):
            row[f"{role}_vs_persistence"] = (
                round(row[role] / base, 4) if base and row[role] is not None else None
            )
        ok = [p for p in parts if len(p["model"])]
        row["n"] = int(sum(np.sum(~np.isnan(p["model"][:, HORIZONS_S.index(int(h))])) for p in ok))
    per_file = []
    for p in parts:
        if len(p["model"]) == 0:
            continue
        per_file.append({r: np.nanmean(p[r], axis=0) for r in ROLES})
    mean_over_files = {
        str(h): {
            r: round(float(np.mean([f[r][j] for f in per_file])), 4) if per_file else None
            for r in ROLES
        }
        for j, h in enumerate(HORIZONS_S)
    }
    return {
        "files": len(per_file),
        "windows": n,
        "kinetics_fitted": round(fitted / n, 4) if n else None,
        "horizons": rows,
        "mean_over_files": mean_over_files,
    }


def effort_cv(
    data_dirs: Path | Sequence[Path],
    work_dir: Path,
    crossval_report: dict[str, Any],
    *,
    stride_s: int = STRIDE_S,
    seed: int = 0,
) -> Path:
    """Score every fold's held-out files live and planned; write ``work_dir/effort_cv.json``."""
    work_dir = Path(work_dir)
    output = work_dir / EFFORT_CV_FILE
    with stopwatch() as took:
        recordings: dict[str, Recording] = {}
        for path, rec in iter_folders(as_folders(data_dirs)):
            if not isinstance(rec, SourceFileError):
                recordings[path.name] = rec
        live_all: list[dict[str, np.ndarray]] = []
        live_power: list[dict[str, np.ndarray]] = []
        planned: dict[str, list[dict[str, np.ndarray]]] = {k: [] for k in PLAN_KINDS}
        fitted = {"live": 0, "live_power": 0} | dict.fromkeys(PLAN_KINDS, 0)
        per_file: dict[str, Any] = {}
        folds = crossval_report["fold_files"]
        jobs = [(k, name) for k, files in enumerate(folds) for name in files]
        for k, name in tqdm(jobs, desc="effort cross-validation", unit="file", disable=None):
            rec = recordings.get(name)
            if rec is None:
                continue
            fold_dir = work_dir / "cv" / f"fold_{k}"
            int8 = _predictor(fold_dir, MODEL_FILE)
            floating = _predictor(fold_dir, FLOAT_MODEL_FILE)
            errors, n_fit = _scores(rec, int8, floating, None, stride_s)
            live_all.append(errors)
            fitted["live"] += n_fit
            entry: dict[str, Any] = {"fold": k, "live": _summary([errors], n_fit)["horizons"]}
            if _has_power(rec):
                live_power.append(errors)
                fitted["live_power"] += n_fit
            for kind in PLAN_KINDS:
                errors, n_fit = _scores(rec, int8, floating, kind, stride_s)
                if len(errors["model"]):
                    planned[kind].append(errors)
                    fitted[kind] += n_fit
                    entry[f"planned_{kind}"] = _summary([errors], n_fit)["horizons"]
            per_file[name] = entry
        report = {
            "folds": len(folds),
            "stride_s": stride_s,
            "live": {
                "all_files": _summary(live_all, fitted["live"]),
                "power_files": _summary(live_power, fitted["live_power"]),
            },
            "planned": {kind: _summary(planned[kind], fitted[kind]) for kind in PLAN_KINDS},
            "per_file": per_file,
        }
        write_json(output, report)
    write_meta(
        output,
        stage="effort_cv",
        inputs={
            "real_data": [str(d) for d in as_folders(data_dirs)],
            "fold_files": folds,
        },
        seed=seed,
        settings={"stride_s": stride_s, "power_file_share": POWER_FILE_SHARE},
        sizes={"files": len(per_file)},
        metrics={"live": report["live"], "planned": report["planned"]},
        wall_s=took[0],
    )
    log.info("effort cross-validation: %s", report["planned"])
    return output
