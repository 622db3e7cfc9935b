"""Feature engineering for the health model: the one place a window of the stream becomes numbers.

The export stage imports this module to make its training windows and the device calls it at run
time, so the two can never disagree. Everything here is pure: samples and a profile in, arrays
out.

A window is the last `WINDOW_S` seconds of the 1 Hz stream, one row per second, columns named by
`FEATURE_NAMES`:

* ``hr_bpm``: heart rate; in a gap the last value seen is carried (never invented) and
  ``hr_gap`` is 1. Seconds at the start of a session before the first reading hold the first
  reading, also with ``hr_gap`` 1.
* ``hr_reserve_frac``: the same heart rate as a fraction of the person's heart-rate reserve.
* ``pad``: 1 for rows added in front of a history shorter than the window (they copy the first
  real row), 0 otherwise.
* ``moving``: 1 where cadence is above 0 or speed above 0.5 m/s.
* ``cadence_rel`` and ``speed_rel``: cadence (steps/min walking or running, rpm cycling) and
  speed relative to their own mean over the window's known, moving seconds
  (``value / mean - 1``, clipped to -1..1; 0 when unknown), with ``cadence_gap`` / ``speed_gap``
  set to 1 where the stream has None. Relative on purpose: the same effort is 2 m/s for one
  runner and 4 m/s for another, and a bike's speed depends on the road, so absolute values
  mislead a model more than they help it; a change of pace within the window does not.
* ``hr_delta_10s``: heart rate now minus 10 s earlier (bpm; 0 where there is no earlier second).
* ``cadence_change`` and ``speed_change``: the mean over the last `CHANGE_RECENT_S` seconds
  relative to the mean over the `CHANGE_BEFORE_S` seconds before them (``recent / before - 1``,
  clipped to -1..1; 0 when either is unknown or zero). What precedes a heart-rate change is a
  change of effort, and this is it, seen row by row.
* ``effort_change_age``: seconds since the last effort change (a start or stop, or a cadence or
  speed change above `EFFORT_CHANGE_FRAC`), over `EFFORT_AGE_CAP_S` and capped at 1: 0 right
  after a change, 1 for a steady effort (or none seen).
* ``age``, ``resting_hr``, ``max_hr`` (the profile's effective max) and ``max_hr_estimated``
  (1 when max is Tanaka's estimate from age), repeated on every row.
* ``power_rel``, ``power_gap``, ``power_level`` and ``power_change``: power (from a power meter
  or the machine) as cadence and speed are treated, plus its level in hundreds of watts (0 when
  unknown): on a bike, effort is power; cadence and speed hide it. Speed is the footpod's or
  else the machine's belt or virtual speed.
* ``plan_known``, ``plan_power`` and ``plan_0_10`` / ``plan_10_30`` / ``plan_30_60``: the
  effort planned for the coming seconds (a structured workout's targets, an ERG bike's watts, a
  treadmill program's speed), when one is known (`PlannedEffort`): its mean over the slices
  0-10, 10-30 and 30-60 s ahead relative to the mean of the same effort over the last
  `PLAN_REFERENCE_S` seconds (``planned / recent - 1``, clipped to -1..2), on every row of the
  window; ``plan_power`` is 1 for a plan in watts, 0 for one in speed. Without a plan all five
  are 0 and the model forecasts from the past alone: one model serves both cases.
* ``kin_known`` and ``kin_10`` / ``kin_30`` / ``kin_60``: what physiology alone forecasts, the
  heart-rate change (bpm) at +10/+30/+60 s of the person's own first-order kinetics fitted on
  the last ten minutes of this session (`edge.health.baseline`, refitted every minute), stepped
  through the plan when there is one, else through the recent effort held; in power when the
  past has power, else in speed. 0 (``kin_known`` 0) where the past cannot support a fit.
  This and ``hr_vs_recent`` are the parts of a window that read further back than
  `LOOKBACK_S`: up to `HISTORY_S` seconds, what the coaching session keeps.
* ``hr_vs_recent``: the heart rate now minus its mean over the last `RECENT_MEAN_S` seconds
  (bpm; 0 with no earlier reading), on every row. A heart well above where it has been for ten
  minutes tends back towards it within a minute; the 60-second window cannot see that level (on
  the real recordings the live +60 s errors of the model without it fell as this rose, -0.24
  correlation).

Rows are computed from the history: the change columns of a row look back at most
`LOOKBACK_S` seconds before it, so the rows read ``WINDOW_S + LOOKBACK_S`` seconds of history;
the kinetics columns and ``hr_vs_recent`` read `HISTORY_S` (what the coaching session keeps).

The model's inputs are normalised with `Normalisation` (saved as JSON beside the ONNX file and
applied by the runtime, not baked into the graph); its outputs are corrections to an anchor
(`forecast_anchor`), in normalised units, turned back into bpm by
`Normalisation.outputs_to_bpm`. The anchor is persistence ("heart rate stays as it is") plus a
fitted share of ``hr_vs_recent`` (`Normalisation.reversion`), except where physiology is known
to do better: with a plan in watts and a kinetics fit, the anchor at +10/+30/+60 s is the
kinetics forecast (``kin_*``). The network learns what to add to the anchor.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from edge.health.baseline import FIT_S, REFIT_S, forecast_window
from edge.profile import Profile
from edge.stream.readings import AlignedSample

__all__ = [
    "FEATURE_NAMES",
    "PLAN_KINDS",
    "PLAN_SLICES_S",
    "PlannedEffort",
    "FLAG_FEATURES",
    "HISTORY_S",
    "HORIZONS_S",
    "LOOKBACK_S",
    "HR_INDEX",
    "OUTPUT_NAMES",
    "WINDOW_S",
    "Normalisation",
    "build_window",
    "build_windows",
    "first_hr_index",
    "effort_array",
    "future_plan",
    "with_profile",
]

#: Seconds of stream the model looks at.
WINDOW_S = 60
#: Seconds before a row that its change columns may look at (see `build_window`).
LOOKBACK_S = 60
#: Seconds of history the kinetics columns read: a fit's span plus the time since its refit.
HISTORY_S = FIT_S + REFIT_S
#: ``hr_vs_recent`` compares the heart rate now with its mean over this many seconds.
RECENT_MEAN_S = 600
#: The change columns compare the mean of the last CHANGE_RECENT_S seconds with the
#: CHANGE_BEFORE_S seconds before them.
CHANGE_RECENT_S = 5
CHANGE_BEFORE_S = 20
#: A relative cadence or speed change above this is an effort change.
EFFORT_CHANGE_FRAC = 0.15
#: `effort_change_age` counts up to this many seconds.
EFFORT_AGE_CAP_S = 30

FEATURE_NAMES: tuple[str, ...] = (
    "hr_bpm",
    "hr_reserve_frac",
    "hr_gap",
    "pad",
    "moving",
    "cadence_rel",
    "cadence_gap",
    "speed_rel",
    "speed_gap",
    "hr_delta_10s",
    "cadence_change",
    "speed_change",
    "effort_change_age",
    "age",
    "resting_hr",
    "max_hr",
    "max_hr_estimated",
    "power_rel",
    "power_gap",
    "power_level",
    "power_change",
    "plan_known",
    "plan_power",
    "plan_0_10",
    "plan_10_30",
    "plan_30_60",
    "kin_known",
    "kin_10",
    "kin_30",
    "kin_60",
    "hr_vs_recent",
)

#: 0/1 columns: left as they are by normalisation.
FLAG_FEATURES: frozenset[str] = frozenset(
    {
        "hr_gap",
        "pad",
        "moving",
        "cadence_gap",
        "speed_gap",
        "max_hr_estimated",
        "power_gap",
        "plan_known",
        "plan_power",
        "kin_known",
    }
)

#: The planned-effort slices (seconds ahead, from..to) the plan columns summarise.
PLAN_SLICES_S: tuple[tuple[int, int], ...] = ((0, 10), (10, 30), (30, 60))
#: Seconds of the recent past a plan is compared with.
PLAN_REFERENCE_S = 30
PLAN_COLUMNS = ("plan_0_10", "plan_10_30", "plan_30_60")
KINETICS_COLUMNS = ("kin_known", "kin_10", "kin_30", "kin_60")
#: Kinds of effort a plan can be given in.
PLAN_KINDS = ("power", "speed")

OUTPUT_NAMES: tuple[str, ...] = ("hr_10s", "hr_30s", "hr_60s", "hr_expected")

#: Forecast horizons in seconds, in the order of the first three outputs.
HORIZONS_S: tuple[int, ...] = (10, 30, 60)

HR_INDEX = FEATURE_NAMES.index("hr_bpm")
_COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def first_hr_index(history: Sequence[AlignedSample]) -> int | None:
    """Index of the first sample that carries a heart rate, or None when none does."""
    for i, s in enumerate(history):
        if s.hr_bpm is not None:
            return i
    return None


@dataclass(frozen=True, slots=True)
class PlannedEffort:
    """The effort planned for the coming seconds: what an ERG bike or a workout plan enforces.

    `values` holds one value per second from the next second on (watts for ``kind`` "power",
    m/s for "speed"); a plan shorter than the last slice is held at its last value.
    """

    kind: str
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.kind not in PLAN_KINDS:
            raise ValueError(f"a plan is in {' or '.join(PLAN_KINDS)}, not {self.kind!r}")
        if not self.values:
            raise ValueError("a plan needs at least one second of planned effort")
        if not all(math.isfinite(v) and v >= 0 for v in self.values):
            raise ValueError("planned effort must be finite and not negative")

    def slice_means(self) -> np.ndarray:
        """Mean planned effort over each of `PLAN_SLICES_S`."""
        values = np.asarray(self.values, dtype=np.float64)
        end = PLAN_SLICES_S[-1][1]
        if len(values) < end:
            values = np.concatenate([values, np.full(end - len(values), values[-1])])
        return np.array([values[a:b].mean() for a, b in PLAN_SLICES_S])


def future_plan(
    samples: Sequence[AlignedSample], end: int, kind: str, length: int = PLAN_SLICES_S[-1][1]
) -> PlannedEffort | None:
    """The effort that actually came after second `end`, as if it had been the plan.

    How a recording is scored "as an ERG bike or a treadmill program would have enforced it":
    the next `length` seconds of power (or speed), unknown seconds holding the last known value;
    None when fewer than half of them are known.
    """
    values = np.array(
        [
            np.nan if (v := _effort_value(s, kind)) is None else v
            for s in samples[end + 1 : end + 1 + length]
        ]
    )
    have = ~np.isnan(values)
    if have.sum() < max(1, len(values) // 2):
        return None
    idx = np.where(have, np.arange(len(values)), 0)
    np.maximum.accumulate(idx, out=idx)
    held = values[idx]
    held[: int(np.argmax(have))] = values[have][0]
    return PlannedEffort(kind, tuple(float(v) for v in held))


def effort_array(samples: Sequence[AlignedSample], kind: str) -> np.ndarray:
    """Power (W) or speed (m/s: the footpod's, else the machine's) per second, NaN if unknown."""
    return np.array(
        [np.nan if (v := _effort_value(s, kind)) is None else v for s in samples], dtype=np.float64
    )


def _effort_value(sample: AlignedSample, kind: str) -> float | None:
    if kind == "power":
        return sample.power_w
    return sample.speed_mps if sample.speed_mps is not None else sample.machine_speed_mps


def _rows(
    samples: Sequence[AlignedSample], profile: Profile, carried_hr: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows for `samples` (relative and plan columns still empty), raw cadence, speed
    and power.

    `carried_hr` is the last heart rate seen before `samples`, carried into leading gaps.
    Cadence, speed and power are NaN where unknown.
    """
    n = len(samples)
    x = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
    hr = np.empty(n, dtype=np.float64)
    cadence = np.full(n, np.nan)
    speed = np.full(n, np.nan)
    power = np.full(n, np.nan)
    gap = np.zeros(n, dtype=bool)
    last = carried_hr
    for i, s in enumerate(samples):
        if s.hr_bpm is not None:
            last = float(s.hr_bpm)
        else:
            gap[i] = True
        hr[i] = np.nan if last is None else last
        if s.cadence_spm is not None:
            cadence[i] = s.cadence_spm
        if (v := _effort_value(s, "speed")) is not None:
            speed[i] = v
        if s.power_w is not None:
            power[i] = s.power_w
    if np.isnan(hr).all():
        raise ValueError("no heart rate in the history: the health model needs at least one")
    # Seconds before the first reading (no earlier value to carry) hold the first reading.
    first = int(np.argmax(~np.isnan(hr)))
    hr[:first] = hr[first]
    reserve = max(profile.heart_rate_reserve, 1.0)
    with np.errstate(invalid="ignore"):
        moving = (cadence > 0) | (speed > 0.5) | (power > 0)
    x[:, _COL["hr_bpm"]] = hr
    x[:, _COL["hr_reserve_frac"]] = (hr - profile.resting_hr) / reserve
    x[:, _COL["hr_gap"]] = gap
    x[:, _COL["moving"]] = moving
    x[:, _COL["cadence_gap"]] = np.isnan(cadence)
    x[:, _COL["speed_gap"]] = np.isnan(speed)
    x[:, _COL["age"]] = profile.age
    x[:, _COL["resting_hr"]] = profile.resting_hr
    x[:, _COL["max_hr"]] = profile.effective_max_hr
    x[:, _COL["max_hr_estimated"]] = 1.0 if profile.max_hr_is_estimated else 0.0
    back = np.maximum(np.arange(n) - 10, 0)
    x[:, _COL["hr_delta_10s"]] = hr - hr[back]
    cadence_change = _change(cadence)
    speed_change = _change(speed)
    x[:, _COL["cadence_change"]] = cadence_change
    x[:, _COL["speed_change"]] = speed_change
    power_change = _change(power)
    x[:, _COL["power_gap"]] = np.isnan(power)
    x[:, _COL["power_level"]] = np.nan_to_num(power) / 100.0
    x[:, _COL["power_change"]] = power_change
    x[:, _COL["effort_change_age"]] = _effort_age(
        moving, cadence_change, speed_change, power_change
    )
    return x, cadence, speed, power


