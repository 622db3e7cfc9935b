"""A source whose sensor is plugged in and out while the session runs.

A gym machine (`[[machines]]`) is nobody's until a member binds it from the zone board, and then
only until they release it or their session ends. The session's sources are fixed when it
starts, so each member's session is given a `SwappableSource`: empty until a machine is plugged
in, then yielding that machine's readings (its link iterated in a task of its own, as every
source is), and empty again once it is unplugged. Unplugging cancels the machine's task and
waits for it, so the link's own clean-up (control given back, the link closed) is done by then.
The session sees one source that never ends; what it reads is always the bound machine's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from edge.sources.base import SensorSource
from edge.stream.readings import Reading

_LOGGER = logging.getLogger(__name__)

__all__ = ["SwappableSource"]


class SwappableSource:
    """One member's place for a machine: `plug` a source in, `unplug` it, iterate `readings`."""

    def __init__(self, name: str = "gym machine") -> None:
        self.name = name
        self._queue: asyncio.Queue[Reading] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._plugged: SensorSource | None = None

    @property
    def plugged(self) -> SensorSource | None:
        return self._plugged

    def plug(self, source: SensorSource) -> None:
        """Start reading `source` (on the running loop); one at a time."""
        if self._plugged is not None:
            raise RuntimeError(f"{self.name}: {self._plugged.name} is still plugged in")
        self._plugged = source
        self._pump = asyncio.create_task(self._feed(source), name=f"edgecoach-slot-{source.name}")

    async def unplug(self, timeout_s: float = 15.0) -> None:
        """Stop reading the plugged source and wait (within `timeout_s`) for its clean-up."""
        pump, self._pump = self._pump, None
        self._plugged = None
        if pump is None:
            return
        pump.cancel()
        done, _ = await asyncio.wait({pump}, timeout=timeout_s)
        if not done:
            _LOGGER.warning("%s: the machine's link took over %g s to close", self.name, timeout_s)

    async def _feed(self, source: SensorSource) -> None:
        try:
            async for reading in source.readings():
                self._queue.put_nowait(reading)
        except asyncio.CancelledError:
            raise
        except Exception:  # the machine's data ends; the member's session goes on
            _LOGGER.exception("%s: %s stopped", self.name, source.name)

    async def readings(self) -> AsyncIterator[Reading]:
        try:
            while True:
                yield await self._queue.get()
        finally:
            await self.unplug()
