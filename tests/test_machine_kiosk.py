"""Gym machines bound from the zone board (`[[machines]]`, `edge.coach.machine_roster`).

Real parts throughout: the kiosk's HTTP server (and, once, headless Chromium tapping the tile),
real coaching sessions for two members, and the machine side through real bleak on the fake
BlueZ, as tests/test_machine_ble.py drives a bike. A member binds a free bike from their tile;
the bike is read into their session and driven for them; nobody else can bind it meanwhile; on
"Release" (or the end of their session) control goes back at a safe load and the bike is free
for the next member, who is then driven in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from ble_fixtures import FAST_BACKOFF, fast_radio, needs_dbus, run

from edge.coach.machine_coach import DriveState
from edge.coach.machine_roster import BindingError, MachineRoster
from edge.core.cues import Action, CueKind
from edge.core.events import SampleTaken, SessionEvent, for_person
from edge.core.zones import ZoneModel
from edge.daemon import Daemon, DaemonOptions
from edge.errors import ConfigError
from edge.kiosk import KioskBoard
from edge.narrator.narrator import Narrator
from edge.profile import Profile
from edge.session import CoachingSession
from edge.settings import (
    BleBandConfig,
    DaemonSettings,
    KioskSettings,
    LlmSettings,
    MachineSettings,
    Person,
    Settings,
    SpeechSettings,
    load_settings,
)
from edge.sources.machine import MachineLink
from edge.store import DATABASE_NAME, SessionStore
from edge.stream.readings import HeartRateReading, Reading
from firmware_bridge.gatt import HeartRateMeasurement, encode_heart_rate_measurement
from firmware_bridge.gatt import fitness_machine as fm
from firmware_bridge.gatt.uuids import HEART_RATE_MEASUREMENT
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider
from firmware_bridge.simulator import Athlete
from firmware_bridge.virtual_band import MachineSample, Notification, VirtualBand, VirtualIndoorBike
from firmware_bridge.virtual_band.machines import OTHER_APP
from tests.session_events import cue_event
from tests.test_kiosk import CHROMIUM, Browser, http_get
from tests.test_kiosk_feedback import http_post

BIKE = "C0:FF:EE:61:4C:01"
FAR_BIKE = "C0:FF:EE:61:4C:02"  # configured, never switched on
FAST = {"tick_s": 0.02, "model_step_s": 1.0}
PEOPLE = {
    "ann": Profile(name="ann", age=40, resting_hr=55.0, max_hr=185.0),
    "bob": Profile(name="bob", age=52, resting_hr=62.0, max_hr=172.0),
}
GYM = (
    MachineSettings(
        address=BIKE,
        kind="bike",
        drive=True,
        plan="20s 150W, 20m 200W",
        max_power_w=220.0,
        label="Bike 1",
    ),
    MachineSettings(address=FAR_BIKE, kind="bike", label="Bike 2"),
)


class Hearts:
    """Each member's chest strap: a heart rate every model second of the bike (both hearts
    answer the bike's power: only the one bound to it is driven by it, which is all we check)."""

    def __init__(self, bike: VirtualIndoorBike) -> None:
        self.queues: dict[str, asyncio.Queue[Reading]] = {n: asyncio.Queue() for n in PEOPLE}
        self.riders = {
            name: SimulatedRider(
                PowerResponse(Athlete(p.age, p.resting_hr, p.max_hr or 180.0, 0.5), 0.3, 40.0, 4),
                seed=n,
            )
            for n, (name, p) in enumerate(PEOPLE.items())
        }
        #: Members whose strap has lost contact: no readings from it.
        self.silent: set[str] = set()
        bike.on_sample = self._on_sample

    def _on_sample(self, sample: MachineSample) -> None:
        for name, rider in self.riders.items():
            hr = round(rider.step(sample.power_w))
            if name in self.silent:
                continue
            self.queues[name].put_nowait(HeartRateReading("strap", sample.t, hr, (), True))

    def source(self, name: str):
        queue = self.queues[name]

        class Strap:
            def __init__(self) -> None:
                self.name = f"strap of {name}"

            async def readings(self) -> AsyncIterator[Reading]:
                while True:
                    yield await queue.get()

        return Strap()


