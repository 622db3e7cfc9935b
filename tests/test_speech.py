"""Real espeak-ng, speaking into a WAV file."""

import asyncio
import wave

import pytest

from edge.errors import SpeechError
from edge.speech.espeak import EspeakSpeaker


def test_utterances_are_appended_into_one_wav(tmp_path):
    path = tmp_path / "cues.wav"
    speaker = EspeakSpeaker(wav_path=path)

    async def speak():
        await speaker.say("Zone four now, heart rate one hundred and sixty.")
        await speaker.say("Ease off.")

    asyncio.run(speak())
    speaker.close()
    with wave.open(str(path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
    assert speaker.utterances == 2
    assert seconds == pytest.approx(speaker.seconds_of_audio, rel=0.01)
    assert 2.0 < seconds < 10.0


def test_missing_espeak_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SpeechError, match="apt-get install espeak-ng"):
        EspeakSpeaker()


def test_unwritable_wav_path_is_a_speech_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    speaker = EspeakSpeaker(wav_path=blocker / "sub" / "out.wav")
    with pytest.raises(SpeechError, match="cannot write speech"):
        asyncio.run(speaker.say("hello"))
