"""Sessions out to FIT and CSV files, and past recordings in as sessions.

Export. `export_fit` writes a FIT activity file (file_id, timer events, one `record` per stored
second with timestamp, heart rate, cadence, speed, distance and power, `hrv` messages with the RR
intervals, then lap, session and activity messages), encoded by `fit_tool` (BSD-3-Clause) with
its header and CRCs, so watches' and training sites' importers take it. A second without heart
rate is a record without a heart_rate field, never an invented value. Cadence is stored in
steps/min; FIT counts foot sports in strides/min (one leg), so it is halved for a run or a walk
and `read_recording` doubles it back. `export_csv` writes every stored field, one row per
second (`CSV_COLUMNS`); `read_recording` reads it as a CSV recording, and `import_recordings`
recognises its header and takes its rows back exactly.

Import. `import_recordings` turns past FIT, TCX, GPX and CSV files (`read_recording`) into ended
sessions of one person: the points are put on a 1 Hz grid by the live `StreamAligner`, which
carries a value for a few seconds at most and never fills a longer gap. How long is "a few"
follows the file: its usual spacing between heart-rate points (the 90th percentile) so that a
watch's "smart recording" every 4-7 s is not taken for dropouts, at least the live 3 s and at
most `IMPORT_MAX_HOLD_S`; a point that the file has without heart rate ends the hold at once. The
session's summary is computed as at the end of a live one, `source` is ``import:<file name>``,
`started_at` is the file's first timestamp, and the summary's ``import`` entry records the
file's sha256: importing the same bytes again is skipped as a duplicate. A file that cannot be
read is skipped with the reason and the others are imported.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from edge.coach.summary import summarise
from edge.core.zones import ZoneModel
from edge.errors import SourceFileError
from edge.profile import Profile
from edge.reports.fitness import session_markers
from edge.reports.metrics import ReportError, find_session, gaps_of
from edge.sources.recordings import (
    FIT_APPLICATION_ID,
    FIT_MACHINE_FIELDS,
    FOOT_SPORTS,
    MAX_DURATION_S,
    MachinePoint,
    RecordPoint,
    hr_times,
    point_rows,
    read_recording,
)
from edge.store import SessionRow, SessionStore
from edge.stream.aligner import StreamAligner
from edge.stream.plausible import (
    CADENCE_SPM,
    DISTANCE_M,
    EFFORT_RANGES,
    HR_BPM,
    SPEED_MPS,
    STEPS,
    plausible,
    plausible_rr,
)
from edge.stream.readings import (
    EFFORT_FIELDS,
    AlignedSample,
    HeartRateReading,
    LinkEvent,
    LinkState,
    MachineReading,
    PowerReading,
    StrideReading,
)

__all__ = [
    "CSV_COLUMNS",
    "IMPORT_MAX_HOLD_S",
    "IMPORT_MIN_HOLD_S",
    "ImportResult",
    "align_points",
    "export_csv",
    "export_fit",
    "import_recordings",
    "session_sport",
    "write_private",
]

log = logging.getLogger(__name__)

#: The header of a CSV that edgecoach exported before effort was recorded; still imported.
_CSV_COLUMNS_BEFORE_EFFORT = (
    "t",
    "timestamp",
    "hr",
    "rr",
    "cadence",
    "speed",
    "distance",
    "steps",
    "contact",
    "gap",
)
#: The effort columns, after those (AlignedSample fields in `EFFORT_FIELDS` order).
_CSV_EFFORT_COLUMNS = (
    "power",
    "machine_speed",
    "incline",
    "resistance",
    "stroke_rate",
    "machine_distance",
)
#: The header of an exported CSV, in order.
CSV_COLUMNS = _CSV_COLUMNS_BEFORE_EFFORT + _CSV_EFFORT_COLUMNS

#: Bounds of how long an imported value is carried forward (see the module docstring).
IMPORT_MIN_HOLD_S = 3.0
IMPORT_MAX_HOLD_S = 8.0

_DEVICE = "import"
#: Power goes in as its own sensor: a point without heart rate ends the heart rate's hold (a
#: disconnect of `_DEVICE`), and the aligner ends a device's effort values on its disconnect.
_POWER_DEVICE = "import:power"
_MACHINE_DEVICE = "import:machine"
_HRV_PER_MESSAGE = 5  # what devices write; the FIT profile leaves the array open
_UINT8_MAX_VALID = 254  # 255 is FIT's "invalid"
_UINT16_MAX_VALID = 65534


# -- export ------------------------------------------------------------------------------------


def export_fit(store: SessionStore, session_id: int, out_path: Path) -> Path:
    """Write session `session_id` as a FIT activity file at `out_path`; returns the path."""
    try:
        import fit_tool  # noqa: F401
    except ImportError as exc:
        raise ReportError(
            "FIT export needs the fit-tool package: pip install "
            "'fit-tool>=0.9.16,<0.10' (or export as CSV)"
        ) from exc
    from fit_tool.base_type import BaseType
    from fit_tool.data_message import DataMessage
    from fit_tool.developer_field import DeveloperField
    from fit_tool.fit_file_builder import FitFileBuilder
    from fit_tool.profile.messages.activity_message import ActivityMessage
    from fit_tool.profile.messages.common_fields import TimestampField
    from fit_tool.profile.messages.developer_data_id_message import DeveloperDataIdMessage
    from fit_tool.profile.messages.event_message import EventMessage
    from fit_tool.profile.messages.field_description_message import FieldDescriptionMessage
    from fit_tool.profile.messages.file_id_message import FileIdMessage
    from fit_tool.profile.messages.hrv_message import HrvMessage
    from fit_tool.profile.messages.lap_message import LapMessage
    from fit_tool.profile.messages.record_message import (
        RecordCadenceField,
        RecordDistanceField,
        RecordFractionalCadenceField,
        RecordGradeField,
        RecordHeartRateField,
        RecordMessage,
        RecordPowerField,
        RecordSpeedField,
    )
    from fit_tool.profile.messages.session_message import SessionMessage
    from fit_tool.profile.profile_type import (
        Activity,
        Event,
        EventType,
        FileType,
        Manufacturer,
        Sport,
    )

    row, samples = _session_samples(store, session_id)
    sport = session_sport(row, samples)
    halve = sport in FOOT_SPORTS  # FIT counts one leg for foot sports
    fit_sport = Sport.__members__.get((sport or "generic").upper(), Sport.GENERIC)
    start_s = math.floor(row.started_at.timestamp())
    first_t, last_t = samples[0].t, samples[-1].t

    def ms(t: int) -> int:
        return (start_s + t) * 1000

    builder = FitFileBuilder(auto_define=True, min_string_size=50)
    file_id = FileIdMessage()
    file_id.type = FileType.ACTIVITY
    file_id.manufacturer = Manufacturer.DEVELOPMENT.value
    file_id.product = 0
    file_id.serial_number = row.id
    file_id.time_created = ms(first_t)
    builder.add(file_id)
    # The machine's own values (FTMS) have no standard record field but grade: developer
    # fields of edgecoach's own, described once, each a float32 in the unit it names.
    machine_fields = [
        (n, name, unit, attribute)
        for n, (name, unit, attribute) in enumerate(FIT_MACHINE_FIELDS)
        if any(getattr(sample, attribute) is not None for sample in samples)
    ]
    if machine_fields:
        developer = DeveloperDataIdMessage()
        developer.application_id = FIT_APPLICATION_ID
        developer.developer_data_index = 0
        builder.add(developer)
        for n, name, unit, _ in machine_fields:
            description = FieldDescriptionMessage()
            description.developer_data_index = 0
            description.field_definition_number = n
            description.fit_base_type_id = BaseType.FLOAT32.value
            description.field_name = name
            description.units = unit
            builder.add(description)
    builder.add(_event(EventMessage, Event.TIMER, EventType.START, ms(first_t)))
    # A record message with only the fields written: a full RecordMessage builds all 84 of the
    # profile's fields, which makes it four times slower (2.5 s against 0.7 s an hour here).
    record_fields = (
        TimestampField,
        RecordHeartRateField,
        RecordCadenceField,
        RecordFractionalCadenceField,
        RecordSpeedField,
        RecordDistanceField,
        RecordPowerField,
        RecordGradeField,
    )
    for sample in samples:
        cadence = fraction = None
        if sample.cadence_spm is not None:
            per_min = min(
                sample.cadence_spm / 2.0 if halve else sample.cadence_spm, float(_UINT8_MAX_VALID)
            )
            cadence, fraction = int(per_min), per_min - int(per_min)
        values = (
            ms(sample.t),
            None if sample.hr_bpm is None else min(round(sample.hr_bpm), _UINT8_MAX_VALID),
            cadence,
            fraction,
            # Other tools read speed here: the machine's when the person's own sensor gave
            # none (a treadmill's belt); the reader tells a copy from the developer field.
            sample.speed_mps if sample.speed_mps is not None else sample.machine_speed_mps,
            sample.distance_m,
            None if sample.power_w is None else min(round(sample.power_w), _UINT16_MAX_VALID),
            sample.incline_pct,
        )
        extra = []
        for n, _, _, attribute in machine_fields:
            value = getattr(sample, attribute)
            if value is not None:
                field = DeveloperField(
                    developer_data_index=0, field_id=n, base_type=BaseType.FLOAT32, size=4
                )
                field.set_value(0, float(value))
                extra.append(field)
        record = DataMessage(
            name=RecordMessage.NAME,
            global_id=RecordMessage.ID,
            fields=[field() for field in record_fields],
            developer_fields=extra,
        )
        for field, value in zip(record.fields, values, strict=True):
            if value is not None:  # an unset field is left out of the record
                field.set_value(0, value, None)
        builder.add(record)
        rr = [v for v in sample.rr_intervals_s if 0 < v < 65.535]
        for i in range(0, len(rr), _HRV_PER_MESSAGE):
            hrv = HrvMessage()
            hrv.time = rr[i : i + _HRV_PER_MESSAGE]
            builder.add(hrv)
    end = ms(last_t)
    builder.add(_event(EventMessage, Event.TIMER, EventType.STOP_ALL, end))

    with_hr = [s.hr_bpm for s in samples if s.hr_bpm is not None]
    distances = [s.distance_m for s in samples if s.distance_m is not None]
    elapsed = float(last_t - first_t + 1)
    totals: dict[str, Any] = {
        "timestamp": end,
        "start_time": ms(first_t),
        "total_elapsed_time": elapsed,
        "total_timer_time": elapsed,
        "sport": fit_sport,
    }
    if with_hr:
        totals["avg_heart_rate"] = min(round(sum(with_hr) / len(with_hr)), _UINT8_MAX_VALID)
        totals["max_heart_rate"] = min(round(max(with_hr)), _UINT8_MAX_VALID)
    if distances:
        totals["total_distance"] = max(distances)
    watts = [s.power_w for s in samples if s.power_w is not None]
    if watts:
        totals["avg_power"] = min(round(sum(watts) / len(watts)), _UINT16_MAX_VALID)
        totals["max_power"] = min(round(max(watts)), _UINT16_MAX_VALID)
    lap = LapMessage()
    session = SessionMessage()
    for message in (lap, session):
        for name, value in totals.items():
            setattr(message, name, value)
    lap.message_index = 0
    session.first_lap_index = 0
    session.num_laps = 1
    builder.add(lap)
    builder.add(session)
    activity = ActivityMessage()
    activity.timestamp = end
    activity.total_timer_time = elapsed
    activity.num_sessions = 1
    activity.type = Activity.MANUAL
    activity.event = Event.ACTIVITY
    activity.event_type = EventType.STOP
    builder.add(activity)

    write_private(Path(out_path), builder.build().to_bytes())
    log.debug("session %d exported as FIT (%d records)", session_id, len(samples))
    return Path(out_path)


def _event(cls: Any, event: Any, event_type: Any, timestamp_ms: int) -> Any:
    message = cls()
    message.event = event
    message.event_type = event_type
    message.timestamp = timestamp_ms
    return message


def export_csv(store: SessionStore, session_id: int, out_path: Path) -> Path:
    """Write session `session_id` as CSV (`CSV_COLUMNS`, one row a second); returns the path."""
    row, samples = _session_samples(store, session_id)
    start = row.started_at
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in samples:
        writer.writerow(
            [
                s.t,
                (start + timedelta(seconds=s.t)).isoformat(),
                _cell(s.hr_bpm),
                " ".join(_cell(rr) for rr in s.rr_intervals_s),
                _cell(s.cadence_spm),
                _cell(s.speed_mps),
                _cell(s.distance_m),
                _cell(s.steps),
                "" if s.contact is None else int(s.contact),
                int(s.hr_gap),
                *(_cell(getattr(s, name)) for name in EFFORT_FIELDS),
            ]
        )
    write_private(Path(out_path), buffer.getvalue().encode("utf-8"))
    log.debug("session %d exported as CSV (%d rows)", session_id, len(samples))
    return Path(out_path)


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def session_sport(row: SessionRow, samples: Sequence[AlignedSample]) -> str | None:
    """The session's sport: the imported file's, else guessed from its stride data.

    Steps that go up mean a foot sport ("running", or "walking" when the moving speed stays
    under 2 m/s); cadence without steps means crank rpm ("cycling"); no cadence, None.
    """
    imported = (row.summary or {}).get("import")
    if isinstance(imported, dict) and isinstance(imported.get("sport"), str):
        return imported["sport"]
    steps = [s.steps for s in samples if s.steps is not None]
    if steps and max(steps) > min(steps):
        moving = [s.speed_mps for s in samples if s.speed_mps]
        return "walking" if moving and sum(moving) / len(moving) < 2.0 else "running"
    if any(s.cadence_spm for s in samples):
        return "cycling"
    return None


def _session_samples(
    store: SessionStore, session_id: int
) -> tuple[SessionRow, list[AlignedSample]]:
    row = find_session(store, session_id)
    samples = store.samples(session_id)
    if not samples:
        raise ReportError(f"session {session_id} has no samples: there is nothing to export")
    return row, samples


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by its owner only (it is health data), atomically: it
    goes to a hidden file beside `path` first, so a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ReportError(
            f"cannot write {path}: {exc.strerror or exc}; choose another --out file or folder"
        ) from exc


# -- import ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What became of one file given to `import_recordings`."""

    path: Path
    #: The new session, None when the file was skipped.
    session_id: int | None
    #: Why the file was skipped ("" when imported).
    reason: str = ""
    #: True when it was skipped because the same bytes were imported before.
    duplicate: bool = False
    sha256: str = ""
    duration_s: int = 0
    #: What the reader had to work around, and how the start time was found.
    warnings: tuple[str, ...] = ()

    @property
    def imported(self) -> bool:
        return self.session_id is not None

    @property
    def status(self) -> str:
        """ "imported", "duplicate" or "skipped"."""
        return "imported" if self.imported else "duplicate" if self.duplicate else "skipped"

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "status": self.status,
            "session_id": self.session_id,
            "reason": self.reason,
            "sha256": self.sha256,
            "duration_s": self.duration_s,
            "warnings": list(self.warnings),
        }


