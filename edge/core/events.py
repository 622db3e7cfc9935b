"""What a coaching session tells the world, as it happens: one frozen dataclass per event.

The session emits these to its sinks (terminal display, JSON lines, the store's journal, the zone
board, small screens, the daemon's log). Sinks read fields, never strings; the events become JSON
only where JSON is written (`event_json`: the JSON-lines writer and the kiosk), in the field
order `edgecoach demo --json` has always printed.

Every event may carry the `person` it belongs to: the daemon sets it (`for_person`), a
single-person demo or replay leaves it None and the JSON has no "person" key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from edge.core.cues import Cue
from edge.core.forecast import Forecast
from edge.core.narration import Narration
from edge.core.summary import SessionSummary
from edge.stream.readings import AlignedSample, LinkEvent, effort_dict


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """A session is about to read its first second: what it runs on."""

    #: The sources' names ("simulator (demo)", a recording's path, band addresses).
    source: str
    profile: str
    #: Workout seconds planned, None when the length is not known (a live band, a replay).
    duration_s: int | None
    #: Workout seconds per wall second (0: as fast as possible).
    speed: float
    health_model: str
    #: The GGUF that words cues, None for templates only.
    language_model: str | None
    #: Where speech goes (the audio device, a WAV file), None when muted.
    speech: str | None
    person: str | None = None


@dataclass(frozen=True, slots=True)
class LinkChanged:
    """A band connected or went away."""

    link: LinkEvent
    person: str | None = None


@dataclass(frozen=True, slots=True)
class StepProgress:
    """Where a planned workout stands at a second: the step, its target and time left."""

    #: 1-based step number of `steps`.
    step: int
    steps: int
    name: str
    #: "warmup", "work", "recover" or "cooldown".
    kind: str
    #: The step's zone, or its (lowest, highest) zone.
    zone: int | tuple[int, int]
    target_low: int
    target_high: int
    elapsed_s: int
    remaining_s: int


@dataclass(frozen=True, slots=True)
class SampleTaken:
    """One second of the stream, with what the coach made of it."""

    sample: AlignedSample
    #: Heart-rate zone 0-5, None in a gap.
    zone: int | None
    #: Heart rate as a fraction of the heart-rate reserve (0 at rest, 1 at maximum).
    hrr_fraction: float | None
    forecast: Forecast | None
    workout: StepProgress | None = None
    person: str | None = None


@dataclass(frozen=True, slots=True)
class CueDecided:
    """The coach's rules decided to say something; its words follow in `CueSpoken`."""

    cue: Cue
    person: str | None = None


@dataclass(frozen=True, slots=True)
class CueSpoken:
    """A cue's words are ready (from the language model or the template) and handed to speech."""

    cue: Cue
    narration: Narration
    #: Wall seconds from the triggering sample to the words being ready.
    seconds_to_text: float
    #: Wall seconds from the triggering sample to the first sentence, when streamed.
    seconds_to_first_words: float | None
    #: Where the words are spoken, None when muted.
    speech: str | None
    person: str | None = None


@dataclass(frozen=True, slots=True)
class SpeechFinished:
    """Speech closed at the end of the session: what was said and what was dropped, and why."""

    spoken: int
    #: Dropped items by reason ("stale", "superseded", "quiet_hours", ...).
    dropped: Mapping[str, int]
    errors: int
    max_wait_s: float | None
    #: From each spoken cue's triggering sample to the start of its speech.
    waits_s: tuple[float, ...]
    person: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dropped", MappingProxyType(dict(self.dropped)))


@dataclass(frozen=True, slots=True)
class WarningRaised:
    """Something a person should know that is not a cue (speech stopped, a store error)."""

    message: str
    person: str | None = None


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The session's summary: the last event of a session."""

    summary: SessionSummary
    person: str | None = None


@dataclass(frozen=True, slots=True)
class MachineUpdate:
    """A machine the coach drives: words said for it, a command sent, or what it reported."""

    device: str
    #: The session second it happened in.
    t: float
    #: {"say": text}, {"command": name, its value...} or {"status": kind, "value", "detail"}.
    detail: Mapping[str, object]
    person: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", MappingProxyType(dict(self.detail)))


