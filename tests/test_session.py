"""`CoachingSession` on its own: readings in, typed events, journal calls and speech out.

The sources here are scripted lists of decoded readings (what a band's notifications become), the
narrator has no model (template words), and the journal and speaker record what they are given,
so each test reads as one behaviour of the session's wiring.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from edge.core.cues import CueKind
from edge.core.events import (
    CueDecided,
    CueSpoken,
    LinkChanged,
    SampleTaken,
    SessionEnded,
    SpeechFinished,
    WarningRaised,
    event_json,
)
from edge.errors import SpeechError
from edge.narrator.narrator import Narrator
from edge.profile import Profile
from edge.session import CoachingSession
from edge.stream.readings import HeartRateReading, LinkEvent, LinkState, Reading, Tick

PROFILE = Profile(name="ana", age=35, resting_hr=58.0, max_hr=187.0)


class Scripted:
    """A sensor source that yields the readings it was given, then ends (or waits forever)."""

    def __init__(self, readings: Sequence[Reading], *, then_wait: bool = False) -> None:
        self.name = "scripted band"
        self._readings = list(readings)
        self._then_wait = then_wait

    async def readings(self) -> AsyncIterator[Reading]:
        for reading in self._readings:
            await asyncio.sleep(0)
            yield reading
        if self._then_wait:
            await asyncio.Event().wait()


class Journal:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    async def sample(self, sample, forecast) -> None:
        self.calls.append(("sample", sample.t))

    async def cue(self, cue) -> None:
        self.calls.append(("cue", cue.id))

    async def narration(self, narration) -> None:
        self.calls.append(("narration", narration.cue_id))

    async def finish(self, summary) -> None:
        self.calls.append(("finish", summary.duration_s))


class Speaker:
    destination = "a test ear"

    def __init__(self, fail: bool = False) -> None:
        self.said: list[str] = []
        self.fail = fail
        self.wav_path = "recording"  # words are never stale, as for a WAV file

    async def say(self, text: str) -> None:
        if self.fail:
            raise SpeechError("the speaker is unplugged")
        self.said.append(text)


#: Easy, then a steady climb into zone 3 (no jump a sensor check would question).
CLIMB = [100.0] * 5 + [100.0 + 2.5 * i for i in range(1, 21)] + [150.0] * 40


def beats(bpms: Sequence[float | None], start: int = 0) -> list[Reading]:
    """One heart-rate reading per second (None: the band is silent that second)."""
    out: list[Reading] = []
    for i, bpm in enumerate(bpms):
        t = float(start + i)
        out.append(Tick("band", t) if bpm is None else HeartRateReading("band", t, round(bpm)))
    return out


def play(readings: Sequence[Reading], **kwargs) -> tuple[list, object]:
    events: list = []
    session = CoachingSession(
        profile=PROFILE,
        health=None,
        narrator=Narrator(None),
        speaker=kwargs.pop("speaker", None),
        emit=events.append,
        **kwargs,
    )
    result = asyncio.run(session.run(Scripted(readings)))
    return events, result


def test_one_sample_event_per_second_and_the_summary_last():
    events, result = play(beats([120.0] * 10))
    samples = [e for e in events if isinstance(e, SampleTaken)]
    assert [e.sample.t for e in samples] == list(range(10))
    zone = samples[0].zone
    assert zone is not None and all(e.zone == zone and e.forecast is None for e in samples)
    assert isinstance(events[-1], SessionEnded) and events[-1].summary.duration_s == 10
    assert result.summary is events[-1].summary


def test_a_silent_band_is_a_gap_never_an_invented_heart_rate():
    # A reading is held for up to 3 s (bands notify about once a second, not exactly on it);
    # past that the second is a gap.
    events, result = play(beats([120.0, 121.0, *[None] * 8, 122.0]))
    samples = [e.sample for e in events if isinstance(e, SampleTaken)]
    gaps = [s.t for s in samples if s.hr_gap]
    assert gaps and gaps == list(range(gaps[0], 10)) and gaps[0] <= 5
    assert all(s.hr_bpm is None for s in samples if s.hr_gap)
    assert result.summary.seconds_with_hr == len(samples) - len(gaps)


def test_every_cue_is_decided_then_spoken_in_template_words_without_a_model():
    events, result = play(beats(CLIMB))
    decided = [e for e in events if isinstance(e, CueDecided)]
    spoken = [e for e in events if isinstance(e, CueSpoken)]
    assert decided and [e.cue.id for e in decided] == [e.narration.cue_id for e in spoken]
    assert decided[0].cue.kind is CueKind.ZONE_CHANGE
    for d, s in zip(decided, spoken, strict=True):
        assert events.index(d) < events.index(s)
        assert s.narration.source == "template" and s.narration.text == d.cue.template_text
    assert result.summary.spoken_by_template == len(spoken)


def test_the_journal_gets_every_sample_cue_and_narration_then_the_summary():
    journal = Journal()
    events, _ = play(beats(CLIMB), journal=journal)
    kinds = [kind for kind, _ in journal.calls]
    assert kinds.count("sample") == len(CLIMB) and kinds[-1] == "finish"
    cue_ids = [e.cue.id for e in events if isinstance(e, CueDecided)]
    assert [v for k, v in journal.calls if k == "cue"] == cue_ids
    assert [v for k, v in journal.calls if k == "narration"] == cue_ids


def test_a_resumed_session_continues_its_seconds():
    journal = Journal()
    events, _ = play(beats([120.0] * 3), journal=journal, t_offset=600)
    assert [e.sample.t for e in events if isinstance(e, SampleTaken)] == [600, 601, 602]


def test_link_changes_are_events_of_their_own():
    readings = [LinkEvent("band", 0.0, LinkState.CONNECTED, "test"), *beats([120.0] * 3)]
    events, _ = play(readings)
    links = [e for e in events if isinstance(e, LinkChanged)]
    assert len(links) == 1 and links[0].link.state is LinkState.CONNECTED
    assert event_json(links[0]) == {
        "event": "link",
        "device": "band",
        "t": 0.0,
        "state": "connected",
        "detail": "test",
    }


def test_words_go_to_the_speaker_and_speech_is_accounted_for_at_the_end():
    speaker = Speaker()
    events, _ = play(beats(CLIMB), speaker=speaker)
    spoken = [e for e in events if isinstance(e, CueSpoken)]
    assert speaker.said == [e.narration.text for e in spoken]
    finished = [e for e in events if isinstance(e, SpeechFinished)]
    assert len(finished) == 1 and finished[0].spoken == len(spoken)
    assert all(e.speech == "a test ear" for e in spoken)


def test_a_failing_speaker_is_a_warning_and_the_session_goes_on():
    events, result = play(beats(CLIMB), speaker=Speaker(fail=True))
    warnings = [e for e in events if isinstance(e, WarningRaised)]
    assert warnings and "speech stopped" in warnings[0].message
    assert result.summary.duration_s == len(CLIMB)


def test_stop_keeps_what_was_read_and_still_summarises():
    events: list = []
    journal = Journal()
    session = CoachingSession(
        profile=PROFILE,
        health=None,
        narrator=Narrator(None),
        speaker=None,
        emit=events.append,
        journal=journal,
    )

    async def body():
        running = asyncio.create_task(session.run(Scripted(beats([120.0] * 8), then_wait=True)))
        while sum(isinstance(e, SampleTaken) for e in events) < 7:
            await asyncio.sleep(0.01)
        session.stop()
        return await asyncio.wait_for(running, 10)

    result = asyncio.run(body())
    assert result.summary.duration_s == 8  # the last second is flushed, not dropped
    assert isinstance(events[-1], SessionEnded) and journal.calls[-1] == ("finish", 8)