def import_recordings(
    store: SessionStore, paths: Iterable[Path], person: str, profile: Profile
) -> list[ImportResult]:
    """Import each recording as an ended session of `person`; one result per path, in order.

    A file that cannot be read, or that holds a workout imported before (the same bytes, or
    the same start time and samples in other bytes: a re-saved file, its CSV export), is
    skipped with the reason; the others are imported. Store errors (a full disk) are raised:
    they are not the file's fault.
    """
    known = _imported_hashes(store)
    zones = ZoneModel.for_profile(profile)
    results = []
    for given in paths:
        path = Path(given)
        result = _import_one(store, path, person, profile, zones, known)
        if result.session_id is not None:
            log.debug("file %d imported as session %d", len(results) + 1, result.session_id)
        else:
            log.debug("file %d skipped (%s)", len(results) + 1, result.status)
        results.append(result)
    return results


def _import_one(
    store: SessionStore,
    path: Path,
    person: str,
    profile: Profile,
    zones: ZoneModel,
    known: dict[str, tuple[int, str]],
) -> ImportResult:
    try:
        digest = _sha256_file(path)
    except OSError as exc:
        return ImportResult(path, None, f"cannot read {path}: {exc.strerror or exc}")
    if digest in known:
        session_id, owner = known[digest]
        return ImportResult(
            path,
            None,
            f"already imported as session {session_id} of {owner} (the same bytes)",
            duplicate=True,
            sha256=digest,
        )
    try:
        parsed = _read_for_import(path)
    except SourceFileError as exc:
        return ImportResult(path, None, str(exc), sha256=digest)
    samples, started_at, sport, device, warnings = parsed
    if not samples:
        return ImportResult(path, None, f"{path} has no seconds to import", sha256=digest)
    content = workout_key(started_at, samples)
    if content in known:
        session_id, owner = known[content]
        return ImportResult(
            path,
            None,
            f"already imported as session {session_id} of {owner} "
            "(the same workout: the same start time and samples)",
            duplicate=True,
            sha256=digest,
        )

    session_id = store.start_session(person, f"import:{path.name}", profile, started_at)
    for sample in samples:
        store.add_sample(session_id, sample)
    summary = summarise(samples, {}, [], [], zones, gaps_of(samples)).as_dict()
    summary["import"] = {
        "file": path.name,
        "sha256": digest,
        "content": content,
        "sport": sport,
        "device": device,
        "warnings": list(warnings),
    }
    store.end_session(session_id, started_at + timedelta(seconds=len(samples)), summary)
    if (markers := session_markers(samples)) is not None:
        store.set_fitness(session_id, markers.as_dict())
    known[digest] = known[content] = (session_id, person)
    return ImportResult(
        path, session_id, sha256=digest, duration_s=len(samples), warnings=tuple(warnings)
    )


