"""Recorded workouts (FIT, TCX, GPX, CSV) read into one shape.

The replay backend, the export stage and `edgecoach eval hr` all read recordings through
`read_recording`, so a file means the same thing to each of them. A recording becomes a sorted
tuple of `RecordPoint`s whose `t` counts seconds from the earliest record; two records with the
same timestamp are merged (the first value of each field wins, RR intervals are joined). Nothing
is interpolated: a pause in the file stays a gap between points.

Units are the same whatever the format: heart rate in beats/min, cadence in steps/min for foot
sports (running, walking, hiking) and in the device's own unit otherwise (crank rpm for cycling,
strokes/min for swimming and rowing), speed in m/s, distance in metres from the start.

Formats:

* ``.fit``: `record` messages (timestamp, heart_rate, cadence + fractional_cadence,
  enhanced_speed or speed, distance), `hrv` messages for RR intervals, `session` / `sport`
  messages for the sport, `file_id` / `device_info` for the device. A file that ends early
  (truncated upload, full watch) keeps what was read, with a warning.
* ``.tcx``: Garmin TrainingCenterDatabase v2 trackpoints: Time, HeartRateBpm/Value, Cadence,
  DistanceMeters and the ActivityExtension v2 ``TPX`` Speed and RunCadence.
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
========================================  ======================================================

Any file that cannot be read (missing, empty, not the format its suffix says, damaged before its
first record, no heart rate at all) raises `SourceFileError` with a message that names the file
and says what is wrong; no other exception type leaves this module for a bad file.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import fitdecode

from edge.errors import SourceFileError
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

_EARTH_RADIUS_M = 6_371_008.8


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


@dataclass(frozen=True, slots=True)
class Recording:
    """A whole recording: where it came from, what it is, and its points in time order."""

    path: Path
    #: Lower-case sport ("running", "cycling", "swimming", "multisport"), or None when unknown.
    sport: str | None
    #: "manufacturer:product" (FIT), the creator's name (TCX, GPX), or None.
    device: str | None
    points: tuple[RecordPoint, ...]
    #: What the reader had to work around ("truncated after record 1234: read what was there").
    warnings: tuple[str, ...]

    @property
    def duration_s(self) -> float:
        return self.points[-1].t if self.points else 0.0

    @property
    def points_with_hr(self) -> int:
        return sum(1 for p in self.points if p.hr_bpm is not None)


def read_recording(path: Path) -> Recording:
    """Read a .fit, .tcx, .gpx or .csv recording; raises SourceFileError when it cannot."""
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise SourceFileError(
            f"{path} is not a recording edgecoach can read: use a .fit, .tcx, .gpx or .csv file",
            path=path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceFileError(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
    if not data.strip():
        raise SourceFileError(f"{path} is empty", path=path)
    raw = reader(path, data)
    return _finish(path, raw)


def iter_recordings(folder: Path) -> Iterator[tuple[Path, Recording | SourceFileError]]:
    """Every recording under `folder` (recursively, sorted by path), or why it could not be read.

    Errors are yielded rather than raised so a caller can skip a bad file and say why. A folder
    that does not exist is the caller's mistake and raises SourceFileError.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceFileError(f"{folder} is not a folder", path=folder)
    paths = sorted(p for p in folder.rglob("*")
                   if p.suffix.lower() in RECORDING_SUFFIXES and p.is_file())
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


@dataclass(slots=True)
class _Raw:
    samples: list[_Sample]
    sport: str | None = None
    device: str | None = None
    warnings: list[str] = field(default_factory=list)


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
            out.append(f"{problem} ({first})" if n == 1 else f"{problem} ({n} times, first {first})")
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
    aliases = {"biking": "cycling", "bike": "cycling", "ride": "cycling", "run": "running",
               "walk": "walking", "hike": "hiking", "swim": "swimming"}
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


