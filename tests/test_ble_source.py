"""BleSensorSource against virtual bands: the real bleak BlueZ backend over a private D-Bus."""

from __future__ import annotations

import asyncio
import logging

import pytest
from ble_fixtures import (
    FAST_BACKOFF,
    Collector,
    fast_config,
    fast_radio,
    needs_dbus,
    open_fds,
    own_tasks,
    run,
)
from blockbuster import blockbuster_ctx

from edge.errors import ConfigError, SensorError
from edge.sources.base import SensorSource
from edge.sources.ble import (
    BandNotFoundError,
    BleBandConfig,
    BleSensorSource,
    BleState,
    ReconnectBackoff,
    ServicesNotResolvedError,
    scan,
)
from edge.stream.readings import (
    BatteryReading,
    HeartRateReading,
    LinkEvent,
    LinkState,
    Reading,
    StrideReading,
)
from firmware_bridge.gatt import HeartRateMeasurement, decode, encode_heart_rate_measurement
from firmware_bridge.gatt.uuids import HEART_RATE_MEASUREMENT, RSC_MEASUREMENT
from firmware_bridge.virtual_band import (
    PrivateSystemBus,
    VirtualBand,
    csc_script,
    heart_rate_script,
    rsc_script,
)

HR = "C0:FF:EE:00:00:01"
POD = "C0:FF:EE:00:00:02"
BIKE = "C0:FF:EE:00:00:03"

ACQUIRE = pytest.mark.parametrize("acquire", [False, True], ids=["StartNotify", "AcquireNotify"])


def _source(address: str | None = None, **config: object) -> BleSensorSource:
    return BleSensorSource(fast_config(address=address, **config), reconnect_backoff=FAST_BACKOFF)


def _shape(readings: list[Reading]) -> list[str]:
    """The stream as a list of tags, e.g. ["up", "bat", "hr", "hr", "down", ...]."""
    tags = {HeartRateReading: "hr", StrideReading: "stride", BatteryReading: "bat"}
    out = []
    for r in readings:
        if isinstance(r, LinkEvent):
            out.append("up" if r.state is LinkState.CONNECTED else "down")
        else:
            out.append(tags[type(r)])
    return out


# pure parts


