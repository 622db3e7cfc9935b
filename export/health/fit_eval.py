"""Optional check of the health model on real recordings (FIT files), against persistence.

A small FIT reader for this check only (the device's own file replay lives elsewhere): per-second
heart rate, cadence and speed from ``record`` messages. Running cadence in FIT counts one foot
(strides per minute), so it is doubled to steps per minute; cycling cadence stays in rpm. Seconds
without a record are gaps (no invented values); a pause longer than `MAX_PAUSE_S` starts a new
stretch with a fresh history. The person's profile comes from the file's ``user_profile`` when it
has one, else the default `Profile()` (age 40, resting 60): what a new user gets.

MAE is measured at every `STRIDE_S`-th second whose own reading and target reading both exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge.health.features import HORIZONS_S, HR_INDEX, OUTPUT_NAMES, build_windows
from edge.profile import Profile
from edge.stream.readings import AlignedSample

log = logging.getLogger(__name__)

MAX_PAUSE_S = 120
STRIDE_S = 5


@dataclass(frozen=True, slots=True)
class Recording:
    name: str
    sport: str
    profile: Profile
    #: Stretches of consecutive seconds (split at long pauses).
    stretches: tuple[tuple[AlignedSample, ...], ...]


def read_fit(path: Path) -> Recording:
    """Read `path` with fitdecode, tolerating a truncated end (what is there is used)."""
    import fitdecode

    rows: list[tuple[float, dict[str, Any]]] = []
    sport = "unknown"
    user: dict[str, Any] = {}
    try:
        with fitdecode.FitReader(
            str(path),
            check_crc=fitdecode.CrcCheck.DISABLED,
            error_handling=fitdecode.ErrorHandling.IGNORE,
        ) as reader:
            for frame in reader:
                if not isinstance(frame, fitdecode.FitDataMessage):
                    continue
                if frame.name == "record":
                    values = {f.name: f.value for f in frame.fields}
                    stamp = values.get("timestamp")
                    if isinstance(stamp, datetime):
                        rows.append((stamp.timestamp(), values))
                    elif isinstance(stamp, int):  # seconds (old devices: relative)
                        rows.append((float(stamp), values))
                elif frame.name in ("session", "sport") and sport == "unknown":
                    value = frame.get_value("sport", fallback=None)
                    if isinstance(value, str):
                        sport = value
                elif frame.name == "user_profile":
                    user = {f.name: f.value for f in frame.fields}
    except (fitdecode.FitError, EOFError, ValueError) as exc:
        log.info("%s: stopped reading at %s (%s); using what was read", path.name, len(rows), exc)
    return Recording(path.name, sport, _profile(user), _stretches(rows, sport))


def _profile(user: dict[str, Any]) -> Profile:
    age = user.get("age")
    rest = user.get("resting_heart_rate")
    if isinstance(age, int) and 10 <= age <= 100:
        return Profile(
            age=age, resting_hr=float(rest) if isinstance(rest, int) and rest > 25 else 60.0
        )
    return Profile()


def _number(values: dict[str, Any], *names: str) -> float | None:
    for name in names:
        v = values.get(name)
        if isinstance(v, (int, float)):
            return float(v)
    return None


def _stretches(
    rows: list[tuple[float, dict[str, Any]]], sport: str
) -> tuple[tuple[AlignedSample, ...], ...]:
    if not rows:
        return ()
    rows.sort(key=lambda r: r[0])
    foot = 2.0 if sport in ("running", "walking", "hiking") else 1.0
    out: list[tuple[AlignedSample, ...]] = []
    current: dict[int, AlignedSample] = {}
    start = rows[0][0]
    last_t = -1
    for ts, values in rows:
        t = int(ts - start)
        if t <= last_t:
            continue
        if last_t >= 0 and t - last_t > MAX_PAUSE_S:
            out.append(_fill(current))
            current, start, t = {}, ts, 0
        hr = _number(values, "heart_rate")
        cad = _number(values, "cadence")
        if cad is not None:
            cad = (cad + (_number(values, "fractional_cadence") or 0.0)) * foot
        current[t] = AlignedSample(
            t=t,
            hr_bpm=hr if hr and hr > 20 else None,
            rr_intervals_s=(),
            cadence_spm=cad,
            speed_mps=_number(values, "enhanced_speed", "speed"),
            distance_m=_number(values, "distance"),
            steps=None,
            contact=None,
            hr_gap=not (hr and hr > 20),
        )
        last_t = t
    out.append(_fill(current))
    return tuple(s for s in out if s)


def _fill(by_t: dict[int, AlignedSample]) -> tuple[AlignedSample, ...]:
    if not by_t:
        return ()
    n = max(by_t) + 1
    gap = AlignedSample(
        t=0,
        hr_bpm=None,
        rr_intervals_s=(),
        cadence_spm=None,
        speed_mps=None,
        distance_m=None,
        steps=None,
        contact=None,
        hr_gap=True,
    )
    return tuple(by_t.get(t) or replace(gap, t=t) for t in range(n))


def recording_windows(rec: Recording) -> tuple[np.ndarray, np.ndarray]:
    """(windows, targets) at every STRIDE_S-th second with a reading now and 60 s later.

    Targets (N, 3) hold the recorded heart rate at +10/+30/+60 s, NaN where that second is a gap.
    """
    xs, ts = [], []
    for stretch in rec.stretches:
        hr = np.array([np.nan if s.hr_bpm is None else s.hr_bpm for s in stretch])
        ends = [
            e for e in range(0, len(stretch) - max(HORIZONS_S), STRIDE_S) if not np.isnan(hr[e])
        ]
        if not ends:
            continue
        xs.append(build_windows(stretch, rec.profile, ends))
        ts.append(np.stack([hr[np.array(ends) + h] for h in HORIZONS_S], axis=1))
    if not xs:
        return np.zeros((0, 0, 0), np.float32), np.zeros((0, len(HORIZONS_S)))
    return np.concatenate(xs), np.concatenate(ts)


def evaluate_dir(data_dir: Path, predict: Any) -> dict[str, Any]:
    """MAE per horizon of `predict` (raw windows -> (N, 4) bpm) and of persistence, per file too."""
    names = OUTPUT_NAMES[: len(HORIZONS_S)]
    err_model: list[np.ndarray] = []
    err_base: list[np.ndarray] = []
    files: dict[str, Any] = {}
    for path in sorted(Path(data_dir).glob("*.fit")):
        rec = read_fit(path)
        x, target = recording_windows(rec)
        if len(x) == 0:
            files[path.name] = {"sport": rec.sport, "windows": 0}
            continue
        pred = np.asarray(predict(x))[:, : len(HORIZONS_S)]
        last = x[:, -1, HR_INDEX : HR_INDEX + 1].astype(np.float64)
        em, eb = np.abs(pred - target), np.abs(last - target)
        err_model.append(em)
        err_base.append(eb)
        files[path.name] = {
            "sport": rec.sport,
            "windows": len(x),
            "model_mae_bpm": [round(float(np.nanmean(em[:, j])), 2) for j in range(em.shape[1])],
            "persistence_mae_bpm": [
                round(float(np.nanmean(eb[:, j])), 2) for j in range(eb.shape[1])
            ],
        }
    if not err_model:
        return {"files": files, "windows": 0}
    em, eb = np.concatenate(err_model), np.concatenate(err_base)
    return {
        "data_dir": str(data_dir),
        "windows": len(em),
        "overall": {
            name: {
                "model_mae_bpm": round(float(np.nanmean(em[:, j])), 3),
                "persistence_mae_bpm": round(float(np.nanmean(eb[:, j])), 3),
                "n": int(np.sum(~np.isnan(em[:, j]))),
            }
            for j, name in enumerate(names)
        },
        "files": files,
    }
