"""Speech through Piper, a neural voice that runs on a Pi: to the audio device or into a WAV file.

Piper (``pip install piper-tts``) needs a voice: an ONNX file and its ``.onnx.json`` config, e.g.
``python -m piper.download_voices en_GB-alba-medium`` on a machine with a network, then copied to
the device. Each utterance runs the `piper` CLI with the text on its stdin and ``--output-raw``:
16-bit mono samples at the voice's rate come back on stdout. They are streamed into `aplay`
for the audio device, or appended to one growing WAV file, like `EspeakSpeaker` does.

The CLI loads the voice for every utterance (about a second on a Pi 4 for a medium voice);
keeping one `piper.PiperVoice` in a worker thread would save that, at the cost of a voice's
memory held all session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import sys
import wave
from collections.abc import Sequence
from pathlib import Path

from edge.errors import SpeechError

log = logging.getLogger(__name__)

__all__ = ["PIPER", "PiperSpeaker", "find_piper", "voice_config_path"]

PIPER = "piper"
INSTALL_HINT = "install it with `pip install piper-tts`"
VOICE_HINT = (
    "get a voice (an .onnx file and its .onnx.json) with "
    "`python -m piper.download_voices en_GB-alba-medium` where there is a network, "
    "and copy both files here"
)
#: Silence between two utterances in a WAV file, in seconds.
GAP_S = 0.4
#: Piper writes 16-bit mono samples.
SAMPLE_WIDTH = 2
CHANNELS = 1


def find_piper() -> str | None:
    """The `piper` command on PATH, or beside this Python (a virtual environment's bin/)."""
    found = shutil.which(PIPER)
    if found:
        return found
    beside = Path(sys.executable).with_name(PIPER)
    return str(beside) if beside.exists() else None


def voice_config_path(voice_path: Path) -> Path:
    """Where Piper looks for a voice's config: beside it, ``.onnx.json``."""
    return voice_path.with_name(voice_path.name + ".json")


class PiperSpeaker:
    """Speaks text with a Piper voice; `wav_path` None means the audio device (through aplay)."""

    def __init__(
        self,
        voice_path: Path,
        *,
        wav_path: Path | None = None,
        config_path: Path | None = None,
        speaker_id: int | None = None,
        length_scale: float | None = None,
        piper: str | None = None,
        player: Sequence[str] | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.voice_path = Path(voice_path)
        self.config_path = Path(config_path) if config_path else voice_config_path(self.voice_path)
        if not self.voice_path.is_file():
            raise SpeechError(
                f"no Piper voice at {self.voice_path}: {VOICE_HINT}, or use espeak-ng"
            )
        if not self.config_path.is_file():
            raise SpeechError(
                f"the Piper voice {self.voice_path} has no config at "
                f"{self.config_path}: {VOICE_HINT}"
            )
        self.sample_rate = _sample_rate(self.config_path)
        self.piper = piper or find_piper()
        if self.piper is None or shutil.which(self.piper) is None:
            raise SpeechError(
                f"Piper is not installed ({self.piper or PIPER} not found); "
                f"{INSTALL_HINT}, or use espeak-ng."
            )
        self.wav_path = wav_path
        self.player = list(player) if player else None
        if wav_path is None and self.player is None:
            aplay = shutil.which("aplay")
            if aplay is None:
                raise SpeechError(
                    "aplay is not installed to play Piper's audio; install it with "
                    "`apt-get install alsa-utils`, or pass --speak-to FILE.wav"
                )
            self.player = [
                aplay,
                "-q",
                "-t",
                "raw",
                "-f",
                "S16_LE",
                "-r",
                str(self.sample_rate),
                "-c",
                str(CHANNELS),
                "-",
            ]
        self.speaker_id = speaker_id
        self.length_scale = length_scale
        self.timeout_s = timeout_s
        self._wav: wave.Wave_write | None = None
        self.utterances = 0
        self.seconds_of_audio = 0.0

    @property
    def destination(self) -> str:
        return str(self.wav_path) if self.wav_path else "the audio device"

    def command(self) -> list[str]:
        """The piper command line; the text goes on its stdin, samples come on its stdout."""
        args = [
            str(self.piper),
            "--model",
            str(self.voice_path),
            "--config",
            str(self.config_path),
            "--output-raw",
        ]
        if self.speaker_id is not None:
            args += ["--speaker", str(self.speaker_id)]
        if self.length_scale is not None:
            args += ["--length-scale", f"{self.length_scale:g}"]
        return args

    async def say(self, text: str) -> None:
        # One line: the CLI speaks each input line as an utterance of its own.
        line = " ".join(text.split()) + "\n"
        try:
            async with asyncio.timeout(self.timeout_s):
                if self.wav_path is None:
                    await self._play(line)
                else:
                    self._append(await self._synthesise(line))
        except TimeoutError:
            raise SpeechError(
                f"Piper took more than {self.timeout_s:g} s for one utterance; "
                'try a smaller voice ("low" or "medium")'
            ) from None
        self.utterances += 1

    async def _synthesise(self, line: str) -> bytes:
        process = await self._start(self.command(), stdout=asyncio.subprocess.PIPE)
        try:
            stdout, stderr = await process.communicate(line.encode("utf-8"))
        finally:
            await _stop(process)
        if process.returncode != 0:
            raise SpeechError(
                f"piper failed ({process.returncode}): {_last_line(stderr)} — "
                f"check the voice {self.voice_path}"
            )
        return stdout

    async def _play(self, line: str) -> None:
        """Stream piper's samples into the player as they come."""
        assert self.player is not None
        piper = await self._start(self.command(), stdout=asyncio.subprocess.PIPE)
        try:
            player = await self._start(self.player, stdout=asyncio.subprocess.DEVNULL)
        except SpeechError:
            await _stop(piper)
            raise
        # Their messages are read as they come, so that neither blocks on a full pipe.
        piper_err = asyncio.ensure_future(_read(piper.stderr))
        player_err = asyncio.ensure_future(_read(player.stderr))
        played = 0
        try:
            assert piper.stdin is not None and piper.stdout is not None
            assert player.stdin is not None
            piper.stdin.write(line.encode("utf-8"))
            await piper.stdin.drain()
            piper.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                # A player that dies stops the copy; its exit status below says why.
                while chunk := await piper.stdout.read(8192):
                    player.stdin.write(chunk)
                    await player.stdin.drain()
                    played += len(chunk)
                player.stdin.close()
            await player.wait()
            await piper.wait()
        finally:
            await _stop(player)
            await _stop(piper)
            messages = await asyncio.gather(piper_err, player_err, return_exceptions=True)
        piper_text, player_text = (m if isinstance(m, bytes) else b"" for m in messages)
        if player.returncode != 0:
            raise SpeechError(
                f"{self.player[0]} failed ({player.returncode}): "
                f"{_last_line(player_text)} — check the audio device, or pass "
                "--speak-to FILE.wav"
            )
        if piper.returncode != 0:
            raise SpeechError(
                f"piper failed ({piper.returncode}): {_last_line(piper_text)} — "
                f"check the voice {self.voice_path}"
            )
        self.seconds_of_audio += played / (SAMPLE_WIDTH * CHANNELS) / self.sample_rate

    async def _start(self, args: list[str], *, stdout: int) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.PIPE, stdout=stdout, stderr=asyncio.subprocess.PIPE
            )
        except OSError as exc:
            raise SpeechError(f"cannot run {args[0]}: {exc.strerror}") from exc

    def _append(self, frames: bytes) -> None:
        if self._wav is None:
            try:
                self.wav_path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
                self._wav = wave.open(str(self.wav_path), "wb")
            except OSError as exc:
                raise SpeechError(
                    f"cannot write speech to {self.wav_path}: {exc.strerror}"
                ) from exc
            self._wav.setnchannels(CHANNELS)
            self._wav.setsampwidth(SAMPLE_WIDTH)
            self._wav.setframerate(self.sample_rate)
        else:
            silence = int(GAP_S * self.sample_rate) * SAMPLE_WIDTH * CHANNELS
            self._wav.writeframes(b"\0" * silence)
            self.seconds_of_audio += GAP_S
        frames = frames[: len(frames) - len(frames) % (SAMPLE_WIDTH * CHANNELS)]
        self._wav.writeframes(frames)
        self.seconds_of_audio += len(frames) / (SAMPLE_WIDTH * CHANNELS) / self.sample_rate

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None


def _sample_rate(config_path: Path) -> int:
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        rate = int(config["audio"]["sample_rate"])
    except (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        KeyError,
        TypeError,
        ValueError,
    ) as exc:
        raise SpeechError(
            f"{config_path} is not a Piper voice config (no audio.sample_rate: {exc}); {VOICE_HINT}"
        ) from None
    if rate <= 0:
        raise SpeechError(f"{config_path}: audio.sample_rate must be positive, got {rate}")
    return rate


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Kill a process still running (a cancelled or failed utterance) and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def _read(stream: asyncio.StreamReader | None) -> bytes:
    return await stream.read() if stream is not None else b""


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
