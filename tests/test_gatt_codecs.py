"""GATT codecs against byte layouts written out by hand from the SIG specs and real bands."""

from __future__ import annotations

import pytest

from edge.errors import MalformedPayloadError
from firmware_bridge import gatt
from firmware_bridge.gatt import uuids
from firmware_bridge.gatt.cycling_speed import (
    CSCMeasurement,
    CSCRates,
    CSCTracker,
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
    steps_from_cadence,
)

HR_NAME = "Heart Rate Measurement (0x2A37)"
RSC_NAME = "RSC Measurement (0x2A53)"
CSC_NAME = "CSC Measurement (0x2A5B)"


# --- UUIDs -------------------------------------------------------------------------------------


def test_uuid16_expands_onto_the_sig_base_uuid() -> None:
    assert uuids.uuid16(0x2A37) == "00002a37-0000-1000-8000-00805f9b34fb"
    assert uuids.HEART_RATE_SERVICE == "0000180d-0000-1000-8000-00805f9b34fb"
    assert uuids.CSC_MEASUREMENT == "00002a5b-0000-1000-8000-00805f9b34fb"


@pytest.mark.parametrize(
    ("constant", "short"),
    [
        ("HEART_RATE_SERVICE", 0x180D),
        ("HEART_RATE_MEASUREMENT", 0x2A37),
        ("BODY_SENSOR_LOCATION", 0x2A38),
        ("RSC_SERVICE", 0x1814),
        ("RSC_MEASUREMENT", 0x2A53),
        ("CSC_SERVICE", 0x1816),
        ("CSC_MEASUREMENT", 0x2A5B),
        ("BATTERY_SERVICE", 0x180F),
        ("BATTERY_LEVEL", 0x2A19),
        ("DEVICE_INFORMATION_SERVICE", 0x180A),
        ("MANUFACTURER_NAME", 0x2A29),
        ("MODEL_NUMBER", 0x2A24),
        ("SERIAL_NUMBER", 0x2A25),
        ("HARDWARE_REVISION", 0x2A27),
        ("FIRMWARE_REVISION", 0x2A26),
        ("SOFTWARE_REVISION", 0x2A28),
    ],
)
def test_uuid_constants(constant: str, short: int) -> None:
    value = getattr(uuids, constant)
    assert value == f"0000{short:04x}-0000-1000-8000-00805f9b34fb"
    assert value == value.lower()


def test_uuid16_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        uuids.uuid16(0x10000)
    with pytest.raises(ValueError):
        uuids.uuid16(-1)


def test_characteristic_names_carry_the_16_bit_number() -> None:
    assert uuids.CHARACTERISTIC_NAMES[uuids.HEART_RATE_MEASUREMENT] == HR_NAME
    assert uuids.CHARACTERISTIC_NAMES[uuids.BATTERY_LEVEL] == "Battery Level (0x2A19)"
    for uuid, name in uuids.CHARACTERISTIC_NAMES.items():
        assert f"(0x{uuid[4:8].upper()})" in name


def test_normalize_uuid_accepts_short_and_upper_case_forms() -> None:
    full = uuids.HEART_RATE_MEASUREMENT
    assert uuids.normalize_uuid("2A37") == full
    assert uuids.normalize_uuid("0x2a37") == full
    assert uuids.normalize_uuid(full.upper()) == full


# --- Heart Rate Measurement --------------------------------------------------------------------


def test_polar_h10_notification() -> None:
    # A Polar H10 notification: RR present, uint8 value, contact bits 0.
    m = decode_heart_rate_measurement(bytes([0x10, 0x48, 0x3D, 0x03]))
    assert m == HeartRateMeasurement(bpm=72, rr_intervals=(829,))
    assert m.rr_intervals_s == (829 / 1024,)
    assert m.contact is None
    assert m.energy_expended_kj is None
    assert not m.wide_format


