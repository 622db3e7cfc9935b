"""The hardware-free BLE demo and `edgecoach scan`: virtual bands over the real bleak backend."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import pytest
from ble_fixtures import needs_dbus, run
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakError

from edge.commands import scan as scan_command
from edge.core.events import event_json
from edge.errors import SensorError
from edge.narrator.narrator import Narrator
from edge.playback import demo_profile, run_ble_demo_session
from edge.session import CoachingSession, merge_readings
from edge.sources.simulator import STRIDE_OFFSET_S, SimulatorSource
from edge.sources.virtual_demo import (
    CADENCE_ADDRESS,
    FOOTPOD_ADDRESS,
    HEART_RATE_ADDRESS,
    MAX_BLE_SPEED,
    ScriptedBandSource,
    SimulatedClock,
    ble_speed,
    virtual_demo_bands,
)
from edge.stream.readings import HeartRateReading, LinkEvent, LinkState, Reading, StrideReading
from firmware_bridge.simulator import DEMO_ATHLETE, Segment, WorkoutPlan, simulate
from firmware_bridge.virtual_band import BIKE_ADDRESS, POWER_METER_ADDRESS, TREADMILL_ADDRESS

#: 40 simulated seconds: a walk, then a hard run (heart rate climbs, cadence jumps).
SHORT = WorkoutPlan("short", (Segment("walk", 20, "walk", 0.5), Segment("run", 20, "run", 0.9)))
SPEED = 10.0  # 4 s of wall time; 100 ms per simulated second leaves room for a busy CI core


# pure parts


def test_speed_is_clamped_to_what_ble_can_carry() -> None:
    assert ble_speed(10) == 10
    assert ble_speed(MAX_BLE_SPEED) == MAX_BLE_SPEED
    assert ble_speed(0) == MAX_BLE_SPEED  # "as fast as possible" means the most BLE can do
    assert ble_speed(1000) == MAX_BLE_SPEED


def test_simulated_clock_maps_wall_time_to_simulated_seconds() -> None:
    clock = SimulatedClock(10.0)
    assert clock() == 0.0 and not clock.started
    clock.start_now()
    start = clock.start
    assert start is not None
    clock.start_now()  # a second start keeps the first
    assert clock.start == start
    assert clock.wall_at(5.0) == pytest.approx(start + 0.5)
    before = clock()
    time.sleep(0.02)
    assert clock() - before == pytest.approx(0.2, abs=0.15)
    with pytest.raises(ValueError):
        SimulatedClock(0)


# the demo bands


@needs_dbus
def test_demo_bands_play_the_simulated_workout_on_simulated_time() -> None:
    seconds = simulate(SHORT, DEMO_ATHLETE, seed=3)

    async def body() -> tuple[list[Reading], float, list[str]]:
        readings: list[Reading] = []
        started = time.monotonic()
        async with virtual_demo_bands(SHORT, DEMO_ATHLETE, seed=3, speed=SPEED) as sources:
            assert all(isinstance(s, ScriptedBandSource) for s in sources)
            # no cancel: the sources end by themselves once the workout is played
            async for reading in merge_readings(tuple(sources)):
                readings.append(reading)
            names = [s.name for s in sources]
        return readings, time.monotonic() - started, names

    readings, wall_s, names = run(body(), timeout_s=30)
    assert wall_s < SHORT.duration_s / SPEED + 6  # ended soon after the script did
    assert any("Virtual HRM" in n for n in names) and any("Footpod" in n for n in names)
    links = [r for r in readings if isinstance(r, LinkEvent)]
    assert {(r.device, r.state) for r in links} == {
        (HEART_RATE_ADDRESS, LinkState.CONNECTED),
        (FOOTPOD_ADDRESS, LinkState.CONNECTED),
    }
    hrs = [r for r in readings if isinstance(r, HeartRateReading)]
    strides = [r for r in readings if isinstance(r, StrideReading)]
    heart_seconds = [s for s in seconds if s.hr_bpm is not None]
    assert len(hrs) == len(heart_seconds) and len(strides) == len(seconds)
    for reading, second in zip(hrs, heart_seconds, strict=True):
        # stamped a BLE round trip (times the speed) after its simulated second began
        assert 0.0 <= reading.t - second.t < 0.5, (reading.t, second.t)
        assert reading.bpm == round(second.hr_bpm)  # type: ignore[arg-type]
        assert reading.contact is True
        assert reading.rr_intervals_s == pytest.approx(second.rr_intervals_s, abs=1 / 1024)
        assert reading.device == HEART_RATE_ADDRESS
    for reading, second in zip(strides, seconds, strict=True):
        assert 0.0 <= reading.t - (second.t + STRIDE_OFFSET_S) < 0.45, (reading.t, second.t)
        assert reading.cadence_spm == min(255, round(second.cadence_spm))
        assert reading.speed_mps == pytest.approx(second.speed_mps, abs=1 / 256)
        assert reading.total_distance_m == pytest.approx(second.distance_m, abs=0.1)
        assert reading.device == FOOTPOD_ADDRESS


@needs_dbus
def test_a_ble_demo_session_gives_the_same_samples_and_cues_as_the_simulator() -> None:
    def session(events: list[dict[str, object]]) -> CoachingSession:
        return CoachingSession(
            profile=demo_profile(),
            health=None,
            narrator=Narrator(None),
            speaker=None,
            emit=lambda e: events.append(event_json(e)),
        )

    over_ble: list[dict[str, object]] = []
    direct: list[dict[str, object]] = []
    ble_result = run(
        run_ble_demo_session(session(over_ble), SHORT, DEMO_ATHLETE, seed=5, speed=SPEED),
        timeout_s=30,
    )
    sim_result = asyncio.run(
        session(direct).run(SimulatorSource(SHORT, DEMO_ATHLETE, seed=5, speed=0))
    )

    def samples(events: list[dict[str, object]], *keys: str) -> list[tuple[object, ...]]:
        return [tuple(e[k] for k in keys) for e in events if e["event"] == "sample"]

    exact = ("t", "hr", "rr", "cadence", "speed", "distance", "contact", "gap")
    assert len(samples(over_ble, "t")) == SHORT.duration_s
    assert samples(over_ble, *exact) == samples(direct, *exact)
    # steps come from cadence times the time between footpod notifications: BLE arrival
    # times, a few milliseconds (times the speed) off the simulator's exact half seconds
    steps_ble = [step for (step,) in samples(over_ble, "steps")]
    steps_sim = [step for (step,) in samples(direct, "steps")]
    assert steps_ble == pytest.approx(steps_sim, rel=0.02, abs=0.5)
    assert [c.kind for c in ble_result.cues] == [c.kind for c in sim_result.cues]
    assert ble_result.summary.as_dict() == sim_result.summary.as_dict()


# edgecoach scan


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    scan_command.configure(parser)
    return parser.parse_args(argv)


def test_scan_flags() -> None:
    args = _args()
    assert (args.timeout, args.json, args.no_battery, args.virtual) == (None, False, False, False)
    args = _args("--timeout", "2.5", "--json", "--no-battery", "--virtual")
    assert (args.timeout, args.json, args.no_battery, args.virtual) == (2.5, True, True, True)
    with pytest.raises(SystemExit):
        _args("--timeout", "0")


@needs_dbus
def test_scan_virtual_prints_the_demo_bands_and_machines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert scan_command.run(_args("--virtual", "--timeout", "0.3"), None) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ADDRESS", "NAME", "RSSI", "MEASURES", "BATTERY", "FEATURES"]
    rows = {line.split()[0]: line for line in table[1:]}
    assert set(rows) == {
        HEART_RATE_ADDRESS,
        FOOTPOD_ADDRESS,
        CADENCE_ADDRESS,
        BIKE_ADDRESS,
        TREADMILL_ADDRESS,
        POWER_METER_ADDRESS,
    }
    # the features come from the machines' own feature characteristics (0x2ACC, 0x2A65)
    assert "indoor bike, power meter" in rows[BIKE_ADDRESS]
    assert "targets resistance, power" in rows[BIKE_ADDRESS]
    assert "crank revolution data" in rows[BIKE_ADDRESS]
    assert "treadmill" in rows[TREADMILL_ADDRESS]
    assert "targets speed, inclination" in rows[TREADMILL_ADDRESS]
    assert "power meter" in rows[POWER_METER_ADDRESS] and "72 %" in rows[POWER_METER_ADDRESS]
    assert "pedal power balance" in rows[POWER_METER_ADDRESS]
    assert "heart rate" in rows[HEART_RATE_ADDRESS] and "87 %" in rows[HEART_RATE_ADDRESS]
    assert "footpod" in rows[FOOTPOD_ADDRESS] and "64 %" in rows[FOOTPOD_ADDRESS]
    assert "cycling" in rows[CADENCE_ADDRESS] and "45 %" in rows[CADENCE_ADDRESS]
    assert all("dBm" in row for row in rows.values())


@needs_dbus
def test_scan_virtual_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        scan_command.run(_args("--virtual", "--json", "--no-battery", "--timeout", "0.3"), None)
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_address = {line["address"]: line for line in lines}
    assert set(by_address) == {
        HEART_RATE_ADDRESS,
        FOOTPOD_ADDRESS,
        CADENCE_ADDRESS,
        BIKE_ADDRESS,
        TREADMILL_ADDRESS,
        POWER_METER_ADDRESS,
    }
    assert by_address[BIKE_ADDRESS]["kinds"] == ["cycling_power", "fitness_machine"]
    assert by_address[BIKE_ADDRESS]["features"] == []  # --no-battery: no connection at all
    assert by_address[FOOTPOD_ADDRESS]["kinds"] == ["rsc"]
    assert all(line["battery_percent"] is None for line in lines)  # --no-battery
    assert all(isinstance(line["rssi"], int) for line in lines)
    assert set(lines[0]) == {"address", "name", "rssi", "kinds", "battery_percent"}


def test_scan_without_a_system_bus_is_one_sensor_error_with_a_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-socket")
    with pytest.raises(SensorError) as caught:
        scan_command.run(_args("--timeout", "0.2"), None)
    message = str(caught.value)
    assert "\n" not in message
    assert "D-Bus" in message and "systemctl status bluetooth" in message


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            BleakBluetoothNotAvailableError(
                "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
            ),
            "no Bluetooth adapter found: is one plugged in, and is bluetoothd running?"
            " `systemctl status bluetooth`",
        ),
        (
            BleakBluetoothNotAvailableError("off", BleakBluetoothNotAvailableReason.POWERED_OFF),
            "`bluetoothctl power on`",
        ),
        (
            BleakBluetoothNotAvailableError(
                "no central", BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE
            ),
            "BLE central",
        ),
        (
            BleakError(
                "org.freedesktop.DBus.Error.ServiceUnknown",
                "The name org.bluez was not provided by any .service files",
            ),
            "BlueZ is not running: is bluetoothd running?",
        ),
        (BleakError("adapter 'hci0' not found"), "no Bluetooth adapter found"),
        (PermissionError(13, "Permission denied"), "system_bus_socket"),
        (EOFError(), "cannot scan: EOFError"),
    ],
)
def test_scan_errors_become_advice(error: BaseException, says: str) -> None:
    message = str(scan_command.scan_error(error))
    assert says in message and "\n" not in message


def test_scan_table_when_nothing_was_found() -> None:
    assert (
        "No heart-rate, footpod or cadence sensor, power meter or fitness machine seen in 5 s"
        in scan_command.format_table([], 5.0)
    )
