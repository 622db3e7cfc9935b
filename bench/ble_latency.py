"""Measure the BLE source with many bands: notification-to-reading latency and CPU per band.

A child process serves the virtual bands (fake BlueZ on a private D-Bus, its own dbus-daemon),
each notifying at `--rate` per second for `--seconds`; this process runs one `BleSensorSource`
per band, as the daemon does, over the real bleak BlueZ backend. So the CPU figures are split:
this process is the daemon side (bleak, D-Bus parsing, decoding, the reading queues), the child
is the fake radio, and dbus-daemon is measured on its own.

Latency: the band records the monotonic time of each send (`VirtualBand.sent[i].t`; the event
loop clock is `time.monotonic`, one clock for every process on the machine) and each payload
carries a sequence number (RR interval field for heart rate, total distance for footpods), so
every reading is paired with its own send. Two figures: to the source's timestamp (taken in the
notification callback) and to the moment the consuming task got the reading.

With `--machines N` (default 5) as many virtual indoor bikes (FTMS, the issue-14 machines) notify
Indoor Bike Data beside the bands, each read by a `MachineLink` as the daemon reads a gym's
machines. A bike's record spans two notifications at the default MTU, and becomes one reading
when its last part arrives: the k-th reading is paired with the k-th record's last part (the fake
delivers in order and loses nothing), so the machine figure is from the last part's send to the
consuming task.

Usage: python bench/ble_latency.py [--bands 10] [--machines 5] [--rate 4] [--seconds 20] [--mix]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.settings import BleBandConfig, MachineSettings
from edge.sources.ble import BleSensorSource, ReconnectBackoff
from edge.sources.machine import MachineLink
from edge.stream.readings import (
    HeartRateReading,
    LinkEvent,
    LinkState,
    MachineReading,
    StrideReading,
)
from firmware_bridge.gatt import (
    HeartRateMeasurement,
    RSCMeasurement,
    decode,
    encode_heart_rate_measurement,
    encode_rsc_measurement,
)
from firmware_bridge.gatt.uuids import HEART_RATE_MEASUREMENT, INDOOR_BIKE_DATA, RSC_MEASUREMENT
from firmware_bridge.virtual_band import (
    Notification,
    VirtualBand,
    VirtualIndoorBike,
    release_bleak_bluez_manager,
    virtual_radio,
)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def band_plan(bands: int, mix: bool) -> list[tuple[str, str]]:
    """(address, kind) per band; with `mix` every other band is a footpod."""
    return [
        (f"C0:FF:EE:1A:{i // 256:02X}:{i % 256:02X}", "rsc" if mix and i % 2 else "heart_rate")
        for i in range(bands)
    ]


def machine_plan(machines: int) -> list[str]:
    return [f"C0:FF:EE:2B:{i // 256:02X}:{i % 256:02X}" for i in range(machines)]


def record_ends(sent: list[tuple[float, bytes]]) -> list[float]:
    """Send times of the parts that end a record (More Data, flag bit 0, clear)."""
    return [t for t, data in sent if not data[0] & 0x01]


def payload(kind: str, sequence: int) -> bytes:
    if kind == "heart_rate":
        return encode_heart_rate_measurement(
            HeartRateMeasurement(
                bpm=120 + sequence % 60,
                contact_supported=True,
                contact_detected=True,
                rr_intervals=(sequence,),
            )
        )
    return encode_rsc_measurement(
        RSCMeasurement(
            speed_mps=3.2, cadence_spm=170, total_distance_m=sequence / 10, is_running=True
        )
    )


def sequence_in_payload(uuid: str, data: bytes) -> int:
    value = decode(uuid, data)
    if uuid == HEART_RATE_MEASUREMENT:
        return value.rr_intervals[0]
    return round(value.total_distance_m * 10)


def sequence_in_reading(reading: HeartRateReading | StrideReading) -> int:
    if isinstance(reading, HeartRateReading):
        return round(reading.rr_intervals_s[0] * 1024)
    assert reading.total_distance_m is not None
    return round(reading.total_distance_m * 10)


# the child: the virtual radio


def _children_cpu_s() -> float:
    """CPU seconds of this process's live children (the dbus-daemon), from /proc."""
    total = 0.0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children", encoding="ascii") as f:
                pids = f.read().split()
        except OSError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return total


