"""The person's physiology measured from their own recordings: HRV, resting and maximum heart rate.

Zones (Karvonen: `resting + fraction x (max - resting)`) are only as good as the resting and
maximum heart rates under them. The profile starts with configured or estimated values (Tanaka:
max = 208 - 0.7 x age, whose error is about +-10 bpm for one person); once the sessions hold
enough of the right data, the measured values replace them, and `measured_profile` says which
value came from where.

RMSSD (the root mean square of successive RR differences, in ms) is the short-term vagal HRV
measure used for daily readiness (Task Force of the ESC/NASPE 1996; Plews et al. 2012, 2013).
RR intervals from a chest strap carry artefacts: missed or doubled beats and ectopic beats, and
one such beat inflates RMSSD badly, so they are filtered first (see `accepted_differences`).

These are training figures, not medical measurements: nothing here diagnoses anything.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from statistics import median

import numpy as np

from edge.profile import Profile
from edge.stream.readings import AlignedSample

__all__ = [
    "MAX_SUCCESSIVE_CHANGE",
    "RR_MAX_S",
    "RR_MIN_S",
    "accepted_differences",
    "max_hr_from_sessions",
    "measured_profile",
    "resting_hr_from_samples",
    "rmssd_from_samples",
    "rmssd_ms",
    "still_runs",
    "sustained_peak_hr",
]

log = logging.getLogger(__name__)

#: RR intervals outside 0.3-2.0 s (200-30 bpm) are not heartbeats of a person at rest or at work.
RR_MIN_S = 0.3
RR_MAX_S = 2.0
#: A beat more than 20 % longer or shorter than the previous accepted one is an artefact: the
#: usual threshold for ectopic beats and missed or extra detections (Malik et al. 1989's
#: 20 % rule, as used by Kubios and in the HRV literature).
MAX_SUCCESSIVE_CHANGE = 0.20

#: Heart rates outside this range are sensor faults, whatever the person does.
_PLAUSIBLE_HR = (30.0, 230.0)
#: A second whose heart rate differs this much from the median of its +-4 s is a spike.
_SPIKE_BPM = 15.0
_SPIKE_HALF_WINDOW = 4
#: "Sustained": the mean over this many consecutive seconds, none of them a gap or a spike.
SUSTAINED_S = 5
#: A session counts as a hard effort when its sustained peak reaches this fraction of the
#: reference maximum (90 % of max is the usual floor of "very hard", zone 5 by % of max).
HARD_EFFORT_FRACTION = 0.90


def accepted_differences(rr_intervals_s: Sequence[float]) -> list[float]:
    """Successive RR differences (s) between beats that both pass the artefact filter.

    The filter, applied beat by beat:

    1. Range: a beat outside `RR_MIN_S`..`RR_MAX_S` (0.3-2.0 s) is an artefact.
    2. Relative change: a beat that differs by more than `MAX_SUCCESSIVE_CHANGE` (20 %) from the
       previous accepted beat is an artefact (the first beat is compared with the median of the
       beats in range, so a bad first beat cannot poison the rest). This drops an ectopic beat
       and its compensatory pause, and a missed (doubled) or extra (halved) detection.
    3. A difference counts only between two beats adjacent in the recording that were both
       accepted: a difference taken across a dropped beat is not a successive difference.
    """
    rr = [float(x) for x in rr_intervals_s]
    in_range = [RR_MIN_S <= x <= RR_MAX_S for x in rr]
    if not any(in_range):
        return []
    reference = median(x for x, ok in zip(rr, in_range, strict=True) if ok)
    accepted: list[bool] = []
    for x, ok in zip(rr, in_range, strict=True):
        good = ok and abs(x - reference) <= MAX_SUCCESSIVE_CHANGE * reference + 1e-12
        accepted.append(good)
        if good:
            reference = x
    return [rr[i] - rr[i - 1] for i in range(1, len(rr)) if accepted[i] and accepted[i - 1]]


def _rmssd(differences: Sequence[float], min_differences: int) -> float | None:
    if len(differences) < max(min_differences, 1):
        return None
    return 1000.0 * math.sqrt(sum(d * d for d in differences) / len(differences))


def rmssd_ms(rr_intervals_s: Sequence[float], *, min_differences: int = 2) -> float | None:
    """RMSSD in ms of one uninterrupted RR sequence, after artefact filtering.

    None when fewer than `min_differences` successive differences survive the filter
    (`accepted_differences` documents it). For a readiness reading use about a minute of RR at
    rest (Plews et al. 2013 validated 1-min ultra-short ln RMSSD against longer recordings).
    """
    return _rmssd(accepted_differences(rr_intervals_s), min_differences)


def _hr_runs(samples: Iterable[AlignedSample]) -> list[list[AlignedSample]]:
    """Runs of consecutive seconds with a heart rate: a gap or a missing second breaks a run."""
    runs: list[list[AlignedSample]] = []
    current: list[AlignedSample] = []
    last_t: int | None = None
    for sample in samples:
        usable = sample.hr_bpm is not None and not sample.hr_gap and sample.contact is not False
        if not usable or (last_t is not None and sample.t != last_t + 1):
            if current:
                runs.append(current)
            current = []
        if usable:
            current.append(sample)
        last_t = sample.t
    if current:
        runs.append(current)
    return runs


def rmssd_from_samples(
    samples: Sequence[AlignedSample], *, min_differences: int = 30
) -> float | None:
    """RMSSD in ms over the RR intervals of `samples`, never differencing across a gap.

    Each run of seconds without a heart-rate gap is filtered on its own and the accepted
    differences are pooled; at least `min_differences` (about 30 s of beats at rest) are needed.
    """
    differences: list[float] = []
    for run in _hr_runs(samples):
        differences += accepted_differences([rr for s in run for rr in s.rr_intervals_s])
    return _rmssd(differences, min_differences)


def _is_still(sample: AlignedSample) -> bool:
    """A stride sensor says the person is not moving: zero cadence and zero speed.

    Without a stride sensor (both None) a second is never still, because a steady run and a
    steady rest look alike in heart rate alone.
    """
    if sample.cadence_spm is None and sample.speed_mps is None:
        return False
    return (sample.cadence_spm or 0.0) <= 0.5 and (sample.speed_mps or 0.0) <= 0.05


def still_runs(
    samples: Sequence[AlignedSample], *, min_s: int = 60, no_sensor_is_still: bool = False
) -> list[list[AlignedSample]]:
    """Runs of at least `min_s` consecutive seconds with a heart rate and no movement.

    `no_sensor_is_still`: a second without any stride data counts as still (the person said so).
    """
    runs = []
    for run in _hr_runs(samples):
        current: list[AlignedSample] = []
        for sample in [*run, None]:
            if sample is not None and (
                _is_still(sample)
                or (no_sensor_is_still and sample.cadence_spm is None and sample.speed_mps is None)
            ):
                current.append(sample)
                continue
            if len(current) >= min_s:
                runs.append(current)
            current = []
    return runs


def resting_hr_from_samples(
    samples: Sequence[AlignedSample],
    *,
    min_still_s: int = 120,
    block_s: int = 60,
    max_range_bpm: float = 10.0,
    percentile: float = 10.0,
) -> float | None:
    """Resting heart rate: a low percentile of heart rate over steady, still periods.

    Still seconds are those where the stride sensor reports no movement (`_is_still`). They are
    cut into blocks of `block_s` seconds and a block counts only when its heart rate stays within
    `max_range_bpm` (steady: this drops the recovery right after an effort and the rests between
    strength sets, where cadence is zero but the heart is still working). Resting heart rate is
    the `percentile` (10th) of the heart rates in the counted blocks: Karvonen's resting value
    is the lowest heart rate at rest, and a low percentile rather than the minimum keeps a single
    low reading from setting it. None with fewer than `min_still_s` counted seconds.
    """
    values: list[float] = []
    for run in still_runs(samples, min_s=block_s):
        for start in range(0, len(run) - block_s + 1, block_s):
            block = [s.hr_bpm for s in run[start : start + block_s]]
            if max(block) - min(block) <= max_range_bpm:  # type: ignore[operator]
                values += block  # type: ignore[arg-type]
    if len(values) < min_still_s:
        return None
    return round(float(np.percentile(values, percentile)), 1)


def _despiked(run: Sequence[AlignedSample]) -> list[float | None]:
    """Heart rates of a run with implausible values and spikes replaced by None."""
    hr = [float(s.hr_bpm) for s in run]  # type: ignore[arg-type]
    out: list[float | None] = []
    for i, value in enumerate(hr):
        window = hr[max(0, i - _SPIKE_HALF_WINDOW) : i + _SPIKE_HALF_WINDOW + 1]
        plausible = _PLAUSIBLE_HR[0] <= value <= _PLAUSIBLE_HR[1]
        out.append(value if plausible and abs(value - median(window)) <= _SPIKE_BPM else None)
    return out


def sustained_peak_hr(
    samples: Sequence[AlignedSample], *, percentile: float = 99.5
) -> float | None:
    """A high percentile of the session's sustained 5-s heart rates (bpm), None without any.

    Each 5-s mean covers five consecutive seconds with a heart rate, none of them implausible
    (outside 30-230 bpm) or a spike (more than 15 bpm from the median of its +-4 s): a band that
    double-counts for a second or two cannot set a maximum. The 99.5th percentile of those means,
    rather than the single highest, leaves out what little remains.
    """
    means: list[float] = []
    for run in _hr_runs(samples):
        clean = _despiked(run)
        for i in range(len(clean) - SUSTAINED_S + 1):
            window = clean[i : i + SUSTAINED_S]
            if all(v is not None for v in window):
                means.append(sum(window) / SUSTAINED_S)  # type: ignore[arg-type]
    if not means:
        return None
    return round(float(np.percentile(means, percentile)), 1)


def max_hr_from_sessions(
    sessions_samples: Sequence[Sequence[AlignedSample]], *, reference_max_hr: float | None = None
) -> float | None:
    """Maximum heart rate measured from sessions that reached a hard effort, else None.

    A session's value is its `sustained_peak_hr`. It counts only when it reaches
    `HARD_EFFORT_FRACTION` (90 %) of `reference_max_hr` (the profile's configured or Tanaka
    value; without one, Tanaka's estimate for the default profile's age): an easy session's peak
    says nothing about the maximum. The measured maximum is the highest counted value; it is a
    lower bound of the true maximum (only an all-out effort reaches the true one).
    """
    reference = reference_max_hr if reference_max_hr is not None else Profile().effective_max_hr
    peaks = [p for p in (sustained_peak_hr(s) for s in sessions_samples) if p is not None]
    hard = [p for p in peaks if p >= HARD_EFFORT_FRACTION * reference]
    return max(hard) if hard else None


def measured_profile(
    profile: Profile, sessions_samples: Sequence[Sequence[AlignedSample]]
) -> tuple[Profile, dict[str, object]]:
    """The profile with measured resting and maximum heart rates where the sessions allow.

    Resting: the median of the sessions' `resting_hr_from_samples` (those with enough still
    data), replacing the configured value. Maximum: `max_hr_from_sessions` against the profile's
    current maximum; it replaces the Tanaka estimate, and replaces a configured maximum only
    when it is higher (a heart rate the person really held is above the configured one, while a
    lower measured peak may only mean no session was all-out). The basis says, for each, the
    value used, where it came from ("measured", "configured" or "estimated") and from how many
    sessions.
    """
    resting_values = [
        r for r in (resting_hr_from_samples(s) for s in sessions_samples) if r is not None
    ]
    basis: dict[str, object] = {"sessions": len(sessions_samples)}
    resting = profile.resting_hr
    if resting_values:
        resting = round(float(median(resting_values)), 1)
        basis["resting_hr"] = {
            "value": resting,
            "source": "measured",
            "sessions_used": len(resting_values),
            "configured": profile.resting_hr,
            "method": "10th percentile of steady still periods, median over sessions",
        }
    else:
        basis["resting_hr"] = {
            "value": resting,
            "source": "configured",
            "sessions_used": 0,
            "reason": "no session had 2 min of steady, still heart rate",
        }
    measured_max = max_hr_from_sessions(sessions_samples, reference_max_hr=profile.effective_max_hr)
    max_hr = profile.max_hr
    if measured_max is not None and (profile.max_hr is None or measured_max > profile.max_hr):
        max_hr = measured_max
        basis["max_hr"] = {
            "value": measured_max,
            "source": "measured",
            "replaces": profile.effective_max_hr,
            "replaced_source": "estimated" if profile.max_hr is None else "configured",
            "method": "highest 99.5th percentile of sustained 5-s heart rate in "
            "sessions reaching 90 % of the previous maximum",
        }
    elif profile.max_hr is not None:
        basis["max_hr"] = {
            "value": profile.max_hr,
            "source": "configured",
            "measured_peak": measured_max,
        }
    else:
        basis["max_hr"] = {
            "value": round(profile.effective_max_hr, 1),
            "source": "estimated",
            "method": (
                f"Gulati: 206 - 0.88 x age ({profile.age}), for women"
                if profile.sex == "female"
                else f"Tanaka: 208 - 0.7 x age ({profile.age})"
            ),
            "reason": "no session reached a hard effort",
        }
    if (max_hr if max_hr is not None else profile.effective_max_hr) <= resting + 20:
        log.warning(
            "measured maximum and resting heart rates (%s, %.0f) are implausibly close; "
            "keeping the profile's values",
            max_hr,
            resting,
        )
        _, kept = measured_profile(profile, [])
        return profile, {
            **kept,
            "sessions": len(sessions_samples),
            "warning": "measured values implausible; profile kept",
        }
    return replace(profile, resting_hr=resting, max_hr=max_hr), basis
