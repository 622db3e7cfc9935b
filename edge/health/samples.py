"""Recordings as the health model sees them: one `AlignedSample` per second, then windows.

Every real recording the health model meets (the validation files, a person's own history for
`edgecoach calibrate`, `edgecoach eval hr`) is read by `edge.sources.recordings` and turned
into seconds here, with the same rule the live `edge.stream.aligner.StreamAligner` applies to a
band: a reading at time t is seen in second ``floor(t)`` and held for at most `MAX_HOLD_S`
seconds in all (so a gap of up to two seconds is bridged), never across a longer gap. Longer
gaps stay gaps (``hr_bpm`` None, ``hr_gap`` True): nothing is invented. A pause longer than
`MAX_PAUSE_S` (the watch was stopped) splits the recording into segments, each with a fresh
history, as a new session on the device would be.

`recording_windows` cuts a recording into model inputs and targets: every `STRIDE_S`-th second
that has a heart rate, with the heart rate the stream shows `HORIZONS_S` seconds later (NaN where
that second is a gap). Pure functions: a `Recording` in, arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edge.health.features import (
    FEATURE_NAMES,
    HORIZONS_S,
    WINDOW_S,
    PlannedEffort,
    build_windows,
    effort_array,
    first_hr_index,
    future_plan,
)
from edge.profile import Profile
from edge.sources.recordings import Recording
from edge.stream.readings import AlignedSample

__all__ = [
    "MAX_HOLD_S",
    "MAX_PAUSE_S",
    "STRIDE_S",
    "RecordingWindows",
    "hr_array",
    "recording_to_samples",
    "recording_windows",
    "samples_windows",
    "split_at_pauses",
]

#: A reading is shown for at most this many seconds in all (the live aligner's `max_hold_s`).
MAX_HOLD_S = 3
#: A stretch without any heart rate longer than this starts a new segment (a fresh history).
MAX_PAUSE_S = 120
#: Seconds between the ends of consecutive evaluation windows.
STRIDE_S = 5

#: Picks a plan (or None) for each window end of a segment.
PlanChooser = Callable[[Sequence[AlignedSample], np.ndarray], list[PlannedEffort | None]]


def recording_to_samples(
    recording: Recording, *, max_hold_s: int = MAX_HOLD_S
) -> list[AlignedSample]:
    """One sample per second from the recording's first point to its last.

    A point at time t lands in second ``floor(t)`` (the last point of a second wins, as with the
    aligner); its heart rate, and separately its cadence/speed/distance and its power, are held
    for at most `max_hold_s` seconds in all, so gaps longer than ``max_hold_s - 1`` seconds stay
    gaps. A power channel that never reads above zero is no power at all (a head unit without a
    power meter writes 0 W throughout; read as power it would say the rider did nothing while the
    heart worked).
    """
    points = recording.points
    if not points:
        return []
    has_power = any(p.power_w is not None and p.power_w > 0 for p in points)
    n = int(math.floor(points[-1].t)) + 1
    hold = max(1, int(max_hold_s))
    hr: list[float | None] = [None] * n
    stride: list[tuple[float | None, float | None, float | None] | None] = [None] * n
    hr_at = [-(10**9)] * n
    stride_at = [-(10**9)] * n
    power: list[float | None] = [None] * n
    power_at = [-(10**9)] * n
    rr: list[list[float]] = [[] for _ in range(n)]
    for p in points:
        k = int(math.floor(p.t))
        if p.hr_bpm is not None:
            hr[k] = float(p.hr_bpm)
            hr_at[k] = k
        if p.rr_intervals_s:
            rr[k].extend(p.rr_intervals_s)
        if p.cadence_spm is not None or p.speed_mps is not None or p.distance_m is not None:
            stride[k] = (p.cadence_spm, p.speed_mps, p.distance_m)
            stride_at[k] = k
        if has_power and p.power_w is not None:
            power[k] = float(p.power_w)
            power_at[k] = k
    out: list[AlignedSample] = []
    last_hr: float | None = None
    last_hr_k = -(10**9)
    last_stride: tuple[float | None, float | None, float | None] | None = None
    last_stride_k = -(10**9)
    last_power: float | None = None
    last_power_k = -(10**9)
    for k in range(n):
        if hr_at[k] == k:
            last_hr, last_hr_k = hr[k], k
        if stride_at[k] == k:
            last_stride, last_stride_k = stride[k], k
        if power_at[k] == k:
            last_power, last_power_k = power[k], k
        h = last_hr if k - last_hr_k < hold else None
        s = last_stride if k - last_stride_k < hold else None
        out.append(
            AlignedSample(
                t=k,
                hr_bpm=h,
                rr_intervals_s=tuple(rr[k]),
                cadence_spm=None if s is None else s[0],
                speed_mps=None if s is None else s[1],
                distance_m=None if s is None else s[2],
                steps=None,
                contact=None,
                hr_gap=h is None,
                power_w=last_power if k - last_power_k < hold else None,
            )
        )
    return out


def hr_array(samples: Sequence[AlignedSample]) -> np.ndarray:
    """Heart rate per second as float64, NaN in gaps."""
    return np.array([np.nan if s.hr_bpm is None else s.hr_bpm for s in samples], dtype=np.float64)


def split_at_pauses(
    samples: Sequence[AlignedSample], *, max_pause_s: int = MAX_PAUSE_S
) -> list[list[AlignedSample]]:
    """Cut at every run of more than `max_pause_s` seconds without heart rate; drop those runs.

    Each segment starts at its first second with a heart rate; its samples keep their own ``t``.
    """
    hr = hr_array(samples)
    have = np.flatnonzero(~np.isnan(hr))
    if have.size == 0:
        return []
    segments: list[list[AlignedSample]] = []
    start = int(have[0])
    prev = start
    for k in have[1:]:
        k = int(k)
        if k - prev - 1 > max_pause_s:
            segments.append(list(samples[start : prev + 1]))
            start = k
        prev = k
    segments.append(list(samples[start : prev + 1]))
    return segments


@dataclass(frozen=True, slots=True)
class RecordingWindows:
    """Model inputs cut from one recording, and what the stream showed later."""

    #: Raw windows (N, WINDOW_S, n_features) from `build_windows`.
    x: np.ndarray
    #: Heart rate (N, len(HORIZONS_S)) at +10/+30/+60 s, NaN where that second is a gap.
    target: np.ndarray
    #: (N,) index of the segment each window comes from and (N,) its end second in the segment.
    segment: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def samples_windows(
    samples: Sequence[AlignedSample],
    profile: Profile,
    *,
    stride_s: int = STRIDE_S,
    offset: int = 0,
    min_history_s: int = 0,
    plan: str | None = None,
    plans_for: PlanChooser | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, target, ends) for one segment: every `stride_s`-th second that has a heart rate.

    Ends run from the first heart rate plus `offset` (and at least `min_history_s` seconds in) to
    the last second that leaves room for the longest horizon. With `plan` ("power" or "speed")
    every window is given the effort that actually followed as its plan (`future_plan`), and
    windows without one (that effort mostly unknown ahead) are left out, and so is a whole
    segment whose effort of that kind never reads above zero. `plans_for` instead
    picks each window's plan (or None) itself, from the segment and the window ends (the export
    gives some windows a plan and others none).
    """
    hr = hr_array(samples)
    first = first_hr_index(samples)
    horizon = max(HORIZONS_S)
    empty = (
        np.zeros((0, WINDOW_S, len(FEATURE_NAMES)), np.float32),
        np.zeros((0, len(HORIZONS_S))),
        np.zeros(0, np.int64),
    )
    if first is None:
        return empty
    start = first + max(0, min_history_s) + max(0, offset)
    ends = np.arange(start, len(samples) - horizon, max(1, stride_s))
    ends = ends[~np.isnan(hr[ends])] if ends.size else ends
    plans: list[PlannedEffort | None] | None = None
    if plan is not None and not np.any(effort_array(samples, plan) > 0):
        # A meter that never reads above zero (a head unit writing 0 W without a power meter)
        # plans nothing: such a segment has no windows with that plan.
        ends = ends[:0]
    if plan is not None and ends.size:
        plans = [future_plan(samples, int(e), plan) for e in ends]
        keep = np.array([p is not None for p in plans], dtype=bool)
        ends = ends[keep]
        plans = [p for p in plans if p is not None]
    elif plans_for is not None and ends.size:
        plans = plans_for(samples, ends)
    if ends.size == 0:
        return empty
    x = build_windows(samples, profile, ends.tolist(), plans)
    target = np.stack([hr[ends + h] for h in HORIZONS_S], axis=1)
    return x, target, ends