class Gym:
    """The daemon's wiring, in small: a roster, a board with it, a session per member."""

    def __init__(self, bike: VirtualIndoorBike) -> None:
        self.bike = bike
        self.hearts = Hearts(bike)
        self.roster = MachineRoster(
            GYM,
            clock=lambda: bike.t,
            link_options={"reconnect_backoff": FAST_BACKOFF, "response_timeout_s": 2.0},
        )
        self.board = KioskBoard(
            port=0,
            members=list(PEOPLE),
            zones={n: ZoneModel.for_profile(p) for n, p in PEOPLE.items()},
            on_stop=self.roster.stop,
            machines=self.roster,
        )
        self.events: dict[str, list[SessionEvent]] = {n: [] for n in PEOPLE}
        self.sessions: dict[str, CoachingSession] = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self.said: dict[str, list[str]] = {n: [] for n in PEOPLE}

    def start(self, name: str) -> None:
        seat = self.roster.seat(name, ZoneModel.for_profile(PEOPLE[name]))

        def emit(event: SessionEvent) -> None:
            event = for_person(event, name)
            self.events[name].append(event)
            self.board.emit(event)

        session = CoachingSession(
            profile=PEOPLE[name],
            health=None,
            narrator=Narrator(None),
            speaker=None,
            emit=emit,
            observers=(seat,),
        )
        seat.say, seat.emit, seat.live = self.said[name].append, emit, True

        async def run_session() -> None:
            try:
                await session.run(self.hearts.source(name), seat)
            finally:
                await self.roster.session_ended(name)

        self.sessions[name] = session
        self.tasks[name] = asyncio.create_task(run_session())

    async def end(self, name: str) -> None:
        self.sessions[name].stop()
        await self.tasks[name]

    def powers(self, name: str) -> list[float]:
        return [
            e.sample.power_w
            for e in self.events[name]
            if isinstance(e, SampleTaken) and e.sample.power_w is not None
        ]

    def tile(self, name: str) -> dict:
        return next(m for m in self.board.snapshot()["members"] if m["name"] == name)


def requested(bike: VirtualIndoorBike, kind: type, since: int = 0) -> list:
    return [r.request for r in bike.requests[since:] if isinstance(r.request, kind)]


