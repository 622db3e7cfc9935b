"""Heart rate answering effort: a person's first-order kinetics, fitted on their own past.

The physiology the coach can lean on when it knows the coming effort (a planned step, a machine
in ERG; shared/notes/effort.md): heart rate moves towards a steady state that rises linearly
with effort (power in W on a bike, speed in m/s on foot or a belt), with one time constant,
after a few seconds' delay, and drifts up slowly while working (cardiac drift):

    steady(t) = rest + gain * effort(t - delay) + drift * working_minutes(t)
    hr(t + 1) = hr(t) + (steady(t) - hr(t)) * (1 - exp(-1 / tau))

`fit_kinetics` finds rest, gain and drift by least squares for each (tau, delay) of a small
grid and keeps the pair with the smallest error. It simulates the model open-loop over the
window from a fitted starting heart rate ("output error"), which beat-to-beat noise does not
bias the way a one-step regression of dHR on HR would. It only ever looks at the samples it is
given, so fitting on the last minutes of a session and forecasting the next ones is causal.
`predict` steps the model from the heart rate now through an effort plan. Pure numpy: samples
in, frozen dataclasses and arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "EFFORT_KINDS",
    "KineticsBounds",
    "KineticsFit",
    "KineticsParams",
    "bounds_for",
    "fit_kinetics",
    "fit_rest",
    "predict",
    "working_minutes",
]

#: What effort is measured in: "power" in W, "speed" in m/s.
EFFORT_KINDS = ("power", "speed")


@dataclass(frozen=True, slots=True)
class KineticsParams:
    """One person's heart answering one kind of effort."""

    #: Steady heart rate at zero effort (seated on the bike, standing on the belt), beats/min.
    rest_bpm: float
    #: Beats/min added per unit of effort at steady state (per W, or per m/s).
    gain: float
    #: Seconds for 63 % of a change in steady state.
    tau_s: float
    #: Seconds before a change of effort starts to move the heart.
    delay_s: int
    #: Beats/min added per minute of work (effort above zero), cardiac drift.
    drift_bpm_per_min: float = 0.0
    #: "power" (W) or "speed" (m/s).
    effort_kind: str = "power"

    def __post_init__(self) -> None:
        if self.effort_kind not in EFFORT_KINDS:
            raise ValueError(f"effort_kind must be one of {EFFORT_KINDS}, got {self.effort_kind!r}")
        for name in ("rest_bpm", "gain", "tau_s", "drift_bpm_per_min"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"kinetics {name} must be finite")
        if self.tau_s <= 0 or self.delay_s < 0 or self.gain <= 0:
            raise ValueError("kinetics need tau_s > 0, delay_s >= 0 and gain > 0")

    def steady_hr(self, effort: float, working_min: float = 0.0) -> float:
        """The heart rate this effort settles at after `working_min` minutes of work."""
        return self.rest_bpm + self.gain * max(effort, 0.0) + self.drift_bpm_per_min * working_min

    def effort_for(self, hr_bpm: float, working_min: float = 0.0) -> float:
        """The effort whose steady state is `hr_bpm` (never below zero)."""
        rest = self.rest_bpm + self.drift_bpm_per_min * working_min
        return max(0.0, (hr_bpm - rest) / self.gain)


@dataclass(frozen=True, slots=True)
class KineticsBounds:
    """What a believable fit may say; outside these, the data rather than the heart is odd."""

    gain_min: float
    gain_max: float
    taus_s: tuple[float, ...] = (20.0, 25.0, 30.0, 36.0, 43.0, 52.0, 62.0, 75.0, 90.0, 110.0)
    delays_s: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15)
    drift_max_bpm_per_min: float = 1.5
    #: Least effort spread (standard deviation) for the gain to be told from noise.
    min_effort_spread: float = 10.0


#: Power: 0.2-0.5 bpm/W on real rides and the simulator's riders, with room either side.
#: Speed: roughly 8-40 bpm per m/s between walking and running.
_BOUNDS = {
    "power": KineticsBounds(gain_min=0.08, gain_max=1.2, min_effort_spread=10.0),
    "speed": KineticsBounds(gain_min=3.0, gain_max=60.0, min_effort_spread=0.2),
}


def bounds_for(effort_kind: str) -> KineticsBounds:
    if effort_kind not in _BOUNDS:
        raise ValueError(f"effort_kind must be one of {EFFORT_KINDS}, got {effort_kind!r}")
    return _BOUNDS[effort_kind]