def workout_key(started_at: datetime, samples: Sequence[AlignedSample]) -> str:
    """What makes two files one workout: the start to the second, and each second's heart
    rate to the beat ("content:" and a sha256). A FIT file and its CSV export share it; so
    do a file and its copy with a byte changed in a field edgecoach does not read."""
    digest = hashlib.sha256(str(math.floor(started_at.timestamp())).encode())
    beats = np.fromiter(
        (-1 if s.hr_bpm is None else round(s.hr_bpm) for s in samples),
        dtype=np.int32,
        count=len(samples),
    )
    seconds = np.fromiter((s.t for s in samples), dtype=np.int64, count=len(samples))
    digest.update(seconds.tobytes())
    digest.update(beats.tobytes())
    return f"content:{digest.hexdigest()}"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _imported_hashes(store: SessionStore) -> dict[str, tuple[int, str]]:
    """Each imported file's sha256 and workout key, with the session it became."""
    known: dict[str, tuple[int, str]] = {}
    for row in store.sessions():
        imported = (row.summary or {}).get("import")
        if not isinstance(imported, dict):
            continue
        for key in ("sha256", "content"):
            if isinstance(imported.get(key), str):
                known.setdefault(imported[key], (row.id, row.person))
    return known


def _read_for_import(
    path: Path,
) -> tuple[list[AlignedSample], datetime, str | None, str | None, list[str]]:
    """(samples, started_at, sport, device, warnings), or SourceFileError."""
    if path.suffix.lower() == ".csv":
        own = _read_own_csv(path)
        if own is not None:
            samples, started, warnings = own
            return samples, started, None, None, warnings
    recording = read_recording(path)
    sport = recording.sport
    samples = align_points(recording.points, foot=sport in FOOT_SPORTS, machine=recording.machine)
    warnings = list(recording.warnings)
    started = recording.started_at
    if started is None:
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        started = modified - timedelta(seconds=len(samples))
        warnings.append(
            "the file has no clock times: the start is taken as its modification "
            "time less its duration"
        )
    return samples, started, sport, recording.device, warnings


