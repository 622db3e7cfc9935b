"""GATT codecs: pure functions from characteristic bytes to frozen values and back.

Nothing here touches a BLE client. The BLE backend hands ``decode`` the UUID and bytes it got
from a notification or read; tests and the virtual band feed it bytes written out by hand.
Every malformed payload raises ``firmware_bridge.errors.MalformedPayloadError``, never anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from firmware_bridge.errors import MalformedPayloadError

from .cycling_speed import (
    CSCMeasurement,
    CSCRates,
    CSCTracker,
    csc_rates,
    decode_csc_measurement,
    encode_csc_measurement,
)
from .device import (
    BodySensorLocation,
    decode_battery_level,
    decode_body_sensor_location,
    decode_device_information_string,
    encode_battery_level,
    encode_body_sensor_location,
    encode_device_information_string,
)
from .heart_rate import (
    HeartRateMeasurement,
    decode_heart_rate_measurement,
    encode_heart_rate_measurement,
    rr_seconds_to_raw,
)
from .running_speed import (
    RSCMeasurement,
    decode_rsc_measurement,
    encode_rsc_measurement,
    steps_from_cadence,
)
from .uuids import (
    BATTERY_LEVEL,
    BODY_SENSOR_LOCATION,
    CHARACTERISTIC_NAMES,
    CSC_MEASUREMENT,
    DEVICE_INFORMATION_STRINGS,
    HEART_RATE_MEASUREMENT,
    RSC_MEASUREMENT,
    characteristic_name,
    normalize_uuid,
    uuid16,
)

#: What ``decode`` can return, by characteristic.
Decoded = HeartRateMeasurement | RSCMeasurement | CSCMeasurement | BodySensorLocation | int | str

_DECODERS: dict[str, Callable[[bytes], Decoded]] = {
    HEART_RATE_MEASUREMENT: decode_heart_rate_measurement,
    BODY_SENSOR_LOCATION: decode_body_sensor_location,
    RSC_MEASUREMENT: decode_rsc_measurement,
    CSC_MEASUREMENT: decode_csc_measurement,
    BATTERY_LEVEL: decode_battery_level,
    **{
        uuid: partial(decode_device_information_string, uuid) for uuid in DEVICE_INFORMATION_STRINGS
    },
}

# Any: each encoder checks its own argument, and says so in its error.
_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    HEART_RATE_MEASUREMENT: encode_heart_rate_measurement,
    BODY_SENSOR_LOCATION: encode_body_sensor_location,
    RSC_MEASUREMENT: encode_rsc_measurement,
    CSC_MEASUREMENT: encode_csc_measurement,
    BATTERY_LEVEL: encode_battery_level,
    **{uuid: encode_device_information_string for uuid in DEVICE_INFORMATION_STRINGS},
}


def decode(characteristic_uuid: str, data: bytes) -> Decoded:
    """Decode ``data`` read or notified from ``characteristic_uuid``.

    The UUID may be the full 128-bit form in any case or a 16-bit short form ("2A37").
    A characteristic we have no decoder for raises MalformedPayloadError too, so a caller
    handling one exception type handles everything a sensor can send.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected a bytes-like payload, got {type(data).__name__}")
    decoder = _DECODERS.get(normalize_uuid(characteristic_uuid))
    if decoder is None:
        raise MalformedPayloadError(
            characteristic_uuid, bytes(data), "no decoder for this characteristic"
        )
    return decoder(data)


def encode(characteristic_uuid: str, value: object) -> bytes:
    """Encode ``value`` for ``characteristic_uuid``: the inverse of ``decode``, for the virtual band.

    Raises ValueError for a characteristic we have no encoder for or a value it cannot carry.
    """
    encoder = _ENCODERS.get(normalize_uuid(characteristic_uuid))
    if encoder is None:
        raise ValueError(f"no encoder for characteristic {characteristic_uuid}")
    return encoder(value)


__all__ = [
    "CHARACTERISTIC_NAMES",
    "BodySensorLocation",
    "CSCMeasurement",
    "CSCRates",
    "CSCTracker",
    "Decoded",
    "HeartRateMeasurement",
    "RSCMeasurement",
    "characteristic_name",
    "csc_rates",
    "decode",
    "decode_battery_level",
    "decode_body_sensor_location",
    "decode_csc_measurement",
    "decode_device_information_string",
    "decode_heart_rate_measurement",
    "decode_rsc_measurement",
    "encode",
    "encode_battery_level",
    "encode_body_sensor_location",
    "encode_csc_measurement",
    "encode_device_information_string",
    "encode_heart_rate_measurement",
    "encode_rsc_measurement",
    "normalize_uuid",
    "rr_seconds_to_raw",
    "steps_from_cadence",
    "uuid16",
]
