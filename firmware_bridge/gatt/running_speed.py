"""RSC Measurement (0x2A53), per the Bluetooth SIG Running Speed and Cadence Service 1.0.

Layout, little-endian::

    flags     uint8
                bit 0     instantaneous stride length present
                bit 1     total distance present
                bit 2     0 = walking, 1 = running
                bits 3-7  reserved
    speed     uint16, 1/256 m/s
    cadence   uint8, 1/min (steps per minute)
    stride    uint16, 1/100 m          (if bit 0)
    distance  uint32, 1/10 m           (if bit 1)
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from firmware_bridge.errors import MalformedPayloadError

from .uuids import CHARACTERISTIC_NAMES, RSC_MEASUREMENT

_NAME = CHARACTERISTIC_NAMES[RSC_MEASUREMENT]

_FLAG_STRIDE = 0x01
_FLAG_DISTANCE = 0x02
_FLAG_RUNNING = 0x04

#: Wire resolutions: speed in 1/256 m/s, stride in 1/100 m, distance in 1/10 m.
SPEED_UNITS_PER_MPS = 256
STRIDE_UNITS_PER_M = 100
DISTANCE_UNITS_PER_M = 10


@dataclass(frozen=True, slots=True)
class RSCMeasurement:
    """One RSC Measurement notification."""

    speed_mps: float
    cadence_spm: int
    stride_length_m: float | None = None
    total_distance_m: float | None = None
    is_running: bool = False


def _malformed(payload: bytes, reason: str) -> MalformedPayloadError:
    return MalformedPayloadError(_NAME, payload, reason)


def decode_rsc_measurement(data: bytes) -> RSCMeasurement:
    """Decode an RSC Measurement value.

    Raises MalformedPayloadError when a field the flags announce is cut short or when bytes are
    left over. Reserved flag bits 3-7 are ignored, as for the heart rate flags.
    """
    # bytes(5) would quietly make five zero bytes; only accept real byte buffers.
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected a bytes-like payload, got {type(data).__name__}")
    payload = bytes(data)
    if not payload:
        raise _malformed(payload, "empty payload; flags, speed and cadence are required")

    flags = payload[0]
    has_stride = bool(flags & _FLAG_STRIDE)
    has_distance = bool(flags & _FLAG_DISTANCE)
    expected = 1 + 2 + 1 + (2 if has_stride else 0) + (4 if has_distance else 0)
    if len(payload) != expected:
        announced = ["speed (uint16)", "cadence (uint8)"]
        if has_stride:
            announced.append("stride length (uint16)")
        if has_distance:
            announced.append("total distance (uint32)")
        problem = "too short" if len(payload) < expected else "too long"
        raise _malformed(
            payload,
            f"{problem}: flags announce {', '.join(announced)} = {expected} bytes with the "
            f"flags byte, got {len(payload)}",
        )

    speed_raw, cadence = struct.unpack_from("<HB", payload, 1)
    offset = 4
    stride: float | None = None
    if has_stride:
        (stride_raw,) = struct.unpack_from("<H", payload, offset)
        stride = stride_raw / STRIDE_UNITS_PER_M
        offset += 2
    distance: float | None = None
    if has_distance:
        (distance_raw,) = struct.unpack_from("<I", payload, offset)
        distance = distance_raw / DISTANCE_UNITS_PER_M

    return RSCMeasurement(
        speed_mps=speed_raw / SPEED_UNITS_PER_MPS,
        cadence_spm=cadence,
        stride_length_m=stride,
        total_distance_m=distance,
        is_running=bool(flags & _FLAG_RUNNING),
    )


def _to_units(name: str, value: float, per_unit: int, bits: int) -> int:
    """Round ``value`` to the wire resolution and check it fits an unsigned ``bits`` field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    raw = round(value * per_unit)
    limit = (1 << bits) - 1
    if not 0 <= raw <= limit:
        raise ValueError(f"{name} {value!r} is outside 0..{limit / per_unit:g} on the wire")
    return raw


def encode_rsc_measurement(m: RSCMeasurement) -> bytes:
    """Encode ``m`` as an RSC Measurement value, rounding each field to its wire resolution.

    Raises ValueError (TypeError for a wrong type) for a value that does not fit its field.
    """
    speed_raw = _to_units("speed_mps", m.speed_mps, SPEED_UNITS_PER_MPS, 16)
    if not isinstance(m.cadence_spm, int) or isinstance(m.cadence_spm, bool):
        raise TypeError(f"cadence_spm must be an int, got {type(m.cadence_spm).__name__}")
    if not 0 <= m.cadence_spm <= 0xFF:
        raise ValueError(f"cadence_spm must be 0..255 (uint8), got {m.cadence_spm}")

    flags = _FLAG_RUNNING if m.is_running else 0
    tail = b""
    if m.stride_length_m is not None:
        flags |= _FLAG_STRIDE
        tail += struct.pack(
            "<H", _to_units("stride_length_m", m.stride_length_m, STRIDE_UNITS_PER_M, 16)
        )
    if m.total_distance_m is not None:
        flags |= _FLAG_DISTANCE
        tail += struct.pack(
            "<I", _to_units("total_distance_m", m.total_distance_m, DISTANCE_UNITS_PER_M, 32)
        )
    return struct.pack("<BHB", flags, speed_raw, m.cadence_spm) + tail


def steps_from_cadence(cadence_spm: float, seconds: float) -> float:
    """Steps taken over ``seconds`` at a steady ``cadence_spm``.

    RSC cadence is steps per minute (both feet counted), not strides per minute, so this is
    ``cadence_spm * seconds / 60`` with no factor of two. It returns a float on purpose: callers
    summing short notification intervals should accumulate the fraction and round at the end.
    """
    if not (math.isfinite(cadence_spm) and math.isfinite(seconds)):
        raise ValueError(f"cadence and duration must be finite, got {cadence_spm!r}, {seconds!r}")
    if cadence_spm < 0 or seconds < 0:
        raise ValueError(f"cadence and duration cannot be negative: {cadence_spm!r}, {seconds!r}")
    return cadence_spm * seconds / 60.0
