"""FIT files (`record`, `hrv`, `session`, `activity`... messages, through fitdecode) into raw columns."""

from __future__ import annotations

import logging
import math
import warnings
from array import array
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import fitdecode
import numpy as np

from edge.errors import SourceFileError
from edge.sources.recordings.columns import (
    Columns,
    Notes,
    RawRecording,
    epoch,
    main_sport,
    number,
    sport_name,
    to_steps_per_min,
)
from edge.sources.recordings.model import FIT_MACHINE_FIELDS, MAX_RECORDS, RR_INVALID_S
from edge.stream.plausible import (
    CADENCE_SPM,
    EFFORT_RANGES,
    in_range,
)

log = logging.getLogger(__name__)


def read_fit(path: Path, handle: BinaryIO) -> RawRecording:
    head = handle.read(12)
    handle.seek(0)
    if len(head) < 12 or head[8:12] != b".FIT":
        raise SourceFileError(f"{path} is not a FIT file (bad header)", path=path)
    notes = Notes()
    columns = Columns("record", notes)
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
                    if 0 < v < RR_INVALID_S
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
                        sport_name(frame.get_value("sport", fallback=None)),
                    )
                )
            elif name == "sport":
                sport_messages.append(sport_name(frame.get_value("sport", fallback=None)))
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
    sport = main_sport([s for _, _, s in legs] or sport_messages)
    spans = [
        (epoch(a), epoch(b), leg_sport)
        for a, b, leg_sport in legs
        if isinstance(a, datetime) and isinstance(b, datetime)
    ]
    for i, cadence in enumerate(raw_cadence):
        if math.isnan(cadence):
            continue
        leg = _sport_at(moments[i], spans, sport)
        steps = to_steps_per_min(cadence, leg)
        columns.cadence[i] = steps if in_range(steps, CADENCE_SPM) else math.nan
    if sport is None and any(not math.isnan(c) and c for c in raw_cadence):
        found.append(
            "the file names no sport: cadence is as recorded (strides/min if this was a run)"
        )
    return RawRecording(
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
    columns: Columns,
    raw_cadence: array,
    moments: array,
    machine: list[tuple[float, ...]],
) -> bool:
    """Add a `record` message to `columns` (and a machine's values to `machine`); False when
    it has no usable timestamp."""
    moment = frame.get_value("timestamp", fallback=None)
    if isinstance(moment, datetime):
        time = clock = epoch(moment)
    else:
        time = number(moment)  # seconds since the device powered on (FIT allows this)
        clock = math.nan
        if time is None:
            return False
    hr = number(frame.get_value("heart_rate", fallback=None))
    cadence = number(frame.get_value("cadence", fallback=None))
    fraction = number(frame.get_value("fractional_cadence", fallback=None))
    if cadence is not None and fraction is not None:
        cadence += fraction
    speed = number(frame.get_value("enhanced_speed", fallback=None))
    if speed is None:
        speed = number(frame.get_value("speed", fallback=None))
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
        number(frame.get_value("distance", fallback=None)),
        power=number(frame.get_value("power", fallback=None)),
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
            named[fit_field.name] = number(fit_field.value)
    raw = (
        named["machine_speed"],
        number(frame.get_value("grade", fallback=None)),
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
    return [n for n in (number(v) for v in items) if n is not None]


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
