"""The virtual bike and treadmill, driven by plain bleak over the fake BlueZ: the first GATT
writes and indications the fake serves. Every rule a real FTMS machine enforces is checked here,
so a client that passes against these machines has met them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from ble_fixtures import fast_radio, needs_dbus, open_fds, run
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError, BleakGATTProtocolErrorCode

from firmware_bridge.gatt import fitness_machine as fm
from firmware_bridge.gatt.cycling_power import (
    CyclingPowerFeatureBits,
    CyclingPowerMeasurement,
    CyclingPowerTracker,
    SensorLocation,
    decode_cycling_power_feature,
    decode_cycling_power_measurement,
    decode_sensor_location,
)
from firmware_bridge.gatt.uuids import (
    CYCLING_POWER_FEATURE,
    CYCLING_POWER_MEASUREMENT,
    CYCLING_POWER_SERVICE,
    FITNESS_MACHINE_CONTROL_POINT,
    FITNESS_MACHINE_FEATURE,
    FITNESS_MACHINE_SERVICE,
    FITNESS_MACHINE_STATUS,
    INDOOR_BIKE_DATA,
    SENSOR_LOCATION,
    SUPPORTED_INCLINATION_RANGE,
    SUPPORTED_POWER_RANGE,
    TRAINING_STATUS,
    TREADMILL_DATA,
)
from firmware_bridge.virtual_band import (
    AttError,
    MachineState,
    VirtualBand,
    VirtualFitnessMachine,
    VirtualIndoorBike,
    VirtualTreadmill,
    cycling_power_script,
)

pytestmark = needs_dbus

BIKE = "C0:FF:EE:61:4B:11"
TREADMILL = "C0:FF:EE:61:4B:12"
METER = "C0:FF:EE:61:4B:13"

#: Model seconds per 20 ms tick: a minute of riding takes 0.4 s.
FAST = {"tick_s": 0.02, "model_step_s": 0.5}


class FtmsClient:
    """What a client of a fitness machine does, written with bleak and the codecs only."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.responses: asyncio.Queue[fm.ControlPointResponse] = asyncio.Queue()
        self.statuses: list[fm.FitnessMachineStatus] = []
        self.records: list[Any] = []
        self.parts: list[Any] = []
        self.assembler: fm.FitnessMachineRecordAssembler[Any] = fm.FitnessMachineRecordAssembler()

    async def subscribe(self, data_uuid: str | None = None) -> None:
        await self.client.start_notify(
            FITNESS_MACHINE_CONTROL_POINT,
            lambda _c, d: self.responses.put_nowait(fm.decode_control_point_response(bytes(d))),
        )
        await self.client.start_notify(
            FITNESS_MACHINE_STATUS,
            lambda _c, d: self.statuses.append(fm.decode_fitness_machine_status(bytes(d))),
        )
        if data_uuid is not None:
            decode = (
                fm.decode_indoor_bike_data
                if data_uuid == INDOOR_BIKE_DATA
                else fm.decode_treadmill_data
            )

            def on_data(_c: Any, d: bytearray) -> None:
                part = decode(bytes(d))
                self.parts.append(part)
                self.records.extend(self.assembler.feed(part))

            await self.client.start_notify(data_uuid, on_data)

    async def write(self, payload: bytes) -> fm.ControlPointResponse:
        await self.client.write_gatt_char(FITNESS_MACHINE_CONTROL_POINT, payload, response=True)
        async with asyncio.timeout(2):
            return await self.responses.get()

    async def request(self, request: Any) -> fm.ControlPointResponse:
        response = await self.write(fm.encode_fitness_machine_control_point(request))
        assert response.request_op_code == fm.op_code_of(request)
        return response

    async def wait_status(self, machine: VirtualFitnessMachine, code: fm.StatusCode) -> Any:
        await machine.wait_until(lambda: any(s.code is code for s in self.statuses), 2)
        return next(s for s in self.statuses if s.code is code)


@asynccontextmanager
async def connected(
    machine: VirtualFitnessMachine, data_uuid: str | None = None, **kwargs: Any
) -> AsyncIterator[FtmsClient]:
    device = await BleakScanner.find_device_by_address(machine.address, timeout=2)
    assert device is not None
    async with BleakClient(device, **kwargs) as client:
        ftms = FtmsClient(client)
        await ftms.subscribe(data_uuid)
        yield ftms


def result(response: fm.ControlPointResponse) -> fm.ResultCode | None:
    return response.result_code


# --- the GATT database ----------------------------------------------------------------------


