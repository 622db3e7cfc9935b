"""How much of persistence's error could any forecaster remove from a folder of recordings?

`edgecoach export headroom [DIR]` answers this before anyone trains for a target. It scores,
by file-level cross-validation (the same fold dealing as `crossval`), forecasters of the heart
rate change over the next 30 and 60 s against persistence ("heart rate stays as it is"), on
exactly the same seconds:

- ``ridge`` and ``mlp``: causal, from the heart-rate history (changes over 5 s to 2 min, the
  gap to the 5-minute mean, the level) and the recent changes in cadence and speed; what a
  model that sees only the past could learn from the other files.
- ``online_ridge``: causal and personal, a ridge refitted within each segment on that
  segment's own earlier (window, outcome) pairs, as far as they are known at the time.
- ``oracle_ridge`` and ``oracle_mlp``: the same plus the cadence, speed and power of the seconds
  *being forecast* (their mean over 10-15 s slices of the horizon, relative to the last 30 s).
  Live, no device can know these; with a plan (an ERG bike, a structured workout) it knows the
  power or speed ahead, so for power they are the planned case.
- ``kinetics`` and ``kinetics_planned``: physiology alone, the person's first-order kinetics
  (steady heart rate linear in power, or speed where the file has no power; time constant,
  delay and drift fitted) fitted causally on the segment's last ten minutes
  (`edge.health.baseline`), stepped through the recent effort held (live) or through the
  effort that actually followed (planned). Where it cannot be fitted it says persistence.

Every file counts in ``horizons``; ``power_files`` repeats the rows on the windows of files with
power only (the files the planned targets are about).

If even the oracles stay close to persistence, the heart rate of these recordings 30-60 s ahead
is decided by things neither the past nor the coming cadence/speed show (terrain, power, heat,
the sensor), and a target far below persistence cannot be met on them by any model of these
inputs. Windows end every `STRIDE_S` seconds with at least `HISTORY_S` seconds of their segment
behind them; the MLPs are small (2 x 64, L1 loss) and seeded.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ExportError, SourceFileError
from edge.health.baseline import kinetics_forecasts
from edge.health.features import effort_array
from edge.health.samples import STRIDE_S, hr_array, recording_to_samples, split_at_pauses
from edge.stream.readings import AlignedSample
from export.health._stage import as_folders, default_real_data, iter_folders
from export.health.crossval import assign_folds

HORIZONS = (30, 60)
HISTORY_S = 120
FORECASTERS = (
    "ridge",
    "mlp",
    "online_ridge",
    "oracle_ridge",
    "oracle_mlp",
    "kinetics",
    "kinetics_planned",
)
#: A file "has power" when at least this share of a segment's seconds carry it, some above 0
#: (a head unit without a power meter may write 0 W throughout).
POWER_SHARE = 0.5
RIDGE_LAMBDA = 10.0
ONLINE_LAMBDA = 200.0
#: Slices of the horizon whose cadence/speed the oracles are given.
ORACLE_SLICES = ((0, 10), (10, 20), (20, 30), (30, 45), (45, 60))


@dataclass(frozen=True, slots=True)
class Recorded:
    """One file's segments as per-second arrays (NaN where nothing was measured)."""

    name: str
    #: (hr, cadence, speed) or (hr, cadence, speed, power) per segment.
    segments: tuple[tuple[np.ndarray, ...], ...]

    @property
    def has_power(self) -> bool:
        seconds = sum(len(seg[0]) for seg in self.segments)
        powered = sum(int(np.sum(~np.isnan(seg[3]))) for seg in self.segments if len(seg) > 3)
        above = any(np.any(seg[3] > 0) for seg in self.segments if len(seg) > 3)
        return seconds > 0 and above and powered >= POWER_SHARE * seconds


def segments_of(samples: Sequence[AlignedSample]) -> tuple[tuple[np.ndarray, ...], ...]:
    """Split at long pauses, as the health model's windows are."""
    out = []
    for seg in split_at_pauses(samples):
        cadence = np.array([np.nan if s.cadence_spm is None else s.cadence_spm for s in seg])
        speed = effort_array(seg, "speed")
        out.append((hr_array(seg), cadence, speed, effort_array(seg, "power")))
    return tuple(out)


