"""Fitness markers per session and their trend over weeks, as GoldenCheetah and TrainingPeaks
define them.

For a ride (a power meter or a bike: `measure` "power") or a run or walk (a footpod's or a
belt's speed: "speed"), over the moving seconds (heart rate known and the effort above the
floors of `edge.coach.drift`):

* **efficiency factor** (EF, Friel / TrainingPeaks; GoldenCheetah's "Efficiency Factor"): for a
  ride, normalized power over mean heart rate, W per beat/min; normalized power (Coggan) is
  the fourth root of the mean fourth power of the 30-second rolling mean power. For a run,
  TrainingPeaks uses normalized graded pace; no grade is recorded here, so it is the mean speed
  over mean heart rate, in metres per minute per beat/min. Higher: more effort per beat.
* **aerobic decoupling** (Pa:HR): EF (mean effort / mean heart rate) of the first half of the
  moving seconds after the warm-up against the second half, percent
  (`edge.coach.drift.decoupling_pct`, the same formula as the live drift cue). Under 5 % on a
  long steady effort is the usual sign of a sound aerobic base; intervals make it meaningless.
* **heart rate at a reference effort** (150 W, or 2.5 m/s = 9 km/h): the steady heart rate
  the session's own kinetics (`edge.health.kinetics`, drift left out) give at it, or, for a
  steady session whose effort did not vary enough to fit them, the mean heart rate of the
  seconds spent within 10 % of it; only inside the range of efforts the session covered.

A trend needs at least `MIN_TREND_SESSIONS` sessions of one measure over `MIN_TREND_DAYS` days;
with fewer, it says how many there are and how many it needs. These are training markers: they
never say anything about health.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np

from edge.coach.drift import DecouplingSettings, decoupling_pct
from edge.health.kinetics import fit_kinetics
from edge.health.personal_kinetics import effort_series
from edge.stream.readings import AlignedSample

__all__ = [
    "MIN_TREND_DAYS",
    "MIN_TREND_SESSIONS",
    "REFERENCE",
    "FitnessMarkers",
    "fitness_trend",
    "normalized_power",
    "session_markers",
]

#: The reference effort heart rate is given at: watts, and metres per second.
REFERENCE = {"power": 150.0, "speed": 2.5}
#: Moving seconds a session needs for any marker.
MIN_MOVING_S = 600
#: Moving seconds after the warm-up that decoupling needs (20 minutes, two halves of 10).
MIN_DECOUPLING_S = 1200
MIN_TREND_SESSIONS = 4
MIN_TREND_DAYS = 21
_FLOORS = DecouplingSettings()


@dataclass(frozen=True, slots=True)
class FitnessMarkers:
    """One session's markers (see the module docstring)."""

    #: "power" (a ride) or "speed" (a run or walk).
    measure: str
    moving_s: int
    mean_hr: float
    #: Mean effort over the moving seconds: W, or m/s.
    mean_effort: float
    #: Normalized power, W; None for "speed".
    normalized_power_w: float | None
    #: W per beat/min, or metres per minute per beat/min.
    efficiency_factor: float
    decoupling_pct: float | None
    #: The reference effort (W or m/s) and the heart rate there, None where it cannot be said.
    reference: float
    hr_at_reference: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FitnessMarkers:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]

    @property
    def reference_words(self) -> str:
        """ "150 W", "9 km/h" """
        if self.measure == "power":
            return f"{self.reference:.0f} W"
        return f"{self.reference * 3.6:g} km/h"


def normalized_power(power_w: Sequence[float] | np.ndarray) -> float | None:
    """Coggan's normalized power of 1 Hz power (missing seconds left out), None under 30 s."""
    p = np.asarray(power_w, dtype=float)
    p = p[np.isfinite(p)]
    if len(p) < 30:
        return None
    rolling = np.convolve(p, np.ones(30) / 30.0, mode="valid")
    return float(np.mean(rolling**4) ** 0.25)


def session_markers(samples: Sequence[AlignedSample]) -> FitnessMarkers | None:
    """The session's markers, by power when it has enough, else by speed; None without
    `MIN_MOVING_S` moving seconds of either."""
    for measure in ("power", "speed"):
        markers = _markers(samples, measure)
        if markers is not None:
            return markers
    return None


def _markers(samples: Sequence[AlignedSample], measure: str) -> FitnessMarkers | None:
    hr, effort = effort_series(samples, measure)
    floor = _FLOORS.min_power_w if measure == "power" else _FLOORS.min_speed_mps
    with np.errstate(invalid="ignore"):
        moving = np.isfinite(hr) & np.isfinite(effort) & (effort >= floor)
    if moving.sum() < MIN_MOVING_S:
        return None
    mean_hr = float(hr[moving].mean())
    mean_effort = float(effort[moving].mean())
    npower = normalized_power(effort) if measure == "power" else None
    if measure == "power":
        if npower is None:
            return None
        ef = npower / mean_hr
    else:
        ef = mean_effort * 60.0 / mean_hr
    reference = REFERENCE[measure]
    return FitnessMarkers(
        measure=measure,
        moving_s=int(moving.sum()),
        mean_hr=round(mean_hr, 1),
        mean_effort=round(mean_effort, 2),
        normalized_power_w=None if npower is None else round(npower, 1),
        efficiency_factor=round(ef, 3),
        decoupling_pct=_decoupling(hr, effort, moving),
        reference=reference,
        hr_at_reference=_hr_at(hr, effort, measure, reference),
    )