def test_backoff_is_a_pure_function_of_attempt_and_error() -> None:
    backoff = ReconnectBackoff(first_s=1.0, factor=2.0, max_s=10.0, max_not_found_s=3.0)
    other = SensorError("boom")
    not_found = BandNotFoundError("gone")
    assert backoff(1, None) == 0.0  # a link that was up and dropped: at once
    assert [backoff(n, other) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert [backoff(n, not_found) for n in (1, 2, 3, 9)] == [1.0, 2.0, 3.0, 3.0]
    assert backoff(3, other) == backoff(3, other)


def test_config_rejects_what_cannot_work() -> None:
    with pytest.raises(ConfigError, match="kinds"):
        BleBandConfig(kinds=("heart_rate", "power"))
    with pytest.raises(ConfigError, match="wheel"):
        BleBandConfig(wheel_circumference_m=0)
    with pytest.raises(ConfigError, match="scan_timeout_s"):
        BleBandConfig(scan_timeout_s=0)


def test_is_a_sensor_source() -> None:
    source = BleSensorSource(BleBandConfig(address="aa:bb:cc:dd:ee:ff"))
    assert isinstance(source, SensorSource)
    assert source.device == "AA:BB:CC:DD:EE:FF"
    assert source.state is BleState.IDLE


# streaming and reconnecting, one kind at a time


@needs_dbus
@ACQUIRE
def test_heart_rate_streams_reconnects_and_marks_contact(acquire: bool) -> None:
    bpms = list(range(120, 132))
    script = heart_rate_script(bpms[:6], 0.002) + heart_rate_script(bpms[6:], 0.002, contact=False)
    band = VirtualBand(HR, "Virtual HRM", script=script, battery_percent=77)

    async def body() -> None:
        async with fast_radio(band):
            source = _source(HR, use_acquire_notify=acquire)
            collector = Collector(source)
            await band.wait_delivered(4)
            await collector.wait_for(lambda _: len(collector.of(BatteryReading)) == 1)
            band.drop_link()
            await band.wait_script_done()
            await collector.wait_for(lambda _: len(collector.of(HeartRateReading)) == 12)
            await collector.stop()
            shape = _shape(collector.readings)
            down = shape.index("down")
            assert shape.count("down") == 1 and shape.count("up") == 2
            assert shape[0] == "up" and shape[down + 1] == "up"
            # the battery is read at each connect, in time order with the first beats
            assert shape[:down].count("bat") == 1 and shape[down:].count("bat") == 1
            assert shape[:down].count("hr") >= 4
            hrs = collector.of(HeartRateReading)
            assert [r.bpm for r in hrs] == bpms
            assert [r.contact for r in hrs] == [True] * 6 + [False] * 6
            assert hrs[0].rr_intervals_s == (0.5,)
            assert all(r.device == HR for r in collector.readings)
            ts = [r.t for r in collector.readings]
            assert ts == sorted(ts)
            assert collector.of(BatteryReading)[0].percent == 77
            assert source.body_sensor_location is not None and source.body_sensor_location == 1
            assert source.device_info == {"manufacturer": "edgecoach", "model": "virtual band"}
            assert source.name == f"Virtual HRM {HR}"
            assert source.stats.connects == 2 and source.stats.disconnects == 1
            assert source.state is BleState.STOPPED

    run(body())


@needs_dbus
@ACQUIRE
def test_footpod_streams_cadence_speed_distance_and_steps(acquire: bool) -> None:
    band = VirtualBand(
        POD,
        "Virtual Pod",
        services=("rsc",),
        script=rsc_script([160, 170, 180, 180, 180, 180], speed_mps=3.5, interval_s=0.05),
    )

    async def body() -> None:
        async with fast_radio(band):
            source = _source(POD, use_acquire_notify=acquire, kinds=("rsc",))
            collector = Collector(source)
            await band.wait_delivered(3)
            band.drop_link()
            await band.wait_script_done()
            await collector.wait_for(lambda _: len(collector.of(StrideReading)) == 6)
            await collector.stop()
            strides = collector.of(StrideReading)
            assert [s.cadence_spm for s in strides] == [160, 170, 180, 180, 180, 180]
            assert all(s.speed_mps == pytest.approx(3.5, abs=1 / 256) for s in strides)
            distances = [s.total_distance_m for s in strides]
            assert distances == sorted(distances) and distances[0] == 0.0
            steps = [s.total_steps for s in strides]
            assert steps[0] == 0.0 and steps == sorted(steps)
            # steps come from cadence between notifications of one link, never across the gap
            down = _shape(collector.readings).index("down")
            after_gap = [r for r in collector.readings[down:] if isinstance(r, StrideReading)]
            before_gap = [r for r in collector.readings[:down] if isinstance(r, StrideReading)]
            assert after_gap[0].total_steps == before_gap[-1].total_steps
            assert steps[-1] == pytest.approx(180 * 0.05 / 60 * 4, rel=0.6)
            assert not collector.of(BatteryReading)  # this pod has no battery service

    run(body())


@needs_dbus
@ACQUIRE
def test_cadence_sensor_streams_crank_rpm_speed_and_distance(acquire: bool) -> None:
    band = VirtualBand(
        BIKE,
        "Virtual Cadence",
        services=("csc", "battery"),
        script=csc_script(8, crank_rpm=90.0, wheel_speed_mps=8.0, interval_s=1.0),
    )
    # the script's timestamps are 1 s apart on the sensor's clock; send them quickly
    band.script = [item._replace(delay_s=0.003) for item in band.script]  # type: ignore[union-attr]

    async def body() -> None:
        async with fast_radio(band):
            source = _source(BIKE, use_acquire_notify=acquire, kinds=("csc",))
            collector = Collector(source)
            await band.wait_delivered(4)
            band.drop_link()
            await band.wait_script_done()
            await collector.wait_links(LinkState.CONNECTED, 2)
            await collector.wait_for(
                lambda _: source.stats.notifications >= 8 + 2  # 8 CSC + 2 battery reads
            )
            await collector.stop()
            strides = collector.of(StrideReading)
            rated = [s for s in strides if s.cadence_spm is not None]
            assert rated, strides
            assert all(s.cadence_spm == pytest.approx(90.0, rel=0.1) for s in rated)
            assert all(s.speed_mps == pytest.approx(8.0, rel=0.1) for s in rated)
            assert all(s.total_steps is None for s in strides)
            distances = [s.total_distance_m for s in strides]
            assert distances == sorted(distances)
            assert distances[-1] == pytest.approx(7 * 8.0, rel=0.1)
            # the first measurement after each connect has no rate: nothing is made up
            for i, tag in enumerate(_shape(collector.readings)):
                if tag == "up":
                    nxt = next(r for r in collector.readings[i:] if isinstance(r, StrideReading))
                    assert nxt.cadence_spm is None and nxt.speed_mps is None

    run(body())


@needs_dbus
def test_slow_connect_and_matching_by_name_or_first_band() -> None:
    band = VirtualBand(
        HR, "Strap One", script=heart_rate_script([100, 101], 0.005), slow_connect_s=0.2
    )
    pod = VirtualBand(POD, "Pod Two", services=("rsc",), script=rsc_script([150], interval_s=0.0))

    async def body() -> None:
        async with fast_radio(band, pod):
            by_name = BleSensorSource(fast_config(name="strap one"), reconnect_backoff=FAST_BACKOFF)
            first_pod = BleSensorSource(fast_config(kinds=("rsc",)), reconnect_backoff=FAST_BACKOFF)
            a, b = Collector(by_name), Collector(first_pod)
            await a.wait_for(lambda _: len(a.of(HeartRateReading)) == 2)
            await b.wait_for(lambda _: len(b.of(StrideReading)) == 1)
            await a.stop()
            await b.stop()
            assert by_name.device == HR and first_pod.device == POD

    run(body())


# several bands, faults


@needs_dbus
def test_three_bands_at_once_each_in_its_own_task() -> None:
    hr = VirtualBand(HR, "Virtual HRM", script=heart_rate_script(range(90, 110), 0.01))
    pod = VirtualBand(
        POD, "Virtual Pod", services=("rsc", "battery"), script=rsc_script([170] * 20, 3.0, 0.01)
    )
    bike = VirtualBand(
        BIKE,
        "Virtual Cadence",
        services=("csc",),
        script=[i._replace(delay_s=0.01) for i in csc_script(20)],
    )

    async def body() -> None:
        async with fast_radio(hr, pod, bike):
            sources = {
                HR: _source(HR, kinds=("heart_rate",)),
                POD: _source(POD, kinds=("rsc",)),
                BIKE: _source(BIKE, kinds=("csc",)),
            }
            collectors = {a: Collector(s) for a, s in sources.items()}
            await pod.wait_delivered(5)
            pod.drop_link()
            for band in (hr, pod, bike):
                await band.wait_script_done()
            await collectors[HR].wait_for(lambda rs: len(collectors[HR].of(HeartRateReading)) == 20)
            await collectors[POD].wait_for(lambda rs: len(collectors[POD].of(StrideReading)) == 20)
            await collectors[BIKE].wait_for(lambda rs: sources[BIKE].stats.notifications == 20)
            for c in collectors.values():
                await c.stop()
            for address, c in collectors.items():
                assert {r.device for r in c.readings} == {address}
            assert collectors[POD].links(LinkState.DISCONNECTED) == 1
            assert collectors[HR].links(LinkState.DISCONNECTED) == 0
            assert collectors[BIKE].links(LinkState.DISCONNECTED) == 0
            assert [r.bpm for r in collectors[HR].of(HeartRateReading)] == list(range(90, 110))

    run(body())


@needs_dbus
def test_garbage_is_counted_logged_once_per_kind_and_the_stream_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    band = VirtualBand(HR, "Virtual HRM", services=("heart_rate", "rsc"))
    good = encode_heart_rate_measurement(HeartRateMeasurement(bpm=140))

    async def body() -> BleSensorSource:
        async with fast_radio(band):
            source = _source(HR)
            collector = Collector(source)
            await collector.wait_links(LinkState.CONNECTED, 1)
            await band.wait_until(lambda: band._subscribed(RSC_MEASUREMENT))
            band.send_garbage(HEART_RATE_MEASUREMENT, b"\x01\x02")  # uint16 bpm cut short
            band.notify(HEART_RATE_MEASUREMENT, good)
            band.send_garbage(HEART_RATE_MEASUREMENT, b"")
            band.send_garbage(RSC_MEASUREMENT, b"\x00\x01")
            band.notify(HEART_RATE_MEASUREMENT, good)
            await collector.wait_for(lambda _: len(collector.of(HeartRateReading)) == 2)
            await collector.wait_for(lambda _: source.stats.malformed == 3)
            await collector.stop()
            assert collector.links(LinkState.DISCONNECTED) == 0
            return source

    with caplog.at_level(logging.WARNING, logger="edge.sources.ble"):
        source = run(body())
    assert source.stats.malformed_by_kind == {"heart_rate": 2, "rsc": 1}
    warnings = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(warnings) == 2  # once per kind
    assert "01 02" in warnings[0] and "heart_rate" in warnings[0]


@needs_dbus
def test_out_of_range_then_back() -> None:
    band = VirtualBand(HR, "Virtual HRM", script=heart_rate_script(range(60, 70), 0.01))

    async def body() -> None:
        async with fast_radio(band):
            source = _source(HR, scan_timeout_s=0.15)
            collector = Collector(source)
            await band.wait_delivered(3)
            band.out_of_range(1.0)
            await collector.wait_links(LinkState.DISCONNECTED, 1)
            await band.wait_until(
                lambda: isinstance(source.stats.last_error, BandNotFoundError), timeout_s=0.9
            )
            assert isinstance(source.stats.last_error, BandNotFoundError)
            assert source.stats.last_error.address == HR
            assert source.stats.connect_failures >= 1
            assert collector.links(LinkState.CONNECTED) == 1  # nothing while away
            await collector.wait_links(LinkState.CONNECTED, 2, timeout_s=5)
            await band.wait_script_done()
            await collector.wait_for(lambda _: len(collector.of(HeartRateReading)) == 10)
            await collector.stop()
            # between the drop and the reconnect: no readings at all
            shape = _shape(collector.readings)
            down = shape.index("down")
            assert shape[down + 1] == "up"

    run(body())


@needs_dbus
def test_no_bluez_on_the_bus_is_a_sensor_error_with_advice() -> None:
    async def body() -> BleSensorSource:
        async with PrivateSystemBus():  # a bus, but nobody owns org.bluez on it
            source = _source(HR)
            collector = Collector(source)
            await asyncio.sleep(0)
            async with asyncio.timeout(5):
                while source.stats.connect_failures < 2:
                    await asyncio.sleep(0.01)
            await collector.stop()
            assert collector.readings == []
            return source

    source = run(body())
    assert isinstance(source.stats.last_error, SensorError)
    assert "bluetoothd" in str(source.stats.last_error)


@needs_dbus
def test_band_that_never_resolves_services_gives_a_clear_error_and_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    band = VirtualBand(HR, "Stuck Strap", never_resolves_services=True)

    async def body() -> tuple[BleSensorSource, int, int]:
        async with fast_radio(band) as bluez:
            await scan(timeout_s=0.05, read_battery=False)  # bleak's manager and its bus
            before = open_fds()
            source = _source(HR, connect_timeout_s=0.3)
            collector = Collector(source)
            link = bluez.links[HR]
            await band.wait_until(lambda: link.connect_calls >= 3, timeout_s=5)
            await band.wait_until(lambda: source.stats.connect_failures >= 2, timeout_s=5)
            await collector.stop()
            await band.wait_until(lambda: not link.connected, timeout_s=2)
            assert collector.readings == []
            await asyncio.sleep(0.05)
            return source, before, open_fds()

    with caplog.at_level(logging.WARNING, logger="edge.sources.ble"):
        source, before, after = run(body())
    error = source.stats.last_error
    assert isinstance(error, ServicesNotResolvedError)
    assert error.address == HR
    assert "did not resolve" in str(error) and "bluetoothctl remove" in str(error)
    assert sum("did not resolve" in r.getMessage() for r in caplog.records) == 1  # not spammed
    assert after == before


@needs_dbus
@ACQUIRE
def test_no_notification_sent_before_a_drop_is_lost(acquire: bool) -> None:
    bpms = list(range(40, 100))
    band = VirtualBand(
        HR, "Virtual HRM", services=("heart_rate",), script=heart_rate_script(bpms, 0.0005)
    )

    async def body() -> None:
        async with fast_radio(band):
            source = _source(HR, use_acquire_notify=acquire)
            collector = Collector(source)
            for n in range(10, 60, 10):
                await band.wait_delivered(n)
                band.notify(
                    HEART_RATE_MEASUREMENT,
                    encode_heart_rate_measurement(HeartRateMeasurement(bpm=200 + n)),
                )
                band.drop_link()  # right after a notification: the tightest case
            await band.wait_script_done()
            delivered = [decode(HEART_RATE_MEASUREMENT, p).bpm for p in band.delivered()]
            await collector.wait_for(
                lambda _: len(collector.of(HeartRateReading)) == len(delivered)
            )
            await collector.stop()
            assert [r.bpm for r in collector.of(HeartRateReading)] == delivered
            assert collector.links(LinkState.DISCONNECTED) == 5
            # every notification before a drop arrives before the DISCONNECTED event
            shape = _shape(collector.readings)
            for i, tag in enumerate(shape):
                if tag == "down":
                    before_drop = collector.readings[i - 1]
                    assert isinstance(before_drop, HeartRateReading) and before_drop.bpm > 200

    run(body())


@needs_dbus
@ACQUIRE
def test_open_fds_and_tasks_stay_flat_over_30_forced_reconnects(acquire: bool) -> None:
    band = VirtualBand(HR, "Virtual HRM", services=("heart_rate", "battery"))
    beat = encode_heart_rate_measurement(HeartRateMeasurement(bpm=150))

    async def body() -> tuple[list[int], list[int]]:
        async with fast_radio(band):
            source = _source(HR, use_acquire_notify=acquire)
            collector = Collector(source)
            fds: list[int] = []
            tasks: list[int] = []
            for cycle in range(1, 33):
                await collector.wait_links(LinkState.CONNECTED, cycle)
                await band.wait_until(lambda: band._subscribed(HEART_RATE_MEASUREMENT))
                if cycle in (2, 32):  # after one warm-up cycle, and after 30 more
                    await asyncio.sleep(0.3)  # let closed sockets and finished tasks settle
                    fds.append(open_fds())
                    tasks.append(len(asyncio.all_tasks()))
                band.notify(HEART_RATE_MEASUREMENT, beat)
                band.drop_link()
            await collector.wait_links(LinkState.CONNECTED, 33)
            await collector.stop()
            assert len(collector.of(HeartRateReading)) == 32
            return fds, tasks

    fds, tasks = run(body(), timeout_s=60)
    assert fds[1] == fds[0], f"open fds {fds[0]} -> {fds[1]} over 30 reconnects"
    assert tasks[1] == tasks[0], f"asyncio tasks {tasks[0]} -> {tasks[1]} over 30 reconnects"


@needs_dbus
def test_cancelling_the_task_unsubscribes_disconnects_and_frees_everything() -> None:
    band = VirtualBand(HR, "Virtual HRM", script=heart_rate_script([80] * 1000, 0.005))

    async def body() -> None:
        async with fast_radio(band) as bluez:
            await scan(timeout_s=0.05, read_battery=False)  # bleak's manager and its bus
            fds_before = open_fds()
            tasks_before = own_tasks()
            source = _source(HR, use_acquire_notify=True)
            collector = Collector(source)
            await band.wait_delivered(3)
            link = bluez.links[HR]
            char = link._chars[HEART_RATE_MEASUREMENT]
            assert char.acquired is not None
            await collector.stop()
            assert collector.task.cancelled()
            assert source.state is BleState.STOPPED
            assert not link.connected and link.disconnect_calls == 1
            assert char.acquired is None  # the notify socket was closed
            await asyncio.sleep(0.3)
            assert open_fds() == fds_before
            assert own_tasks() == tasks_before

    run(body())


@needs_dbus
def test_battery_notifications_become_battery_readings() -> None:
    band = VirtualBand(
        HR,
        "Virtual HRM",
        battery_percent=60,
        battery_drain_per_s=200.0,
        battery_notify=True,
    )

    async def body() -> None:
        async with fast_radio(band):
            collector = Collector(_source(HR))
            await collector.wait_for(lambda _: len(collector.of(BatteryReading)) >= 4)
            await collector.stop()
            levels = [r.percent for r in collector.of(BatteryReading)]
            assert levels == sorted(levels, reverse=True) and levels[-1] < 60

    run(body())


@needs_dbus
def test_scan_lists_bands_with_kinds_and_battery() -> None:
    bands = [
        VirtualBand(HR, "Virtual HRM", battery_percent=91),
        VirtualBand(POD, "Virtual Pod", services=("rsc",)),
        VirtualBand(BIKE, "Virtual Cadence", services=("csc", "battery"), battery_percent=12),
        VirtualBand("C0:FF:EE:00:00:04", "Stuck Strap", never_resolves_services=True),
    ]

    async def body() -> None:
        async with fast_radio(*bands):
            results = await scan(timeout_s=0.3, connect_timeout_s=0.5)
            by_address = {r.address: r for r in results}
            assert set(by_address) == {b.address for b in bands}
            assert by_address[HR].kinds == ("heart_rate",)
            assert by_address[HR].battery_percent == 91
            assert by_address[HR].name == "Virtual HRM"
            assert by_address[POD].kinds == ("rsc",) and by_address[POD].battery_percent is None
            assert by_address[BIKE].kinds == ("csc",) and by_address[BIKE].battery_percent == 12
            assert by_address["C0:FF:EE:00:00:04"].battery_percent is None  # skipped
            assert all(r.rssi is not None and r.rssi < 0 for r in results)
            without_battery = await scan(timeout_s=0.2, read_battery=False)
            assert all(r.battery_percent is None for r in without_battery)

    run(body())


@needs_dbus
@ACQUIRE
def test_the_source_never_blocks_the_event_loop(acquire: bool) -> None:
    band = VirtualBand(HR, "Virtual HRM", script=heart_rate_script(range(70, 90), 0.005))

    async def body() -> None:
        async with fast_radio(band):
            with blockbuster_ctx() as bb:
                # bleak reads its AcquireNotify socket with os.read on a blocking fd, but only
                # from the loop's reader callback, when a packet is waiting: it cannot block
                bb.functions["os.read"].can_block_in(
                    "bleak/backends/bluezdbus/client.py", "on_data"
                )
                collector = Collector(_source(HR, use_acquire_notify=acquire))
                await band.wait_delivered(5)
                band.drop_link()
                await band.wait_script_done()
                await collector.wait_for(lambda _: len(collector.of(HeartRateReading)) == 20)
                await collector.stop()

    run(body())
