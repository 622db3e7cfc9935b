"""One coaching session: a sensor source in, samples, cues and spoken words out.

This is the path every heartbeat takes, in order:

    source.readings()          band bytes decoded by firmware_bridge (BLE, replay or simulator)
    StreamAligner.push()       one AlignedSample per second, gaps recorded, never invented
    HealthModel.predict()      ONNX forecast of heart rate at +10/+30/+60 s (worker thread)
    Coach.update()             rules decide the cue and the facts it rests on
    Narrator.narrate()         the language model words it, or the template does (worker thread)
    speaker.say()              espeak-ng speaks it, or writes it into a WAV file

Events go to a sink (terminal display or JSON lines) as they happen. Blocking engines never run
on the event loop: the health model has its own thread, the language model the narrator's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from edge.coach.coach import Coach
from edge.coach.summary import summarise
from edge.core.cues import Cue, Priority
from edge.core.events import (
    CueDecided,
    CueSpoken,
    LinkChanged,
    SampleTaken,
    SessionEnded,
    SessionEvent,
    SpeechFinished,
    WarningRaised,
)
from edge.core.forecast import Forecast
from edge.core.narration import Narration
from edge.core.summary import SessionSummary
from edge.health.features import HISTORY_S, build_window
from edge.health.model import HealthModel
from edge.narrator.narrator import Narrator
from edge.profile import Profile
from edge.sources.base import SensorSource
from edge.speech.queue import SpeechQueue
from edge.stream.aligner import StreamAligner
from edge.stream.readings import AlignedSample, LinkEvent, Reading

log = logging.getLogger(__name__)


class Journal(Protocol):
    """Where a session is recorded as it happens (the store, through its worker thread)."""

    async def sample(self, sample: AlignedSample, forecast: Forecast | None) -> None: ...

    async def cue(self, cue: Cue) -> None: ...

    async def narration(self, narration: Narration) -> None: ...

    async def finish(self, summary: SessionSummary) -> None: ...


class SampleObserver(Protocol):
    """Something that follows the session second by second (a machine the coach drives)."""

    def on_sample(self, sample: AlignedSample) -> None: ...

    def on_cue(self, cue: Cue) -> None: ...


class Speaker(Protocol):
    destination: str

    async def say(self, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class CueTiming:
    """Wall-clock seconds from the sample that triggered a cue to its words being ready."""

    cue_id: int
    kind: str
    source: str
    seconds_to_text: float


@dataclass
class SessionResult:
    summary: SessionSummary
    cues: list[Cue] = field(default_factory=list)
    narrations: list[Narration] = field(default_factory=list)
    timings: list[CueTiming] = field(default_factory=list)


class CoachingSession:
    def __init__(
        self,
        *,
        profile: Profile,
        health: HealthModel | None,
        narrator: Narrator,
        speaker: Speaker | None,
        emit: Callable[[SessionEvent], None],
        coach: Coach | None = None,
        journal: Journal | None = None,
        t_offset: int = 0,
        quiet: Callable[[], bool] | None = None,
        observers: tuple[SampleObserver, ...] = (),
    ) -> None:
        self.profile = profile
        self.observers = observers
        self.journal = journal
        #: Seconds already recorded in this session before a restart; new samples follow them.
        self.t_offset = t_offset
        self._consuming: asyncio.Task[None] | None = None
        self._stop_requested = False
        self.health = health
        self.narrator = narrator
        self.speaker = speaker
        self.emit = emit
        self.coach = coach or Coach(profile)
        self._health_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgecoach-hr")
        # What the health model reads: the window, the seconds its rows look back at, and the
        # ten minutes its kinetics columns are fitted on.
        self._history: deque[AlignedSample] = deque(maxlen=HISTORY_S)
        self._samples: list[AlignedSample] = []
        self._forecasts: dict[int, Forecast] = {}
        # Words written to a file are never late; words for a live ear go stale after 10 s.
        recording = getattr(speaker, "wav_path", None) is not None
        self.speech = (
            None
            if speaker is None
            else SpeechQueue(
                speaker,
                max_age_s=math.inf if recording else 10.0,
                on_error=lambda exc: self.emit(WarningRaised(f"speech stopped: {exc}")),
                quiet=quiet,
            )
        )

    async def run(self, *sources: SensorSource) -> SessionResult:
        """Coach one person from one or more sources (a heart-rate band and a footpod, say).

        Returns when every source has ended, or when `stop()` is called: either way the last
        second is flushed, every cue already decided is worded, and the summary is made.
        """
        result = SessionResult(summary=None)  # type: ignore[arg-type]
        narration_queue: asyncio.Queue[tuple[Cue, float] | None] = asyncio.Queue()
        narrating = asyncio.create_task(
            self._narrate_loop(narration_queue, result), name="edgecoach-narrator"
        )
        aligner = StreamAligner()
        self._consuming = asyncio.create_task(
            self._consume(sources, aligner, narration_queue, result), name="edgecoach-stream"
        )
        try:
            await self._consuming
        except asyncio.CancelledError:
            if not self._stop_requested:
                raise
        finally:
            if self._stop_requested or self._consuming.done():
                for sample in aligner.flush():
                    await self._on_sample(sample, narration_queue, result)
            await narration_queue.put(None)
            await narrating
            if self.speech is not None:
                stats = await self.speech.close()
                self.emit(
                    SpeechFinished(
                        spoken=stats.spoken,
                        dropped=stats.dropped,
                        errors=stats.errors,
                        max_wait_s=round(max(stats.waits_s), 3) if stats.waits_s else None,
                        waits_s=tuple(round(w, 3) for w in stats.waits_s),
                    )
                )
            self._health_thread.shutdown(wait=True)
        result.summary = summarise(
            self._samples,
            self._forecasts,
            result.cues,
            result.narrations,
            self.coach.zones,
            aligner.gaps,
        )
        self.emit(SessionEnded(result.summary))
        if self.journal is not None:
            await self.journal.finish(result.summary)
        return result

    def announce(self, text: str) -> None:
        """Words that are no cue (a machine about to change speed): spoken ahead of coaching."""
        if self.speech is not None:
            self.speech.put_nowait(
                text, priority=int(Priority.SENSOR), created=time.perf_counter(), cue_kind="machine"
            )

    def stop(self) -> None:
        """End the session cleanly (SIGTERM): stop reading, keep what was read."""
        self._stop_requested = True
        if self._consuming is not None:
            self._consuming.cancel()

    async def _consume(
        self,
        sources: tuple[SensorSource, ...],
        aligner: StreamAligner,
        narration_queue: asyncio.Queue[tuple[Cue, float] | None],
        result: SessionResult,
    ) -> None:
        async for reading in merge_readings(sources):
            if isinstance(reading, LinkEvent):
                self.emit(LinkChanged(reading))
            for sample in aligner.push(reading):
                await self._on_sample(sample, narration_queue, result)

    async def _on_sample(
        self,
        sample: AlignedSample,
        narration_queue: asyncio.Queue[tuple[Cue, float] | None],
        result: SessionResult,
    ) -> None:
        arrived = time.perf_counter()
        if self.t_offset:
            sample = dataclasses.replace(sample, t=sample.t + self.t_offset)
        self._samples.append(sample)
        self._history.append(sample)
        forecast = await self._forecast(sample)
        zone = self.coach.zones.zone(sample.hr_bpm) if sample.hr_bpm is not None else None
        status = self.coach.workout.status(sample.t) if self.coach.workout else None
        self.emit(
            SampleTaken(
                sample,
                zone,
                hrr_fraction=None
                if sample.hr_bpm is None
                else round(self.coach.zones.fraction_of_reserve(sample.hr_bpm), 3),
                forecast=forecast,
                workout=None if status is None else status.progress(),
            )
        )
        if self.journal is not None:
            await self.journal.sample(sample, forecast)
        cues = self.coach.update(sample, forecast)
        for observer in self.observers:  # a safety cue reaches a machine before its words
            for cue in cues:
                observer.on_cue(cue)
            observer.on_sample(sample)
        for cue in cues:
            result.cues.append(cue)
            if self.journal is not None:
                await self.journal.cue(cue)
            self.emit(CueDecided(cue))
            await narration_queue.put((cue, arrived))

    async def _forecast(self, sample: AlignedSample) -> Forecast | None:
        if self.health is None or sample.hr_bpm is None:
            return None
        window = build_window(list(self._history), self.profile)
        loop = asyncio.get_running_loop()
        forecast = await loop.run_in_executor(self._health_thread, self.health.predict, window)
        self._forecasts[sample.t] = forecast
        return forecast

    async def _narrate_loop(
        self, queue: asyncio.Queue[tuple[Cue, float] | None], result: SessionResult
    ) -> None:
        while (item := await queue.get()) is not None:
            cue, sample_arrived = item
            on_sentence = None
            if self.speech is not None:
                speech = self.speech

                # Each sentence the guard passes is spoken while the model writes the next.
                def on_sentence(
                    text: str,
                    cue: Cue = cue,
                    created: float = sample_arrived,
                    speech: SpeechQueue = speech,
                ) -> None:
                    speech.put_nowait(
                        text,
                        priority=int(cue.priority),
                        created=created,
                        cue_kind=cue.kind.value,
                        utterance=cue.id,
                    )

            asked = time.perf_counter()
            narration = await self.narrator.narrate(
                cue, on_sentence=on_sentence, since=sample_arrived
            )
            ready = time.perf_counter() - sample_arrived
            first_words = (
                None
                if narration.first_words_s is None
                else round(asked - sample_arrived + narration.first_words_s, 3)
            )
            result.narrations.append(narration)
            if self.journal is not None:
                await self.journal.narration(narration)
            result.timings.append(CueTiming(cue.id, cue.kind.value, narration.source, ready))
            self.emit(
                CueSpoken(
                    cue,
                    narration,
                    seconds_to_text=round(ready, 3),
                    seconds_to_first_words=first_words,
                    speech=None if self.speaker is None else self.speaker.destination,
                )
            )


async def merge_readings(sources: tuple[SensorSource, ...]) -> AsyncIterator[Reading]:
    """Readings of several sources as one stream: one task per source, each feeding a queue.

    A single source is iterated directly. With several, a source that ends leaves the others
    running; an error in one is raised once the others are stopped.
    """
    if len(sources) == 1:
        async for reading in sources[0].readings():
            yield reading
        return
    queue: asyncio.Queue[Reading | BaseException | None] = asyncio.Queue()

    async def pump(source: SensorSource) -> None:
        try:
            async for reading in source.readings():
                await queue.put(reading)
        except Exception as exc:  # handed to the consumer, which decides
            await queue.put(exc)
        finally:
            await queue.put(None)

    tasks = {asyncio.create_task(pump(s), name=f"edgecoach-source-{s.name}") for s in sources}
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
