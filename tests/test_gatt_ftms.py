"""Fitness Machine Service codecs: byte vectors from the specification and from real machines,
every flag combination, total decoders, the More Data assembler, control point and status."""

from __future__ import annotations

import dataclasses
import itertools
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import gatt
from firmware_bridge.errors import MalformedPayloadError
from firmware_bridge.gatt import fitness_machine as fm
from firmware_bridge.gatt import uuids

fast = settings(deadline=None)

# Bytes each flag bit announces, transcribed from the FTMS 1.0 tables (not from the codec):
# (flags size, {bit: bytes}, the inverted "More Data" bit 0's bytes, flag-only bits).
LAYOUTS: dict[str, tuple[int, dict[int, int], int, tuple[int, ...]]] = {
    uuids.INDOOR_BIKE_DATA: (
        2,
        {1: 2, 2: 2, 3: 2, 4: 3, 5: 2, 6: 2, 7: 2, 8: 5, 9: 1, 10: 1, 11: 2, 12: 2},
        2,
        (),
    ),
    uuids.TREADMILL_DATA: (
        2,
        {1: 2, 2: 3, 3: 4, 4: 4, 5: 1, 6: 1, 7: 5, 8: 1, 9: 1, 10: 2, 11: 2, 12: 4},
        2,
        (),
    ),
    uuids.CROSS_TRAINER_DATA: (
        3,
        {1: 2, 2: 3, 3: 4, 4: 2, 5: 4, 6: 4, 7: 2, 8: 2, 9: 2, 10: 5, 11: 1, 12: 1, 13: 2, 14: 2},
        2,
        (15,),
    ),
    uuids.ROWER_DATA: (
        2,
        {1: 1, 2: 3, 3: 2, 4: 2, 5: 2, 6: 2, 7: 2, 8: 5, 9: 1, 10: 1, 11: 2, 12: 2},
        3,
        (),
    ),
}

CODECS: dict[str, tuple[Callable[[bytes], Any], Callable[[Any], bytes]]] = {
    uuids.INDOOR_BIKE_DATA: (fm.decode_indoor_bike_data, fm.encode_indoor_bike_data),
    uuids.TREADMILL_DATA: (fm.decode_treadmill_data, fm.encode_treadmill_data),
    uuids.CROSS_TRAINER_DATA: (fm.decode_cross_trainer_data, fm.encode_cross_trainer_data),
    uuids.ROWER_DATA: (fm.decode_rower_data, fm.encode_rower_data),
}
RECORD_TYPES = {
    uuids.INDOOR_BIKE_DATA: fm.IndoorBikeData,
    uuids.TREADMILL_DATA: fm.TreadmillData,
    uuids.CROSS_TRAINER_DATA: fm.CrossTrainerData,
    uuids.ROWER_DATA: fm.RowerData,
}


def _payload(uuid: str, flags: int, pool: bytes) -> bytes:
    flags_size, sizes, more_size, _ = LAYOUTS[uuid]
    size = (0 if flags & 1 else more_size) + sum(s for b, s in sizes.items() if flags >> b & 1)
    return flags.to_bytes(flags_size, "little") + pool[:size]


# --- real machines and the specification --------------------------------------------------------


def test_jetblack_volt_indoor_bike_data() -> None:
    # captured from a Jetblack Volt (Berg0162/simcline issue 9): speed, cadence, resistance 20,
    # power, heart rate; resistance is a sint16 in the data record
    m = fm.decode_indoor_bike_data(bytes.fromhex("6402 0000 0000 1400 0000 00"))
    assert m == fm.IndoorBikeData(
        instantaneous_speed_kmh=0.0,
        instantaneous_cadence_rpm=0.0,
        resistance_level=20,
        instantaneous_power_w=0,
        heart_rate_bpm=0,
    )