def test_uint16_value_with_energy_expended() -> None:
    # flags 0x09: uint16 value + energy expended; 150 bpm, 1000 kJ.
    m = decode_heart_rate_measurement(bytes([0x09, 0x96, 0x00, 0xE8, 0x03]))
    assert m == HeartRateMeasurement(bpm=150, energy_expended_kj=1000, wide_format=True)
    assert encode_heart_rate_measurement(m) == bytes([0x09, 0x96, 0x00, 0xE8, 0x03])


def test_uint16_value_above_255() -> None:
    m = decode_heart_rate_measurement(bytes([0x01, 0x2C, 0x01]))
    assert m.bpm == 300
    assert m.wide_format


def test_contact_supported_and_detected() -> None:
    m = decode_heart_rate_measurement(bytes([0x06, 0x50]))
    assert (m.bpm, m.contact_supported, m.contact_detected, m.contact) == (80, True, True, True)


def test_contact_supported_not_detected() -> None:
    m = decode_heart_rate_measurement(bytes([0x04, 0x50]))
    assert (m.contact_supported, m.contact_detected, m.contact) == (True, False, False)


def test_contact_status_value_1_means_not_supported() -> None:
    # Sensor contact status 1 (bit 1 without bit 2) is "not supported", like 0.
    m = decode_heart_rate_measurement(bytes([0x02, 0x50]))
    assert (m.contact_supported, m.contact_detected, m.contact) == (False, False, None)


def test_several_rr_intervals_oldest_first() -> None:
    m = decode_heart_rate_measurement(bytes([0x16, 0x3C, 0x00, 0x04, 0x10, 0x04, 0xF0, 0x03]))
    assert m.bpm == 60
    assert m.contact is True
    assert m.rr_intervals == (1024, 1040, 1008)
    assert m.rr_intervals_s == (1.0, 1040 / 1024, 1008 / 1024)


def test_everything_at_once() -> None:
    data = bytes([0x1F, 0x00, 0x01, 0x10, 0x27, 0x00, 0x02])
    m = decode_heart_rate_measurement(data)
    assert m == HeartRateMeasurement(
        bpm=256,
        contact_supported=True,
        contact_detected=True,
        energy_expended_kj=10000,
        rr_intervals=(512,),
        wide_format=True,
    )
    assert encode_heart_rate_measurement(m) == data


def test_reserved_flag_bits_are_ignored_but_fields_decode_exactly() -> None:
    # 0xF6: bits 5-7 reserved set, contact supported and detected, RR present.
    m = decode_heart_rate_measurement(bytes([0xF6, 0x48, 0x00, 0x04]))
    assert m == HeartRateMeasurement(
        bpm=72, contact_supported=True, contact_detected=True, rr_intervals=(1024,)
    )
    assert decode_heart_rate_measurement(bytes([0xE0, 0x48])) == HeartRateMeasurement(bpm=72)


def test_rr_flag_with_no_rr_bytes_is_no_intervals() -> None:
    assert decode_heart_rate_measurement(bytes([0x10, 0x48])).rr_intervals == ()


def test_encode_chooses_uint8_or_uint16() -> None:
    assert encode_heart_rate_measurement(HeartRateMeasurement(bpm=72)) == bytes([0x00, 0x48])
    assert encode_heart_rate_measurement(HeartRateMeasurement(bpm=72, wide_format=True)) == bytes(
        [0x01, 0x48, 0x00]
    )
    assert encode_heart_rate_measurement(HeartRateMeasurement(bpm=300)) == bytes([0x01, 0x2C, 0x01])
    assert encode_heart_rate_measurement(
        HeartRateMeasurement(bpm=72, rr_intervals=(829,))
    ) == bytes([0x10, 0x48, 0x3D, 0x03])


