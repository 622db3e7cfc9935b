"""Cues: what the coach wants to tell the person, with the measurements it rests on.

A cue is decided by rules, never by the language model; the model only puts it into words. Each
cue carries its facts (heart rate, zone, forecast, limits) so that "why?" always has an answer and
so that a guard can check that spoken numbers come from them. The template text is what is spoken
when the model is missing, slow or fails the guard, and always for safety cues.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from types import MappingProxyType


class CueKind(StrEnum):
    ZONE_CHANGE = "zone_change"
    HIGH_ZONE = "high_zone"
    FORECAST_OVERSHOOT = "forecast_overshoot"
    ABOVE_MAX_HR = "above_max_hr"
    IMPLAUSIBLE_READING = "implausible_reading"
    SENSOR_LOST = "sensor_lost"
    SENSOR_BACK = "sensor_back"


class Action(StrEnum):
    EASE_OFF = "ease_off"
    HOLD = "hold"
    PUSH = "push"
    STOP = "stop"
    CHECK_SENSOR = "check_sensor"
    INFO = "info"


class Priority(IntEnum):
    """Lower wins. Safety always comes first and is never rate-limited away by other cues."""

    SAFETY = 0
    SENSOR = 1
    FORECAST = 2
    ZONE = 3


#: Cues whose words are fixed: a language model never rephrases a safety instruction.
DETERMINISTIC_KINDS = frozenset({CueKind.ABOVE_MAX_HR, CueKind.IMPLAUSIBLE_READING})


@dataclass(frozen=True, slots=True)
class Cue:
    id: int
    #: Session second of the sample that triggered the cue.
    t: int
    kind: CueKind
    action: Action
    priority: Priority
    facts: Mapping[str, float | int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "facts", MappingProxyType(dict(self.facts)))

    @property
    def deterministic(self) -> bool:
        return self.kind in DETERMINISTIC_KINDS

    @property
    def template_text(self) -> str:
        return template_text(self)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "t": self.t,
            "kind": self.kind.value,
            "action": self.action.value,
            "priority": self.priority.name.lower(),
            "facts": dict(self.facts),
        }


def template_text(cue: Cue) -> str:
    """The fixed wording of a cue: short enough to speak in a few seconds, every number a fact."""
    f = cue.facts
    match cue.kind:
        case CueKind.ZONE_CHANGE:
            rising = f["zone"] > f["previous_zone"]
            if f["zone"] == 0:
                return f"Heart rate {f['hr']}, very light effort. Nice and easy."
            if rising:
                return f"Zone {f['zone']} now, heart rate {f['hr']}. Hold this effort."
            return f"Down to zone {f['zone']}, heart rate {f['hr']}. Keep it relaxed."
        case CueKind.HIGH_ZONE:
            return (
                f"Zone 5, heart rate {f['hr']}. That is near your maximum. "
                f"Ease off until you are below {f['zone5_lower']}."
            )
        case CueKind.FORECAST_OVERSHOOT:
            return (
                f"Ease off now. At this effort you will pass {f['zone5_lower']} "
                f"in about {f['horizon_s']} seconds."
            )
        case CueKind.ABOVE_MAX_HR:
            return (
                f"Stop and rest now. Your heart rate is {f['hr']}, above your maximum of "
                f"{f['max_hr']}. If you feel chest pain, faint or very short of breath, "
                "call for medical help."
            )
        case CueKind.IMPLAUSIBLE_READING:
            return (
                f"The heart rate reading of {f['hr']} does not look right. "
                "Check that the strap is snug and its contacts are moist."
            )
        case CueKind.SENSOR_LOST:
            return "Heart rate signal lost. Check your strap; I will keep recording the rest."
        case CueKind.SENSOR_BACK:
            return f"Heart rate is back: {f['hr']}."
    raise ValueError(f"no template for cue kind {cue.kind!r}")
