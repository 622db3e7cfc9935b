"""Play a workout through the whole coach: `edgecoach demo` (simulated) and `edgecoach replay`.

The demo plays six simulated minutes (warm-up, a hard section into zone 5, cool-down) as GATT
bytes; replay plays a recorded FIT/TCX/GPX/CSV file. Both go through the same session: aligned,
forecast by the ONNX health model, coached, worded by the language model and spoken, at `speed`
times real time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from edge.coach.coach import Coach
from edge.coach.workouts import PlannedWorkout, load_workout
from edge.core.events import SessionPlanned, SessionStarted
from edge.displays.terminal import JsonLines, TerminalDisplay
from edge.engines import load_health_model, load_narrator, make_speaker
from edge.profile import Profile
from edge.session import CoachingSession, SampleObserver, SessionResult
from edge.settings import Settings
from edge.sources.base import SensorSource
from edge.sources.replay import ReplaySource
from edge.sources.simulator import SimulatorSource
from edge.training.today import PLANNED, TodaysSession, todays_session
from firmware_bridge.simulator import DEMO_ATHLETE, DEMO_WORKOUT, Athlete, WorkoutPlan

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
    #: Play the demo through the virtual bands over real bleak and D-Bus instead of directly.
    ble: bool = False
    #: Today's session (`edge.training.today`): None or "today" for the planner's, a name
    #: ("tempo", "easy 45"), a workout ("10m z2, 4x(3m z4, 2m z1), 5m z1") or file, "none".
    plan: str | None = None
    #: Play a bike in ERG, driven by the coach, over real bleak (`edge.machine_demo`).
    machine: bool = False


def options_from(args: argparse.Namespace, settings: Settings) -> tuple[Settings, PlaybackOptions]:
    """`demo` and `replay` flags as options, and the settings with the model off for --no-llm."""
    if args.no_llm:
        settings = dataclasses.replace(
            settings, llm=dataclasses.replace(settings.llm, enabled=False)
        )
    return settings, PlaybackOptions(
        json=args.json,
        speak_to=args.speak_to,
        mute=args.mute,
        speed=args.speed,
        seed=getattr(args, "seed", 1),
        ble=getattr(args, "ble", False),
        plan=args.plan,
        machine=getattr(args, "machine", False),
    )


def load_workout_text(text: str) -> PlannedWorkout:
    """`--plan` takes the plan itself or a file holding it."""
    path = Path(text)
    return (
        load_workout(path)
        if path.suffix in (".toml", ".txt") or path.is_file()
        else PlannedWorkout.parse(text)
    )


def todays_plan(
    settings: Settings, profile: Profile, spec: str | None, *, own_history: bool
) -> TodaysSession:
    """Today's session for `profile`: with `own_history`, planned from their sessions in the
    store (when there is one yet); otherwise as for a person with none (the demo's runner)."""
    from edge.store import DATABASE_NAME, open_store

    database = Path(settings.daemon.state_dir) / DATABASE_NAME
    if (
        not own_history
        or (spec or "today").strip().lower() not in PLANNED
        or not database.is_file()
    ):  # reading plans creates no store
        return todays_session(spec, settings=settings, person=profile.name)
    with open_store(settings.daemon) as store:
        return todays_session(spec, store=store, settings=settings, person=profile.name)


def demo_profile() -> Profile:
    """The simulated athlete, as the coach sees them."""
    return Profile(
        name="demo runner",
        age=DEMO_ATHLETE.age,
        resting_hr=DEMO_ATHLETE.resting_hr,
        max_hr=DEMO_ATHLETE.max_hr,
    )


def run_demo(settings: Settings, options: PlaybackOptions) -> SessionResult:
    if options.machine:
        from edge.machine_demo import DEMO_MACHINE_PLAN, MachineDemo
        from edge.sources.virtual_demo import ble_speed

        speed = ble_speed(options.speed)
        demo = MachineDemo(
            demo_profile(), speed=speed, seed=options.seed, plan=options.plan or DEMO_MACHINE_PLAN
        )
        label = f"a virtual bike in ERG over BLE ({demo.plan.describe()})"
        return play(
            settings,
            [],
            demo_profile(),
            # The machine's plan is coached by its driver: no heart-rate plan beside it.
            dataclasses.replace(options, speed=speed, plan="none"),
            duration_s=demo.duration_s,
            fallback_wav=DEMO_WAV,
            runner=demo.run,
            label=label,
            observers=(demo.driver,),
        )
    if options.ble:
        from edge.sources.virtual_demo import ble_speed

        def over_ble(session: CoachingSession) -> Awaitable[SessionResult]:
            return run_ble_demo_session(
                session, DEMO_WORKOUT, DEMO_ATHLETE, seed=options.seed, speed=options.speed
            )

        label = f"virtual bands over BLE ({DEMO_WORKOUT.name})"
        return play(
            settings,
            [],
            demo_profile(),
            dataclasses.replace(options, speed=ble_speed(options.speed)),
            duration_s=DEMO_WORKOUT.duration_s,
            fallback_wav=DEMO_WAV,
            runner=over_ble,
            label=label,
        )
    source = SimulatorSource(DEMO_WORKOUT, DEMO_ATHLETE, seed=options.seed, speed=options.speed)
    return play(
        settings,
        [source],
        demo_profile(),
        options,
        duration_s=DEMO_WORKOUT.duration_s,
        fallback_wav=DEMO_WAV,
    )


async def run_ble_demo_session(
    session: CoachingSession, plan: WorkoutPlan, athlete: Athlete, *, seed: int, speed: float
) -> SessionResult:
    """`edgecoach demo --ble`: the simulated workout through virtual bands, BLE and the coach."""
    from edge.sources.virtual_demo import virtual_demo_bands

    async with virtual_demo_bands(plan, athlete, seed=seed, speed=speed) as sources:
        return await session.run(*sources)


def run_replay(settings: Settings, path: Path, options: PlaybackOptions) -> SessionResult:
    source = ReplaySource(path, speed=options.speed)
    return play(
        settings,
        [source],
        settings.profile,
        options,
        duration_s=None,
        fallback_wav=REPLAY_WAV,
        own_history=True,
    )


def play(
    settings: Settings,
    sources: list[SensorSource],
    profile: Profile,
    options: PlaybackOptions,
    *,
    duration_s: int | None,
    fallback_wav: Path,
    runner: Callable[[CoachingSession], Awaitable[SessionResult]] | None = None,
    label: str | None = None,
    observers: tuple[SampleObserver, ...] = (),
    own_history: bool = False,
) -> SessionResult:
    emit = JsonLines() if options.json else TerminalDisplay()
    health = load_health_model(settings)
    speaker = make_speaker(
        settings, speak_to=options.speak_to, mute=options.mute, fallback_wav=fallback_wav
    )
    narrator = load_narrator(settings)
    emit(
        SessionStarted(
            source=label or ", ".join(s.name for s in sources),
            profile=profile.name,
            duration_s=duration_s,
            speed=options.speed,
            health_model=str(health.source),
            language_model=str(narrator.engine.path) if narrator.engine else None,
            speech=speaker.destination if speaker else None,
        )
    )
    # The demo's runner is simulated: their day is planned as for someone with no history.
    today = todays_plan(settings, profile, options.plan, own_history=own_history)
    emit(SessionPlanned(today.source, today.description))
    plan = today.workout
    session = CoachingSession(
        profile=profile,
        health=health,
        narrator=narrator,
        speaker=speaker,
        emit=emit,
        coach=Coach(profile, plan=plan, plan_start_t=0 if plan else None),
        observers=observers,
    )
    try:
        result = asyncio.run(runner(session) if runner else session.run(*sources))
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