@pytest.mark.parametrize(
    "m",
    [
        HeartRateMeasurement(bpm=-1),
        HeartRateMeasurement(bpm=65536),
        HeartRateMeasurement(bpm=60, energy_expended_kj=70000),
        HeartRateMeasurement(bpm=60, rr_intervals=(1000, -5)),
        HeartRateMeasurement(bpm=60, rr_intervals=(65536,)),
        HeartRateMeasurement(bpm=60, contact_detected=True),
    ],
)
def test_encode_refuses_what_the_wire_cannot_carry(m: HeartRateMeasurement) -> None:
    with pytest.raises(ValueError):
        encode_heart_rate_measurement(m)


def test_encode_refuses_non_int_bpm() -> None:
    with pytest.raises(TypeError):
        encode_heart_rate_measurement(HeartRateMeasurement(bpm=72.5))  # type: ignore[arg-type]


def test_rr_seconds_to_raw() -> None:
    assert rr_seconds_to_raw(1.0) == 1024
    assert rr_seconds_to_raw(829 / 1024) == 829
    assert rr_seconds_to_raw(0.8) == 819  # 819.2 rounds down
    with pytest.raises(ValueError):
        rr_seconds_to_raw(-0.1)
    with pytest.raises(ValueError):
        rr_seconds_to_raw(64.0)
    with pytest.raises(ValueError):
        rr_seconds_to_raw(float("nan"))


@pytest.mark.parametrize(
    ("data", "reason_part"),
    [
        (b"", "empty payload"),
        (bytes([0x00]), "uint8 heart rate but no value byte"),
        (bytes([0x01, 0x48]), "flags say uint16 heart rate but only 1 value byte follows"),
        (bytes([0x01]), "flags say uint16 heart rate but only 0 value bytes follow"),
        (bytes([0x08, 0x48, 0x01]), "energy expended"),
        (bytes([0x10, 0x48, 0x3D]), "odd number of bytes (1)"),
        (bytes([0x10, 0x48, 0x3D, 0x03, 0x3D]), "odd number of bytes (3)"),
        (bytes([0x00, 0x48, 0x00]), "left after the last field"),
    ],
)
def test_malformed_heart_rate(data: bytes, reason_part: str) -> None:
    with pytest.raises(MalformedPayloadError) as caught:
        decode_heart_rate_measurement(data)
    error = caught.value
    assert error.characteristic == HR_NAME
    assert error.payload == data
    assert reason_part in error.reason
    message = str(error)
    assert HR_NAME in message
    assert (data.hex(" ") if data else "(empty)") in message


def test_malformed_message_shows_the_hex_bytes() -> None:
    with pytest.raises(MalformedPayloadError) as caught:
        decode_heart_rate_measurement(bytes([0x10, 0x48, 0x3D]))
    assert "Heart Rate Measurement (0x2A37)" in str(caught.value)
    assert "10 48 3d" in str(caught.value)


def test_decoders_accept_bytearray_and_refuse_non_bytes() -> None:
    assert decode_heart_rate_measurement(bytearray([0x00, 0x48])).bpm == 72
    with pytest.raises(TypeError):
        decode_heart_rate_measurement(5)  # type: ignore[arg-type]


# --- RSC Measurement ---------------------------------------------------------------------------


def test_rsc_walking_without_stride_or_distance() -> None:
    # 1.5 m/s = 384/256, 112 steps/min.
    data = bytes([0x00, 0x80, 0x01, 0x70])
    m = decode_rsc_measurement(data)
    assert m == RSCMeasurement(speed_mps=1.5, cadence_spm=112)
    assert not m.is_running
    assert encode_rsc_measurement(m) == data


def test_rsc_running_with_stride_and_distance() -> None:
    # 3.5 m/s = 896, 170 spm, stride 1.24 m = 124, distance 1234.5 m = 12345.
    data = bytes([0x07, 0x80, 0x03, 0xAA, 0x7C, 0x00, 0x39, 0x30, 0x00, 0x00])
    m = decode_rsc_measurement(data)
    assert m == RSCMeasurement(
        speed_mps=3.5,
        cadence_spm=170,
        stride_length_m=1.24,
        total_distance_m=1234.5,
        is_running=True,
    )
    assert encode_rsc_measurement(m) == data


