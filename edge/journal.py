"""A session recorded into the store as it happens, from the store's own worker thread.

SQLite calls block on disk I/O, so every write goes through one single-thread executor: calls
stay in order and never run on the event loop. A write that fails (disk full) is logged once; the
store keeps the rows in memory and writes them with the next commit that succeeds.
"""

from __future__ import annotations

import dataclasses

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from edge.core.cues import Cue
from edge.core.summary import SessionSummary
from edge.core.forecast import Forecast
from edge.core.narration import Narration
from edge.store import SessionStore, StoreError
from edge.stream.readings import AlignedSample

log = logging.getLogger(__name__)


class StoreJournal:
    def __init__(self, store: SessionStore, session_id: int, executor: ThreadPoolExecutor) -> None:
        self.store = store
        self.session_id = session_id
        self._executor = executor
        self._failing: str | None = None

    async def _call(self, method: Any, *args: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, method, self.session_id, *args)
        except StoreError as exc:
            if str(exc) != self._failing:  # once per kind of trouble, not once a second
                log.error("%s", exc)
                self._failing = str(exc)
        else:
            if self._failing is not None:
                log.warning("the store is writing again; nothing was lost")
                self._failing = None

    async def sample(self, sample: AlignedSample, forecast: Forecast | None) -> None:
        values = None if forecast is None else dataclasses.asdict(forecast)  # full precision
        await self._call(self.store.add_sample, sample, values)

    async def cue(self, cue: Cue) -> None:
        await self._call(self.store.add_cue, cue)

    async def narration(self, narration: Narration) -> None:
        await self._call(self.store.add_narration, narration)

    async def finish(self, summary: SessionSummary) -> None:
        await self._call(self.store.end_session, datetime.now(UTC), summary.as_dict())
