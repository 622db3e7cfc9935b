"""A person's heart kinetics learnt from their own sessions, saved with their state, and used by
the next session (the daemon reads them at the start; heart-rate mode picks the MPC)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from edge.coach.hr_control import PidPowerController
from edge.coach.hr_mpc import MpcPowerController, controller_for
from edge.coach.machine_driver import machine_drivers
from edge.core.zones import ZoneModel
from edge.errors import ModelError
from edge.health.kinetics import KineticsParams
from edge.health.personal_kinetics import (
    PersonalKinetics,
    kinetics_path,
    learn_from_session,
    load_personal_kinetics,
    update_personal_kinetics,
)
from edge.profile import Profile, person_state_dir
from edge.settings import MachineSettings
from edge.stream.readings import AlignedSample
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider
from firmware_bridge.simulator import Athlete

ATHLETE = Athlete(age=45, resting_hr=58.0, max_hr=178.0, fitness=0.4)
START = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
#: The person's true heart: 0.42 bpm/W, tau 50 s, 6 s delay.
HEART = PowerResponse(ATHLETE, gain_bpm_per_w=0.42, time_constant_s=50.0, delay_s=6)


def session(
    response: PowerResponse, seed: int, minutes: int = 30, top_w: float = 220.0
) -> list[AlignedSample]:
    """A ride of ERG blocks (90-240 s at 60-`top_w` W) as the stream records it."""
    rng = np.random.default_rng(seed)
    rider = SimulatedRider(response, seed=seed)
    samples: list[AlignedSample] = []
    while len(samples) < minutes * 60:
        power = float(rng.uniform(60, top_w))
        for _ in range(int(rng.integers(90, 240))):
            t = len(samples)
            hr = round(rider.step(power))
            samples.append(
                AlignedSample(t, hr, (), 85.0, None, None, None, True, False, power_w=power)
            )
    return samples


def test_two_sessions_learn_the_persons_gain_and_save_it(tmp_path) -> None:
    path = kinetics_path(tmp_path, "Ann Lee")
    assert path == tmp_path / "people" / "Ann_Lee" / "kinetics.json"
    for seed in (1, 2):
        report = learn_from_session(path, "Ann Lee", session(HEART, seed), now=f"day {seed}")
        assert report["updated"], report
    saved = load_personal_kinetics(path, "Ann Lee")
    power = saved.for_kind("power")
    assert power is not None
    assert power.gain == pytest.approx(0.42, rel=0.08)
    assert power.tau_s == pytest.approx(50.0, rel=0.25)
    assert saved.sessions == {"power": 2} and saved.updated == "day 2"
    assert saved.for_kind("speed") is None  # a bike ride says nothing of running


def test_one_odd_session_moves_little() -> None:
    known = PersonalKinetics("ann")
    for seed in (1, 2, 3):
        known, _ = update_personal_kinetics(known, session(HEART, seed))
    before = known.for_kind("power")
    assert before is not None
    # A strap that slipped, a fever: this session's heart answers twice as strongly.
    odd = replace(HEART, gain_bpm_per_w=0.7)
    after, report = update_personal_kinetics(known, session(odd, 9, top_w=140.0))
    moved = after.for_kind("power")
    assert moved is not None
    assert report["kinds"]["power"]["session"]["gain"] > 0.6  # the session alone said so
    assert moved.gain <= before.gain * 1.25  # but the saved gain moved at most 25 %
    assert after.sessions["power"] == 4


def test_a_session_without_effort_or_too_short_learns_nothing(tmp_path) -> None:
    path = tmp_path / "ann" / "kinetics.json"
    no_power = [replace(s, power_w=None) for s in session(HEART, 1)]
    report = learn_from_session(path, "ann", no_power)
    assert not report["updated"] and "effort" in report["why"]
    assert not learn_from_session(path, "ann", session(HEART, 1, minutes=5))["updated"]
    assert not path.exists()


def test_a_damaged_file_is_a_clear_error_and_is_not_overwritten(tmp_path) -> None:
    path = tmp_path / "ann" / "kinetics.json"
    path.parent.mkdir()
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="delete the file"):
        load_personal_kinetics(path, "ann")
    report = learn_from_session(path, "ann", session(HEART, 1))
    assert not report["updated"]
    assert path.read_text(encoding="utf-8") == "{not json"


def test_the_saved_file_round_trips() -> None:
    known, _ = update_personal_kinetics(PersonalKinetics("ann"), session(HEART, 1))
    again = PersonalKinetics.from_json(known.to_json())
    assert again.sessions == known.sessions
    a, b = again.for_kind("power"), known.for_kind("power")
    assert a is not None and b is not None
    assert a.gain == pytest.approx(b.gain, abs=1e-4) and a.delay_s == b.delay_s


def test_one_folder_per_person_for_all_their_state(tmp_path) -> None:
    from edge.health.calibration import default_calibration_path

    assert person_state_dir(tmp_path, " ann  b ") == tmp_path / "ann_b"
    assert kinetics_path(tmp_path, "ann b").parent == person_state_dir(tmp_path / "people", "ann b")
    assert default_calibration_path("ann b").parent.name == "ann_b"


# -- the next session uses them ----------------------------------------------------------------

ZONES = ZoneModel.for_profile(Profile("ann", 45, 58.0, 178.0))
LEARNT = KineticsParams(rest_bpm=70.0, gain=0.42, tau_s=50.0, delay_s=6)


def _controller(settings: MachineSettings, kinetics: KineticsParams | None):
    ((_, driver),) = machine_drivers((settings,), ZONES, clock=lambda: 0.0, kinetics=kinetics)
    assert driver is not None
    return driver.coach.controller


def test_heart_rate_mode_uses_the_mpc_once_the_kinetics_are_learnt() -> None:
    bike = MachineSettings(address="C0:FF:EE:00:00:01", drive=True, hold_zone=3)
    learnt = _controller(bike, LEARNT)
    assert isinstance(learnt, MpcPowerController) and learnt.kinetics == LEARNT
    assert isinstance(_controller(bike, None), PidPowerController)
    assert isinstance(_controller(replace(bike, hr_controller="pid"), LEARNT), PidPowerController)
    forced = controller_for(replace(bike, hr_controller="mpc"), None, resting_hr=58.0)
    assert isinstance(forced, MpcPowerController)  # an average heart until theirs is learnt


def test_the_daemon_learns_after_each_session_and_reads_it_at_the_next(tmp_path) -> None:
    """Two replayed rides with power through the real daemon: each ends by learning, the second
    starts from what the first learnt."""
    from edge.daemon import Daemon
    from edge.settings import load_settings

    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[daemon]
state_dir = "{tmp_path / "state"}"
source = "replay"
speed = 0
[speech]
enabled = false
[llm]
enabled = false
[kiosk]
enabled = false
[[people]]
name = "ann"
age = 45
resting_hr = 58
max_hr = 178
replay_file = "ride.csv"
""",
        encoding="utf-8",
    )
    path = kinetics_path(tmp_path / "state", "ann")
    seen: list[PersonalKinetics] = []
    for seed in (1, 2):
        rows = ["t,hr,power"] + [
            f"{s.t},{s.hr_bpm:.0f},{s.power_w:.0f}" for s in session(HEART, seed, 25)
        ]
        (tmp_path / "ride.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        daemon = Daemon(load_settings(config))
        asyncio.run(daemon.run())
        seen.append(daemon.kinetics["ann"])
    assert seen[0].for_kind("power") is None  # nothing was known before the first ride
    assert seen[1].sessions == {"power": 1}  # the second started from the first's
    saved = load_personal_kinetics(path, "ann")
    assert saved.sessions == {"power": 2}
    power = saved.for_kind("power")
    assert power is not None and power.gain == pytest.approx(0.42, rel=0.1)
    # Each ride's fitness markers were stored as it ended.
    from edge.store import DATABASE_NAME, SessionStore

    with SessionStore.open(tmp_path / "state" / DATABASE_NAME) as store:
        markers = store.fitness("ann")
    assert len(markers) == 2
    assert all(m["measure"] == "power" and m["efficiency_factor"] > 0 for m in markers.values())


def test_imported_rides_teach_the_kinetics_too(tmp_path) -> None:
    """`edgecoach import` of past rides with power: the sessions go to the store, and the
    person's heart kinetics are learnt from them, oldest first, beside the store."""
    from edge.commands.import_recordings import learn_kinetics
    from edge.reports.exchange import import_recordings
    from edge.store import DATABASE_NAME, SessionStore

    paths = []
    for seed in (1, 2):
        path = tmp_path / f"ride{seed}.csv"
        rows = ["t,hr,power"] + [
            f"{s.t},{s.hr_bpm:.0f},{s.power_w:.0f}" for s in session(HEART, seed, 25)
        ]
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        paths.append(path)
    with SessionStore.open(tmp_path / "state" / DATABASE_NAME) as store:
        results = import_recordings(store, paths, "ann", Profile("ann", 45, 58.0, 178.0))
        assert all(r.imported for r in results)
        assert learn_kinetics(store, "ann", [r.session_id for r in results]) == 2
        assert len(store.fitness("ann")) == 2  # and their fitness markers were stored
    saved = load_personal_kinetics(kinetics_path(tmp_path / "state", "ann"), "ann")
    power = saved.for_kind("power")
    assert saved.sessions == {"power": 2}
    assert power is not None and power.gain == pytest.approx(0.42, rel=0.1)


def test_forget_erases_markers_and_kinetics_and_export_data_hands_them_over(tmp_path) -> None:
    import json

    from edge.reports.personal_data import export_person, forget_person
    from edge.store import DATABASE_NAME, SessionStore

    db = tmp_path / "state" / DATABASE_NAME
    path = kinetics_path(tmp_path / "state", "ann")
    samples = session(HEART, 1, 20)
    with SessionStore.open(db) as store:
        sid = store.start_session("ann", "ble", Profile("ann", 45, 58.0, 178.0), START)
        for s in samples:
            store.add_sample(sid, s)
        store.end_session(sid, START, {})
        store.set_fitness(sid, {"measure": "power", "efficiency_factor": 1.4})
        assert learn_from_session(path, "ann", samples)["updated"]
        export_person(store, "ann", tmp_path / "export")
        document = json.loads((tmp_path / "export" / "person.json").read_text())
        assert document["heart_kinetics"]["kinetics"]["power"]["sessions"] == 1
        assert document["sessions"][0]["fitness"]["efficiency_factor"] == 1.4
        report = forget_person(store, "ann")
        assert (report.fitness, report.state_files) == (1, 1)
        assert store.fitness() == {}
    assert not path.exists() and not path.parent.exists()