@dataclass(frozen=True, slots=True)
class KineticsFit:
    """A fit and how far to trust it."""

    params: KineticsParams
    #: Root-mean-square error of the open-loop simulation over the window, beats/min.
    rmse_bpm: float
    #: Heart-rate samples the fit rests on.
    samples: int
    #: Minutes of work at the window's end: pass it to `predict` to forecast on from there.
    working_min_at_end: float = 0.0


def working_minutes(effort: Sequence[float] | np.ndarray, start_min: float = 0.0) -> np.ndarray:
    """Minutes of work (effort above zero) before each second, from `start_min`."""
    e = np.nan_to_num(np.asarray(effort, dtype=float), nan=0.0)
    working = (e > 0).astype(float) / 60.0
    return start_min + np.concatenate([[0.0], np.cumsum(working)[:-1]])


def _clean_effort(effort: np.ndarray) -> np.ndarray:
    """Gaps hold the last known effort (a dropped packet, not a stop); leading gaps are 0."""
    out = effort.astype(float).copy()
    last = 0.0
    for i, value in enumerate(out):
        if math.isfinite(value):
            last = max(value, 0.0)
        out[i] = last
    return out


def _delayed(effort: np.ndarray, delay: int, before: float) -> np.ndarray:
    if delay == 0:
        return effort
    return np.concatenate([np.full(delay, before), effort[:-delay]])


