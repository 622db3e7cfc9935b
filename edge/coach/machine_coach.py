"""Driving a fitness machine: a planned workout in ERG, or a heart-rate zone held by power.

Pure, like the coach: `tick` takes one aligned sample a second and returns the commands for the
machine and the words to say first; `on_event` takes what the machine reported (control granted,
a target changed, the person pressed stop, control taken by another app). The machine link
(`edge.sources.machine`) carries the commands out and the events in; this module never sees BLE.

Safety is built in, not configured in:

* the power asked for is never above the person's cap (`max_power_w`), whatever the plan or the
  controller says, and it moves in steps of at most `max_step_w`, at most every
  `step_interval_s` (except when letting go: that is at once);
* control is released at once, the machine first set to a safe low load, on a safety cue from
  the coach, on heart-rate signal loss (a gap second), on the person's own stop, and when the
  person stops the machine (the coach then never restarts it);
* a treadmill's belt is never started or sped up unless `treadmill_may_speed_up` is set, and
  then only by `max_speed_step_kmh` at a time, each step announced `announce_lead_s` before it is
  made; slowing down is always allowed; heart-rate mode on a treadmill (allowed only with that
  flag) never starts the belt at all: it waits for the person to start it, then holds the zone
  by the belt's speed, within `safe_speed_kmh`..`max_speed_kmh`;
* the person can always override at the machine: a target that changes to a value the coach did
  not ask for is the person's, and the coach follows it (for the rest of the step in a plan; in
  heart-rate mode the controller restarts from it after `override_hold_s`); control taken by
  another app is given up, not fought for.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import Enum

from edge.coach.hr_control import ControlInput, PidPowerController, PidSettings, PowerController
from edge.coach.workouts import PlannedStep, PlannedWorkout
from edge.core.zones import ZoneModel
from edge.settings import MachineSettings
from edge.stream.machine import (
    MachineCommand,
    MachineEvent,
    MachineEventKind,
    ReleaseControl,
    RequestControl,
    SetTargetIncline,
    SetTargetPower,
    SetTargetResistance,
    SetTargetSpeed,
    StartMachine,
)
from edge.stream.readings import AlignedSample

log = logging.getLogger(__name__)

__all__ = ["Decision", "DriveState", "MachineCoach"]

#: A belt slower than this is standing still: heart-rate mode waits for the person to start it.
_BELT_MOVING_KMH = 0.5

#: A reported target within this of what was asked is the coach's own, not the person's.
_POWER_TOLERANCE_W = 2.0
_SPEED_TOLERANCE_KMH = 0.15
_INCLINE_TOLERANCE_PCT = 0.3


class DriveState(Enum):
    WAITING = "waiting"  # for a heart rate before asking for control
    REQUESTING = "requesting"  # control asked for, not yet granted
    DRIVING = "driving"
    RELEASED = "released"  # let go, for good, this session
    DONE = "done"  # the plan ended; control was given back


@dataclass(frozen=True, slots=True)
class Decision:
    """One second's output: words to say first, then commands for the machine."""

    say: tuple[str, ...] = ()
    commands: tuple[MachineCommand, ...] = ()


@dataclass
class _Pending:
    """A treadmill speed-up announced and waiting for its moment."""

    due_t: float
    kmh: float
    start_belt: bool


