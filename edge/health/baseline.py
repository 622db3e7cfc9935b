"""What physiology alone gets: the first-order kinetics baseline the health model is scored against,
and the kinetics columns it reads.

For a window ending at second ``end`` of a stretch of 1 Hz arrays (NaN where nothing was
measured), the person's own kinetics (`edge.health.kinetics.fit_kinetics`: steady heart rate
linear in effort, time constant, delay and drift all fitted) are fitted on the `FIT_S` seconds up
to a refit point at or before ``end`` (one every `REFIT_S` seconds: causal, and cheap enough to
run every second on the device and over whole folders here), then stepped through the coming
effort:

- planned: the effort of the plan (in evaluation, the effort that actually followed, as an ERG
  bike or a workout plan would have enforced it);
- live (no plan): the mean effort of the last `HOLD_S` seconds, held.

Where the past cannot support a fit (less than two minutes of heart rate, an effort that hardly
changed, no effort measured) there is no kinetics forecast: the baseline then says persistence,
so every window is scored, and reports the share of windows it could fit. The grid of time
constants and delays is coarser than the calibration's (`TAUS_S`, `DELAYS_S`), and fits are
cached by their input, so a window every second costs one fit a minute. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

import numpy as np

from edge.health.kinetics import KineticsBounds, KineticsFit, bounds_for, fit_kinetics, predict

__all__ = [
    "FIT_S",
    "HOLD_S",
    "REFIT_S",
    "baseline_bounds",
    "forecast_window",
    "held",
    "kinetics_forecasts",
]

#: Seconds of the recent past the kinetics are fitted on.
FIT_S = 600
#: Seconds between refits.
REFIT_S = 60
#: Live forecasts hold the mean effort of this many last seconds.
HOLD_S = 30
#: The grid searched for each fit (the calibration's is finer; this one runs every minute).
TAUS_S = (25.0, 45.0, 75.0)
DELAYS_S = (3, 8)
#: A forecast change beyond this (bpm) is a fit gone wrong, not physiology: clipped.
MAX_CHANGE_BPM = 60.0


def held(values: np.ndarray) -> np.ndarray:
    """The last known value carried into gaps (leading NaN stay NaN)."""
    have = ~np.isnan(values)
    idx = np.where(have, np.arange(len(values)), -1)
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx >= 0, values[np.maximum(idx, 0)], np.nan)


def baseline_bounds(kind: str) -> KineticsBounds:
    """The kinetics bounds of `kind` with this module's coarser grid."""
    return replace(bounds_for(kind), taus_s=TAUS_S, delays_s=DELAYS_S)


@lru_cache(maxsize=1024)
def _fit(hr: bytes, effort: bytes, kind: str) -> KineticsFit | None:
    return fit_kinetics(
        np.frombuffer(hr), np.frombuffer(effort), effort_kind=kind, bounds=baseline_bounds(kind)
    )


def forecast_window(
    hr: np.ndarray,
    effort: np.ndarray,
    end: int,
    refit: int,
    horizons: Sequence[int],
    kind: str,
    plan: np.ndarray | None = None,
) -> np.ndarray | None:
    """Heart rate at `horizons` seconds after index `end`, or None without a fit.

    `hr` and `effort` are float64 arrays of consecutive seconds (NaN: unknown) reaching at least
    to `end`; the kinetics are fitted on the `FIT_S` seconds up to index `refit` (<= end). `plan`
    is the effort of the seconds after `end` (None: hold the recent mean).
    """
    lo = max(0, refit - FIT_S + 1)
    fit = _fit(
        np.ascontiguousarray(hr[lo : refit + 1], dtype=np.float64).tobytes(),
        np.ascontiguousarray(effort[lo : refit + 1], dtype=np.float64).tobytes(),
        kind,
    )
    if fit is None:
        return None
    seen = hr[lo : end + 1]
    seen = seen[~np.isnan(seen)]
    if seen.size == 0:
        return None
    now = float(seen[-1])
    past = effort[lo : end + 1]
    known = past[~np.isnan(past)]
    working = (
        fit.working_min_at_end
        + float(np.sum(np.nan_to_num(effort[refit + 1 : end + 1]) > 0)) / 60.0
    )
    longest = max(horizons)
    if plan is not None:
        coming = np.full(longest, np.nan)
        coming[: min(longest, len(plan))] = plan[:longest]
        if np.isnan(coming[0]):
            coming[0] = known[-1] if known.size else 0.0
    else:
        recent = effort[max(lo, end - HOLD_S + 1) : end + 1]
        recent = recent[~np.isnan(recent)]
        level = float(recent.mean()) if recent.size else (float(known[-1]) if known.size else 0.0)
        coming = np.full(longest, level)
    path = predict(fit.params, now, coming, past_effort=past, working_min=working)
    change = np.clip(path[np.asarray(horizons) - 1] - now, -MAX_CHANGE_BPM, MAX_CHANGE_BPM)
    return now + change


def kinetics_forecasts(
    hr: np.ndarray,
    effort: np.ndarray,
    ends: Sequence[int] | np.ndarray,
    horizons: Sequence[int],
    *,
    effort_kind: str,
    planned: bool,
) -> tuple[np.ndarray, float]:
    """(forecasts (len(ends), len(horizons)) in bpm, share of windows with a kinetics fit).

    `hr` and `effort` are one segment's seconds (NaN: unknown); `effort_kind` is "power" (W) or
    "speed" (m/s); with `planned` each window's plan is the effort that followed it. Windows
    without a fit get persistence (the last heart rate shown).
    """
    hr = np.asarray(hr, dtype=np.float64)
    effort = np.asarray(effort, dtype=np.float64)
    shown = held(hr)
    out = np.empty((len(ends), len(horizons)))
    fitted = 0
    for i, end in enumerate(np.asarray(ends, dtype=np.int64)):
        end = int(end)
        plan = effort[end + 1 : end + 1 + max(horizons)] if planned else None
        forecast = forecast_window(
            hr, effort, end, end - end % REFIT_S, horizons, effort_kind, plan
        )
        if forecast is None:
            out[i] = shown[end]
        else:
            out[i] = forecast
            fitted += 1
    return out, (fitted / len(ends) if len(ends) else 0.0)
