"""Build the engines a session needs from the settings, saying plainly what is missing.

The health model is required: a missing or tampered file is an error the person must fix. The
language model is optional by design: without it every cue is spoken from its template, and the
reason is logged once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edge.errors import EdgecoachError
from edge.health.model import HealthModel
from edge.narrator.llm import open_engine
from edge.narrator.narrator import Narrator, NarratorSettings
from edge.settings import Settings
from edge.speech.espeak import EspeakSpeaker, has_audio_output

log = logging.getLogger(__name__)


def load_health_model(settings: Settings) -> HealthModel:
    return HealthModel.load(settings.health.models_dir, threads=settings.health.threads)


def load_narrator(settings: Settings) -> Narrator:
    llm = settings.llm
    narrator_settings = NarratorSettings(timeout_s=llm.timeout_s, max_tokens=llm.max_tokens)
    if not llm.enabled:
        return Narrator(None, narrator_settings, "language model turned off")
    try:
        # The coaching model when the models folder holds one intact: a merged fine-tuned GGUF,
        # or the committed adapter on the very base it was trained on (both hashes checked);
        # else the packaged base model alone. [llm] model_path names a file to use as it is.
        engine = open_engine(
            llm.model_path, settings.health.models_dir, threads=llm.threads or None
        )
    except EdgecoachError as exc:
        log.warning("speaking from templates only: %s", exc)
        return Narrator(None, narrator_settings, f"no language model: {exc}")
    return Narrator(engine, narrator_settings)


def make_speaker(
    settings: Settings, *, speak_to: Path | None, mute: bool, fallback_wav: Path | None
) -> EspeakSpeaker | None:
    """espeak-ng to `speak_to`, else to the audio device, else into `fallback_wav`, else none."""
    if mute or not settings.speech.enabled:
        return None
    wav = speak_to if speak_to is not None else (None if has_audio_output() else fallback_wav)
    if wav is None and speak_to is None and not has_audio_output():
        log.warning("no audio device found: cues are shown and stored, not spoken")
        return None
    return EspeakSpeaker(
        wav_path=wav, voice=settings.speech.voice, words_per_minute=settings.speech.words_per_minute
    )