def _decoupling(hr: np.ndarray, effort: np.ndarray, moving: np.ndarray) -> float | None:
    """Pa:HR: first half of the moving seconds after the warm-up against the second half."""
    after = np.flatnonzero(moving)
    after = after[after >= _FLOORS.warmup_s]
    if len(after) < MIN_DECOUPLING_S:
        return None
    first, last = after[: len(after) // 2], after[len(after) // 2 :]
    value = decoupling_pct(
        float(hr[first].mean()),
        float(effort[first].mean()),
        float(hr[last].mean()),
        float(effort[last].mean()),
    )
    return round(value, 1)


def _hr_at(hr: np.ndarray, effort: np.ndarray, measure: str, reference: float) -> float | None:
    """Heart rate at the reference effort: the session's steady state there, or the mean of
    the seconds spent near it; None when the session did not ride or run near it."""
    trailing = _trailing_mean(effort, 60)
    covered = trailing[np.isfinite(trailing)]
    if not len(covered) or not covered.min() * 0.9 <= reference <= covered.max() * 1.1:
        return None  # never extrapolated beyond the efforts the session covered
    fit = fit_kinetics(hr, effort, effort_kind=measure)
    if fit is not None and fit.rmse_bpm < 6.0:
        return round(fit.params.steady_hr(reference), 1)
    settled = np.zeros(len(hr), dtype=bool)
    settled[300:] = True  # heart rate still rising from rest in the first minutes
    with np.errstate(invalid="ignore"):
        near = settled & np.isfinite(hr) & (np.abs(trailing - reference) <= 0.1 * reference)
    if near.sum() < 120:
        return None
    return round(float(hr[near].mean()), 1)


def _trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last `window` seconds (missing ones left out), NaN with under half known."""
    known = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(known, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(known)])
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(idx - window, 0)
    n = counts[idx] - counts[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (sums[idx] - sums[start]) / n
    out[n < window // 2] = np.nan
    return out


def fitness_trend(
    sessions: Sequence[tuple[datetime, FitnessMarkers]],
) -> dict[str, float | int | str]:
    """Facts for "am I getting fitter?": the efficiency factor (and the heart rate at the
    reference) of the earlier half of the sessions against the later half, for the measure
    with the most sessions. Without enough sessions: `fitness_sessions`, `fitness_days` and
    what is needed (`needed_sessions`, `needed_days`), and no trend."""
    if not sessions:
        return {
            "fitness_sessions": 0,
            "fitness_days": 0,
            "needed_sessions": MIN_TREND_SESSIONS,
            "needed_days": MIN_TREND_DAYS,
        }
    counts: dict[str, int] = {}
    for _, m in sessions:
        counts[m.measure] = counts.get(m.measure, 0) + 1
    measure = max(counts, key=lambda k: (counts[k], k == "power"))
    chosen = sorted(((t, m) for t, m in sessions if m.measure == measure), key=lambda x: x[0])
    days = (chosen[-1][0] - chosen[0][0]).days
    facts: dict[str, float | int | str] = {
        "measure": measure,
        "fitness_sessions": len(chosen),
        "fitness_days": days,
    }
    if len(chosen) < MIN_TREND_SESSIONS or days < MIN_TREND_DAYS:
        facts["needed_sessions"] = MIN_TREND_SESSIONS
        facts["needed_days"] = MIN_TREND_DAYS
        return facts
    half = len(chosen) // 2
    before, recent = chosen[:half], chosen[-half:]
    ef_before = float(np.mean([m.efficiency_factor for _, m in before]))
    ef_recent = float(np.mean([m.efficiency_factor for _, m in recent]))
    facts |= {
        "weeks": max(1, round(days / 7)),
        "ef_before": round(ef_before, 2),
        "ef_recent": round(ef_recent, 2),
        "ef_change_pct": abs(round((ef_recent - ef_before) / ef_before * 100)),
        "ef_direction": "up" if ef_recent >= ef_before else "down",
    }
    hr_before = [m.hr_at_reference for _, m in before if m.hr_at_reference is not None]
    hr_recent = [m.hr_at_reference for _, m in recent if m.hr_at_reference is not None]
    if len(hr_before) >= 2 and len(hr_recent) >= 2:
        reference = chosen[-1][1]
        facts |= {
            "reference": round(reference.reference * (1 if measure == "power" else 3.6), 1),
            "hr_at_reference_before": round(float(np.mean(hr_before))),
            "hr_at_reference_recent": round(float(np.mean(hr_recent))),
        }
    decoupling = [m.decoupling_pct for _, m in recent if m.decoupling_pct is not None]
    if decoupling:
        facts["decoupling_recent_pct"] = round(float(np.mean(decoupling)))
    return facts


def ef_unit(measure: str) -> str:
    return "W per beat/min" if measure == "power" else "m/min per beat/min"
