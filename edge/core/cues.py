"""Cues: what the coach wants to tell the person, with the measurements it rests on.

A cue is decided by rules, never by the language model; the model only puts it into words. Each
cue carries its facts (heart rate, zone, forecast, limits) so that "why?" always has an answer and
so that a guard can check that spoken numbers come from them. The template text is what is spoken
when the model is missing, slow or fails the guard, and always for safety cues.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    #: Heart rate well above what the health model expects for a steady effort (heat, fatigue).
    DRIFT = "drift"
    #: A planned workout's step begins, is half done, ends; the whole plan is done.
    STEP_START = "step_start"
    STEP_HALFWAY = "step_halfway"
    STEP_END = "step_end"
    WORKOUT_DONE = "workout_done"
    #: Heart rate held outside the current step's target zone (action PUSH or EASE_OFF).
    OFF_TARGET = "off_target"
    #: Every 10 minutes, kilometre or 1000 steps (fact "measure": time, distance or steps).
    MILESTONE = "milestone"
    #: A short word, every few minutes at most, that the person is where today's plan wants
    #: them: heart rate held inside the target for a while and nothing else said lately.
    ON_TARGET = "on_target"
    #: Before a planned step with a power or speed target: the person's learnt kinetics say it
    #: would take them past its zone (`edge.coach.step_lookahead`); what to start it at.
    HARD_STEP_AHEAD = "hard_step_ahead"


class Action(StrEnum):
    EASE_OFF = "ease_off"
    HOLD = "hold"
    PUSH = "push"
    STOP = "stop"
    CHECK_SENSOR = "check_sensor"
    INFO = "info"


class Priority(IntEnum):
    """Lower wins. Safety always comes first and is never rate-limited away by other cues.

    Stored and shown by name; the numbers only order them.
    """

    SAFETY = 0
    SENSOR = 1
    FORECAST = 2
    DRIFT = 3
    WORKOUT = 4
    ZONE = 5
    MILESTONE = 6


Facts = Mapping[str, float | int | str]


@dataclass(frozen=True, slots=True)
class CueSpec:
    """What every cue of one kind is: how urgent, what it asks for, whether a model words it."""

    priority: Priority
    #: The action the rules give it: fixed, or decided by its facts. None: the planned step
    #: decides (a step's start pushes, eases off or holds as the step asks); `action_for` then
    #: gives INFO, as for a record that names no action.
    action: Action | Callable[[Facts], Action] | None
    #: False for safety: fixed words, a language model never rephrases a safety instruction.
    reworded: bool = True

    def action_for(self, facts: Facts) -> Action:
        if self.action is None:
            return Action.INFO
        return self.action if isinstance(self.action, Action) else self.action(facts)


def _zone_change_action(facts: Facts) -> Action:
    """Rising into a zone: hold it there; dropping into an easier one is news only."""
    return Action.HOLD if facts["zone"] > facts["previous_zone"] else Action.INFO


def _off_target_action(facts: Facts) -> Action:
    return Action.PUSH if facts["hr"] < facts["target_low"] else Action.EASE_OFF


#: The one table of cue kinds, read by the coach (priority, action) and the narrator (action,
#: whether it may be reworded) alike.
CUE_SPECS: Mapping[CueKind, CueSpec] = MappingProxyType(
    {
        CueKind.ABOVE_MAX_HR: CueSpec(Priority.SAFETY, Action.STOP, reworded=False),
        CueKind.IMPLAUSIBLE_READING: CueSpec(Priority.SAFETY, Action.CHECK_SENSOR, reworded=False),
        CueKind.SENSOR_LOST: CueSpec(Priority.SENSOR, Action.CHECK_SENSOR),
        CueKind.SENSOR_BACK: CueSpec(Priority.SENSOR, Action.INFO),
        CueKind.FORECAST_OVERSHOOT: CueSpec(Priority.FORECAST, Action.EASE_OFF),
        # A forecast too, and said before the step's own start words, which it changes.
        CueKind.HARD_STEP_AHEAD: CueSpec(Priority.FORECAST, Action.EASE_OFF),
        CueKind.DRIFT: CueSpec(Priority.DRIFT, Action.EASE_OFF),
        CueKind.STEP_START: CueSpec(Priority.WORKOUT, None),
        CueKind.STEP_HALFWAY: CueSpec(Priority.WORKOUT, Action.HOLD),
        CueKind.STEP_END: CueSpec(Priority.WORKOUT, Action.INFO),
        CueKind.WORKOUT_DONE: CueSpec(Priority.WORKOUT, Action.INFO),
        CueKind.OFF_TARGET: CueSpec(Priority.WORKOUT, _off_target_action),
        CueKind.HIGH_ZONE: CueSpec(Priority.ZONE, Action.EASE_OFF),
        CueKind.ZONE_CHANGE: CueSpec(Priority.ZONE, _zone_change_action),
        CueKind.MILESTONE: CueSpec(Priority.MILESTONE, Action.INFO),
        CueKind.ON_TARGET: CueSpec(Priority.MILESTONE, Action.HOLD),
    }
)

#: Cues whose words are fixed: a language model never rephrases a safety instruction.
DETERMINISTIC_KINDS = frozenset(kind for kind, spec in CUE_SPECS.items() if not spec.reworded)


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
            text = (
                f"The heart rate reading of {f['hr']} does not look right. "
                "Check that the strap is snug and its contacts are moist."
            )
            if "max_hr" in f:  # over the maximum: a sensor, most likely; say when to stop
                text += " If you feel unwell, stop and rest."
            return text
        case CueKind.SENSOR_LOST:
            return "Heart rate signal lost. Check your strap; I will keep recording the rest."
        case CueKind.SENSOR_BACK:
            return f"Heart rate is back: {f['hr']}."
        case CueKind.DRIFT:
            if "start_hr" in f:  # aerobic decoupling (`edge.coach.drift`)
                return (
                    f"Your heart rate has crept up from {f['start_hr']} to {f['hr']} at the "
                    f"same {f['measure']} over {f['steady_min']} minutes: heat or fatigue. "
                    "Ease off a little and drink."
                )
            return (
                f"Your heart rate is {f['hr']}, {f['excess']} above what this effort usually "
                "needs: heat or fatigue. Ease off a little and drink."
            )
        case CueKind.STEP_START:
            return _step_start_text(cue)
        case CueKind.STEP_HALFWAY:
            left = (
                f"{f['spoken_min']} more minute{'' if f['spoken_min'] == 1 else 's'}"
                if "spoken_s" not in f and "spoken_min" in f
                else f"{spoken_duration(f)} to go"
            )
            return f"Halfway: {left} at {_zone_text(f)}. Keep it steady."
        case CueKind.STEP_END:
            done = f"{_step_label(f)} done"
            return f"{done}, heart rate {f['hr']}." if "hr" in f else f"{done}."
        case CueKind.WORKOUT_DONE:
            done = f"Workout complete: {spoken_duration(f)}"
            return (
                f"{done}, heart rate {f['hr']}. Well done." if "hr" in f else f"{done}. Well done."
            )
        case CueKind.OFF_TARGET:
            what = (
                "session"
                if f["step_kind"] == "work" and f["reps"] == 1
                else _STEP_NOUNS[str(f["step_kind"])]
            )
            if cue.action is Action.PUSH:
                return (
                    f"Heart rate {f['hr']}, under {_zone_text(f)} for this {what}. "
                    f"Push a little, up to {f['target_low']} or more."
                )
            return (
                f"Heart rate {f['hr']}, over {_zone_text(f)} for this {what}. "
                f"Ease off to below {f['target_high']}."
            )
        case CueKind.MILESTONE:
            return _milestone_text(f)
        case CueKind.ON_TARGET:
            return f"On target: heart rate {f['hr']}, {_zone_text(f)}. Keep it steady."
        case CueKind.HARD_STEP_AHEAD:
            return _hard_step_text(f)
    raise ValueError(f"no template for cue kind {cue.kind!r}")


#: What a step of each kind is called in speech.
_STEP_NOUNS = {
    "warmup": "warm-up",
    "work": "interval",
    "recover": "recovery",
    "cooldown": "cool-down",
}


def duration_facts(seconds: float) -> dict[str, int]:
    """A duration as the facts it is spoken from: `spoken_min` whole minutes, `spoken_s`
    seconds, or both ("1 minute 30 seconds"); past ten minutes, to the nearest minute."""
    seconds = max(0, round(seconds))
    minutes, rest = divmod(seconds, 60)
    if minutes == 0:
        return {"spoken_s": rest}
    if minutes >= 10:
        return {"spoken_min": minutes + (rest >= 30)}
    if rest == 0:
        return {"spoken_min": minutes}
    return {"spoken_min": minutes, "spoken_s": rest}


def spoken_duration(facts: Mapping[str, float | int | str]) -> str:
    """ "3 minutes", "45 seconds", "1 minute 30 seconds" from `duration_facts` facts."""
    parts = []
    if "spoken_min" in facts:
        parts.append(f"{facts['spoken_min']} minute" + ("" if facts["spoken_min"] == 1 else "s"))
    if "spoken_s" in facts:
        parts.append(f"{facts['spoken_s']} second" + ("" if facts["spoken_s"] == 1 else "s"))
    return " ".join(parts)


def _zone_text(f: Mapping[str, float | int | str]) -> str:
    if "top_zone" in f:
        return f"zone {f['zone']} to {f['top_zone']}"
    return f"zone {f['zone']}"


def _step_label(f: Mapping[str, float | int | str]) -> str:
    """ "Interval 2 of 4", "Recovery", "Warm-up": counted only where there are several."""
    noun = _STEP_NOUNS[str(f["step_kind"])]
    if f["step_kind"] == "work" and f["reps"] == 1:
        return "Main set"  # one continuous effort (an easy, long or tempo run): no interval
    if f["step_kind"] == "work" and f["reps"] > 1:
        return f"Interval {f['rep']} of {f['reps']}"
    return noun.capitalize()


_START_ENDINGS = {
    Action.PUSH: " Pick up the pace.",
    Action.EASE_OFF: " Ease off.",
    Action.HOLD: " Hold it there.",
    Action.INFO: "",
}


def _step_start_text(cue: Cue) -> str:
    f = cue.facts
    return f"{_step_label(f)}: {spoken_duration(f)} at {_zone_text(f)}." + _START_ENDINGS.get(
        cue.action, ""
    )


def _hard_step_text(f: Mapping[str, float | int | str]) -> str:
    """ "The next interval at 250 watts would take you to 178 within 90 seconds, over 172.
    Start it easier, at 230 watts." """
    noun = _STEP_NOUNS.get(str(f["step_kind"]), "step")
    if "next_power_w" in f:
        effort, unit, suggested = f["next_power_w"], "watts", f.get("suggested_power_w")
    else:
        effort, unit, suggested = f["next_speed_kmh"], "km/h", f.get("suggested_speed_kmh")
    head = (
        f"The next {noun} at {effort} {unit} would take you to {f['forecast_hr']} within "
        f"{f['within_s']} seconds, over {f['limit_hr']}."
    )
    if suggested is None:
        return f"{head} Start it much easier."
    return f"{head} Start it easier, at {suggested} {unit}."


def _milestone_text(f: Mapping[str, float | int | str]) -> str:
    match f["measure"]:
        case "time":
            head = f"{f['elapsed_min']} minutes done."
        case "distance":
            lap = spoken_duration(f)
            km = f["distance_km"]
            head = f"{km} kilometre{'' if km == 1 else 's'} done" + (
                f", that one in {lap}." if lap else "."
            )
        case _:
            head = f"{f['total_steps']} steps."
    if "hr" not in f:
        return head
    return (
        f"{head} Heart rate {f['hr']}, zone {f['zone']}."
        if "zone" in f
        else f"{head} Heart rate {f['hr']}."
    )
