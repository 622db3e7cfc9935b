"""Piper speech: the command line, the voice checks, WAV and player plumbing, real synthesis.

No Piper voice can be downloaded here, so real synthesis runs only when EDGECOACH_PIPER_VOICE
names one (an .onnx with its .onnx.json beside it). The real piper CLI still runs on a voice
that is not one, to see its failure come back as a SpeechError. For the WAV and player plumbing a
stand-in `piper` (a small script speaking the same protocol: text on stdin, 16-bit samples on
stdout) takes the real one's place.
"""

import asyncio
import json
import os
import stat
import sys
import wave
from pathlib import Path

import pytest

from edge.errors import SpeechError
from edge.speech.piper import PiperSpeaker, find_piper, voice_config_path

RATE = 16000


@pytest.fixture
def voice(tmp_path) -> Path:
    """A file where a voice would be, with a config giving its sample rate (not a real model)."""
    path = tmp_path / "en_GB-test-medium.onnx"
    path.write_bytes(b"not an onnx model")
    voice_config_path(path).write_text(json.dumps({"audio": {"sample_rate": RATE}}))
    return path


def script(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def stand_in(tmp_path) -> tuple[str, Path]:
    """A `piper` that logs its arguments and text, and answers 0.5 s of tone per utterance."""
    log = tmp_path / "piper.log"
    return script(
        tmp_path / "piper",
        f"""
import json, math, struct, sys
text = sys.stdin.read()
with open({str(log)!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "text": text}}) + "\\n")
samples = [int(8000 * math.sin(2 * math.pi * 440 * n / {RATE})) for n in range({RATE} // 2)]
sys.stdout.buffer.write(struct.pack(f"<{{len(samples)}}h", *samples))
""",
    ), log


def test_a_missing_voice_says_how_to_get_one(tmp_path):
    with pytest.raises(
        SpeechError,
        match=r"no Piper voice at .*missing\.onnx: get a voice .*"
        r"python -m piper\.download_voices",
    ):
        PiperSpeaker(tmp_path / "missing.onnx")


def test_a_voice_without_its_config_or_with_a_bad_one_is_refused(voice):
    voice_config_path(voice).unlink()
    with pytest.raises(SpeechError, match=r"has no config at .*\.onnx\.json"):
        PiperSpeaker(voice)
    voice_config_path(voice).write_text('{"audio": {}}')
    with pytest.raises(SpeechError, match="is not a Piper voice config"):
        PiperSpeaker(voice)


def test_missing_piper_is_a_clear_error(voice):
    with pytest.raises(SpeechError, match=r"Piper is not installed .*pip install piper-tts"):
        PiperSpeaker(voice, piper="/nonexistent/piper", wav_path=voice.with_suffix(".wav"))


def test_the_command_line(voice, stand_in):
    piper, _ = stand_in
    speaker = PiperSpeaker(voice, piper=piper, wav_path=voice.parent / "out.wav")
    assert speaker.command() == [
        piper,
        "--model",
        str(voice),
        "--config",
        str(voice) + ".json",
        "--output-raw",
    ]
    tuned = PiperSpeaker(
        voice, piper=piper, wav_path=voice.parent / "out.wav", speaker_id=3, length_scale=1.1
    )
    assert tuned.command()[-4:] == ["--speaker", "3", "--length-scale", "1.1"]
    assert speaker.destination == str(voice.parent / "out.wav")
    assert speaker.sample_rate == RATE


def test_the_audio_device_path_plays_through_aplay_at_the_voices_rate(
    voice, stand_in, monkeypatch, tmp_path
):
    piper, _ = stand_in
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aplay = script(bin_dir / "aplay", "")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    speaker = PiperSpeaker(voice, piper=piper)
    assert speaker.destination == "the audio device"
    assert speaker.player == [
        aplay,
        "-q",
        "-t",
        "raw",
        "-f",
        "S16_LE",
        "-r",
        str(RATE),
        "-c",
        "1",
        "-",
    ]
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SpeechError, match="apt-get install alsa-utils"):
        PiperSpeaker(voice, piper=piper)