def test_zwift_hub_indoor_bike_data_with_uint24_distance() -> None:
    # a Zwift Hub record (simcline issue 7): 20 bytes, every field up to heart rate
    data = bytes.fromhex("fe02 fe09 3408 8e00 7c00 4a0100 1400 c700 6800 00")
    m = fm.decode_indoor_bike_data(data)
    assert m.instantaneous_speed_kmh == 25.58
    assert m.average_speed_kmh == 21.0
    assert (m.instantaneous_cadence_rpm, m.average_cadence_rpm) == (71.0, 62.0)
    assert m.total_distance_m == 330
    assert m.resistance_level == 20
    assert (m.instantaneous_power_w, m.average_power_w) == (199, 104)
    assert m.heart_rate_bpm == 0
    assert not m.more_data
    assert fm.encode_indoor_bike_data(m) == data


def test_elite_trainer_elapsed_time() -> None:
    # an Elite trainer (simcline issue 4): 49 s elapsed
    m = fm.decode_indoor_bike_data(bytes.fromhex("5408 0000 0000 000000 0000 3100"))
    assert (m.total_distance_m, m.elapsed_time_s) == (0, 49)


def test_treadmill_signed_inclination_and_pace() -> None:
    flags = (1 << 2) | (1 << 3) | (1 << 5)
    data = struct.pack("<HH", flags, 1050) + (1234).to_bytes(3, "little")
    data += struct.pack("<hhB", -15, -9, 57)
    m = fm.decode_treadmill_data(data)
    assert m.instantaneous_speed_kmh == 10.5
    assert m.total_distance_m == 1234
    assert (m.inclination_percent, m.ramp_angle_deg) == (-1.5, -0.9)
    assert m.instantaneous_pace_km_per_min == 5.7
    assert fm.encode_treadmill_data(m) == data


def test_treadmill_more_data_part_has_no_speed() -> None:
    m = fm.decode_treadmill_data(bytes.fromhex("0101 64"))  # More Data + heart rate 100
    assert m.more_data and m.instantaneous_speed_kmh is None and m.heart_rate_bpm == 100


def test_cross_trainer_three_byte_flags_and_direction() -> None:
    flags = (1 << 7) | (1 << 15)  # resistance + moving backwards
    data = flags.to_bytes(3, "little") + struct.pack("<Hh", 420, -25)
    m = fm.decode_cross_trainer_data(data)
    assert m.instantaneous_speed_kmh == 4.2
    assert m.resistance_level == -2.5
    assert m.moving_backward
    assert fm.encode_cross_trainer_data(m) == data


def test_rower_stroke_rate_in_half_strokes() -> None:
    data = struct.pack("<HBH", 1 << 5, 57, 312) + struct.pack("<h", 180)
    m = fm.decode_rower_data(data)
    assert (m.stroke_rate_spm, m.stroke_count, m.instantaneous_power_w) == (28.5, 312, 180)
    assert fm.encode_rower_data(m) == data


@pytest.mark.parametrize("uuid", list(LAYOUTS))
def test_data_records_malformed(uuid: str) -> None:
    decode, _ = CODECS[uuid]
    flags_size = LAYOUTS[uuid][0]
    for data, reason in [
        (b"", "too short"),
        (b"\x00" * (flags_size - 1), "too short"),
        (b"\x00" * flags_size + b"\x01", "too short"),  # speed / stroke data cut short
        (b"\x01" + b"\x00" * (flags_size - 1) + b"\x05", "too long"),
    ]:
        with pytest.raises(MalformedPayloadError, match=reason) as caught:
            decode(data)
        assert uuids.characteristic_name(uuid) in str(caught.value)


def test_encoder_refuses_half_groups_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="travel together"):
        fm.encode_indoor_bike_data(fm.IndoorBikeData(total_energy_kcal=5))
    with pytest.raises(ValueError, match="uint24"):
        fm.encode_indoor_bike_data(fm.IndoorBikeData(total_distance_m=1 << 24))
    with pytest.raises(ValueError, match="sint16"):
        fm.encode_treadmill_data(fm.TreadmillData(inclination_percent=4000.0, ramp_angle_deg=0.0))


