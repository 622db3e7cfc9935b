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


Reading = HeartRateReading | StrideReading | LinkEvent | BatteryReading | Tick


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