def _span_mean(values: np.ndarray, end_offset: int, length: int) -> np.ndarray:
    """Per row i: mean of the known values in rows ``i-end_offset-length+1 .. i-end_offset``.

    NaN where that span holds no known value. Summed element by element over a sliding view
    (not by differences of a running sum) so a row gets bit for bit the same value whatever
    history precedes it: `build_window` and `build_windows` must agree exactly.
    """
    n = len(values)
    pad = np.full(end_offset + length - 1, np.nan)
    padded = np.concatenate([pad, values.astype(np.float64)])[: n + length - 1]
    view = np.lib.stride_tricks.sliding_window_view(padded, length)
    known = ~np.isnan(view)
    k = known.sum(axis=1)
    total = np.where(known, view, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 0, total / k, np.nan)


def _change(values: np.ndarray) -> np.ndarray:
    """``recent / before - 1`` per row (see the module doc), clipped to -1..1, 0 when unknown."""
    recent = _span_mean(values, 0, CHANGE_RECENT_S)
    before = _span_mean(values, CHANGE_RECENT_S, CHANGE_BEFORE_S)
    eps = 1e-3
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(before > eps, recent / before - 1.0, np.where(recent > eps, 1.0, 0.0))
    rel = np.where(np.isnan(recent) | np.isnan(before), 0.0, rel)
    return np.clip(rel, -1.0, 1.0).astype(np.float32)