def read_folder(folder: Path | Sequence[Path]) -> tuple[list[Recorded], list[dict[str, str]]]:
    recorded: list[Recorded] = []
    skipped: list[dict[str, str]] = []
    for path, rec in iter_folders(folder):
        if isinstance(rec, SourceFileError):
            skipped.append({"file": path.name, "reason": str(rec)})
            continue
        recorded.append(Recorded(path.name, segments_of(recording_to_samples(rec))))
    return recorded, skipped


def _held(values: np.ndarray) -> np.ndarray:
    """Carry the last value forward (and the first one back); zeros if nothing was measured."""
    have = ~np.isnan(values)
    if not have.any():
        return np.zeros_like(values)
    idx = np.where(have, np.arange(len(values)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = values[idx]
    out[: np.flatnonzero(have)[0]] = values[have][0]
    return out


def _window_mean(cumsum: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of the values at [lo, hi) from a cumulative sum with a leading zero."""
    return (cumsum[hi] - cumsum[lo]) / np.maximum(hi - lo, 1)


def segment_rows(
    hr: np.ndarray,
    cadence: np.ndarray,
    speed: np.ndarray,
    horizon: int,
    power: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(causal features, future-effort features, target change, window ends) of one segment."""
    n = len(hr)
    ends = np.arange(HISTORY_S, n - horizon, STRIDE_S)
    ends = ends[~np.isnan(hr[ends]) & ~np.isnan(hr[ends + horizon])]
    if ends.size == 0:
        empty = np.zeros((0, 0))
        return empty, empty, np.zeros(0), np.zeros(0, dtype=int)
    level = _held(hr)
    cad, spd = _held(cadence) / 10.0, _held(speed)
    pwr = _held(np.full(n, np.nan) if power is None else power) / 100.0
    cs_hr, cs_cad, cs_spd, cs_pwr = (np.r_[0.0, np.cumsum(a)] for a in (level, cad, spd, pwr))
    last = level[ends]
    causal = [last - level[ends - k] for k in (5, 10, 20, 30, 60, 90, 120)]
    causal.append(last - _window_mean(cs_hr, np.maximum(ends - 299, 0), ends + 1))
    causal.append(last / 100.0)
    for cs in (cs_cad, cs_spd, cs_pwr):
        ref = _window_mean(cs, ends - 119, ends + 1)
        causal += [_window_mean(cs, ends - w + 1, ends + 1) - ref for w in (3, 10, 30)]
    future = []
    for cs in (cs_cad, cs_spd, cs_pwr):
        ref = _window_mean(cs, ends - 29, ends + 1)
        future += [
            _window_mean(cs, ends + a, ends + b) - ref for a, b in ORACLE_SLICES if b <= horizon
        ]
    target = hr[ends + horizon] - last
    return np.stack(causal, 1), np.stack(future, 1), target, ends


def _ridge_fit(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, ...]:
    mu, sd = x.mean(0), x.std(0) + 1e-6
    a = np.c_[(x - mu) / sd, np.ones(len(x))]
    penalty = lam * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0
    return mu, sd, np.linalg.solve(a.T @ a + penalty, a.T @ y)


def _ridge_predict(model: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    mu, sd, w = model
    return np.c_[(x - mu) / sd, np.ones(len(x))] @ w


def _mlp_fit_predict(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, seed: int, epochs: int
) -> np.ndarray:
    import torch

    torch.set_num_threads(1)  # a shared 2-core machine: more threads only spin (see train.py)
    torch.manual_seed(seed)
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-3
    xt = torch.tensor((x_train - mu) / sd, dtype=torch.float32)
    yt = torch.tensor(y_train, dtype=torch.float32)
    net = torch.nn.Sequential(
        torch.nn.Linear(x_train.shape[1], 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 1),
    )
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-2)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(yt), generator=generator)
        for i in range(0, len(yt), 256):
            batch = order[i : i + 256]
            loss = (net(xt[batch]).squeeze(1) - yt[batch]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        test = torch.tensor((x_test - mu) / sd, dtype=torch.float32)
        return net(test).squeeze(1).numpy().astype(np.float64)


def _online_ridge(
    causal: np.ndarray, target: np.ndarray, ends: np.ndarray, horizon: int
) -> np.ndarray:
    """Each window forecast from this segment's earlier windows whose outcome is already known."""
    x = np.c_[causal, np.ones(len(causal))]
    gram = np.zeros((x.shape[1], x.shape[1]))
    moment = np.zeros(x.shape[1])
    pred = np.zeros(len(target))
    learned = 0
    for i, end in enumerate(ends):
        while learned < i and ends[learned] + horizon <= end:
            gram += np.outer(x[learned], x[learned])
            moment += x[learned] * target[learned]
            learned += 1
        w = np.linalg.solve(gram + ONLINE_LAMBDA * np.eye(x.shape[1]), moment)
        pred[i] = np.clip(x[i] @ w, -40.0, 40.0)
    return pred


def headroom(
    recorded: Sequence[Recorded],
    *,
    folds: int = 4,
    seed: int = 0,
    mlp_epochs: int = 40,
    progress: bool = True,
) -> dict[str, Any]:
    """MAE (bpm) of persistence and of each forecaster, pooled over windows, per horizon."""
    from tqdm import tqdm

    if len(recorded) < folds:
        raise ExportError(
            f"headroom needs at least {folds} usable recordings for {folds}-fold "
            f"cross-validation by file; found {len(recorded)}"
        )
    result: dict[str, Any] = {
        "files": len(recorded),
        "folds": folds,
        "seed": seed,
        "history_s": HISTORY_S,
        "stride_s": STRIDE_S,
        "horizons": {},
    }
    steps = tqdm(total=len(HORIZONS) * folds, desc="headroom", unit="fold", disable=not progress)
    for horizon in HORIZONS:
        causal, future, target, file_of, online = [], [], [], [], []
        kinetic: dict[str, list[np.ndarray]] = {"kinetics": [], "kinetics_planned": []}
        for i, rec in enumerate(recorded):
            for seg in rec.segments:
                hr, cadence, speed = seg[:3]
                power = seg[3] if len(seg) > 3 else None
                c, f, y, ends = segment_rows(hr, cadence, speed, horizon, power)
                if len(y) == 0:
                    continue
                causal.append(c)
                future.append(f)
                target.append(y)
                file_of.append(np.full(len(y), i))
                online.append(_online_ridge(c, y, ends, horizon))
                powered = (
                    power is not None
                    and np.mean(~np.isnan(power)) >= POWER_SHARE
                    and bool(np.any(power > 0))
                )
                effort, kind = (power, "power") if powered else (speed, "speed")
                for name, planned in (("kinetics", False), ("kinetics_planned", True)):
                    forecast, _ = kinetics_forecasts(
                        hr, effort, ends, (horizon,), effort_kind=kind, planned=planned
                    )
                    kinetic[name].append(forecast[:, 0] - _held(hr)[ends])
        if not target:
            raise ExportError(
                f"no window with {HISTORY_S} s of history and a heart rate "
                f"{horizon} s later in these recordings"
            )
        x, y, files = np.concatenate(causal), np.concatenate(target), np.concatenate(file_of)
        x_oracle = np.c_[x, np.concatenate(future)]
        pred = {name: np.zeros_like(y) for name in FORECASTERS}
        pred["online_ridge"] = np.concatenate(online)
        for name, parts in kinetic.items():
            pred[name] = np.concatenate(parts)
        for fold in assign_folds(files, len(recorded), folds):
            test = np.isin(files, fold)
            train = ~test
            if not train.any() or not test.any():
                steps.update(1)
                continue
            for name, features in (("ridge", x), ("oracle_ridge", x_oracle)):
                model = _ridge_fit(features[train], y[train], RIDGE_LAMBDA)
                pred[name][test] = _ridge_predict(model, features[test])
            for name, features in (("mlp", x), ("oracle_mlp", x_oracle)):
                pred[name][test] = _mlp_fit_predict(
                    features[train], y[train], features[test], seed=seed, epochs=mlp_epochs
                )
            steps.update(1)
        result["horizons"][str(horizon)] = _row(y, pred, np.ones(len(y), dtype=bool))
        powered_files = [i for i, rec in enumerate(recorded) if rec.has_power]
        if powered_files:
            part = result.setdefault("power_files", {"files": len(powered_files), "horizons": {}})
            part["horizons"][str(horizon)] = _row(y, pred, np.isin(files, powered_files))
    steps.close()
    return result


def _row(y: np.ndarray, pred: dict[str, np.ndarray], pick: np.ndarray) -> dict[str, Any]:
    """MAE of persistence and of each forecaster on the windows in `pick`."""
    y = y[pick]
    persistence = float(np.abs(y).mean())
    row: dict[str, Any] = {"windows": len(y), "persistence": round(persistence, 3)}
    for name in FORECASTERS:
        mae = float(np.abs(y - pred[name][pick]).mean())
        row[name] = round(mae, 3)
        ratio = mae / persistence - 1.0 if persistence else None
        row[f"{name}_vs_persistence"] = None if ratio is None else round(ratio, 4)
    return row


def write_headroom(
    data_dir: Path | Sequence[Path],
    work_dir: Path,
    *,
    folds: int = 4,
    seed: int = 0,
    mlp_epochs: int = 40,
) -> Path:
    """The export's headroom stage: ``work_dir/headroom.json`` and its metadata."""
    from export.health._stage import HEADROOM_FILE, stopwatch, write_json, write_meta

    output = Path(work_dir) / HEADROOM_FILE
    with stopwatch() as wall:
        recorded, skipped = read_folder(data_dir)
        result = headroom(recorded, folds=folds, seed=seed, mlp_epochs=mlp_epochs)
        result["skipped"] = skipped
    write_json(output, result)
    files = {rec.name for rec in recorded}
    write_meta(
        output,
        stage="headroom",
        inputs={
            "real_data": {"dir": [str(d) for d in as_folders(data_dir)], "files": sorted(files)}
        },
        seed=seed,
        settings={
            "folds": folds,
            "history_s": HISTORY_S,
            "mlp_epochs": mlp_epochs,
            "ridge_lambda": RIDGE_LAMBDA,
            "online_lambda": ONLINE_LAMBDA,
        },
        sizes={"files": len(recorded), "skipped": len(skipped)},
        metrics=result["horizons"],
        wall_s=wall[0],
    )
    return output


def format_report(result: dict[str, Any]) -> str:
    title = (
        f"{result['files']} recordings, {result['folds']}-fold cross-validation by file; "
        "MAE in bpm (change vs persistence)"
    )
    lines = [title]
    header = f"{'':>6} {'persistence':>12}" + "".join(f" {name:>19}" for name in FORECASTERS)
    parts = [("all files", result["horizons"])]
    if result.get("power_files"):
        parts.append(
            (
                f"{result['power_files']['files']} files with power",
                result["power_files"]["horizons"],
            )
        )
    for label, rows in parts:
        lines += [label, header]
        for horizon, row in rows.items():
            cells = "".join(
                f" {row[name]:>9.2f} ({row[f'{name}_vs_persistence'] * 100:+5.1f} %)"
                for name in FORECASTERS
            )
            lines.append(f"{'+' + horizon + ' s':>6} {row['persistence']:>12.2f}{cells}")
    lines.append(
        "oracle_* and kinetics_planned know the coming seconds' effort: a plan or an ERG bike "
        "does, live no device can."
    )
    lines += [f"skipped {item['file']}: {item['reason']}" for item in result.get("skipped", [])]
    return "\n".join(lines)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Before training for a target: how much of persistence's error at +30 s and +60 s "
        "could a model remove from these recordings? Scores causal forecasters and oracles "
        "that know the coming cadence and speed, by file-level cross-validation."
    )
    parser.add_argument(
        "data",
        type=Path,
        nargs="*",
        default=None,
        help="folders of recordings (FIT, TCX, GPX, CSV); default ../shared/data/workouts and "
        "export/health/data",
    )
    parser.add_argument("--folds", type=int, default=4, help="cross-validation folds (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the MLPs (default 0)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    folder = as_folders(args.data) or default_real_data()
    if not folder:
        raise ExportError(
            "no folder of recordings given and ../shared/data/workouts is "
            "not there: edgecoach export headroom DIR"
        )
    try:
        recorded, skipped = read_folder(folder)
    except SourceFileError as exc:
        raise ExportError(str(exc)) from exc
    result = headroom(recorded, folds=args.folds, seed=args.seed, progress=not args.json)
    result["skipped"] = skipped
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0