@dataclass
class MachineCoach:
    """One machine, one person. `plan` or `settings.hold_zone` says what to do."""

    settings: MachineSettings
    zones: ZoneModel
    plan: PlannedWorkout | None = None
    controller: PowerController | None = None
    #: Heart-rate mode: seconds a person's own change is followed before the controller resumes.
    override_hold_s: int = 120

    state: DriveState = DriveState.WAITING
    #: Why control was released, once it was.
    released_reason: str = ""
    _plan_start_t: int | None = None
    #: Last values the coach asked for (None: never asked); what the machine holds now.
    _power: float | None = None
    _speed: float | None = None
    _incline: float | None = None
    _last_power_change_t: float = -1e9
    #: The machine's own reports of its targets, and whether the person set them.
    _belt_kmh: float = 0.0
    _override_step: int | None = None
    _override_until_t: float = -1.0
    _pending: _Pending | None = None
    _announced_step: int = -1
    #: Targets sent whose "target changed" status has not come back yet, oldest first: a
    #: status naming one of them is the machine confirming the coach, even when the person's
    #: own change overtook it on the way.
    _unconfirmed: dict[str, list[float]] | None = None
    #: Heart-rate mode on a treadmill: the PID on the belt's speed (made once the belt runs).
    _speed_pid: PidPowerController | None = None
    _asked_to_start: bool = False
    #: The slowest it holds: `safe_speed_kmh`, or the person's own slower speed when it started.
    _speed_floor: float = 0.0

    def __post_init__(self) -> None:
        if self.settings.hold_zone and self.controller is None:
            self.controller = PidPowerController(start_power_w=self._floor())
        if self.plan is None and not self.settings.hold_zone:
            raise ValueError("a machine coach needs a plan or a zone to hold")

    @property
    def driving(self) -> bool:
        return self.state is DriveState.DRIVING

    # -- in -------------------------------------------------------------------------------------

    def on_event(self, event: MachineEvent) -> Decision:
        """What the machine said; may release control at once (returns the commands)."""
        kind = event.kind
        if kind is MachineEventKind.CONTROL_GRANTED and self.state is DriveState.REQUESTING:
            self.state = DriveState.DRIVING
            return Decision()
        if kind is MachineEventKind.COMMAND_FAILED and self.state is DriveState.REQUESTING:
            return self._release(f"the machine refused control ({event.detail})", give_back=False)
        if kind in (MachineEventKind.CONTROL_LOST, MachineEventKind.RESET):
            # Someone else has it (another app) or it was reset: not ours to fight for.
            return self._release(
                "control was taken by another app"
                if kind is MachineEventKind.CONTROL_LOST
                else "the machine was reset",
                give_back=False,
            )
        if kind is MachineEventKind.STOPPED_BY_USER:
            # Stopped already: give control back without touching the load, never restart it.
            return self._release("you stopped the machine", make_safe=False)
        if kind is MachineEventKind.TARGET_SPEED_CHANGED and event.value is not None:
            self._belt_kmh = event.value
        if not self.driving:
            return Decision()
        for what, event_kind, tolerance in (
            ("power", MachineEventKind.TARGET_POWER_CHANGED, _POWER_TOLERANCE_W),
            ("speed", MachineEventKind.TARGET_SPEED_CHANGED, _SPEED_TOLERANCE_KMH),
            ("incline", MachineEventKind.TARGET_INCLINE_CHANGED, _INCLINE_TOLERANCE_PCT),
        ):
            if kind is event_kind and event.value is not None:
                if self._confirms(what, event.value, tolerance):
                    return Decision()
                return self._follow(event, what, event.value)
        if (
            kind is MachineEventKind.TARGET_RESISTANCE_CHANGED
            and self._power is not None
            and self.settings.kind == "bike"
        ):
            # A resistance set at the machine ends ERG: the person rides by feel now.
            return self._follow(event, "resistance", event.value)
        return Decision()

    def safety_cue(self, reason: str) -> Decision:
        """The coach gave a safety cue (heart rate above max, chest symptoms...): let go now."""
        return self._release(reason)

    def person_stop(self) -> Decision:
        """The person asked the coach to stop (voice, a button on the board)."""
        return self._release("you asked to stop")

    def tick(self, sample: AlignedSample) -> Decision:
        """One second of the stream: what to ask of the machine now."""
        t = sample.t
        if self.state in (DriveState.RELEASED, DriveState.DONE):
            return Decision()
        if sample.hr_gap or sample.hr_bpm is None:
            if self.state is DriveState.WAITING:
                return Decision()  # no heart rate yet: do not take the machine
            return self._release("the heart-rate signal was lost")
        if self.state is DriveState.WAITING:
            self.state = DriveState.REQUESTING
            return Decision(commands=(RequestControl(),))
        if self.state is DriveState.REQUESTING:
            return Decision()
        if self._plan_start_t is None:
            self._plan_start_t = t
        if self.plan is not None:
            return self._plan_tick(t, sample)
        return self._zone_tick(t, sample)

    # -- plan -----------------------------------------------------------------------------------

    def _plan_tick(self, t: int, sample: AlignedSample) -> Decision:
        assert self.plan is not None and self._plan_start_t is not None
        elapsed = t - self._plan_start_t
        index, step = _step_at(self.plan, elapsed)
        if step is None:
            self.state = DriveState.DONE
            return Decision(
                ("The workout is done: the machine is yours.",),
                (ReleaseControl("the workout is done", self._safe_command()),),
            )
        if self._override_step is not None:
            if self._override_step == index:
                return Decision()  # the person chose this step's effort: follow it
            self._override_step = None
        say: list[str] = []
        if index != self._announced_step:
            self._announced_step = index
            say.append(self._step_words(step))
        commands: list[MachineCommand] = []
        if step.power_w is not None and self.settings.kind != "treadmill":
            commands += self._power_towards(t, float(step.power_w))
        if step.speed_kmh is not None:
            words, speed = self._speed_towards(t, step.speed_kmh)
            say += words
            commands += speed
        if step.incline_pct is not None and (
            self._incline is None or abs(step.incline_pct - self._incline) > 1e-6
        ):
            commands.append(SetTargetIncline(step.incline_pct))
            self._incline = step.incline_pct
            self._sent("incline", step.incline_pct)
        return Decision(tuple(say), tuple(commands))

    def _step_words(self, step: PlannedStep) -> str:
        """A step as it starts: "Interval 2: 250 watts for 3 minutes." A treadmill the coach may
        not speed up is told what the plan asks, and that the belt's speed is the person's."""
        length = _duration_words(step.duration_s)
        if step.power_w is not None and self.settings.kind != "treadmill":
            return f"{step.name}: {step.power_w} watts for {length}."
        if step.speed_kmh is not None:
            incline = "" if step.incline_pct is None else f" at {step.incline_pct:g} percent"
            words = f"{step.name}: {step.speed_kmh:g} km/h{incline} for {length}."
            current = self._speed if self._speed is not None else self._belt_kmh
            if step.speed_kmh > current + 1e-6 and not self.settings.treadmill_may_speed_up:
                words += " Set the speed yourself when you are ready."
            return words
        return f"{step.name} for {length}."

    # -- heart-rate mode ------------------------------------------------------------------------

    def _zone_tick(self, t: int, sample: AlignedSample) -> Decision:
        if self.settings.kind == "treadmill":
            return self._treadmill_zone_tick(t, sample)
        assert self.controller is not None and sample.hr_bpm is not None
        if t < self._override_until_t:
            return Decision()
        if self._override_until_t >= 0:  # the hold after the person's own change has ended
            self._override_until_t = -1.0
            self.controller.reset(self._power if self._power is not None else self._floor(), t)
        low, high = self.zones.bounds_bpm(self.settings.hold_zone)
        wanted = self.controller.update(
            ControlInput(
                t,
                sample.hr_bpm,
                low,
                high,
                power_w=sample.power_w,
                max_power_w=self.settings.max_power_w,
                min_power_w=self._floor(),
            )
        )
        return Decision(commands=tuple(self._power_towards(t, wanted)))

    def _treadmill_zone_tick(self, t: int, sample: AlignedSample) -> Decision:
        """Heart-rate mode by the belt's speed (the config allowed speed-ups: checked at load).
        The belt is never started: until the person starts it, the coach only says so."""
        assert sample.hr_bpm is not None
        s = self.settings
        measured = None if sample.machine_speed_mps is None else sample.machine_speed_mps * 3.6
        belt = self._speed if self._speed is not None else (measured or self._belt_kmh)
        if belt < _BELT_MOVING_KMH:
            if self._asked_to_start:
                return Decision()
            self._asked_to_start = True
            return Decision(
                (
                    f"Start the belt yourself when you are ready: I will then hold you in zone "
                    f"{s.hold_zone} by its speed.",
                )
            )
        if t < self._override_until_t and self._speed_pid is not None:
            return Decision()  # the person's own change, followed for a while
        if self._speed_pid is None or self._override_until_t >= 0:
            # The first run of the belt is the person starting it, not an override to wait out.
            # From the speed the belt runs at (the person's own, after an override): bumpless.
            self._override_until_t = -1.0
            self._speed = belt
            first = self._speed_pid is None
            self._speed_floor = min(s.safe_speed_kmh if first else self._speed_floor, belt)
            self._speed_pid = PidPowerController(_treadmill_pid(s), start_power_w=belt, t=t)
        low, high = self.zones.bounds_bpm(s.hold_zone)
        wanted = self._speed_pid.update(
            ControlInput(
                t,
                sample.hr_bpm,
                low,
                high,
                max_power_w=s.max_speed_kmh,
                min_power_w=self._speed_floor,
            )
        )
        words, commands = self._speed_towards(t, round(wanted, 1))
        return Decision(tuple(words), tuple(commands))

    # -- the safety layer -----------------------------------------------------------------------

    def _floor(self) -> float:
        return min(self.settings.min_power_w, self.settings.max_power_w)

    def _power_towards(self, t: float, wanted: float) -> list[MachineCommand]:
        """One bounded step towards `wanted`, within the cap; nothing if too soon or there."""
        s = self.settings
        wanted = min(max(wanted, self._floor()), s.max_power_w)
        if self._power is None:
            # First target: from the floor, so even the first command is a bounded step.
            step_to = min(wanted, self._floor() + s.max_step_w)
        else:
            if abs(wanted - self._power) < 0.5:
                return []
            if t - self._last_power_change_t < s.step_interval_s:
                return []
            change = max(-s.max_step_w, min(s.max_step_w, wanted - self._power))
            step_to = self._power + change
        # Whole watts on the wire, never above a cap that is not a whole number.
        watts = min(round(step_to), math.floor(s.max_power_w))
        if self._power is not None and watts == round(self._power):
            return []
        self._power = float(watts)
        self._last_power_change_t = t
        self._sent("power", float(watts))
        return [SetTargetPower(watts)]

    def _speed_towards(self, t: float, wanted: float) -> tuple[list[str], list[MachineCommand]]:
        s = self.settings
        wanted = min(wanted, s.max_speed_kmh)
        current = self._belt_kmh if self._speed is None else self._speed
        if wanted < current - 1e-6:
            self._pending = None
            self._speed = wanted  # slowing down is always allowed, at once
            self._sent("speed", round(wanted, 2))
            return [], [SetTargetSpeed(round(wanted, 2))]
        if wanted <= current + 1e-6:
            return [], []
        if not s.treadmill_may_speed_up:
            return [], []  # never started or sped up by the coach unless the config allows
        if self._pending is not None:
            if t < self._pending.due_t:
                return [], []
            pending, self._pending = self._pending, None
            commands: list[MachineCommand] = [StartMachine()] if pending.start_belt else []
            self._speed = pending.kmh
            self._sent("speed", round(pending.kmh, 2))
            return [], [*commands, SetTargetSpeed(round(pending.kmh, 2))]
        step_to = min(wanted, current + s.max_speed_step_kmh)
        start_belt = current <= 0.0
        self._pending = _Pending(t + s.announce_lead_s, step_to, start_belt)
        words = (
            f"The belt starts in {s.announce_lead_s:.0f} seconds, at {step_to:.1f} km/h."
            if start_belt
            else f"Speeding up to {step_to:.1f} km/h in {s.announce_lead_s:.0f} seconds."
        )
        return [words], []

    def _follow(self, event: MachineEvent, what: str, value: float | None) -> Decision:
        """The person changed a target at the machine: follow it, do not fight it."""
        if what == "power" and value is not None:
            self._power = value
        elif what == "speed" and value is not None:
            self._speed = value
            self._pending = None
        elif what == "incline" and value is not None:
            self._incline = value
        if self.plan is not None and self._plan_start_t is not None:
            index, _ = _step_at(self.plan, int(event.t) - self._plan_start_t)
            self._override_step = index
        else:
            self._override_until_t = event.t + self.override_hold_s
        shown = "" if value is None else f" ({value:g})"
        log.info("machine: the person set the %s%s; following it", what, shown)
        return Decision((f"Following your change of {what}.",), ())

    def _sent(self, what: str, value: float) -> None:
        if self._unconfirmed is None:
            self._unconfirmed = {}
        queue = self._unconfirmed.setdefault(what, [])
        queue.append(value)
        del queue[:-8]

    def _confirms(self, what: str, value: float, tolerance: float) -> bool:
        """True (and forgotten) when `value` is one the coach sent and is still waiting on."""
        queue = (self._unconfirmed or {}).get(what, [])
        for index, sent in enumerate(queue):
            if abs(sent - value) <= tolerance:
                del queue[: index + 1]
                return True
        return False

    def _safe_command(self) -> SetTargetResistance | SetTargetSpeed | None:
        if self.settings.kind == "treadmill":
            current = self._speed if self._speed is not None else self._belt_kmh
            if current > self.settings.safe_speed_kmh:
                return SetTargetSpeed(self.settings.safe_speed_kmh)
            return None
        return SetTargetResistance(self.settings.safe_resistance)

    def _release(self, reason: str, *, give_back: bool = True, make_safe: bool = True) -> Decision:
        """Let go at once. `give_back`: control is still ours to hand back (after making the
        machine safe, with `make_safe`)."""
        if self.state in (DriveState.RELEASED, DriveState.DONE):
            return Decision()
        had_control = self.state in (DriveState.DRIVING, DriveState.REQUESTING)
        self.state = DriveState.RELEASED
        self.released_reason = reason
        self._pending = None
        log.info("machine: control released: %s", reason)
        words = (f"Machine control stopped: {reason}.",)
        if not (give_back and had_control):
            return Decision(words, ())
        return Decision(
            words, (ReleaseControl(reason, self._safe_command() if make_safe else None),)
        )