def _effort_age(
    moving: np.ndarray,
    cadence_change: np.ndarray,
    speed_change: np.ndarray,
    power_change: np.ndarray,
) -> np.ndarray:
    n = len(moving)
    event = (
        (np.abs(cadence_change) > EFFORT_CHANGE_FRAC)
        | (np.abs(speed_change) > EFFORT_CHANGE_FRAC)
        | (np.abs(power_change) > EFFORT_CHANGE_FRAC)
    )
    event[1:] |= moving[1:] != moving[:-1]
    idx = np.where(event, np.arange(n), -(10**9))
    last = np.maximum.accumulate(idx) if n else idx
    age = np.minimum(np.arange(n) - last, EFFORT_AGE_CAP_S) / EFFORT_AGE_CAP_S
    return age.astype(np.float32)


def _relative(values: np.ndarray, moving: np.ndarray) -> np.ndarray:
    known = ~np.isnan(values) & moving
    if not known.any():
        return np.zeros(len(values), dtype=np.float32)
    mean = float(values[known].mean())
    if mean <= 0:
        return np.zeros(len(values), dtype=np.float32)
    rel = np.clip(values / mean - 1.0, -1.0, 1.0)
    return np.where(np.isnan(values), 0.0, rel).astype(np.float32)


def _plan_columns(plan: PlannedEffort, speed: np.ndarray, power: np.ndarray) -> tuple[float, ...]:
    """(plan_power, plan_0_10, plan_10_30, plan_30_60) for a plan and the window's raw effort."""
    recent = (power if plan.kind == "power" else speed)[-PLAN_REFERENCE_S:]
    planned = plan.slice_means()
    known = recent[~np.isnan(recent)]
    reference = float(known.mean()) if known.size else float("nan")
    if not reference > 1e-3:
        # Nothing measured yet (the ERG bike has just started): compare with the plan's start.
        reference = max(float(planned[0]), 1e-3)
    rel = np.clip(planned / reference - 1.0, -1.0, 2.0)
    return (1.0 if plan.kind == "power" else 0.0, *(float(v) for v in rel))