async def until(done: Callable[[], bool], timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not done():
            await asyncio.sleep(0.02)


async def machines(port: int) -> list[dict]:
    status, _, raw = await http_get(port, "/machines.json")
    assert status == 200
    return json.loads(raw)["machines"]


def driven(gym: Gym, since: int = 0) -> Callable[[], bool]:
    return lambda: (
        gym.bike.controller is not None and len(requested(gym.bike, fm.SetTargetPower, since)) >= 3
    )


@needs_dbus
def test_a_member_binds_a_bike_from_the_board_is_driven_and_releases_it_for_the_next() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            gym = Gym(bike)
            async with gym.board:
                port = gym.board.port
                # Before anyone's session runs, nothing can be bound.
                status, _, raw = await http_post(
                    port, "/bind", {"person": "ann", "machine": "Bike 1"}
                )
                assert status == 409 and b"no session running" in raw
                gym.start("ann")
                gym.start("bob")
                assert [(m["machine"], m["person"]) for m in await machines(port)] == [
                    ("Bike 1", None),
                    ("Bike 2", None),
                ]

                status, _, raw = await http_post(
                    port, "/bind", {"person": "ann", "machine": "Bike 1"}
                )
                assert status == 200, raw
                assert json.loads(raw) == {
                    "person": "ann",
                    "machine": "Bike 1",
                    "kind": "bike",
                    "drive": True,
                }
                assert gym.tile("ann")["machine"] == "Bike 1"
                # Never bound to two people; one machine per member.
                status, _, raw = await http_post(
                    port, "/bind", {"person": "bob", "machine": "Bike 1"}
                )
                assert status == 409 and raw.strip() == b"Bike 1 is in use by ann"
                status, _, raw = await http_post(
                    port, "/bind", {"person": "ann", "machine": "Bike 2"}
                )
                assert status == 409 and b"ann is on Bike 1" in raw
                status, _, raw = await http_post(
                    port, "/bind", {"person": "bob", "machine": "Treadmill"}
                )
                assert status == 409 and b"no machine called 'Treadmill'" in raw

                # The coach drives the bike for ann: her heart asks for control, her plan's
                # targets in bounded steps, the bike's power in her stream and on her tile.
                await until(driven(gym))
                assert gym.tile("ann")["machine_driving"] is True
                await until(lambda: max(gym.powers("ann"), default=0) >= 100)
                assert gym.powers("bob") == []
                assert (await machines(port))[0]["person"] == "ann"

                # Release: a safe load, then Reset (control back), the link closed, bike free.
                status, _, raw = await http_post(port, "/release", {"person": "ann"})
                assert status == 200 and json.loads(raw) == {"person": "ann", "released": True}
                assert bike.controller is None
                assert [type(r) for r in (r.request for r in bike.requests[-2:])] == [
                    fm.SetTargetResistanceLevel,
                    fm.Reset,
                ]
                assert requested(bike, fm.SetTargetResistanceLevel)[-1].level == 5.0
                assert (await machines(port))[0]["person"] is None
                assert gym.tile("ann")["machine"] is None
                assert gym.tile("ann")["machine_driving"] is False
                assert any("released from the zone board" in s for s in gym.said["ann"])
                status, _, raw = await http_post(port, "/release", {"person": "ann"})
                assert json.loads(raw)["released"] is False

                # Bob takes it and is driven in his turn, from the plan's start.
                since = len(bike.requests)
                status, _, raw = await http_post(
                    port, "/bind", {"person": "bob", "machine": "Bike 1"}
                )
                assert status == 200, raw
                await until(driven(gym, since))
                first = requested(bike, fm.SetTargetPower, since)[0].power_w
                assert first == 40 + 25  # the floor plus one step: no jump to ann's power
                await until(lambda: len(gym.powers("bob")) > 3)

                # His session ends: the bike goes back with it.
                await gym.end("bob")
                assert bike.controller is None
                assert isinstance(bike.requests[-1].request, fm.Reset)
                assert (await machines(port))[0]["person"] is None
                assert gym.tile("bob")["machine"] is None
                status, _, raw = await http_post(
                    port, "/bind", {"person": "bob", "machine": "Bike 1"}
                )
                assert status == 409 and b"no session running" in raw
                await gym.end("ann")
            # Never above the cap, never more than a step at a time, for either member.
            targets = [r.power_w for r in requested(bike, fm.SetTargetPower)]
            assert max(targets) <= 220

    run(body(), timeout_s=60)


@needs_dbus
def test_stop_machine_lets_go_of_control_and_the_bike_stays_bound_until_released() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            gym = Gym(bike)
            async with gym.board:
                port = gym.board.port
                gym.start("ann")
                gym.start("bob")
                assert gym.roster.bind("ann", "Bike 1")["drive"] is True
                await until(driven(gym))
                status, _, raw = await http_post(port, "/stop", {"person": "ann"})
                assert json.loads(raw) == {"person": "ann", "released": True}
                await until(lambda: bike.controller is None)
                assert isinstance(bike.requests[-1].request, fm.Reset)
                # Still hers (still read into her session), no longer driven.
                assert (await machines(port))[0]["person"] == "ann"
                count = len(gym.powers("ann"))
                await until(lambda: len(gym.powers("ann")) > count + 3)
                assert bike.controller is None
                with pytest.raises(BindingError, match="in use by ann"):
                    gym.roster.bind("bob", "Bike 1")
                # While its link is still closing, the bike is nobody's to take yet.
                releasing = asyncio.create_task(gym.roster.release("ann", "done"))
                await asyncio.sleep(0)
                assert gym.roster.listing()[0]["releasing"] is True
                with pytest.raises(BindingError, match="Bike 1 is being let go of"):
                    gym.roster.bind("bob", "Bike 1")
                assert await releasing is True
                assert gym.roster.bind("bob", "Bike 1")["machine"] == "Bike 1"
                await gym.end("ann")
                await gym.end("bob")
                assert (await machines(port))[0]["person"] is None

    run(body(), timeout_s=40)


@needs_dbus
@pytest.mark.parametrize("path", ["heart_rate_lost", "safety_cue", "other_app", "stop_button"])
def test_every_safety_path_holds_on_a_bound_gym_bike(path) -> None:
    # The same rules as a machine of one's own: let go at once (a safe load first, where control
    # is still ours), never take it back this session; the bike stays the member's until
    # released, so nobody else is driven by it meanwhile.
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            gym = Gym(bike)
            async with gym.board:
                gym.start("ann")
                gym.roster.bind("ann", "Bike 1")
                await until(driven(gym))
                seat = gym.roster.seat("ann", ZoneModel.for_profile(PEOPLE["ann"]))
                driver = seat.driver
                assert driver is not None
                count = len(bike.requests)
                if path == "heart_rate_lost":
                    gym.hearts.silent.add("ann")
                elif path == "safety_cue":
                    above_max = cue_event(99, CueKind.ABOVE_MAX_HR, action=Action.STOP)
                    seat.on_cue(above_max.cue)
                elif path == "other_app":
                    bike.take_control_by_other_app()
                else:
                    bike.press_stop()
                link = seat.slot.plugged
                assert isinstance(link, MachineLink)
                await until(lambda: driver.coach.state is DriveState.RELEASED)
                await until(lambda: not link.in_control and not link._busy)
                later = [r.request for r in bike.requests[count:]]
                assert not any(isinstance(r, fm.SetTargetPower) for r in later[-2:])
                if path == "other_app":  # not ours any more: nothing written, not fought for
                    assert driver.coach.released_reason == "control was taken by another app"
                    assert bike.controller == OTHER_APP
                    assert not any(isinstance(r, fm.Reset) for r in later)
                elif path == "stop_button":  # stopped already: control back, load untouched
                    assert driver.coach.released_reason == "you stopped the machine"
                    assert isinstance(later[-1], fm.Reset) and bike.controller is None
                    assert not any(isinstance(r, fm.SetTargetResistanceLevel) for r in later)
                else:  # a safe load first, then control back
                    assert driver.coach.released_reason == (
                        "the heart-rate signal was lost"
                        if path == "heart_rate_lost"
                        else above_max.cue.template_text.rstrip(".")
                    )
                    assert [type(r) for r in later[-2:]] == [fm.SetTargetResistanceLevel, fm.Reset]
                    assert bike.controller is None
                # Still bound, no longer driven; the tile says so.
                assert gym.roster.bound_to("ann") == "Bike 1"
                await until(lambda: gym.tile("ann")["machine_driving"] is False)
                assert gym.tile("ann")["machine"] == "Bike 1"
                targets = len(requested(bike, fm.SetTargetPower))
                await asyncio.sleep(0.3)  # some model seconds: the coach does not come back
                assert len(requested(bike, fm.SetTargetPower)) == targets
                await gym.end("ann")
            assert max(r.power_w for r in requested(bike, fm.SetTargetPower)) <= 220

    run(body(), timeout_s=40)


def test_bind_and_release_requests_are_checked() -> None:
    async def body() -> None:
        roster = MachineRoster(GYM, clock=lambda: 0.0)
        async with KioskBoard(port=0, members=["ann"], machines=roster) as board:
            for path, payload, reason in (
                ("/bind", {"person": "ann"}, b'send {"person": NAME, "machine": LABEL}'),
                ("/bind", {"person": "ann", "machine": 3}, b"send {"),
                ("/bind", {"person": "zed", "machine": "Bike 1"}, b"choose a name shown"),
                ("/release", {"person": "ann", "machine": "x"}, b'send {"person": NAME}'),
                ("/release", "[1]", b'send {"person": NAME}'),
            ):
                status, _, raw = await http_post(board.port, path, payload)
                assert status == 400 and reason in raw, (path, payload, raw)
            status, _, _ = await http_post(
                board.port,
                "/bind",
                {"person": "ann", "machine": "Bike 1"},
                headers={"Origin": "http://evil.example"},
            )
            assert status == 403
            status, _, _ = await http_get(board.port, "/bind")
            assert status == 405
        async with KioskBoard(port=0, members=["ann"]) as plain:
            assert await machines(plain.port) == []
            status, _, raw = await http_post(plain.port, "/release", {"person": "ann"})
            assert status == 503 and b"no gym machines" in raw

    run(body())


def test_gym_machines_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    machine = '[[machines]]\nlabel = "Bike 1"\naddress = "AA:BB:CC:DD:EE:01"\ndrive = true\n'
    config.write_text("[kiosk]\nenabled = true\n" + machine + "hold_zone = 2\n", "utf-8")
    (loaded,) = load_settings(config).machines
    assert (loaded.shown_as, loaded.hold_zone, loaded.drive) == ("Bike 1", 2, True)

    for text, message in (
        (machine, r"bound to a member from the zone board; set \[kiosk\] enabled = true"),
        ("[kiosk]\nenabled = true\n" + machine + machine, "two machines are called 'Bike 1'"),
        ('[kiosk]\nenabled = true\n[[machines]]\nkind = "bike"\n', "needs its address"),
        ('[kiosk]\nenabled = true\n[[machines]]\nname = "KICKR"\nmax_power = 9\n', "max_power"),
    ):
        config.write_text(text, "utf-8")
        with pytest.raises(ConfigError, match=message):
            load_settings(config)


@needs_dbus
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_a_member_taps_their_tile_picks_the_bike_and_releases_it_in_a_browser(tmp_path) -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            gym = Gym(bike)
            async with gym.board:
                gym.start("ann")
                gym.start("bob")
                browser = await Browser.launch(
                    gym.board.url, tmp_path / "profile", tmp_path / "chromium.log"
                )
                tile = "document.querySelector('article.tile[data-person=\"ann\"]')"
                try:
                    await browser.wait_for(
                        "document.body !== null"  # the page may not be parsed yet
                        " && document.body.classList.contains('gym-machines')"
                        f" && {tile} !== null && !{tile}.querySelector('.machine-pick').hidden",
                        20,
                    )
                    await browser.evaluate(f"{tile}.querySelector('.machine-pick').click()")
                    await browser.wait_for(
                        f"{tile}.querySelectorAll('.machine-choice').length === 2", 20
                    )
                    await browser.evaluate(
                        f"{tile}.querySelector('.machine-choice[data-machine=\"Bike 1\"]').click()"
                    )
                    await browser.wait_for(
                        f"{tile}.querySelector('.machine-on').textContent === 'On Bike 1'", 20
                    )
                    await until(driven(gym))
                    await browser.wait_for(f"!{tile}.querySelector('.machine-stop').hidden", 20)
                    # Bob's tile offers only what is free.
                    bob = "document.querySelector('article.tile[data-person=\"bob\"]')"
                    await browser.evaluate(f"{bob}.querySelector('.machine-pick').click()")
                    await browser.wait_for(
                        f"[...{bob}.querySelectorAll('.machine-choice')]"
                        ".map(b => b.dataset.machine).join() === 'Bike 2'",
                        20,
                    )
                    await browser.evaluate(f"{tile}.querySelector('.machine-release').click()")
                    await browser.wait_for(
                        f"{tile}.querySelector('.machine-on').textContent === ''"
                        f" && !{tile}.querySelector('.machine-pick').hidden",
                        20,
                    )
                    assert bike.controller is None
                    assert browser.errors == []
                finally:
                    await browser.close()
                await gym.end("ann")
                await gym.end("bob")

    run(body(), timeout_s=90)


@needs_dbus
def test_the_daemon_binds_a_gym_bike_from_its_board_and_gives_it_back_when_it_stops(
    tmp_path,
) -> None:
    # The whole daemon ("ble" source, its own clock, its board, its store) with a strap and a
    # bike behind the fake BlueZ: the binding comes through the board's HTTP API.
    strap_address = "C0:FF:EE:61:4C:0A"
    beat = encode_heart_rate_measurement(
        HeartRateMeasurement(bpm=118, contact_supported=True, contact_detected=True)
    )

    async def beats() -> AsyncIterator[Notification]:
        while True:
            yield Notification(0.25, HEART_RATE_MEASUREMENT, beat)

    strap = VirtualBand(strap_address, "Ann's strap", services=("heart_rate",), script=beats())
    bike = VirtualIndoorBike(BIKE, tick_s=0.25, model_step_s=0.25)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(
        llm=LlmSettings(enabled=False),
        speech=SpeechSettings(enabled=False),
        daemon=DaemonSettings(state_dir=tmp_path, source="ble"),
        kiosk=KioskSettings(enabled=True, port=port),
        people=(
            Person(PEOPLE["ann"], bands=(BleBandConfig(address=strap_address),)),
            Person(PEOPLE["bob"], bands=(BleBandConfig(address="C0:FF:EE:61:4C:0B"),)),
        ),
        machines=GYM,
    )

    async def body() -> None:
        async with fast_radio(strap, bike):
            daemon = Daemon(settings, DaemonOptions(max_runtime_s=60))
            task = asyncio.create_task(daemon.run())
            try:
                status, raw = 0, b""
                async with asyncio.timeout(30):
                    while status != 200:  # the board, then ann's session, come up
                        await asyncio.sleep(0.2)
                        with contextlib.suppress(OSError):
                            status, _, raw = await http_post(
                                port, "/bind", {"person": "ann", "machine": "Bike 1"}
                            )
                assert json.loads(raw)["machine"] == "Bike 1"
                await until(driven_by_the_coach(bike), timeout_s=30)
                assert (await machines(port))[0]["person"] == "ann"
                status, _, raw = await http_post(
                    port, "/bind", {"person": "bob", "machine": "Bike 1"}
                )
                assert status == 409 and b"in use by ann" in raw
                daemon.request_stop()
                await task
            finally:
                if not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            assert bike.controller is None  # given back when edgecoach stopped
            assert [type(r.request) for r in bike.requests[-2:]] == [
                fm.SetTargetResistanceLevel,
                fm.Reset,
            ]
        with SessionStore.open(tmp_path / DATABASE_NAME) as store:
            (row,) = [r for r in store.sessions("ann")]
            powers = [s.power_w for s in store.samples(row.id) if s.power_w is not None]
        assert powers and max(powers) > 0  # the bike's power is in ann's stored session

    run(body(), timeout_s=90)


def driven_by_the_coach(bike: VirtualIndoorBike) -> Callable[[], bool]:
    return lambda: bike.controller is not None and bool(requested(bike, fm.SetTargetPower))
