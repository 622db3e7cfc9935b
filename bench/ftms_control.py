"""Measure the effort codecs and one FTMS control point round trip over the real BLE stack.

Two figures:

- codecs: microseconds to decode one notification (Cycling Power Measurement, Indoor Bike Data,
  Treadmill Data, a control point response, a status), pure Python, one core;
- control point: `write_gatt_char(response=True)` of a Set Target Power through real bleak and
  a private D-Bus to the virtual bike, until its response indication is back in the client's
  callback (p50 / p95 / max over `--writes`), with the bike's own response delay set to 0. That
  is the floor a controller's command costs on this machine without a radio; a real trainer adds
  its connection interval (7.5-50 ms) and its own processing.

Usage: python bench/ftms_control.py [--writes 200] [--decodes 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bleak import BleakClient, BleakScanner

from firmware_bridge.gatt import fitness_machine as fm
from firmware_bridge.gatt.cycling_power import (
    CyclingPowerMeasurement,
    decode_cycling_power_measurement,
    encode_cycling_power_measurement,
)
from firmware_bridge.gatt.uuids import FITNESS_MACHINE_CONTROL_POINT
from firmware_bridge.virtual_band import VirtualIndoorBike, virtual_radio

BIKE = "C0:FF:EE:BE:4C:01"


def codec_payloads() -> dict[str, tuple[Callable[[bytes], object], bytes]]:
    power = CyclingPowerMeasurement(
        instantaneous_power_w=250,
        pedal_power_balance_percent=51.0,
        pedal_power_balance_left=True,
        accumulated_torque_nm=1234.5,
        accumulated_torque_crank_based=True,
        cumulative_crank_revolutions=4321,
        last_crank_event_time=60000,
        accumulated_energy_kj=321,
    )
    bike = fm.IndoorBikeData(
        instantaneous_speed_kmh=31.5,
        instantaneous_cadence_rpm=90.0,
        total_distance_m=12345,
        resistance_level=8,
        instantaneous_power_w=250,
        total_energy_kcal=300,
        energy_per_hour_kcal=900,
        energy_per_minute_kcal=15,
        elapsed_time_s=1800,
    )
    treadmill = fm.TreadmillData(
        instantaneous_speed_kmh=10.5,
        total_distance_m=5000,
        inclination_percent=-1.5,
        ramp_angle_deg=-0.9,
        elapsed_time_s=1800,
    )
    return {
        "cycling power measurement": (
            decode_cycling_power_measurement,
            encode_cycling_power_measurement(power),
        ),
        "indoor bike data": (fm.decode_indoor_bike_data, fm.encode_indoor_bike_data(bike)),
        "treadmill data": (fm.decode_treadmill_data, fm.encode_treadmill_data(treadmill)),
        "control point response": (fm.decode_control_point_response, b"\x80\x05\x01"),
        "status": (fm.decode_fitness_machine_status, b"\x08\xfa\x00"),
    }


def bench_codecs(count: int) -> None:
    print(f"decode, microseconds per notification ({count} each):")
    for name, (decode, payload) in codec_payloads().items():
        start = time.perf_counter()
        for _ in range(count):
            decode(payload)
        per = (time.perf_counter() - start) / count * 1e6
        print(f"  {name:28s} {per:6.1f} us  ({len(payload)} bytes)")


async def bench_control_point(writes: int) -> list[float]:
    bike = VirtualIndoorBike(BIKE, tick_s=3600.0, response_delay_s=0.0)
    latencies: list[float] = []
    replies: list[float] = []
    async with virtual_radio(bike, advertise_interval_s=0.02, resolve_delay_s=0.005):
        device = await BleakScanner.find_device_by_address(BIKE, timeout=5)
        assert device is not None, "the virtual bike was not found"
        async with BleakClient(device) as client:
            answered: asyncio.Queue[float] = asyncio.Queue()
            await client.start_notify(
                FITNESS_MACHINE_CONTROL_POINT,
                lambda _c, _d: answered.put_nowait(time.perf_counter()),
            )
            await client.write_gatt_char(FITNESS_MACHINE_CONTROL_POINT, b"\x00", response=True)
            await answered.get()
            for i in range(writes):
                assert answered.empty()
                payload = fm.encode_fitness_machine_control_point(fm.SetTargetPower(100 + i % 200))
                start = time.perf_counter()
                await client.write_gatt_char(FITNESS_MACHINE_CONTROL_POINT, payload, response=True)
                written = time.perf_counter()
                latencies.append(await asyncio.wait_for(answered.get(), 5) - start)
                replies.append(written - start)
    print(f"  (write reply alone: p50 {statistics.median(replies) * 1000:.2f} ms)")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--decodes", type=int, default=20000)
    args = parser.parse_args()
    bench_codecs(args.decodes)
    latencies = sorted(asyncio.run(bench_control_point(args.writes)))
    ms = [x * 1000 for x in latencies]
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(
        f"control point write -> response indication through bleak + D-Bus ({len(ms)} writes):"
        f" p50 {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms, max {ms[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
