"""Cycling Power Measurement (0x2A63) and Feature (0x2A65): spec vectors, every flag combination,
total decoders, and the rollover-aware rates."""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import gatt
from firmware_bridge.errors import MalformedPayloadError
from firmware_bridge.gatt.cycling_power import (
    CyclingPowerFeature,
    CyclingPowerFeatureBits,
    CyclingPowerMeasurement,
    CyclingPowerTracker,
    SensorLocation,
    cycling_power_rates,
    decode_cycling_power_feature,
    decode_cycling_power_measurement,
    decode_sensor_location,
    encode_cycling_power_feature,
    encode_cycling_power_measurement,
    encode_sensor_location,
)
from firmware_bridge.gatt.uuids import (
    CYCLING_POWER_FEATURE,
    CYCLING_POWER_MEASUREMENT,
    SENSOR_LOCATION,
)

fast = settings(deadline=None)

#: Bytes each presence bit announces, transcribed from the specification table (not from the
#: codec), in wire order; bits 1, 3 and 12 announce no bytes.
PRESENCE_SIZES = {0: 1, 2: 2, 4: 6, 5: 4, 6: 4, 7: 4, 8: 3, 9: 2, 10: 2, 11: 2}


def _payload(flags: int, power: int = 0, fill: int = 0x11) -> bytes:
    body = b"".join(
        bytes([fill]) * size for bit, size in PRESENCE_SIZES.items() if flags >> bit & 1
    )
    return struct.pack("<Hh", flags, power) + body


# --- hand-written vectors -----------------------------------------------------------------------


def test_power_only_from_a_crank_meter() -> None:
    # flags 0, 250 W: the smallest measurement a meter sends
    m = decode_cycling_power_measurement(bytes.fromhex("0000 fa00"))
    assert m == CyclingPowerMeasurement(instantaneous_power_w=250)


def test_negative_power_is_signed() -> None:
    # back-pedalling on a torque meter: -12 W
    assert decode_cycling_power_measurement(bytes.fromhex("0000 f4ff")).instantaneous_power_w == -12


def test_crank_based_meter_with_balance_torque_and_crank_data() -> None:
    # a typical crank meter: balance (left, 52 %), accumulated torque (crank based), crank data
    data = bytes.fromhex("2f00c8006840061e000028")
    m = decode_cycling_power_measurement(data)
    assert m.instantaneous_power_w == 200
    assert m.pedal_power_balance_percent == 52.0  # 0x68 = 104 half-percents
    assert m.pedal_power_balance_left
    assert m.accumulated_torque_nm == 50.0  # 0x0640 = 1600 / 32
    assert m.accumulated_torque_crank_based
    assert (m.cumulative_crank_revolutions, m.last_crank_event_time) == (30, 0x2800)
    assert m.cumulative_wheel_revolutions is None
    assert encode_cycling_power_measurement(m) == data


def test_wheel_event_time_is_in_2048ths() -> None:
    # wheel revolutions are uint32, the event time 1/2048 s (CSC uses 1/1024 s)
    data = bytes.fromhex("10006400102700000008")
    m = decode_cycling_power_measurement(data)
    assert (m.cumulative_wheel_revolutions, m.last_wheel_event_time) == (10_000, 2048)


def test_extreme_angles_pack_two_uint12_into_three_bytes() -> None:
    # the specification's own example: maximum 0xABC and minimum 0x123 go out as 0x123ABC
    data = bytes.fromhex("00010000bc3a12")
    m = decode_cycling_power_measurement(data)
    assert (m.maximum_angle_deg, m.minimum_angle_deg) == (0xABC, 0x123)
    assert encode_cycling_power_measurement(m) == data


def test_extreme_force_and_torque_dead_spots_energy_offset_flag() -> None:
    flags = (1 << 6) | (1 << 7) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12)
    data = struct.pack("<Hh hh hh HHH", flags, 300, 410, -35, 1600, -64, 12, 190, 842)
    m = decode_cycling_power_measurement(data)
    assert (m.maximum_force_n, m.minimum_force_n) == (410, -35)
    assert (m.maximum_torque_nm, m.minimum_torque_nm) == (50.0, -2.0)
    assert (m.top_dead_spot_angle_deg, m.bottom_dead_spot_angle_deg) == (12, 190)
    assert m.accumulated_energy_kj == 842
    assert m.offset_compensation
    assert encode_cycling_power_measurement(m) == data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too short"),
        (b"\x00", "too short"),
        (bytes.fromhex("0000 fa"), "instantaneous power"),
        (bytes.fromhex("2000 fa00 0100"), "crank"),  # crank pair cut short
        (bytes.fromhex("0000 fa00 00"), "too long"),
        (bytes.fromhex("0001 0000 bc3a"), "angle"),
    ],
)
def test_malformed_measurements_say_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayloadError, match=reason) as caught:
        decode_cycling_power_measurement(data)
    assert caught.value.payload == data
    assert "Cycling Power Measurement (0x2A63)" in str(caught.value)


