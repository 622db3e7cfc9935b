"""What a recording is once read: its points, its machine's values, and the bounds every reader keeps."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import overload

import numpy as np

from edge.stream.plausible import (
    EFFORT_RANGES,
)

#: Sports whose cadence is counted in steps/min; FIT, TCX and GPX store it per leg for these.
FOOT_SPORTS = frozenset({"running", "walking", "hiking"})

#: GPX speed is derived only between fixes at most this far apart; across a longer gap (a pause,
#: lost signal) the average would describe no moment of the workout.
GPX_SPEED_MAX_GAP_S = 10.0

#: Warnings kept per recording; past this many, one line says how many more there were.
MAX_WARNINGS = 10

#: RR values at or above this are the FIT "invalid" marker (0xFFFF ms), not a heartbeat.
RR_INVALID_S = 65.535

#: The longest recording read: past it the rest is left out, with a warning. Two days hold any
#: ultra-distance race; a file that claims more has a broken clock.
MAX_DURATION_S = 48 * 3600.0
#: A jump of the clock longer than this between two records splits the recording; the larger
#: part is read, with a warning. Longer than any pause within one workout.
MAX_CLOCK_JUMP_S = 6 * 3600.0
#: Records read from one file; past this many the rest is left out, with a warning. Two days
#: at 25 records a second; memory stays under 250 MB (six numbers a record).
MAX_RECORDS = 5_000_000
#: The largest file read, per format: FIT and the XML formats are parsed whole, CSV streamed.
MAX_FILE_BYTES = {".fit": 128 << 20, ".tcx": 64 << 20, ".gpx": 64 << 20, ".csv": 1 << 30}
#: The longest CSV line read: a line of a recording is a few dozen characters.
MAX_CSV_LINE_CHARS = 1 << 16

EARTH_RADIUS_M = 6_371_008.8
POWER_W = EFFORT_RANGES["power_w"]


@dataclass(frozen=True, slots=True)
class RecordPoint:
    """One moment of a recording, in edgecoach's units."""

    #: Seconds since the recording's first record.
    t: float
    hr_bpm: float | None
    #: Steps/min for foot sports (FIT, TCX and GPX store running cadence per leg, in strides/min:
    #: the readers double it), crank rpm for cycling, the device's own unit otherwise.
    cadence_spm: float | None
    speed_mps: float | None
    distance_m: float | None
    rr_intervals_s: tuple[float, ...] = ()
    #: Watts, from a power meter or a machine the recording device was paired with.
    power_w: float | None = None


#: FIT developer data: edgecoach's application id (16 bytes), and the machine values
#: `export-session` writes as developer fields (float32), in field-number order:
#: (field name, unit, AlignedSample attribute). Incline goes in the standard `grade`.
FIT_APPLICATION_ID = b"edgecoach-ftms-1"
FIT_MACHINE_FIELDS = (
    ("machine_speed", "m/s", "machine_speed_mps"),
    ("machine_resistance", "level", "resistance"),
    ("machine_stroke_rate", "strokes/min", "stroke_rate_spm"),
    ("machine_distance", "m", "machine_distance_m"),
)


@dataclass(frozen=True, slots=True)
class MachinePoint:
    """A gym machine's values at one moment of a recording (FTMS: what `MachineReading` has
    besides power, which is the record's own)."""

    t: float
    speed_mps: float | None = None
    incline_pct: float | None = None
    resistance: float | None = None
    stroke_rate_spm: float | None = None
    distance_m: float | None = None


#: A point as a plain tuple, in RecordPoint's field order: (t, hr_bpm, cadence_spm, speed_mps,
#: distance_m, rr_intervals_s, power_w).
PointRow = tuple[
    float, float | None, float | None, float | None, float | None, tuple[float, ...], float | None
]


