"""Heart Rate Measurement (0x2A37), per the Bluetooth SIG Heart Rate Service 1.0.

Layout, little-endian::

    flags  uint8
             bit 0     heart rate value format: 0 = uint8, 1 = uint16
             bits 1-2  sensor contact status: bit 2 = contact feature supported,
                       bit 1 = contact detected (only meaningful when bit 2 is set)
             bit 3     energy expended present
             bit 4     RR-interval present
             bits 5-7  reserved
    value  uint8 or uint16, beats per minute
    energy uint16, kilojoules since the last reset      (if bit 3)
    rr     uint16 * n, units of 1/1024 s, oldest first  (if bit 4; fills the rest of the payload)
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from firmware_bridge.errors import MalformedPayloadError

from .uuids import CHARACTERISTIC_NAMES, HEART_RATE_MEASUREMENT

_NAME = CHARACTERISTIC_NAMES[HEART_RATE_MEASUREMENT]

_FLAG_UINT16 = 0x01
_FLAG_CONTACT_DETECTED = 0x02
_FLAG_CONTACT_SUPPORTED = 0x04
_FLAG_ENERGY = 0x08
_FLAG_RR = 0x10

#: RR intervals are sent in units of 1/1024 s, not milliseconds.
RR_UNITS_PER_SECOND = 1024

_UINT16_MAX = 0xFFFF


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One Heart Rate Measurement notification."""

    bpm: int
    contact_supported: bool = False
    contact_detected: bool = False
    energy_expended_kj: int | None = None
    rr_intervals: tuple[int, ...] = ()  # raw units of 1/1024 s
    wide_format: bool = False  # value sent as uint16

    @property
    def rr_intervals_s(self) -> tuple[float, ...]:
        """The RR intervals in seconds (exact: 1/1024 is a power of two)."""
        return tuple(raw / RR_UNITS_PER_SECOND for raw in self.rr_intervals)

    @property
    def contact(self) -> bool | None:
        """Skin contact: None when the band cannot tell, else whether it has contact."""
        if not self.contact_supported:
            return None
        return self.contact_detected


def rr_seconds_to_raw(seconds: float) -> int:
    """Convert an RR interval in seconds to the wire's 1/1024 s units, rounding to nearest."""
    if not math.isfinite(seconds):
        raise ValueError(f"RR interval must be a finite number of seconds, got {seconds!r}")
    raw = round(seconds * RR_UNITS_PER_SECOND)
    if not 0 <= raw <= _UINT16_MAX:
        raise ValueError(
            f"RR interval {seconds!r} s is outside what a uint16 of 1/1024 s holds "
            f"(0..{_UINT16_MAX / RR_UNITS_PER_SECOND:.3f} s)"
        )
    return raw


def _malformed(payload: bytes, reason: str) -> MalformedPayloadError:
    return MalformedPayloadError(_NAME, payload, reason)


def _follow(count: int, noun: str = "byte") -> str:
    """'1 value byte follows' / '0 value bytes follow': the reason reads as a sentence."""
    return f"{count} {noun} follows" if count == 1 else f"{count} {noun}s follow"


def decode_heart_rate_measurement(data: bytes) -> HeartRateMeasurement:
    """Decode a Heart Rate Measurement value.

    Raises MalformedPayloadError when the flags announce fields the payload does not hold, when
    the RR section has an odd byte, or when bytes are left over with no field to hold them.
    Reserved flag bits 5-7 are ignored: some bands set them, and they define no field.
    """
    # bytes(5) would quietly make five zero bytes; only accept real byte buffers.
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected a bytes-like payload, got {type(data).__name__}")
    payload = bytes(data)
    if not payload:
        raise _malformed(payload, "empty payload; a flags byte and a heart rate value are required")

    flags = payload[0]
    wide = bool(flags & _FLAG_UINT16)
    offset = 1
    remaining = len(payload) - offset
    if wide:
        if remaining < 2:
            raise _malformed(
                payload, f"flags say uint16 heart rate but only {_follow(remaining, 'value byte')}"
            )
        (bpm,) = struct.unpack_from("<H", payload, offset)
        offset += 2
    else:
        if remaining < 1:
            raise _malformed(payload, "flags say uint8 heart rate but no value byte follows")
        bpm = payload[offset]
        offset += 1

    # Contact status value 1 (bit 1 without bit 2) means "not supported" in the spec, the same
    # as 0, so detected is only read when supported is set.
    supported = bool(flags & _FLAG_CONTACT_SUPPORTED)
    detected = supported and bool(flags & _FLAG_CONTACT_DETECTED)

    energy: int | None = None
    if flags & _FLAG_ENERGY:
        remaining = len(payload) - offset
        if remaining < 2:
            raise _malformed(
                payload,
                "flags say energy expended (uint16) is present but only "
                f"{_follow(remaining)} the heart rate value",
            )
        (energy,) = struct.unpack_from("<H", payload, offset)
        offset += 2

    rest = payload[offset:]
    rr: tuple[int, ...] = ()
    if flags & _FLAG_RR:
        # The RR section runs to the end of the payload: a band packs as many as fit.
        # Flag set with no RR bytes is accepted as "no intervals this beat"; it carries nothing.
        if len(rest) % 2:
            raise _malformed(
                payload,
                f"RR-interval section has an odd number of bytes ({len(rest)}); "
                "each interval is a uint16",
            )
        rr = struct.unpack(f"<{len(rest) // 2}H", rest)
    elif rest:
        raise _malformed(
            payload,
            f"{len(rest)} byte(s) left after the last field the flags announce "
            "(RR-interval flag is not set)",
        )

    return HeartRateMeasurement(
        bpm=bpm,
        contact_supported=supported,
        contact_detected=detected,
        energy_expended_kj=energy,
        rr_intervals=tuple(rr),
        wide_format=wide,
    )


def _check_uint16(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= _UINT16_MAX:
        raise ValueError(f"{name} must be 0..{_UINT16_MAX}, got {value}")
    return value


def encode_heart_rate_measurement(m: HeartRateMeasurement) -> bytes:
    """Encode ``m`` as a Heart Rate Measurement value.

    The value goes out as uint16 when ``m.wide_format`` is set or the rate does not fit a
    uint8. Raises ValueError (or TypeError for a wrong type) for a field the wire cannot carry,
    including contact detected without contact supported, which the spec has no code for.
    """
    bpm = _check_uint16("bpm", m.bpm)
    if m.contact_detected and not m.contact_supported:
        raise ValueError("contact_detected needs contact_supported: the spec has no code for it")
    rr = tuple(_check_uint16(f"rr_intervals[{i}]", raw) for i, raw in enumerate(m.rr_intervals))

    flags = 0
    wide = m.wide_format or bpm > 0xFF
    if wide:
        flags |= _FLAG_UINT16
    if m.contact_supported:
        flags |= _FLAG_CONTACT_SUPPORTED
        if m.contact_detected:
            flags |= _FLAG_CONTACT_DETECTED
    parts = [struct.pack("<H", bpm) if wide else bytes([bpm])]
    if m.energy_expended_kj is not None:
        flags |= _FLAG_ENERGY
        parts.append(struct.pack("<H", _check_uint16("energy_expended_kj", m.energy_expended_kj)))
    if rr:
        flags |= _FLAG_RR
        parts.append(struct.pack(f"<{len(rr)}H", *rr))
    return bytes([flags]) + b"".join(parts)