def _say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve(bands: int, rate: float, seconds: float, mix: bool, machines: int) -> None:
    count = round(rate * seconds)
    virtual = []
    for address, kind in band_plan(bands, mix):
        uuid = HEART_RATE_MEASUREMENT if kind == "heart_rate" else RSC_MEASUREMENT
        script = [Notification(1.0 / rate, uuid, payload(kind, n)) for n in range(count)]
        virtual.append(
            VirtualBand(
                address,
                f"Bench {kind} {address[-5:]}",
                services=("heart_rate",) if kind == "heart_rate" else ("rsc",),
                script=script,
            )
        )
    bikes = [
        VirtualIndoorBike(
            address, f"Bench bike {address[-5:]}", tick_s=1.0 / rate, model_step_s=1.0 / rate
        )
        for address in machine_plan(machines)
    ]
    async with virtual_radio(*virtual, *bikes):
        _say({"bus": os.environ["DBUS_SYSTEM_BUS_ADDRESS"], "path": os.environ["PATH"]})
        # stdin is a pipe from the parent; reading it in a thread keeps the loop free
        while (await asyncio.to_thread(sys.stdin.readline)).strip() == "mark":
            _say({"cpu_s": time.process_time(), "dbus_cpu_s": _children_cpu_s()})
        _say(
            {
                "sent": {
                    band.address: [
                        (s.t, s.uuid, sequence_in_payload(s.uuid, s.payload))
                        for s in band.sent
                        if s.delivered
                    ]
                    for band in virtual
                },
                "machines": {
                    bike.address: [
                        (s.t, s.payload.hex())
                        for s in bike.sent
                        if s.delivered and s.uuid == INDOOR_BIKE_DATA
                    ]
                    for bike in bikes
                },
            }
        )


# the parent: the daemon side


@dataclass(frozen=True, slots=True)
class Figures:
    bands: int
    rate: float
    seconds: float
    wall_s: float
    received: int
    expected: int
    stamp_ms: list[float]
    consumer_ms: list[float]
    daemon_cpu_s: float
    radio_cpu_s: float
    dbus_cpu_s: float
    machines: int = 0
    machine_readings: int = 0
    machine_ms: tuple[float, ...] = ()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def measure(bands: int, rate: float, seconds: float, mix: bool, machines: int = 0) -> Figures:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        "--bands",
        str(bands),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        *(["--mix"] if mix else []),
        "--machines",
        str(machines),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,  # the last line carries every send
    )
    assert child.stdin is not None and child.stdout is not None
    stdin, stdout = child.stdin, child.stdout

    async def ask(line: str) -> dict[str, object]:
        stdin.write(line.encode() + b"\n")
        await stdin.drain()
        return json.loads(await stdout.readline())

    try:
        async with asyncio.timeout(30):
            hello = json.loads(await stdout.readline())
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = str(hello["bus"])
        os.environ["PATH"] = str(hello["path"])  # the child's stub bluetoothctl

        plan = band_plan(bands, mix)
        expected_each = round(rate * seconds)
        got: dict[str, list[tuple[int, float, float]]] = {a: [] for a, _ in plan}
        connected: set[str] = set()
        changed = asyncio.Event()

        async def collect(address: str, kind: str) -> None:
            source = BleSensorSource(
                BleBandConfig(
                    address=address, kinds=(kind,), scan_timeout_s=5.0, connect_attempts=2
                ),
                reconnect_backoff=ReconnectBackoff(first_s=0.05, max_s=0.5, max_not_found_s=0.5),
            )
            async for reading in source.readings():
                now = time.monotonic()
                if isinstance(reading, LinkEvent):
                    if reading.state is LinkState.CONNECTED:
                        connected.add(address)
                elif isinstance(reading, HeartRateReading | StrideReading):
                    got[address].append((sequence_in_reading(reading), reading.t, now))
                changed.set()

        async def until(condition, timeout_s: float) -> None:
            async with asyncio.timeout(timeout_s):
                while not condition():
                    changed.clear()
                    await changed.wait()

        machine_got: dict[str, list[float]] = {a: [] for a in machine_plan(machines)}

        async def collect_machine(address: str) -> None:
            link = MachineLink(
                MachineSettings(address=address, kind="bike"),
                reconnect_backoff=ReconnectBackoff(first_s=0.05, max_s=0.5, max_not_found_s=0.5),
            )
            async for reading in link.readings():
                now = time.monotonic()
                if isinstance(reading, LinkEvent):
                    if reading.state is LinkState.CONNECTED:
                        connected.add(address)
                elif isinstance(reading, MachineReading):
                    machine_got[address].append(now)
                changed.set()

        tasks = [asyncio.create_task(collect(a, k), name=f"bench-{a}") for a, k in plan]
        tasks += [
            asyncio.create_task(collect_machine(a), name=f"bench-machine-{a}") for a in machine_got
        ]
        try:
            await until(lambda: len(connected) == bands + machines, 30 + (bands + machines) * 2)
            radio0 = await ask("mark")
            cpu0, wall0 = time.process_time(), time.monotonic()
            await until(lambda: all(len(v) >= expected_each for v in got.values()), seconds + 30)
            cpu1, wall1 = time.process_time(), time.monotonic()
            radio1 = await ask("mark")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await release_bleak_bluez_manager()
        final = await ask("stop")
        sent, machine_sent = final["sent"], final["machines"]
        assert isinstance(sent, dict) and isinstance(machine_sent, dict)
    finally:
        if child.returncode is None:
            stdin.close()
            try:
                async with asyncio.timeout(10):
                    await child.wait()
            except TimeoutError:
                child.kill()
                await child.wait()

    stamp_ms: list[float] = []
    consumer_ms: list[float] = []
    for address, records in got.items():
        sent_at = {seq: t for t, _uuid, seq in sent[address]}
        for seq, stamped, consumed in records:
            stamp_ms.append((stamped - sent_at[seq]) * 1000)
            consumer_ms.append((consumed - sent_at[seq]) * 1000)
    machine_ms: list[float] = []
    for address, consumed in machine_got.items():
        ends = record_ends([(t, bytes.fromhex(h)) for t, h in machine_sent[address]])
        # readings made after the last "stop" send are not in the log yet: pair what both have
        for sent_t, got_t in zip(ends, consumed, strict=False):
            machine_ms.append((got_t - sent_t) * 1000)
    return Figures(
        machines=machines,
        machine_readings=sum(len(v) for v in machine_got.values()),
        machine_ms=tuple(machine_ms),
        bands=bands,
        rate=rate,
        seconds=seconds,
        wall_s=wall1 - wall0,
        received=sum(len(v) for v in got.values()),
        expected=expected_each * bands,
        stamp_ms=stamp_ms,
        consumer_ms=consumer_ms,
        daemon_cpu_s=cpu1 - cpu0,
        radio_cpu_s=float(radio1["cpu_s"]) - float(radio0["cpu_s"]),  # type: ignore[arg-type]
        dbus_cpu_s=float(radio1["dbus_cpu_s"]) - float(radio0["dbus_cpu_s"]),  # type: ignore[arg-type]
    )