def test_bike_advertises_both_services_and_serves_its_features() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            found = await BleakScanner.discover(
                timeout=0.3, return_adv=True, service_uuids=[FITNESS_MACHINE_SERVICE]
            )
            device, adv = found[BIKE]
            assert {FITNESS_MACHINE_SERVICE, CYCLING_POWER_SERVICE} <= set(adv.service_uuids)
            async with BleakClient(device) as client:
                feature = fm.decode_fitness_machine_feature(
                    await client.read_gatt_char(FITNESS_MACHINE_FEATURE)
                )
                assert fm.TargetSettingFeature.POWER in feature.target_settings
                assert fm.MachineFeature.POWER_MEASUREMENT in feature.machine
                power_range = fm.decode_supported_power_range(
                    await client.read_gatt_char(SUPPORTED_POWER_RANGE)
                )
                assert power_range == fm.SupportedPowerRange(0, 1000, 1)
                cp_feature = decode_cycling_power_feature(
                    await client.read_gatt_char(CYCLING_POWER_FEATURE)
                )
                assert cp_feature.supports(CyclingPowerFeatureBits.CRANK_REVOLUTION_DATA)
                status = fm.decode_training_status(await client.read_gatt_char(TRAINING_STATUS))
                assert status.code is fm.TrainingStatusCode.IDLE
                point = client.services.get_characteristic(FITNESS_MACHINE_CONTROL_POINT)
                assert point is not None
                assert set(point.properties) == {"write", "indicate"}
                # bluetoothd offers AcquireNotify for notifications only, never indications
                assert "NotifyAcquired" not in point.obj[1]

    run(body())


# --- ERG through the control point ------------------------------------------------------------


def test_erg_workout_targets_indications_status_and_power() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike), connected(bike, INDOOR_BIKE_DATA) as ftms:
            powers: list[int] = []
            await ftms.client.start_notify(
                CYCLING_POWER_MEASUREMENT,
                lambda _c, d: powers.append(
                    decode_cycling_power_measurement(bytes(d)).instantaneous_power_w
                ),
            )
            assert result(await ftms.request(fm.RequestControl())) is fm.ResultCode.SUCCESS
            response = await ftms.request(fm.SetTargetPower(250))
            assert response.ok
            # the indication is the spec's bytes: response code, request op code, result
            assert bike.responses_sent()[-1] == bytes.fromhex("80 05 01")
            changed = await ftms.wait_status(bike, fm.StatusCode.TARGET_POWER_CHANGED)
            assert changed.parameter == fm.SetTargetPower(250)
            assert bike.statuses_sent()[-1] == bytes.fromhex("08 fa 00")
            assert (await ftms.request(fm.StartOrResume())).ok

            await bike.wait_until(
                lambda: any(r.instantaneous_power_w == 250 for r in ftms.records), 5
            )
            # the Cycling Power Measurement says the same
            await bike.wait_until(lambda: 250 in powers, 5)
            # the ramp is short but real: power climbs in steps no larger than the ramp allows
            climbing = [r.instantaneous_power_w for r in ftms.records]
            steps = [b - a for a, b in itertools.pairwise(climbing)]
            assert max(steps) <= bike.ramp_w_per_s * bike.model_step_s + 1

            assert (await ftms.request(fm.SetTargetPower(120))).ok
            count = len(ftms.records)
            await bike.wait_until(
                lambda: any(r.instantaneous_power_w == 120 for r in ftms.records[count:]), 5
            )
            assert (await ftms.request(fm.StopOrPause(pause=False))).ok
            assert bike.target_power_w is None and bike.state is MachineState.STOPPED
            # stopped: back to the resistance level's power, well under the last target
            await bike.wait_model_time(3)
            assert ftms.records[-1].instantaneous_power_w < 120
            requests = [r.request for r in bike.requests]
            assert requests == [
                fm.RequestControl(),
                fm.SetTargetPower(250),
                fm.StartOrResume(),
                fm.SetTargetPower(120),
                fm.StopOrPause(pause=False),
            ]

    run(body())


def test_split_records_reach_the_client_and_assemble() -> None:
    # a smaller MTU than the record: the bike must split it ("More Data") as a real one does
    bike = VirtualIndoorBike(BIKE, mtu=20, **FAST)

    async def body() -> None:
        async with fast_radio(bike), connected(bike, INDOOR_BIKE_DATA) as ftms:
            await bike.wait_until(lambda: len(ftms.records) >= 3, 5)
            assert any(p.more_data for p in ftms.parts)
            assert all(len(p) <= 17 for p in bike.delivered(INDOOR_BIKE_DATA))
            for record in ftms.records:
                assert not record.more_data
                assert record.total_energy_kcal is not None
                assert record.instantaneous_power_w is not None

    run(body())


