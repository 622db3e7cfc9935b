"""A session recorded into the store as it happens, from the store's own worker thread.

SQLite calls block on disk I/O, so every write goes through one single-thread executor: calls
stay in order and never run on the event loop. A write that fails (disk full) is logged once,
saying what waits in memory; the store keeps the rows (up to `store.MAX_PENDING_ROWS`) and writes them
with the next commit that succeeds, which is logged once too, with what could not be kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from edge.core.cues import Cue
from edge.core.forecast import Forecast
from edge.core.narration import Narration
from edge.core.summary import SessionSummary
from edge.store import SessionStore, StoreError
from edge.stream.readings import AlignedSample

log = logging.getLogger(__name__)


class StoreJournal:
    def __init__(self, store: SessionStore, session_id: int, executor: ThreadPoolExecutor) -> None:
        self.store = store
        self.session_id = session_id
        self._executor = executor
        self._failing = False
        self._dropped_before = 0

    async def _call(self, method: Any, *args: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, method, self.session_id, *args)
        except StoreError as exc:
            if not self._failing:  # once per failure, not once a second
                log.error("%s; coaching goes on and writing is retried", exc)
                self._failing = True
                self._dropped_before = self.store.dropped_rows
        else:
            # A call that only queued its row (the store writes a few times a second) says
            # nothing about the disk: only a write that went through ends the failure.
            if self._failing and not self.store.failing:
                dropped = self.store.dropped_rows - self._dropped_before
                if dropped:
                    log.warning(
                        "the store is writing again; %d samples recorded while it "
                        "could not be written were not kept and are not stored",
                        dropped,
                    )
                else:
                    log.warning(
                        "the store is writing again; every sample kept in memory "
                        "meanwhile is now written"
                    )
                self._failing = False

    async def sample(self, sample: AlignedSample, forecast: Forecast | None) -> None:
        values = None if forecast is None else dataclasses.asdict(forecast)  # full precision
        await self._call(self.store.add_sample, sample, values)

    async def cue(self, cue: Cue) -> None:
        await self._call(self.store.add_cue, cue)

    async def narration(self, narration: Narration) -> None:
        await self._call(self.store.add_narration, narration)

    async def finish(self, summary: SessionSummary) -> None:
        await self._call(self.store.end_session, datetime.now(UTC), summary.as_dict())
