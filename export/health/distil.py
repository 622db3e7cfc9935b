"""Stage 3: distil the small student from the teacher (torch, seeded, CPU).

Inputs: ``windows.npz`` and ``teacher.pt``. Output: ``student.pt`` and its meta.

The student (1 layer, hidden 24: what the device runs) uses the teacher's normalisation, so
both speak the same normalised units, and learns from the same windows with the loss
``(1 - a) * L1(student, ground truth) + a * L1(student, teacher)`` (``a`` =
`TrainSettings.distil_weight`): the ground truth where it is known, the teacher's outputs
everywhere, including ``hr_expected`` on real windows, where there is no ground truth. Real
files are split for validation exactly as for the teacher (same seed), so the student never
validates on a file the teacher trained on. Its own gains are fitted afterwards. The teacher is
an ensemble (`HealthEnsemble`): each of its members teaches one student member, with that
member's seed, validation files and normalisation.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from edge.health.features import Normalisation
from export.health._stage import STUDENT_FILE, describe_input, stopwatch, write_meta
from export.health.net import load_checkpoint
from export.health.train import (
    QUICK_STUDENT,
    STUDENT_SETTINGS,
    Member,
    TrainSettings,
    fit_network,
    load_data,
    save_ensemble,
)

log = logging.getLogger(__name__)


def distil(
    windows_path: Path,
    teacher_path: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    settings: TrainSettings | None = None,
    real_files: Sequence[int] | None = None,
) -> Path:
    """Distil, write ``out_dir/student.pt`` and its meta; return the path."""
    settings = settings or STUDENT_SETTINGS
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / STUDENT_FILE
    with stopwatch() as took:
        teacher, ckpt = load_checkpoint(teacher_path)
        members: list[Member] = []
        for k, (t_net, t_member) in enumerate(zip(teacher.members, ckpt["members"], strict=True)):
            t_norm = Normalisation.from_json(t_member["normalisation"])
            member_seed = int(t_member["seed"])
            data = load_data(
                windows_path, real_files=real_files, settings=settings, seed=member_seed
            )
            if data.real_val_files != list(t_member.get("real_val_files", [])):
                raise ValueError(
                    "the student would validate on other real files than its teacher: use the "
                    "same seed and real files for train and distil"
                )
            net, norm, metrics = fit_network(
                data,
                settings,
                seed=member_seed,
                norm=t_norm,
                teacher=(t_net, t_norm),
                desc=f"distil {k + 1}/{len(teacher.members)}",
            )
            members.append(
                Member(net, norm, metrics, member_seed, data.real_train_files, data.real_val_files)
            )
        student, extra, metrics = save_ensemble(
            output, members, seed=seed, role="student", sim_val=data.sim_val
        )
        extra["teacher_parameters"] = teacher.n_parameters
    write_meta(
        output,
        stage="distil",
        inputs={
            "windows": describe_input(windows_path),
            "teacher": describe_input(teacher_path),
        },
        seed=seed,
        settings=asdict(settings),
        sizes={
            "windows_train": len(data.x),
            "windows_train_real": data.n_real_train,
            "members": len(members),
            "parameters": student.n_parameters,
            "teacher_parameters": teacher.n_parameters,
        },
        metrics=metrics,
        wall_s=took[0],
    )
    log.info(
        "distil: %d students of %d params (teacher %d), best epochs %s, mean gains %s, %.1f s",
        len(members),
        student.n_parameters,
        teacher.n_parameters,
        metrics["best_epoch"],
        metrics["gains"],
        took[0],
    )
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=Path, required=True)
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    distil(
        args.windows,
        args.teacher,
        args.out_dir,
        seed=args.seed,
        settings=QUICK_STUDENT if args.quick else None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