@pytest.mark.skipif(find_piper() is None, reason="piper-tts is not installed")
def test_the_real_piper_on_a_file_that_is_no_voice_fails_as_a_speech_error(voice):
    speaker = PiperSpeaker(voice, wav_path=voice.parent / "out.wav")
    with pytest.raises(SpeechError, match=r"piper failed \(1\): .* check the voice"):
        asyncio.run(speaker.say("Zone 4 now."))
    assert speaker.utterances == 0


def test_utterances_are_appended_into_one_wav(voice, stand_in):
    piper, log = stand_in
    path = voice.parent / "cues.wav"
    speaker = PiperSpeaker(voice, piper=piper, wav_path=path)

    async def speak():
        await speaker.say("Zone 4 now,\nheart rate 160.")
        await speaker.say("Ease off.")

    asyncio.run(speak())
    speaker.close()
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["text"] for c in calls] == ["Zone 4 now, heart rate 160.\n", "Ease off.\n"]
    assert calls[0]["argv"] == speaker.command()[1:]
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx(0.5 + 0.4 + 0.5) == pytest.approx(speaker.seconds_of_audio)
    assert speaker.utterances == 2


def test_samples_stream_into_the_player(voice, stand_in, tmp_path):
    piper, _ = stand_in
    heard = tmp_path / "heard.raw"
    player = [
        sys.executable,
        "-c",
        f"import sys; open({str(heard)!r}, 'wb').write(sys.stdin.buffer.read())",
    ]
    speaker = PiperSpeaker(voice, piper=piper, player=player)
    asyncio.run(speaker.say("Hold this effort."))
    assert heard.stat().st_size == RATE // 2 * 2
    assert speaker.seconds_of_audio == pytest.approx(0.5)


def test_a_failing_player_or_piper_is_a_speech_error(voice, stand_in, tmp_path):
    piper, _ = stand_in
    broken = [sys.executable, "-c", "import sys; sys.stderr.write('no such card\\n'); sys.exit(1)"]
    with pytest.raises(SpeechError, match=r"failed \(1\): no such card — check the audio device"):
        asyncio.run(PiperSpeaker(voice, piper=piper, player=broken).say("Hello there."))
    failing = script(tmp_path / "bad-piper", "import sys; sys.stderr.write('boom\\n'); sys.exit(2)")
    sink = [sys.executable, "-c", "import sys; sys.stdin.buffer.read()"]
    with pytest.raises(SpeechError, match=r"piper failed \(2\): boom"):
        asyncio.run(PiperSpeaker(voice, piper=failing, player=sink).say("Hello there."))
    with pytest.raises(SpeechError, match=r"piper failed \(2\): boom"):
        asyncio.run(
            PiperSpeaker(voice, piper=failing, wav_path=tmp_path / "x.wav").say("Hello there.")
        )


def test_a_cancelled_or_stuck_utterance_leaves_no_process_behind(voice, tmp_path):
    pid_file = tmp_path / "pid"
    stuck = script(
        tmp_path / "stuck-piper",
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n",
    )
    speaker = PiperSpeaker(voice, piper=stuck, wav_path=tmp_path / "x.wav", timeout_s=0.5)
    with pytest.raises(SpeechError, match="took more than 0.5 s"):
        asyncio.run(speaker.say("Hello."))
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


VOICE = os.environ.get("EDGECOACH_PIPER_VOICE")


@pytest.mark.skipif(
    not VOICE,
    reason="no Piper voice here: set EDGECOACH_PIPER_VOICE to an "
    ".onnx voice (with its .onnx.json) to run real synthesis",
)
@pytest.mark.skipif(find_piper() is None, reason="piper-tts is not installed")
def test_real_piper_speaks_into_a_wav(tmp_path):
    path = tmp_path / "piper.wav"
    speaker = PiperSpeaker(Path(VOICE), wav_path=path)  # type: ignore[arg-type]
    asyncio.run(speaker.say("Interval 2 of 4: 3 minutes at zone 4."))
    speaker.close()
    with wave.open(str(path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.0 < seconds < 10.0 and speaker.utterances == 1
