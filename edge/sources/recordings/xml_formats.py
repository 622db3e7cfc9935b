"""TCX and GPX files (trackpoints, Garmin's extensions) into raw columns."""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import BinaryIO

from edge.errors import SourceFileError
from edge.sources.recordings.columns import (
    Notes,
    RawRecording,
    RawSample,
    columns_of,
    main_sport,
    parse_iso,
    sport_name,
    text_number,
    to_steps_per_min,
)
from edge.sources.recordings.model import EARTH_RADIUS_M, GPX_SPEED_MAX_GAP_S

log = logging.getLogger(__name__)


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


def read_tcx(path: Path, handle: BinaryIO) -> RawRecording:
    root = _parse_xml(path, handle.read(), "TCX", "TrainingCenterDatabase")
    notes = Notes()
    samples: list[RawSample] = []
    sports: list[str | None] = []
    device: str | None = None
    activities = [node for node in root.iter() if _local(node.tag) == "Activity"]
    groups: list[tuple[str | None, ET.Element]] = [
        (sport_name(a.get("Sport")), a) for a in activities
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
            time = parse_iso(stamp) if stamp else None
            if time is None:
                notes.add("a trackpoint without a valid Time was left out", where)
                continue
            bpm = _child(point, "HeartRateBpm")
            hr = text_number(
                _child_text(bpm, "Value") if bpm is not None else None, notes, "a heart rate", where
            )
            extensions = _child(point, "Extensions")
            run_cadence = speed = watts = None
            if extensions is not None:
                run_cadence = text_number(
                    _descendant_text(extensions, frozenset({"RunCadence"})),
                    notes,
                    "a cadence",
                    where,
                )
                speed = text_number(
                    _descendant_text(extensions, frozenset({"Speed"})), notes, "a speed", where
                )
                watts = text_number(
                    _descendant_text(extensions, frozenset({"Watts"})), notes, "a power", where
                )
            cadence = text_number(_child_text(point, "Cadence"), notes, "a cadence", where)
            samples.append(
                RawSample(
                    time=time,
                    hr=hr if hr is not None and hr > 0 else None,
                    cadence=to_steps_per_min(
                        run_cadence if run_cadence is not None else cadence, sport
                    ),
                    speed=speed,
                    power=watts,
                    distance=text_number(
                        _child_text(point, "DistanceMeters"), notes, "a distance", where
                    ),
                )
            )
    return RawRecording(
        columns=columns_of(samples, "trackpoint", notes),
        sport=main_sport(sports),
        device=device,
        clock=True,
    )


_GPX_HR = frozenset({"hr", "heartrate"})
_GPX_CADENCE = frozenset({"cad", "cadence"})
_GPX_SPEED = frozenset({"speed"})


def read_gpx(path: Path, handle: BinaryIO) -> RawRecording:
    root = _parse_xml(path, handle.read(), "GPX", "gpx")
    notes = Notes()
    rows: list[tuple[RawSample, tuple[float, float] | None]] = []
    tracks = [
        (sport_name(_child_text(trk, "type")), trk) for trk in root if _local(trk.tag) == "trk"
    ]
    points = [
        (sport, node) for sport, trk in tracks for node in trk.iter() if _local(node.tag) == "trkpt"
    ]
    for index, (sport, point) in enumerate(points, start=1):
        where = f"trkpt {index}"
        stamp = _child_text(point, "time")
        time = parse_iso(stamp) if stamp else None
        if time is None:
            notes.add("a track point without a valid time was left out", where)
            continue
        hr = text_number(_descendant_text(point, _GPX_HR), notes, "a heart rate", where)
        cadence = text_number(_descendant_text(point, _GPX_CADENCE), notes, "a cadence", where)
        speed = text_number(_descendant_text(point, _GPX_SPEED), notes, "a speed", where)
        lat = text_number(point.get("lat"), notes, "a latitude", where)
        lon = text_number(point.get("lon"), notes, "a longitude", where)
        position = (lat, lon) if lat is not None and lon is not None else None
        rows.append(
            (
                RawSample(
                    time=time,
                    hr=hr if hr is not None and hr > 0 else None,
                    cadence=to_steps_per_min(cadence, sport),
                    speed=speed,
                ),
                position,
            )
        )
    rows.sort(key=lambda row: row[0].time)
    _derive_gpx_motion(rows)
    return RawRecording(
        columns=columns_of((s for s, _ in rows), "trkpt", notes),
        sport=main_sport(s for s, _ in tracks),
        device=root.get("creator") or None,
        clock=True,
    )


def _derive_gpx_motion(rows: list[tuple[RawSample, tuple[float, float] | None]]) -> None:
    """Distance along the fixes, and speed between close fixes where the file gives none."""
    total = 0.0
    previous: tuple[RawSample, tuple[float, float]] | None = None
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
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))