def recording_windows(
    recording: Recording,
    profile: Profile | None = None,
    *,
    stride_s: int = STRIDE_S,
    offset: int = 0,
    plan: str | None = None,
    plans_for: PlanChooser | None = None,
) -> RecordingWindows:
    """Windows and targets for a whole recording, segment by segment (see `split_at_pauses`).

    `profile` defaults to `Profile()` (age 40, resting 60, max from age): what a new user has.
    `plan` ("power" or "speed"): give each window the effort that followed as its plan (see
    `samples_windows`).
    """
    profile = profile or Profile()
    xs, ts, segs, ends = [], [], [], []
    for i, segment in enumerate(split_at_pauses(recording_to_samples(recording))):
        x, target, e = samples_windows(
            segment, profile, stride_s=stride_s, offset=offset, plan=plan, plans_for=plans_for
        )
        if len(x):
            xs.append(x)
            ts.append(target)
            segs.append(np.full(len(x), i, dtype=np.int64))
            ends.append(e)
    if not xs:
        return RecordingWindows(
            np.zeros((0, WINDOW_S, len(FEATURE_NAMES)), np.float32),
            np.zeros((0, len(HORIZONS_S))),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )
    return RecordingWindows(
        np.concatenate(xs), np.concatenate(ts), np.concatenate(segs), np.concatenate(ends)
    )