@pytest.mark.parametrize("uuid", [uuids.INDOOR_BIKE_DATA, uuids.TREADMILL_DATA, uuids.ROWER_DATA])
def test_every_flag_combination_round_trips(uuid: str) -> None:
    decode, encode = CODECS[uuid]
    pool = bytes(range(7, 7 + 40))
    for flags in range(1 << 13):
        data = _payload(uuid, flags, pool)
        record = decode(data)
        assert encode(record) == data
        assert gatt.decode(uuid, data) == record


def test_every_cross_trainer_flag_combination_round_trips() -> None:
    pool = bytes(range(3, 3 + 48))
    for flags in range(1 << 16):
        data = _payload(uuids.CROSS_TRAINER_DATA, flags, pool)
        assert fm.encode_cross_trainer_data(fm.decode_cross_trainer_data(data)) == data


# --- properties ---------------------------------------------------------------------------------

_RANGES = {
    "B": (0, 0xFF),
    "b": (-0x80, 0x7F),
    "H": (0, 0xFFFF),
    "h": (-0x8000, 0x7FFF),
    "I": (0, 0xFFFF_FFFF),
    "u24": (0, 0xFF_FFFF),
}


@st.composite
def records(draw: st.DrawFn, cls: type) -> Any:
    """A record with every group present or absent at random, values on the wire's grid."""
    values: dict[str, object] = {}
    groups: dict[object, list[dataclasses.Field[Any]]] = {}
    for f in dataclasses.fields(cls):
        if "flag" in f.metadata:
            values[f.name] = draw(st.booleans())
        else:
            groups.setdefault(f.metadata["bit"], []).append(f)
    for group in groups.values():
        if not draw(st.booleans()):
            continue
        for f in group:
            low, high = _RANGES[f.metadata["wire"]]
            raw = draw(st.integers(low, high))
            per = f.metadata["per_unit"]
            values[f.name] = raw if per == 1 else raw / per
    return cls(**values)


@pytest.mark.parametrize("uuid", list(LAYOUTS))
def test_records_encode_then_decode(uuid: str) -> None:
    decode, encode = CODECS[uuid]

    @fast
    @given(records(RECORD_TYPES[uuid]))
    def check(record: Any) -> None:
        assert decode(encode(record)) == record
        assert gatt.decode(uuid, gatt.encode(uuid, record)) == record

    check()


@pytest.mark.parametrize(
    "uuid",
    list(LAYOUTS)
    + [
        uuids.FITNESS_MACHINE_FEATURE,
        uuids.TRAINING_STATUS,
        uuids.SUPPORTED_SPEED_RANGE,
        uuids.SUPPORTED_INCLINATION_RANGE,
        uuids.SUPPORTED_RESISTANCE_LEVEL_RANGE,
        uuids.SUPPORTED_HEART_RATE_RANGE,
        uuids.SUPPORTED_POWER_RANGE,
        uuids.FITNESS_MACHINE_CONTROL_POINT,
        uuids.FITNESS_MACHINE_STATUS,
    ],
)
def test_decoders_are_total(uuid: str) -> None:
    @fast
    @given(st.binary(max_size=40))
    def check(data: bytes) -> None:
        try:
            value = gatt.decode(uuid, data)
        except MalformedPayloadError as error:
            assert error.payload == data and error.reason
            return
        # what decodes re-encodes, and that means the same thing
        assert gatt.decode(uuid, gatt.encode(uuid, value)) == value

    check()


# --- More Data ----------------------------------------------------------------------------------