def align_points(
    points: Sequence[RecordPoint],
    *,
    foot: bool,
    max_hold_s: float | None = None,
    machine: Sequence[MachinePoint] = (),
) -> list[AlignedSample]:
    """A recording's points as one `AlignedSample` a second, through the live `StreamAligner`.

    `max_hold_s` (default: from the file's spacing, see the module docstring) is how long a
    value is carried; past it the seconds are gaps. A point without heart rate ends the hold at
    once (the file says there was none). With `foot`, steps are counted from the cadence.

    A second of the aligner's output depends only on the last reading of each kind before it
    ends (and every RR interval in it), so each second's readings are reduced to those before
    they are pushed: the same samples, whether the file has one point a second or fifty. A gym
    machine's values (`machine`, each on a record's moment) go in as that machine's readings.
    """
    hold = hold_for(points) if max_hold_s is None else max_hold_s
    aligner = StreamAligner(start_t=0.0, max_hold_s=hold)
    out: list[AlignedSample] = []
    steps = 0.0
    last_hr_second: int | None = None
    bucket: int | None = None
    # The current second's last heart-rate point and every RR interval of the second; whether
    # a point without heart rate came after it (which ends the hold); its last power point and
    # its last stride point.
    heart: tuple[float, float] | None = None
    rr: list[float] = []
    link_after: float | None = None
    power: tuple[float, float] | None = None
    stride: tuple[float, float | None, float | None, float | None, float | None] | None = None

    machine_at = {math.floor(m.t): m for m in machine}  # the last of each second

    def push_second() -> None:
        if heart is not None:
            # bpm as the file has it (whole beats for FIT; a CSV may hold fractions)
            out.extend(aligner.push(HeartRateReading(_DEVICE, heart[0], heart[1], tuple(rr))))  # type: ignore[arg-type]
        if link_after is not None:
            out.extend(
                aligner.push(
                    LinkEvent(
                        _DEVICE,
                        link_after,
                        LinkState.DISCONNECTED,
                        "no heart rate at this point of the file",
                    )
                )
            )
        if power is not None:
            out.extend(aligner.push(PowerReading(_POWER_DEVICE, *power)))
        if bucket is not None and (moment := machine_at.get(bucket)) is not None:
            out.extend(
                aligner.push(
                    MachineReading(
                        _MACHINE_DEVICE,
                        moment.t,
                        speed_mps=moment.speed_mps,
                        incline_pct=moment.incline_pct,
                        resistance=moment.resistance,
                        stroke_rate_spm=moment.stroke_rate_spm,
                        distance_m=moment.distance_m,
                    )
                )
            )
        if stride is not None:
            out.extend(aligner.push(StrideReading(_DEVICE, *stride)))

    previous_t = previous_cadence = None
    floor = math.floor
    for t, hr, cadence, speed, distance, intervals, watts in point_rows(points):
        second = floor(t)
        if second != bucket:
            push_second()
            bucket, heart, link_after, power, stride = second, None, None, None, None
            rr = []
        if hr is not None:
            heart, link_after = (t, hr), None
            if intervals:
                rr.extend(intervals)
            last_hr_second = second
        elif last_hr_second is None or second != last_hr_second:
            link_after = t
        if foot and previous_cadence is not None:
            steps += previous_cadence / 60.0 * min(t - previous_t, hold)
        if watts is not None:
            power = (t, watts)
        if cadence is not None or speed is not None or distance is not None:
            stride = (
                t,
                cadence,
                speed,
                distance,
                round(steps, 1) if foot and cadence is not None else None,
            )
        previous_t, previous_cadence = t, cadence
    push_second()
    out += aligner.flush()
    return out


