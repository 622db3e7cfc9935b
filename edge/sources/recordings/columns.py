"""What the readers share: columns of numbers as records arrive, the notes of what was left out, and
the one assembly (`finish`) of a format's raw columns into a `Recording`: sorting, cuts, merging."""

from __future__ import annotations

import itertools
import logging
import math
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from edge.errors import SourceFileError
from edge.sources.recordings.model import (
    FOOT_SPORTS,
    MAX_CLOCK_JUMP_S,
    MAX_DURATION_S,
    MAX_RECORDS,
    MAX_WARNINGS,
    POWER_W,
    ColumnPoints,
    MachinePoint,
    Recording,
)
from edge.stream.plausible import (
    CADENCE_SPM,
    DISTANCE_M,
    HR_BPM,
    RR_S,
    SPEED_MPS,
    in_range,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RawSample:
    """A record as a reader found it; `time` is seconds on any clock (epoch or elapsed)."""

    time: float
    hr: float | None = None
    cadence: float | None = None
    speed: float | None = None
    distance: float | None = None
    rr: list[float] = field(default_factory=list)
    power: float | None = None


class Columns:
    """Records as a reader found them, one array of numbers per field (NaN where a record has
    no value), so memory follows the records read: 48 bytes a record, not an object each.

    `add` checks every value against its plausible range and counts what it leaves out."""

    def __init__(self, unit: str, notes: Notes | None = None) -> None:
        #: What a record is called in this format, for warnings ("data row", "record").
        self.unit = unit
        self.notes = notes if notes is not None else Notes()
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
        self.power.append(self._check(power, POWER_W, "a power", "W", row))
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


@dataclass(slots=True)
class RawRecording:
    columns: Columns
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


class Notes:
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


def number(value: object) -> float | None:
    """A finite float from a decoded value, or None (missing, invalid, not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def text_number(text: str | None, notes: Notes, what: str, where: str) -> float | None:
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


def epoch(moment: datetime) -> float:
    """Seconds since 1970; a time without a zone is taken as UTC (only differences matter)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_iso(text: str) -> float | None:
    try:
        return epoch(datetime.fromisoformat(text.strip()))
    except (ValueError, OverflowError, OSError):
        return None


def sport_name(value: object) -> str | None:
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


def main_sport(sports: Iterable[str | None]) -> str | None:
    """The recording's sport: the one sport of its legs, "multisport" when there are several."""
    named = [s for s in sports if s is not None and s != "transition"]
    distinct = set(named)
    if len(distinct) > 1:
        distinct.discard("generic")
    if not distinct:
        return None
    return distinct.pop() if len(distinct) == 1 else "multisport"


def to_steps_per_min(cadence: float | None, sport: str | None) -> float | None:
    # FIT 'cadence', TCX RunCadence and GPX cad count one leg (strides/min) for running and
    # walking; edgecoach counts both feet, like a BLE footpod (RSC), so double it.
    if cadence is not None and sport in FOOT_SPORTS:
        return cadence * 2.0
    return cadence


def columns_of(samples: Iterable[RawSample], unit: str, notes: Notes | None = None) -> Columns:
    """FIT, TCX and GPX records (objects while the reader works on them) as columns."""
    columns = Columns(unit, notes)
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


def finish(path: Path, raw: RawRecording) -> Recording:
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
    points = ColumnPoints(moments, hr, cadence, speed, distance, rr, power)
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
