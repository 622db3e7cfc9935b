"""GATT notifications to readings: the one place where band bytes become the daemon's values.

Used by every backend that receives real characteristic bytes (BLE and the simulator), so a
reading from the simulator has gone through exactly the decoding a band's would. Keeps the little
state some profiles need: CSC rates come from two consecutive measurements, CSC distance from the
sensor's cumulative wheel count, and a footpod that sends no step count gets one derived from its
cadence. Rates and steps never span a link loss (`reset_link`); totals carry over it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.stream.readings import BatteryReading, HeartRateReading, Reading, StrideReading
from firmware_bridge import gatt
from firmware_bridge.gatt import uuids


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

    def reset_link(self) -> None:
        """Forget per-link history after a reconnect, so old totals are not paired with new ones."""
        self._csc.reset()
        self._last_stride_t = None

    def decode(self, t: float, characteristic: str, payload: bytes) -> Reading | None:
        """Decode one notification; raises MalformedPayloadError on bytes off the spec."""
        characteristic = uuids.normalize_uuid(characteristic)
        value = gatt.decode(characteristic, payload)
        if characteristic == uuids.HEART_RATE_MEASUREMENT:
            return HeartRateReading(self.device, t, value.bpm, value.rr_intervals_s, value.contact)
        if characteristic == uuids.RSC_MEASUREMENT:
            self._count_steps(t, value.cadence_spm)
            return StrideReading(self.device, t, float(value.cadence_spm), value.speed_mps,
                                 value.total_distance_m, self._steps)
        if characteristic == uuids.CSC_MEASUREMENT:
            rates = self._csc.update(value)
            distance = self._wheel_distance(value.cumulative_wheel_revolutions)
            if rates.crank_rpm is None and rates.wheel_speed_mps is None and distance is None:
                return None  # the first measurement, or no new revolution: no rate yet
            return StrideReading(self.device, t, rates.crank_rpm, rates.wheel_speed_mps, distance)
        if characteristic == uuids.BATTERY_LEVEL:
            return BatteryReading(self.device, t, value)
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
