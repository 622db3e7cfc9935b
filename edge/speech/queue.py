"""A queue between the narrator and the speaker: the most important words first, none stale.

Speaking takes seconds and cues can come faster than that. Without a queue the narrator waits on
the speaker, and a "zone 3" said ten seconds late, after the heart has moved on, is worse than
silence. So words wait here, and one worker task speaks them:

- the most important first (lowest `priority`, as `edge.core.cues.Priority`), oldest first
  among equals;
- a waiting item is dropped when a newer one of the same cue kind arrives (superseded), or when
  it is older than `max_age_s` by the time its turn comes (stale);
- safety items (`priority <= safety_priority`) are never dropped, however old;
- the sentences of one message, streamed as the model writes them, share an `utterance` and
  never supersede each other (a newer message of the kind supersedes them all);
- while `quiet()` says so (quiet hours), only safety items are queued; the rest are dropped with
  reason "quiet_hours" (they are still shown and stored by the session).

`put` never waits on the speaker. A speaker that fails with an `EdgecoachError` stops speech for
the rest of the session (as the session does without a queue): what is waiting is dropped with
reason "speech_failed" and `on_error` is told once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, Self

from edge.errors import EdgecoachError

log = logging.getLogger(__name__)

__all__ = ["SpeechItem", "SpeechQueue", "SpeechStats", "Speaker"]


class Speaker(Protocol):
    async def say(self, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SpeechItem:
    text: str
    #: Lower is more important (`Priority` of the cue).
    priority: int
    #: When the words' reason arose, on the queue's clock (the session's `time.perf_counter()`).
    created: float
    cue_kind: str
    #: Order of arrival.
    seq: int
    #: Sentences of one streamed message share this (the cue's id); None: a message of its own.
    utterance: object = None


@dataclass
class SpeechStats:
    spoken: int = 0
    #: Dropped items by reason: "stale", "superseded", "closed", "cancelled", "speech_failed",
    #: "quiet_hours".
    dropped: Counter[str] = field(default_factory=Counter)
    #: Speaker errors that were not EdgecoachError (logged, speech goes on).
    errors: int = 0
    #: Seconds from `created` to the start of speaking, of each spoken item.
    waits_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "spoken": self.spoken,
            "dropped": dict(self.dropped),
            "errors": self.errors,
            "max_wait_s": round(max(self.waits_s), 3) if self.waits_s else None,
        }


class _State(Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


class SpeechQueue:
    """Words waiting to be spoken through one speaker, spoken by one worker task."""

    def __init__(
        self,
        speaker: Speaker,
        *,
        max_age_s: float = 10.0,
        safety_priority: int = 0,
        clock: Callable[[], float] = time.perf_counter,
        on_spoken: Callable[[SpeechItem], None] | None = None,
        on_dropped: Callable[[SpeechItem, str], None] | None = None,
        on_error: Callable[[EdgecoachError], None] | None = None,
        quiet: Callable[[], bool] | None = None,
    ) -> None:
        self.speaker = speaker
        self.quiet = quiet
        self.max_age_s = max_age_s
        self.safety_priority = safety_priority
        self.clock = clock
        self.on_spoken = on_spoken
        self.on_dropped = on_dropped
        self.on_error = on_error
        self.stats = SpeechStats()
        #: The error that stopped speech, if one did.
        self.error: EdgecoachError | None = None
        self._waiting: list[SpeechItem] = []
        self._wakeup = asyncio.Event()
        self._seq = 0
        self._state = _State.NEW
        self._worker: asyncio.Task[None] | None = None
        self._speaking: SpeechItem | None = None

    @property
    def destination(self) -> str:
        return str(getattr(self.speaker, "destination", "a speaker"))

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def start(self) -> None:
        """Start the worker task (done by the first `put` too); needs a running event loop."""
        if self._state is _State.NEW:
            self._state = _State.RUNNING
            self._worker = asyncio.create_task(self._work(), name="edgecoach-speech")

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def put(
        self, text: str, *, priority: int, created: float, cue_kind: str, utterance: object = None
    ) -> None:
        """Queue words; returns at once. A waiting item of the same kind is superseded, unless
        it is an earlier sentence of the same `utterance`."""
        self.put_nowait(
            text, priority=priority, created=created, cue_kind=cue_kind, utterance=utterance
        )

    def put_nowait(
        self, text: str, *, priority: int, created: float, cue_kind: str, utterance: object = None
    ) -> None:
        """`put` for a plain callback on the event loop's thread (the narrator's sentences)."""
        self._seq += 1
        item = SpeechItem(text, int(priority), created, cue_kind, self._seq, utterance)
        if self._state in (_State.CLOSING, _State.CLOSED) or self.error is not None:
            self._drop(item, "closed" if self.error is None else "speech_failed")
            return
        if self.quiet is not None and not self._safety(item) and self.quiet():
            self._drop(item, "quiet_hours")
            return
        self.start()
        for old in [
            w
            for w in self._waiting
            if w.cue_kind == cue_kind
            and not self._safety(w)
            and (utterance is None or w.utterance != utterance)
        ]:
            self._waiting.remove(old)
            self._drop(old, "superseded")
        self._waiting.append(item)
        self._wakeup.set()

    async def close(self, *, drain: bool = True, timeout_s: float | None = 30.0) -> SpeechStats:
        """Stop the worker. With `drain`, what is waiting is spoken (or dropped as stale) first,
        within `timeout_s`; without it, or past the timeout, speech is cancelled and what is
        left dropped as "closed" (what was being spoken as "cancelled")."""
        if self._state is _State.CLOSED:
            return self.stats
        previous, self._state = self._state, _State.CLOSING
        worker = self._worker
        if worker is not None and previous is _State.RUNNING:
            self._wakeup.set()
            if drain:
                try:
                    await asyncio.wait_for(asyncio.shield(worker), timeout_s)
                except TimeoutError:
                    log.warning(
                        "speech queue: %d item(s) still waiting after %.0f s; cancelled",
                        len(self._waiting),
                        timeout_s or 0,
                    )
            if not worker.done():
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        for item in self._waiting:
            self._drop(item, "closed")
        self._waiting.clear()
        self._state = _State.CLOSED
        return self.stats

    # -- the worker -----------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            item = self._next()
            if item is None:
                if self._state is _State.CLOSING:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            self._speaking = item
            started = self.clock()
            try:
                await self.speaker.say(item.text)
            except asyncio.CancelledError:
                self._drop(item, "cancelled")
                raise
            except EdgecoachError as exc:
                self._fail(item, exc)
                return
            except Exception:
                # An unexpected failure of one utterance: logged in full, speech goes on.
                log.exception("speech queue: speaking %r failed", item.text)
                self.stats.errors += 1
            else:
                self.stats.spoken += 1
                self.stats.waits_s.append(started - item.created)
                if self.on_spoken is not None:
                    self.on_spoken(item)
            finally:
                self._speaking = None

    def _next(self) -> SpeechItem | None:
        """The most important waiting item that is not stale; stale ones are dropped."""
        now = self.clock()
        for item in [
            w for w in self._waiting if not self._safety(w) and now - w.created > self.max_age_s
        ]:
            self._waiting.remove(item)
            self._drop(item, "stale")
        if not self._waiting:
            return None
        best = min(self._waiting, key=lambda w: (w.priority, w.seq))
        self._waiting.remove(best)
        return best

    def _safety(self, item: SpeechItem) -> bool:
        return item.priority <= self.safety_priority

    def _fail(self, item: SpeechItem, exc: EdgecoachError) -> None:
        self.error = exc
        log.warning("speech stopped: %s", exc)
        self._drop(item, "speech_failed")
        for waiting in self._waiting:
            self._drop(waiting, "speech_failed")
        self._waiting.clear()
        if self.on_error is not None:
            self.on_error(exc)

    def _drop(self, item: SpeechItem, reason: str) -> None:
        self.stats.dropped[reason] += 1
        log.debug("speech queue: dropped %s %r (%s)", item.cue_kind, item.text, reason)
        if self.on_dropped is not None:
            self.on_dropped(item, reason)