def _window(
    x: np.ndarray,
    cadence: np.ndarray,
    speed: np.ndarray,
    power: np.ndarray,
    plan: PlannedEffort | None = None,
) -> np.ndarray:
    """One window from its rows: relative and plan columns filled in, padded to WINDOW_S rows."""
    x = x[-WINDOW_S:].copy()
    cadence, speed, power = cadence[-WINDOW_S:], speed[-WINDOW_S:], power[-WINDOW_S:]
    moving = x[:, _COL["moving"]] > 0
    x[:, _COL["cadence_rel"]] = _relative(cadence, moving)
    x[:, _COL["speed_rel"]] = _relative(speed, moving)
    x[:, _COL["power_rel"]] = _relative(power, moving)
    if plan is not None:
        kind, *rel = _plan_columns(plan, speed, power)
        x[:, _COL["plan_known"]] = 1.0
        x[:, _COL["plan_power"]] = kind
        for name, value in zip(PLAN_COLUMNS, rel, strict=True):
            x[:, _COL[name]] = value
    missing = WINDOW_S - len(x)
    if missing <= 0:
        return x
    # Pad at the start, copying the first row and flagging `pad`.
    front = np.repeat(x[:1], missing, axis=0)
    front[:, _COL["pad"]] = 1.0
    return np.concatenate([front, x], axis=0)


