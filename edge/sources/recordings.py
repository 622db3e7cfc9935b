"""Recorded workouts (FIT, TCX, GPX, CSV) read into one shape.

The replay backend, the export stage and `edgecoach eval hr` all read recordings through
`read_recording`, so a file means the same thing to each of them. A recording becomes a sorted
sequence of `RecordPoint`s whose `t` counts seconds from the earliest record; two records with
the same timestamp are merged (the first value of each field wins, RR intervals are joined).
Nothing is interpolated: a pause in the file stays a gap between points.

Bounds, whatever a file claims (a flipped bit in a timestamp, a careless export): at most
`MAX_FILE_BYTES` read, `MAX_RECORDS` records kept, `MAX_DURATION_S` long (the rest is cut), and a
clock that jumps more than `MAX_CLOCK_JUMP_S` between two records keeps the part with the most
records. Each cut is one line in `Recording.warnings` saying where and why. Every value is checked
against its plausible range (`edge.stream.plausible`); one out of range is left out and counted.
FIT CRCs are computed: a header or file CRC that does not match is a warning, and the file is
read as far as it makes sense. Memory follows the records kept: points are held as columns of
numbers, and a CSV is streamed.

Units are the same whatever the format: heart rate in beats/min, cadence in steps/min for foot
sports (running, walking, hiking) and in the device's own unit otherwise (crank rpm for cycling,
strokes/min for swimming and rowing), speed in m/s, distance in metres from the start, power in
watts.

Formats:

* ``.fit``: `record` messages (timestamp, heart_rate, cadence + fractional_cadence,
  enhanced_speed or speed, distance, power), `hrv` messages for RR intervals, `session` / `sport`
  messages for the sport, `file_id` / `device_info` for the device. A file that ends early
  (truncated upload, full watch) keeps what was read, with a warning. A gym machine's values
  (`Recording.machine`): incline from the record's standard `grade`, and the developer fields
  `export-session` writes (`FIT_MACHINE_FIELDS`: the machine's speed, resistance, stroke rate
  and distance); a standard speed equal to the machine's is the machine's copy, not the
  person's own.
* ``.tcx``: Garmin TrainingCenterDatabase v2 trackpoints: Time, HeartRateBpm/Value, Cadence,
  DistanceMeters and the ActivityExtension v2 ``TPX`` Speed, RunCadence and Watts.
* ``.gpx``: GPX 1.0/1.1 ``trkpt``: time, Garmin TrackPointExtension (v1 or v2) ``hr``, ``cad``
  and ``speed``. Without a speed extension, speed and distance come from the positions
  (haversine); speed only between points at most `GPX_SPEED_MAX_GAP_S` apart.
* ``.csv``: edgecoach's own simple format, described below.

CSV format: UTF-8 text, one header row, then one row per record. The delimiter is a comma,
semicolon or tab (whichever the header row uses most). Column names are matched without regard
to case or surrounding spaces, and a unit in brackets after the name is ignored
(``HR (bpm)``, ``speed [m/s]``). Columns other than these are ignored:

========================================  ======================================================
column (any of these names)               value
========================================  ======================================================
``time``, ``timestamp``, ``t``,           required: seconds (``0``, ``1.5``) or ISO 8601
``seconds``                               (``2024-05-01T07:30:00Z``); one kind per file
``hr``, ``heart_rate``, ``bpm``,          required column: beats/min; empty where there is no
``hr_bpm``                                reading
``cadence``, ``cadence_spm``              optional: steps/min (foot sports) or rpm (cycling),
                                          taken as written: no factor of two is applied
``speed``, ``speed_mps``                  optional: m/s
``distance``, ``distance_m``              optional: metres from the start
``rr``, ``rr_intervals_s``                optional: RR intervals in seconds, separated by
                                          spaces (``0.61 0.60``)
``power``, ``power_w``, ``watts``         optional: watts
========================================  ======================================================

Any file that cannot be read (missing, empty, not the format its suffix says, damaged before its
first record, no heart rate at all) raises `SourceFileError` with a message that names the file
and says what is wrong; no other exception type leaves this module for a bad file.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import math
import re
import warnings
import xml.etree.ElementTree as ET
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, overload

import fitdecode
import numpy as np

from edge.errors import SourceFileError
from edge.stream.plausible import (
    CADENCE_SPM,
    DISTANCE_M,
    EFFORT_RANGES,
    HR_BPM,
    RR_S,
    SPEED_MPS,
    in_range,
)
from edge.stream.readings import RECORDING_SUFFIXES

log = logging.getLogger(__name__)


#: Sports whose cadence is counted in steps/min; FIT, TCX and GPX store it per leg for these.
FOOT_SPORTS = frozenset({"running", "walking", "hiking"})

#: GPX speed is derived only between fixes at most this far apart; across a longer gap (a pause,
#: lost signal) the average would describe no moment of the workout.
GPX_SPEED_MAX_GAP_S = 10.0

#: Warnings kept per recording; past this many, one line says how many more there were.
MAX_WARNINGS = 10

#: RR values at or above this are the FIT "invalid" marker (0xFFFF ms), not a heartbeat.
_RR_INVALID_S = 65.535

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

_EARTH_RADIUS_M = 6_371_008.8
_POWER_W = EFFORT_RANGES["power_w"]


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
        if isinstance(points, _Points):
            return points.count_hr()
        return sum(1 for p in points if p.hr_bpm is not None)


def read_recording(path: Path) -> Recording:
    """Read a .fit, .tcx, .gpx or .csv recording; raises SourceFileError when it cannot.

    Bounded whatever the file claims: at most `MAX_FILE_BYTES`, `MAX_RECORDS` records and
    `MAX_DURATION_S` of recording; a clock jump over `MAX_CLOCK_JUMP_S` keeps the larger part.
    Each cut is one line in `Recording.warnings` saying where and why. Values outside their
    plausible range (`edge.stream.plausible`) are left out, counted in one line per kind.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise SourceFileError(
            f"{path} is not a recording edgecoach can read: use a .fit, .tcx, .gpx or .csv file",
            path=path,
        )
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SourceFileError(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
    with handle:
        try:
            size = _file_size(handle)
        except OSError as exc:
            raise SourceFileError(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
        limit = MAX_FILE_BYTES[suffix]
        if size > limit:
            raise SourceFileError(
                f"{path} is {size / (1 << 20):.0f} MiB, more than edgecoach reads as one "
                f"recording ({limit >> 20} MiB): split it, or export the workout alone",
                path=path,
            )
        if not handle.read(4096).strip() and size <= 4096:
            raise SourceFileError(f"{path} is empty", path=path)
        handle.seek(0)
        try:
            raw = reader(path, handle)
        except OSError as exc:
            raise SourceFileError(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
    return _finish(path, raw)


def _file_size(handle: BinaryIO) -> int:
    handle.seek(0, 2)
    size = handle.tell()
    handle.seek(0)
    return size


def iter_recordings(folder: Path) -> Iterator[tuple[Path, Recording | SourceFileError]]:
    """Every recording under `folder` (recursively, sorted by path), or why it could not be read.

    Errors are yielded rather than raised so a caller can skip a bad file and say why. A folder
    that does not exist is the caller's mistake and raises SourceFileError.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceFileError(f"{folder} is not a folder", path=folder)
    paths = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in RECORDING_SUFFIXES and p.is_file()
    )
    for path in paths:
        try:
            yield path, read_recording(path)
        except SourceFileError as exc:
            yield path, exc


# --- shared by the readers -------------------------------------------------------------------


@dataclass(slots=True)
class _Sample:
    """A record as a reader found it; `time` is seconds on any clock (epoch or elapsed)."""

    time: float
    hr: float | None = None
    cadence: float | None = None
    speed: float | None = None
    distance: float | None = None
    rr: list[float] = field(default_factory=list)
    power: float | None = None


class _Columns:
    """Records as a reader found them, one array of numbers per field (NaN where a record has
    no value), so memory follows the records read: 48 bytes a record, not an object each.

    `add` checks every value against its plausible range and counts what it leaves out."""

    def __init__(self, unit: str, notes: _Notes | None = None) -> None:
        #: What a record is called in this format, for warnings ("data row", "record").
        self.unit = unit
        self.notes = notes if notes is not None else _Notes()
        self.time = array("d")
        self.hr = array("d")
        self.cadence = array("d")
        self.speed = array("d")
        self.distance = array("d")
        self.power = array("d")
        #: RR intervals by record index (most records have none).
        self.rr: dict[int, list[float]] = {}
        #: True once MAX_RECORDS were read: the reader stops.
        self.full = False

    def __len__(self) -> int:
        return len(self.time)

    def add(
        self,
        time: float,
        hr: float | None,
        cadence: float | None = None,
        speed: float | None = None,
        distance: float | None = None,
        rr: Iterable[float] = (),
        power: float | None = None,
        *,
        row: int,
    ) -> bool:
        """Add one record (`row`: its number in the file, for warnings); False when full."""
        if len(self.time) >= MAX_RECORDS:
            if not self.full:
                self.full = True
                self.notes.add(
                    f"the file has more than {MAX_RECORDS} records: the rest was left out",
                    f"{self.unit} {row}",
                )
            return False
        self.time.append(time)
        self.hr.append(self._check(hr, HR_BPM, "a heart rate", "bpm", row))
        self.cadence.append(self._check(cadence, CADENCE_SPM, "a cadence", "per min", row))
        self.speed.append(self._check(speed, SPEED_MPS, "a speed", "m/s", row))
        self.distance.append(self._check(distance, DISTANCE_M, "a distance", "m", row))
        self.power.append(self._check(power, _POWER_W, "a power", "W", row))
        if rr:
            kept = [v for v in rr if in_range(v, RR_S)]
            if kept:
                self.rr[len(self.time) - 1] = kept
        return True

    def _check(
        self, value: float | None, bounds: tuple[float, float], what: str, unit: str, row: int
    ) -> float:
        if value is None:
            return math.nan
        if in_range(value, bounds):
            return value
        self.notes.add(
            f"{what} outside {bounds[0]:g}-{bounds[1]:g} {unit} was left out", f"{self.unit} {row}"
        )
        return math.nan

    def add_rr(self, index: int, values: Iterable[float]) -> None:
        kept = [v for v in values if in_range(v, RR_S)]
        if kept:
            self.rr.setdefault(index, []).extend(kept)


#: A point as a plain tuple, in RecordPoint's field order: (t, hr_bpm, cadence_spm, speed_mps,
#: distance_m, rr_intervals_s, power_w).
PointRow = tuple[
    float, float | None, float | None, float | None, float | None, tuple[float, ...], float | None
]


class _Points(Sequence[RecordPoint]):
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
    if isinstance(points, _Points):
        return points.rows()
    return (
        (p.t, p.hr_bpm, p.cadence_spm, p.speed_mps, p.distance_m, p.rr_intervals_s, p.power_w)
        for p in points
    )


def hr_times(points: Sequence[RecordPoint]) -> np.ndarray:
    """The times of the points with a heart rate, as an array."""
    if isinstance(points, _Points):
        return points.hr_times()
    return np.fromiter((p.t for p in points if p.hr_bpm is not None), dtype=np.float64)


def _none(value: float) -> float | None:
    return None if math.isnan(value) else value  # NaN marks "no value"


@dataclass(slots=True)
class _Raw:
    columns: _Columns
    sport: str | None = None
    device: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: True when the records' times are clock times (seconds since 1970), not elapsed ones.
    clock: bool = False
    #: (record time, *MachinePoint's values), for records that carry any.
    machine: list[tuple[float, ...]] = field(default_factory=list)
    #: For records timed from a device's power-on: one moment on that count and the local
    #: wall-clock time (time zone unknown) it was, from the file's activity message.
    local_anchor: tuple[float, datetime] | None = None


class _Notes:
    """Counts repeated problems so a file with 5000 bad cells gives one line, not 5000."""

    def __init__(self) -> None:
        self._first: dict[str, str] = {}
        self._count: Counter[str] = Counter()

    def add(self, problem: str, where: str) -> None:
        self._first.setdefault(problem, where)
        self._count[problem] += 1

    def lines(self) -> list[str]:
        out = []
        for problem, first in self._first.items():
            n = self._count[problem]
            out.append(
                f"{problem} ({first})" if n == 1 else f"{problem} ({n} times, first {first})"
            )
        return out


def _number(value: object) -> float | None:
    """A finite float from a decoded value, or None (missing, invalid, not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _text_number(text: str | None, notes: _Notes, what: str, where: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        notes.add(f"{what} that is not a number was left out", where)
        return None
    if not math.isfinite(value):
        notes.add(f"{what} that is not a number was left out", where)
        return None
    return value


def _epoch(moment: datetime) -> float:
    """Seconds since 1970; a time without a zone is taken as UTC (only differences matter)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _parse_iso(text: str) -> float | None:
    try:
        return _epoch(datetime.fromisoformat(text.strip()))
    except (ValueError, OverflowError, OSError):
        return None


def _sport_name(value: object) -> str | None:
    """One spelling for a sport across formats ("Biking" in TCX is "cycling" in FIT)."""
    if value is None:
        return None
    name = str(value).strip().lower()
    aliases = {
        "biking": "cycling",
        "bike": "cycling",
        "ride": "cycling",
        "run": "running",
        "walk": "walking",
        "hike": "hiking",
        "swim": "swimming",
    }
    return aliases.get(name, name) or None


def _main_sport(sports: Iterable[str | None]) -> str | None:
    """The recording's sport: the one sport of its legs, "multisport" when there are several."""
    named = [s for s in sports if s is not None and s != "transition"]
    distinct = set(named)
    if len(distinct) > 1:
        distinct.discard("generic")
    if not distinct:
        return None
    return distinct.pop() if len(distinct) == 1 else "multisport"


def _to_steps_per_min(cadence: float | None, sport: str | None) -> float | None:
    # FIT 'cadence', TCX RunCadence and GPX cad count one leg (strides/min) for running and
    # walking; edgecoach counts both feet, like a BLE footpod (RSC), so double it.
    if cadence is not None and sport in FOOT_SPORTS:
        return cadence * 2.0
    return cadence


def _columns_of(samples: Iterable[_Sample], unit: str, notes: _Notes | None = None) -> _Columns:
    """FIT, TCX and GPX records (objects while the reader works on them) as columns."""
    columns = _Columns(unit, notes)
    for row, sample in enumerate(samples, start=1):
        if not columns.add(
            sample.time,
            sample.hr,
            sample.cadence,
            sample.speed,
            sample.distance,
            sample.rr,
            sample.power,
            row=row,
        ):
            break
    return columns


def _finish(path: Path, raw: _Raw) -> Recording:
    columns = raw.columns
    n = len(columns)
    if not n:
        raise SourceFileError(f"{path} has no timed records to replay", path=path)
    times = np.frombuffer(columns.time, dtype=np.float64)
    in_file_order = n == 1 or bool(np.all(times[1:] >= times[:-1]))
    # Stable: records of one moment keep file order.
    order = np.arange(n) if in_file_order else np.argsort(times, kind="stable")
    in_order = times if in_file_order else times[order]
    cuts: list[str] = []
    first, last = _longest_stretch(in_order, order, columns.unit, cuts)
    last = _within_duration(in_order, order, first, last, columns.unit, cuts)
    # Views of the columns where the file was in order (memory: the columns, once).
    keep: np.ndarray | slice = slice(first, last) if in_file_order else order[first:last]
    del in_order
    moments = np.round(times[keep] - times[keep][0], 3)

    # One moment twice (a FIT file's record and its hrv, a CSV row repeated): one point,
    # where the first value of each field wins and RR intervals are joined.
    starts_group = np.empty(len(moments), dtype=bool)
    starts_group[0] = True
    np.not_equal(moments[1:], moments[:-1], out=starts_group[1:])
    fields = [
        np.frombuffer(column, dtype=np.float64)[keep]
        for column in (columns.hr, columns.cadence, columns.speed, columns.distance, columns.power)
    ]
    rr: dict[int, tuple[float, ...]] = {}
    if bool(starts_group.all()):
        merged, group = fields, None
    else:
        group = np.cumsum(starts_group) - 1
        starts = np.flatnonzero(starts_group)
        moments = moments[starts]
        merged = [values[starts] for values in fields]
        for j in np.flatnonzero(~starts_group):
            g = group[j]
            for values, target in zip(fields, merged, strict=True):
                if np.isnan(target[g]):
                    target[g] = values[j]
    if columns.rr:
        position = np.full(n, -1, dtype=np.int64)
        position[keep] = np.arange(len(starts_group))
        for j, i in sorted((int(position[i]), i) for i in columns.rr if position[i] >= 0):
            g = j if group is None else int(group[j])
            rr[g] = rr.get(g, ()) + tuple(columns.rr[i])
    start_time = float(times[keep][0])
    end_time = float(times[keep][-1])
    machine = tuple(
        sorted(
            (
                MachinePoint(round(row[0] - start_time, 3), *row[1:])
                for row in raw.machine
                if start_time <= row[0] <= end_time
            ),
            key=lambda point: point.t,
        )
    )
    hr, cadence, speed, distance, power = merged
    points = _Points(moments, hr, cadence, speed, distance, rr, power)
    if not points.count_hr():
        raise SourceFileError(
            f"{path} has no heart-rate records: record it with a heart-rate sensor paired",
            path=path,
        )
    clock_notes: list[str] = []
    started_at = (
        datetime.fromtimestamp(start_time, UTC)
        if raw.clock and _EPOCH_RANGE[0] <= start_time <= _EPOCH_RANGE[1]
        else None
    )
    if started_at is None and not raw.clock and raw.local_anchor is not None:
        started_at = _local_start(start_time, raw.local_anchor)
        if started_at is not None:
            clock_notes.append(
                "the file counts time from the watch's power-on: the start comes from "
                "its activity's local time, taken in this device's time zone"
            )
    found = list(dict.fromkeys([*cuts, *clock_notes, *raw.warnings, *columns.notes.lines()]))
    if len(found) > MAX_WARNINGS:
        more = len(found) - MAX_WARNINGS + 1
        found = found[: MAX_WARNINGS - 1] + [f"... and {more} more warnings"]
    for line in found:
        log.debug("%s: %s", path, line)
    return Recording(
        path=path,
        sport=raw.sport,
        device=raw.device,
        points=points,
        warnings=tuple(found),
        started_at=started_at,
        machine=machine,
    )


#: Clock times a recording can start at (1990 to 2200), as seconds since 1970.
_EPOCH_RANGE = (631152000.0, 7258118400.0)


def _local_start(first: float, anchor: tuple[float, datetime]) -> datetime | None:
    """The first record's clock time from a power-on count and its local-time anchor."""
    moment, local = anchor
    try:
        start = (local - timedelta(seconds=moment - first)).astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return start if _EPOCH_RANGE[0] <= start.timestamp() <= _EPOCH_RANGE[1] else None


def _longest_stretch(
    in_order: np.ndarray, order: np.ndarray, unit: str, cuts: list[str]
) -> tuple[int, int]:
    """The [first, last) positions in `order` of the most records between clock jumps longer
    than MAX_CLOCK_JUMP_S; a line in `cuts` says where the clock jumped and what was kept."""
    steps = np.diff(in_order)
    jumps = np.flatnonzero(steps > MAX_CLOCK_JUMP_S) + 1
    if not len(jumps):
        return 0, len(order)
    bounds = [0, *jumps.tolist(), len(order)]
    stretches = list(itertools.pairwise(bounds))
    first, last = max(stretches, key=lambda s: s[1] - s[0])
    at = int(jumps[int(np.argmax(steps[jumps - 1]))])
    cuts.append(
        f"the clock jumps {_span(float(steps[at - 1]))} between {unit} {order[at - 1] + 1} "
        f"and {unit} {order[at] + 1} ({len(jumps)} jump(s) over "
        f"{_span(MAX_CLOCK_JUMP_S)}): read the {last - first} records from {unit} "
        f"{order[first] + 1} on, left out {len(order) - (last - first)}"
    )
    return first, last


def _within_duration(
    in_order: np.ndarray, order: np.ndarray, first: int, last: int, unit: str, cuts: list[str]
) -> int:
    """`last`, or where the recording passes MAX_DURATION_S (a line in `cuts` says so)."""
    start = in_order[first]
    length = float(in_order[last - 1] - start)
    if length <= MAX_DURATION_S:
        return last
    end = first + int(np.searchsorted(in_order[first:last], start + MAX_DURATION_S, side="right"))
    cuts.append(
        f"the recording claims to last {_span(length)}, more than the "
        f"{_span(MAX_DURATION_S)} read: cut after {unit} {order[end - 1] + 1}, "
        f"{last - end} records left out"
    )
    return end


def _span(seconds: float) -> str:
    """A length of time as a person says it: "7 h", "3 days", "1157 days"."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 60:.0f} min"


# --- FIT -------------------------------------------------------------------------------------


def _read_fit(path: Path, handle: BinaryIO) -> _Raw:
    head = handle.read(12)
    handle.seek(0)
    if len(head) < 12 or head[8:12] != b".FIT":
        raise SourceFileError(f"{path} is not a FIT file (bad header)", path=path)
    notes = _Notes()
    columns = _Columns("record", notes)
    # Each record's cadence as written and its clock time (NaN: seconds since power-on), to
    # turn strides into steps once the sessions, written last, say which legs were runs.
    raw_cadence = array("d")
    moments = array("d")
    rr_before_first_record: list[float] = []
    machine: list[tuple[float, ...]] = []
    # (start, end, sport) of each session, and of each lap: a truncated file often lost its
    # sessions (written last) but kept some laps.
    sessions: list[tuple[object, object, str | None]] = []
    laps: list[tuple[object, object, str | None]] = []
    sport_messages: list[str | None] = []
    manufacturer: object = None
    product: object = None
    creator_product: object = None
    local_anchor: tuple[float, datetime] | None = None
    untimed = 0
    found: list[str] = []
    stopped: str | None = None
    damaged_crc: list[str] = []

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # CRCs are computed but not enforced: a mismatch is reported (below) and the file is
        # still read as far as its messages make sense, as a watch's own upload would be.
        reader = fitdecode.FitReader(
            handle,
            check_crc=fitdecode.CrcCheck.READONLY,
            error_handling=fitdecode.ErrorHandling.WARN,
        )
        frames = iter(reader)
        while not columns.full:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except Exception as exc:  # damaged bytes can raise anything inside fitdecode
                if not len(columns):
                    crc = f"; {damaged_crc[0]}" if damaged_crc else ""
                    raise SourceFileError(
                        f"{path} is damaged before its first record and cannot be read "
                        f"({_fit_reason(exc)}){crc}",
                        path=path,
                    ) from exc
                stopped = (
                    f"ignored what follows record {len(columns)}: it is not FIT data ({exc})"
                    if isinstance(exc, fitdecode.FitHeaderError)
                    else f"truncated after record {len(columns)}: read what was there "
                    f"({_fit_reason(exc)})"
                )
                break
            if isinstance(frame, fitdecode.FitHeader):
                if frame.crc_matched is False:
                    damaged_crc.append(
                        "the FIT header's CRC does not match the header: "
                        "it was damaged; read what could be read"
                    )
                continue
            if isinstance(frame, fitdecode.FitCRC):
                if not frame.matched:
                    damaged_crc.append(
                        "the file's CRC does not match its contents: it was "
                        "changed or damaged after it was written; read what "
                        "could be read"
                    )
                continue
            if not isinstance(frame, fitdecode.FitDataMessage):
                continue
            name = frame.name
            if name == "record":
                if not _fit_record(frame, columns, raw_cadence, moments, machine):
                    untimed += 1
            elif name == "hrv":
                rr = [
                    v
                    for v in _values(frame.get_value("time", fallback=None))
                    if 0 < v < _RR_INVALID_S
                ]
                # Devices write an hrv message right after the record of the second it covers.
                if len(columns):
                    columns.add_rr(len(columns) - 1, rr)
                else:
                    rr_before_first_record.extend(rr)
            elif name in ("session", "lap"):
                (sessions if name == "session" else laps).append(
                    (
                        frame.get_value("start_time", fallback=None),
                        frame.get_value("timestamp", fallback=None),
                        _sport_name(frame.get_value("sport", fallback=None)),
                    )
                )
            elif name == "sport":
                sport_messages.append(_sport_name(frame.get_value("sport", fallback=None)))
            elif name == "activity":
                moment = frame.get_value("timestamp", fallback=None)
                local = frame.get_value("local_timestamp", fallback=None)
                if isinstance(moment, int | float) and isinstance(local, datetime):
                    local_anchor = (float(moment), local.replace(tzinfo=None))
            elif name == "file_id" and manufacturer is None:
                manufacturer = frame.get_value("manufacturer", fallback=None)
                product = frame.get_value("product", fallback=None)
            elif (
                name == "device_info"
                and creator_product is None
                and frame.get_value("device_index", fallback=None) in ("creator", 0)
            ):
                creator_product = frame.get_value("product", fallback=None)
                manufacturer = manufacturer or frame.get_value("manufacturer", fallback=None)
        reader.close()
        found.extend(f"fitdecode: {w.message}" for w in caught)

    found[:0] = list(dict.fromkeys(damaged_crc))
    if stopped is not None:
        found.insert(0, stopped)
    if untimed:
        found.append(f"{untimed} records without a timestamp were left out")
    if len(columns) and rr_before_first_record:
        rr = columns.rr.pop(0, [])
        columns.add_rr(0, [*rr_before_first_record, *rr])

    legs = sessions or [lap for lap in laps if lap[2] is not None]
    sport = _main_sport([s for _, _, s in legs] or sport_messages)
    spans = [
        (_epoch(a), _epoch(b), leg_sport)
        for a, b, leg_sport in legs
        if isinstance(a, datetime) and isinstance(b, datetime)
    ]
    for i, cadence in enumerate(raw_cadence):
        if math.isnan(cadence):
            continue
        leg = _sport_at(moments[i], spans, sport)
        steps = _to_steps_per_min(cadence, leg)
        columns.cadence[i] = steps if in_range(steps, CADENCE_SPM) else math.nan
    if sport is None and any(not math.isnan(c) and c for c in raw_cadence):
        found.append(
            "the file names no sport: cadence is as recorded (strides/min if this was a run)"
        )
    return _Raw(
        columns=columns,
        sport=sport,
        device=_fit_device(manufacturer, product or creator_product),
        warnings=found,
        clock=bool(len(moments)) and not np.isnan(np.frombuffer(moments)).any(),
        machine=machine,
        local_anchor=local_anchor,
    )


def _fit_record(
    frame: fitdecode.FitDataMessage,
    columns: _Columns,
    raw_cadence: array,
    moments: array,
    machine: list[tuple[float, ...]],
) -> bool:
    """Add a `record` message to `columns` (and a machine's values to `machine`); False when
    it has no usable timestamp."""
    moment = frame.get_value("timestamp", fallback=None)
    if isinstance(moment, datetime):
        time = clock = _epoch(moment)
    else:
        time = _number(moment)  # seconds since the device powered on (FIT allows this)
        clock = math.nan
        if time is None:
            return False
    hr = _number(frame.get_value("heart_rate", fallback=None))
    cadence = _number(frame.get_value("cadence", fallback=None))
    fraction = _number(frame.get_value("fractional_cadence", fallback=None))
    if cadence is not None and fraction is not None:
        cadence += fraction
    speed = _number(frame.get_value("enhanced_speed", fallback=None))
    if speed is None:
        speed = _number(frame.get_value("speed", fallback=None))
    values = _fit_machine_values(frame)
    if values is not None:
        belt = values[0]
        if belt is not None and speed is not None and abs(speed - belt) < _FIT_SPEED_STEP:
            speed = None  # the machine's speed, copied for other tools: not the person's
        if len(machine) < MAX_RECORDS:
            machine.append((time, *values))
    if columns.add(
        time,
        hr if hr is not None and hr > 0 else None,
        None,
        speed,
        _number(frame.get_value("distance", fallback=None)),
        power=_number(frame.get_value("power", fallback=None)),
        row=len(columns) + 1,
    ):
        raw_cadence.append(math.nan if cadence is None else cadence)
        moments.append(clock)
    return True


#: FIT's standard speed resolution (mm/s), and a float32's error on a machine's speed, together.
_FIT_SPEED_STEP = 0.0015
_MACHINE_RANGES = (
    EFFORT_RANGES["machine_speed_mps"],
    EFFORT_RANGES["incline_pct"],
    EFFORT_RANGES["resistance"],
    EFFORT_RANGES["stroke_rate_spm"],
    EFFORT_RANGES["machine_distance_m"],
)


def _fit_machine_values(frame: fitdecode.FitDataMessage) -> tuple[float | None, ...] | None:
    """A record's machine values (speed, incline, resistance, stroke rate, distance: each
    None when absent or implausible), or None when it has none."""
    named = {name: None for name, _, _ in FIT_MACHINE_FIELDS}
    for fit_field in frame.fields:
        if fit_field.name in named and getattr(fit_field.field_def, "is_dev", False):
            named[fit_field.name] = _number(fit_field.value)
    raw = (
        named["machine_speed"],
        _number(frame.get_value("grade", fallback=None)),
        named["machine_resistance"],
        named["machine_stroke_rate"],
        named["machine_distance"],
    )
    values = tuple(
        None if value is None or not in_range(value, bounds) else round(value, 3)
        for value, bounds in zip(raw, _MACHINE_RANGES, strict=True)
    )
    return None if all(value is None for value in values) else values


def _values(value: object) -> list[float]:
    items = value if isinstance(value, tuple | list) else (value,)
    return [n for n in (_number(v) for v in items) if n is not None]


def _sport_at(
    moment: float, sessions: list[tuple[float, float, str | None]], default: str | None
) -> str | None:
    """The sport of the session a record falls in (multisport files change sport per leg)."""
    if not math.isnan(moment):  # NaN: a record without a clock time
        for start, end, sport in sessions:
            if start <= moment <= end:
                return sport
    return default


def _fit_device(manufacturer: object, product: object) -> str | None:
    if manufacturer is None:
        return None if product is None else str(product)
    return str(manufacturer) if product is None else f"{manufacturer}:{product}"


def _fit_reason(exc: Exception) -> str:
    if isinstance(exc, fitdecode.FitEOFError):
        return "the file ends in the middle of a message"
    if isinstance(exc, fitdecode.FitHeaderError):
        return f"bad FIT header: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# --- TCX and GPX -----------------------------------------------------------------------------


def _local(tag: object) -> str:
    """An element's name without its namespace ("{http://...}Trackpoint" -> "Trackpoint")."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _parse_xml(path: Path, data: bytes, kind: str, root_name: str) -> ET.Element:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise SourceFileError(
            f"{path} is not a valid {kind} file: the XML is broken at line {line}, column {column}",
            path=path,
        ) from exc
    except ValueError as exc:
        raise SourceFileError(f"{path} is not a valid {kind} file: {exc}", path=path) from exc
    if _local(root.tag) != root_name:
        raise SourceFileError(
            f"{path} is not a {kind} file: its root element is <{_local(root.tag)}>, "
            f"expected <{root_name}>",
            path=path,
        )
    return root


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _child_text(element: ET.Element, name: str) -> str | None:
    child = _child(element, name)
    return None if child is None or child.text is None else child.text.strip()


def _descendant_text(element: ET.Element, names: frozenset[str]) -> str | None:
    """Text of the first element below `element` with one of `names`, in any namespace."""
    for node in element.iter():
        if node is not element and _local(node.tag) in names and node.text and node.text.strip():
            return node.text.strip()
    return None


def _read_tcx(path: Path, handle: BinaryIO) -> _Raw:
    root = _parse_xml(path, handle.read(), "TCX", "TrainingCenterDatabase")
    notes = _Notes()
    samples: list[_Sample] = []
    sports: list[str | None] = []
    device: str | None = None
    activities = [node for node in root.iter() if _local(node.tag) == "Activity"]
    groups: list[tuple[str | None, ET.Element]] = [
        (_sport_name(a.get("Sport")), a) for a in activities
    ] or [(None, root)]
    index = 0
    for sport, group in groups:
        sports.append(sport)
        if device is None:
            creator = _child(group, "Creator")
            device = _child_text(creator, "Name") if creator is not None else None
        for point in group.iter():
            if _local(point.tag) != "Trackpoint":
                continue
            index += 1
            where = f"trackpoint {index}"
            stamp = _child_text(point, "Time")
            time = _parse_iso(stamp) if stamp else None
            if time is None:
                notes.add("a trackpoint without a valid Time was left out", where)
                continue
            bpm = _child(point, "HeartRateBpm")
            hr = _text_number(
                _child_text(bpm, "Value") if bpm is not None else None, notes, "a heart rate", where
            )
            extensions = _child(point, "Extensions")
            run_cadence = speed = watts = None
            if extensions is not None:
                run_cadence = _text_number(
                    _descendant_text(extensions, frozenset({"RunCadence"})),
                    notes,
                    "a cadence",
                    where,
                )
                speed = _text_number(
                    _descendant_text(extensions, frozenset({"Speed"})), notes, "a speed", where
                )
                watts = _text_number(
                    _descendant_text(extensions, frozenset({"Watts"})), notes, "a power", where
                )
            cadence = _text_number(_child_text(point, "Cadence"), notes, "a cadence", where)
            samples.append(
                _Sample(
                    time=time,
                    hr=hr if hr is not None and hr > 0 else None,
                    cadence=_to_steps_per_min(
                        run_cadence if run_cadence is not None else cadence, sport
                    ),
                    speed=speed,
                    power=watts,
                    distance=_text_number(
                        _child_text(point, "DistanceMeters"), notes, "a distance", where
                    ),
                )
            )
    return _Raw(
        columns=_columns_of(samples, "trackpoint", notes),
        sport=_main_sport(sports),
        device=device,
        clock=True,
    )


_GPX_HR = frozenset({"hr", "heartrate"})
_GPX_CADENCE = frozenset({"cad", "cadence"})
_GPX_SPEED = frozenset({"speed"})


def _read_gpx(path: Path, handle: BinaryIO) -> _Raw:
    root = _parse_xml(path, handle.read(), "GPX", "gpx")
    notes = _Notes()
    rows: list[tuple[_Sample, tuple[float, float] | None]] = []
    tracks = [
        (_sport_name(_child_text(trk, "type")), trk) for trk in root if _local(trk.tag) == "trk"
    ]
    points = [
        (sport, node) for sport, trk in tracks for node in trk.iter() if _local(node.tag) == "trkpt"
    ]
    for index, (sport, point) in enumerate(points, start=1):
        where = f"trkpt {index}"
        stamp = _child_text(point, "time")
        time = _parse_iso(stamp) if stamp else None
        if time is None:
            notes.add("a track point without a valid time was left out", where)
            continue
        hr = _text_number(_descendant_text(point, _GPX_HR), notes, "a heart rate", where)
        cadence = _text_number(_descendant_text(point, _GPX_CADENCE), notes, "a cadence", where)
        speed = _text_number(_descendant_text(point, _GPX_SPEED), notes, "a speed", where)
        lat = _text_number(point.get("lat"), notes, "a latitude", where)
        lon = _text_number(point.get("lon"), notes, "a longitude", where)
        position = (lat, lon) if lat is not None and lon is not None else None
        rows.append(
            (
                _Sample(
                    time=time,
                    hr=hr if hr is not None and hr > 0 else None,
                    cadence=_to_steps_per_min(cadence, sport),
                    speed=speed,
                ),
                position,
            )
        )
    rows.sort(key=lambda row: row[0].time)
    _derive_gpx_motion(rows)
    return _Raw(
        columns=_columns_of((s for s, _ in rows), "trkpt", notes),
        sport=_main_sport(s for s, _ in tracks),
        device=root.get("creator") or None,
        clock=True,
    )


def _derive_gpx_motion(rows: list[tuple[_Sample, tuple[float, float] | None]]) -> None:
    """Distance along the fixes, and speed between close fixes where the file gives none."""
    total = 0.0
    previous: tuple[_Sample, tuple[float, float]] | None = None
    for sample, position in rows:
        if position is None:
            continue
        if previous is not None:
            before, before_position = previous
            step = _haversine_m(before_position, position)
            total += step
            dt = sample.time - before.time
            if sample.speed is None and 0 < dt <= GPX_SPEED_MAX_GAP_S:
                sample.speed = step / dt
        sample.distance = total
        previous = (sample, position)


def _haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


# --- CSV -------------------------------------------------------------------------------------

_CSV_COLUMNS: dict[str, frozenset[str]] = {
    "time": frozenset({"time", "timestamp", "t", "seconds"}),
    "hr": frozenset({"hr", "heart_rate", "bpm", "hr_bpm"}),
    "cadence": frozenset({"cadence", "cadence_spm"}),
    "speed": frozenset({"speed", "speed_mps"}),
    "distance": frozenset({"distance", "distance_m"}),
    "rr": frozenset({"rr", "rr_intervals_s"}),
    "power": frozenset({"power", "power_w", "watts"}),
}
_UNIT_SUFFIX = re.compile(r"\s*[(\[].*$")


def _read_csv(path: Path, handle: BinaryIO) -> _Raw:
    # Streamed a row at a time: memory follows the records kept, not the file's size.
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    try:
        return _read_csv_rows(path, text)
    except UnicodeDecodeError as exc:
        raise SourceFileError(f"{path} is not a CSV text file (not UTF-8 text)", path=path) from exc
    except csv.Error as exc:
        raise SourceFileError(f"{path} is not a readable CSV file: {exc}", path=path) from exc
    finally:
        text.detach()


def _csv_lines(path: Path, text: io.TextIOWrapper) -> Iterator[str]:
    """The file's lines, each at most MAX_CSV_LINE_CHARS: a file of one endless line is not
    read into memory whole."""
    number = 0
    while line := text.readline(MAX_CSV_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_CSV_LINE_CHARS:
            raise SourceFileError(
                f"{path} is not a recording's CSV: line {number} is longer "
                f"than {MAX_CSV_LINE_CHARS} characters",
                path=path,
            )
        yield line


def _read_csv_rows(path: Path, text: io.TextIOWrapper) -> _Raw:
    lines = _csv_lines(path, text)
    header_line = next((line for line in lines if line.strip()), "")
    if not header_line:
        raise SourceFileError(f"{path} has no header row", path=path)
    delimiter = max(",;\t", key=header_line.count)
    rows = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter)
    first = next((row for row in rows if any(cell.strip() for cell in row)), None)
    if first is None:
        raise SourceFileError(f"{path} has no header row", path=path)
    header = [_UNIT_SUFFIX.sub("", name.strip().lower()) for name in first]
    columns = {
        key: next((i for i, name in enumerate(header) if name in names), None)
        for key, names in _CSV_COLUMNS.items()
    }
    for key, what in (("time", "time"), ("hr", "heart-rate")):
        if columns[key] is None:
            expected = ", ".join(sorted(_CSV_COLUMNS[key]))
            raise SourceFileError(
                f"{path} has no {what} column: its header row needs one of {expected}", path=path
            )

    notes = _Notes()
    out = _Columns("data row", notes)
    kinds: set[str] = set()
    time_at, hr_at = columns["time"], columns["hr"]
    cadence_at, speed_at = columns["cadence"], columns["speed"]
    distance_at, rr_at = columns["distance"], columns["rr"]
    power_at = columns["power"]
    assert time_at is not None and hr_at is not None

    def cell(row: list[str], i: int | None) -> str | None:
        if i is None or i >= len(row):
            return None
        value = row[i].strip()
        return value or None

    def slow(row: list[str], row_no: int) -> bool:
        """One row the fast path below would not take; False when no more fit."""
        where = f"data row {row_no}"
        stamp = cell(row, time_at)
        time = _seconds(stamp)
        if time is not None:
            kinds.add("seconds")
        elif stamp is not None and (time := _parse_iso(stamp)) is not None:
            kinds.add("ISO 8601")
        if len(kinds) > 1:
            raise SourceFileError(
                f"{path} mixes seconds and ISO 8601 times in its time column: use one kind",
                path=path,
            )
        if time is None:
            notes.add("a row without a valid time was left out", where)
            return True
        hr = _text_number(cell(row, hr_at), notes, "a heart rate", where)
        rr = cell(row, rr_at)
        return out.add(
            time,
            hr if hr is not None and hr > 0 else None,
            _text_number(cell(row, cadence_at), notes, "a cadence", where),
            _text_number(cell(row, speed_at), notes, "a speed", where),
            _text_number(cell(row, distance_at), notes, "a distance", where),
            _csv_rr(rr, notes, where) if rr else (),
            _text_number(cell(row, power_at), notes, "a power", where),
            row=row_no,
        )

    # The fast path: rows a block at a time, parsed and range-checked column by column with
    # numpy; a block with a cell that is not a plain number, and each row with a value out of
    # range or RR intervals, take `slow`, which says why. Almost every row of a real file
    # takes the fast path: 2 million rows in a few seconds, in memory for one block.
    wanted = (time_at, hr_at, cadence_at, speed_at, distance_at, power_at)
    width = max(i for i in (*wanted, rr_at) if i is not None) + 1
    row_no = 0
    while not out.full:
        block = list(itertools.islice(rows, _CSV_BLOCK_ROWS))
        if not block:
            break
        first_no = row_no + 1
        row_no += len(block)
        parsed = _csv_block(block, wanted, rr_at, width)
        if parsed is None or "ISO 8601" in kinds:
            number = first_no - 1
            for row in block:
                if not any(part.strip() for part in row):
                    continue  # blank rows are not counted
                number += 1
                if not slow(row, number):
                    break
            row_no = number
            continue
        good, values = parsed
        kinds.add("seconds")
        room = MAX_RECORDS - len(out)
        if np.count_nonzero(good) > room:  # more rows than may be kept: the slow path says so
            good[np.flatnonzero(good)[room:]] = False
        for column, target in zip(
            values, (out.time, out.hr, out.cadence, out.speed, out.distance, out.power), strict=True
        ):
            target.frombytes(np.ascontiguousarray(column[good], dtype=np.float64).tobytes())
        for index in np.flatnonzero(~good):
            if not slow(block[index], first_no + int(index)):
                break
    return _Raw(columns=out, clock=kinds == {"ISO 8601"})


#: Rows parsed at once by the CSV fast path.
_CSV_BLOCK_ROWS = 1 << 15


def _csv_block(
    block: list[list[str]], wanted: tuple[int | None, ...], rr_at: int | None, width: int
) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """(rows the fast path takes, each wanted column as floats), or None for a block with a
    row of another length, a blank row or a cell that is not a number (all rows go slow)."""
    lengths = set(map(len, block))
    if len(lengths) != 1 or lengths.pop() < width:
        return None
    transposed = list(zip(*block, strict=True))
    size = len(block)
    columns: list[np.ndarray] = []
    try:
        for i in wanted:
            if i is None:
                columns.append(np.full(size, np.nan))
                continue
            cells = transposed[i]
            columns.append(
                np.fromiter(map(float, [c or "nan" for c in cells]), dtype=np.float64, count=size)
            )
    except ValueError:
        return None
    time, hr, cadence, speed, distance, power = columns
    with np.errstate(invalid="ignore"):
        good = np.isfinite(time)
        hr[hr <= 0] = np.nan  # 0 is how many devices write "no reading"
        for values, (low, high) in (
            (hr, HR_BPM),
            (cadence, CADENCE_SPM),
            (speed, SPEED_MPS),
            (distance, DISTANCE_M),
            (power, _POWER_W),
        ):
            good &= np.isnan(values) | ((values >= low) & (values <= high))
    # A cell written "nan" is not an empty cell: the slow path says it is not a number.
    for i in wanted:
        if i is not None and "n" in "".join(transposed[i]).lower():
            good &= np.fromiter(
                (c.strip().lower() not in ("nan", "-nan", "+nan") for c in transposed[i]),
                dtype=bool,
                count=size,
            )
    if rr_at is not None:
        good &= np.fromiter((not c.strip() for c in transposed[rr_at]), dtype=bool, count=size)
    return good, columns


def _seconds(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _csv_rr(text: str | None, notes: _Notes, where: str) -> list[float]:
    if text is None:
        return []
    values = [_text_number(part, notes, "an RR interval", where) for part in text.split()]
    return [v for v in values if v is not None and 0 < v < _RR_INVALID_S]


_READERS: dict[str, Callable[[Path, BinaryIO], _Raw]] = {
    ".fit": _read_fit,
    ".tcx": _read_tcx,
    ".gpx": _read_gpx,
    ".csv": _read_csv,
}