def test_rsc_running_with_stride_only() -> None:
    m = decode_rsc_measurement(bytes([0x05, 0x00, 0x03, 0xA0, 0x78, 0x00]))
    assert m == RSCMeasurement(speed_mps=3.0, cadence_spm=160, stride_length_m=1.2, is_running=True)


def test_rsc_walking_with_distance_only() -> None:
    m = decode_rsc_measurement(bytes([0x02, 0x40, 0x01, 0x64, 0x10, 0x27, 0x00, 0x00]))
    assert m == RSCMeasurement(speed_mps=1.25, cadence_spm=100, total_distance_m=1000.0)


def test_rsc_reserved_flag_bits_ignored() -> None:
    m = decode_rsc_measurement(bytes([0xF8, 0x80, 0x01, 0x70]))
    assert m == RSCMeasurement(speed_mps=1.5, cadence_spm=112)


def test_rsc_encode_rounds_to_resolution() -> None:
    m = RSCMeasurement(speed_mps=3.3, cadence_spm=170, stride_length_m=1.234, total_distance_m=5.04)
    # 3.3 * 256 = 844.8 -> 845; 1.234 m -> 123; 5.04 m -> 50.
    assert encode_rsc_measurement(m) == bytes([0x03, 0x4D, 0x03, 0xAA, 0x7B, 0x00, 0x32, 0, 0, 0])
    assert decode_rsc_measurement(encode_rsc_measurement(m)) == RSCMeasurement(
        speed_mps=845 / 256, cadence_spm=170, stride_length_m=1.23, total_distance_m=5.0
    )


@pytest.mark.parametrize(
    "m",
    [
        RSCMeasurement(speed_mps=-1.0, cadence_spm=100),
        RSCMeasurement(speed_mps=256.0, cadence_spm=100),
        RSCMeasurement(speed_mps=float("inf"), cadence_spm=100),
        RSCMeasurement(speed_mps=3.0, cadence_spm=256),
        RSCMeasurement(speed_mps=3.0, cadence_spm=-1),
        RSCMeasurement(speed_mps=3.0, cadence_spm=160, stride_length_m=700.0),
        RSCMeasurement(speed_mps=3.0, cadence_spm=160, total_distance_m=-0.5),
    ],
)
def test_rsc_encode_refuses_out_of_range(m: RSCMeasurement) -> None:
    with pytest.raises(ValueError):
        encode_rsc_measurement(m)


@pytest.mark.parametrize(
    ("data", "reason_part"),
    [
        (b"", "empty payload"),
        (bytes([0x00, 0x80, 0x01]), "too short"),
        (bytes([0x01, 0x80, 0x01, 0x70]), "stride length (uint16)"),
        (bytes([0x02, 0x80, 0x01, 0x70, 0x10, 0x27, 0x00]), "total distance (uint32)"),
        (bytes([0x00, 0x80, 0x01, 0x70, 0x00]), "too long"),
    ],
)
def test_malformed_rsc(data: bytes, reason_part: str) -> None:
    with pytest.raises(MalformedPayloadError) as caught:
        decode_rsc_measurement(data)
    assert caught.value.characteristic == RSC_NAME
    assert reason_part in caught.value.reason
    assert RSC_NAME in str(caught.value)
    assert (data.hex(" ") if data else "(empty)") in str(caught.value)


def test_steps_from_cadence_counts_steps_not_strides() -> None:
    assert steps_from_cadence(180, 60) == 180.0
    assert steps_from_cadence(170, 1.0) == pytest.approx(170 / 60)
    assert steps_from_cadence(0, 30) == 0.0
    with pytest.raises(ValueError):
        steps_from_cadence(-1, 10)
    with pytest.raises(ValueError):
        steps_from_cadence(160, float("nan"))


# --- CSC Measurement ---------------------------------------------------------------------------