# --- the rules of the control point ------------------------------------------------------------


def test_requests_before_control_are_not_permitted() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike), connected(bike) as ftms:
            response = await ftms.request(fm.SetTargetPower(200))
            assert result(response) is fm.ResultCode.CONTROL_NOT_PERMITTED
            assert bike.target_power_w is None

    run(body())


def test_write_without_indications_enabled_is_an_att_error() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            device = await BleakScanner.find_device_by_address(BIKE, timeout=2)
            assert device is not None
            async with BleakClient(device) as client:
                with pytest.raises(BleakGATTProtocolError) as caught:
                    await client.write_gatt_char(
                        FITNESS_MACHINE_CONTROL_POINT, b"\x00", response=True
                    )
                assert caught.value.code is BleakGATTProtocolErrorCode.CCCD_IMPROPERLY_CONFIGURED
            assert bike.requests[-1].att_error == 0xFD

    run(body())


def test_write_without_response_is_not_supported_by_bluez() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike), connected(bike) as ftms:
            with pytest.raises(BleakGATTProtocolError) as caught:
                await ftms.client.write_gatt_char(
                    FITNESS_MACHINE_CONTROL_POINT, b"\x00", response=False
                )
            assert caught.value.code is BleakGATTProtocolErrorCode.REQUEST_NOT_SUPPORTED
            assert bike.requests == []

    run(body())


def test_a_write_before_the_last_response_is_procedure_in_progress() -> None:
    bike = VirtualIndoorBike(BIKE, response_delay_s=0.3, **FAST)

    async def body() -> None:
        async with fast_radio(bike), connected(bike) as ftms:
            await ftms.client.write_gatt_char(FITNESS_MACHINE_CONTROL_POINT, b"\x00", response=True)
            with pytest.raises(BleakGATTProtocolError) as caught:
                await ftms.client.write_gatt_char(
                    FITNESS_MACHINE_CONTROL_POINT, b"\x05\xc8\x00", response=True
                )
            assert caught.value.code == AttError.PROCEDURE_ALREADY_IN_PROGRESS
            first = await asyncio.wait_for(ftms.responses.get(), 2)
            assert first.ok and first.request is fm.ControlOpCode.REQUEST_CONTROL
            assert (await ftms.request(fm.SetTargetPower(200))).ok

    run(body())


def test_unsupported_and_invalid_requests() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike), connected(bike) as ftms:
            assert (await ftms.request(fm.RequestControl())).ok
            # a bike takes no speed target
            speed = await ftms.request(fm.SetTargetSpeed(20.0))
            assert result(speed) is fm.ResultCode.NOT_SUPPORTED
            # outside the supported power range
            too_hard = await ftms.request(fm.SetTargetPower(1500))
            assert result(too_hard) is fm.ResultCode.INVALID_PARAMETER
            # a parameter cut short, an op code nobody defined, a response written by a client
            assert result(await ftms.write(b"\x05\x01")) is fm.ResultCode.INVALID_PARAMETER
            unknown = await ftms.write(b"\x42")
            assert (unknown.request_op_code, unknown.result_code) == (
                0x42,
                fm.ResultCode.NOT_SUPPORTED,
            )
            bike.fail_next_request()
            failed = await ftms.request(fm.SetTargetPower(100))
            assert result(failed) is fm.ResultCode.OPERATION_FAILED
            assert (await ftms.request(fm.SetTargetResistanceLevel(7.5))).ok
            level = await ftms.wait_status(bike, fm.StatusCode.TARGET_RESISTANCE_LEVEL_CHANGED)
            assert level.parameter == fm.SetTargetResistanceLevel(7.5)

    run(body())


def test_reset_releases_control_and_says_so() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike), connected(bike) as ftms:
            assert (await ftms.request(fm.RequestControl())).ok
            assert (await ftms.request(fm.SetTargetPower(180))).ok
            assert (await ftms.request(fm.Reset())).ok
            await ftms.wait_status(bike, fm.StatusCode.RESET)
            assert bike.target_power_w is None and bike.controller is None
            denied = await ftms.request(fm.SetTargetPower(180))
            assert result(denied) is fm.ResultCode.CONTROL_NOT_PERMITTED

    run(body())


