"""Helpers for the BLE tests: a fast virtual radio, a fast source config, a reading collector.

Every test runs its own event loop with `run(...)` (no pytest-asyncio): bleak keeps one BlueZ
manager per loop, and `virtual_radio` releases it on the way out.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest

from edge.settings import BleBandConfig
from edge.sources.ble import BleSensorSource, ReconnectBackoff
from edge.stream.readings import LinkEvent, LinkState, Reading
from firmware_bridge.virtual_band import FakeBluez, VirtualBand, virtual_radio

T = TypeVar("T")

needs_dbus = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None, reason="dbus-daemon not installed (Debian: dbus)"
)

#: Retry almost at once: the fake answers in milliseconds.
FAST_BACKOFF = ReconnectBackoff(first_s=0.01, factor=2.0, max_s=0.05, max_not_found_s=0.05)


def run(coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
    """Run one test body in a fresh event loop, with an overall limit."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout_s):
            return await coro

    return asyncio.run(bounded())


@asynccontextmanager
async def fast_radio(*bands: VirtualBand) -> AsyncIterator[FakeBluez]:
    """`virtual_radio` with the fake's sleeps cut to a few milliseconds."""
    async with virtual_radio(
        *bands, advertise_interval_s=0.02, resolve_delay_s=0.005, connect_fail_s=0.05
    ) as bluez:
        yield bluez


def fast_config(**overrides: Any) -> BleBandConfig:
    settings: dict[str, Any] = {
        "scan_timeout_s": 0.5,
        "connect_timeout_s": 2.0,
        "connect_attempts": 1,
        "disconnect_timeout_s": 2.0,
    }
    settings.update(overrides)
    return BleBandConfig(**settings)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def own_tasks() -> int:
    """Tasks in this loop, less the virtual band's and the fake BlueZ's own."""
    return sum(
        1
        for task in asyncio.all_tasks()
        if not task.get_name().startswith(("virtual-band-", "fake-bluez-"))
    )


class Collector:
    """Iterates a source in its own task (as the daemon does) and keeps what it yields."""

    def __init__(self, source: BleSensorSource) -> None:
        self.source = source
        self.readings: list[Reading] = []
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"collect-{source.name}")

    async def _run(self) -> None:
        async for reading in self.source.readings():
            self.readings.append(reading)
            self._changed.set()

    async def wait_for(
        self, condition: Callable[[list[Reading]], bool], timeout_s: float = 10.0
    ) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition(self.readings):
                if self.task.done():
                    self.task.result()
                    raise AssertionError("the source stopped")
                self._changed.clear()
                await self._changed.wait()

    def links(self, state: LinkState) -> int:
        return sum(1 for r in self.readings if isinstance(r, LinkEvent) and r.state is state)

    async def wait_links(self, state: LinkState, count: int, timeout_s: float = 10.0) -> None:
        await self.wait_for(lambda _: self.links(state) >= count, timeout_s)

    def of(self, kind: type[T]) -> list[T]:
        return [r for r in self.readings if isinstance(r, kind)]

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