def test_split_record_is_assembled() -> None:
    assembler: fm.FitnessMachineRecordAssembler[fm.IndoorBikeData] = (
        fm.FitnessMachineRecordAssembler()
    )
    first = fm.IndoorBikeData(
        total_energy_kcal=12, energy_per_hour_kcal=400, energy_per_minute_kcal=7
    )
    second = fm.IndoorBikeData(heart_rate_bpm=131, elapsed_time_s=95)
    last = fm.IndoorBikeData(instantaneous_speed_kmh=31.2, instantaneous_power_w=240)
    assert first.more_data and second.more_data and not last.more_data
    assert assembler.feed(first) == ()
    assert assembler.feed(second) == ()
    (record,) = assembler.feed(last)
    assert record == fm.IndoorBikeData(
        instantaneous_speed_kmh=31.2,
        instantaneous_power_w=240,
        total_energy_kcal=12,
        energy_per_hour_kcal=400,
        energy_per_minute_kcal=7,
        heart_rate_bpm=131,
        elapsed_time_s=95,
    )
    assert not record.more_data
    assert assembler.pending == ()


def test_whole_records_pass_straight_through() -> None:
    assembler: fm.FitnessMachineRecordAssembler[fm.TreadmillData] = (
        fm.FitnessMachineRecordAssembler()
    )
    record = fm.TreadmillData(instantaneous_speed_kmh=9.5)
    assert assembler.feed(record) == (record,)


def test_machine_that_never_ends_a_record_loses_nothing() -> None:
    # a rower that always sets More Data: each repeat of a field closes the pending record
    assembler: fm.FitnessMachineRecordAssembler[fm.RowerData] = fm.FitnessMachineRecordAssembler()
    a = fm.RowerData(instantaneous_power_w=150)
    b = fm.RowerData(instantaneous_power_w=160)
    assert assembler.feed(a) == ()
    assert assembler.feed(b) == (a,)
    assert assembler.flush() == b
    assert assembler.flush() is None


def test_assembler_caps_pending_parts() -> None:
    assembler: fm.FitnessMachineRecordAssembler[fm.IndoorBikeData] = (
        fm.FitnessMachineRecordAssembler(max_parts=2)
    )
    assert assembler.feed(fm.IndoorBikeData(heart_rate_bpm=100)) == ()
    (merged,) = assembler.feed(fm.IndoorBikeData(elapsed_time_s=3))
    assert (merged.heart_rate_bpm, merged.elapsed_time_s, merged.more_data) == (100, 3, True)


# --- feature, ranges, training status -----------------------------------------------------------


def test_feature_of_a_smart_trainer() -> None:
    # cadence, power measurement; targets: resistance, power, simulation
    machine = (1 << 1) | (1 << 14)
    targets = (1 << 2) | (1 << 3) | (1 << 13)
    data = struct.pack("<II", machine, targets)
    feature = fm.decode_fitness_machine_feature(data)
    assert fm.TargetSettingFeature.POWER in feature.target_settings
    assert fm.TargetSettingFeature.SPEED not in feature.target_settings
    assert feature.measures() == ("cadence", "power measurement")
    assert feature.targets() == ("resistance", "power", "indoor bike simulation")
    assert fm.encode_fitness_machine_feature(feature) == data
    with pytest.raises(MalformedPayloadError, match="8 bytes"):
        fm.decode_fitness_machine_feature(data[:4])


def test_supported_ranges() -> None:
    # WLT-BK bike (qdomyos-zwift PR 5075): resistance 1..24 step 1, in tenths
    r = fm.decode_supported_resistance_level_range(bytes.fromhex("0a00 f000 0a00"))
    assert r == fm.SupportedResistanceLevelRange(1.0, 24.0, 1.0)
    p = fm.decode_supported_power_range(bytes.fromhex("0000 d007 0100"))
    assert p == fm.SupportedPowerRange(minimum_w=0, maximum_w=2000, minimum_increment_w=1)
    i = fm.decode_supported_inclination_range(struct.pack("<hhH", -30, 150, 5))
    assert i == fm.SupportedInclinationRange(-3.0, 15.0, 0.5)
    s = fm.decode_supported_speed_range(struct.pack("<HHH", 100, 2000, 10))
    assert s == fm.SupportedSpeedRange(1.0, 20.0, 0.1)
    h = fm.decode_supported_heart_rate_range(bytes([60, 190, 1]))
    assert h == fm.SupportedHeartRateRange(60, 190, 1)
    with pytest.raises(MalformedPayloadError, match="too short"):
        fm.decode_supported_power_range(bytes(5))