def _kinetics_columns(
    hr: np.ndarray, power: np.ndarray, speed: np.ndarray, t_end: int, plan: PlannedEffort | None
) -> tuple[float, ...]:
    """(kin_known, kin_10, kin_30, kin_60) for a window ending at the last of these seconds."""
    known_hr = hr[~np.isnan(hr)]
    if known_hr.size == 0:
        return (0.0,) * (1 + len(HORIZONS_S))
    end = len(hr) - 1
    refit = end - int(t_end) % REFIT_S
    for kind in (plan.kind,) if plan is not None else PLAN_KINDS:
        effort = power if kind == "power" else speed
        if np.count_nonzero(~np.isnan(effort[: refit + 1])) < 120:
            continue
        coming = None if plan is None else np.asarray(plan.values, dtype=np.float64)
        forecast = forecast_window(hr, effort, end, refit, HORIZONS_S, kind, coming)
        if forecast is not None:
            return (1.0, *(float(v) for v in forecast - known_hr[-1]))
    return (0.0,) * (1 + len(HORIZONS_S))


def _raw_arrays(samples: Sequence[AlignedSample]) -> tuple[np.ndarray, ...]:
    """Heart rate, power and speed per second (NaN where unknown), and each second's ``t``."""
    hr = np.array([np.nan if s.hr_bpm is None else s.hr_bpm for s in samples], dtype=np.float64)
    return (
        hr,
        effort_array(samples, "power"),
        effort_array(samples, "speed"),
        np.array([s.t for s in samples], dtype=np.int64),
    )


def _set_kinetics(window: np.ndarray, columns: tuple[float, ...]) -> None:
    for name, value in zip(KINETICS_COLUMNS, columns, strict=True):
        window[:, _COL[name]] = value


def _set_recent(window: np.ndarray, hr: np.ndarray) -> None:
    """``hr_vs_recent``: the window's last heart rate minus the mean of the known heart rate
    in the last `RECENT_MEAN_S` seconds of `hr` (the history up to the window's end)."""
    recent = hr[-RECENT_MEAN_S:]
    known = recent[~np.isnan(recent)]
    value = float(window[-1, HR_INDEX]) - float(known.mean()) if known.size else 0.0
    window[:, _COL["hr_vs_recent"]] = value


def build_window(
    history: Sequence[AlignedSample], profile: Profile, plan: PlannedEffort | None = None
) -> np.ndarray:
    """The model input for the newest second of `history`: shape (WINDOW_S, n_features), float32.

    `history` is the stream so far, oldest first (it may be longer than the window; only the last
    WINDOW_S + LOOKBACK_S seconds are read, plus the last heart rate seen before them to carry
    into a gap). `plan` is the effort planned from the next second on, when one is known.
    Raises ValueError when the history is empty or holds no heart rate at all.
    """
    if not history:
        raise ValueError("empty history: the health model needs at least one second")
    tail = history[-(WINDOW_S + LOOKBACK_S) :]
    carried: float | None = None
    for s in reversed(history[: len(history) - len(tail)]):
        if s.hr_bpm is not None:
            carried = float(s.hr_bpm)
            break
    window = _window(*_rows(tail, profile, carried), plan=plan)
    hr, power, speed, t = _raw_arrays(history[-HISTORY_S:])
    _set_kinetics(window, _kinetics_columns(hr, power, speed, int(t[-1]), plan))
    _set_recent(window, hr)
    return window


