"""Soak the BLE source: many forced disconnect/reconnect cycles on one virtual band.

One `BleSensorSource` streams from a virtual heart-rate band (the real bleak BlueZ backend over
a private D-Bus to the fake BlueZ) while the band drops the link again and again, each time
right after a notification, the tightest case. Accelerated: the fake's own sleeps are a few
milliseconds and the source reconnects at once after a link loss (the backoff is zero then).

Reports open fds (/proc/self/fd) and asyncio tasks after a warm-up cycle and at the end (both
must be flat), cycles per second, and the notifications the band delivered to the central
against the readings that arrived: each payload carries a sequence number (in its RR interval
field), so a lost or doubled one is found, not just counted.

Usage: python bench/ble_soak.py [--cycles 1000] [--per-link 3] [--acquire-notify]
Exit status 1 when fds or tasks grew or a delivered notification was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.settings import BleBandConfig
from edge.sources.ble import BleSensorSource, ReconnectBackoff
from edge.stream.readings import HeartRateReading, LinkEvent, LinkState, Reading
from firmware_bridge.gatt import HeartRateMeasurement, decode, encode_heart_rate_measurement
from firmware_bridge.gatt.uuids import HEART_RATE_MEASUREMENT
from firmware_bridge.virtual_band import Notification, VirtualBand, virtual_radio

ADDRESS = "C0:FF:EE:50:AC:01"
#: RR intervals are 1/1024 s units in a uint16: room for this many distinct sequence numbers.
SEQUENCE_SPACE = 65536


@dataclass(frozen=True, slots=True)
class SoakReport:
    cycles: int
    #: Cycles after the warm-up one, which `seconds` covers.
    timed_cycles: int
    seconds: float
    fds_before: int
    fds_after: int
    tasks_before: int
    tasks_after: int
    sent: int
    delivered: int
    received: int
    lost: int
    duplicated: int
    out_of_order: int
    connects: int
    disconnects: int

    @property
    def cycles_per_s(self) -> float:
        return self.timed_cycles / self.seconds if self.seconds > 0 else float("inf")

    @property
    def ok(self) -> bool:
        return (
            self.fds_after == self.fds_before
            and self.tasks_after == self.tasks_before
            and self.lost == 0
            and self.duplicated == 0
            and self.out_of_order == 0
        )

    def lines(self) -> list[str]:
        return [
            f"cycles: {self.cycles} ({self.timed_cycles} timed after a warm-up cycle:"
            f" {self.seconds:.1f} s, {self.cycles_per_s:.1f} cycles/s)",
            f"open fds: {self.fds_before} -> {self.fds_after}",
            f"asyncio tasks: {self.tasks_before} -> {self.tasks_after}",
            f"notifications: sent {self.sent}, delivered {self.delivered},"
            f" received {self.received}, lost {self.lost}, duplicated {self.duplicated},"
            f" out of order {self.out_of_order}",
            f"source: {self.connects} connects, {self.disconnects} disconnects",
            "result: " + ("flat and nothing lost" if self.ok else "FAILED"),
        ]


def _heart_rates(readings: list[Reading]) -> int:
    return sum(1 for r in readings if isinstance(r, HeartRateReading))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def beat(sequence: int) -> bytes:
    """A Heart Rate Measurement whose RR interval field carries `sequence`."""
    return encode_heart_rate_measurement(
        HeartRateMeasurement(
            bpm=60 + sequence % 120,
            contact_supported=True,
            contact_detected=True,
            rr_intervals=(sequence % SEQUENCE_SPACE,),
        )
    )


def sequence_of(reading: HeartRateReading) -> int:
    return round(reading.rr_intervals_s[0] * 1024)


def endless_script(interval_s: float) -> Iterator[Notification]:
    for sequence in itertools.count():
        yield Notification(interval_s, HEART_RATE_MEASUREMENT, beat(sequence))


async def soak(
    cycles: int,
    *,
    per_link: int = 3,
    interval_s: float = 0.002,
    acquire_notify: bool = False,
    settle_s: float = 0.3,
    cycle_timeout_s: float = 10.0,
) -> SoakReport:
    """Run `cycles` forced drops (after `per_link` delivered notifications on each link)."""
    if cycles < 2:
        raise ValueError("cycles must be at least 2 (one warm-up cycle, then the soak)")
    band = VirtualBand(
        ADDRESS,
        "Soak HRM",
        services=("heart_rate", "battery"),
        script=endless_script(interval_s),
        # a real strap: what is sent while nobody listens is lost (and recorded undelivered)
        hold_until_subscribed=False,
    )
    source = BleSensorSource(
        BleBandConfig(
            address=ADDRESS,
            kinds=("heart_rate",),
            use_acquire_notify=acquire_notify,
            scan_timeout_s=2.0,
            connect_timeout_s=5.0,
            connect_attempts=1,
            disconnect_timeout_s=2.0,
        ),
        # zero after a link loss (error None); failures retry within milliseconds
        reconnect_backoff=ReconnectBackoff(first_s=0.005, max_s=0.05, max_not_found_s=0.05),
    )
    readings: list[Reading] = []
    connected = 0
    changed = asyncio.Event()

    async def collect() -> None:
        nonlocal connected
        async for reading in source.readings():
            readings.append(reading)
            if isinstance(reading, LinkEvent) and reading.state is LinkState.CONNECTED:
                connected += 1
            changed.set()

    async def wait_connected(count: int) -> None:
        async with asyncio.timeout(cycle_timeout_s):
            while connected < count:
                if task.done():
                    task.result()
                    raise RuntimeError("the source stopped")
                changed.clear()
                await changed.wait()

    def delivered_on_this_link() -> int:
        link = band.link_count
        return sum(1 for s in band.sent if s.delivered and s.link == link)

    async with virtual_radio(
        band, advertise_interval_s=0.002, resolve_delay_s=0.001, connect_fail_s=0.01
    ):
        task = asyncio.create_task(collect(), name="soak-source")
        try:
            fds_before = tasks_before = 0
            started = 0.0
            for cycle in range(1, cycles + 1):
                await wait_connected(cycle)
                await band.wait_until(
                    lambda: band.connected and delivered_on_this_link() >= per_link,
                    timeout_s=cycle_timeout_s,
                )
                if cycle == 2:  # after one warm-up cycle: bleak's manager, its bus, caches
                    await asyncio.sleep(settle_s)
                    fds_before, tasks_before = open_fds(), len(asyncio.all_tasks())
                    started = time.perf_counter()
                band.drop_link()
            await wait_connected(cycles + 1)
            seconds = time.perf_counter() - started
            # the last link: take what it delivered, then measure with everything settled
            await band.wait_until(lambda: delivered_on_this_link() >= 1, timeout_s=cycle_timeout_s)
            await asyncio.sleep(settle_s)
            fds_after, tasks_after = open_fds(), len(asyncio.all_tasks())
            # stop the band sending, then let what it delivered arrive before counting
            await band.close()
            delivered_total = sum(1 for s in band.sent if s.delivered)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(cycle_timeout_s):
                    while _heart_rates(readings) < delivered_total:
                        changed.clear()
                        await changed.wait()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if len(band.sent) >= SEQUENCE_SPACE:
        raise RuntimeError(f"{len(band.sent)} notifications: sequence numbers wrapped")
    # delivered = what went into BlueZ for a subscriber; compare by sequence number
    delivered = [s for s in band.sent if s.delivered]
    want = [decode(HEART_RATE_MEASUREMENT, s.payload).rr_intervals[0] for s in delivered]
    got = [sequence_of(r) for r in readings if isinstance(r, HeartRateReading)]
    want_set, got_set = set(want), set(got)
    return SoakReport(
        cycles=cycles,
        timed_cycles=cycles - 1,
        seconds=seconds,
        fds_before=fds_before,
        fds_after=fds_after,
        tasks_before=tasks_before,
        tasks_after=tasks_after,
        sent=len(band.sent),
        delivered=len(delivered),
        received=len(got),
        lost=len(want_set - got_set),
        duplicated=len(got) - len(got_set),
        out_of_order=sum(1 for a, b in itertools.pairwise(got) if b < a),
        connects=source.stats.connects,
        disconnects=source.stats.disconnects,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000, help="forced drops (default 1000)")
    parser.add_argument(
        "--per-link",
        type=int,
        default=3,
        help="notifications delivered on each link before the drop (default 3)",
    )
    parser.add_argument(
        "--acquire-notify",
        action="store_true",
        help="subscribe with AcquireNotify instead of StartNotify",
    )
    args = parser.parse_args()
    report = asyncio.run(
        soak(args.cycles, per_link=args.per_link, acquire_notify=args.acquire_notify)
    )
    mode = "AcquireNotify" if args.acquire_notify else "StartNotify"
    print(f"BLE soak, {mode}, one virtual heart-rate band, fake BlueZ on a private D-Bus")
    for line in report.lines():
        print("  " + line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
