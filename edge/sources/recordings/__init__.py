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

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from edge.errors import SourceFileError
from edge.sources.recordings.columns import RawRecording, finish
from edge.sources.recordings.csv_format import read_csv
from edge.sources.recordings.fit import read_fit
from edge.sources.recordings.model import (
    FIT_APPLICATION_ID,
    FIT_MACHINE_FIELDS,
    FOOT_SPORTS,
    GPX_SPEED_MAX_GAP_S,
    MAX_CLOCK_JUMP_S,
    MAX_CSV_LINE_CHARS,
    MAX_DURATION_S,
    MAX_FILE_BYTES,
    MAX_RECORDS,
    MAX_WARNINGS,
    MachinePoint,
    PointRow,
    Recording,
    RecordPoint,
    hr_times,
    point_rows,
)
from edge.sources.recordings.xml_formats import read_gpx, read_tcx
from edge.stream.readings import RECORDING_SUFFIXES

__all__ = [
    "FIT_APPLICATION_ID",
    "FIT_MACHINE_FIELDS",
    "FOOT_SPORTS",
    "GPX_SPEED_MAX_GAP_S",
    "MAX_CLOCK_JUMP_S",
    "MAX_CSV_LINE_CHARS",
    "MAX_DURATION_S",
    "MAX_FILE_BYTES",
    "MAX_RECORDS",
    "MAX_WARNINGS",
    "MachinePoint",
    "PointRow",
    "RecordPoint",
    "Recording",
    "hr_times",
    "iter_recordings",
    "point_rows",
    "read_recording",
]

log = logging.getLogger(__name__)


_READERS: dict[str, Callable[[Path, BinaryIO], RawRecording]] = {
    ".fit": read_fit,
    ".tcx": read_tcx,
    ".gpx": read_gpx,
    ".csv": read_csv,
}


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
    return finish(path, raw)


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
