"""Cycling Power Measurement (0x2A63) and Cycling Power Feature (0x2A65), per the Bluetooth SIG
Cycling Power Service 1.1.

Measurement layout, little-endian::

    flags  uint16
             bit 0     pedal power balance present
             bit 1     pedal power balance reference: 0 = unknown, 1 = left pedal
             bit 2     accumulated torque present
             bit 3     accumulated torque source: 0 = wheel based, 1 = crank based
             bit 4     wheel revolution data present
             bit 5     crank revolution data present
             bit 6     extreme force magnitudes present
             bit 7     extreme torque magnitudes present
             bit 8     extreme angles present
             bit 9     top dead spot angle present
             bit 10    bottom dead spot angle present
             bit 11    accumulated energy present
             bit 12    offset compensation indicator (the sensor is compensating its offset;
                       its power reads are not to be trusted meanwhile)
             bits 13-15 reserved
    instantaneous power   sint16, W
    pedal power balance   uint8, 1/2 %                                  (bit 0)
    accumulated torque    uint16, 1/32 N m                              (bit 2)
    wheel revolutions     uint32, last wheel event time uint16 1/2048 s (bit 4)
    crank revolutions     uint16, last crank event time uint16 1/1024 s (bit 5)
    max, min force        sint16 N each                                 (bit 6)
    max, min torque       sint16 1/32 N m each                          (bit 7)
    max, min angle        uint12 degrees each, packed in 3 bytes: max in the low 12 bits (bit 8)
    top dead spot angle   uint16 degrees                                (bit 9)
    bottom dead spot      uint16 degrees                                (bit 10)
    accumulated energy    uint16 kJ                                     (bit 11)

Note the wheel event time: 1/2048 s here, where CSC uses 1/1024 s. The specification lets a
sensor send extreme force or extreme torque, depending on its measurement context; a payload with
both is decoded as sent rather than refused.

Feature layout: one uint32 of "supported" bits, see `CyclingPowerFeatureBits`; bits 20-21 are a
two-bit field (distributed system support), bits 22-31 reserved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import IntEnum, IntFlag

from firmware_bridge.errors import MalformedPayloadError

from ._revolutions import check_circumference, revolutions_between
from ._wire import FlaggedLayout, as_payload, flag_bit, wire
from .uuids import (
    CHARACTERISTIC_NAMES,
    CYCLING_POWER_FEATURE,
    CYCLING_POWER_MEASUREMENT,
    SENSOR_LOCATION,
)

#: Event time resolutions: wheel events in 1/2048 s, crank events in 1/1024 s.
WHEEL_EVENT_UNITS_PER_SECOND = 2048
CRANK_EVENT_UNITS_PER_SECOND = 1024

#: A common 700x25c road wheel; pass the rider's own circumference when it is known.
DEFAULT_WHEEL_CIRCUMFERENCE_M = 2.105


@dataclass(frozen=True, slots=True)
class CyclingPowerMeasurement:
    """One Cycling Power Measurement notification; None means the sensor did not send it."""

    instantaneous_power_w: int = field(metadata=wire("h"))
    #: Percent of the power from the reference pedal (see `pedal_power_balance_left`).
    pedal_power_balance_percent: float | None = field(default=None, metadata=wire("B", 2, bit=0))
    accumulated_torque_nm: float | None = field(default=None, metadata=wire("H", 32, bit=2))
    cumulative_wheel_revolutions: int | None = field(default=None, metadata=wire("I", bit=4))
    #: uint16 in 1/2048 s
    last_wheel_event_time: int | None = field(default=None, metadata=wire("H", bit=4))
    cumulative_crank_revolutions: int | None = field(default=None, metadata=wire("H", bit=5))
    #: uint16 in 1/1024 s
    last_crank_event_time: int | None = field(default=None, metadata=wire("H", bit=5))
    maximum_force_n: int | None = field(default=None, metadata=wire("h", bit=6))
    minimum_force_n: int | None = field(default=None, metadata=wire("h", bit=6))
    maximum_torque_nm: float | None = field(default=None, metadata=wire("h", 32, bit=7))
    minimum_torque_nm: float | None = field(default=None, metadata=wire("h", 32, bit=7))
    maximum_angle_deg: int | None = field(default=None, metadata=wire("u12", bit=8))
    minimum_angle_deg: int | None = field(default=None, metadata=wire("u12", bit=8))
    top_dead_spot_angle_deg: int | None = field(default=None, metadata=wire("H", bit=9))
    bottom_dead_spot_angle_deg: int | None = field(default=None, metadata=wire("H", bit=10))
    accumulated_energy_kj: int | None = field(default=None, metadata=wire("H", bit=11))
    #: Flag bit 1: the balance is the left pedal's share (else: reference unknown).
    pedal_power_balance_left: bool = field(default=False, metadata=flag_bit(1))
    #: Flag bit 3: accumulated torque is crank based (else wheel based).
    accumulated_torque_crank_based: bool = field(default=False, metadata=flag_bit(3))
    #: Flag bit 12: the sensor is running its offset compensation.
    offset_compensation: bool = field(default=False, metadata=flag_bit(12))


_MEASUREMENT = FlaggedLayout(
    CyclingPowerMeasurement, CHARACTERISTIC_NAMES[CYCLING_POWER_MEASUREMENT], flags_size=2
)


def decode_cycling_power_measurement(data: bytes) -> CyclingPowerMeasurement:
    """Decode a Cycling Power Measurement value.

    Raises MalformedPayloadError when a field the flags announce is cut short or bytes are left
    over. Reserved flag bits 13-15 are ignored.
    """
    return _MEASUREMENT.decode(data)


def encode_cycling_power_measurement(m: CyclingPowerMeasurement) -> bytes:
    """Encode ``m``. Raises ValueError when a value does not fit its field or only half of a
    pair (wheel, crank, forces, torques, angles) is set; TypeError for a wrong type."""
    return _MEASUREMENT.encode(m)


# --- rates from consecutive measurements --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CyclingPowerRates:
    """What two consecutive measurements say; None means unknown, not zero."""

    crank_rpm: float | None
    wheel_speed_mps: float | None
    #: Mean power over the crank revolutions between the two, from the crank-based accumulated
    #: torque (2 pi x torque per revolution); the sensor's own average, less noisy than the
    #: instantaneous value.
    mean_crank_power_w: float | None = None


def _wheel(m: CyclingPowerMeasurement) -> tuple[int, int] | None:
    if m.cumulative_wheel_revolutions is None or m.last_wheel_event_time is None:
        return None
    return m.cumulative_wheel_revolutions, m.last_wheel_event_time


def _crank(m: CyclingPowerMeasurement) -> tuple[int, int] | None:
    if m.cumulative_crank_revolutions is None or m.last_crank_event_time is None:
        return None
    return m.cumulative_crank_revolutions, m.last_crank_event_time


def cycling_power_rates(
    previous: CyclingPowerMeasurement,
    current: CyclingPowerMeasurement,
    wheel_circumference_m: float = DEFAULT_WHEEL_CIRCUMFERENCE_M,
) -> CyclingPowerRates:
    """Cadence, wheel speed and mean crank power between two consecutive measurements.

    Event times must be less than one wrap apart (32 s for the wheel clock at 1/2048 s, 64 s for
    the crank clock); sensors notify about once a second.
    """
    check_circumference(wheel_circumference_m)
    crank = revolutions_between(_crank(previous), _crank(current), 16, CRANK_EVENT_UNITS_PER_SECOND)
    wheel = revolutions_between(_wheel(previous), _wheel(current), 32, WHEEL_EVENT_UNITS_PER_SECOND)
    power: float | None = None
    if (
        crank is not None
        and current.accumulated_torque_crank_based
        and previous.accumulated_torque_crank_based
        and current.accumulated_torque_nm is not None
        and previous.accumulated_torque_nm is not None
    ):
        # accumulated torque is a uint16 of 1/32 N m: it wraps at 2048 N m
        torque = (current.accumulated_torque_nm - previous.accumulated_torque_nm) % 2048.0
        revs_per_s, revs = crank
        seconds = revs / revs_per_s if revs_per_s else 0.0
        if seconds > 0:
            power = 2 * math.pi * torque / seconds
    return CyclingPowerRates(
        crank_rpm=None if crank is None else crank[0] * 60.0,
        wheel_speed_mps=None if wheel is None else wheel[0] * wheel_circumference_m,
        mean_crank_power_w=power,
    )


class CyclingPowerTracker:
    """Turns a stream of measurements into rates, one ``update`` per notification.

    Like `CSCTracker`, it keeps the last wheel pair, the last crank pair and the last torque
    apart, since a meter may send them in different notifications. The first update returns None
    rates.
    """

    def __init__(self, wheel_circumference_m: float = DEFAULT_WHEEL_CIRCUMFERENCE_M) -> None:
        self.wheel_circumference_m = check_circumference(wheel_circumference_m)
        self._previous: CyclingPowerMeasurement | None = None

    def reset(self) -> None:
        """Forget history, e.g. after a reconnect, so stale totals are not paired with new ones."""
        self._previous = None

    def update(self, m: CyclingPowerMeasurement) -> CyclingPowerRates:
        """Record ``m`` and return the rates since the last measurement carrying each pair."""
        previous = self._previous or CyclingPowerMeasurement(instantaneous_power_w=0)
        rates = cycling_power_rates(previous, m, self.wheel_circumference_m)
        merged = replace(previous, instantaneous_power_w=m.instantaneous_power_w)
        if _wheel(m) is not None:
            merged = replace(
                merged,
                cumulative_wheel_revolutions=m.cumulative_wheel_revolutions,
                last_wheel_event_time=m.last_wheel_event_time,
            )
        if _crank(m) is not None:
            merged = replace(
                merged,
                cumulative_crank_revolutions=m.cumulative_crank_revolutions,
                last_crank_event_time=m.last_crank_event_time,
                accumulated_torque_nm=m.accumulated_torque_nm,
                accumulated_torque_crank_based=m.accumulated_torque_crank_based,
            )
        self._previous = merged
        return rates


# --- Cycling Power Feature ----------------------------------------------------------------------


class CyclingPowerFeatureBits(IntFlag):
    """The Cycling Power Feature bits (unknown bits are kept, not dropped)."""

    PEDAL_POWER_BALANCE = 1 << 0
    ACCUMULATED_TORQUE = 1 << 1
    WHEEL_REVOLUTION_DATA = 1 << 2
    CRANK_REVOLUTION_DATA = 1 << 3
    EXTREME_MAGNITUDES = 1 << 4
    EXTREME_ANGLES = 1 << 5
    TOP_AND_BOTTOM_DEAD_SPOT_ANGLES = 1 << 6
    ACCUMULATED_ENERGY = 1 << 7
    OFFSET_COMPENSATION_INDICATOR = 1 << 8
    OFFSET_COMPENSATION = 1 << 9
    MEASUREMENT_CONTENT_MASKING = 1 << 10
    MULTIPLE_SENSOR_LOCATIONS = 1 << 11
    CRANK_LENGTH_ADJUSTMENT = 1 << 12
    CHAIN_LENGTH_ADJUSTMENT = 1 << 13
    CHAIN_WEIGHT_ADJUSTMENT = 1 << 14
    SPAN_LENGTH_ADJUSTMENT = 1 << 15
    #: Not a capability: set = torque based sensor, clear = force based.
    SENSOR_MEASUREMENT_CONTEXT_TORQUE = 1 << 16
    INSTANTANEOUS_MEASUREMENT_DIRECTION = 1 << 17
    FACTORY_CALIBRATION_DATE = 1 << 18
    ENHANCED_OFFSET_COMPENSATION = 1 << 19
    DISTRIBUTED_SYSTEM_LOW = 1 << 20
    DISTRIBUTED_SYSTEM_HIGH = 1 << 21


_DISTRIBUTED_SHIFT = 20
_NO_FEATURES = CyclingPowerFeatureBits(0)
_FEATURE_NAME = CHARACTERISTIC_NAMES[CYCLING_POWER_FEATURE]


@dataclass(frozen=True, slots=True)
class CyclingPowerFeature:
    """What a power meter says it can send and do."""

    bits: CyclingPowerFeatureBits = _NO_FEATURES

    def supports(self, bit: CyclingPowerFeatureBits) -> bool:
        return bit in self.bits

    @property
    def torque_based(self) -> bool:
        """True for a torque-based sensor (extreme torques), False for force based."""
        return CyclingPowerFeatureBits.SENSOR_MEASUREMENT_CONTEXT_TORQUE in self.bits

    @property
    def distributed_system_support(self) -> int:
        """0 unspecified (legacy), 1 not for use in a distributed system, 2 can be used in one."""
        return int(self.bits) >> _DISTRIBUTED_SHIFT & 0b11

    def names(self) -> tuple[str, ...]:
        """The supported features as lower-case words, for `scan` and logs."""
        skip = (
            CyclingPowerFeatureBits.SENSOR_MEASUREMENT_CONTEXT_TORQUE
            | CyclingPowerFeatureBits.DISTRIBUTED_SYSTEM_LOW
            | CyclingPowerFeatureBits.DISTRIBUTED_SYSTEM_HIGH
        )
        return tuple(
            (bit.name or "").lower().replace("_", " ") for bit in self.bits if bit not in skip
        )


def decode_cycling_power_feature(data: bytes) -> CyclingPowerFeature:
    """Decode the 4-byte feature bit field; reserved bits are kept as they came."""
    payload = as_payload(data)
    if len(payload) != 4:
        raise MalformedPayloadError(
            _FEATURE_NAME,
            payload,
            f"expected exactly 4 bytes (uint32 bit field), got {len(payload)}",
        )
    return CyclingPowerFeature(CyclingPowerFeatureBits(int.from_bytes(payload, "little")))


def encode_cycling_power_feature(feature: CyclingPowerFeature) -> bytes:
    value = int(feature.bits)
    if not 0 <= value <= 0xFFFF_FFFF:
        raise ValueError(f"feature bits must fit a uint32, got {value:#x}")
    return value.to_bytes(4, "little")


# --- Sensor Location (0x2A5D) ------------------------------------------------------------------


class SensorLocation(IntEnum):
    """Where a cycling sensor sits (Sensor Location, shared by the CSC and Cycling Power
    services); one uint8, 17-255 reserved."""

    OTHER = 0
    TOP_OF_SHOE = 1
    IN_SHOE = 2
    HIP = 3
    FRONT_WHEEL = 4
    LEFT_CRANK = 5
    RIGHT_CRANK = 6
    LEFT_PEDAL = 7
    RIGHT_PEDAL = 8
    FRONT_HUB = 9
    REAR_DROPOUT = 10
    CHAINSTAY = 11
    REAR_WHEEL = 12
    REAR_HUB = 13
    CHEST = 14
    SPIDER = 15
    CHAIN_RING = 16


_LOCATION_NAME = CHARACTERISTIC_NAMES[SENSOR_LOCATION]


def decode_sensor_location(data: bytes) -> SensorLocation:
    """Decode a Sensor Location; a reserved value is malformed (we cannot say where it is)."""
    payload = as_payload(data)
    if len(payload) != 1:
        raise MalformedPayloadError(
            _LOCATION_NAME, payload, f"expected exactly 1 byte (uint8), got {len(payload)}"
        )
    try:
        return SensorLocation(payload[0])
    except ValueError:
        raise MalformedPayloadError(
            _LOCATION_NAME, payload, f"location {payload[0]} is reserved (0..16 defined)"
        ) from None


def encode_sensor_location(location: SensorLocation | int) -> bytes:
    if not isinstance(location, int) or isinstance(location, bool):
        raise TypeError(f"location must be a SensorLocation, got {type(location).__name__}")
    return bytes([SensorLocation(location)])  # ValueError for reserved values


__all__ = [
    "CRANK_EVENT_UNITS_PER_SECOND",
    "WHEEL_EVENT_UNITS_PER_SECOND",
    "CyclingPowerFeature",
    "CyclingPowerFeatureBits",
    "CyclingPowerMeasurement",
    "CyclingPowerRates",
    "CyclingPowerTracker",
    "SensorLocation",
    "cycling_power_rates",
    "decode_cycling_power_feature",
    "decode_cycling_power_measurement",
    "decode_sensor_location",
    "encode_cycling_power_feature",
    "encode_cycling_power_measurement",
    "encode_sensor_location",
]
