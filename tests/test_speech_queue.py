"""The speech queue: most important first, nothing stale, safety never dropped.

The speaker here is a stand-in for the audio device (which the test machine does not have): it
records what it is asked to say and takes its time, advancing a clock of its own so that ages are
exact. The last tests speak through the real espeak-ng into a WAV file.
"""

import asyncio
import logging
import shutil
import time
import wave

import pytest

from edge.core.cues import Priority
from edge.errors import SpeechError
from edge.speech.queue import SpeechQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowSpeaker:
    """Takes `seconds` of (simulated) time per utterance; a real `asyncio.sleep` keeps it busy."""

    destination = "a test speaker"

    def __init__(
        self,
        clock: Clock,
        seconds: float = 2.0,
        *,
        fail_on: str = "",
        error: Exception | None = None,
    ) -> None:
        self.clock = clock
        self.seconds = seconds
        self.said: list[tuple[float, str]] = []
        self.speaking = asyncio.Event()
        self.fail_on = fail_on
        self.error = error

    async def say(self, text: str) -> None:
        self.said.append((self.clock(), text))
        self.speaking.set()
        if self.fail_on and self.fail_on in text:
            raise self.error or SpeechError("the audio device went away")
        await asyncio.sleep(0.01)
        self.clock.now += self.seconds

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.said]


def run(scenario):
    return asyncio.run(scenario())


async def busy_queue(speaker: SlowSpeaker, clock: Clock, **kwargs) -> SpeechQueue:
    """A queue already speaking a first, unimportant item, so that the next ones wait."""
    queue = SpeechQueue(speaker, clock=clock, **kwargs)
    await queue.put("first", priority=Priority.MILESTONE, created=clock(), cue_kind="milestone")
    await speaker.speaking.wait()
    return queue


def test_waiting_words_are_spoken_most_important_first():
    clock = Clock()
    speaker = SlowSpeaker(clock)

    async def scenario():
        queue = await busy_queue(speaker, clock)
        await queue.put("zone", priority=Priority.ZONE, created=clock(), cue_kind="zone_change")
        await queue.put(
            "ahead", priority=Priority.FORECAST, created=clock(), cue_kind="forecast_overshoot"
        )
        await queue.put(
            "interval", priority=Priority.WORKOUT, created=clock(), cue_kind="step_start"
        )
        await queue.put("drift", priority=Priority.DRIFT, created=clock(), cue_kind="drift")
        return await queue.close()

    stats = run(scenario)
    assert speaker.texts == ["first", "ahead", "drift", "interval", "zone"]
    assert stats.spoken == 5 and not stats.dropped
    assert stats.as_dict()["max_wait_s"] == 8.0


def test_a_newer_cue_of_the_same_kind_supersedes_the_waiting_one():
    clock = Clock()
    speaker = SlowSpeaker(clock)
    dropped = []

    async def scenario():
        queue = await busy_queue(
            speaker, clock, on_dropped=lambda item, why: dropped.append((item.text, why))
        )
        await queue.put("zone 3", priority=Priority.ZONE, created=clock(), cue_kind="zone_change")
        await queue.put("zone 4", priority=Priority.ZONE, created=clock(), cue_kind="zone_change")
        await queue.put(
            "10 minutes", priority=Priority.MILESTONE, created=clock(), cue_kind="milestone"
        )
        return await queue.close()

    stats = run(scenario)
    assert speaker.texts == ["first", "zone 4", "10 minutes"]
    assert dropped == [("zone 3", "superseded")] and stats.dropped == {"superseded": 1}


def test_stale_words_are_dropped_but_safety_is_said_however_late():
    clock = Clock()
    speaker = SlowSpeaker(clock, seconds=6.0)  # a long utterance: the others wait 6 s and more

    async def scenario():
        queue = await busy_queue(speaker, clock, max_age_s=10.0)
        await queue.put(
            "ahead", priority=Priority.FORECAST, created=clock(), cue_kind="forecast_overshoot"
        )
        await queue.put("zone", priority=Priority.ZONE, created=clock(), cue_kind="zone_change")
        await queue.put(
            "milestone", priority=Priority.MILESTONE, created=clock(), cue_kind="milestone"
        )
        await queue.put(
            "stop now", priority=Priority.SAFETY, created=clock() - 60, cue_kind="above_max_hr"
        )
        return await queue.close()

    stats = run(scenario)
    # "stop now" (a minute old) first; "ahead" at 12 s, then everything else is past 10 s.
    assert speaker.texts == ["first", "stop now"]
    assert stats.dropped == {"stale": 3} and stats.spoken == 2