def _finish(path: Path, raw: _Raw) -> Recording:
    if not raw.samples:
        raise SourceFileError(f"{path} has no timed records to replay", path=path)
    raw.samples.sort(key=lambda s: s.time)  # stable: records of one second keep file order
    start = raw.samples[0].time
    merged: list[_Sample] = []
    for sample in raw.samples:
        sample.time = round(sample.time - start, 3)
        if merged and merged[-1].time == sample.time:
            last = merged[-1]
            last.hr = last.hr if last.hr is not None else sample.hr
            last.cadence = last.cadence if last.cadence is not None else sample.cadence
            last.speed = last.speed if last.speed is not None else sample.speed
            last.distance = last.distance if last.distance is not None else sample.distance
            last.rr.extend(sample.rr)
        else:
            merged.append(sample)
    points = tuple(
        RecordPoint(t=s.time, hr_bpm=s.hr, cadence_spm=s.cadence, speed_mps=s.speed,
                    distance_m=s.distance, rr_intervals_s=tuple(s.rr))
        for s in merged)
    if not any(p.hr_bpm is not None for p in points):
        raise SourceFileError(
            f"{path} has no heart-rate records: record it with a heart-rate sensor paired",
            path=path)
    found = list(dict.fromkeys(raw.warnings))
    if len(found) > MAX_WARNINGS:
        more = len(found) - MAX_WARNINGS + 1
        found = found[:MAX_WARNINGS - 1] + [f"... and {more} more warnings"]
    for line in found:
        log.debug("%s: %s", path, line)
    return Recording(path=path, sport=raw.sport, device=raw.device, points=points,
                     warnings=tuple(found))


# --- FIT -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _FitRecord:
    sample: _Sample
    moment: datetime | None
    cadence: float | None


def _read_fit(path: Path, data: bytes) -> _Raw:
    if len(data) < 12 or data[8:12] != b".FIT":
        raise SourceFileError(f"{path} is not a FIT file (bad header)", path=path)
    records: list[_FitRecord] = []
    rr_before_first_record: list[float] = []
    # (start, end, sport) of each session, and of each lap: a truncated file often lost its
    # sessions (written last) but kept some laps.
    sessions: list[tuple[object, object, str | None]] = []
    laps: list[tuple[object, object, str | None]] = []
    sport_messages: list[str | None] = []
    manufacturer: object = None
    product: object = None
    creator_product: object = None
    untimed = 0
    notes: list[str] = []
    stopped: str | None = None

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # CRCs are not checked: computing them costs half the read time, and damage that
        # matters shows up as a parse error or a truncation below.
        reader = fitdecode.FitReader(io.BytesIO(data), check_crc=fitdecode.CrcCheck.DISABLED,
                                     error_handling=fitdecode.ErrorHandling.WARN)
        frames = iter(reader)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except Exception as exc:  # damaged bytes can raise anything inside fitdecode
                if not records:
                    raise SourceFileError(
                        f"{path} is damaged before its first record and cannot be read "
                        f"({_fit_reason(exc)})", path=path) from exc
                stopped = (f"ignored what follows record {len(records)}: it is not FIT data "
                           f"({exc})" if isinstance(exc, fitdecode.FitHeaderError) else
                           f"truncated after record {len(records)}: read what was there "
                           f"({_fit_reason(exc)})")
                break
            if not isinstance(frame, fitdecode.FitDataMessage):
                continue
            name = frame.name
            if name == "record":
                record = _fit_record(frame)
                if record is None:
                    untimed += 1
                else:
                    records.append(record)
            elif name == "hrv":
                rr = [v for v in _values(frame.get_value("time", fallback=None))
                      if 0 < v < _RR_INVALID_S]
                # Devices write an hrv message right after the record of the second it covers.
                (records[-1].sample.rr if records else rr_before_first_record).extend(rr)
            elif name in ("session", "lap"):
                (sessions if name == "session" else laps).append((
                    frame.get_value("start_time", fallback=None),
                    frame.get_value("timestamp", fallback=None),
                    _sport_name(frame.get_value("sport", fallback=None))))
            elif name == "sport":
                sport_messages.append(_sport_name(frame.get_value("sport", fallback=None)))
            elif name == "file_id" and manufacturer is None:
                manufacturer = frame.get_value("manufacturer", fallback=None)
                product = frame.get_value("product", fallback=None)
            elif (name == "device_info" and creator_product is None
                  and frame.get_value("device_index", fallback=None) in ("creator", 0)):
                creator_product = frame.get_value("product", fallback=None)
                manufacturer = manufacturer or frame.get_value("manufacturer", fallback=None)
        reader.close()
        notes.extend(f"fitdecode: {w.message}" for w in caught)

    if stopped is not None:
        notes.insert(0, stopped)
    if untimed:
        notes.append(f"{untimed} records without a timestamp were left out")
    if records and rr_before_first_record:
        records[0].sample.rr[:0] = rr_before_first_record

    legs = sessions or [lap for lap in laps if lap[2] is not None]
    sport = _main_sport([s for _, _, s in legs] or sport_messages)
    for record in records:
        leg = _sport_at(record.moment, legs, sport)
        record.sample.cadence = _to_steps_per_min(record.cadence, leg)
    if sport is None and any(r.cadence for r in records):
        notes.append("the file names no sport: cadence is as recorded (strides/min if this "
                     "was a run)")
    return _Raw(samples=[r.sample for r in records], sport=sport,
                device=_fit_device(manufacturer, product or creator_product), warnings=notes)


