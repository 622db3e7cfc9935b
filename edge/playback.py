"""`edgecoach demo`: a simulated workout through the whole real path, no band, no network.

Six simulated minutes (warm-up, a hard section into zone 5, cool-down) are played as GATT bytes,
aligned, forecast by the ONNX health model, coached, worded by SmolLM2 through llama.cpp and
spoken by espeak-ng, at `speed` times real time.
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
from edge.sources.simulator import SimulatorSource
from firmware_bridge.simulator import DEMO_ATHLETE, DEMO_WORKOUT

log = logging.getLogger(__name__)

DEFAULT_WAV = Path("edgecoach-demo.wav")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    json: bool = False
    speak_to: Path | None = None
    mute: bool = False
    #: Simulated seconds per wall second; 0 runs as fast as the engines allow.
    speed: float = 30.0
    seed: int = 1


def demo_profile() -> Profile:
    """The simulated athlete, as the coach sees them."""
    return Profile(name="demo runner", age=DEMO_ATHLETE.age, resting_hr=DEMO_ATHLETE.resting_hr,
                   max_hr=DEMO_ATHLETE.max_hr)


def run_demo(settings: Settings, options: DemoOptions) -> SessionResult:
    emit = JsonLines() if options.json else TerminalDisplay()
    health = load_health_model(settings)
    speaker = make_speaker(settings, speak_to=options.speak_to, mute=options.mute,
                           fallback_wav=DEFAULT_WAV)
    narrator = load_narrator(settings)
    source = SimulatorSource(DEMO_WORKOUT, DEMO_ATHLETE, seed=options.seed, speed=options.speed)
    emit({"event": "start", "source": source.name, "profile": demo_profile().name,
          "duration_s": DEMO_WORKOUT.duration_s, "speed": options.speed,
          "health_model": str(health.source),
          "language_model": str(narrator.engine.path) if narrator.engine else None,
          "speech": speaker.destination if speaker else None})
    session = CoachingSession(profile=demo_profile(), health=health, narrator=narrator,
                              speaker=speaker, emit=emit)
    try:
        result = asyncio.run(session.run(source))
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
