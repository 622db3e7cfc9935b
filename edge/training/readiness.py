"""Readiness: today's resting HRV and heart rate against the person's own recent normal.

The method follows Plews et al. (2012, 2013; Plews, Laursen, Stanley, Kilding & Buchheit,
"Training adaptation and heart rate variability in elite endurance athletes", Sports Med 2013):
RMSSD is log-transformed (ln RMSSD, because its day-to-day spread grows with its size) and
compared with the person's rolling 7-day mean, in units of that week's standard deviation;
HRV-guided training (Kiviniemi et al. 2007; Vesterinen et al. 2016) trains hard when ln RMSSD is
within or above the normal range and easy when it has dropped below it. A resting heart rate
several beats above its baseline (Buchheit 2014, "Monitoring training status with HR measures")
points the same way and is counted too.

Readiness compares the person with themselves only; it is a training figure, not a medical
finding, and it diagnoses nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import fmean, stdev
from typing import Literal

import numpy as np

from edge.stream.readings import AlignedSample
from edge.training.physiology import rmssd_from_samples, still_runs

__all__ = [
    "BASELINE_DAYS",
    "MORNING_SOURCE",
    "MIN_BASELINE_DAYS",
    "MorningReading",
    "Readiness",
    "is_morning_reading",
    "readiness",
    "reading_from_samples",
]

#: The baseline: the 7 days before today (Plews et al.'s rolling 7-day mean).
BASELINE_DAYS = 7
#: Fewer baseline days than this is "not enough data".
MIN_BASELINE_DAYS = 3
#: Floors for the baseline's standard deviation, so that a few identical days do not turn a tiny
#: change into a large one: 0.05 ln units (about 5 % of RMSSD) and 2 bpm.
MIN_SD_LN_RMSSD = 0.05
MIN_SD_RESTING_HR = 2.0
#: A resting heart rate this many bpm above baseline weighs as much as ln RMSSD one SD below.
RESTING_HR_BPM_PER_SD = 5.0
#: score = 50 + SCORE_PER_SD x combined z, clipped to 0..100; low below 30, high above 70, i.e.
#: more than one SD below or above the person's normal (the "normal range" of HRV-guided plans).
SCORE_PER_SD = 20.0
LOW_BELOW = 30
HIGH_ABOVE = 70

Level = Literal["low", "normal", "high", "unknown"]

#: Sessions recorded by `edgecoach morning` are stored with this source prefix ("morning/ble").
MORNING_SOURCE = "morning/"


def is_morning_reading(source: str) -> bool:
    """Whether a stored session of this source is a resting reading (`edgecoach morning`):
    readiness comes from these only, and none of them is training (no load, no minutes)."""
    return source.startswith(MORNING_SOURCE)


@dataclass(frozen=True, slots=True)
class MorningReading:
    """One day's resting measurement: ideally 1-2 min lying or sitting still after waking."""

    date: date
    resting_hr: float | None
    rmssd_ms: float | None


@dataclass(frozen=True, slots=True)
class Readiness:
    #: 0..100, 50 being the person's normal; None when there is not enough data.
    score: int | None
    #: "low", "normal" or "high"; "unknown" when there is not enough data.
    level: Level
    basis: dict[str, object] = field(default_factory=dict)
    #: The day the reading was taken.
    date: date | None = None

    @property
    def known(self) -> bool:
        return self.score is not None

    def as_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "level": self.level,
            "date": None if self.date is None else self.date.isoformat(),
            "basis": self.basis,
        }


def _z(value: float, baseline: Sequence[float], sd_floor: float) -> tuple[float, float, float]:
    mean = fmean(baseline)
    sd = max(stdev(baseline) if len(baseline) > 1 else 0.0, sd_floor)
    return (value - mean) / sd, mean, sd