def test_safety_words_are_never_superseded():
    clock = Clock()
    speaker = SlowSpeaker(clock)

    async def scenario():
        queue = await busy_queue(speaker, clock)
        for hr in (196, 198):
            await queue.put(
                f"stop, {hr}", priority=Priority.SAFETY, created=clock(), cue_kind="above_max_hr"
            )
        return await queue.close()

    stats = run(scenario)
    assert speaker.texts == ["first", "stop, 196", "stop, 198"] and not stats.dropped


def test_put_never_waits_on_the_speaker():
    clock = Clock()
    speaker = SlowSpeaker(clock)

    async def scenario():
        queue = await busy_queue(speaker, clock)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(50):
            await queue.put(
                f"cue {n}", priority=Priority.ZONE, created=clock(), cue_kind=f"kind{n}"
            )
        took = loop.time() - started
        await queue.close(drain=False)
        return took

    assert run(scenario) < 0.05  # 50 utterances would take 0.5 s


def test_close_drains_or_cancels():
    clock = Clock()

    async def drained():
        speaker = SlowSpeaker(clock, seconds=1.0)
        queue = await busy_queue(speaker, clock)
        await queue.put("a", priority=Priority.ZONE, created=clock(), cue_kind="zone_change")
        await queue.put("b", priority=Priority.WORKOUT, created=clock(), cue_kind="step_start")
        stats = await queue.close()
        await queue.put("late", priority=Priority.ZONE, created=clock(), cue_kind="zone_change")
        return speaker, stats

    speaker, stats = run(drained)
    assert speaker.texts == ["first", "b", "a"]
    assert stats.spoken == 3 and stats.dropped == {"closed": 1}  # "late", after close

    async def cancelled():
        speaker = SlowSpeaker(clock, seconds=1.0)
        queue = await busy_queue(speaker, clock)
        await queue.put("a", priority=Priority.ZONE, created=clock(), cue_kind="zone_change")
        return speaker, await queue.close(drain=False)

    speaker, stats = run(cancelled)
    assert speaker.texts == ["first"]
    assert stats.spoken == 0 and stats.dropped == {"cancelled": 1, "closed": 1}

    async def timed_out():
        speaker = SlowSpeaker(clock, seconds=1.0)
        queue = await busy_queue(speaker, clock)
        return await queue.close(timeout_s=0.001)

    assert run(timed_out).dropped == {"cancelled": 1}

    async def never_started():
        return await SpeechQueue(SlowSpeaker(clock), clock=clock).close()

    assert run(never_started).spoken == 0


def test_a_failed_speaker_stops_speech_and_says_so_once():
    clock = Clock()
    speaker = SlowSpeaker(clock, fail_on="zone")
    errors = []

    async def scenario():
        queue = await busy_queue(speaker, clock, on_error=errors.append)
        await queue.put("zone", priority=Priority.ZONE, created=clock(), cue_kind="zone_change")
        await queue.put(
            "10 min", priority=Priority.MILESTONE, created=clock(), cue_kind="milestone"
        )
        await asyncio.sleep(0.05)
        await queue.put("later", priority=Priority.ZONE, created=clock(), cue_kind="drift")
        return queue, await queue.close()

    queue, stats = run(scenario)
    assert speaker.texts == ["first", "zone"]
    assert len(errors) == 1 and isinstance(queue.error, SpeechError)
    assert stats.spoken == 1 and stats.dropped == {"speech_failed": 3}


def test_an_unexpected_speaker_error_is_logged_and_speech_goes_on(caplog):
    clock = Clock()
    speaker = SlowSpeaker(clock, fail_on="odd", error=RuntimeError("driver hiccup"))

    async def scenario():
        queue = await busy_queue(speaker, clock)
        await queue.put("odd", priority=Priority.ZONE, created=clock(), cue_kind="zone_change")
        await queue.put("fine", priority=Priority.ZONE, created=clock(), cue_kind="drift")
        return await queue.close()

    with caplog.at_level(logging.ERROR, logger="edge.speech.queue"):
        stats = run(scenario)
    assert speaker.texts == ["first", "odd", "fine"]
    assert stats.errors == 1 and stats.spoken == 2
    assert "driver hiccup" in caplog.text


