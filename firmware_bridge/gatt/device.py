"""Battery Level (0x2A19), Body Sensor Location (0x2A38) and the Device Information strings.

These are read once after connecting rather than notified, but they come off the same radio
and get the same treatment: bytes in, value out, MalformedPayloadError for anything off-spec.
"""

from __future__ import annotations

from enum import IntEnum

from firmware_bridge.errors import MalformedPayloadError

from .uuids import (
    BATTERY_LEVEL,
    BODY_SENSOR_LOCATION,
    CHARACTERISTIC_NAMES,
    DEVICE_INFORMATION_STRINGS,
    normalize_uuid,
)

_BATTERY_NAME = CHARACTERISTIC_NAMES[BATTERY_LEVEL]
_LOCATION_NAME = CHARACTERISTIC_NAMES[BODY_SENSOR_LOCATION]


def _as_bytes(data: bytes) -> bytes:
    # bytes(5) would quietly make five zero bytes; only accept real byte buffers.
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected a bytes-like payload, got {type(data).__name__}")
    return bytes(data)


def _single_byte(name: str, data: bytes) -> int:
    payload = _as_bytes(data)
    if len(payload) != 1:
        raise MalformedPayloadError(
            name, payload, f"expected exactly 1 byte (uint8), got {len(payload)}"
        )
    return payload[0]


def decode_battery_level(data: bytes) -> int:
    """Battery charge in percent, 0..100; 101..255 are not percentages and are malformed."""
    percent = _single_byte(_BATTERY_NAME, data)
    if percent > 100:
        raise MalformedPayloadError(
            _BATTERY_NAME, bytes(data), f"battery level {percent} is above 100 %"
        )
    return percent


def encode_battery_level(percent: int) -> bytes:
    """Encode a battery charge of 0..100 percent."""
    if not isinstance(percent, int) or isinstance(percent, bool):
        raise TypeError(f"battery percent must be an int, got {type(percent).__name__}")
    if not 0 <= percent <= 100:
        raise ValueError(f"battery percent must be 0..100, got {percent}")
    return bytes([percent])


class BodySensorLocation(IntEnum):
    """Where the heart rate sensor sits, as the Heart Rate Service numbers it."""

    OTHER = 0
    CHEST = 1
    WRIST = 2
    FINGER = 3
    HAND = 4
    EAR_LOBE = 5
    FOOT = 6


def decode_body_sensor_location(data: bytes) -> BodySensorLocation:
    """Decode the sensor location.

    Values 7..255 are reserved for future use by the spec. They raise MalformedPayloadError
    rather than folding into OTHER, because OTHER is itself a real answer ("somewhere else")
    and a reserved value means we do not know what the band is telling us.
    """
    value = _single_byte(_LOCATION_NAME, data)
    try:
        return BodySensorLocation(value)
    except ValueError:
        raise MalformedPayloadError(
            _LOCATION_NAME,
            bytes(data),
            f"location {value} is reserved for future use (0..6 defined)",
        ) from None


def encode_body_sensor_location(location: BodySensorLocation | int) -> bytes:
    """Encode a sensor location; plain ints 0..6 are accepted too."""
    if not isinstance(location, int) or isinstance(location, bool):
        raise TypeError(f"location must be a BodySensorLocation, got {type(location).__name__}")
    return bytes([BodySensorLocation(location)])  # ValueError for reserved values


def decode_device_information_string(uuid: str, data: bytes) -> str:
    """Decode one of the Device Information UTF-8 strings (manufacturer, model, serial, ...).

    ``uuid`` says which one, so an error names it. Trailing NUL bytes are stripped because some
    bands send their fixed-size C buffer; NULs inside the text are kept, since dropping data
    silently would hide a band bug. Invalid UTF-8 is malformed.
    """
    key = normalize_uuid(uuid)
    name = CHARACTERISTIC_NAMES.get(key, uuid)
    payload = _as_bytes(data)
    if key not in DEVICE_INFORMATION_STRINGS:
        raise MalformedPayloadError(name, payload, "not a Device Information string characteristic")
    try:
        return payload.rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedPayloadError(
            name, payload, f"not valid UTF-8 at byte {error.start}: {error.reason}"
        ) from None


def encode_device_information_string(value: str) -> bytes:
    """Encode a Device Information string as UTF-8, with no terminator (the spec has none).

    A trailing NUL is refused because decoding would strip it, so it could never round-trip.
    """
    if not isinstance(value, str):
        raise TypeError(f"device information must be a str, got {type(value).__name__}")
    if value.endswith("\x00"):
        raise ValueError("a device information string cannot end in NUL: decoding strips it")
    return value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for lone surrogates
