"""The one place the fleet reads session events: dicts today (`"event": "sample"`, ...), with the
daemon's "person" key. When events become typed, this function is all that changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FleetEvent:
    """What the fleet needs of one session event."""

    #: "sample", "cue", "spoken", "link" or "summary".
    kind: str
    person: str
    t: int | None = None
    hr: float | None = None
    zone: int | None = None
    hrr_fraction: float | None = None
    gap: bool = False
    #: sample: the fields only a Pi's `[fleet] share` lets out (rr, cadence, speed, ...).
    raw: Mapping[str, Any] = field(default_factory=dict)
    cue_id: int | None = None
    cue_kind: str = ""
    #: cue: the template's words; spoken: the words spoken.
    text: str = ""
    #: summary: the session summary's figures.
    summary: Mapping[str, Any] = field(default_factory=dict)


_KINDS = ("sample", "cue", "spoken", "link", "summary")


def read_event(event: Mapping[str, Any]) -> FleetEvent | None:
    """The fleet's view of a session event, or None for events it has no use for."""
    kind = event.get("event")
    person = event.get("person")
    if kind not in _KINDS or not isinstance(person, str) or not person:
        return None
    if kind == "sample":
        return FleetEvent(kind, person, t=_int(event.get("t")), hr=_number(event.get("hr")),
                          zone=_int(event.get("zone")),
                          hrr_fraction=_number(event.get("hrr_fraction")),
                          gap=bool(event.get("gap")),
                          raw={"rr": event.get("rr"), "cadence": event.get("cadence"),
                               "speed": event.get("speed"), "distance": event.get("distance"),
                               "forecast": event.get("forecast")})
    if kind == "cue":
        return FleetEvent(kind, person, t=_int(event.get("t")), cue_id=_int(event.get("id")),
                          cue_kind=str(event.get("kind") or ""),
                          text=str(event.get("template") or ""))
    if kind == "spoken":
        return FleetEvent(kind, person, t=_int(event.get("t")),
                          cue_id=_int(event.get("cue_id")),
                          cue_kind=str(event.get("kind") or ""),
                          text=str(event.get("text") or ""))
    if kind == "link":
        return FleetEvent(kind, person, t=_int(event.get("t")))
    summary = {key: value for key, value in event.items() if key not in ("event", "person")}
    return FleetEvent(kind, person, summary=summary)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: object) -> int | None:
    number = _number(value)
    return None if number is None else int(number)
