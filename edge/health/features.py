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
* ``age``, ``resting_hr``, ``max_hr`` (the profile's effective max) and ``max_hr_estimated``
  (1 when max is Tanaka's estimate from age), repeated on every row.

The model's inputs are normalised with `Normalisation` (saved as JSON beside the ONNX file and
applied by the runtime, not baked into the graph); its outputs are changes from the window's
last heart rate, in normalised units, turned back into bpm by `Normalisation.outputs_to_bpm`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.profile import Profile
from edge.stream.readings import AlignedSample

__all__ = [
    "FEATURE_NAMES",
    "FLAG_FEATURES",
    "HORIZONS_S",
    "HR_INDEX",
    "OUTPUT_NAMES",
    "WINDOW_S",
    "Normalisation",
    "build_window",
    "build_windows",
    "first_hr_index",
]

#: Seconds of stream the model looks at.
WINDOW_S = 60

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
    "age",
    "resting_hr",
    "max_hr",
    "max_hr_estimated",
)

#: 0/1 columns: left as they are by normalisation.
FLAG_FEATURES: frozenset[str] = frozenset(
    {"hr_gap", "pad", "moving", "cadence_gap", "speed_gap", "max_hr_estimated"}
)

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


def _rows(
    samples: Sequence[AlignedSample], profile: Profile, carried_hr: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows for `samples` (relative stride columns still empty), raw cadence and speed.

    `carried_hr` is the last heart rate seen before `samples`, carried into leading gaps.
    Cadence and speed are NaN where unknown.
    """
    n = len(samples)
    x = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
    hr = np.empty(n, dtype=np.float64)
    cadence = np.full(n, np.nan)
    speed = np.full(n, np.nan)
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
        if s.speed_mps is not None:
            speed[i] = s.speed_mps
    if np.isnan(hr).all():
        raise ValueError("no heart rate in the history: the health model needs at least one")
    # Seconds before the first reading (no earlier value to carry) hold the first reading.
    first = int(np.argmax(~np.isnan(hr)))
    hr[:first] = hr[first]
    reserve = max(profile.heart_rate_reserve, 1.0)
    with np.errstate(invalid="ignore"):
        moving = (cadence > 0) | (speed > 0.5)
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
    return x, cadence, speed


def _relative(values: np.ndarray, moving: np.ndarray) -> np.ndarray:
    known = ~np.isnan(values) & moving
    if not known.any():
        return np.zeros(len(values), dtype=np.float32)
    mean = float(values[known].mean())
    if mean <= 0:
        return np.zeros(len(values), dtype=np.float32)
    rel = np.clip(values / mean - 1.0, -1.0, 1.0)
    return np.where(np.isnan(values), 0.0, rel).astype(np.float32)


def _window(x: np.ndarray, cadence: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """One window from its rows: relative stride columns filled in, padded to WINDOW_S rows."""
    x = x[-WINDOW_S:].copy()
    cadence, speed = cadence[-WINDOW_S:], speed[-WINDOW_S:]
    moving = x[:, _COL["moving"]] > 0
    x[:, _COL["cadence_rel"]] = _relative(cadence, moving)
    x[:, _COL["speed_rel"]] = _relative(speed, moving)
    missing = WINDOW_S - len(x)
    if missing <= 0:
        return x
    # Pad at the start, copying the first row and flagging `pad`.
    front = np.repeat(x[:1], missing, axis=0)
    front[:, _COL["pad"]] = 1.0
    return np.concatenate([front, x], axis=0)


def build_window(history: Sequence[AlignedSample], profile: Profile) -> np.ndarray:
    """The model input for the newest second of `history`: shape (WINDOW_S, n_features), float32.

    `history` is the stream so far, oldest first (it may be longer than the window; only the last
    WINDOW_S seconds are used, plus the last heart rate seen before them to carry into a gap).
    Raises ValueError when the history is empty or holds no heart rate at all.
    """
    if not history:
        raise ValueError("empty history: the health model needs at least one second")
    tail = history[-WINDOW_S:]
    carried: float | None = None
    for s in reversed(history[: len(history) - len(tail)]):
        if s.hr_bpm is not None:
            carried = float(s.hr_bpm)
            break
    return _window(*_rows(tail, profile, carried))


def build_windows(
    history: Sequence[AlignedSample], profile: Profile, ends: Sequence[int]
) -> np.ndarray:
    """`build_window(history[: e + 1], profile)` for every e in `ends`, stacked: (N, W, F).

    Computes the stream's rows once, for making training windows from a whole recording. Every
    end must lie at or after the first sample with a heart rate (see `first_hr_index`).
    """
    rows, cadence, speed = _rows(history, profile, None)
    first = first_hr_index(history)
    out = np.empty((len(ends), WINDOW_S, len(FEATURE_NAMES)), dtype=np.float32)
    for k, e in enumerate(ends):
        if not 0 <= e < len(history):
            raise IndexError(f"end {e} outside the history (length {len(history)})")
        if first is None or e < first:
            raise ValueError(f"no heart rate up to second {e}")
        lo = max(0, e - WINDOW_S + 1)
        out[k] = _window(rows[lo : e + 1], cadence[lo : e + 1], speed[lo : e + 1])
    return out


@dataclass(frozen=True, slots=True)
class Normalisation:
    """How raw windows become model inputs and model outputs become bpm.

    Inputs: ``(x - input_mean) / input_std`` per feature (flags keep mean 0, std 1). Outputs: the
    network gives z per output; the forecast is ``last_hr + output_mean + z * output_std``.
    """

    feature_names: tuple[str, ...]
    output_names: tuple[str, ...]
    window_s: int
    input_mean: tuple[float, ...]
    input_std: tuple[float, ...]
    output_mean: tuple[float, ...]
    output_std: tuple[float, ...]

    @classmethod
    def fit(cls, windows: np.ndarray, deltas: np.ndarray, mask: np.ndarray) -> Normalisation:
        """Statistics from training windows (N, W, F) and targets (N, O) valid where `mask`."""
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
                out_mean[j] = valid.mean()
                out_std[j] = max(valid.std(), 1e-3)
        return cls(
            feature_names=FEATURE_NAMES,
            output_names=OUTPUT_NAMES,
            window_s=WINDOW_S,
            input_mean=tuple(float(v) for v in mean),
            input_std=tuple(float(v) for v in std),
            output_mean=tuple(float(v) for v in out_mean),
            output_std=tuple(float(v) for v in out_std),
        )

    def inputs(self, windows: np.ndarray) -> np.ndarray:
        """Raw windows (..., W, F) to normalised model inputs, float32."""
        mean = np.asarray(self.input_mean, dtype=np.float32)
        std = np.asarray(self.input_std, dtype=np.float32)
        return ((windows - mean) / std).astype(np.float32)

    def targets(self, deltas: np.ndarray) -> np.ndarray:
        """Target changes in bpm (N, O) to the normalised values the network learns."""
        mean = np.asarray(self.output_mean, dtype=np.float32)
        std = np.asarray(self.output_std, dtype=np.float32)
        return ((deltas - mean) / std).astype(np.float32)

    def outputs_to_bpm(self, z: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """Network outputs (N, O) for raw windows (N, W, F) to heart rates in bpm (N, O)."""
        mean = np.asarray(self.output_mean, dtype=np.float64)
        std = np.asarray(self.output_std, dtype=np.float64)
        last_hr = windows[:, -1, HR_INDEX].astype(np.float64)[:, None]
        return last_hr + mean + z.astype(np.float64) * std

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "format": "edgecoach-health-normalisation",
            "version": 1,
            "feature_names": list(self.feature_names),
            "output_names": list(self.output_names),
            "window_s": self.window_s,
            "input_mean": list(self.input_mean),
            "input_std": list(self.input_std),
            "output_mean": list(self.output_mean),
            "output_std": list(self.output_std),
            "outputs_are": "change from the window's last hr_bpm: bpm = last + mean + z * std",
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Normalisation:
        """Parse the JSON written by `to_json`; raises ValueError when it is not that."""
        try:
            data = json.loads(text)
            norm = cls(
                feature_names=tuple(data["feature_names"]),
                output_names=tuple(data["output_names"]),
                window_s=int(data["window_s"]),
                input_mean=tuple(float(v) for v in data["input_mean"]),
                input_std=tuple(float(v) for v in data["input_std"]),
                output_mean=tuple(float(v) for v in data["output_mean"]),
                output_std=tuple(float(v) for v in data["output_std"]),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a health normalisation file: {exc}") from exc
        n_in, n_out = len(norm.feature_names), len(norm.output_names)
        if len(norm.input_mean) != n_in or len(norm.input_std) != n_in:
            raise ValueError("normalisation: input statistics do not match the feature names")
        if len(norm.output_mean) != n_out or len(norm.output_std) != n_out:
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
