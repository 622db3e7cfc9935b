"""What a measurement may be: one plausible range per quantity, finite numbers only.

Every way a number enters edgecoach checks it here: the live stream (`StreamAligner`), the
recordings replay and import read (`edge.sources.recordings`), and the store on the way in and
out (`SessionStore`). A value outside its range is not a measurement of a person: it becomes a gap
(heart rate) or an absent value (the others), never a number in a summary, a plot or a JSON line.
A heart rate out of range is also kept aside on the sample (`AlignedSample.rejected_hr_bpm`) so
the coach can say "check the strap" instead of silently losing the reading.

The heart-rate range is the coach's own (`CoachSettings.plausible_bpm`): a resting heart rate
under 30 or an exercising one over 230 is a strap problem, not a person.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "CADENCE_SPM",
    "DISTANCE_M",
    "EFFORT_RANGES",
    "HR_BPM",
    "RANGES",
    "RR_S",
    "SPEED_MPS",
    "STEPS",
    "finite_json",
    "in_range",
    "plausible",
    "plausible_rr",
]

#: Beats per minute a heart can show while exercising or at rest.
HR_BPM = (30.0, 230.0)
#: RR intervals (seconds between beats) of heart rates from 20 to 300 bpm.
RR_S = (0.2, 3.0)
#: Steps/min (foot sports) or crank rpm: sprinting is about 240 steps/min, track cycling 200 rpm.
CADENCE_SPM = (0.0, 300.0)
#: Metres per second: 40 m/s (144 km/h) is faster than any bicycle descent.
SPEED_MPS = (0.0, 40.0)
#: Metres from the start: 10,000 km is more than any single recording covers.
DISTANCE_M = (0.0, 1.0e7)
#: Steps counted by a footpod since it was switched on.
STEPS = (0.0, 1.0e8)

#: Effort (power meters and fitness machines), by `AlignedSample` field: watts no rider holds for
#: a second past 3000, treadmill grades of -30 % to 40 %, a machine's resistance level (some
#: count in tenths, up to about 1000), strokes a minute, and the machine's own speed and distance.
EFFORT_RANGES: dict[str, tuple[float, float]] = {
    "power_w": (0.0, 3000.0),
    "machine_speed_mps": SPEED_MPS,
    "incline_pct": (-30.0, 40.0),
    "resistance": (-1000.0, 1000.0),
    "stroke_rate_spm": (0.0, 120.0),
    "machine_distance_m": DISTANCE_M,
}

RANGES: dict[str, tuple[float, float]] = {
    "hr_bpm": HR_BPM,
    "rr_s": RR_S,
    "cadence_spm": CADENCE_SPM,
    "speed_mps": SPEED_MPS,
    "distance_m": DISTANCE_M,
    "steps": STEPS,
}


def in_range(value: float, bounds: tuple[float, float]) -> bool:
    """True when `value` is a finite number within `bounds` (inclusive)."""
    return math.isfinite(value) and bounds[0] <= value <= bounds[1]


def plausible(value: object, bounds: tuple[float, float]) -> float | None:
    """`value` as a float when it is a finite number within `bounds`, else None."""
    if type(value) is float:  # the usual case, first: this runs for every value stored
        return value if bounds[0] <= value <= bounds[1] and value - value == 0.0 else None
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if in_range(number, bounds) else None


def plausible_rr(values: object) -> tuple[float, ...]:
    """The RR intervals that are heartbeats; the others (FIT's 65.535 s marker, NaN) go."""
    if not isinstance(values, tuple | list):
        return ()
    kept = (plausible(v, RR_S) for v in values)
    return tuple(v for v in kept if v is not None)


def finite_json(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None, so `json.dumps` writes JSON
    (it would write the non-standard `NaN` and `Infinity`)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(item) for item in value]
    return value
