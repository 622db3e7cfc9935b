"""`edgecoach run`: the daemon. One coaching session per person, running until SIGTERM.

Tasks: one per sensor (inside each person's session, with its own reconnect loop), one stream per
person, the health model and the store in their worker threads, one language-model worker shared
by everyone (llama.cpp calls never overlap), speech. systemd hears READY=1 once everything is
loaded, a watchdog ping while the event loop is alive, and STOPPING=1 on SIGTERM; every session
then flushes its last second, words the cues already decided, and is ended in the store.

Sources (`[daemon] source`): "ble" (the configured bands, with a clock that ticks through
silence), "virtual" (a virtual strap and footpod per person behind one fake BlueZ on a private
D-Bus, through real bleak, as `edgecoach demo --ble`), "replay" (a recorded file per person)
and "simulator" (GATT bytes without BLE). The sessions never know which they got; with the last
three the daemon ends once everyone's workout has played. `[display]` adds an OLED or e-paper
screen for one person, fed the same events as the zone board.

A session that was still open when the daemon died (a crash, kill -9, power loss) is resumed if
it was recent: new samples continue after the last stored second, new cues after the last cue.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge import sd_notify
from edge.coach.coach import Coach
from edge.coach.machine_driver import MachineDriver, machine_drivers
from edge.coach.machine_roster import MachineRoster, MachineSeat
from edge.core.events import (
    CueDecided,
    CueSpoken,
    LinkChanged,
    SessionEnded,
    SessionEvent,
    SessionPlanned,
    WarningRaised,
    for_person,
)
from edge.core.quiet import QuietHours
from edge.core.zones import ZoneModel
from edge.displays import DisplayError, open_display
from edge.displays.terminal import JsonLines
from edge.engines import load_health_model, load_narrator, make_speaker
from edge.errors import EdgecoachError, SpeechError
from edge.health.personal_kinetics import (
    PersonalKinetics,
    kinetics_path,
    learn_from_session,
    load_personal_kinetics,
)
from edge.journal import StoreJournal
from edge.kiosk.server import KioskBoard
from edge.reports.fitness import session_markers
from edge.session import CoachingSession, SessionResult
from edge.settings import BleBandConfig, Person, Settings, check_daemon_sources
from edge.sources.base import SensorSource
from edge.sources.ble import BleSensorSource
from edge.sources.clock import ClockSource
from edge.sources.replay import ReplaySource
from edge.sources.simulator import SimulatorSource
from edge.store import (
    DATABASE_NAME,
    RecordingLock,
    SessionStore,
    StoreError,
    find_key,
    space_warning,
)
from edge.training.inputs import latest_session_id, record_feedback
from edge.training.readiness import MORNING_SOURCE
from edge.training.today import TodaysSession, todays_session
from firmware_bridge.simulator import WORKOUTS, Athlete

log = logging.getLogger(__name__)

#: A crashed session is continued only if its last sample is this recent.
RESUME_WITHIN = timedelta(minutes=15)


class DaemonState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    json: bool = False
    #: Stop by itself after this many seconds (tests, soak runs); None runs until SIGTERM.
    max_runtime_s: float | None = None
    #: Stored as the sessions' source instead of [daemon] source ("morning/ble": a resting
    #: reading, which readiness trusts to be still without a footpod).
    session_source: str | None = None
    #: Continue a session left open by a crash (off for a resting reading: always its own).
    resume: bool = True


class Daemon:
    def __init__(self, settings: Settings, options: DaemonOptions = DaemonOptions()) -> None:
        self.settings = settings
        self.options = options
        self.state = DaemonState.STARTING
        self._stop = asyncio.Event()
        self._sessions: list[CoachingSession] = []
        self.results: dict[str, SessionResult] = {}
        #: Tasks the daemon spawned besides the sessions (the display's refresh).
        self._background: set[asyncio.Task[None]] = set()
        #: Each person's session in the store now (the zone board's feedback goes there).
        self.session_ids: dict[str, int] = {}
        #: The machines the coach drives, by person (`[[people.machines]]` with drive = true).
        self._drivers: dict[str, list[MachineDriver]] = {}
        #: The gym's machines (`[[machines]]`), bound to members from the zone board.
        self.roster: MachineRoster | None = None
        #: Each person's heart kinetics as learnt before this session (read once, at the start).
        self.kinetics: dict[str, PersonalKinetics] = {}

    def stop_machines(self, person: str) -> bool:
        """The person asked to stop (their tile's "Stop machine"): let go of their machines."""
        released = [driver.person_stop() for driver in self._drivers.get(person, ())]
        if self.roster is not None:
            released.append(self.roster.stop(person))
        return any(released)

    def request_stop(self) -> None:
        if self.state in (DaemonState.STOPPING, DaemonState.STOPPED):
            return
        log.info("stopping: finishing the sessions")
        self.state = DaemonState.STOPPING
        sd_notify.stopping("finishing sessions")
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        check_daemon_sources(self.settings)  # again: `run --source` may have changed it
        store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgecoach-store")
        state_dir = self.settings.daemon.state_dir
        health = narrator = store = board = display = speaker = recording_lock = fleet = None
        radio = contextlib.AsyncExitStack()  # the virtual bands' fake BlueZ, when there is one
        try:
            health = await asyncio.to_thread(load_health_model, self.settings)
            narrator = await asyncio.to_thread(load_narrator, self.settings)
            try:
                speaker = make_speaker(
                    self.settings,
                    speak_to=self.settings.speech.wav_file,
                    mute=False,
                    fallback_wav=None,
                )
            except SpeechError as exc:  # the coach still shows and stores every cue
                log.warning("speech is off: %s", exc)
                speaker = None
            key = find_key(self.settings.daemon.key_file, required=self.settings.daemon.require_key)
            if key is None:
                log.warning(
                    "no database key: health data is stored unencrypted "
                    "(set LoadCredential=edgecoach-db-key or [daemon] key_file)"
                )
            people = self.settings.people or (Person(self.settings.profile),)
            if room := space_warning(state_dir / DATABASE_NAME, len(people)):
                log.error("%s", room)  # up front, not after a session that was never stored
            store = await loop.run_in_executor(
                store_thread, lambda: SessionStore.open(state_dir / DATABASE_NAME, key=key)
            )
            # Held while recording: `edgecoach forget` refuses to run beside the daemon.
            recording_lock = RecordingLock(state_dir / DATABASE_NAME)
            recording_lock.acquire()
            sink = JsonLines() if self.options.json else _log_event
            if self.settings.machines and self.settings.daemon.source == "ble":
                self.roster = MachineRoster(self.settings.machines, clock=time.monotonic)
            elif self.settings.machines or any(p.machines for p in people):
                # A heart that is not the person's on the machine (a file, the simulator, a
                # script) must not drive it: README "Machines and the other sources".
                log.warning(
                    'machines are read and driven with source "ble" only; with %s they are '
                    "left alone",
                    self.settings.daemon.source,
                )
            kiosk = self.settings.kiosk
            if kiosk.enabled:  # listening before READY=1: the kiosk unit opens it then
                board = KioskBoard(
                    kiosk.host,
                    kiosk.port,
                    members=[p.profile.name for p in people],
                    zones={p.profile.name: ZoneModel.for_profile(p.profile) for p in people},
                    on_feedback=feedback_recorder(store, store_thread, self.session_ids),
                    on_stop=self.stop_machines,
                    machines=self.roster,
                )
                await board.start()
                log.info("zone board on %s", board.url)
            display = self._open_display(people)
            if self.settings.fleet.enabled:  # the gym's board, over MQTT (README "Gym fleet")
                from edge.fleet.publisher import FleetPublisher

                fleet = FleetPublisher(
                    self.settings.fleet,
                    state_dir=state_dir,
                    session_ids=self.session_ids,
                    members=[p.profile.name for p in people],
                )
                await fleet.start()
            emit = fan_out(sink, *(s.emit for s in (board, display, fleet) if s is not None))
            if display is not None:
                self._background.add(asyncio.create_task(display.run(), name="edgecoach-display"))
            tasks = []
            self.kinetics = await asyncio.to_thread(_load_kinetics, state_dir, people)
            sources_of = await self._open_sources(people, radio)
            for person in people:
                session = await self._session_for(
                    person, store, store_thread, health, narrator, speaker, emit
                )
                sources = sources_of[person.profile.name]
                tasks.append(
                    asyncio.create_task(
                        self._run_session(person, session, sources),
                        name=f"edgecoach-person-{person.profile.name}",
                    )
                )
            self.state = DaemonState.RUNNING
            sd_notify.ready(f"coaching {len(people)} person(s)")
            log.info(
                "running: %d person(s), source %s, state in %s",
                len(people),
                self.settings.daemon.source,
                state_dir,
            )
            watchdog = asyncio.create_task(self._watchdog(), name="edgecoach-watchdog")
            stopper = asyncio.create_task(self._stop.wait())
            timeout = self.options.max_runtime_s
            await asyncio.wait(
                [stopper, asyncio.gather(*tasks, return_exceptions=True)],
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            self.request_stop()
            for session in self._sessions:
                session.stop()
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    log.error("a session ended with an error", exc_info=outcome)
            await self._learn_from_sessions(people, store, store_thread)
            watchdog.cancel()
            stopper.cancel()
        finally:
            await radio.aclose()
            for task in self._background:
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            if display is not None:
                display.close()
            if fleet is not None:
                await fleet.stop()
            if board is not None:
                await board.stop()
            if store is not None:
                await loop.run_in_executor(store_thread, store.close)
            store_thread.shutdown(wait=True)
            if recording_lock is not None:
                recording_lock.release()
            if speaker is not None:
                speaker.close()  # a WAV file gets its header
            if narrator is not None:
                narrator.close()
            if health is not None:
                health.close()
            self.state = DaemonState.STOPPED
            log.info("stopped")

    async def _session_for(self, person, store, store_thread, health, narrator, speaker, emit):
        loop = asyncio.get_running_loop()
        name = person.profile.name
        resume = (
            await loop.run_in_executor(store_thread, _resumable, store, name)
            if self.options.resume
            else None
        )
        if resume is not None:
            session_id, next_t, last_cue = resume
            log.info(
                "%s: continuing session %d after a restart, from second %d",
                name,
                session_id,
                next_t,
            )
        else:
            session_id = None
        # Today's session from the planner (or the one named), read before this session is
        # stored, so that it does not count as "already trained today"; a resting reading
        # coaches nothing.
        today = (
            None
            if (self.options.session_source or "").startswith(MORNING_SOURCE)
            else await loop.run_in_executor(
                store_thread, _todays_session, store, self.settings, person
            )
        )
        if session_id is None:
            try:
                session_id = await loop.run_in_executor(
                    store_thread,
                    store.start_session,
                    name,
                    self.options.session_source or self.settings.daemon.source,
                    person.profile,
                    datetime.now(UTC),
                )
            except StoreError as exc:  # refuse, rather than coach a session never stored
                raise type(exc)(
                    f"cannot start a session that could be stored: {exc}", path=exc.path
                ) from exc
            next_t, last_cue = 0, 0
        self.session_ids[name] = session_id

        def emit_for_person(event: SessionEvent) -> None:
            emit(for_person(event, name))

        if today is not None:
            emit_for_person(SessionPlanned(today.source, today.description))
        plan = today.workout if today is not None else None
        session = CoachingSession(
            profile=person.profile,
            health=health,
            narrator=narrator,
            speaker=speaker,
            emit=emit_for_person,
            coach=Coach(
                person.profile,
                first_cue_id=last_cue + 1,
                plan=plan,
                plan_start_t=0 if plan is not None else None,
                kinetics=self.kinetics.get(name),
            ),
            journal=StoreJournal(store, session_id, store_thread),
            t_offset=next_t,
            quiet=QuietHours.parse(self.settings.speech.quiet_hours).checker(),
            observers=(*self._drivers.get(name, ()), *self._seat(person)),
        )
        for driver in (*self._drivers.get(name, ()), *self._seat(person)):
            driver.say, driver.emit = session.announce, emit_for_person  # the session speaks
        for seat in self._seat(person):
            seat.live = True
        self._sessions.append(session)
        return session

    def _seat(self, person: Person) -> tuple[MachineSeat, ...]:
        """The person's seat for a gym machine, when there are gym machines."""
        if self.roster is None:
            return ()
        known = self.kinetics.get(person.profile.name)
        return (
            self.roster.seat(
                person.profile.name,
                ZoneModel.for_profile(person.profile),
                None if known is None else known.for_kind("power"),
                person.profile.resting_hr,
            ),
        )

    def _open_display(self, people: Sequence[Person]):  # -> OledDisplay | EpaperDisplay | None
        """The `[display]` screen, showing `[display] person` (or the first person); a screen
        that cannot be opened is logged and left off: coaching goes on without it."""
        settings = self.settings.display
        person = next((p for p in people if p.profile.name == settings.person), people[0])
        try:
            return open_display(
                settings, person.profile.name, ZoneModel.for_profile(person.profile)
            )
        except DisplayError as exc:
            log.warning("the %s display is off: %s", settings.kind, exc)
            return None

    async def _open_sources(
        self, people: Sequence[Person], stack: contextlib.AsyncExitStack
    ) -> dict[str, list[SensorSource]]:
        """Each person's sensor sources, as `[daemon] source` says; the sessions never know
        which kind they got. Virtual bands share one fake BlueZ, kept open by `stack`."""
        daemon = self.settings.daemon
        kind = daemon.source
        if kind == "ble":
            started = time.monotonic()

            def clock() -> float:
                return time.monotonic() - started

            sources: dict[str, list[SensorSource]] = {}
            if self.roster is not None:
                self.roster.clock = clock
            for p in people:
                known = self.kinetics.get(p.profile.name)
                machines = machine_drivers(
                    p.machines,
                    ZoneModel.for_profile(p.profile),
                    clock=clock,
                    kinetics=None if known is None else known.for_kind("power"),
                    resting_hr=p.profile.resting_hr,
                )
                self._drivers[p.profile.name] = [d for _, d in machines if d is not None]
                sources[p.profile.name] = [
                    *(
                        BleSensorSource(band, clock=clock)
                        for band in (p.bands or (BleBandConfig(),))
                    ),
                    *(link for link, _ in machines),
                    *self._seat(p),
                    ClockSource(clock),
                ]
            return sources
        if kind == "replay":
            return {
                p.profile.name: [
                    ReplaySource(
                        p.replay_file or daemon.replay_file,  # type: ignore[arg-type]  # checked
                        speed=daemon.speed,
                    )
                ]
                for p in people
            }
        if kind == "simulator":
            return {
                p.profile.name: [
                    SimulatorSource(
                        WORKOUTS[p.workout or daemon.workout],
                        _athlete(p),
                        seed=daemon.seed + index,
                        speed=daemon.speed,
                        device=f"simulated band of {p.profile.name}",
                    )
                ]
                for index, p in enumerate(people)
            }
        from edge.sources.virtual_demo import VirtualWearer, virtual_bands

        wearers = [
            VirtualWearer(
                WORKOUTS[p.workout or daemon.workout],
                _athlete(p),
                seed=daemon.seed + index,
                label=p.profile.name,
                link_losses=daemon.virtual_link_losses,
            )
            for index, p in enumerate(people)
        ]
        per_wearer = await stack.enter_async_context(virtual_bands(wearers, speed=daemon.speed))
        return {p.profile.name: sources for p, sources in zip(people, per_wearer, strict=True)}

    async def _learn_from_sessions(
        self, people: Sequence[Person], store: SessionStore, store_thread: ThreadPoolExecutor
    ) -> None:
        """Each session just recorded gets its fitness markers stored and teaches the person's
        heart kinetics, for the next one."""
        loop = asyncio.get_running_loop()
        state_dir = self.settings.daemon.state_dir
        for person in people:
            name = person.profile.name
            session_id = self.session_ids.get(name)
            if session_id is None:
                continue
            try:
                samples = await loop.run_in_executor(store_thread, store.samples, session_id)
                markers = await asyncio.to_thread(session_markers, samples)
                if markers is not None:
                    await loop.run_in_executor(
                        store_thread, store.set_fitness, session_id, markers.as_dict()
                    )
                report = await asyncio.to_thread(
                    learn_from_session,
                    kinetics_path(state_dir, name),
                    name,
                    samples,
                    now=datetime.now(UTC).isoformat(timespec="seconds"),
                )
            except (EdgecoachError, OSError) as exc:
                log.warning("%s: fitness markers or heart kinetics not updated: %s", name, exc)
                continue
            if report["updated"]:
                log.info("%s: heart kinetics learnt from this session: %s", name, report["kinds"])

    async def _run_session(
        self, person: Person, session: CoachingSession, sources: list[SensorSource]
    ) -> None:
        try:
            self.results[person.profile.name] = await session.run(*sources)
        finally:
            if self.roster is not None:  # their gym machine goes back with the session
                await self.roster.session_ended(person.profile.name)

    async def _watchdog(self) -> None:
        interval = sd_notify.watchdog_interval_s()
        if interval is None:
            return
        while True:
            sd_notify.watchdog_ping()
            await asyncio.sleep(interval / 2)


def _load_kinetics(state_dir: Path, people: Sequence[Person]) -> dict[str, PersonalKinetics]:
    """Each person's learnt heart kinetics; a file that cannot be read is logged and skipped."""
    out: dict[str, PersonalKinetics] = {}
    for person in people:
        name = person.profile.name
        try:
            out[name] = load_personal_kinetics(kinetics_path(state_dir, name), name)
        except EdgecoachError as exc:
            log.warning("%s: %s", name, exc)
    return out


def _athlete(person: Person) -> Athlete:
    """The simulated athlete who plays a person's workout: their profile, middling fitness."""
    profile = person.profile
    return Athlete(profile.age, profile.resting_hr, profile.effective_max_hr, 0.5)


def _todays_session(
    store: SessionStore, settings: Settings, person: Person
) -> TodaysSession | None:
    """The person's session for today (`edge.training.today`); None, with a warning, when
    their `session` setting names nothing coachable: they are coached without a plan."""
    try:
        return todays_session(
            person.session, store=store, settings=settings, person=person.profile.name
        )
    except EdgecoachError as exc:
        log.warning("%s: coaching without a planned session: %s", person.profile.name, exc)
        return None


def _resumable(store: SessionStore, person: str) -> tuple[int, int, int] | None:
    """The person's open session to continue, if recent; older open ones are closed."""
    candidate = None
    now = datetime.now(UTC)
    for row in store.open_sessions():
        if row.person != person:
            continue
        last = row.started_at + timedelta(seconds=row.last_t or 0)
        if now - last <= RESUME_WITHIN and (candidate is None or row.id > candidate.id):
            candidate = row
    for row in store.open_sessions():
        if row.person == person and (candidate is None or row.id != candidate.id):
            store.resume_session(row.id)
            store.end_session(row.id, now, {"ended_by": "recovery after an unclean stop"})
    if candidate is None:
        return None
    state = store.resume_session(candidate.id)
    return candidate.id, state.next_t, state.last_cue_id or 0


def feedback_recorder(
    store: SessionStore,
    executor: ThreadPoolExecutor,
    session_ids: Mapping[str, int],
) -> Callable[[str, int | None, str | None], Awaitable[dict[str, object]]]:
    """The zone board's `on_feedback`: how a person's session felt, recorded in the store (in
    its thread) on their current session (`session_ids`, filled as sessions start), else their
    latest one, with the labels `edgecoach feedback` stores, so the next plan reads it alike."""

    async def on_feedback(person: str, rpe: int | None, verdict: str | None) -> dict[str, object]:
        def record() -> dict[str, object]:
            session_id = session_ids.get(person)
            if session_id is None:
                session_id = latest_session_id(store, person)
            return record_feedback(store, session_id, rpe, verdict)

        recorded = await asyncio.get_running_loop().run_in_executor(executor, record)
        log.info("%s: feedback on session %s", person, recorded["session_id"])
        return recorded

    return on_feedback


def fan_out(*sinks: Callable[[SessionEvent], None]) -> Callable[[SessionEvent], None]:
    """One emit sink that hands every event to each of `sinks` in turn."""

    def emit(event: SessionEvent) -> None:
        for sink in sinks:
            sink(event)

    return emit


def _log_event(event: SessionEvent) -> None:
    # Info-level logs never hold health data: what happened, not the heart rate.
    person = event.person
    match event:
        case CueDecided(cue=cue):
            log.info("%s: cue %s (%s)", person, cue.kind.value, cue.action.value)
        case LinkChanged(link=link):
            log.info("%s: %s %s", person, link.device, link.state.value)
        case WarningRaised():
            log.warning("%s: %s", person, event.message)
        case SessionEnded(summary=summary):
            log.info(
                "%s: session ended after %s s, %s cues", person, summary.duration_s, summary.cues
            )
        case CueSpoken(narration=words):
            log.debug("%s: spoken (%s): %s", person, words.source, words.text)


def run_daemon(settings: Settings, options: DaemonOptions = DaemonOptions()) -> Daemon:
    daemon = Daemon(settings, options)
    asyncio.run(daemon.run())
    return daemon
