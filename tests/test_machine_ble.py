"""Driving a machine through real bleak on the fake BlueZ: a virtual bike runs a planned ERG
workout end to end inside a real coaching session (targets written, indications checked, power in
the stream and the store), heart-rate mode holds a simulated rider in the zone, and each safety
path runs against the machine (cap, step limit, heart-rate loss, safety cue, the person stopping
the machine, control taken by another app, control refused, link lost mid-workout).

The machine's model clock is the session clock here (`clock=lambda: bike.t`): a ten-minute
workout runs in seconds, and the heart of a simulated rider (`power_kinetics`) answers the power
the bike reports at each model step, as a band on the rider's chest would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pytest
from ble_fixtures import FAST_BACKOFF, fast_radio, needs_dbus, run

from edge.coach.machine_coach import DriveState, MachineCoach
from edge.coach.machine_driver import MachineDriver
from edge.coach.workouts import parse_workout
from edge.core.events import SessionEvent, event_json
from edge.core.zones import ZoneModel
from edge.journal import StoreJournal
from edge.narrator.narrator import Narrator
from edge.profile import Profile
from edge.session import CoachingSession
from edge.settings import MachineSettings
from edge.sources.machine import MachineLink
from edge.store import SessionStore
from edge.stream.machine import ReleaseControl
from edge.stream.readings import HeartRateReading, Reading
from firmware_bridge.gatt import fitness_machine as fm
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider
from firmware_bridge.simulator import Athlete
from firmware_bridge.virtual_band import MachineSample, VirtualIndoorBike, VirtualTreadmill

pytestmark = needs_dbus

BIKE = "C0:FF:EE:61:4B:21"
TREADMILL = "C0:FF:EE:61:4B:22"
PROFILE = Profile(name="Ann", age=40, resting_hr=55.0, max_hr=185.0)
ZONES = ZoneModel.for_profile(PROFILE)
ATHLETE = Athlete(age=40, resting_hr=55.0, max_hr=185.0, fitness=0.5)
#: Model seconds per 20 ms tick: a minute of riding in under a second.
FAST = {"tick_s": 0.02, "model_step_s": 1.0}


class RiderHeart:
    """The rider's chest strap: a heart rate each model second, answering the bike's power.

    `silent` (model seconds) is a stretch with no readings, as a strap that lost contact.
    """

    name = "rider's strap"

    def __init__(
        self,
        machine: VirtualIndoorBike,
        seed: int = 1,
        response: PowerResponse | None = None,
        silent: tuple[float, float] | None = None,
    ) -> None:
        self.rider = SimulatedRider(response or PowerResponse(ATHLETE, 0.3, 40.0, 4), seed=seed)
        self.silent = silent
        self.queue: asyncio.Queue[Reading] = asyncio.Queue()
        machine.on_sample = self._on_sample

    def _on_sample(self, sample: MachineSample) -> None:
        hr = self.rider.step(sample.power_w)
        if self.silent is not None and self.silent[0] <= sample.t < self.silent[1]:
            return
        self.queue.put_nowait(HeartRateReading("strap", sample.t, round(hr), (), True))

    async def readings(self) -> AsyncIterator[Reading]:
        while True:
            yield await self.queue.get()


class Ride:
    """A real coaching session with a bike, its link and its driver; `run_until` plays it."""

    def __init__(
        self,
        bike: VirtualIndoorBike | VirtualTreadmill,
        settings: MachineSettings,
        store: SessionStore | None = None,
        heart: RiderHeart | None = None,
        plan: str | None = None,
    ) -> None:
        self.bike = bike
        self.events: list[dict[str, object]] = []
        self.link = MachineLink(
            settings, clock=lambda: bike.t, reconnect_backoff=FAST_BACKOFF, response_timeout_s=2.0
        )
        coach = MachineCoach(settings, ZONES, None if plan is None else parse_workout(plan))
        self.said: list[str] = []
        self.driver = MachineDriver(
            coach,
            send=self.link.send,
            say=self.said.append,
            emit=self.record,
            device=self.link.name,
        )
        self.link.on_event = self.driver.on_event
        self.heart = heart
        self.executor = ThreadPoolExecutor(max_workers=1)
        journal = None
        if store is not None:
            self.session_id = store.start_session("ann", "ble", PROFILE, datetime.now(UTC))
            journal = StoreJournal(store, self.session_id, self.executor)
        self.session = CoachingSession(
            profile=PROFILE,
            health=None,
            narrator=Narrator(None),
            speaker=None,
            emit=self.record,
            journal=journal,
            observers=(self.driver,),
        )

    def record(self, event: SessionEvent) -> None:
        """Events as the JSON lines `--json` prints: what a reader of the stream sees."""
        self.events.append(event_json(event))

    @property
    def coach(self) -> MachineCoach:
        return self.driver.coach

    def samples(self) -> list[dict[str, object]]:
        return [e for e in self.events if e["event"] == "sample"]

    async def run_until(self, done: Callable[[], bool], timeout_s: float = 20.0) -> None:
        sources = (self.link,) if self.heart is None else (self.link, self.heart)
        task = asyncio.create_task(self.session.run(*sources))
        try:
            async with asyncio.timeout(timeout_s):
                while not done():
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.02)
        finally:
            self.session.stop()
            await asyncio.gather(task, return_exceptions=True)
            self.executor.shutdown(wait=True)


def bike_settings(**overrides: object) -> MachineSettings:
    values: dict[str, object] = {
        "address": BIKE,
        "kind": "bike",
        "drive": True,
        "max_power_w": 260.0,
        "max_step_w": 25.0,
        "step_interval_s": 2.0,
    }
    values.update(overrides)
    return MachineSettings(**values)  # type: ignore[arg-type]


def written(machine: VirtualIndoorBike | VirtualTreadmill, kind: type) -> list[object]:
    return [r.request for r in machine.requests if isinstance(r.request, kind)]


# -- a planned ERG workout, end to end ----------------------------------------------------------


def test_a_planned_erg_workout_runs_on_the_bike_end_to_end(tmp_path) -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        with SessionStore.open(tmp_path / "edgecoach.db") as store:
            async with fast_radio(bike):
                ride = Ride(
                    bike,
                    bike_settings(),
                    store,
                    RiderHeart(bike),
                    plan="40s 150W, 2x(30s 250W, 20s 120W)",
                )
                await ride.run_until(
                    lambda: (
                        ride.coach.state is DriveState.DONE
                        and bike.controller is None
                        and len(ride.link.answers) == len(bike.requests)
                    )
                )
            stored = store.samples(ride.session_id)
        # Targets written in bounded steps, never above the cap; every answer was a success.
        targets = [r.power_w for r in written(bike, fm.SetTargetPower)]
        assert targets[:4] == [65, 90, 115, 140] and 150 in targets
        assert max(targets) == 250 and targets.count(250) >= 2
        assert all(abs(b - a) <= 25 for a, b in pairwise(targets))
        assert all(r.result is fm.ResultCode.SUCCESS for r in bike.requests)
        assert ride.link.answers[0] == ("request control", 1)
        assert len(ride.link.answers) == len(bike.requests)
        # At the end: a safe low resistance, then Reset; control is the machine's again.
        assert isinstance(bike.requests[-2].request, fm.SetTargetResistanceLevel)
        assert isinstance(bike.requests[-1].request, fm.Reset)
        assert bike.controller is None
        # Power is in the stream and in the store.
        powers = [s["effort"]["power"] for s in ride.samples() if "effort" in s]
        assert max(powers) >= 240
        assert any(s.power_w is not None and s.power_w >= 240 for s in stored)
        assert any(s.machine_speed_mps for s in stored) and any(s.cadence_spm for s in stored)
        # Our own target changes came back as status and were not taken for the person's.
        assert not any("Following your change" in text for text in ride.said)

    run(body(), timeout_s=40)


def test_heart_rate_mode_holds_a_simulated_rider_in_the_zone() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)
    rng = np.random.default_rng(4)
    response = PowerResponse(ATHLETE, float(rng.uniform(0.25, 0.4)), 45.0, 5)

    async def body() -> Ride:
        async with fast_radio(bike):
            ride = Ride(
                bike,
                bike_settings(hold_zone=3, max_power_w=320.0),
                heart=RiderHeart(bike, seed=4, response=response),
            )
            await ride.run_until(lambda: bike.t >= 900, timeout_s=60)
        return ride

    ride = run(body(), timeout_s=70)
    low, high = ZONES.bounds_bpm(3)
    hrs = [s["hr"] for s in ride.samples() if s["t"] >= 300 and s["hr"] is not None]
    inside = sum(low <= hr < high for hr in hrs) / len(hrs)
    assert inside > 0.85, inside
    targets = [r.power_w for r in written(bike, fm.SetTargetPower)]
    assert max(targets) <= 320 and all(abs(b - a) <= 25 for a, b in pairwise(targets))


# -- the safety paths ---------------------------------------------------------------------------


def driving(ride: Ride) -> Callable[[], bool]:
    return lambda: ride.coach.driving and len(written(ride.bike, fm.SetTargetPower)) >= 3


def test_the_cap_holds_against_a_plan_that_asks_for_more() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            ride = Ride(
                bike, bike_settings(max_power_w=200.0), heart=RiderHeart(bike), plan="3m 400W"
            )
            await ride.run_until(lambda: bike.t >= 60)
        targets = [r.power_w for r in written(bike, fm.SetTargetPower)]
        assert max(targets) == 200 and targets[-1] == 200
        assert max(b - a for a, b in pairwise(targets)) <= 25

    run(body())


def test_heart_rate_loss_releases_the_bike_at_once() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            ride = Ride(
                bike, bike_settings(), heart=RiderHeart(bike, silent=(30, 10_000)), plan="5m 200W"
            )
            await ride.run_until(
                lambda: ride.coach.state is DriveState.RELEASED and bike.controller is None
            )
        assert ride.coach.released_reason == "the heart-rate signal was lost"
        assert isinstance(bike.requests[-2].request, fm.SetTargetResistanceLevel)
        assert isinstance(bike.requests[-1].request, fm.Reset)
        assert bike.target_power_w is None  # ERG ended: the bike is at a low resistance
        released_at = bike.requests[-1].t
        # the aligner's 3 s hold, then at once (a few model seconds for the writes: the model
        # runs 50x faster than the wall clock, on a loaded machine too)
        assert released_at < 30 + 3 + 8

    run(body())


def test_a_safety_cue_releases_the_bike_at_once() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            ride = Ride(bike, bike_settings(), heart=RiderHeart(bike), plan="5m 200W")

            def cue_then_done() -> bool:
                if driving(ride)() and ride.coach.state is DriveState.DRIVING:
                    ride.driver._apply(ride.coach.safety_cue("heart rate above your maximum"))
                return bike.controller is None and ride.coach.state is DriveState.RELEASED

            await ride.run_until(cue_then_done)
        assert "heart rate above your maximum" in ride.said[-1]
        assert [type(r.request) for r in bike.requests[-2:]] == [
            fm.SetTargetResistanceLevel,
            fm.Reset,
        ]

    run(body())


def test_a_real_above_max_cue_reaches_the_bike() -> None:
    # A rider whose heart runs away: the coach's own safety rule fires and the bike lets go.
    bike = VirtualIndoorBike(BIKE, **FAST)
    heart_of_a_younger_rider = Athlete(age=25, resting_hr=55.0, max_hr=205.0, fitness=0.5)
    runaway = PowerResponse(heart_of_a_younger_rider, 1.2, 15.0, 2, noise_bpm=0.5)

    async def body() -> None:
        async with fast_radio(bike):
            ride = Ride(
                bike,
                bike_settings(max_power_w=300.0),
                heart=RiderHeart(bike, response=runaway),
                plan="10m 300W",
            )
            await ride.run_until(
                lambda: ride.coach.state is DriveState.RELEASED and bike.controller is None,
                timeout_s=30,
            )
        (cue,) = [e for e in ride.events if e["event"] == "cue" and e["priority"] == "safety"]
        assert cue["kind"] == "above_max_hr"
        assert ride.coach.released_reason == cue["template"].rstrip(".")
        assert [type(r.request) for r in bike.requests[-2:]] == [
            fm.SetTargetResistanceLevel,
            fm.Reset,
        ]
        released = bike.requests[-1].t
        assert released - cue["t"] <= 6  # the same second, give or take the writes

    run(body(), timeout_s=40)


def test_the_person_stopping_the_machine_is_followed_and_never_undone() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            ride = Ride(bike, bike_settings(), heart=RiderHeart(bike), plan="5m 200W")
            pressed: list[float] = []

            def press_then_done() -> bool:
                if not pressed and driving(ride)():
                    bike.press_stop()
                    pressed.append(bike.t)
                return bool(pressed) and bike.t > pressed[0] + 30

            await ride.run_until(press_then_done)
        assert ride.coach.released_reason == "you stopped the machine"
        # After hearing the stop the coach decided nothing but to hand control back; the
        # machine got Reset last and was never restarted.
        decided = [d.commands for _, d in ride.driver.log if d.commands]
        assert decided[-1] == (ReleaseControl("you stopped the machine", None),)
        assert isinstance(bike.requests[-1].request, fm.Reset)
        assert not written(bike, fm.StartOrResume)

    run(body())


def test_the_person_changing_the_power_at_the_bike_is_followed() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            ride = Ride(bike, bike_settings(), heart=RiderHeart(bike), plan="2m 200W, 1m 100W")
            changed: list[float] = []

            def change_then_done() -> bool:
                if not changed and bike.target_power_w == 200:
                    bike.user_sets_target_power(170)
                    changed.append(bike.t)
                return bool(changed) and bike.t > 130

            await ride.run_until(change_then_done)
        assert "Following your change of power." in ride.said
        during = [
            r.request.power_w
            for r in bike.requests
            if r.t > changed[0] and r.t < 120 and isinstance(r.request, fm.SetTargetPower)
        ]
        assert during == []  # the rest of the step is theirs
        after = [
            r.request.power_w
            for r in bike.requests
            if r.t >= 120 and isinstance(r.request, fm.SetTargetPower)
        ]
        assert after[0] == 145  # the next step starts from their 170 W, in a bounded step
        assert ride.said.count("Following your change of power.") == 1

    run(body())


def test_control_taken_by_another_app_is_given_up() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            ride = Ride(bike, bike_settings(), heart=RiderHeart(bike), plan="5m 200W")
            taken: list[float] = []

            def take_then_done() -> bool:
                if not taken and driving(ride)():
                    bike.take_control_by_other_app()
                    taken.append(bike.t)
                return bool(taken) and bike.t > taken[0] + 20

            await ride.run_until(take_then_done)
        assert "another app" in ride.coach.released_reason
        assert [r for r in bike.requests if r.t > taken[0]] == []  # not fought for
        assert not ride.link.in_control

    run(body())


def test_control_refused_by_the_machine_is_reported_once() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)
    bike.refuse_control = True

    async def body() -> None:
        async with fast_radio(bike):
            ride = Ride(bike, bike_settings(), heart=RiderHeart(bike), plan="5m 200W")
            await ride.run_until(lambda: ride.coach.state is DriveState.RELEASED)
            await bike.wait_model_time(10)
        assert "refused control" in ride.coach.released_reason
        assert [type(r.request) for r in bike.requests] == [fm.RequestControl]
        assert bike.requests[0].result is fm.ResultCode.CONTROL_NOT_PERMITTED

    run(body())


def test_a_link_lost_mid_workout_is_control_lost_and_the_stream_shows_the_gap() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)

    async def body() -> None:
        async with fast_radio(bike):
            ride = Ride(bike, bike_settings(), heart=RiderHeart(bike), plan="5m 200W")
            lost: list[float] = []

            def drop_then_done() -> bool:
                if not lost and driving(ride)():
                    bike.drop_link()
                    lost.append(bike.t)
                return bool(lost) and bike.t > lost[0] + 20

            await ride.run_until(drop_then_done)
        assert (
            ride.coach.released_reason == "control was taken by another app"
            or "link" in ride.coach.released_reason
            or ride.coach.state is DriveState.RELEASED
        )
        statuses = [e for e in ride.events if e.get("status") == "control_lost"]
        assert statuses and "link" in str(statuses[0]["detail"])
        assert bike.target_power_w is None  # the machine dropped ERG with its client

    run(body())


# -- a treadmill ---------------------------------------------------------------------------------


def test_a_treadmill_belt_is_never_started_by_the_coach() -> None:
    treadmill = VirtualTreadmill(TREADMILL, **FAST)

    async def body() -> None:
        async with fast_radio(treadmill):
            settings = MachineSettings(address=TREADMILL, kind="treadmill", drive=True)
            heart = RiderHeart.__new__(RiderHeart)
            heart.rider = SimulatedRider(PowerResponse(ATHLETE, 0.3, 40.0, 4))
            heart.silent = None
            heart.queue = asyncio.Queue()
            treadmill.on_sample = lambda s: heart.queue.put_nowait(
                HeartRateReading("strap", s.t, 120, (), True)
            )
            ride = Ride(treadmill, settings, heart=heart, plan="5m 9.5kmh 2%")
            await ride.run_until(lambda: treadmill.t >= 60)
        kinds = {type(r.request) for r in treadmill.requests}
        assert fm.StartOrResume not in kinds and fm.SetTargetSpeed not in kinds
        assert written(treadmill, fm.SetTargetInclination) == [fm.SetTargetInclination(2.0)]

    run(body())


@pytest.mark.parametrize("allowed", [True])
def test_an_allowed_treadmill_start_is_announced_then_made_in_small_steps(allowed) -> None:
    treadmill = VirtualTreadmill(TREADMILL, **FAST)

    async def body() -> Ride:
        async with fast_radio(treadmill):
            settings = MachineSettings(
                address=TREADMILL,
                kind="treadmill",
                drive=True,
                treadmill_may_speed_up=allowed,
                max_speed_step_kmh=1.0,
            )
            heart = RiderHeart.__new__(RiderHeart)
            heart.queue = asyncio.Queue()
            treadmill.on_sample = lambda s: heart.queue.put_nowait(
                HeartRateReading("strap", s.t, 110, (), True)
            )
            ride = Ride(treadmill, settings, heart=heart, plan="5m 3kmh")
            await ride.run_until(lambda: treadmill.t >= 40)
        return ride

    ride = run(body())
    speeds = [
        r.request.speed_kmh for r in ride.bike.requests if isinstance(r.request, fm.SetTargetSpeed)
    ]
    assert speeds == [1.0, 2.0, 3.0]
    assert ride.said[0] == "Interval: 3 km/h for 5 minutes."
    assert ride.said[1].startswith("The belt starts in 5 seconds")
    start = next(r for r in ride.bike.requests if isinstance(r.request, fm.StartOrResume))
    said_at = next(e["t"] for e in ride.events if e.get("say", "").startswith("The belt"))
    assert start.t >= said_at + 5


def test_heart_rate_mode_on_a_treadmill_never_starts_the_belt_and_steps_up_announced() -> None:
    # The runner's heart answers the belt's speed (8 bpm per km/h); the belt stands until the
    # person starts it; the strap then goes quiet, and the coach slows the belt and lets go.
    treadmill = VirtualTreadmill(TREADMILL, **FAST)
    runner = SimulatedRider(PowerResponse(ATHLETE, 8.0, 40.0, 4, seated_bpm=5.0), seed=2)

    async def body() -> Ride:
        async with fast_radio(treadmill):
            settings = MachineSettings(
                address=TREADMILL,
                kind="treadmill",
                drive=True,
                hold_zone=3,
                treadmill_may_speed_up=True,
                max_speed_step_kmh=0.5,
                announce_lead_s=5.0,
            )
            heart = RiderHeart.__new__(RiderHeart)
            heart.queue = asyncio.Queue()

            def on_sample(s: MachineSample) -> None:
                hr = runner.step(s.speed_kmh)
                if s.t < 150:  # then the strap loses contact
                    heart.queue.put_nowait(HeartRateReading("strap", s.t, round(hr), (), True))

            treadmill.on_sample = on_sample
            ride = Ride(treadmill, settings, heart=heart)

            def person_starts_the_belt() -> bool:
                if treadmill.t >= 20 and treadmill.state is not treadmill.state.RUNNING:
                    treadmill.press_start()
                    treadmill.user_sets_speed(5.0)
                return ride.coach.state is DriveState.RELEASED and treadmill.controller is None

            await ride.run_until(person_starts_the_belt, timeout_s=30)
        return ride

    ride = run(body(), timeout_s=40)
    requests = [r.request for r in ride.bike.requests]
    assert not any(isinstance(r, fm.StartOrResume) for r in requests)  # never by the coach
    assert ride.said[0].startswith("Start the belt yourself")
    speeds = [r.speed_kmh for r in requests if isinstance(r, fm.SetTargetSpeed)]
    ups = speeds[:-1]  # the last is the safe speed on letting go
    assert ups and ups[0] == 5.5 and all(b - a <= 0.5 + 1e-9 for a, b in pairwise([5.0, *ups]))
    for kmh in ups:  # each speed-up was said before it was made
        said_at = next(
            e["t"]
            for e in ride.events
            if e.get("say") == f"Speeding up to {kmh:.1f} km/h in 5 seconds."
        )
        made_at = next(
            e["t"] for e in ride.events if e.get("command") == "set_speed" and e["kmh"] == kmh
        )
        assert made_at >= said_at + 5
    assert ride.coach.released_reason == "the heart-rate signal was lost"
    assert speeds[-1] == 4.0 and isinstance(requests[-1], fm.Reset)


# -- the demo -----------------------------------------------------------------------------------


def test_demo_machine_runs_a_bike_in_erg_through_the_ble_path(tmp_path) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(root), "EDGECOACH_CONFIG": str(tmp_path / "config.toml")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge",
            "demo",
            "--machine",
            "--plan",
            "40s 150W, 40s 220W",
            "--json",
            "--speed",
            "50",
            "--no-llm",
            "--mute",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    machine = [e for e in events if e["event"] == "machine"]
    commands = [e["command"] for e in machine if "command" in e]
    assert commands[0] == "request_control" and commands[-1] == "release"
    watts = [e["watts"] for e in machine if e.get("command") == "set_power"]
    assert 150 in watts and watts[-1] == 220
    assert any(e.get("status") == "control_granted" for e in machine)
    powers = [e["effort"]["power"] for e in events if e["event"] == "sample" and "effort" in e]
    assert max(powers) >= 200
    assert events[-1]["event"] == "summary"


# -- the daemon ----------------------------------------------------------------------------------


def test_the_daemon_drives_a_configured_machine_and_stores_its_power(tmp_path) -> None:
    """`[[people.machines]]` with drive = true: the daemon (source ble) reads the strap and the
    bike, runs the plan on the bike and stores the power. Real time: a 14-second plan."""
    from edge.daemon import DATABASE_NAME, Daemon, DaemonOptions
    from edge.settings import load_settings
    from firmware_bridge.virtual_band import VirtualBand, heart_rate_script

    bike = VirtualIndoorBike(BIKE, tick_s=0.25, model_step_s=0.25)
    strap = VirtualBand(
        "C0:FF:EE:61:4B:23",
        "Daemon strap",
        services=("heart_rate",),
        script=heart_rate_script([120 + i % 5 for i in range(120)], 0.5),
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[daemon]
state_dir = "{tmp_path / "state"}"
source = "ble"
[llm]
enabled = false
[speech]
enabled = false
[kiosk]
enabled = false
[[people]]
name = "ann"
age = 40
resting_hr = 55
max_hr = 185
[[people.bands]]
address = "C0:FF:EE:61:4B:23"
kinds = ["heart_rate"]
scan_timeout_s = 2.0
[[people.machines]]
address = "{BIKE}"
kind = "bike"
drive = true
plan = "6s 100W, 8s 150W"
max_power_w = 200
max_step_w = 50
step_interval_s = 1.0
""",
        encoding="utf-8",
    )
    settings = load_settings(config)

    async def body() -> None:
        async with fast_radio(bike, strap):
            daemon = Daemon(settings, DaemonOptions(max_runtime_s=40))
            task = asyncio.create_task(daemon.run())
            try:
                await bike.wait_until(
                    lambda: any(isinstance(r.request, fm.Reset) for r in bike.requests), 35
                )
                await asyncio.sleep(1.5)  # the last seconds reach the store
            finally:
                daemon.request_stop()
                await task

    run(body(), timeout_s=60)
    targets = [r.request.power_w for r in bike.requests if isinstance(r.request, fm.SetTargetPower)]
    assert targets == [90, 100, 150]  # from the 40 W floor in steps of at most 50 W
    assert all(r.result is fm.ResultCode.SUCCESS for r in bike.requests)
    with SessionStore.open(tmp_path / "state" / DATABASE_NAME) as store:
        (session,) = store.sessions("ann")
        samples = store.samples(session.id)
    assert any(s.power_w is not None and s.power_w >= 140 for s in samples)
    assert any(s.hr_bpm is not None for s in samples)