def test_csc_wheel_only() -> None:
    data = bytes([0x01, 0x10, 0x27, 0x00, 0x00, 0x00, 0x04])
    m = decode_csc_measurement(data)
    assert m == CSCMeasurement(cumulative_wheel_revolutions=10000, last_wheel_event_time=1024)
    assert encode_csc_measurement(m) == data


def test_csc_crank_only() -> None:
    data = bytes([0x02, 0x2C, 0x01, 0x00, 0x08])
    m = decode_csc_measurement(data)
    assert m == CSCMeasurement(cumulative_crank_revolutions=300, last_crank_event_time=2048)
    assert encode_csc_measurement(m) == data


def test_csc_wheel_and_crank() -> None:
    data = bytes([0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0xE8, 0xFD, 0x64, 0x00, 0x34, 0x12])
    m = decode_csc_measurement(data)
    assert m == CSCMeasurement(
        cumulative_wheel_revolutions=0xFFFFFFFF,
        last_wheel_event_time=65000,
        cumulative_crank_revolutions=100,
        last_crank_event_time=0x1234,
    )
    assert encode_csc_measurement(m) == data


def test_csc_no_data_and_reserved_bits() -> None:
    assert decode_csc_measurement(bytes([0x00])) == CSCMeasurement()
    assert decode_csc_measurement(bytes([0xFC])) == CSCMeasurement()
    assert decode_csc_measurement(bytes([0xFE, 0x2C, 0x01, 0x00, 0x08])).last_crank_event_time == (
        2048
    )


@pytest.mark.parametrize(
    ("data", "reason_part"),
    [
        (b"", "empty payload"),
        (bytes([0x01, 0x10, 0x27, 0x00, 0x00, 0x00]), "too short"),
        (bytes([0x02, 0x2C, 0x01, 0x00]), "crank data"),
        (bytes([0x03, 0x10, 0x27, 0x00, 0x00, 0x00, 0x04, 0x2C, 0x01]), "wheel data"),
        (bytes([0x00, 0x00]), "too long"),
    ],
)
def test_malformed_csc(data: bytes, reason_part: str) -> None:
    with pytest.raises(MalformedPayloadError) as caught:
        decode_csc_measurement(data)
    assert caught.value.characteristic == CSC_NAME
    assert reason_part in caught.value.reason
    assert (data.hex(" ") if data else "(empty)") in str(caught.value)


def test_csc_encode_refuses_half_a_pair_and_overflow() -> None:
    with pytest.raises(ValueError):
        encode_csc_measurement(CSCMeasurement(cumulative_wheel_revolutions=5))
    with pytest.raises(ValueError):
        encode_csc_measurement(CSCMeasurement(last_crank_event_time=5))
    with pytest.raises(ValueError):
        encode_csc_measurement(
            CSCMeasurement(cumulative_crank_revolutions=65536, last_crank_event_time=0)
        )
    with pytest.raises(ValueError):
        encode_csc_measurement(
            CSCMeasurement(cumulative_wheel_revolutions=2**32, last_wheel_event_time=0)
        )


def crank(revs: int, time: int) -> CSCMeasurement:
    return CSCMeasurement(cumulative_crank_revolutions=revs, last_crank_event_time=time)


def wheel(revs: int, time: int) -> CSCMeasurement:
    return CSCMeasurement(cumulative_wheel_revolutions=revs, last_wheel_event_time=time)


def test_cadence_from_two_crank_events() -> None:
    # 3 revolutions in 2 s (2048 ticks) = 90 rpm.
    rates = csc_rates(crank(100, 1000), crank(103, 3048))
    assert rates == CSCRates(crank_rpm=90.0, wheel_speed_mps=None)


def test_cadence_across_event_time_rollover() -> None:
    # 65000 -> 500 is 1036 ticks, not -64500.
    rates = csc_rates(crank(100, 65000), crank(101, 500))
    assert rates.crank_rpm == pytest.approx(60 * 1024 / 1036)
    assert rates.crank_rpm == pytest.approx(59.305, abs=1e-3)