def hold_for(points: Sequence[RecordPoint]) -> float:
    """How long to carry a value: the file's usual heart-rate spacing, within the bounds."""
    times = hr_times(points)
    if len(times) < 2:
        return IMPORT_MIN_HOLD_S
    spacings = np.sort(np.diff(times))
    usual = math.ceil(spacings[int(0.9 * (len(spacings) - 1))])
    return float(min(max(usual, IMPORT_MIN_HOLD_S), IMPORT_MAX_HOLD_S))


def _read_own_csv(path: Path) -> tuple[list[AlignedSample], datetime, list[str]] | None:
    """The samples of a CSV that `export_csv` wrote, exactly, and what was left out of it;
    None for any other CSV. Read a row at a time, within the readers' bounds: at most
    `MAX_DURATION_S` seconds, every value in its plausible range."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise SourceFileError(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
    with handle:
        try:
            rows = csv.reader(handle)
            first = next(rows, None)
            header = tuple(name.strip() for name in first) if first is not None else ()
            if header not in (CSV_COLUMNS, _CSV_COLUMNS_BEFORE_EFFORT):
                return None
            return _own_csv_rows(path, header, rows)
        except UnicodeDecodeError:
            return None
        except csv.Error as exc:
            raise SourceFileError(f"{path} is not a readable CSV file: {exc}", path=path) from exc


def _own_csv_rows(
    path: Path,
    header: tuple[str, ...],
    rows: Iterable[list[str]],
) -> tuple[list[AlignedSample], datetime, list[str]]:
    samples: list[AlignedSample] = []
    started: datetime | None = None
    warnings: list[str] = []
    left_out = 0
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise SourceFileError(
                f"{path}: line {number} has {len(row)} cells, not {len(header)}", path=path
            )
        cells = dict(zip(header, (cell.strip() for cell in row), strict=True))
        try:
            t = int(cells["t"])
            moment = _parse_time(cells["timestamp"])
            if moment is None:
                raise ValueError(f"timestamp {cells['timestamp']!r} is not ISO 8601")
            if samples and t <= samples[-1].t:
                raise ValueError(f"t={t} does not come after t={samples[-1].t}")
            if samples and t - samples[0].t > MAX_DURATION_S:
                warnings.append(
                    f"the file claims more than {MAX_DURATION_S / 3600:.0f} h: cut at line {number}"
                )
                break
            values = [_float(cells[key]) for key in ("hr", "cadence", "speed", "distance", "steps")]
            checked = [
                plausible(value, bounds)
                for value, bounds in zip(
                    values, (HR_BPM, CADENCE_SPM, SPEED_MPS, DISTANCE_M, STEPS), strict=True
                )
            ]
            left_out += sum(
                1 for a, b in zip(values, checked, strict=True) if a is not None and b is None
            )
            hr, cadence, speed, distance, steps = checked
            # Effort columns: absent from a file exported before effort was recorded.
            effort = {
                name: _float(cells.get(column, ""))
                for name, column in zip(EFFORT_FIELDS, _CSV_EFFORT_COLUMNS, strict=True)
            }
            checked_effort = {
                name: plausible(value, EFFORT_RANGES[name]) for name, value in effort.items()
            }
            left_out += sum(
                1
                for name, value in effort.items()
                if value is not None and checked_effort[name] is None
            )
            sample = AlignedSample(
                t=t,
                hr_bpm=hr,
                rr_intervals_s=plausible_rr([float(v) for v in cells["rr"].split()]),
                cadence_spm=cadence,
                speed_mps=speed,
                distance_m=distance,
                steps=steps,
                contact=None if not cells["contact"] else cells["contact"] == "1",
                hr_gap=cells["gap"] == "1" or hr is None,
                **checked_effort,
            )
        except (ValueError, OverflowError) as exc:
            raise SourceFileError(
                f"{path}: line {number} cannot be read: {exc}", path=path
            ) from exc
        if started is None:
            started = moment - timedelta(seconds=t)
        samples.append(sample)
    if started is None or not any(s.hr_bpm is not None for s in samples):
        raise SourceFileError(f"{path} has no heart-rate rows", path=path)
    if left_out:
        warnings.append(f"{left_out} values outside their plausible range were left out")
    if samples[0].t != 0:  # a session starts at second 0
        shift = samples[0].t
        started += timedelta(seconds=shift)
        samples = [_shifted(s, shift) for s in samples]
    return samples, started, warnings


def _shifted(sample: AlignedSample, by: int) -> AlignedSample:
    return dataclasses.replace(sample, t=sample.t - by)


def _float(text: str) -> float | None:
    """A cell's number (NaN and infinities included: the range check leaves them out)."""
    return float(text) if text else None


def _parse_time(text: str) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(text.strip()))
    except ValueError:
        return None


def _aware(moment: datetime) -> datetime:
    """A time without a zone is taken as UTC, as `read_recording` does."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