def fit_kinetics(
    hr: Sequence[float] | np.ndarray,
    effort: Sequence[float] | np.ndarray,
    *,
    effort_kind: str = "power",
    bounds: KineticsBounds | None = None,
    start_working_min: float = 0.0,
    fit_drift: bool = True,
) -> KineticsFit | None:
    """The kinetics that best explain these 1 Hz samples, or None if they cannot tell.

    `hr` and `effort` are aligned seconds; NaN marks a gap (a missing heart rate is left out of
    the error; a missing effort holds the last one). None when there are fewer than 120 heart
    rates or the effort hardly changed (its gain would be noise). Gain and drift are kept
    within `bounds`: a value outside is pinned to the bound and the rest refitted.
    """
    b = bounds or bounds_for(effort_kind)
    h = np.asarray(hr, dtype=float)
    e_raw = np.asarray(effort, dtype=float)
    if h.shape != e_raw.shape or h.ndim != 1:
        raise ValueError("hr and effort must be 1-D sequences of the same length")
    observed = np.isfinite(h)
    if observed.sum() < 120:
        return None
    e = _clean_effort(e_raw)
    if float(np.std(e[observed])) < b.min_effort_spread:
        return None
    n = len(h)
    work = working_minutes(e, start_working_min)
    first_effort = e[0]
    best: tuple[float, KineticsParams] | None = None
    delays = [d for d in b.delays_s if d < n // 2]
    # Every regressor (a constant, the work minutes, the effort at each delay) through the
    # first-order filter of every tau at once: one pass over the samples, not one per pair.
    inputs = np.stack([np.ones(n), work, *(_delayed(e, d, first_effort) for d in delays)], axis=1)
    ks = np.array([1.0 - math.exp(-1.0 / tau) for tau in b.taus_s])
    responses = _first_order_many(inputs, ks)
    steps = np.arange(1, n + 1)
    for i, tau in enumerate(b.taus_s):
        # Starting heart rate h0 decays away as (1 - k)^t; the regressors fill in behind it.
        decay = (1.0 - ks[i]) ** steps
        for j, delay in enumerate(delays):
            design = np.column_stack(
                [decay, responses[:, i, 0], responses[:, i, 2 + j], responses[:, i, 1]]
            )
            params = _bounded_lstsq(design[observed], h[observed], b, fit_drift)
            if params is None:
                continue
            h0, rest, gain, drift = params
            resid = design[observed] @ np.array([h0, rest, gain, drift]) - h[observed]
            rmse = float(np.sqrt(np.mean(resid**2)))
            if best is None or rmse < best[0]:
                best = (rmse, KineticsParams(rest, gain, tau, delay, drift, effort_kind))
    if best is None:
        return None
    end_work = float(work[-1] + (e[-1] > 0) / 60.0)
    return KineticsFit(best[1], best[0], int(observed.sum()), end_work)


def _first_order_many(inputs: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """(n, len(ks), c): each column of `inputs` (n, c) through `_first_order` for each k."""
    out = np.empty((inputs.shape[0], len(ks), inputs.shape[1]))
    y = np.zeros((len(ks), inputs.shape[1]))
    gains = ks[:, None]
    for t in range(inputs.shape[0]):
        y += gains * (inputs[t] - y)
        out[t] = y
    return out


def _first_order(inputs: np.ndarray, k: float) -> np.ndarray:
    """Each column through y[t] = y[t-1] + k (x[t] - y[t-1]) from y[-1] = 0.

    Heart rate at the end of second t has felt the input of second t, as `predict` steps it.
    """
    out = np.empty_like(inputs)
    y = np.zeros(inputs.shape[1])
    for t in range(inputs.shape[0]):
        y = y + k * (inputs[t] - y)
        out[t] = y
    return out


def _bounded_lstsq(
    design: np.ndarray, target: np.ndarray, b: KineticsBounds, fit_drift: bool
) -> tuple[float, float, float, float] | None:
    """(h0, rest, gain, drift) by least squares, gain and drift pinned to their bounds."""
    gain_fixed: float | None = None
    drift_fixed: float | None = None if fit_drift else 0.0
    for _ in range(3):
        free = [0, 1] + ([2] if gain_fixed is None else []) + ([3] if drift_fixed is None else [])
        rhs = target.copy()
        if gain_fixed is not None:
            rhs = rhs - gain_fixed * design[:, 2]
        if drift_fixed is not None:
            rhs = rhs - drift_fixed * design[:, 3]
        solution, *_ = np.linalg.lstsq(design[:, free], rhs, rcond=None)
        values = dict(zip(free, solution, strict=True))
        gain = values.get(2, gain_fixed)
        drift = values.get(3, drift_fixed)
        assert gain is not None and drift is not None
        clipped_gain = min(max(gain, b.gain_min), b.gain_max)
        clipped_drift = min(max(drift, 0.0), b.drift_max_bpm_per_min)
        if clipped_gain == gain and clipped_drift == drift:
            return float(values[0]), float(values[1]), float(gain), float(drift)
        if clipped_gain != gain:
            gain_fixed = clipped_gain
        if clipped_drift != drift:
            drift_fixed = clipped_drift
    return None


def fit_rest(
    params: KineticsParams,
    hr: Sequence[float] | np.ndarray,
    effort: Sequence[float] | np.ndarray,
    *,
    start_working_min: float = 0.0,
) -> KineticsParams | None:
    """`params` with only its resting level refitted to these samples (today's offset).

    A person's gain and time constant carry from session to session; the level their heart sits
    at does not (sleep, heat, caffeine), so a session refits it from its own first minutes.
    None when fewer than 30 heart rates are there to say.
    """
    h = np.asarray(hr, dtype=float)
    e = _clean_effort(np.asarray(effort, dtype=float))
    observed = np.isfinite(h)
    if observed.sum() < 30:
        return None
    n = len(h)
    k = 1.0 - math.exp(-1.0 / params.tau_s)
    u = _delayed(e, params.delay_s, e[0])
    work = working_minutes(e, start_working_min)
    known = _first_order(np.stack([params.gain * u + params.drift_bpm_per_min * work], axis=1), k)[
        :, 0
    ]
    design = np.column_stack(
        [(1.0 - k) ** np.arange(1, n + 1), _first_order(np.ones((n, 1)), k)[:, 0]]
    )
    solution, *_ = np.linalg.lstsq(design[observed], (h - known)[observed], rcond=None)
    return replace(params, rest_bpm=float(solution[1]))


def predict(
    params: KineticsParams,
    hr_now: float,
    plan: Sequence[float] | np.ndarray,
    *,
    past_effort: Sequence[float] | np.ndarray = (),
    working_min: float = 0.0,
) -> np.ndarray:
    """Heart rate at each of the next len(plan) seconds if the effort follows `plan`.

    `plan[i]` is the effort during second i from now; `past_effort` the efforts of the seconds
    before now (the last one most recent), because the heart feels effort `delay_s` late: the
    first seconds of the forecast answer what was already done. Missing past seconds count as
    the plan's first value. `working_min` is the minutes of work so far (for the drift).
    """
    effort = _clean_effort(np.asarray(plan, dtype=float))
    horizon = len(effort)
    if horizon == 0:
        return np.zeros(0)
    delay = params.delay_s
    past = _clean_effort(np.asarray(past_effort, dtype=float))[-delay:] if delay else np.zeros(0)
    if len(past) < delay:
        past = np.concatenate([np.full(delay - len(past), effort[0]), past])
    felt = np.concatenate([past, effort])[:horizon]
    work = working_minutes(np.concatenate([past, effort])[:horizon], working_min)
    steady = params.rest_bpm + params.gain * felt + params.drift_bpm_per_min * work
    k = 1.0 - math.exp(-1.0 / params.tau_s)
    out = np.empty(horizon)
    hr = float(hr_now)
    for i in range(horizon):
        hr += k * (steady[i] - hr)
        out[i] = hr
    return out