def _fit_record(frame: fitdecode.FitDataMessage) -> _FitRecord | None:
    moment = frame.get_value("timestamp", fallback=None)
    if isinstance(moment, datetime):
        time = _epoch(moment)
    else:
        time = _number(moment)  # seconds since the device powered on (FIT allows this)
        moment = None
        if time is None:
            return None
    hr = _number(frame.get_value("heart_rate", fallback=None))
    cadence = _number(frame.get_value("cadence", fallback=None))
    fraction = _number(frame.get_value("fractional_cadence", fallback=None))
    if cadence is not None and fraction is not None:
        cadence += fraction
    speed = _number(frame.get_value("enhanced_speed", fallback=None))
    if speed is None:
        speed = _number(frame.get_value("speed", fallback=None))
    sample = _Sample(time=time, hr=hr if hr is not None and hr > 0 else None, speed=speed,
                     distance=_number(frame.get_value("distance", fallback=None)))
    return _FitRecord(sample, moment, cadence)


def _values(value: object) -> list[float]:
    items = value if isinstance(value, tuple | list) else (value,)
    return [n for n in (_number(v) for v in items) if n is not None]


def _sport_at(moment: datetime | None, sessions: list[tuple[object, object, str | None]],
              default: str | None) -> str | None:
    """The sport of the session a record falls in (multisport files change sport per leg)."""
    if moment is not None:
        for start, end, sport in sessions:
            if isinstance(start, datetime) and isinstance(end, datetime) and start <= moment <= end:
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
            f"{path} is not a valid {kind} file: the XML is broken at line {line}, "
            f"column {column}", path=path) from exc
    except ValueError as exc:
        raise SourceFileError(f"{path} is not a valid {kind} file: {exc}", path=path) from exc
    if _local(root.tag) != root_name:
        raise SourceFileError(
            f"{path} is not a {kind} file: its root element is <{_local(root.tag)}>, "
            f"expected <{root_name}>", path=path)
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


def _read_tcx(path: Path, data: bytes) -> _Raw:
    root = _parse_xml(path, data, "TCX", "TrainingCenterDatabase")
    notes = _Notes()
    samples: list[_Sample] = []
    sports: list[str | None] = []
    device: str | None = None
    activities = [node for node in root.iter() if _local(node.tag) == "Activity"]
    groups: list[tuple[str | None, ET.Element]] = [
        (_sport_name(a.get("Sport")), a) for a in activities] or [(None, root)]
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
            hr = _text_number(_child_text(bpm, "Value") if bpm is not None else None,
                              notes, "a heart rate", where)
            extensions = _child(point, "Extensions")
            run_cadence = speed = None
            if extensions is not None:
                run_cadence = _text_number(
                    _descendant_text(extensions, frozenset({"RunCadence"})), notes,
                    "a cadence", where)
                speed = _text_number(_descendant_text(extensions, frozenset({"Speed"})), notes,
                                     "a speed", where)
            cadence = _text_number(_child_text(point, "Cadence"), notes, "a cadence", where)
            samples.append(_Sample(
                time=time, hr=hr if hr is not None and hr > 0 else None,
                cadence=_to_steps_per_min(run_cadence if run_cadence is not None else cadence,
                                          sport),
                speed=speed,
                distance=_text_number(_child_text(point, "DistanceMeters"), notes, "a distance",
                                      where)))
    return _Raw(samples=samples, sport=_main_sport(sports), device=device, warnings=notes.lines())