def test_training_status() -> None:
    status = fm.decode_training_status(bytes([0x01, 0x0C]) + b"ERG 200W")
    assert status.code is fm.TrainingStatusCode.WATT_CONTROL and status.text == "ERG 200W"
    assert fm.decode_training_status(bytes([0x00, 0x01])) == fm.TrainingStatus(status=1)
    assert fm.decode_training_status(bytes([0x00, 0x42])).code is None  # reserved, kept
    with pytest.raises(MalformedPayloadError, match="UTF-8"):
        fm.decode_training_status(bytes([0x01, 0x01, 0xFF]))
    with pytest.raises(MalformedPayloadError, match="string flag"):
        fm.decode_training_status(bytes([0x00, 0x01, 0x41]))


# --- control point ------------------------------------------------------------------------------

REQUEST_VECTORS = [
    ("00", fm.RequestControl()),
    ("01", fm.Reset()),
    ("02 c604", fm.SetTargetSpeed(12.22)),
    ("03 e7ff", fm.SetTargetInclination(-2.5)),
    ("04 5d", fm.SetTargetResistanceLevel(9.3)),
    ("05 fa00", fm.SetTargetPower(250)),
    ("06 8c", fm.SetTargetHeartRate(140)),
    ("07", fm.StartOrResume()),
    ("08 01", fm.StopOrPause(pause=False)),
    ("08 02", fm.StopOrPause(pause=True)),
    ("09 2c01", fm.SetTargetedExpendedEnergy(300)),
    ("0a 1027", fm.SetTargetedSteps(10000)),
    ("0b e803", fm.SetTargetedStrides(1000)),
    ("0c 102700", fm.SetTargetedDistance(10000)),
    ("0d 0807", fm.SetTargetedTrainingTime(1800)),
    ("0e 5802 b004", fm.SetTargetedTimeInTwoZones(600, 1200)),
    ("0f 3c00 7800 b400", fm.SetTargetedTimeInThreeZones(60, 120, 180)),
    ("10 0100 0200 0300 0400 0500", fm.SetTargetedTimeInFiveZones(1, 2, 3, 4, 5)),
    ("11 0000 f401 28 33", fm.SetIndoorBikeSimulation(0.0, 5.0, 0.004, 0.51)),
    ("12 3a52", fm.SetWheelCircumference(2105.0)),
    ("13 01", fm.SpinDownControl(start=True)),
    ("14 b400", fm.SetTargetedCadence(90.0)),
]


@pytest.mark.parametrize(("hex_bytes", "command"), REQUEST_VECTORS)
def test_control_point_requests(hex_bytes: str, command: Any) -> None:
    data = bytes.fromhex(hex_bytes)
    assert fm.decode_fitness_machine_control_point(data) == command
    assert fm.encode_fitness_machine_control_point(command) == data
    assert fm.op_code_of(command) == data[0]


def test_control_point_responses() -> None:
    # "invalid parameter" to a stop/pause, as a Zwift Hub answered (simcline issue 7)
    response = fm.decode_control_point_response(bytes.fromhex("80 08 03"))
    assert response.request is fm.ControlOpCode.STOP_OR_PAUSE
    assert response.result_code is fm.ResultCode.INVALID_PARAMETER and not response.ok
    ok = fm.response_to(fm.SetTargetPower(200), fm.ResultCode.SUCCESS)
    assert fm.encode_fitness_machine_control_point(ok) == bytes.fromhex("80 05 01")
    assert ok.ok
    refused = fm.response_to(0x05, fm.ResultCode.CONTROL_NOT_PERMITTED)
    assert fm.encode_fitness_machine_control_point(refused) == bytes.fromhex("80 05 05")
    # spin down success carries two speeds
    spin = fm.decode_control_point_response(bytes.fromhex("80 13 01 e803 d007"))
    assert spin.parameter == bytes.fromhex("e803 d007")
    with pytest.raises(MalformedPayloadError, match="expected a response"):
        fm.decode_control_point_response(bytes.fromhex("05 fa00"))


