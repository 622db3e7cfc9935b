"""CSC Measurement (0x2A5B), per the Bluetooth SIG Cycling Speed and Cadence Service 1.0.

Layout, little-endian::

    flags  uint8
             bit 0     wheel revolution data present
             bit 1     crank revolution data present
             bits 2-7  reserved
    wheel  uint32 cumulative wheel revolutions, uint16 last wheel event time   (if bit 0)
    crank  uint16 cumulative crank revolutions, uint16 last crank event time   (if bit 1)

Event times are in 1/1024 s and wrap every 64 s; counters wrap at their width. A sensor sends
totals, not rates, so rates come from two measurements: see ``csc_rates``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from firmware_bridge.errors import MalformedPayloadError

from ._revolutions import check_circumference, revolutions_between
from .uuids import CHARACTERISTIC_NAMES, CSC_MEASUREMENT

_NAME = CHARACTERISTIC_NAMES[CSC_MEASUREMENT]

_FLAG_WHEEL = 0x01
_FLAG_CRANK = 0x02

#: Event times count 1/1024 s.
EVENT_TIME_UNITS_PER_SECOND = 1024

_UINT16_MAX = 0xFFFF
_UINT32_MAX = 0xFFFF_FFFF

#: A common 700x25c road wheel; pass the rider's own circumference when it is known.
DEFAULT_WHEEL_CIRCUMFERENCE_M = 2.105


@dataclass(frozen=True, slots=True)
class CSCMeasurement:
    """One CSC Measurement notification; a pair is None when the sensor did not send it."""

    cumulative_wheel_revolutions: int | None = None  # uint32
    last_wheel_event_time: int | None = None  # uint16, 1/1024 s
    cumulative_crank_revolutions: int | None = None  # uint16
    last_crank_event_time: int | None = None  # uint16 1/1024 s


@dataclass(frozen=True, slots=True)
class CSCRates:
    """Rates derived from two consecutive measurements; None means unknown, not zero."""

    crank_rpm: float | None
    wheel_speed_mps: float | None


def _malformed(payload: bytes, reason: str) -> MalformedPayloadError:
    return MalformedPayloadError(_NAME, payload, reason)


def decode_csc_measurement(data: bytes) -> CSCMeasurement:
    """Decode a CSC Measurement value.

    Raises MalformedPayloadError when the length does not match what the flags announce.
    Reserved flag bits 2-7 are ignored. A payload with neither pair is accepted (it decodes to
    all None): it is well formed, just empty.
    """
    # bytes(5) would quietly make five zero bytes; only accept real byte buffers.
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected a bytes-like payload, got {type(data).__name__}")
    payload = bytes(data)
    if not payload:
        raise _malformed(payload, "empty payload; at least the flags byte is required")

    flags = payload[0]
    has_wheel = bool(flags & _FLAG_WHEEL)
    has_crank = bool(flags & _FLAG_CRANK)
    expected = 1 + (6 if has_wheel else 0) + (4 if has_crank else 0)
    if len(payload) != expected:
        announced = []
        if has_wheel:
            announced.append("wheel data (uint32 + uint16)")
        if has_crank:
            announced.append("crank data (uint16 + uint16)")
        what = " and ".join(announced) if announced else "no data fields"
        problem = "too short" if len(payload) < expected else "too long"
        raise _malformed(
            payload,
            f"{problem}: flags announce {what} = {expected} bytes with the flags byte, "
            f"got {len(payload)}",
        )

    offset = 1
    wheel_revs: int | None = None
    wheel_time: int | None = None
    crank_revs: int | None = None
    crank_time: int | None = None
    if has_wheel:
        wheel_revs, wheel_time = struct.unpack_from("<IH", payload, offset)
        offset += 6
    if has_crank:
        crank_revs, crank_time = struct.unpack_from("<HH", payload, offset)
    return CSCMeasurement(
        cumulative_wheel_revolutions=wheel_revs,
        last_wheel_event_time=wheel_time,
        cumulative_crank_revolutions=crank_revs,
        last_crank_event_time=crank_time,
    )


def _check_uint(name: str, value: object, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= limit:
        raise ValueError(f"{name} must be 0..{limit}, got {value}")
    return value


def _pair(m: CSCMeasurement, which: str) -> bool:
    """Whether the ``which`` ("wheel"/"crank") pair is present; half a pair is a caller bug."""
    revs = getattr(m, f"cumulative_{which}_revolutions")
    time = getattr(m, f"last_{which}_event_time")
    if (revs is None) != (time is None):
        raise ValueError(
            f"cumulative_{which}_revolutions and last_{which}_event_time go together on the "
            f"wire: set both or neither (got {revs!r} and {time!r})"
        )
    return revs is not None


def encode_csc_measurement(m: CSCMeasurement) -> bytes:
    """Encode ``m`` as a CSC Measurement value.

    Raises ValueError when a counter or time does not fit its field or when only half of a
    wheel or crank pair is set (TypeError for a wrong type).
    """
    flags = 0
    body = b""
    if _pair(m, "wheel"):
        flags |= _FLAG_WHEEL
        body += struct.pack(
            "<IH",
            _check_uint(
                "cumulative_wheel_revolutions", m.cumulative_wheel_revolutions, _UINT32_MAX
            ),
            _check_uint("last_wheel_event_time", m.last_wheel_event_time, _UINT16_MAX),
        )
    if _pair(m, "crank"):
        flags |= _FLAG_CRANK
        body += struct.pack(
            "<HH",
            _check_uint(
                "cumulative_crank_revolutions", m.cumulative_crank_revolutions, _UINT16_MAX
            ),
            _check_uint("last_crank_event_time", m.last_crank_event_time, _UINT16_MAX),
        )
    return bytes([flags]) + body


def _wheel(m: CSCMeasurement) -> tuple[int, int] | None:
    if m.cumulative_wheel_revolutions is None or m.last_wheel_event_time is None:
        return None
    return m.cumulative_wheel_revolutions, m.last_wheel_event_time


def _crank(m: CSCMeasurement) -> tuple[int, int] | None:
    if m.cumulative_crank_revolutions is None or m.last_crank_event_time is None:
        return None
    return m.cumulative_crank_revolutions, m.last_crank_event_time


def _per_second(
    previous: tuple[int, int] | None, current: tuple[int, int] | None, counter_bits: int
) -> float | None:
    found = revolutions_between(previous, current, counter_bits, EVENT_TIME_UNITS_PER_SECOND)
    return None if found is None else found[0]


def csc_rates(
    previous: CSCMeasurement,
    current: CSCMeasurement,
    wheel_circumference_m: float = DEFAULT_WHEEL_CIRCUMFERENCE_M,
) -> CSCRates:
    """Crank cadence and wheel speed from two consecutive measurements.

    Each rate is None when either measurement lacks its pair, when no new event happened
    between them (event time unchanged), or when the counter went backwards; see
    ``_revolutions.revolutions_between`` for why unknown is not zero. Event times must be less than 64 s
    apart (one wrap of the 16-bit 1/1024 s clock) for the answer to be right; sensors notify
    about once a second, so consecutive notifications are.
    """
    check_circumference(wheel_circumference_m)
    crank = _per_second(_crank(previous), _crank(current), counter_bits=16)
    wheel = _per_second(_wheel(previous), _wheel(current), counter_bits=32)
    return CSCRates(
        crank_rpm=None if crank is None else crank * 60.0,
        wheel_speed_mps=None if wheel is None else wheel * wheel_circumference_m,
    )


class CSCTracker:
    """Turns a stream of CSC measurements into rates, one ``update`` per notification.

    It remembers the last wheel pair and the last crank pair separately, because combined
    sensors may send wheel-only and crank-only notifications in turn; pairing each with the
    previous notification as a whole would lose every rate. The first update returns all None.
    """

    def __init__(self, wheel_circumference_m: float = DEFAULT_WHEEL_CIRCUMFERENCE_M) -> None:
        self.wheel_circumference_m = check_circumference(wheel_circumference_m)
        self._previous = CSCMeasurement()

    @property
    def previous(self) -> CSCMeasurement:
        """The latest wheel pair and crank pair seen so far, merged into one measurement."""
        return self._previous

    def reset(self) -> None:
        """Forget history, e.g. after a reconnect, so stale totals are not paired with new ones."""
        self._previous = CSCMeasurement()

    def update(self, m: CSCMeasurement) -> CSCRates:
        """Record ``m`` and return the rates since the last measurement carrying each pair."""
        rates = csc_rates(self._previous, m, self.wheel_circumference_m)
        merged = self._previous
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
            )
        self._previous = merged
        return rates
