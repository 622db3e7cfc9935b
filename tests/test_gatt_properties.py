"""Property tests for the GATT codecs: total decoders, and encode/decode as inverses."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import MalformedPayloadError
from firmware_bridge import gatt
from firmware_bridge.gatt import uuids
from firmware_bridge.gatt.cycling_speed import (
    CSCMeasurement,
    csc_rates,
    decode_csc_measurement,
    encode_csc_measurement,
)
from firmware_bridge.gatt.device import (
    BodySensorLocation,
    decode_battery_level,
    decode_body_sensor_location,
    decode_device_information_string,
    encode_battery_level,
    encode_body_sensor_location,
    encode_device_information_string,
)
from firmware_bridge.gatt.heart_rate import (
    HeartRateMeasurement,
    decode_heart_rate_measurement,
    encode_heart_rate_measurement,
    rr_seconds_to_raw,
)
from firmware_bridge.gatt.running_speed import (
    RSCMeasurement,
    decode_rsc_measurement,
    encode_rsc_measurement,
)

# No deadline: the suite shares the machine with other work, and a slow example is not a bug.
fast = settings(deadline=None)

uint8 = st.integers(0, 0xFF)
uint16 = st.integers(0, 0xFFFF)
uint32 = st.integers(0, 0xFFFF_FFFF)

# Notifications are short; 40 bytes covers every layout here with room for junk at the end.
payloads = st.binary(max_size=40)


def decodes_or_malformed(decoder: Callable[[bytes], Any], data: bytes) -> Any:
    """Run ``decoder``; a MalformedPayloadError is fine, any other exception fails the test."""
    try:
        return decoder(data)
    except MalformedPayloadError as error:
        assert error.payload == data
        assert error.reason
        return None


# --- Heart Rate Measurement --------------------------------------------------------------------


@st.composite
def heart_rate_measurements(draw: st.DrawFn) -> HeartRateMeasurement:
    supported = draw(st.booleans())
    return HeartRateMeasurement(
        bpm=draw(uint16),
        contact_supported=supported,
        # Detected without supported has no wire code, so it is not a valid combination.
        contact_detected=supported and draw(st.booleans()),
        energy_expended_kj=draw(st.none() | uint16),
        rr_intervals=tuple(draw(st.lists(uint16, max_size=9))),
        wide_format=draw(st.booleans()),
    )


@st.composite
def canonical_heart_rate_payloads(draw: st.DrawFn) -> bytes:
    """Payloads built straight from the spec, in the one form an encoder would choose."""
    wide = draw(st.booleans())
    contact = draw(st.sampled_from([0b000, 0b100, 0b110]))  # none / supported / supported+detected
    energy = draw(st.none() | uint16)
    rr = draw(st.lists(uint16, max_size=9))
    flags = (0x01 if wide else 0) | contact | (0x08 if energy is not None else 0)
    flags |= 0x10 if rr else 0
    body = struct.pack("<H", draw(uint16)) if wide else bytes([draw(uint8)])
    if energy is not None:
        body += struct.pack("<H", energy)
    body += struct.pack(f"<{len(rr)}H", *rr)
    return bytes([flags]) + body


@fast
@given(payloads)
def test_heart_rate_decoder_is_total(data: bytes) -> None:
    m = decodes_or_malformed(decode_heart_rate_measurement, data)
    if m is not None:
        # Whatever decodes re-encodes, and that encoding means the same thing.
        assert decode_heart_rate_measurement(encode_heart_rate_measurement(m)) == replace(
            m, wide_format=m.wide_format or m.bpm > 0xFF
        )


@fast
@given(heart_rate_measurements())
def test_heart_rate_encode_then_decode(m: HeartRateMeasurement) -> None:
    decoded = decode_heart_rate_measurement(encode_heart_rate_measurement(m))
    # The encoder widens a rate that does not fit a uint8, so that is the one field that moves.
    assert decoded == replace(m, wide_format=m.wide_format or m.bpm > 0xFF)
    assert decoded.contact == (m.contact_detected if m.contact_supported else None)


@fast
@given(canonical_heart_rate_payloads())
def test_heart_rate_decode_then_encode(data: bytes) -> None:
    assert encode_heart_rate_measurement(decode_heart_rate_measurement(data)) == data


@fast
@given(heart_rate_measurements(), st.integers(1, 7))
def test_heart_rate_reserved_bits_change_nothing(m: HeartRateMeasurement, reserved: int) -> None:
    data = encode_heart_rate_measurement(m)
    with_reserved = bytes([data[0] | reserved << 5]) + data[1:]
    assert decode_heart_rate_measurement(with_reserved) == decode_heart_rate_measurement(data)


@fast
@given(uint16)
def test_rr_seconds_round_trip(raw: int) -> None:
    assert rr_seconds_to_raw(raw / 1024) == raw


# --- RSC Measurement ---------------------------------------------------------------------------


@st.composite
def rsc_measurements(draw: st.DrawFn) -> RSCMeasurement:
    """RSC values already on the wire's resolution grid."""
    stride = draw(st.none() | uint16)
    distance = draw(st.none() | uint32)
    return RSCMeasurement(
        speed_mps=draw(uint16) / 256,
        cadence_spm=draw(uint8),
        stride_length_m=None if stride is None else stride / 100,
        total_distance_m=None if distance is None else distance / 10,
        is_running=draw(st.booleans()),
    )


