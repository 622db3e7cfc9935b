"""Play a workout through the whole coach: `edgecoach demo` (simulated) and `edgecoach replay`.

The demo plays six simulated minutes (warm-up, a hard section into zone 5, cool-down) as GATT
bytes; replay plays a recorded FIT/TCX/GPX/CSV file. Both go through the same session: aligned,
forecast by the ONNX health model, coached, worded by the language model and spoken, at `speed`
times real time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from edge.display import JsonLines, TerminalDisplay
from edge.engines import load_health_model, load_narrator, make_speaker
from edge.profile import Profile
from edge.session import CoachingSession, SessionResult
from edge.settings import Settings
from edge.sources.base import SensorSource
from edge.sources.replay import ReplaySource
from edge.sources.simulator import SimulatorSource
from firmware_bridge.simulator import DEMO_ATHLETE, DEMO_WORKOUT

log = logging.getLogger(__name__)

DEMO_WAV = Path("edgecoach-demo.wav")
REPLAY_WAV = Path("edgecoach-replay.wav")


@dataclass(frozen=True, slots=True)
class PlaybackOptions:
    json: bool = False
    speak_to: Path | None = None
    mute: bool = False
    #: Workout seconds per wall second; 0 runs as fast as the engines allow.
    speed: float = 30.0
    seed: int = 1


def demo_profile() -> Profile:
    """The simulated athlete, as the coach sees them."""
    return Profile(name="demo runner", age=DEMO_ATHLETE.age, resting_hr=DEMO_ATHLETE.resting_hr,
                   max_hr=DEMO_ATHLETE.max_hr)


def run_demo(settings: Settings, options: PlaybackOptions) -> SessionResult:
    source = SimulatorSource(DEMO_WORKOUT, DEMO_ATHLETE, seed=options.seed, speed=options.speed)
    return play(settings, [source], demo_profile(), options, duration_s=DEMO_WORKOUT.duration_s,
                fallback_wav=DEMO_WAV)


def run_replay(settings: Settings, path: Path, options: PlaybackOptions) -> SessionResult:
    source = ReplaySource(path, speed=options.speed)
    return play(settings, [source], settings.profile, options, duration_s=None,
                fallback_wav=REPLAY_WAV)


def play(settings: Settings, sources: list[SensorSource], profile: Profile,
         options: PlaybackOptions, *, duration_s: int | None, fallback_wav: Path) -> SessionResult:
    emit = JsonLines() if options.json else TerminalDisplay()
    health = load_health_model(settings)
    speaker = make_speaker(settings, speak_to=options.speak_to, mute=options.mute,
                           fallback_wav=fallback_wav)
    narrator = load_narrator(settings)
    emit({"event": "start", "source": ", ".join(s.name for s in sources), "profile": profile.name,
          "duration_s": duration_s, "speed": options.speed,
          "health_model": str(health.source),
          "language_model": str(narrator.engine.path) if narrator.engine else None,
          "speech": speaker.destination if speaker else None})
    session = CoachingSession(profile=profile, health=health, narrator=narrator,
                              speaker=speaker, emit=emit)
    try:
        result = asyncio.run(session.run(*sources))
    finally:
        narrator.close()
        health.close()
        if speaker is not None:
            speaker.close()
    if isinstance(emit, TerminalDisplay):
        lines = result.summary.lines()
        if speaker is not None:
            lines.append(f"Spoken to {speaker.destination}")
        emit.finish(lines)
    return result