def report(f: Figures, mix: bool) -> list[str]:
    kinds = "heart rate and footpods, alternating" if mix else "heart rate"
    devices = f.bands + f.machines
    per_band = f.daemon_cpu_s / devices
    return [
        f"BLE latency: {f.bands} virtual bands ({kinds}) at {f.rate:g}/s for {f.seconds:g} s,"
        " fake BlueZ in a child process",
        f"  readings: {f.received} of {f.expected}; all {f.bands} streaming for {f.wall_s:.1f} s",
        f"  send -> source timestamp: p50 {percentile(f.stamp_ms, 50):.2f} ms,"
        f" p99 {percentile(f.stamp_ms, 99):.2f} ms, max {max(f.stamp_ms):.2f} ms",
        f"  send -> consuming task:   p50 {percentile(f.consumer_ms, 50):.2f} ms,"
        f" p99 {percentile(f.consumer_ms, 99):.2f} ms, max {max(f.consumer_ms):.2f} ms,"
        f" mean {statistics.fmean(f.consumer_ms):.2f} ms",
        f"  daemon side (this process): {f.daemon_cpu_s:.2f} CPU s, {per_band * 1000:.1f} ms per"
        f" {'band' if not f.machines else 'device (bands and machines)'}"
        f" = {100 * per_band / f.wall_s:.2f} % of a core each",
        f"  not counted above: fake radio (child) {f.radio_cpu_s:.2f} CPU s,"
        f" dbus-daemon {f.dbus_cpu_s:.2f} CPU s (BlueZ's own cost on a real device differs)",
        *(
            [
                (
                    f"  machines: {f.machines} virtual indoor bikes at {f.rate:g} records/s,"
                    f" {f.machine_readings} readings; last part sent -> consuming task:"
                    f" p50 {percentile(list(f.machine_ms), 50):.2f} ms,"
                    f" p99 {percentile(list(f.machine_ms), 99):.2f} ms,"
                    f" max {max(f.machine_ms):.2f} ms"
                )
            ]
            if f.machine_ms
            else []
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bands", type=int, default=10)
    parser.add_argument("--rate", type=float, default=4.0, help="notifications per second per band")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--mix", action="store_true", help="every other band is a footpod (RSC)")
    parser.add_argument(
        "--machines", type=int, default=5, help="virtual indoor bikes (FTMS) beside the bands"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bands < 1 or args.rate <= 0 or args.seconds <= 0:
        parser.error("--bands, --rate and --seconds must be positive")
    if args.serve:
        asyncio.run(serve(args.bands, args.rate, args.seconds, args.mix, args.machines))
        return 0
    figures = asyncio.run(measure(args.bands, args.rate, args.seconds, args.mix, args.machines))
    for line in report(figures, args.mix):
        print(line)
    return 0 if figures.received >= figures.expected else 1


if __name__ == "__main__":
    sys.exit(main())