@st.composite
def canonical_rsc_payloads(draw: st.DrawFn) -> bytes:
    flags = draw(st.integers(0, 0b111))
    data = struct.pack("<BHB", flags, draw(uint16), draw(uint8))
    if flags & 0x01:
        data += struct.pack("<H", draw(uint16))
    if flags & 0x02:
        data += struct.pack("<I", draw(uint32))
    return data


@fast
@given(payloads)
def test_rsc_decoder_is_total(data: bytes) -> None:
    m = decodes_or_malformed(decode_rsc_measurement, data)
    if m is not None:
        assert decode_rsc_measurement(encode_rsc_measurement(m)) == m


@fast
@given(rsc_measurements())
def test_rsc_encode_then_decode(m: RSCMeasurement) -> None:
    assert decode_rsc_measurement(encode_rsc_measurement(m)) == m


@fast
@given(canonical_rsc_payloads())
def test_rsc_decode_then_encode(data: bytes) -> None:
    assert encode_rsc_measurement(decode_rsc_measurement(data)) == data


@fast
@given(
    st.floats(0, 255.99), st.floats(0, 655.3) | st.none(), st.floats(0, 429_496_729.0) | st.none()
)
def test_rsc_encode_rounds_to_nearest_step(
    speed: float, stride: float | None, distance: float | None
) -> None:
    m = RSCMeasurement(speed, 90, stride_length_m=stride, total_distance_m=distance)
    decoded = decode_rsc_measurement(encode_rsc_measurement(m))
    assert abs(decoded.speed_mps - speed) <= 0.5 / 256 + 1e-9
    if stride is not None:
        assert decoded.stride_length_m is not None
        assert abs(decoded.stride_length_m - stride) <= 0.5 / 100 + 1e-9
    if distance is not None:
        assert decoded.total_distance_m is not None
        assert abs(decoded.total_distance_m - distance) <= 0.5 / 10 + 1e-6


# --- CSC Measurement ---------------------------------------------------------------------------


@st.composite
def csc_measurements(draw: st.DrawFn) -> CSCMeasurement:
    wheel = draw(st.none() | st.tuples(uint32, uint16))
    crank = draw(st.none() | st.tuples(uint16, uint16))
    return CSCMeasurement(
        cumulative_wheel_revolutions=None if wheel is None else wheel[0],
        last_wheel_event_time=None if wheel is None else wheel[1],
        cumulative_crank_revolutions=None if crank is None else crank[0],
        last_crank_event_time=None if crank is None else crank[1],
    )


@st.composite
def canonical_csc_payloads(draw: st.DrawFn) -> bytes:
    flags = draw(st.integers(0, 0b11))
    data = bytes([flags])
    if flags & 0x01:
        data += struct.pack("<IH", draw(uint32), draw(uint16))
    if flags & 0x02:
        data += struct.pack("<HH", draw(uint16), draw(uint16))
    return data


@fast
@given(payloads)
def test_csc_decoder_is_total(data: bytes) -> None:
    m = decodes_or_malformed(decode_csc_measurement, data)
    if m is not None:
        assert decode_csc_measurement(encode_csc_measurement(m)) == m


@fast
@given(csc_measurements())
def test_csc_encode_then_decode(m: CSCMeasurement) -> None:
    assert decode_csc_measurement(encode_csc_measurement(m)) == m