@pytest.mark.parametrize(
    ("hex_bytes", "reason"),
    [
        ("", "empty"),
        ("15", "not defined"),
        ("05 fa", "set target power carries power w \\(sint16\\)"),
        ("05 fa00 00", "too long"),
        ("08 03", "0x01 stop or 0x02 pause"),
        ("00 00", "too long"),
        ("80 05", "too short"),
    ],
)
def test_control_point_malformed(hex_bytes: str, reason: str) -> None:
    with pytest.raises(MalformedPayloadError, match=reason):
        fm.decode_fitness_machine_control_point(bytes.fromhex(hex_bytes))


def test_control_point_encoder_checks_ranges() -> None:
    with pytest.raises(ValueError, match="uint8"):
        fm.encode_fitness_machine_control_point(fm.SetTargetResistanceLevel(30.0))
    with pytest.raises(ValueError, match="sint16"):
        fm.encode_fitness_machine_control_point(fm.SetTargetPower(40_000))
    with pytest.raises(TypeError):
        fm.encode_fitness_machine_control_point(fm.SetTargetPower(200.5))  # type: ignore[arg-type]


# --- status -------------------------------------------------------------------------------------

STATUS_VECTORS = [
    ("01", fm.FitnessMachineStatus(fm.StatusCode.RESET)),
    ("02 01", fm.FitnessMachineStatus(fm.StatusCode.STOPPED_OR_PAUSED_BY_USER, fm.StopOrPause())),
    (
        "02 02",
        fm.FitnessMachineStatus(fm.StatusCode.STOPPED_OR_PAUSED_BY_USER, fm.StopOrPause(True)),
    ),
    ("03", fm.FitnessMachineStatus(fm.StatusCode.STOPPED_BY_SAFETY_KEY)),
    ("04", fm.FitnessMachineStatus(fm.StatusCode.STARTED_OR_RESUMED_BY_USER)),
    (
        "05 e803",
        fm.FitnessMachineStatus(fm.StatusCode.TARGET_SPEED_CHANGED, fm.SetTargetSpeed(10.0)),
    ),
    (
        "06 ecff",
        fm.FitnessMachineStatus(
            fm.StatusCode.TARGET_INCLINE_CHANGED, fm.SetTargetInclination(-2.0)
        ),
    ),
    (
        "07 4b",
        fm.FitnessMachineStatus(
            fm.StatusCode.TARGET_RESISTANCE_LEVEL_CHANGED, fm.SetTargetResistanceLevel(7.5)
        ),
    ),
    (
        "08 fa00",
        fm.FitnessMachineStatus(fm.StatusCode.TARGET_POWER_CHANGED, fm.SetTargetPower(250)),
    ),
    (
        "12 0000 f401 28 33",
        fm.FitnessMachineStatus(
            fm.StatusCode.INDOOR_BIKE_SIMULATION_CHANGED,
            fm.SetIndoorBikeSimulation(0.0, 5.0, 0.004, 0.51),
        ),
    ),
    ("14 02", fm.FitnessMachineStatus(fm.StatusCode.SPIN_DOWN_STATUS, fm.SpinDownStatus(2))),
    ("ff", fm.FitnessMachineStatus(fm.StatusCode.CONTROL_PERMISSION_LOST)),
]


@pytest.mark.parametrize(("hex_bytes", "status"), STATUS_VECTORS)
def test_status(hex_bytes: str, status: fm.FitnessMachineStatus) -> None:
    data = bytes.fromhex(hex_bytes)
    assert fm.decode_fitness_machine_status(data) == status
    assert fm.encode_fitness_machine_status(status) == data
    assert gatt.decode(uuids.FITNESS_MACHINE_STATUS, data) == status