def build_windows(
    history: Sequence[AlignedSample],
    profile: Profile,
    ends: Sequence[int],
    plans: Sequence[PlannedEffort | None] | None = None,
) -> np.ndarray:
    """`build_window(history[: e + 1], profile, plan)` for every e in `ends` (and its plan in
    `plans`, if given), stacked: (N, W, F).

    Computes the stream's rows once, for making training windows from a whole recording. Every
    end must lie at or after the first sample with a heart rate (see `first_hr_index`).
    """
    if plans is not None and len(plans) != len(ends):
        raise ValueError(f"{len(plans)} plans for {len(ends)} window ends")
    rows, cadence, speed, power = _rows(history, profile, None)
    raw_hr, raw_power, raw_speed, t = _raw_arrays(history)
    first = first_hr_index(history)
    out = np.empty((len(ends), WINDOW_S, len(FEATURE_NAMES)), dtype=np.float32)
    for k, e in enumerate(ends):
        if not 0 <= e < len(history):
            raise IndexError(f"end {e} outside the history (length {len(history)})")
        if first is None or e < first:
            raise ValueError(f"no heart rate up to second {e}")
        lo = max(0, e - WINDOW_S + 1)
        out[k] = _window(
            rows[lo : e + 1],
            cadence[lo : e + 1],
            speed[lo : e + 1],
            power[lo : e + 1],
            plan=None if plans is None else plans[k],
        )
        lo = max(0, e - HISTORY_S + 1)
        _set_kinetics(
            out[k],
            _kinetics_columns(
                raw_hr[lo : e + 1],
                raw_power[lo : e + 1],
                raw_speed[lo : e + 1],
                int(t[e]),
                None if plans is None else plans[k],
            ),
        )
        _set_recent(out[k], raw_hr[lo : e + 1])
    return out


def with_profile(windows: np.ndarray, profile: Profile) -> np.ndarray:
    """Raw windows (..., W, F) as if they had been built with `profile`: a copy.

    Rewrites the profile columns and ``hr_reserve_frac``; nothing else depends on the profile.
    This is how a calibration's measured resting and max heart rate reach the model without the
    caller rebuilding its windows.
    """
    out = np.array(windows, dtype=np.float32, copy=True)
    reserve = max(profile.heart_rate_reserve, 1.0)
    out[..., _COL["hr_reserve_frac"]] = (out[..., _COL["hr_bpm"]] - profile.resting_hr) / reserve
    out[..., _COL["age"]] = profile.age
    out[..., _COL["resting_hr"]] = profile.resting_hr
    out[..., _COL["max_hr"]] = profile.effective_max_hr
    out[..., _COL["max_hr_estimated"]] = 1.0 if profile.max_hr_is_estimated else 0.0
    return out


def kinetics_anchored(windows: np.ndarray) -> np.ndarray:
    """(N,) bool: the windows whose anchor is the kinetics forecast (a plan in watts and a
    kinetics fit); the others' is persistence (plus the reversion)."""
    last = np.asarray(windows)[:, -1]
    return (
        (last[:, _COL["plan_known"]] > 0.5)
        & (last[:, _COL["plan_power"]] > 0.5)
        & (last[:, _COL["kin_known"]] > 0.5)
    )


def forecast_anchor(windows: np.ndarray, reversion: Sequence[float] = ()) -> np.ndarray:
    """(N, len(OUTPUT_NAMES)) bpm that a network output of 0 stands for, per raw window.

    The window's last heart rate (persistence), plus, for the heart-rate outputs of windows with
    a plan in watts and a kinetics fit, the kinetics forecast's change: knowing the coming
    watts, physiology alone beats persistence by far on real rides (the model card's table), so
    the network corrects it rather than rebuilding it. For the other windows, `reversion` (one
    factor per horizon, from `Normalisation.reversion`) times ``hr_vs_recent``: the share of the
    gap between the heart rate now and its last ten minutes' mean that closes by each horizon,
    a regression fitted on the training windows (the network, trained mostly on simulated
    hearts and shrunk by its gains, had left most of that on real recordings).
    """
    last = np.asarray(windows)[:, -1]
    hr = last[:, HR_INDEX].astype(np.float64)
    out = np.repeat(hr[:, None], len(OUTPUT_NAMES), axis=1)
    use = kinetics_anchored(windows)
    for j, column in enumerate(KINETICS_COLUMNS[1:]):
        out[use, j] += last[use, _COL[column]]
    gap = last[~use, _COL["hr_vs_recent"]].astype(np.float64)
    for j, factor in enumerate(tuple(reversion)[: len(HORIZONS_S)]):
        out[~use, j] += factor * gap
    return out