SessionEvent = (
    SessionStarted
    | LinkChanged
    | SampleTaken
    | CueDecided
    | CueSpoken
    | SpeechFinished
    | WarningRaised
    | SessionEnded
    | MachineUpdate
)

_E = TypeVar(
    "_E",
    SessionStarted,
    LinkChanged,
    SampleTaken,
    CueDecided,
    CueSpoken,
    SpeechFinished,
    WarningRaised,
    SessionEnded,
    MachineUpdate,
)


def for_person(event: _E, person: str) -> _E:
    """The same event, marked as `person`'s (the daemon coaches several people at once)."""
    return dataclasses.replace(event, person=person)


#: The "event" name of each type in JSON.
EVENT_NAMES: Mapping[type, str] = MappingProxyType(
    {
        SessionStarted: "start",
        LinkChanged: "link",
        SampleTaken: "sample",
        CueDecided: "cue",
        CueSpoken: "spoken",
        SpeechFinished: "speech",
        WarningRaised: "warning",
        SessionEnded: "summary",
        MachineUpdate: "machine",
    }
)


def event_json(event: SessionEvent) -> dict[str, object]:
    """The event as the JSON object `--json` prints and the kiosk sends, keys in a fixed order."""
    out: dict[str, object] = {"event": EVENT_NAMES[type(event)]}
    match event:
        case SessionStarted():
            out |= {
                "source": event.source,
                "profile": event.profile,
                "duration_s": event.duration_s,
                "speed": event.speed,
                "health_model": event.health_model,
                "language_model": event.language_model,
                "speech": event.speech,
            }
        case LinkChanged(link=link):
            out |= {
                "device": link.device,
                "t": link.t,
                "state": link.state.value,
                "detail": link.detail,
            }
        case SampleTaken(sample=s):
            out |= {
                "t": s.t,
                "hr": s.hr_bpm,
                "zone": event.zone,
                "hrr_fraction": event.hrr_fraction,
                "rr": list(s.rr_intervals_s),
                "cadence": s.cadence_spm,
                "speed": s.speed_mps,
                "distance": s.distance_m,
                "steps": s.steps,
                "contact": s.contact,
                "gap": s.hr_gap,
                "workout": None if event.workout is None else _progress(event.workout),
                "forecast": None if event.forecast is None else event.forecast.as_dict(),
            }
            if s.has_effort:  # a power meter or machine spoke: plain runs keep their keys
                out["effort"] = effort_dict(s)
        case CueDecided(cue=cue):
            out |= cue.as_dict() | {"template": cue.template_text}
        case CueSpoken(cue=cue):
            out |= {
                "t": cue.t,
                "kind": cue.kind.value,
                "action": cue.action.value,
                "facts": dict(cue.facts),
                **event.narration.as_dict(),
                "seconds_to_text": event.seconds_to_text,
                "seconds_to_first_words": event.seconds_to_first_words,
                "speech": event.speech,
            }
        case SpeechFinished():
            out |= {
                "spoken": event.spoken,
                "dropped": dict(event.dropped),
                "errors": event.errors,
                "max_wait_s": event.max_wait_s,
                "waits_s": list(event.waits_s),
            }
        case WarningRaised():
            out["message"] = event.message
        case SessionEnded():
            out |= event.summary.as_dict()
        case MachineUpdate():
            out |= {"t": event.t, "device": event.device, **event.detail}
    if event.person is not None:
        out["person"] = event.person
    return out


def _progress(progress: StepProgress) -> dict[str, object]:
    zone = progress.zone if isinstance(progress.zone, int) else list(progress.zone)
    return {
        "step": progress.step,
        "steps": progress.steps,
        "name": progress.name,
        "kind": progress.kind,
        "zone": zone,
        "target_low": progress.target_low,
        "target_high": progress.target_high,
        "elapsed_s": progress.elapsed_s,
        "remaining_s": progress.remaining_s,
    }


__all__ = [
    "EVENT_NAMES",
    "CueDecided",
    "CueSpoken",
    "LinkChanged",
    "MachineUpdate",
    "SampleTaken",
    "SessionEnded",
    "SessionEvent",
    "SessionStarted",
    "SpeechFinished",
    "StepProgress",
    "WarningRaised",
    "event_json",
    "for_person",
]
