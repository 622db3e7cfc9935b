"""What a fitness machine can do: Fitness Machine Feature (0x2ACC), the supported ranges
(0x2AD4-0x2AD8) and Training Status (0x2AD3), per the Fitness Machine Service 1.0.

Fitness Machine Feature::

    fitness machine features  uint32 bit field, see `MachineFeature`
    target setting features   uint32 bit field, see `TargetSettingFeature`

Supported ranges, each minimum, maximum, minimum increment::

    0x2AD4 speed         uint16, uint16, uint16   0.01 km/h
    0x2AD5 inclination   sint16, sint16, uint16   0.1 %
    0x2AD6 resistance    sint16, sint16, uint16   0.1 (unitless)
    0x2AD7 heart rate    uint8,  uint8,  uint8    bpm
    0x2AD8 power         sint16, sint16, uint16   W

Training Status::

    flags   uint8: bit 0 training status string present, bit 1 extended string (the string
            goes on beyond this value; read the characteristic for the rest), bits 2-7 reserved
    status  uint8, see `TrainingStatusCode`
    string  UTF-8, to the end of the value (if bit 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag

from firmware_bridge.errors import MalformedPayloadError
from firmware_bridge.gatt._wire import FixedLayout, as_payload, wire
from firmware_bridge.gatt.uuids import (
    CHARACTERISTIC_NAMES,
    FITNESS_MACHINE_FEATURE,
    SUPPORTED_HEART_RATE_RANGE,
    SUPPORTED_INCLINATION_RANGE,
    SUPPORTED_POWER_RANGE,
    SUPPORTED_RESISTANCE_LEVEL_RANGE,
    SUPPORTED_SPEED_RANGE,
    TRAINING_STATUS,
)


class MachineFeature(IntFlag):
    """The Fitness Machine Features bits: what the machine measures (unknown bits are kept)."""

    AVERAGE_SPEED = 1 << 0
    CADENCE = 1 << 1
    TOTAL_DISTANCE = 1 << 2
    INCLINATION = 1 << 3
    ELEVATION_GAIN = 1 << 4
    PACE = 1 << 5
    STEP_COUNT = 1 << 6
    RESISTANCE_LEVEL = 1 << 7
    STRIDE_COUNT = 1 << 8
    EXPENDED_ENERGY = 1 << 9
    HEART_RATE_MEASUREMENT = 1 << 10
    METABOLIC_EQUIVALENT = 1 << 11
    ELAPSED_TIME = 1 << 12
    REMAINING_TIME = 1 << 13
    POWER_MEASUREMENT = 1 << 14
    FORCE_ON_BELT_AND_POWER_OUTPUT = 1 << 15
    USER_DATA_RETENTION = 1 << 16


class TargetSettingFeature(IntFlag):
    """The Target Setting Features bits: what the control point accepts."""

    SPEED = 1 << 0
    INCLINATION = 1 << 1
    RESISTANCE = 1 << 2
    POWER = 1 << 3
    HEART_RATE = 1 << 4
    TARGETED_EXPENDED_ENERGY = 1 << 5
    TARGETED_STEP_NUMBER = 1 << 6
    TARGETED_STRIDE_NUMBER = 1 << 7
    TARGETED_DISTANCE = 1 << 8
    TARGETED_TRAINING_TIME = 1 << 9
    TARGETED_TIME_IN_TWO_HEART_RATE_ZONES = 1 << 10
    TARGETED_TIME_IN_THREE_HEART_RATE_ZONES = 1 << 11
    TARGETED_TIME_IN_FIVE_HEART_RATE_ZONES = 1 << 12
    INDOOR_BIKE_SIMULATION = 1 << 13
    WHEEL_CIRCUMFERENCE = 1 << 14
    SPIN_DOWN_CONTROL = 1 << 15
    TARGETED_CADENCE = 1 << 16


_NO_MACHINE_FEATURES = MachineFeature(0)
_NO_TARGET_SETTINGS = TargetSettingFeature(0)


def _words(flags: IntFlag) -> tuple[str, ...]:
    return tuple((bit.name or "").lower().replace("_", " ") for bit in flags)


@dataclass(frozen=True, slots=True)
class FitnessMachineFeature:
    """What a fitness machine measures and which targets it takes."""

    machine: MachineFeature = _NO_MACHINE_FEATURES
    target_settings: TargetSettingFeature = _NO_TARGET_SETTINGS

    def measures(self) -> tuple[str, ...]:
        """The machine features as lower-case words, for `scan` and logs."""
        return _words(self.machine)

    def targets(self) -> tuple[str, ...]:
        """The target settings as lower-case words."""
        return _words(self.target_settings)


_FEATURE_NAME = CHARACTERISTIC_NAMES[FITNESS_MACHINE_FEATURE]


def decode_fitness_machine_feature(data: bytes) -> FitnessMachineFeature:
    """Decode the two uint32 bit fields (8 bytes); reserved bits are kept as they came."""
    payload = as_payload(data)
    if len(payload) != 8:
        raise MalformedPayloadError(
            _FEATURE_NAME,
            payload,
            f"expected exactly 8 bytes (two uint32 bit fields), got {len(payload)}",
        )
    return FitnessMachineFeature(
        MachineFeature(int.from_bytes(payload[:4], "little")),
        TargetSettingFeature(int.from_bytes(payload[4:], "little")),
    )


def encode_fitness_machine_feature(feature: FitnessMachineFeature) -> bytes:
    machine, targets = int(feature.machine), int(feature.target_settings)
    for name, value in (("machine", machine), ("target_settings", targets)):
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"{name} bits must fit a uint32, got {value:#x}")
    return machine.to_bytes(4, "little") + targets.to_bytes(4, "little")


# --- supported ranges ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SupportedSpeedRange:
    minimum_kmh: float = field(metadata=wire("H", 100))
    maximum_kmh: float = field(metadata=wire("H", 100))
    minimum_increment_kmh: float = field(metadata=wire("H", 100))


@dataclass(frozen=True, slots=True)
class SupportedInclinationRange:
    minimum_percent: float = field(metadata=wire("h", 10))
    maximum_percent: float = field(metadata=wire("h", 10))
    minimum_increment_percent: float = field(metadata=wire("H", 10))


@dataclass(frozen=True, slots=True)
class SupportedResistanceLevelRange:
    minimum: float = field(metadata=wire("h", 10))
    maximum: float = field(metadata=wire("h", 10))
    minimum_increment: float = field(metadata=wire("H", 10))


@dataclass(frozen=True, slots=True)
class SupportedHeartRateRange:
    minimum_bpm: int = field(metadata=wire("B"))
    maximum_bpm: int = field(metadata=wire("B"))
    minimum_increment_bpm: int = field(metadata=wire("B"))


@dataclass(frozen=True, slots=True)
class SupportedPowerRange:
    minimum_w: int = field(metadata=wire("h"))
    maximum_w: int = field(metadata=wire("h"))
    minimum_increment_w: int = field(metadata=wire("H"))


_SPEED_RANGE = FixedLayout(SupportedSpeedRange, CHARACTERISTIC_NAMES[SUPPORTED_SPEED_RANGE])
_INCLINATION_RANGE = FixedLayout(
    SupportedInclinationRange, CHARACTERISTIC_NAMES[SUPPORTED_INCLINATION_RANGE]
)
_RESISTANCE_RANGE = FixedLayout(
    SupportedResistanceLevelRange, CHARACTERISTIC_NAMES[SUPPORTED_RESISTANCE_LEVEL_RANGE]
)
_HEART_RATE_RANGE = FixedLayout(
    SupportedHeartRateRange, CHARACTERISTIC_NAMES[SUPPORTED_HEART_RATE_RANGE]
)
_POWER_RANGE = FixedLayout(SupportedPowerRange, CHARACTERISTIC_NAMES[SUPPORTED_POWER_RANGE])


def decode_supported_speed_range(data: bytes) -> SupportedSpeedRange:
    return _SPEED_RANGE.decode(data)


def encode_supported_speed_range(r: SupportedSpeedRange) -> bytes:
    return _SPEED_RANGE.encode(r)


def decode_supported_inclination_range(data: bytes) -> SupportedInclinationRange:
    return _INCLINATION_RANGE.decode(data)


def encode_supported_inclination_range(r: SupportedInclinationRange) -> bytes:
    return _INCLINATION_RANGE.encode(r)


def decode_supported_resistance_level_range(data: bytes) -> SupportedResistanceLevelRange:
    return _RESISTANCE_RANGE.decode(data)


def encode_supported_resistance_level_range(r: SupportedResistanceLevelRange) -> bytes:
    return _RESISTANCE_RANGE.encode(r)


def decode_supported_heart_rate_range(data: bytes) -> SupportedHeartRateRange:
    return _HEART_RATE_RANGE.decode(data)


def encode_supported_heart_rate_range(r: SupportedHeartRateRange) -> bytes:
    return _HEART_RATE_RANGE.encode(r)


def decode_supported_power_range(data: bytes) -> SupportedPowerRange:
    return _POWER_RANGE.decode(data)


def encode_supported_power_range(r: SupportedPowerRange) -> bytes:
    return _POWER_RANGE.encode(r)


# --- Training Status ----------------------------------------------------------------------------


class TrainingStatusCode(IntEnum):
    OTHER = 0x00
    IDLE = 0x01
    WARMING_UP = 0x02
    LOW_INTENSITY_INTERVAL = 0x03
    HIGH_INTENSITY_INTERVAL = 0x04
    RECOVERY_INTERVAL = 0x05
    ISOMETRIC = 0x06
    HEART_RATE_CONTROL = 0x07
    FITNESS_TEST = 0x08
    SPEED_OUTSIDE_CONTROL_REGION_LOW = 0x09
    SPEED_OUTSIDE_CONTROL_REGION_HIGH = 0x0A
    COOL_DOWN = 0x0B
    WATT_CONTROL = 0x0C
    MANUAL_MODE = 0x0D
    PRE_WORKOUT = 0x0E
    POST_WORKOUT = 0x0F


_TRAINING_NAME = CHARACTERISTIC_NAMES[TRAINING_STATUS]
_FLAG_STRING = 0x01
_FLAG_EXTENDED = 0x02


@dataclass(frozen=True, slots=True)
class TrainingStatus:
    """What the machine says the user is doing. `status` is kept as a number because codes
    0x10-0xFF are reserved for future versions; `code` names the known ones."""

    status: int
    text: str | None = None
    #: The text goes on beyond this value (read the characteristic for the rest).
    extended: bool = False

    @property
    def code(self) -> TrainingStatusCode | None:
        try:
            return TrainingStatusCode(self.status)
        except ValueError:
            return None


def decode_training_status(data: bytes) -> TrainingStatus:
    """Decode a Training Status value; invalid UTF-8 in the string is malformed."""
    payload = as_payload(data)
    if len(payload) < 2:
        raise MalformedPayloadError(
            _TRAINING_NAME,
            payload,
            f"too short: flags (uint8) and training status (uint8) are required, got "
            f"{len(payload)} byte{'' if len(payload) == 1 else 's'}",
        )
    flags, status = payload[0], payload[1]
    rest = payload[2:]
    text: str | None = None
    if flags & _FLAG_STRING:
        try:
            text = rest.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedPayloadError(
                _TRAINING_NAME,
                payload,
                f"status string is not valid UTF-8 at byte {error.start + 2}",
            ) from None
    elif rest:
        raise MalformedPayloadError(
            _TRAINING_NAME,
            payload,
            f"too long: {len(rest)} byte(s) after the status, but the string flag is not set",
        )
    return TrainingStatus(status=status, text=text, extended=bool(flags & _FLAG_EXTENDED))


def encode_training_status(s: TrainingStatus) -> bytes:
    if isinstance(s.status, bool) or not isinstance(s.status, int) or not 0 <= s.status <= 0xFF:
        raise ValueError(f"status must be an int 0..255, got {s.status!r}")
    flags = _FLAG_EXTENDED if s.extended else 0
    body = b""
    if s.text is not None:
        flags |= _FLAG_STRING
        body = s.text.encode("utf-8")
    return bytes([flags, s.status]) + body


SupportedRange = (
    SupportedSpeedRange
    | SupportedInclinationRange
    | SupportedResistanceLevelRange
    | SupportedHeartRateRange
    | SupportedPowerRange
)

__all__ = [
    "FitnessMachineFeature",
    "MachineFeature",
    "SupportedHeartRateRange",
    "SupportedInclinationRange",
    "SupportedPowerRange",
    "SupportedRange",
    "SupportedResistanceLevelRange",
    "SupportedSpeedRange",
    "TargetSettingFeature",
    "TrainingStatus",
    "TrainingStatusCode",
    "decode_fitness_machine_feature",
    "decode_supported_heart_rate_range",
    "decode_supported_inclination_range",
    "decode_supported_power_range",
    "decode_supported_resistance_level_range",
    "decode_supported_speed_range",
    "decode_training_status",
    "encode_fitness_machine_feature",
    "encode_supported_heart_rate_range",
    "encode_supported_inclination_range",
    "encode_supported_power_range",
    "encode_supported_resistance_level_range",
    "encode_supported_speed_range",
    "encode_training_status",
]
