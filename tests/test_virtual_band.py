"""The virtual band and fake BlueZ, driven by plain bleak (no edgecoach code in between).

These pin down that the fake behaves as bluetoothd does where bleak can tell, so the tests of
the BLE source are about the source and not about a lenient fake.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator

import pytest
from ble_fixtures import fast_radio, needs_dbus, open_fds, run
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakDBusError, BleakError

from firmware_bridge.gatt import decode, decode_battery_level, encode_heart_rate_measurement
from firmware_bridge.gatt.heart_rate import HeartRateMeasurement
from firmware_bridge.gatt.uuids import (
    BATTERY_LEVEL,
    BODY_SENSOR_LOCATION,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    MANUFACTURER_NAME,
    RSC_MEASUREMENT,
)
from firmware_bridge.virtual_band import (
    Notification,
    PrivateSystemBus,
    VirtualBand,
    heart_rate_script,
    rsc_script,
)
from firmware_bridge.virtual_band.bluez import UNREACHABLE_REASON

pytestmark = needs_dbus

HR_ADDRESS = "C0:FF:EE:00:00:01"


async def _find(address: str, timeout_s: float = 2.0) -> BLEDevice:
    device = await BleakScanner.find_device_by_address(address, timeout=timeout_s)
    assert device is not None, f"{address} not found"
    return device


def test_bleak_private_names_the_virtual_radio_relies_on_still_exist() -> None:
    # release_bleak_bluez_manager() reaches into these (bleak 3.x); fail loudly when they move
    from bleak.backends.bluezdbus import manager

    assert isinstance(manager._global_instances, dict)
    instance = manager.BlueZManager()
    for name in ("_bus", "_bus_watcher_task", "_handle_bus_disconnect"):
        assert hasattr(instance, name), name


def test_private_bus_exports_env_and_stub_bluetoothctl_then_restores() -> None:
    before = (os.environ.get("DBUS_SYSTEM_BUS_ADDRESS"), os.environ.get("PATH"))

    async def body() -> None:
        async with PrivateSystemBus() as bus:
            assert os.environ["DBUS_SYSTEM_BUS_ADDRESS"] == bus.address
            assert bus.address.startswith("unix:path=")
            stub = shutil.which("bluetoothctl")
            assert stub is not None
            proc = await asyncio.create_subprocess_exec(
                stub, "--version", stdout=asyncio.subprocess.PIPE
            )
            out, _ = await proc.communicate()
            assert out.strip() == b"bluetoothctl: 5.66"
        assert not bus.running

    run(body())
    assert (os.environ.get("DBUS_SYSTEM_BUS_ADDRESS"), os.environ.get("PATH")) == before


@pytest.mark.parametrize("use_start_notify", [True, False], ids=["StartNotify", "AcquireNotify"])
def test_bleak_scans_connects_and_gets_every_notification(use_start_notify: bool) -> None:
    band = VirtualBand(
        HR_ADDRESS,
        "Virtual HRM",
        services=("heart_rate", "battery", "device_info"),
        script=heart_rate_script(range(100, 110), interval_s=0.002),
        battery_percent=87,
    )

    async def body() -> None:
        async with fast_radio(band) as bluez:
            found = await BleakScanner.discover(
                timeout=0.3, return_adv=True, service_uuids=[HEART_RATE_SERVICE]
            )
            device, adv = found[HR_ADDRESS]
            assert device.name == "Virtual HRM"
            assert HEART_RATE_SERVICE in adv.service_uuids
            assert adv.rssi < 0
            got: list[bytes] = []
            async with BleakClient(device) as client:
                char = client.services.get_characteristic(HEART_RATE_MEASUREMENT)
                assert char is not None
                # the fake's object paths carry handles bleak can parse back
                assert char.obj[0].startswith(bluez.links[HR_ADDRESS].path + "/service")
                assert "NotifyAcquired" in char.obj[1]
                await client.start_notify(
                    char,
                    lambda _c, data: got.append(bytes(data)),
                    bluez={"use_start_notify": use_start_notify},
                )
                gatt_char = bluez.links[HR_ADDRESS]._chars[HEART_RATE_MEASUREMENT]
                assert (gatt_char.acquired is not None) is (not use_start_notify)
                await band.wait_delivered(10)
                battery = await client.read_gatt_char(BATTERY_LEVEL)
                assert decode_battery_level(battery) == 87
                location = await client.read_gatt_char(BODY_SENSOR_LOCATION)
                assert location == b"\x01"
                assert bytes(await client.read_gatt_char(MANUFACTURER_NAME)) == b"edgecoach"
                await asyncio.sleep(0.02)
            assert got == band.delivered()
            assert [decode(HEART_RATE_MEASUREMENT, p).bpm for p in got] == list(range(100, 110))
            assert not bluez.links[HR_ADDRESS].connected

    run(body())


def test_second_discovery_on_one_connection_is_in_progress_like_bluetoothd() -> None:
    # why the BLE source serialises scans: bleak shares one D-Bus connection per loop
    async def body() -> None:
        async with fast_radio(), BleakScanner():
            with pytest.raises(BleakDBusError, match="InProgress"):
                async with BleakScanner():
                    pass

    run(body())


def test_peripheral_drop_is_only_connected_false_and_gatt_objects_go() -> None:
    band = VirtualBand(HR_ADDRESS, "Virtual HRM", services=("heart_rate",))

    async def body() -> None:
        async with fast_radio(band) as bluez:
            device = await _find(HR_ADDRESS)
            dropped = asyncio.Event()
            client = BleakClient(device, disconnected_callback=lambda _c: dropped.set())
            await client.connect()
            link = bluez.links[HR_ADDRESS]
            assert link.connected and link.services_resolved and link._gatt
            band.drop_link()
            async with asyncio.timeout(2):
                await dropped.wait()
            assert not client.is_connected
            assert not link.connected and not link.services_resolved and not link._gatt
            assert link.disconnect_calls == 0  # nobody called Disconnect: a link loss
            await client.disconnect()  # closes the client's own D-Bus connection

    run(body())


def test_out_of_range_band_stops_advertising_and_refuses_connect() -> None:
    band = VirtualBand(HR_ADDRESS, "Virtual HRM", services=("heart_rate",))

    async def body() -> None:
        async with fast_radio(band) as bluez:
            device = await _find(HR_ADDRESS)
            band.out_of_range(0.6)
            assert await BleakScanner.find_device_by_address(HR_ADDRESS, timeout=0.2) is None
            with pytest.raises(BleakError, match=UNREACHABLE_REASON):
                async with BleakClient(device, timeout=2):
                    pass
            await asyncio.sleep(0.5)
            async with BleakClient(await _find(HR_ADDRESS)) as client:
                assert client.is_connected
            assert bluez.links[HR_ADDRESS].connect_calls == 2

    run(body())


def test_battery_drains_and_notifies_when_subscribed() -> None:
    band = VirtualBand(
        HR_ADDRESS,
        "Virtual HRM",
        services=("heart_rate", "battery"),
        battery_percent=50,
        battery_drain_per_s=100.0,
        battery_notify=True,
    )

    async def body() -> None:
        async with fast_radio(band):
            levels: list[int] = []
            async with BleakClient(await _find(HR_ADDRESS)) as client:
                await client.start_notify(
                    BATTERY_LEVEL, lambda _c, data: levels.append(decode_battery_level(data))
                )
                await band.wait_until(lambda: len(levels) >= 3, timeout_s=3)
                now = decode_battery_level(await client.read_gatt_char(BATTERY_LEVEL))
            assert levels == sorted(levels, reverse=True)
            assert levels[0] < 50 and now <= levels[-1]

    run(body())


def test_garbage_and_manual_sends_are_recorded() -> None:
    band = VirtualBand(
        HR_ADDRESS, "Virtual Pod", services=("rsc",), script=rsc_script([170], interval_s=0.0)
    )

    async def body() -> None:
        async with fast_radio(band):
            got: list[bytes] = []
            assert not band.send_garbage(RSC_MEASUREMENT, b"\x00")  # nobody connected yet
            async with BleakClient(await _find(HR_ADDRESS)) as client:
                await client.start_notify(RSC_MEASUREMENT, lambda _c, d: got.append(bytes(d)))
                await band.wait_delivered(1)
                assert band.send_garbage(RSC_MEASUREMENT, b"\xff")
                payload = encode_heart_rate_measurement(HeartRateMeasurement(bpm=1))
                assert not band.notify(HEART_RATE_MEASUREMENT, payload)  # no such service
                await band.wait_until(lambda: len(got) == 2, timeout_s=2)
            assert got[1] == b"\xff"
            assert [(s.delivered, s.garbage) for s in band.sent] == [
                (False, True),
                (True, False),
                (True, True),
                (False, False),
            ]

    run(body())


def test_fake_leaves_no_fds_behind() -> None:
    band = VirtualBand(HR_ADDRESS, "Virtual HRM", script=heart_rate_script([90], 0.0))

    async def body() -> tuple[int, int]:
        before = open_fds()
        async with fast_radio(band), BleakClient(await _find(HR_ADDRESS)) as client:
            await client.start_notify(
                HEART_RATE_MEASUREMENT, lambda _c, _d: None, bluez={"use_start_notify": False}
            )
            await band.wait_delivered(1)
        return before, open_fds()

    before, after = run(body())
    assert after == before


def test_live_script_drops_what_nobody_hears_and_accepts_async_iterators() -> None:
    async def live() -> AsyncIterator[Notification]:
        for item in heart_rate_script(range(60, 90), interval_s=0.01):
            yield item

    band = VirtualBand(HR_ADDRESS, "Virtual HRM", script=live(), hold_until_subscribed=False)
    repeating = VirtualBand(
        "C0:FF:EE:00:00:09",
        "Looping HRM",
        script=heart_rate_script([70, 71], interval_s=0.005),
        repeat=True,
    )

    async def body() -> None:
        async with fast_radio(band, repeating):
            got: list[bytes] = []
            client = BleakClient(await _find(HR_ADDRESS))
            await client.connect()
            await client.start_notify(HEART_RATE_MEASUREMENT, lambda _c, d: got.append(bytes(d)))
            await band.wait_delivered(5)
            await client.disconnect()  # the script plays on, to nobody
            await band.wait_script_done()
            async with BleakClient(await _find(repeating.address)) as looped:
                await looped.start_notify(HEART_RATE_MEASUREMENT, lambda _c, _d: None)
                await repeating.wait_delivered(5)
            assert len(band.sent) == 30
            assert got == band.delivered()
            assert any(not s.delivered for s in band.sent)
            assert [decode(HEART_RATE_MEASUREMENT, p).bpm for p in repeating.delivered()[:4]] == [
                70,
                71,
                70,
                71,
            ]

    run(body())