def test_encoder_refuses_half_pairs_and_values_off_the_wire() -> None:
    with pytest.raises(ValueError, match="travel together"):
        encode_cycling_power_measurement(
            CyclingPowerMeasurement(instantaneous_power_w=1, cumulative_crank_revolutions=3)
        )
    with pytest.raises(ValueError, match="sint16"):
        encode_cycling_power_measurement(CyclingPowerMeasurement(instantaneous_power_w=40_000))
    with pytest.raises(ValueError, match="uint12"):
        encode_cycling_power_measurement(
            CyclingPowerMeasurement(
                instantaneous_power_w=1, maximum_angle_deg=4096, minimum_angle_deg=0
            )
        )
    with pytest.raises(TypeError):
        encode_cycling_power_measurement(CyclingPowerMeasurement(instantaneous_power_w=1.5))  # type: ignore[arg-type]


def test_every_flag_combination_decodes_and_re_encodes_byte_for_byte() -> None:
    defined = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    count = 0
    for bits in itertools.product((0, 1), repeat=len(defined)):
        flags = sum(b << bit for b, bit in zip(bits, defined, strict=True))
        data = _payload(flags, power=-321)
        m = decode_cycling_power_measurement(data)
        assert encode_cycling_power_measurement(m) == data
        assert gatt.decode(CYCLING_POWER_MEASUREMENT, data) == m
        count += 1
    assert count == 2**13


# --- properties ---------------------------------------------------------------------------------


@st.composite
def measurements(draw: st.DrawFn) -> CyclingPowerMeasurement:
    def maybe(strategy: st.SearchStrategy[object]) -> object:
        return draw(st.none() | strategy)

    sint16 = st.integers(-0x8000, 0x7FFF)
    wheel = maybe(st.tuples(st.integers(0, 0xFFFF_FFFF), st.integers(0, 0xFFFF)))
    crank = maybe(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)))
    force = maybe(st.tuples(sint16, sint16))
    torque = maybe(st.tuples(sint16, sint16))
    angles = maybe(st.tuples(st.integers(0, 0xFFF), st.integers(0, 0xFFF)))
    balance = maybe(st.integers(0, 0xFF))
    acc_torque = maybe(st.integers(0, 0xFFFF))
    return CyclingPowerMeasurement(
        instantaneous_power_w=draw(sint16),
        pedal_power_balance_percent=None if balance is None else balance / 2,  # type: ignore[operator]
        accumulated_torque_nm=None if acc_torque is None else acc_torque / 32,  # type: ignore[operator]
        cumulative_wheel_revolutions=None if wheel is None else wheel[0],  # type: ignore[index]
        last_wheel_event_time=None if wheel is None else wheel[1],  # type: ignore[index]
        cumulative_crank_revolutions=None if crank is None else crank[0],  # type: ignore[index]
        last_crank_event_time=None if crank is None else crank[1],  # type: ignore[index]
        maximum_force_n=None if force is None else force[0],  # type: ignore[index]
        minimum_force_n=None if force is None else force[1],  # type: ignore[index]
        maximum_torque_nm=None if torque is None else torque[0] / 32,  # type: ignore[index]
        minimum_torque_nm=None if torque is None else torque[1] / 32,  # type: ignore[index]
        maximum_angle_deg=None if angles is None else angles[0],  # type: ignore[index]
        minimum_angle_deg=None if angles is None else angles[1],  # type: ignore[index]
        top_dead_spot_angle_deg=maybe(st.integers(0, 0xFFFF)),  # type: ignore[arg-type]
        bottom_dead_spot_angle_deg=maybe(st.integers(0, 0xFFFF)),  # type: ignore[arg-type]
        accumulated_energy_kj=maybe(st.integers(0, 0xFFFF)),  # type: ignore[arg-type]
        pedal_power_balance_left=draw(st.booleans()),
        accumulated_torque_crank_based=draw(st.booleans()),
        offset_compensation=draw(st.booleans()),
    )


@fast
@given(measurements())
def test_measurement_encode_then_decode(m: CyclingPowerMeasurement) -> None:
    assert decode_cycling_power_measurement(encode_cycling_power_measurement(m)) == m
    assert gatt.decode(CYCLING_POWER_MEASUREMENT, gatt.encode(CYCLING_POWER_MEASUREMENT, m)) == m


@fast
@given(st.integers(0, 0x1FFF), st.binary(min_size=40, max_size=40))
def test_measurement_decode_then_encode_any_flags(flags: int, pool: bytes) -> None:
    size = 2 + 2 + sum(s for bit, s in PRESENCE_SIZES.items() if flags >> bit & 1)
    data = struct.pack("<H", flags) + pool[: size - 2]
    assert encode_cycling_power_measurement(decode_cycling_power_measurement(data)) == data


@fast
@given(st.binary(max_size=40))
def test_measurement_decoder_is_total(data: bytes) -> None:
    try:
        m = decode_cycling_power_measurement(data)
    except MalformedPayloadError as error:
        assert error.payload == data and error.reason
        return
    # reserved bits 13-15 are dropped on the way through; everything else survives
    expected = data[:1] + bytes([data[1] & 0x1F]) + data[2:]
    assert encode_cycling_power_measurement(m) == expected


