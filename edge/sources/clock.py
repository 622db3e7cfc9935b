"""A source that only tells the time, so a silent sensor still shows up as seconds of gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from edge.stream.readings import Tick


class ClockSource:
    name = "clock"

    def __init__(self, clock: Callable[[], float], interval_s: float = 1.0) -> None:
        self.clock = clock
        self.interval_s = interval_s

    async def readings(self) -> AsyncIterator[Tick]:
        while True:
            await asyncio.sleep(self.interval_s)
            yield Tick(self.name, self.clock())