_GPX_HR = frozenset({"hr", "heartrate"})
_GPX_CADENCE = frozenset({"cad", "cadence"})
_GPX_SPEED = frozenset({"speed"})


def _read_gpx(path: Path, data: bytes) -> _Raw:
    root = _parse_xml(path, data, "GPX", "gpx")
    notes = _Notes()
    rows: list[tuple[_Sample, tuple[float, float] | None]] = []
    tracks = [(_sport_name(_child_text(trk, "type")), trk) for trk in root
              if _local(trk.tag) == "trk"]
    points = [(sport, node) for sport, trk in tracks for node in trk.iter()
              if _local(node.tag) == "trkpt"]
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
        rows.append((_Sample(time=time, hr=hr if hr is not None and hr > 0 else None,
                             cadence=_to_steps_per_min(cadence, sport), speed=speed), position))
    rows.sort(key=lambda row: row[0].time)
    _derive_gpx_motion(rows)
    return _Raw(samples=[s for s, _ in rows], sport=_main_sport(s for s, _ in tracks),
                device=root.get("creator") or None, warnings=notes.lines())


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
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


# --- CSV -------------------------------------------------------------------------------------

_CSV_COLUMNS: dict[str, frozenset[str]] = {
    "time": frozenset({"time", "timestamp", "t", "seconds"}),
    "hr": frozenset({"hr", "heart_rate", "bpm", "hr_bpm"}),
    "cadence": frozenset({"cadence", "cadence_spm"}),
    "speed": frozenset({"speed", "speed_mps"}),
    "distance": frozenset({"distance", "distance_m"}),
    "rr": frozenset({"rr", "rr_intervals_s"}),
}
_UNIT_SUFFIX = re.compile(r"\s*[(\[].*$")


def _read_csv(path: Path, data: bytes) -> _Raw:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFileError(f"{path} is not a CSV text file (not UTF-8 text)", path=path) from exc
    lines = text.splitlines()
    header_line = next((line for line in lines if line.strip()), "")
    delimiter = max(",;\t", key=header_line.count)
    try:
        rows = list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as exc:
        raise SourceFileError(f"{path} is not a readable CSV file: {exc}", path=path) from exc
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise SourceFileError(f"{path} has no header row", path=path)
    header = [_UNIT_SUFFIX.sub("", name.strip().lower()) for name in rows[0]]
    columns = {key: next((i for i, name in enumerate(header) if name in names), None)
               for key, names in _CSV_COLUMNS.items()}
    for key, what in (("time", "time"), ("hr", "heart-rate")):
        if columns[key] is None:
            expected = ", ".join(sorted(_CSV_COLUMNS[key]))
            raise SourceFileError(
                f"{path} has no {what} column: its header row needs one of {expected}",
                path=path)

    notes = _Notes()
    samples: list[_Sample] = []
    kinds: set[str] = set()
    for line_no, row in enumerate(rows[1:], start=2):
        where = f"data row {line_no - 1}"

        def cell(key: str, row: list[str] = row) -> str | None:
            i = columns[key]
            return row[i].strip() if i is not None and i < len(row) and row[i].strip() else None

        stamp = cell("time")
        time = _seconds(stamp)
        if time is not None:
            kinds.add("seconds")
        elif stamp is not None and (time := _parse_iso(stamp)) is not None:
            kinds.add("ISO 8601")
        if time is None:
            notes.add("a row without a valid time was left out", where)
            continue
        hr = _text_number(cell("hr"), notes, "a heart rate", where)
        samples.append(_Sample(
            time=time, hr=hr if hr is not None and hr > 0 else None,
            cadence=_text_number(cell("cadence"), notes, "a cadence", where),
            speed=_text_number(cell("speed"), notes, "a speed", where),
            distance=_text_number(cell("distance"), notes, "a distance", where),
            rr=_csv_rr(cell("rr"), notes, where)))
    if len(kinds) > 1:
        raise SourceFileError(
            f"{path} mixes seconds and ISO 8601 times in its time column: use one kind",
            path=path)
    return _Raw(samples=samples, warnings=notes.lines())


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


_READERS: dict[str, Callable[[Path, bytes], _Raw]] = {
    ".fit": _read_fit,
    ".tcx": _read_tcx,
    ".gpx": _read_gpx,
    ".csv": _read_csv,
}