def readiness(history: Sequence[MorningReading], today: MorningReading) -> Readiness:
    """Today's readiness from ln RMSSD and resting heart rate against the previous 7 days.

    The baseline is the readings of the 7 days before `today.date` (the latest reading of each
    day). With `MIN_BASELINE_DAYS` (3) or more days of RMSSD:
    `z_hrv = (ln RMSSD_today - mean) / SD` over the baseline's ln RMSSD, and with 3 or more
    resting heart rates `z_rhr = (HR_today - mean) / 5 bpm`; `combined = z_hrv - z_rhr`
    (either alone when only one is measured), `score = 50 + 20 x combined` clipped to 0..100.
    Level: "low" below 30 (more than one SD worse than the person's normal), "high" above 70,
    "normal" between. Fewer than 3 baseline days, or nothing measured today: "unknown", with the
    reason in the basis.
    """
    start = today.date - timedelta(days=BASELINE_DAYS)
    by_day: dict[date, MorningReading] = {}
    for reading in history:
        if start <= reading.date < today.date:
            by_day[reading.date] = reading
    days = [by_day[d] for d in sorted(by_day)]
    ln_baseline = [math.log(r.rmssd_ms) for r in days if r.rmssd_ms and r.rmssd_ms > 0]
    hr_baseline = [r.resting_hr for r in days if r.resting_hr is not None]
    basis: dict[str, object] = {
        "method": "ln RMSSD and resting HR vs the previous 7 days (Plews et al. 2013)",
        "baseline_days": len(days),
        "baseline_from": start.isoformat(),
        "today_rmssd_ms": None if today.rmssd_ms is None else round(today.rmssd_ms, 1),
        "today_resting_hr": None if today.resting_hr is None else round(today.resting_hr, 1),
    }
    use_hrv = (
        today.rmssd_ms is not None and today.rmssd_ms > 0 and len(ln_baseline) >= MIN_BASELINE_DAYS
    )
    use_rhr = today.resting_hr is not None and len(hr_baseline) >= MIN_BASELINE_DAYS
    if not (use_hrv or use_rhr):
        measured_today = today.rmssd_ms is not None or today.resting_hr is not None
        basis["reason"] = (
            f"not enough data: {max(len(ln_baseline), len(hr_baseline))} of the "
            f"{MIN_BASELINE_DAYS} days of baseline needed"
            if measured_today
            else "not enough data: no reading today"
        )
        return Readiness(None, "unknown", basis, today.date)
    combined = 0.0
    if use_hrv:
        z_hrv, mean, sd = _z(
            math.log(today.rmssd_ms),
            ln_baseline,  # type: ignore[arg-type]
            MIN_SD_LN_RMSSD,
        )
        combined += z_hrv
        basis.update(
            ln_rmssd_today=round(math.log(today.rmssd_ms), 3),  # type: ignore[arg-type]
            ln_rmssd_baseline_mean=round(mean, 3),
            ln_rmssd_baseline_sd=round(sd, 3),
            ln_rmssd_days=len(ln_baseline),
            z_hrv=round(z_hrv, 2),
        )
    if use_rhr:
        mean_hr = fmean(hr_baseline)
        delta = today.resting_hr - mean_hr  # type: ignore[operator]
        z_rhr = delta / RESTING_HR_BPM_PER_SD
        combined -= z_rhr
        basis.update(
            resting_hr_baseline=round(mean_hr, 1),
            resting_hr_delta=round(delta, 1),
            resting_hr_days=len(hr_baseline),
            z_rhr=round(z_rhr, 2),
        )
    score = int(round(float(np.clip(50.0 + SCORE_PER_SD * combined, 0.0, 100.0))))
    level: Level = "low" if score < LOW_BELOW else "high" if score > HIGH_ABOVE else "normal"
    basis.update(
        combined_z=round(combined, 2),
        uses=[n for n, used in (("hrv", use_hrv), ("resting_hr", use_rhr)) if used],
    )
    return Readiness(score, level, basis, today.date)


def reading_from_samples(
    day: date,
    samples: Sequence[AlignedSample],
    *,
    min_s: int = 60,
    settle_s: int = 10,
    max_s: int = 300,
    declared_still: bool = False,
) -> MorningReading | None:
    """A resting reading from the still period at the start of a session, or None.

    The first run of at least `min_s` still seconds (no cadence, no speed) that begins within the
    session's first 30 s is used, less its first `settle_s` and at most `max_s` long: resting
    heart rate is its mean, RMSSD its `rmssd_from_samples`. A reading taken before a session is
    a stand-in for a true waking reading (Plews et al. used 1 min lying on waking): compare only
    like with like, at the same time of day and position.

    `declared_still`: the person said they were lying still (`edgecoach morning`), so seconds
    without any stride sensor count as still too; a footpod that reports movement still wins.
    """
    runs = still_runs(samples, min_s=min_s, no_sensor_is_still=declared_still)
    if not runs or runs[0][0].t - samples[0].t > 30:
        return None
    run = runs[0][settle_s : settle_s + max_s]
    if len(run) < min_s - settle_s:
        return None
    resting = round(fmean(s.hr_bpm for s in run), 1)  # type: ignore[misc]
    return MorningReading(day, resting, rmssd_from_samples(run))
