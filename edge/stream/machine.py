"""What passes between the coach and a fitness machine it drives: commands out, events in.

The machine coach (`edge.coach.machine_coach`) decides; the machine link (`edge.sources.machine`)
speaks FTMS over BLE. Both meet here, in plain frozen values, so neither imports the other and
each is tested alone: the coach with events written by hand, the link against a virtual machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# -- commands: coach -> machine -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestControl:
    """Ask the machine for control (FTMS Request Control); it must be granted before targets."""


@dataclass(frozen=True, slots=True)
class SetTargetPower:
    """ERG: the bike holds this power whatever the cadence."""

    watts: int


@dataclass(frozen=True, slots=True)
class SetTargetSpeed:
    kmh: float


@dataclass(frozen=True, slots=True)
class SetTargetIncline:
    percent: float


@dataclass(frozen=True, slots=True)
class SetTargetResistance:
    #: The machine's resistance level (FTMS: unitless, 0.1 resolution).
    level: float


@dataclass(frozen=True, slots=True)
class StartMachine:
    """Start or resume (a treadmill's belt moves: only ever sent when the config allows it)."""


@dataclass(frozen=True, slots=True)
class ReleaseControl:
    """Let go: the machine to a safe low load first (`safe`), then FTMS Reset, which ends control.

    `safe` is the command that makes the machine safe (a low resistance for a bike, a slower belt
    for a treadmill), sent before control is given up; None when the machine is already safe.
    """

    reason: str
    safe: SetTargetResistance | SetTargetSpeed | None = None


MachineCommand = (
    RequestControl
    | SetTargetPower
    | SetTargetSpeed
    | SetTargetIncline
    | SetTargetResistance
    | StartMachine
    | ReleaseControl
)


# -- events: machine -> coach -------------------------------------------------------------------


class MachineEventKind(Enum):
    CONTROL_GRANTED = "control_granted"
    #: The machine refused a command (its result code is in `detail`).
    COMMAND_FAILED = "command_failed"
    #: Another client took control, or the machine dropped it (FTMS status 0xFF).
    CONTROL_LOST = "control_lost"
    #: The person pressed stop or pause on the machine, or pulled the safety key.
    STOPPED_BY_USER = "stopped_by_user"
    STARTED_BY_USER = "started_by_user"
    #: A target changed on the machine: `value` is the new one (watts, km/h, percent, level).
    TARGET_POWER_CHANGED = "target_power_changed"
    TARGET_SPEED_CHANGED = "target_speed_changed"
    TARGET_INCLINE_CHANGED = "target_incline_changed"
    TARGET_RESISTANCE_CHANGED = "target_resistance_changed"
    #: The machine was reset (control ends with it).
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class MachineEvent:
    """Something the machine said on its status characteristic or in a control point answer."""

    device: str
    t: float
    kind: MachineEventKind
    value: float | None = None
    detail: str = ""