# -- the real espeak-ng -------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_speaks_the_queue_into_one_wav(tmp_path):
    from edge.speech.espeak import EspeakSpeaker

    path = tmp_path / "cues.wav"
    speaker = EspeakSpeaker(wav_path=path)
    spoken = []

    async def scenario():
        async with SpeechQueue(speaker, on_spoken=lambda item: spoken.append(item.text)) as queue:
            assert queue.destination == str(path)
            for text, priority, kind in [
                ("Zone 3 now, heart rate 150. Hold this effort.", Priority.ZONE, "zone_change"),
                ("Zone 4 now, heart rate 162. Hold this effort.", Priority.ZONE, "zone_change"),
                ("Interval 2 of 4: 3 minutes at zone 4.", Priority.WORKOUT, "step_start"),
            ]:
                await queue.put(text, priority=priority, created=time.perf_counter(), cue_kind=kind)
        return queue.stats

    stats = run(scenario)
    speaker.close()
    # espeak-ng takes a while per utterance: zone 3 was superseded while waiting, or spoken
    # first if the worker picked it up at once; either way zone 4 and the interval are said.
    assert spoken[-2:] in (
        ["Interval 2 of 4: 3 minutes at zone 4.", "Zone 4 now, heart rate 162. Hold this effort."],
        ["Zone 4 now, heart rate 162. Hold this effort.", "Interval 2 of 4: 3 minutes at zone 4."],
    )
    assert stats.spoken == speaker.utterances == len(spoken)
    assert stats.spoken + stats.dropped["superseded"] == 3
    with wave.open(str(path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx(speaker.seconds_of_audio, rel=0.01) and seconds > 2.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_an_unwritable_wav_stops_speech_through_the_queue(tmp_path):
    from edge.speech.espeak import EspeakSpeaker

    blocker = tmp_path / "file"
    blocker.write_text("x")
    speaker = EspeakSpeaker(wav_path=blocker / "sub" / "out.wav")
    errors = []

    async def scenario():
        queue = SpeechQueue(speaker, on_error=errors.append)
        await queue.put(
            "Hello.",
            priority=Priority.ZONE,
            created=time.perf_counter() - 60,
            cue_kind="zone_change",
        )
        return await queue.close()

    # A minute old: stale, never spoken, so never failing.
    assert run(scenario).dropped == {"stale": 1} and errors == []

    async def fresh():
        queue = SpeechQueue(speaker, on_error=errors.append)
        await queue.put(
            "Hello.", priority=Priority.ZONE, created=time.perf_counter(), cue_kind="zone_change"
        )
        return await queue.close()

    stats = run(fresh)
    assert stats.dropped == {"speech_failed": 1}
    assert len(errors) == 1 and "cannot write speech" in str(errors[0])


def test_streamed_sentences_of_one_message_do_not_supersede_each_other():
    clock = Clock()
    speaker = SlowSpeaker(clock)
    dropped = []

    async def scenario():
        queue = await busy_queue(
            speaker, clock, on_dropped=lambda item, why: dropped.append((item.text, why))
        )
        queue.put_nowait(
            "Ease off now.",
            priority=Priority.ZONE,
            created=clock(),
            cue_kind="high_zone",
            utterance=7,
        )
        queue.put_nowait(
            "You are at 176.",
            priority=Priority.ZONE,
            created=clock(),
            cue_kind="high_zone",
            utterance=7,
        )
        await queue.put(
            "older kind", priority=Priority.MILESTONE, created=clock(), cue_kind="milestone"
        )
        return await queue.close()

    stats = run(scenario)
    assert speaker.texts == ["first", "Ease off now.", "You are at 176.", "older kind"]
    assert not dropped and stats.spoken == 4


def test_a_new_message_supersedes_every_waiting_sentence_of_an_older_one():
    clock = Clock()
    speaker = SlowSpeaker(clock)

    async def scenario():
        queue = await busy_queue(speaker, clock)
        for sentence in ("Zone 3.", "Hold it."):
            queue.put_nowait(
                sentence,
                priority=Priority.ZONE,
                created=clock(),
                cue_kind="zone_change",
                utterance=1,
            )
        queue.put_nowait(
            "Zone 4.", priority=Priority.ZONE, created=clock(), cue_kind="zone_change", utterance=2
        )
        return await queue.close()

    stats = run(scenario)
    assert speaker.texts == ["first", "Zone 4."] and stats.dropped == {"superseded": 2}