# --- faults on demand --------------------------------------------------------------------------


def test_control_refused() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)
    bike.refuse_control = True

    async def body() -> None:
        async with fast_radio(bike), connected(bike) as ftms:
            refused = await ftms.request(fm.RequestControl())
            assert result(refused) is fm.ResultCode.CONTROL_NOT_PERMITTED
            assert bike.controller is None

    run(body())


def test_control_taken_by_another_app() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike), connected(bike) as ftms:
            assert (await ftms.request(fm.RequestControl())).ok
            bike.take_control_by_other_app()
            await ftms.wait_status(bike, fm.StatusCode.CONTROL_PERMISSION_LOST)
            assert bike.statuses_sent()[-1] == b"\xff"
            lost = await ftms.request(fm.SetTargetPower(200))
            assert result(lost) is fm.ResultCode.CONTROL_NOT_PERMITTED
            again = await ftms.request(fm.RequestControl())
            assert result(again) is fm.ResultCode.CONTROL_NOT_PERMITTED
            bike.release_other_app()
            assert (await ftms.request(fm.RequestControl())).ok

    run(body())


def test_machine_stopped_and_started_by_its_own_buttons() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike), connected(bike, INDOOR_BIKE_DATA) as ftms:
            assert (await ftms.request(fm.RequestControl())).ok
            assert (await ftms.request(fm.SetTargetPower(300))).ok
            await bike.wait_until(lambda: bike.power_w >= 300, 5)
            bike.press_stop()
            stopped = await ftms.wait_status(bike, fm.StatusCode.STOPPED_OR_PAUSED_BY_USER)
            assert stopped.parameter == fm.StopOrPause(pause=False)
            await bike.wait_model_time(3)
            assert bike.power_w < 100  # ERG is off: the target went with the stop
            bike.press_start()
            await ftms.wait_status(bike, fm.StatusCode.STARTED_OR_RESUMED_BY_USER)
            bike.user_sets_resistance(10)
            knob = await ftms.wait_status(bike, fm.StatusCode.TARGET_RESISTANCE_LEVEL_CHANGED)
            assert knob.parameter == fm.SetTargetResistanceLevel(10.0)
            bike.press_stop(pause=True)
            await bike.wait_until(lambda: bike.statuses_sent()[-1] == b"\x02\x02", 2)

    run(body())


def test_link_loss_mid_workout_releases_control_and_erg() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            dropped = asyncio.Event()
            async with connected(
                bike, INDOOR_BIKE_DATA, disconnected_callback=lambda _c: dropped.set()
            ) as ftms:
                assert (await ftms.request(fm.RequestControl())).ok
                assert (await ftms.request(fm.SetTargetPower(220))).ok
                bike.drop_link()
                async with asyncio.timeout(2):
                    await dropped.wait()
            assert bike.controller is None and bike.target_power_w is None
            async with connected(bike, INDOOR_BIKE_DATA) as ftms:
                # control does not survive the link: ask again
                denied = await ftms.request(fm.SetTargetPower(220))
                assert result(denied) is fm.ResultCode.CONTROL_NOT_PERMITTED
                assert (await ftms.request(fm.RequestControl())).ok
                assert (await ftms.request(fm.SetTargetPower(220))).ok
            assert bike.link_count == 2

    run(body())


# --- treadmill ---------------------------------------------------------------------------------


def test_treadmill_speed_and_signed_incline_targets() -> None:
    treadmill = VirtualTreadmill(TREADMILL, **FAST)

    async def body() -> None:
        async with fast_radio(treadmill), connected(treadmill, TREADMILL_DATA) as ftms:
            incline_range = fm.decode_supported_inclination_range(
                await ftms.client.read_gatt_char(SUPPORTED_INCLINATION_RANGE)
            )
            assert incline_range.minimum_percent == -3.0
            assert (await ftms.request(fm.RequestControl())).ok
            assert (await ftms.request(fm.SetTargetSpeed(8.5))).ok
            assert (await ftms.request(fm.SetTargetInclination(-1.5))).ok
            speed = await ftms.wait_status(treadmill, fm.StatusCode.TARGET_SPEED_CHANGED)
            assert speed.parameter == fm.SetTargetSpeed(8.5)
            assert treadmill.statuses_sent()[-1] == bytes.fromhex("06 f1 ff")
            # the belt does not move until started
            await treadmill.wait_model_time(2)
            assert treadmill.belt_speed_kmh == 0.0
            assert (await ftms.request(fm.StartOrResume())).ok
            await treadmill.wait_until(
                lambda: any(r.instantaneous_speed_kmh == 8.5 for r in ftms.records), 5
            )
            await treadmill.wait_until(
                lambda: any(r.inclination_percent == -1.5 for r in ftms.records), 5
            )
            assert ftms.records[-1].ramp_angle_deg < 0
            assert result(await ftms.request(fm.SetTargetPower(200))) is fm.ResultCode.NOT_SUPPORTED
            fast = await ftms.request(fm.SetTargetSpeed(25.0))
            assert result(fast) is fm.ResultCode.INVALID_PARAMETER
            treadmill.user_sets_speed(6.0)
            await treadmill.wait_until(lambda: treadmill.statuses_sent()[-1][0] == 0x05, 2)
            treadmill.press_safety_key()
            await ftms.wait_status(treadmill, fm.StatusCode.STOPPED_BY_SAFETY_KEY)
            assert treadmill.belt_speed_kmh == 0.0 and treadmill.target_speed_kmh is None

    run(body())