class ColumnPoints(Sequence[RecordPoint]):
    """A recording's points, made on demand from columns of numbers (NaN: no value)."""

    __slots__ = ("_cadence", "_distance", "_hr", "_power", "_rr", "_speed", "_t")

    def __init__(
        self,
        t: np.ndarray,
        hr: np.ndarray,
        cadence: np.ndarray,
        speed: np.ndarray,
        distance: np.ndarray,
        rr: dict[int, tuple[float, ...]],
        power: np.ndarray,
    ) -> None:
        self._t, self._hr, self._cadence = t, hr, cadence
        self._speed, self._distance, self._rr = speed, distance, rr
        self._power = power

    def __len__(self) -> int:
        return len(self._t)

    @overload
    def __getitem__(self, index: int) -> RecordPoint: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[RecordPoint, ...]: ...

    def __getitem__(self, index: int | slice) -> RecordPoint | tuple[RecordPoint, ...]:
        if isinstance(index, slice):
            return tuple(self._point(i) for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("recording point index out of range")
        return self._point(index)

    def __iter__(self) -> Iterator[RecordPoint]:
        for row in self.rows():
            yield RecordPoint(*row)

    def rows(self) -> Iterator[PointRow]:
        """Each point as a plain tuple in RecordPoint's field order, made a block at a time
        (memory stays flat, and no object is built per point)."""
        rr = self._rr
        block = 1 << 14
        for begin in range(0, len(self), block):
            end = begin + block
            t = self._t[begin:end].tolist()
            hr, cadence, speed, distance, power = (
                np.where(np.isnan(part), None, part).tolist()
                for part in (
                    self._hr[begin:end],
                    self._cadence[begin:end],
                    self._speed[begin:end],
                    self._distance[begin:end],
                    self._power[begin:end],
                )
            )
            intervals = (
                [rr.get(i, ()) for i in range(begin, begin + len(t))]
                if rr
                else itertools.repeat((), len(t))
            )
            yield from zip(t, hr, cadence, speed, distance, intervals, power, strict=True)

    def hr_times(self) -> np.ndarray:
        """The times of the points with a heart rate."""
        return self._t[~np.isnan(self._hr)]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} recording points>"

    def count_hr(self) -> int:
        return int(np.count_nonzero(~np.isnan(self._hr)))

    def _point(self, i: int) -> RecordPoint:
        return RecordPoint(
            float(self._t[i]),
            _none(float(self._hr[i])),
            _none(float(self._cadence[i])),
            _none(float(self._speed[i])),
            _none(float(self._distance[i])),
            self._rr.get(i, ()),
            _none(float(self._power[i])),
        )


def point_rows(points: Sequence[RecordPoint]) -> Iterator[PointRow]:
    """The points as plain tuples in RecordPoint's field order (t, hr_bpm, cadence_spm,
    speed_mps, distance_m, rr_intervals_s, power_w): for loops over millions of points, which
    need no object per point."""
    if isinstance(points, ColumnPoints):
        return points.rows()
    return (
        (p.t, p.hr_bpm, p.cadence_spm, p.speed_mps, p.distance_m, p.rr_intervals_s, p.power_w)
        for p in points
    )


def hr_times(points: Sequence[RecordPoint]) -> np.ndarray:
    """The times of the points with a heart rate, as an array."""
    if isinstance(points, ColumnPoints):
        return points.hr_times()
    return np.fromiter((p.t for p in points if p.hr_bpm is not None), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Recording:
    """A whole recording: where it came from, what it is, and its points in time order."""

    path: Path
    #: Lower-case sport ("running", "cycling", "swimming", "multisport"), or None when unknown.
    sport: str | None
    #: "manufacturer:product" (FIT), the creator's name (TCX, GPX), or None.
    device: str | None
    #: In time order; a read-only sequence (held as columns of numbers, not objects).
    points: Sequence[RecordPoint]
    #: What the reader had to work around ("truncated after record 1234: read what was there").
    warnings: tuple[str, ...]
    #: The clock time of the first point (t = 0): from the file's clock times, or for a FIT file
    #: timed from power-on, from its activity's local time (a warning says so); else None.
    started_at: datetime | None = None
    #: A gym machine's values, in time order, on the points' clock (FIT files only).
    machine: tuple[MachinePoint, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.points[-1].t if self.points else 0.0

    @property
    def points_with_hr(self) -> int:
        points = self.points
        if isinstance(points, ColumnPoints):
            return points.count_hr()
        return sum(1 for p in points if p.hr_bpm is not None)


def _none(value: float) -> float | None:
    return None if math.isnan(value) else value  # NaN marks "no value"
