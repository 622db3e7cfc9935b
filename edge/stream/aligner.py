"""Turn readings that arrive whenever the band sends them into one sample per second.

Bands notify at their own pace (about 1 Hz for heart rate, up to 4 Hz for footpods) and drop out
when they lose contact or go out of range. The aligner holds the last value for a few seconds at
most and never invents one across a longer gap: past `max_hold_s` a second carries `hr_bpm=None`
and `hr_gap=True`, so the coach and the store can say "no data" rather than guess. Effort (power,
a machine's speed, incline, resistance, stroke rate, distance) is held the same way and is None
past `max_hold_s`; a power meter's watts win over the machine's own estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edge.stream.plausible import (
    CADENCE_SPM,
    DISTANCE_M,
    EFFORT_RANGES,
    HR_BPM,
    SPEED_MPS,
    STEPS,
    plausible,
    plausible_rr,
)
from edge.stream.readings import (
    AlignedSample,
    HeartRateReading,
    LinkEvent,
    LinkState,
    MachineReading,
    PowerReading,
    Reading,
    StrideReading,
)


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch of seconds without heart rate, as the stream recorded it."""

    start_t: int
    end_t: int  # exclusive

    @property
    def seconds(self) -> int:
        return self.end_t - self.start_t


@dataclass(slots=True)
class _Held:
    value: object = None
    at: float = -math.inf