def test_data_by_acquire_notify_and_responses_by_indication_together() -> None:
    # bleak's AcquireNotify path for the data, StartNotify for the indicate-only control point
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike) as bluez, connected(bike) as ftms:
            records: list[fm.IndoorBikeData] = []
            await ftms.client.start_notify(
                INDOOR_BIKE_DATA,
                lambda _c, d: records.append(fm.decode_indoor_bike_data(bytes(d))),
                bluez={"use_start_notify": False},
            )
            chars = bluez.links[BIKE]._chars
            assert chars[INDOOR_BIKE_DATA].acquired is not None
            assert chars[FITNESS_MACHINE_CONTROL_POINT].notifying
            assert (await ftms.request(fm.RequestControl())).ok
            assert (await ftms.request(fm.SetTargetPower(150))).ok
            await bike.wait_until(lambda: any(r.instantaneous_power_w == 150 for r in records), 5)

    run(body())


def test_repeated_sessions_leave_no_file_descriptors_behind() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            counts = []
            for _ in range(8):
                async with connected(bike, INDOOR_BIKE_DATA) as ftms:
                    assert (await ftms.request(fm.RequestControl())).ok
                    assert (await ftms.request(fm.SetTargetPower(100))).ok
                    assert (await ftms.request(fm.Reset())).ok
                counts.append(open_fds())
            assert counts[-1] <= counts[1], counts

    run(body())


# --- a power meter on its own ------------------------------------------------------------------


def test_power_meter_band_cadence_and_mean_power_from_its_counters() -> None:
    meter = VirtualBand(
        METER,
        "Virtual Power",
        services=("cycling_power", "battery"),
        script=cycling_power_script([200] * 12, crank_rpm=90.0, interval_s=0.01, step_s=1.0),
    )

    async def body() -> None:
        async with fast_radio(meter):
            found = await BleakScanner.discover(
                timeout=0.3, return_adv=True, service_uuids=[CYCLING_POWER_SERVICE]
            )
            device, adv = found[METER]
            assert adv.service_uuids == [CYCLING_POWER_SERVICE]
            got: list[CyclingPowerMeasurement] = []
            async with BleakClient(device) as client:
                feature = decode_cycling_power_feature(
                    await client.read_gatt_char(CYCLING_POWER_FEATURE)
                )
                assert feature.supports(CyclingPowerFeatureBits.ACCUMULATED_TORQUE)
                location = decode_sensor_location(await client.read_gatt_char(SENSOR_LOCATION))
                assert location is SensorLocation.LEFT_CRANK
                await client.start_notify(
                    CYCLING_POWER_MEASUREMENT,
                    lambda _c, d: got.append(decode_cycling_power_measurement(bytes(d))),
                )
                await meter.wait_delivered(12)
                await asyncio.sleep(0.02)
            tracker = CyclingPowerTracker()
            rates = [tracker.update(m) for m in got]
            assert all(m.instantaneous_power_w == 200 for m in got)
            assert all(m.pedal_power_balance_percent == 50.0 for m in got)
            cadences = [r.crank_rpm for r in rates if r.crank_rpm is not None]
            powers = [r.mean_crank_power_w for r in rates if r.mean_crank_power_w is not None]
            assert cadences and all(abs(c - 90.0) < 1.0 for c in cadences)
            # from the accumulated torque: within its 1/32 N m resolution of the 200 W sent
            assert powers and all(abs(p - 200.0) < 2.0 for p in powers)

    run(body())