def _treadmill_pid(settings: MachineSettings) -> PidSettings:
    """The PID of `hr_control`, its units km/h instead of watts. A runner's heart gains some
    6-10 bpm per km/h (against 0.2-0.5 bpm/W on a bike), so the gains are the bike's scaled by
    about 1/30; a change at most every 15 s (each speed-up is announced first), none under 0.2
    km/h. Tuned on `bench/treadmill_hr.py`'s runners (seeds 11-60), checked on seeds 1000-1099."""
    return PidSettings(
        kp_w_per_bpm=0.1,
        ki_w_per_bpm_s=0.0009,
        kd_w_per_bpm_per_s=0.27,
        max_step_w=settings.max_speed_step_kmh,
        min_interval_s=15,
        deadband_w=0.2,
        integral_limit_w=4.0,
    )


def _duration_words(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    parts = [f"{minutes} minute{'s' if minutes != 1 else ''}"] if minutes else []
    if rest:
        parts.append(f"{rest} second{'s' if rest != 1 else ''}")
    return " ".join(parts)


def _step_at(plan: PlannedWorkout, elapsed: int) -> tuple[int, PlannedStep | None]:
    start = 0
    for index, step in enumerate(plan.steps):
        if start <= elapsed < start + step.duration_s:
            return index, step
        start += step.duration_s
    return len(plan.steps), None