@dataclass
class StreamAligner:
    """Aligns the readings of one person's sensors onto a 1 Hz grid starting at `start_t`."""

    start_t: float = 0.0
    #: A value is carried forward for at most this many seconds before the stream says "gap".
    max_hold_s: float = 3.0

    _next_second: int = 0
    _hr: _Held = field(default_factory=_Held)
    _contact: _Held = field(default_factory=_Held)
    _stride: _Held = field(default_factory=_Held)
    _power: _Held = field(default_factory=_Held)
    _machine: _Held = field(default_factory=_Held)
    #: Devices that sent effort readings: their link loss ends their values, not heart rate's.
    _effort_devices: set[str] = field(default_factory=set)
    _rejected: _Held = field(default_factory=_Held)
    _rr_pending: list[tuple[float, tuple[float, ...]]] = field(default_factory=list)
    _gaps: list[Gap] = field(default_factory=list)
    _open_gap_start: int | None = None

    @property
    def gaps(self) -> tuple[Gap, ...]:
        """Closed heart-rate gaps so far (an open one is added when it closes)."""
        return tuple(self._gaps)

    def push(self, reading: Reading) -> list[AlignedSample]:
        """Take one reading; return the seconds it completed (possibly none)."""
        completed = self.advance_to(reading.t)
        if isinstance(reading, HeartRateReading):
            bpm = plausible(reading.bpm, HR_BPM)
            if bpm is None:
                # No heart beats like that: not a value to hold, but the coach hears of it.
                self._hr = _Held()
                self._contact = _Held()
                self._rejected = _Held(_finite_or_none(reading.bpm), reading.t)
            else:
                self._hr = _Held(bpm, reading.t)
                self._contact = _Held(reading.contact, reading.t)
            rr = plausible_rr(reading.rr_intervals_s)
            if rr:
                self._rr_pending.append((reading.t, rr))
        elif isinstance(reading, StrideReading):
            self._stride = _Held(_plausible_stride(reading), reading.t)
        elif isinstance(reading, PowerReading):
            self._effort_devices.add(reading.device)
            self._power = _Held(reading, reading.t)
        elif isinstance(reading, MachineReading):
            self._effort_devices.add(reading.device)
            self._machine = _Held(reading, reading.t)
        elif (
            isinstance(reading, LinkEvent)
            and reading.state is LinkState.DISCONNECTED
            and reading.device in self._effort_devices
        ):
            # A power meter or machine that went away ends its own values only.
            for name in ("_power", "_machine"):
                held = getattr(self, name)
                if (
                    isinstance(held.value, PowerReading | MachineReading)
                    and held.value.device == reading.device
                ):
                    setattr(self, name, _Held())
        elif isinstance(reading, LinkEvent) and reading.state is LinkState.DISCONNECTED:
            # A band that went away says nothing more: stop carrying its last value now.
            self._hr = _Held()
            self._contact = _Held()
        return completed

    def advance_to(self, t: float) -> list[AlignedSample]:
        """Emit every whole second that ends at or before session time `t`."""
        out: list[AlignedSample] = []
        while self.start_t + self._next_second + 1 <= t:
            out.append(self._emit(self._next_second))
            self._next_second += 1
        return out

    def flush(self) -> list[AlignedSample]:
        """Close the stream: emit the last partial second and close an open gap."""
        out = self.advance_to(self.start_t + self._next_second + 1)
        if self._open_gap_start is not None:
            self._gaps.append(Gap(self._open_gap_start, self._next_second))
            self._open_gap_start = None
        return out

    def _fresh(self, held: _Held, second_end: float) -> object:
        return held.value if second_end - held.at <= self.max_hold_s else None

    def _emit(self, second: int) -> AlignedSample:
        second_end = self.start_t + second + 1
        hr = self._fresh(self._hr, second_end)
        # A rejected reading flags only the second it arrived in.
        rejected = (
            self._rejected.value if second_end - 1 <= self._rejected.at < second_end else None
        )
        contact = self._fresh(self._contact, second_end) if hr is not None else None
        stride = self._fresh(self._stride, second_end)
        power = self._fresh(self._power, second_end)
        machine = self._fresh(self._machine, second_end)
        if not isinstance(machine, MachineReading):
            machine = MachineReading("", second_end)  # all None: nothing invented
        power_w = power.power_w if isinstance(power, PowerReading) else machine.power_w
        cadence = stride.cadence_spm if isinstance(stride, StrideReading) else None
        if cadence is None:
            # A bike reports crank cadence through its power meter or the machine itself.
            cadence = power.cadence_rpm if isinstance(power, PowerReading) else None
            cadence = machine.cadence_rpm if cadence is None else cadence
            cadence = plausible(cadence, CADENCE_SPM)

        rr: list[float] = []
        keep: list[tuple[float, tuple[float, ...]]] = []
        for at, values in self._rr_pending:
            if at < second_end:
                rr.extend(values)
            else:
                keep.append((at, values))
        self._rr_pending = keep

        hr_gap = hr is None
        if hr_gap and self._open_gap_start is None:
            self._open_gap_start = second
        elif not hr_gap and self._open_gap_start is not None:
            self._gaps.append(Gap(self._open_gap_start, second))
            self._open_gap_start = None

        return AlignedSample(
            t=second,
            hr_bpm=hr,  # type: ignore[arg-type]
            rr_intervals_s=tuple(rr),
            cadence_spm=cadence,
            speed_mps=stride.speed_mps if isinstance(stride, StrideReading) else None,
            distance_m=stride.total_distance_m if isinstance(stride, StrideReading) else None,
            steps=stride.total_steps if isinstance(stride, StrideReading) else None,
            contact=contact,  # type: ignore[arg-type]
            hr_gap=hr_gap,
            rejected_hr_bpm=rejected if hr_gap else None,  # type: ignore[arg-type]
            **_plausible_effort(
                power_w=power_w,
                machine_speed_mps=machine.speed_mps,
                incline_pct=machine.incline_pct,
                resistance=machine.resistance,
                stroke_rate_spm=machine.stroke_rate_spm,
                machine_distance_m=machine.distance_m,
            ),
        )


def _plausible_effort(**values: float | None) -> dict[str, float | None]:
    """Effort values with every one outside its plausible range left out."""
    return {name: plausible(value, EFFORT_RANGES[name]) for name, value in values.items()}


def _finite_or_none(value: object) -> float | None:
    return plausible(value, (-math.inf, math.inf))


def _plausible_stride(reading: StrideReading) -> StrideReading:
    """The reading with every value outside its plausible range taken out."""
    return StrideReading(
        reading.device,
        reading.t,
        plausible(reading.cadence_spm, CADENCE_SPM),
        plausible(reading.speed_mps, SPEED_MPS),
        plausible(reading.total_distance_m, DISTANCE_M),
        plausible(reading.total_steps, STEPS),
    )