def test_cadence_across_crank_counter_rollover() -> None:
    rates = csc_rates(crank(65535, 65024), crank(1, 512))  # 2 revs in 1024 ticks
    assert rates.crank_rpm == pytest.approx(120.0)


def test_wheel_speed_and_wheel_counter_rollover() -> None:
    assert csc_rates(wheel(1000, 1024), wheel(1002, 2048)).wheel_speed_mps == pytest.approx(4.21)
    rates = csc_rates(wheel(0xFFFFFFFF, 65024), wheel(2, 1024), wheel_circumference_m=2.0)
    assert rates.wheel_speed_mps == pytest.approx(3 * 2.0 * 1024 / 1536)


def test_no_new_event_is_unknown_not_zero() -> None:
    assert csc_rates(crank(100, 5000), crank(100, 5000)).crank_rpm is None
    assert csc_rates(wheel(7, 5000), wheel(7, 5000)).wheel_speed_mps is None


def test_counter_going_backwards_is_unknown() -> None:
    assert csc_rates(crank(500, 1000), crank(0, 2000)).crank_rpm is None
    assert csc_rates(wheel(5000, 1000), wheel(0, 2000)).wheel_speed_mps is None


def test_missing_pair_gives_none() -> None:
    rates = csc_rates(wheel(1, 0), crank(1, 1024))
    assert rates == CSCRates(crank_rpm=None, wheel_speed_mps=None)


def test_both_rates_from_combined_sensor() -> None:
    previous = CSCMeasurement(10, 1024, 20, 1024)
    current = CSCMeasurement(14, 2048, 21, 1707)
    rates = csc_rates(previous, current, wheel_circumference_m=2.1)
    assert rates.wheel_speed_mps == pytest.approx(4 * 2.1)
    assert rates.crank_rpm == pytest.approx(60 * 1024 / 683)


def test_csc_rates_refuses_bad_circumference() -> None:
    with pytest.raises(ValueError):
        csc_rates(crank(1, 1), crank(2, 2), wheel_circumference_m=0)
    with pytest.raises(ValueError):
        CSCTracker(wheel_circumference_m=float("nan"))


def test_tracker_pairs_alternating_wheel_and_crank_notifications() -> None:
    tracker = CSCTracker(wheel_circumference_m=2.0)
    assert tracker.update(wheel(100, 0)) == CSCRates(None, None)
    assert tracker.update(crank(50, 0)) == CSCRates(None, None)
    assert tracker.update(wheel(102, 1024)) == CSCRates(crank_rpm=None, wheel_speed_mps=4.0)
    assert tracker.update(crank(51, 512)) == CSCRates(crank_rpm=120.0, wheel_speed_mps=None)
    # Same crank event again: unknown, and the tracker keeps the pair for the next one.
    assert tracker.update(crank(51, 512)).crank_rpm is None
    assert tracker.update(crank(52, 1024)).crank_rpm == 120.0
    tracker.reset()
    assert tracker.update(crank(53, 1536)) == CSCRates(None, None)


# --- Battery, body sensor location, device information -----------------------------------------


def test_battery_level() -> None:
    assert decode_battery_level(bytes([0x57])) == 87
    assert decode_battery_level(bytes([0])) == 0
    assert decode_battery_level(bytes([100])) == 100
    assert encode_battery_level(87) == bytes([0x57])
    with pytest.raises(ValueError):
        encode_battery_level(101)


@pytest.mark.parametrize("data", [b"", bytes([101]), bytes([0xFF]), bytes([50, 0])])
def test_malformed_battery_level(data: bytes) -> None:
    with pytest.raises(MalformedPayloadError, match=r"Battery Level \(0x2A19\)"):
        decode_battery_level(data)


