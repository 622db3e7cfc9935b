"""Speech through espeak-ng: to the audio device, or into one WAV file when there is none.

espeak-ng runs as a subprocess (asyncio's, so the event loop never waits on it). For a WAV file
each utterance is rendered with `--stdout` and appended to one growing file, so a whole session's
cues can be listened to afterwards.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import shutil
import wave
from pathlib import Path

from edge.errors import SpeechError

log = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
INSTALL_HINT = "install it with `apt-get install espeak-ng`"
#: Silence between two utterances in a WAV file, in seconds.
GAP_S = 0.4


def has_audio_output() -> bool:
    """True when there is somewhere for sound to go: a sound server or an ALSA playback device."""
    runtime = Path(os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}"))
    if os.environ.get("PULSE_SERVER") or (runtime / "pulse" / "native").exists():
        return True
    if (runtime / "pipewire-0").exists():
        return True
    snd = Path("/dev/snd")
    return snd.is_dir() and any(
        p.name.startswith("pcm") and p.name.endswith("p") for p in snd.iterdir()
    )


class EspeakSpeaker:
    """Speaks text; `wav_path` None means the audio device."""

    def __init__(
        self, *, wav_path: Path | None = None, voice: str = "en-gb", words_per_minute: int = 165
    ) -> None:
        if shutil.which(ESPEAK) is None:
            raise SpeechError(f"espeak-ng is not installed; {INSTALL_HINT}, or use --mute.")
        self.wav_path = wav_path
        self.voice = voice
        self.words_per_minute = words_per_minute
        self._wav: wave.Wave_write | None = None
        self.utterances = 0
        self.seconds_of_audio = 0.0

    @property
    def destination(self) -> str:
        return str(self.wav_path) if self.wav_path else "the audio device"

    async def say(self, text: str) -> None:
        args = [ESPEAK, "-v", self.voice, "-s", str(self.words_per_minute)]
        if self.wav_path is None:
            await self._run(args + ["--", text])
        else:
            self._append(await self._run(args + ["--stdout", "--", text]))
        self.utterances += 1

    async def _run(self, args: list[str]) -> bytes:
        process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        stdout, stderr = await process.communicate()
        if process.returncode != 0:
            raise SpeechError(
                f"espeak-ng failed ({process.returncode}): {stderr.decode(errors='replace').strip()}"
                " — check the audio device, or pass --speak-to FILE.wav"
            )
        return stdout

    def _append(self, wav_bytes: bytes) -> None:
        with wave.open(io.BytesIO(wav_bytes)) as utterance:
            params = utterance.getparams()
            frames = utterance.readframes(utterance.getnframes())
        if self._wav is None:
            try:
                self.wav_path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
                self._wav = wave.open(str(self.wav_path), "wb")
            except OSError as exc:
                raise SpeechError(
                    f"cannot write speech to {self.wav_path}: {exc.strerror}"
                ) from exc
            self._wav.setparams(params)
        else:
            silence = int(GAP_S * params.framerate) * params.sampwidth * params.nchannels
            self._wav.writeframes(b"\0" * silence)
            self.seconds_of_audio += GAP_S
        self._wav.writeframes(frames)
        # espeak-ng streams its WAV, so the header's frame count is a placeholder: count bytes.
        self.seconds_of_audio += (
            len(frames) / (params.sampwidth * params.nchannels) / params.framerate
        )

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None