#: Version of the normalisation JSON this code writes and reads.
NORMALISATION_VERSION = 4


@dataclass(frozen=True, slots=True)
class Normalisation:
    """How raw windows become model inputs and model outputs become bpm.

    Inputs: ``(x - input_mean) / input_std`` per feature (flags keep mean 0, std 1). Outputs: the
    network gives z per output; the forecast is
    ``last_hr + output_mean + z * output_std * output_gain``. The export centres nothing
    (``output_mean`` 0), so z = 0 is persistence, and ``output_gain`` (0..1 per output, fitted
    on validation data after training) shrinks the network's correction towards persistence
    where it is less sure than it thinks.
    """

    feature_names: tuple[str, ...]
    output_names: tuple[str, ...]
    window_s: int
    input_mean: tuple[float, ...]
    input_std: tuple[float, ...]
    output_mean: tuple[float, ...]
    output_std: tuple[float, ...]
    output_gain: tuple[float, ...] = ()
    #: The gains for windows with a plan in watts and in speed (`PlannedEffort`): knowing the
    #: coming effort, the network's correction deserves more trust than without.
    output_gain_power: tuple[float, ...] = ()
    output_gain_speed: tuple[float, ...] = ()
    #: Per output, the factor of ``hr_vs_recent`` added to persistence in the anchor
    #: (`forecast_anchor`); 0 for ``hr_expected``.
    reversion: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.reversion:
            object.__setattr__(self, "reversion", tuple(0.0 for _ in self.output_names))
        if not self.output_gain:
            object.__setattr__(self, "output_gain", tuple(1.0 for _ in self.output_names))
        for name in ("output_gain_power", "output_gain_speed"):
            if not getattr(self, name):
                object.__setattr__(self, name, self.output_gain)

    @classmethod
    def fit(
        cls, windows: np.ndarray, deltas: np.ndarray, mask: np.ndarray, *, center: bool = False
    ) -> Normalisation:
        """Statistics from training windows (N, W, F) and targets (N, O) valid where `mask`.

        The output scale is the mean absolute change per output (robust to the heavy tails of
        real heart rate); with `center` false (the default) the outputs are not centred.
        """
        flat = windows.reshape(-1, windows.shape[-1]).astype(np.float64)
        mean = flat.mean(axis=0)
        std = flat.std(axis=0)
        for i, name in enumerate(FEATURE_NAMES):
            if name in FLAG_FEATURES:
                mean[i], std[i] = 0.0, 1.0
        std = np.where(std < 1e-6, 1.0, std)
        out_mean = np.zeros(deltas.shape[1])
        out_std = np.ones(deltas.shape[1])
        for j in range(deltas.shape[1]):
            valid = deltas[mask[:, j], j].astype(np.float64)
            if valid.size:
                out_mean[j] = valid.mean() if center else 0.0
                out_std[j] = max(float(np.abs(valid - out_mean[j]).mean()), 1e-3)
        return cls(
            feature_names=FEATURE_NAMES,
            output_names=OUTPUT_NAMES,
            window_s=WINDOW_S,
            input_mean=tuple(float(v) for v in mean),
            input_std=tuple(float(v) for v in std),
            output_mean=tuple(float(v) for v in out_mean),
            output_std=tuple(float(v) for v in out_std),
        )

    def with_gain(
        self,
        gain: Sequence[float],
        power: Sequence[float] | None = None,
        speed: Sequence[float] | None = None,
    ) -> Normalisation:
        """The same statistics with another `output_gain` (and planned gains: by default the
        same)."""
        power = gain if power is None else power
        speed = gain if speed is None else speed
        if not len(gain) == len(power) == len(speed) == len(self.output_names):
            raise ValueError("one gain per output")
        return replace(
            self,
            output_gain=tuple(float(g) for g in gain),
            output_gain_power=tuple(float(g) for g in power),
            output_gain_speed=tuple(float(g) for g in speed),
        )

    def with_reversion(self, reversion: Sequence[float]) -> Normalisation:
        """The same statistics with another anchor `reversion` (one factor per output)."""
        if len(reversion) != len(self.output_names):
            raise ValueError("one reversion factor per output")
        return replace(self, reversion=tuple(float(r) for r in reversion))

    def anchor(self, windows: np.ndarray) -> np.ndarray:
        """`forecast_anchor` with these statistics' reversion."""
        return forecast_anchor(windows, self.reversion)

    def gains_for(self, windows: np.ndarray) -> np.ndarray:
        """(N, O) gain per window and output: by the window's plan (none, power, speed)."""
        last = windows[:, -1]
        planned = last[:, _COL["plan_known"]] > 0.5
        power = planned & (last[:, _COL["plan_power"]] > 0.5)
        speed = planned & ~power
        gain = np.tile(np.asarray(self.output_gain, dtype=np.float64), (len(windows), 1))
        gain[power] = self.output_gain_power
        gain[speed] = self.output_gain_speed
        return gain

    def inputs(self, windows: np.ndarray) -> np.ndarray:
        """Raw windows (..., W, F) to normalised model inputs, float32."""
        mean = np.asarray(self.input_mean, dtype=np.float32)
        std = np.asarray(self.input_std, dtype=np.float32)
        return ((windows - mean) / std).astype(np.float32)

    def targets(self, deltas: np.ndarray) -> np.ndarray:
        """Target changes in bpm (N, O) to the normalised values the network learns (no gain)."""
        mean = np.asarray(self.output_mean, dtype=np.float32)
        std = np.asarray(self.output_std, dtype=np.float32)
        return ((deltas - mean) / std).astype(np.float32)

    def outputs_to_bpm(self, z: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """Network outputs (N, O) for raw windows (N, W, F) to heart rates in bpm (N, O)."""
        mean = np.asarray(self.output_mean, dtype=np.float64)
        scale = np.asarray(self.output_std, dtype=np.float64) * self.gains_for(windows)
        return self.anchor(windows) + mean + z.astype(np.float64) * scale

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "format": "edgecoach-health-normalisation",
            "version": NORMALISATION_VERSION,
            "feature_names": list(self.feature_names),
            "output_names": list(self.output_names),
            "window_s": self.window_s,
            "input_mean": list(self.input_mean),
            "input_std": list(self.input_std),
            "output_mean": list(self.output_mean),
            "output_std": list(self.output_std),
            "output_gain": list(self.output_gain),
            "output_gain_power": list(self.output_gain_power),
            "output_gain_speed": list(self.output_gain_speed),
            "reversion": list(self.reversion),
            "outputs_are": "correction to an anchor: bpm = anchor + mean + z * std * gain, the "
            "anchor being the last hr_bpm plus, with a plan in watts and kin_known, kin_10/30/60, "
            "else reversion x hr_vs_recent",
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Normalisation:
        """Parse the JSON written by `to_json`; raises ValueError when it is not that."""
        try:
            data = json.loads(text)
            if data.get("version") != NORMALISATION_VERSION:
                raise ValueError(
                    f"version {data.get('version')!r}, this code reads {NORMALISATION_VERSION}"
                )
            norm = cls(
                feature_names=tuple(data["feature_names"]),
                output_names=tuple(data["output_names"]),
                window_s=int(data["window_s"]),
                input_mean=tuple(float(v) for v in data["input_mean"]),
                input_std=tuple(float(v) for v in data["input_std"]),
                output_mean=tuple(float(v) for v in data["output_mean"]),
                output_std=tuple(float(v) for v in data["output_std"]),
                output_gain=tuple(float(v) for v in data["output_gain"]),
                output_gain_power=tuple(float(v) for v in data["output_gain_power"]),
                output_gain_speed=tuple(float(v) for v in data["output_gain_speed"]),
                reversion=tuple(float(v) for v in data["reversion"]),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a health normalisation file: {exc}") from exc
        n_in, n_out = len(norm.feature_names), len(norm.output_names)
        if len(norm.input_mean) != n_in or len(norm.input_std) != n_in:
            raise ValueError("normalisation: input statistics do not match the feature names")
        if (
            len(norm.output_mean) != n_out
            or len(norm.output_std) != n_out
            or len(norm.output_gain) != n_out
            or len(norm.output_gain_power) != n_out
            or len(norm.output_gain_speed) != n_out
            or len(norm.reversion) != n_out
        ):
            raise ValueError("normalisation: output statistics do not match the output names")
        return norm

    def check_compatible(self) -> None:
        """Raise ValueError when these statistics were made for other features than this code's."""
        if self.feature_names != FEATURE_NAMES:
            raise ValueError(
                f"the model was made for features {list(self.feature_names)}, this code builds "
                f"{list(FEATURE_NAMES)}"
            )
        if self.output_names != OUTPUT_NAMES:
            raise ValueError(
                f"the model gives {list(self.output_names)}, this code expects {list(OUTPUT_NAMES)}"
            )
        if self.window_s != WINDOW_S:
            raise ValueError(f"the model was made for {self.window_s} s windows, not {WINDOW_S}")