def test_body_sensor_location() -> None:
    assert decode_body_sensor_location(bytes([0x01])) is BodySensorLocation.CHEST
    assert decode_body_sensor_location(bytes([0x02])) is BodySensorLocation.WRIST
    assert decode_body_sensor_location(bytes([0x06])) is BodySensorLocation.FOOT
    assert encode_body_sensor_location(BodySensorLocation.EAR_LOBE) == bytes([5])
    assert encode_body_sensor_location(3) == bytes([3])
    with pytest.raises(ValueError):
        encode_body_sensor_location(7)


@pytest.mark.parametrize("data", [b"", bytes([7]), bytes([0xFF]), bytes([1, 1])])
def test_malformed_body_sensor_location(data: bytes) -> None:
    with pytest.raises(MalformedPayloadError, match=r"Body Sensor Location \(0x2A38\)"):
        decode_body_sensor_location(data)


def test_device_information_strings() -> None:
    assert decode_device_information_string(uuids.MANUFACTURER_NAME, b"Polar Electro Oy") == (
        "Polar Electro Oy"
    )
    # Some bands send their whole fixed-size buffer.
    assert decode_device_information_string(uuids.MODEL_NUMBER, b"H10\x00\x00\x00") == "H10"
    assert decode_device_information_string(uuids.FIRMWARE_REVISION, b"") == ""
    assert decode_device_information_string("2A29", "Süunto".encode()) == "Süunto"
    assert encode_device_information_string("5.0.0") == b"5.0.0"
    with pytest.raises(ValueError):
        encode_device_information_string("H10\x00")


def test_malformed_device_information() -> None:
    with pytest.raises(MalformedPayloadError, match=r"Serial Number String \(0x2A25\).*ff fe"):
        decode_device_information_string(uuids.SERIAL_NUMBER, b"\xff\xfe")
    with pytest.raises(MalformedPayloadError, match="not a Device Information string"):
        decode_device_information_string(uuids.BATTERY_LEVEL, b"abc")


# --- Dispatcher --------------------------------------------------------------------------------


def test_decode_dispatches_by_uuid() -> None:
    assert gatt.decode(uuids.HEART_RATE_MEASUREMENT, bytes([0x10, 0x48, 0x3D, 0x03])) == (
        HeartRateMeasurement(bpm=72, rr_intervals=(829,))
    )
    assert gatt.decode(uuids.BODY_SENSOR_LOCATION, bytes([1])) is BodySensorLocation.CHEST
    assert gatt.decode(uuids.RSC_MEASUREMENT, bytes([0x00, 0x80, 0x01, 0x70])) == RSCMeasurement(
        1.5, 112
    )
    assert gatt.decode(uuids.CSC_MEASUREMENT, bytes([0x02, 0x2C, 0x01, 0x00, 0x08])) == crank(
        300, 2048
    )
    assert gatt.decode(uuids.BATTERY_LEVEL, bytes([42])) == 42
    assert gatt.decode(uuids.SOFTWARE_REVISION, b"1.2.3\x00") == "1.2.3"
    assert gatt.decode("00002A37-0000-1000-8000-00805F9B34FB", bytes([0x00, 0x3C])).bpm == 60


def test_decode_unknown_uuid_is_malformed_not_key_error() -> None:
    unknown = uuids.uuid16(0x2A5C)
    with pytest.raises(MalformedPayloadError, match="no decoder for this characteristic") as e:
        gatt.decode(unknown, b"\x01")
    assert e.value.characteristic == unknown


def test_encode_dispatches_by_uuid() -> None:
    assert gatt.encode(uuids.BATTERY_LEVEL, 42) == bytes([42])
    assert gatt.encode(uuids.HEART_RATE_MEASUREMENT, HeartRateMeasurement(72)) == b"\x00\x48"
    with pytest.raises(ValueError):
        gatt.encode(uuids.uuid16(0x2A5C), 1)


def test_values_are_frozen() -> None:
    m = HeartRateMeasurement(bpm=72)
    with pytest.raises(AttributeError):
        m.bpm = 80  # type: ignore[misc]
    assert not hasattr(m, "__dict__")  # slots
