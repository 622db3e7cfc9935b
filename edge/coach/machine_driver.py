"""The machine coach wired to the session: samples and cues in, words and commands out.

`MachineDriver` is what a `CoachingSession` is given as an observer: each aligned second goes to
`MachineCoach.tick`, each safety cue to `MachineCoach.safety_cue`, and each event of the machine
link (`on_event`, called by `edge.sources.machine.MachineLink`) to `MachineCoach.on_event`. What
the coach decides is carried out in order: the words first (a treadmill's speed-up is announced
before it is made), then the commands, handed to `send` (the link's queue). Every decision is
also emitted as a `MachineUpdate` event (``machine`` in JSON) for displays and the store's log.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.coach.hr_mpc import controller_for
from edge.coach.machine_coach import Decision, MachineCoach
from edge.coach.workouts import WorkoutError, parse_workout
from edge.core.cues import Cue, Priority
from edge.core.events import MachineUpdate
from edge.core.zones import ZoneModel
from edge.errors import ConfigError
from edge.health.kinetics import KineticsParams
from edge.settings import MachineSettings
from edge.sources.machine import MachineLink
from edge.stream.machine import (
    MachineCommand,
    MachineEvent,
    ReleaseControl,
    RequestControl,
    SetTargetIncline,
    SetTargetPower,
    SetTargetResistance,
    SetTargetSpeed,
    StartMachine,
)
from edge.stream.readings import AlignedSample

__all__ = ["MachineDriver", "command_dict", "driver_for", "machine_drivers"]


def command_dict(command: MachineCommand) -> dict[str, object]:
    """A command as JSON: its name and its one value."""
    if isinstance(command, SetTargetPower):
        return {"command": "set_power", "watts": command.watts}
    if isinstance(command, SetTargetSpeed):
        return {"command": "set_speed", "kmh": command.kmh}
    if isinstance(command, SetTargetIncline):
        return {"command": "set_incline", "percent": command.percent}
    if isinstance(command, SetTargetResistance):
        return {"command": "set_resistance", "level": command.level}
    if isinstance(command, StartMachine):
        return {"command": "start"}
    if isinstance(command, RequestControl):
        return {"command": "request_control"}
    if isinstance(command, ReleaseControl):
        return {
            "command": "release",
            "reason": command.reason,
            "safe": None if command.safe is None else command_dict(command.safe),
        }
    raise TypeError(f"not a machine command: {command!r}")


class MachineDriver:
    """One machine coach, its link's `send`, and a way to say things."""

    def __init__(
        self,
        coach: MachineCoach,
        *,
        send: Callable[[MachineCommand], None],
        say: Callable[[str], None] = lambda text: None,
        emit: Callable[[MachineUpdate], None] = lambda event: None,
        device: str = "machine",
    ) -> None:
        self.coach = coach
        self.send = send
        self.say = say
        self.emit = emit
        self.device = device
        #: Every decision that did something, with its session second: for tests and reports.
        self.log: list[tuple[float, Decision]] = []
        self._t = 0.0

    def on_sample(self, sample: AlignedSample) -> None:
        self._t = sample.t
        self._apply(self.coach.tick(sample))

    def on_cue(self, cue: Cue) -> None:
        if cue.priority is Priority.SAFETY:
            self._apply(self.coach.safety_cue(cue.template_text.rstrip(".") or cue.kind.value))

    def on_event(self, event: MachineEvent) -> None:
        self.emit(
            MachineUpdate(
                self.device,
                self._t,
                {"status": event.kind.value, "value": event.value, "detail": event.detail},
            )
        )
        self._apply(self.coach.on_event(event))

    def person_stop(self) -> bool:
        """The person asked to stop (the zone board's "Stop machine"); True if control was let
        go of now."""
        decision = self.coach.person_stop()
        self._apply(decision)
        return bool(decision.commands)

    def let_go(self, reason: str) -> bool:
        """Give the machine back (safe load first) for `reason`: the member released a gym
        machine or their session ended; True if control was let go of now."""
        decision = self.coach.safety_cue(reason)
        self._apply(decision)
        return bool(decision.commands)

    def _apply(self, decision: Decision) -> None:
        if not (decision.say or decision.commands):
            return
        self.log.append((self._t, decision))
        for text in decision.say:
            self.emit(MachineUpdate(self.device, self._t, {"say": text}))
            self.say(text)
        for command in decision.commands:
            self.emit(MachineUpdate(self.device, self._t, command_dict(command)))
            self.send(command)


def machine_drivers(
    machines: tuple[MachineSettings, ...],
    zones: ZoneModel,
    *,
    clock: Callable[[], float],
    kinetics: KineticsParams | None = None,
    resting_hr: float = 60.0,
) -> list[tuple[MachineLink, MachineDriver | None]]:
    """A link per `[[people.machines]]` entry, and a driver for those the coach may drive.

    `kinetics` are the person's learnt power kinetics, as the session started (heart-rate
    mode's MPC uses them; see `edge.coach.hr_mpc.controller_for`). A driver's `say` and `emit`
    are the session's, set once the session exists.
    """
    out: list[tuple[MachineLink, MachineDriver | None]] = []
    for settings in machines:
        link = MachineLink(settings, clock=clock)
        out.append((link, driver_for(link, zones, "[[people.machines]]", kinetics, resting_hr)))
    return out


def driver_for(
    link: MachineLink,
    zones: ZoneModel,
    where: str,
    kinetics: KineticsParams | None = None,
    resting_hr: float = 60.0,
) -> MachineDriver | None:
    """A driver for `link`'s machine when the coach may drive it (and one wired to the link's
    events), else None: the machine is only read. A bike's heart-rate mode gets its controller
    from `controller_for` (the MPC with learnt `kinetics`); a treadmill's holds by speed."""
    settings = link.machine
    if not (settings.drive and (settings.plan or settings.hold_zone)):
        return None
    try:
        plan = parse_workout(settings.plan, "machine plan") if settings.plan else None
    except WorkoutError as exc:
        raise ConfigError(f"{where} {link.name}: {exc}") from None
    controller = (
        controller_for(settings, kinetics, resting_hr)
        if settings.hold_zone and settings.kind == "bike"
        else None
    )
    driver = MachineDriver(
        MachineCoach(settings, zones, plan, controller=controller),
        send=link.send,
        device=link.name,
    )
    link.on_event = driver.on_event
    return driver
