"""What flows from a sensor source into the daemon, and what the aligner makes of it.

Sources yield decoded readings stamped on the session clock; the aligner turns them into one
`AlignedSample` per second. Times are seconds on the session clock: monotonic for live bands,
the recording's own clock for replays, simulated time for the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

#: Recordings that replay and import read, by suffix (compared without regard to case).
RECORDING_SUFFIXES = (".fit", ".tcx", ".gpx", ".csv")


@dataclass(frozen=True, slots=True)
class HeartRateReading:
    """One Heart Rate Measurement notification, decoded."""

    device: str
    t: float
    bpm: int
    rr_intervals_s: tuple[float, ...] = ()
    #: True or False when the band reports skin contact, None when it cannot tell.
    contact: bool | None = None


@dataclass(frozen=True, slots=True)
class StrideReading:
    """One RSC (footpod) or CSC (cadence sensor) notification, decoded into rates."""

    device: str
    t: float
    cadence_spm: float | None
    speed_mps: float | None = None
    total_distance_m: float | None = None
    #: Steps counted by the sensor, or derived from cadence where it gives no count.
    total_steps: float | None = None


@dataclass(frozen=True, slots=True)
class PowerReading:
    """One Cycling Power Measurement (0x2A63) notification, decoded."""

    device: str
    t: float
    power_w: float
    #: Crank cadence from two consecutive crank revolution counts, when the meter sends them.
    cadence_rpm: float | None = None


@dataclass(frozen=True, slots=True)
class MachineReading:
    """One FTMS data record (treadmill, indoor bike, rower, cross trainer), decoded.

    Each field is None when the machine does not report it; a multi-packet ("more data") record
    arrives as one reading once it is complete.
    """

    device: str
    t: float
    power_w: float | None = None
    speed_mps: float | None = None
    incline_pct: float | None = None
    #: The machine's own resistance level, in its unit (FTMS: unitless, 0.1 resolution).
    resistance: float | None = None
    #: Rower strokes per minute, cross-trainer steps per minute.
    stroke_rate_spm: float | None = None
    #: Distance the machine counted since it was started, in metres.
    distance_m: float | None = None
    #: Indoor bike crank cadence.
    cadence_rpm: float | None = None


class LinkState(Enum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A band connected or went away; the stream marks the time without inventing samples."""

    device: str
    t: float
    state: LinkState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BatteryReading:
    device: str
    t: float
    percent: int


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passing with nothing to say: lets the stream mark seconds of a silent sensor as gaps."""

    device: str
    t: float


Reading = (
    HeartRateReading
    | StrideReading
    | PowerReading
    | MachineReading
    | LinkEvent
    | BatteryReading
    | Tick
)


@dataclass(frozen=True, slots=True)
class AlignedSample:
    """One second of the stream: the last values seen, or None where there is a gap."""

    #: Whole seconds since the session started.
    t: int
    hr_bpm: float | None
    rr_intervals_s: tuple[float, ...]
    cadence_spm: float | None
    speed_mps: float | None
    distance_m: float | None
    steps: float | None
    contact: bool | None
    #: True when no heart-rate reading covers this second: the values above are not invented.
    hr_gap: bool
    #: A heart rate the band sent this second that no heart can have (`edge.stream.plausible`):
    #: the second is a gap, and the coach asks to check the strap. None otherwise.
    rejected_hr_bpm: float | None = None
    # Effort: what the body is asked to do. None when no power meter or machine reports it
    # (or its last value is older than the aligner holds one).
    #: Watts, from a power meter or else the machine.
    power_w: float | None = None
    #: The machine's belt or virtual speed (a footpod's speed stays in `speed_mps`).
    machine_speed_mps: float | None = None
    incline_pct: float | None = None
    resistance: float | None = None
    stroke_rate_spm: float | None = None
    #: Distance the machine counted since it was started.
    machine_distance_m: float | None = None

    @property
    def has_effort(self) -> bool:
        """True when any effort value is known this second."""
        return any(getattr(self, name) is not None for name in EFFORT_FIELDS)


#: The AlignedSample fields that carry effort, in the order the store and exports write them.
EFFORT_FIELDS: tuple[str, ...] = (
    "power_w",
    "machine_speed_mps",
    "incline_pct",
    "resistance",
    "stroke_rate_spm",
    "machine_distance_m",
)


def effort_dict(sample: AlignedSample) -> dict[str, float | None]:
    """The sample's effort values by short name, for events and exports."""
    return {
        "power": sample.power_w,
        "machine_speed": sample.machine_speed_mps,
        "incline": sample.incline_pct,
        "resistance": sample.resistance,
        "stroke_rate": sample.stroke_rate_spm,
        "machine_distance": sample.machine_distance_m,
    }