@fast
@given(canonical_csc_payloads())
def test_csc_decode_then_encode(data: bytes) -> None:
    assert encode_csc_measurement(decode_csc_measurement(data)) == data


@fast
@given(uint16, uint16, st.integers(0, 0x7FFF), st.integers(1, 0xFFFF))
def test_crank_rate_survives_every_rollover(
    revs: int, time: int, d_revs: int, d_ticks: int
) -> None:
    previous = CSCMeasurement(cumulative_crank_revolutions=revs, last_crank_event_time=time)
    current = CSCMeasurement(
        cumulative_crank_revolutions=(revs + d_revs) % 0x10000,
        last_crank_event_time=(time + d_ticks) % 0x10000,
    )
    rates = csc_rates(previous, current)
    assert rates.crank_rpm == pytest.approx(d_revs * 60 * 1024 / d_ticks, rel=1e-12)
    assert rates.wheel_speed_mps is None


@fast
@given(uint32, uint16, st.integers(0, 1000), st.integers(1, 0xFFFF), st.floats(0.5, 3.0))
def test_wheel_speed_survives_every_rollover(
    revs: int, time: int, d_revs: int, d_ticks: int, circumference: float
) -> None:
    previous = CSCMeasurement(cumulative_wheel_revolutions=revs, last_wheel_event_time=time)
    current = CSCMeasurement(
        cumulative_wheel_revolutions=(revs + d_revs) % 2**32,
        last_wheel_event_time=(time + d_ticks) % 0x10000,
    )
    rates = csc_rates(previous, current, wheel_circumference_m=circumference)
    assert rates.wheel_speed_mps == pytest.approx(
        d_revs * 1024 / d_ticks * circumference, rel=1e-12
    )
    assert rates.crank_rpm is None


@fast
@given(csc_measurements(), csc_measurements())
def test_csc_rates_are_none_or_non_negative(a: CSCMeasurement, b: CSCMeasurement) -> None:
    rates = csc_rates(a, b)
    for rate in (rates.crank_rpm, rates.wheel_speed_mps):
        assert rate is None or rate >= 0


# --- Battery, body sensor location, device information -----------------------------------------


@fast
@given(payloads)
def test_battery_decoder_is_total(data: bytes) -> None:
    level = decodes_or_malformed(decode_battery_level, data)
    assert level is None or (0 <= level <= 100 and encode_battery_level(level) == data)


@fast
@given(st.integers(0, 100))
def test_battery_round_trip(percent: int) -> None:
    assert decode_battery_level(encode_battery_level(percent)) == percent


@fast
@given(payloads)
def test_body_sensor_location_decoder_is_total(data: bytes) -> None:
    location = decodes_or_malformed(decode_body_sensor_location, data)
    assert location is None or encode_body_sensor_location(location) == data


@fast
@given(st.sampled_from(BodySensorLocation))
def test_body_sensor_location_round_trip(location: BodySensorLocation) -> None:
    assert decode_body_sensor_location(encode_body_sensor_location(location)) is location


device_string_uuids = st.sampled_from(uuids.DEVICE_INFORMATION_STRINGS)


@fast
@given(device_string_uuids, payloads)
def test_device_information_decoder_is_total(uuid: str, data: bytes) -> None:
    text = decodes_or_malformed(lambda d: decode_device_information_string(uuid, d), data)
    if text is not None:
        # Canonical form: the same text without the NUL padding some bands add.
        assert encode_device_information_string(text) == data.rstrip(b"\x00")


@fast
@given(device_string_uuids, st.text().filter(lambda s: not s.endswith("\x00")))
def test_device_information_round_trip(uuid: str, text: str) -> None:
    encoded = encode_device_information_string(text)
    assert decode_device_information_string(uuid, encoded) == text
    assert decode_device_information_string(uuid, encoded + b"\x00" * 3) == text


# --- Dispatcher --------------------------------------------------------------------------------


@fast
@given(
    st.sampled_from(sorted(uuids.CHARACTERISTIC_NAMES) + [uuids.uuid16(0x2A5C), "not-a-uuid"]),
    payloads,
)
def test_dispatcher_is_total(uuid: str, data: bytes) -> None:
    value = decodes_or_malformed(lambda d: gatt.decode(uuid, d), data)
    if value is not None:
        assert gatt.decode(uuid, gatt.encode(uuid, value)) == value
