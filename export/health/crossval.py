"""Cross-validation by file: how the whole recipe does on real recordings it never saw.

Input: ``windows.npz`` with real windows. Output: ``crossval.json`` and its meta, and one folder
per fold (``cv/fold_<k>``) with that fold's teacher, student, float and int8 ONNX.

The real files are dealt into `folds` folds of about equal windows (largest file first, each to
the fold with the fewest windows so far). For each fold the whole recipe runs on the other
folds' files plus the simulated training workouts: train (teacher) -> distil (student) ->
export -> quantise, with its own validation files taken from the training folds (never the
held-out fold: nothing is tuned on it). The held-out fold's windows are then forecast by the
teacher (torch), the float student and the int8 student (ONNX Runtime), and scored with
persistence on exactly the same seconds. Figures are pooled over all windows of all folds; the
mean over files is given too, since one long file holds a quarter of the windows.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from edge.health.features import HORIZONS_S, HR_INDEX, Normalisation
from export.health._stage import CROSSVAL_FILE, describe_input, stopwatch, write_json, write_meta
from export.health.distil import distil
from export.health.net import load_checkpoint
from export.health.onnx_export import export_onnx
from export.health.prepare import load_real
from export.health.quantise import quantise
from export.health.train import TrainSettings, predict_bpm, train
from export.health.verify import ort_bpm, session_for

log = logging.getLogger(__name__)

ROLES = ("teacher", "student_float", "student_int8", "persistence")


def assign_folds(file_ids: np.ndarray, n_files: int, folds: int) -> list[list[int]]:
    """Files dealt into folds of about equal windows, largest file first."""
    counts = [int(np.sum(file_ids == f)) for f in range(n_files)]
    out: list[list[int]] = [[] for _ in range(folds)]
    load = [0] * folds
    for f in sorted(range(n_files), key=lambda f: (-counts[f], f)):
        k = int(np.argmin(load))
        out[k].append(f)
        load[k] += counts[f]
    return [sorted(fold) for fold in out]


def _summary(err: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for j, h in enumerate(HORIZONS_S):
        ok = ~np.isnan(err["persistence"][:, j])
        row: dict[str, Any] = {
            role: round(float(err[role][ok, j].mean()), 4) if ok.any() else None for role in ROLES
        }
        row["n"] = int(ok.sum())
        base = row["persistence"]
        row["student_int8_vs_persistence"] = (
            round(row["student_int8"] / base - 1.0, 4) if base else None
        )
        out[str(h)] = row
    return out


def crossval(
    windows_path: Path,
    work_dir: Path,
    *,
    folds: int = 4,
    seed: int = 0,
    teacher_settings: TrainSettings | None = None,
    student_settings: TrainSettings | None = None,
) -> Path:
    """Run the file-level cross-validation; write ``work_dir/crossval.json``; return its path."""
    work_dir = Path(work_dir)
    output = work_dir / CROSSVAL_FILE
    with stopwatch() as took:
        xr, tr, mr, fr, names = load_real(windows_path)
        if len(names) < 2:
            raise ValueError(
                f"cross-validation needs two or more real files, {windows_path} has {len(names)}"
            )
        folds = max(2, min(folds, len(names)))
        fold_files = assign_folds(fr, len(names), folds)
        errors: dict[str, list[np.ndarray]] = {r: [] for r in ROLES}
        file_of: list[np.ndarray] = []
        per_fold: list[dict[str, Any]] = []
        for k, held in enumerate(
            tqdm(fold_files, desc="cross-validation", unit="fold", disable=None, leave=False)
        ):
            fold_dir = work_dir / "cv" / f"fold_{k}"
            train_files = [f for f in range(len(names)) if f not in held]
            teacher = train(
                windows_path, fold_dir, seed=seed, settings=teacher_settings, real_files=train_files
            )
            student = distil(
                windows_path,
                teacher,
                fold_dir,
                seed=seed,
                settings=student_settings,
                real_files=train_files,
            )
            float_onnx = export_onnx(student, fold_dir, seed=seed)
            int8_onnx = quantise(float_onnx, fold_dir, seed=seed)
            pick = np.isin(fr, held)
            x, target = xr[pick], np.where(mr[pick], tr[pick], np.nan)[:, : len(HORIZONS_S)]
            t_net, t_ckpt = load_checkpoint(teacher)
            t_norm = Normalisation.from_json(t_ckpt["normalisation"])
            _, s_ckpt = load_checkpoint(student)
            s_norm = Normalisation.from_json(s_ckpt["normalisation"])
            preds = {
                "teacher": predict_bpm(t_net, t_norm, x),
                "student_float": ort_bpm(session_for(float_onnx), s_norm, x),
                "student_int8": ort_bpm(session_for(int8_onnx), s_norm, x),
                "persistence": np.repeat(x[:, -1, HR_INDEX : HR_INDEX + 1], 4, axis=1),
            }
            fold_err = {r: np.abs(p[:, : len(HORIZONS_S)] - target) for r, p in preds.items()}
            for r in ROLES:
                errors[r].append(fold_err[r])
            file_of.append(fr[pick])
            per_fold.append(
                {
                    "fold": k,
                    "held_out_files": [names[f] for f in held],
                    "validation_files": t_ckpt.get("real_val_files", []),
                    "windows": int(pick.sum()),
                    "horizons": _summary(fold_err),
                }
            )
            log.info("cross-validation fold %d: %s", k, per_fold[-1]["horizons"])
        err = {r: np.concatenate(v) for r, v in errors.items()}
        files = np.concatenate(file_of)
        per_file = {
            names[f]: _summary({r: e[files == f] for r, e in err.items()})
            for f in range(len(names))
        }
        mean_over_files: dict[str, dict[str, Any]] = {}
        for h in (str(h) for h in HORIZONS_S):
            rows = [row[h] for row in per_file.values() if row[h]["n"]]
            mean_over_files[h] = {
                r: round(float(np.mean([row[r] for row in rows])), 4) for r in ROLES
            }
        report = {
            "folds": folds,
            "files": names,
            "fold_files": [[names[f] for f in fold] for fold in fold_files],
            "pooled": _summary(err),
            "mean_over_files": mean_over_files,
            "per_fold": per_fold,
            "per_file": per_file,
        }
        write_json(output, report)
    write_meta(
        output,
        stage="crossval",
        inputs={"windows": describe_input(windows_path)},
        seed=seed,
        settings={
            "folds": folds,
            "teacher": None if teacher_settings is None else teacher_settings.__repr__(),
            "student": None if student_settings is None else student_settings.__repr__(),
        },
        sizes={"real_windows": len(xr), "real_files": len(names)},
        metrics={"pooled": report["pooled"], "mean_over_files": mean_over_files},
        wall_s=took[0],
    )
    log.info("cross-validation (%d folds): %s", folds, report["pooled"])
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    crossval(args.windows, args.work_dir, folds=args.folds, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
