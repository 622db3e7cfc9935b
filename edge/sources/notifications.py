"""GATT notifications to readings: the one place where band bytes become the daemon's values.

Used by every backend that receives real characteristic bytes (BLE and the simulator), so a
reading from the simulator has gone through exactly the decoding a band's would. Keeps the little
state some profiles need: CSC rates come from two consecutive measurements, CSC distance from the
sensor's cumulative wheel count, and a footpod that sends no step count gets one derived from its
cadence. Rates and steps never span a link loss (`reset_link`); totals carry over it.

Effort: a Cycling Power Measurement (0x2A63) becomes a `PowerReading` (crank cadence from two
consecutive crank counts); a fitness machine's data record (Indoor Bike, Treadmill, Cross Trainer,
Rower Data) becomes a `MachineReading` once it is whole: a record split over several
notifications ("More Data") is joined first, and a part on its own yields nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.stream.readings import (
    BatteryReading,
    HeartRateReading,
    MachineReading,
    PowerReading,
    Reading,
    StrideReading,
)
from firmware_bridge import gatt
from firmware_bridge.gatt import uuids
from firmware_bridge.gatt.fitness_machine import (
    CrossTrainerData,
    FitnessMachineData,
    FitnessMachineRecordAssembler,
    IndoorBikeData,
    RowerData,
    TreadmillData,
)

#: 0x7FFF in a machine's inclination means "not available".
_INCLINE_UNKNOWN = 0x7FFF / 10


@dataclass
class NotificationDecoder:
    device: str
    wheel_circumference_m: float = 2.105

    def __post_init__(self) -> None:
        self._csc = gatt.CSCTracker(self.wheel_circumference_m)
        self._steps = 0.0
        self._last_stride_t: float | None = None
        self._wheel_origin: int | None = None
        self._wheel_last: int | None = None
        self._wheel_offset_m = 0.0
        self._power = gatt.CyclingPowerTracker(self.wheel_circumference_m)
        self._machine_parts: dict[str, FitnessMachineRecordAssembler] = {}

    def reset_link(self) -> None:
        """Forget per-link history after a reconnect, so old totals are not paired with new ones."""
        self._csc.reset()
        self._power.reset()
        for assembler in self._machine_parts.values():
            assembler.reset()  # half a record does not span links
        self._last_stride_t = None

    def decode(self, t: float, characteristic: str, payload: bytes) -> Reading | None:
        """Decode one notification; raises MalformedPayloadError on bytes off the spec."""
        characteristic = uuids.normalize_uuid(characteristic)
        value = gatt.decode(characteristic, payload)
        if characteristic == uuids.HEART_RATE_MEASUREMENT:
            return HeartRateReading(self.device, t, value.bpm, value.rr_intervals_s, value.contact)
        if characteristic == uuids.RSC_MEASUREMENT:
            self._count_steps(t, value.cadence_spm)
            return StrideReading(
                self.device,
                t,
                float(value.cadence_spm),
                value.speed_mps,
                value.total_distance_m,
                self._steps,
            )
        if characteristic == uuids.CSC_MEASUREMENT:
            rates = self._csc.update(value)
            distance = self._wheel_distance(value.cumulative_wheel_revolutions)
            if rates.crank_rpm is None and rates.wheel_speed_mps is None and distance is None:
                return None  # the first measurement, or no new revolution: no rate yet
            return StrideReading(self.device, t, rates.crank_rpm, rates.wheel_speed_mps, distance)
        if characteristic == uuids.BATTERY_LEVEL:
            return BatteryReading(self.device, t, value)
        if characteristic == uuids.CYCLING_POWER_MEASUREMENT:
            rates = self._power.update(value)
            return PowerReading(self.device, t, float(value.instantaneous_power_w), rates.crank_rpm)
        if characteristic in _MACHINE_DATA:
            assembler = self._machine_parts.setdefault(
                characteristic, FitnessMachineRecordAssembler()
            )
            records = assembler.feed(value)
            return machine_reading(self.device, t, records[-1]) if records else None
        return None

    def _count_steps(self, t: float, cadence_spm: float) -> None:
        # A clock that steps backwards (a replay seeking, a reconnect) adds no steps.
        if self._last_stride_t is not None and t > self._last_stride_t:
            self._steps += gatt.steps_from_cadence(cadence_spm, t - self._last_stride_t)
        self._last_stride_t = t

    def _wheel_distance(self, revolutions: int | None) -> float | None:
        """Distance this session from the sensor's cumulative wheel count; survives reconnects
        (the count lives in the sensor) and sensor resets (the count starts again)."""
        if revolutions is None:
            return None if self._wheel_origin is None else self._wheel_metres()
        if self._wheel_origin is None or (
            self._wheel_last is not None and revolutions < self._wheel_last
        ):
            if self._wheel_origin is not None:
                self._wheel_offset_m = self._wheel_metres()
            self._wheel_origin = revolutions
        self._wheel_last = revolutions
        return self._wheel_metres()

    def _wheel_metres(self) -> float:
        assert self._wheel_origin is not None and self._wheel_last is not None
        revolutions = self._wheel_last - self._wheel_origin
        return self._wheel_offset_m + revolutions * self.wheel_circumference_m


_MACHINE_DATA = frozenset(uuids.FITNESS_MACHINE_DATA.values())


def machine_reading(device: str, t: float, record: FitnessMachineData) -> MachineReading:
    """A whole FTMS data record in edgecoach's units (m/s, percent, per minute, metres)."""
    speed = getattr(record, "instantaneous_speed_kmh", None)
    incline = getattr(record, "inclination_percent", None)
    if incline is not None and abs(incline - _INCLINE_UNKNOWN) < 0.05:
        incline = None
    power = (
        record.power_output_w
        if isinstance(record, TreadmillData)
        else getattr(record, "instantaneous_power_w", None)
    )
    stroke_rate: float | None = None
    if isinstance(record, RowerData):
        stroke_rate = record.stroke_rate_spm
    elif isinstance(record, CrossTrainerData) and record.steps_per_minute is not None:
        stroke_rate = float(record.steps_per_minute)
    cadence = record.instantaneous_cadence_rpm if isinstance(record, IndoorBikeData) else None
    resistance = getattr(record, "resistance_level", None)
    distance = record.total_distance_m
    return MachineReading(
        device,
        t,
        power_w=None if power is None else float(power),
        speed_mps=None if speed is None else speed / 3.6,
        incline_pct=incline,
        resistance=None if resistance is None else float(resistance),
        stroke_rate_spm=stroke_rate,
        distance_m=None if distance is None else float(distance),
        cadence_rpm=cadence,
    )