@fast
@given(st.binary(max_size=8))
def test_feature_decoder_is_total(data: bytes) -> None:
    try:
        feature = decode_cycling_power_feature(data)
    except MalformedPayloadError:
        assert len(data) != 4
        return
    assert encode_cycling_power_feature(feature) == data


# --- feature ------------------------------------------------------------------------------------


def test_feature_names_and_two_bit_fields() -> None:
    # crank data + accumulated torque + energy; torque based; "can be used in a distributed
    # system" (2 in bits 20-21)
    value = (1 << 1) | (1 << 3) | (1 << 7) | (1 << 16) | (2 << 20)
    data = value.to_bytes(4, "little")
    feature = decode_cycling_power_feature(data)
    assert feature.supports(CyclingPowerFeatureBits.CRANK_REVOLUTION_DATA)
    assert not feature.supports(CyclingPowerFeatureBits.WHEEL_REVOLUTION_DATA)
    assert feature.torque_based
    assert feature.distributed_system_support == 2
    assert feature.names() == ("accumulated torque", "crank revolution data", "accumulated energy")
    assert gatt.decode(CYCLING_POWER_FEATURE, data) == feature
    assert encode_cycling_power_feature(feature) == data


def test_feature_keeps_reserved_bits() -> None:
    data = (1 << 30 | 1).to_bytes(4, "little")
    assert encode_cycling_power_feature(decode_cycling_power_feature(data)) == data
    assert CyclingPowerFeature().names() == ()


# --- rates --------------------------------------------------------------------------------------


def _crank(revs: int, time: int, torque: float | None = None) -> CyclingPowerMeasurement:
    return CyclingPowerMeasurement(
        instantaneous_power_w=200,
        cumulative_crank_revolutions=revs,
        last_crank_event_time=time,
        accumulated_torque_nm=torque,
        accumulated_torque_crank_based=torque is not None,
    )


def test_cadence_and_mean_power_across_rollover() -> None:
    # 90 rpm: 1.5 revolutions per second; the event clock and the counter both wrap
    previous = _crank(0xFFFF, 0xFF00, torque=2040.0)
    current = _crank(2, (0xFF00 + 2048) & 0xFFFF, torque=(2040.0 + 3 * 10.0) % 2048)
    rates = cycling_power_rates(previous, current)
    assert rates.crank_rpm == pytest.approx(90.0)
    # 3 revolutions of 10 N m average torque in 2 s: 2 pi x 30 / 2 W
    assert rates.mean_crank_power_w == pytest.approx(math.pi * 30)
    assert rates.wheel_speed_mps is None


def test_wheel_speed_uses_the_2048_clock() -> None:
    previous = CyclingPowerMeasurement(
        instantaneous_power_w=0, cumulative_wheel_revolutions=0xFFFF_FFFE, last_wheel_event_time=0
    )
    current = replace(previous, cumulative_wheel_revolutions=2, last_wheel_event_time=2048)
    # 4 revolutions in 1 s on a 2.105 m wheel
    assert cycling_power_rates(previous, current).wheel_speed_mps == pytest.approx(4 * 2.105)


def test_no_new_event_is_unknown_not_zero() -> None:
    m = _crank(10, 5000)
    assert cycling_power_rates(m, m).crank_rpm is None


def test_tracker_pairs_crank_and_wheel_notifications_apart() -> None:
    tracker = CyclingPowerTracker(wheel_circumference_m=2.0)
    assert tracker.update(_crank(0, 0)).crank_rpm is None
    wheel = CyclingPowerMeasurement(
        instantaneous_power_w=0, cumulative_wheel_revolutions=0, last_wheel_event_time=0
    )
    assert tracker.update(wheel).crank_rpm is None
    assert tracker.update(_crank(1, 1024)).crank_rpm == pytest.approx(60.0)
    wheel2 = replace(wheel, cumulative_wheel_revolutions=5, last_wheel_event_time=2048)
    assert tracker.update(wheel2).wheel_speed_mps == pytest.approx(10.0)
    tracker.reset()
    assert tracker.update(_crank(2, 2048)).crank_rpm is None


# --- sensor location ----------------------------------------------------------------------------


@fast
@given(st.binary(max_size=3))
def test_sensor_location_decoder_is_total(data: bytes) -> None:
    try:
        location = gatt.decode(SENSOR_LOCATION, data)
    except MalformedPayloadError:
        assert len(data) != 1 or data[0] > 16
        return
    assert encode_sensor_location(location) == data  # type: ignore[arg-type]


def test_sensor_location() -> None:
    assert decode_sensor_location(b"\x0d") is SensorLocation.REAR_HUB
    assert decode_sensor_location(b"\x05") is SensorLocation.LEFT_CRANK
    with pytest.raises(MalformedPayloadError, match="reserved"):
        decode_sensor_location(b"\x11")
    with pytest.raises(ValueError):
        encode_sensor_location(17)