@pytest.mark.parametrize(
    ("hex_bytes", "reason"),
    [("", "empty"), ("00", "not defined"), ("ff 00", "too long"), ("08 fa", "too short")],
)
def test_status_malformed(hex_bytes: str, reason: str) -> None:
    with pytest.raises(MalformedPayloadError, match=reason) as caught:
        fm.decode_fitness_machine_status(bytes.fromhex(hex_bytes))
    assert "Fitness Machine Status (0x2ADA)" in str(caught.value)


def test_status_encoder_checks_the_parameter_type() -> None:
    with pytest.raises(ValueError, match="SetTargetPower"):
        fm.encode_fitness_machine_status(
            fm.FitnessMachineStatus(fm.StatusCode.TARGET_POWER_CHANGED, fm.SetTargetSpeed(1.0))
        )
    with pytest.raises(ValueError, match="no parameter"):
        fm.encode_fitness_machine_status(
            fm.FitnessMachineStatus(fm.StatusCode.RESET, fm.SetTargetPower(1))
        )


def test_every_request_layout_round_trips_at_its_extremes() -> None:
    for _, request in REQUEST_VECTORS:
        for f in dataclasses.fields(request):  # type: ignore[arg-type]
            if "wire" not in f.metadata:
                continue
            low, high = _RANGES[f.metadata["wire"]]
            per = f.metadata["per_unit"]
            for raw in (low, high):
                value = raw if per == 1 else raw / per
                changed = dataclasses.replace(request, **{f.name: value})  # type: ignore[type-var]
                data = fm.encode_fitness_machine_control_point(changed)
                assert fm.decode_fitness_machine_control_point(data) == changed


def test_every_status_code_is_decodable() -> None:
    for code in fm.StatusCode:
        assert isinstance(code.value, int)
    # the product of status codes and one-byte tails never raises anything but malformed
    for code, tail in itertools.product(range(256), range(256)):
        try:
            fm.decode_fitness_machine_status(bytes([code, tail]))
        except MalformedPayloadError:
            pass


def test_split_for_the_mtu_then_assemble_is_the_identity() -> None:
    record = fm.IndoorBikeData(
        instantaneous_speed_kmh=30.0,
        average_speed_kmh=28.0,
        instantaneous_cadence_rpm=90.0,
        total_distance_m=5000,
        resistance_level=5,
        instantaneous_power_w=200,
        average_power_w=180,
        total_energy_kcal=100,
        energy_per_hour_kcal=700,
        energy_per_minute_kcal=12,
        elapsed_time_s=600,
    )
    assert len(fm.encode_indoor_bike_data(record)) > 20
    parts = fm.split_fitness_machine_record(record, 20)
    assert [p.more_data for p in parts] == [True] * (len(parts) - 1) + [False]
    assert all(len(fm.encode_indoor_bike_data(p)) <= 20 for p in parts)
    assembler: fm.FitnessMachineRecordAssembler[fm.IndoorBikeData] = (
        fm.FitnessMachineRecordAssembler()
    )
    assert [r for p in parts for r in assembler.feed(p)] == [record]
    assert fm.split_fitness_machine_record(fm.IndoorBikeData(instantaneous_speed_kmh=1.0)) == (
        fm.IndoorBikeData(instantaneous_speed_kmh=1.0),
    )


@pytest.mark.parametrize("uuid", list(LAYOUTS))
def test_split_then_merge_properties(uuid: str) -> None:
    _, encode = CODECS[uuid]

    @fast
    @given(records(RECORD_TYPES[uuid]), st.integers(10, 30))
    def check(record: Any, room: int) -> None:
        if record.more_data:
            return  # a part, not a record
        parts = fm.split_fitness_machine_record(record, room)
        assert all(len(encode(p)) <= room for p in parts)
        assert fm.merge_fitness_machine_records(parts) == record

    check()
