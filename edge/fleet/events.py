"""The one place the fleet reads session events (`edge.core.events`, marked with the daemon's
person): what the fleet needs of them, as one small flat record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.core.events import (
    CueDecided,
    CueSpoken,
    LinkChanged,
    SampleTaken,
    SessionEnded,
    SessionEvent,
)


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


def read_event(event: SessionEvent) -> FleetEvent | None:
    """The fleet's view of a session event, or None for events it has no use for (and for
    events without a person: the daemon marks every event with one)."""
    person = event.person
    if not person:
        return None
    match event:
        case SampleTaken(sample=sample):
            return FleetEvent(
                "sample",
                person,
                t=sample.t,
                hr=sample.hr_bpm,
                zone=event.zone,
                hrr_fraction=event.hrr_fraction,
                gap=sample.hr_gap or sample.hr_bpm is None,
                raw={
                    "rr": list(sample.rr_intervals_s),
                    "cadence": sample.cadence_spm,
                    "speed": sample.speed_mps,
                    "distance": sample.distance_m,
                    "forecast": None if event.forecast is None else event.forecast.as_dict(),
                },
            )
        case CueDecided(cue=cue):
            return FleetEvent(
                "cue",
                person,
                t=cue.t,
                cue_id=cue.id,
                cue_kind=cue.kind.value,
                text=cue.template_text,
            )
        case CueSpoken(cue=cue, narration=narration):
            return FleetEvent(
                "spoken",
                person,
                t=cue.t,
                cue_id=cue.id,
                cue_kind=cue.kind.value,
                text=narration.text,
            )
        case LinkChanged(link=link):
            return FleetEvent("link", person, t=int(link.t))
        case SessionEnded(summary=summary):
            return FleetEvent("summary", person, summary=summary.as_dict())
    return None
