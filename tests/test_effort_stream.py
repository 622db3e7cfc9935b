"""Effort through the files: power read from FIT, TCX and CSV, replayed into the stream, stored,
exported to FIT and CSV and imported back."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import shutil
from datetime import UTC, datetime, timedelta

import fitdecode
import pytest

from edge.profile import Profile
from edge.reports.exchange import CSV_COLUMNS, export_csv, export_fit, import_recordings
from edge.sources.recordings import read_recording
from edge.sources.replay import ReplaySource
from edge.store import SessionStore
from edge.stream.aligner import StreamAligner
from edge.stream.readings import AlignedSample, PowerReading, effort_dict
from tests.test_recordings import (
    MANIFEST,
    TCX,
    UINT8,
    UINT16,
    UINT32,
    WORKOUTS,
    file_id,
    fit_bytes,
    fit_timestamp,
    needs_workouts,
    sport,
    write,
)

PROFILE = Profile(name="Ana", age=40, resting_hr=55.0, max_hr=182.0)
STARTED = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def ride_record(t: float, hr: int, cadence: int, power: int | None) -> tuple:
    return 20, [
        (253, UINT32, fit_timestamp(t)),
        (3, UINT8, hr),
        (4, UINT8, cadence),
        (7, UINT16, 0xFFFF if power is None else power),
    ]


def test_fit_power_is_read_in_watts_and_an_invalid_value_is_none(tmp_path):
    data = fit_bytes(
        file_id(),
        sport(2),
        ride_record(0, 120, 85, 210),
        ride_record(1, 121, 86, 0),
        ride_record(2, 122, 86, None),
    )
    recording = read_recording(write(tmp_path, "ride.fit", data))
    assert [p.power_w for p in recording.points] == [210.0, 0.0, None]


def test_tcx_watts_from_the_activity_extension(tmp_path):
    text = TCX.format(sport="Biking", cadence="90", run_cadence="<ns3:Watts>245</ns3:Watts>")
    recording = read_recording(write(tmp_path, "ride.tcx", text))
    assert recording.points[0].power_w == 245.0
    assert recording.points[1].power_w is None


def test_tcx_watts_that_are_not_a_number_are_left_out_with_a_warning(tmp_path):
    text = TCX.format(sport="Biking", cadence="90", run_cadence="<ns3:Watts>lots</ns3:Watts>")
    recording = read_recording(write(tmp_path, "ride.tcx", text))
    assert recording.points[0].power_w is None
    assert any("a power that is not a number" in w for w in recording.warnings)


def test_csv_power_column(tmp_path):
    path = write(tmp_path, "ride.csv", "t,hr,Power (W)\n0,120,200\n1,121,\n2,122,215.5\n")
    assert [p.power_w for p in read_recording(path).points] == [200.0, None, 215.5]


def test_replay_turns_power_into_readings_and_the_stream_into_watts(tmp_path):
    path = write(
        tmp_path, "ride.csv", "t,hr,cadence,power\n0,120,85,200\n1,121,86,210\n2,122,86,\n"
    )

    async def play() -> list:
        return [r async for r in ReplaySource(path, speed=0).readings()]

    readings = asyncio.run(play())
    assert [(r.t, r.power_w) for r in readings if isinstance(r, PowerReading)] == [
        (0.0, 200.0),
        (1.0, 210.0),
    ]
    aligner = StreamAligner()
    samples = [s for r in readings for s in aligner.push(r)] + aligner.flush()
    assert [s.power_w for s in samples] == [200.0, 210.0, 210.0]  # held, as heart rate is


def effort_samples() -> list[AlignedSample]:
    out = []
    for t in range(40):
        power = None if 20 <= t < 25 else 150.0 + 2.5 * t  # the meter dropped out
        out.append(
            AlignedSample(
                t,
                110.0 + t,
                (0.5,),
                85.0,
                None,
                None,
                None,
                True,
                False,
                power_w=power,
                machine_speed_mps=8.0 + 0.1 * t,
                incline_pct=None,
                resistance=10.0,
                stroke_rate_spm=None,
                machine_distance_m=8.0 * t,
            )
        )
    return out


@pytest.fixture
def ride(tmp_path):
    store = SessionStore.open(tmp_path / "edgecoach.db")
    session_id = store.start_session("ana", "ble", PROFILE, STARTED)
    for sample in effort_samples():
        store.add_sample(session_id, sample)
    store.end_session(session_id, STARTED + timedelta(seconds=40), {"duration_s": 40})
    yield store, session_id
    store.close()


def test_the_store_keeps_effort(ride):
    store, session_id = ride
    assert store.samples(session_id) == effort_samples()


def test_fit_export_writes_power_per_second_and_the_session_average(ride, tmp_path):
    store, session_id = ride
    out = export_fit(store, session_id, tmp_path / "ride.fit")
    with fitdecode.FitReader(out) as reader:
        frames = [f for f in reader if isinstance(f, fitdecode.FitDataMessage)]
    records = [f for f in frames if f.name == "record"]
    assert [r.get_value("power", fallback=None) for r in records] == [
        None if s.power_w is None else round(s.power_w) for s in effort_samples()
    ]
    (session,) = [f for f in frames if f.name == "session"]
    watts = [s.power_w for s in effort_samples() if s.power_w is not None]
    assert session.get_value("avg_power") == round(sum(watts) / len(watts))
    assert session.get_value("max_power") == round(max(watts))
    # Replayed, the power comes back.
    recording = read_recording(out)
    assert [p.power_w for p in recording.points] == [
        None if s.power_w is None else round(s.power_w) for s in effort_samples()
    ]


def machine_samples() -> list[AlignedSample]:
    """A treadmill walk (belt speed, incline, distance) with a rower's fields where they would
    be; a stretch where the treadmill reports nothing, and a footpod for the last ten seconds."""
    out = []
    for t in range(40):
        quiet = 10 <= t < 14
        out.append(
            AlignedSample(
                t,
                100.0 + t,
                (),
                None,
                None if t < 30 else 1.6,
                None,
                None,
                True,
                False,
                machine_speed_mps=None if quiet else round(1.5 + 0.025 * t, 3),
                incline_pct=None if quiet else round(-1.5 + 0.25 * t, 2),
                resistance=None if quiet else 7.5,
                stroke_rate_spm=None if quiet else 24.5,
                machine_distance_m=None if quiet else round(1.5 * t, 1),
            )
        )
    return out


def test_fit_export_writes_the_machines_fields_and_replay_reads_them_back(tmp_path):
    with SessionStore.open(tmp_path / "edgecoach.db") as store:
        session_id = store.start_session("ana", "ble", PROFILE, STARTED)
        for sample in machine_samples():
            store.add_sample(session_id, sample)
        store.end_session(session_id, STARTED + timedelta(seconds=40), {"duration_s": 40})
        out = export_fit(store, session_id, tmp_path / "walk.fit")
    with fitdecode.FitReader(out) as reader:
        frames = [f for f in reader if isinstance(f, fitdecode.FitDataMessage)]
    records = [f for f in frames if f.name == "record"]
    (described,) = [f for f in frames if f.name == "developer_data_id"]
    assert bytes(described.get_value("application_id")) == b"edgecoach-ftms-1"
    names = {f.get_value("field_name") for f in frames if f.name == "field_description"}
    assert names == {
        "machine_speed",
        "machine_resistance",
        "machine_stroke_rate",
        "machine_distance",
    }
    # Standard fields other tools read: grade (the incline) and speed (the belt's, where the
    # person's own footpod gave none).
    assert records[3].get_value("grade") == pytest.approx(-0.75)
    assert records[3].get_value("speed") == pytest.approx(1.575)
    assert records[35].get_value("speed") == pytest.approx(1.6)  # the footpod's own
    assert not records[11].has_field("grade")

    async def replayed() -> list[AlignedSample]:
        aligner = StreamAligner()
        readings = [r async for r in ReplaySource(out, speed=0).readings()]
        return [s for r in readings for s in aligner.push(r)] + aligner.flush()

    samples = asyncio.run(replayed())
    # Imported, the stored session carries them too (through the same aligner: the same seconds).
    with SessionStore.open(tmp_path / "other.db") as other:
        (result,) = import_recordings(other, [out], "ana", PROFILE)
        assert result.imported, result.reason
        imported = other.samples(result.session_id)
    assert [effort_dict(s) for s in imported] == [effort_dict(s) for s in samples]
    expected = machine_samples()
    assert [s.t for s in samples] == [s.t for s in expected]
    for got, want in zip(samples, expected, strict=True):
        assert got.speed_mps == want.speed_mps, got.t  # a belt's copy is not the person's
        for name in (
            "machine_speed_mps",
            "incline_pct",
            "resistance",
            "stroke_rate_spm",
            "machine_distance_m",
        ):
            value, wanted = getattr(got, name), getattr(want, name)
            if 10 <= got.t < 12:
                # the machine went quiet: its t=9 values held within the aligner's 3 s
                assert value == pytest.approx(getattr(expected[9], name)), (name, got.t)
            elif 12 <= got.t < 14:
                assert value is None, (name, got.t)
            else:
                assert value == pytest.approx(wanted, abs=1e-3), (name, got.t)


def test_csv_export_round_trips_every_effort_field(ride, tmp_path):
    store, session_id = ride
    out = export_csv(store, session_id, tmp_path / "ride.csv")
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["power"] == "150" and rows[20]["power"] == ""
    assert rows[3]["machine_speed"] == "8.3" and rows[3]["resistance"] == "10"
    with SessionStore.open(tmp_path / "other.db") as other:
        (result,) = import_recordings(other, [out], "ana", PROFILE)
        assert result.imported, result.reason
        assert other.samples(result.session_id) == effort_samples()


def test_a_csv_exported_before_effort_still_imports_exactly(tmp_path):
    header = "t,timestamp,hr,rr,cadence,speed,distance,steps,contact,gap\n"
    rows = "".join(
        f"{t},{(STARTED + timedelta(seconds=t)).isoformat()},{120 + t},0.5,160,3.0,"
        f"{3 * t},{2.7 * t},1,0\n"
        for t in range(5)
    )
    path = write(tmp_path, "old.csv", header + rows)
    with SessionStore.open(tmp_path / "other.db") as other:
        (result,) = import_recordings(other, [path], "ana", PROFILE)
        assert result.imported, result.reason
        samples = other.samples(result.session_id)
    assert [s.hr_bpm for s in samples] == [120.0 + t for t in range(5)]
    assert not any(s.has_effort for s in samples)


def test_import_of_a_fit_ride_keeps_its_power(tmp_path):
    data = fit_bytes(
        file_id(), sport(2), *(ride_record(t, 120 + t, 85, 200 + t) for t in range(10))
    )
    path = write(tmp_path, "ride.fit", data)
    with SessionStore.open(tmp_path / "other.db") as other:
        (result,) = import_recordings(other, [path], "ana", PROFILE)
        assert result.imported, result.reason
        samples = other.samples(result.session_id)
    assert [s.power_w for s in samples] == [200.0 + t for t in range(10)]


# -- the shared recordings --------------------------------------------------------------------

#: The shared FIT files that carry power (4 of the 16).
WITH_POWER = (
    "2019-02-17-062644-ELEMNT-297E-195-0.fit",
    "Edge810-Vector-2013-08-16-15-35-10.fit",
    "developer-types-sample.fit",
    "sample-activity-indoor-trainer.fit",
)


@pytest.mark.shared_data
@needs_workouts
def test_exactly_four_shared_recordings_carry_power_in_a_plausible_range():
    with_power = {}
    for row in MANIFEST:
        recording = read_recording(WORKOUTS / row["file"])
        watts = [p.power_w for p in recording.points if p.power_w]
        if watts:
            with_power[row["file"]] = watts
    assert sorted(with_power) == sorted(WITH_POWER)
    for name, watts in with_power.items():
        assert len(watts) > 100, name
        assert 0 < sum(watts) / len(watts) < 600 and max(watts) < 2500, name


@pytest.mark.shared_data
@needs_workouts
def test_a_shared_ride_replays_with_power_in_the_stream():
    path = WORKOUTS / "Edge810-Vector-2013-08-16-15-35-10.fit"

    async def play() -> list:
        aligner = StreamAligner()
        samples = [s async for r in ReplaySource(path, speed=0).readings() for s in aligner.push(r)]
        return samples + aligner.flush()

    samples = asyncio.run(play())
    with_power = [s for s in samples if s.power_w is not None]
    assert len(with_power) > 0.5 * len(samples)
    assert 50 < sum(s.power_w for s in with_power) / len(with_power) < 400


def test_the_report_plots_power_only_when_there_is_some(ride, tmp_path):
    from edge.reports.report import write_report

    store, session_id = ride
    page = write_report(store, session_id, tmp_path / "ride.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="power">') :]
    section = section[: section.index("</section>")]
    watts = [s.power_w for s in effort_samples() if s.power_w is not None]
    assert 'aria-label="Power over time"' in section
    assert f"Average {sum(watts) / len(watts):.0f} W over the {len(watts)} seconds" in section
    plain = store.start_session("ana", "ble", PROFILE, STARTED + timedelta(hours=1))
    for t in range(30):
        store.add_sample(plain, AlignedSample(t, 120.0, (), None, None, None, None, True, False))
    store.end_session(plain, STARTED + timedelta(hours=1, seconds=30), {"duration_s": 30})
    page = write_report(store, plain, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert 'id="power"' not in page


# -- the zone board -----------------------------------------------------------------------------


def powered(event, watts: float):
    """A zone-board sample event with power from the person's meter or machine."""
    import dataclasses

    return dataclasses.replace(
        event,
        sample=dataclasses.replace(
            event.sample, power_w=watts, machine_speed_mps=8.1, resistance=12.0
        ),
    )


def test_the_board_state_carries_power_only_while_it_is_reported():
    from edge.kiosk import BoardState
    from tests.test_kiosk import sample as board_sample

    board = BoardState()
    state = board.apply(powered(board_sample("ann", 1, 140, 3), 212.4), now=1.0).as_dict(1.0)
    assert state["power_w"] == 212
    state = board.apply(board_sample("ann", 2, 141, 3), now=2.0).as_dict(2.0)
    assert state["power_w"] is None


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="chromium is not installed (apt-get install -y chromium)",
)
def test_a_real_browser_shows_power_on_the_tile(tmp_path):
    from edge.kiosk import KioskBoard
    from tests.test_kiosk import Browser, run
    from tests.test_kiosk import sample as board_sample

    async def body() -> None:
        board = KioskBoard(port=0, members=["ann"])
        await board.start()
        browser = None
        try:
            board.emit(powered(board_sample("ann", 1, 140, 3), 231.0))
            browser = await Browser.launch(
                board.url, tmp_path / "profile", tmp_path / "chromium.log"
            )
            await browser.wait_for(
                "(document.querySelector('[data-person=ann] .power') || {}).textContent === '231W'",
                8.0,
            )
            board.emit(board_sample("ann", 2, 141, 3))  # the meter went quiet: nothing shown
            await browser.wait_for(
                "document.querySelector('[data-person=ann] .power').textContent === ''", 8.0
            )
            assert browser.errors == []
        finally:
            if browser is not None:
                await browser.close()
            await board.stop()

    run(body(), timeout=30.0)


# -- notifications to readings ------------------------------------------------------------------


def test_power_meter_and_machine_notifications_become_readings():
    from edge.errors import MalformedPayloadError
    from edge.sources.notifications import NotificationDecoder
    from edge.stream.readings import MachineReading
    from firmware_bridge import gatt
    from firmware_bridge.gatt import uuids

    decoder = NotificationDecoder("trainer")
    bike = gatt.IndoorBikeData(
        instantaneous_speed_kmh=36.0,
        instantaneous_cadence_rpm=90.0,
        resistance_level=12,
        instantaneous_power_w=215,
        total_distance_m=1500,
    )
    reading = decoder.decode(3.0, uuids.INDOOR_BIKE_DATA, gatt.encode_indoor_bike_data(bike))
    assert reading == MachineReading(
        "trainer",
        3.0,
        power_w=215.0,
        speed_mps=10.0,
        resistance=12.0,
        distance_m=1500.0,
        cadence_rpm=90.0,
    )
    first = gatt.CyclingPowerMeasurement(
        instantaneous_power_w=240, cumulative_crank_revolutions=100, last_crank_event_time=0
    )
    second = gatt.CyclingPowerMeasurement(
        instantaneous_power_w=250, cumulative_crank_revolutions=101, last_crank_event_time=683
    )  # 1024ths of a second
    assert decoder.decode(
        4.0, "2a63", gatt.encode_cycling_power_measurement(first)
    ) == PowerReading("trainer", 4.0, 240.0, None)
    again = decoder.decode(4.7, "2a63", gatt.encode_cycling_power_measurement(second))
    assert again.power_w == 250.0 and again.cadence_rpm == pytest.approx(89.96, abs=0.05)
    with pytest.raises(MalformedPayloadError):
        decoder.decode(5.0, uuids.INDOOR_BIKE_DATA, b"\x40\x00\x01")  # power flag, 1 byte


def test_a_machine_record_split_over_notifications_is_one_reading():
    from edge.sources.notifications import NotificationDecoder
    from firmware_bridge import gatt
    from firmware_bridge.gatt import uuids

    decoder = NotificationDecoder("treadmill")
    part = gatt.TreadmillData(
        total_distance_m=420,
        inclination_percent=2.0,  # no speed: more
        ramp_angle_deg=1.1,
    )
    last = gatt.TreadmillData(instantaneous_speed_kmh=9.0)
    assert decoder.decode(1.0, uuids.TREADMILL_DATA, gatt.encode_treadmill_data(part)) is None
    reading = decoder.decode(1.1, uuids.TREADMILL_DATA, gatt.encode_treadmill_data(last))
    assert (reading.speed_mps, reading.incline_pct, reading.distance_m) == (2.5, 2.0, 420.0)
    # After a reconnect a half record is dropped, not joined to the next link's parts.
    decoder.decode(2.0, uuids.TREADMILL_DATA, gatt.encode_treadmill_data(part))
    decoder.reset_link()
    reading = decoder.decode(3.0, uuids.TREADMILL_DATA, gatt.encode_treadmill_data(last))
    assert reading.distance_m is None and reading.speed_mps == 2.5


# -- "Stop machine" on the tile -----------------------------------------------------------------


def machine_update(person: str, **detail):
    from edge.core.events import MachineUpdate

    return MachineUpdate("bike", 10.0, detail, person=person)


def test_the_tile_knows_when_the_coach_drives_a_machine():
    from edge.kiosk import BoardState

    board = BoardState.listing(["ann"])
    assert board.members["ann"].as_dict(0.0)["machine_driving"] is False
    assert board.apply(machine_update("ann", status="control_granted"), 1.0) is not None
    assert board.members["ann"].machine_driving is True
    assert board.apply(machine_update("ann", command="set_power", watts=150), 2.0) is None
    board.apply(machine_update("ann", command="release", reason="stop", safe=None), 3.0)
    assert board.members["ann"].machine_driving is False
    board.apply(machine_update("ann", status="control_granted"), 4.0)
    board.apply(machine_update("ann", status="stopped_by_user"), 5.0)
    assert board.members["ann"].machine_driving is False


def test_post_stop_lets_go_of_the_persons_machine():
    from edge.kiosk import KioskBoard
    from tests.test_kiosk import run
    from tests.test_kiosk_feedback import http_post

    stops: list[str] = []

    async def body() -> None:
        board = KioskBoard(
            port=0, members=["ann", "bob"], on_stop=lambda p: stops.append(p) or p == "ann"
        )
        await board.start()
        origin = {"Origin": f"http://127.0.0.1:{board.port}"}
        try:
            status, _, answer = await http_post(
                board.port, "/stop", {"person": "ann"}, headers=origin
            )
            assert status == 200 and json.loads(answer) == {"person": "ann", "released": True}
            status, _, answer = await http_post(
                board.port, "/stop", {"person": "bob"}, headers=origin
            )
            assert json.loads(answer)["released"] is False
            status, _, answer = await http_post(
                board.port, "/stop", {"person": "eve"}, headers=origin
            )
            assert status == 400 and b"name shown on the board" in answer
            status, _, answer = await http_post(
                board.port, "/stop", {"person": "ann"}, headers={"Origin": "http://evil.example"}
            )
            assert status == 403 and b"stop is taken only from the zone board" in answer
        finally:
            await board.stop()

    run(body(), timeout=30.0)
    assert stops == ["ann", "bob"]


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="chromium is not installed (apt-get install -y chromium)",
)
def test_stop_machine_on_the_tile_releases_a_real_coach(tmp_path):
    """The button, the board, a driver and its coach: one press, the machine is let go of."""
    from edge.coach.machine_coach import DriveState, MachineCoach
    from edge.coach.machine_driver import MachineDriver
    from edge.coach.workouts import parse_workout
    from edge.core.zones import ZoneModel
    from edge.kiosk import KioskBoard
    from edge.settings import MachineSettings
    from edge.stream.machine import MachineEvent, MachineEventKind, ReleaseControl
    from tests.test_kiosk import Browser, run
    from tests.test_kiosk import sample as board_sample

    sent: list[object] = []

    async def body() -> None:
        board = KioskBoard(port=0, members=["ann"])
        coach = MachineCoach(
            MachineSettings(kind="bike", drive=True),
            ZoneModel.for_profile(PROFILE),
            parse_workout("10m 150W"),
        )
        driver = MachineDriver(
            coach,
            send=sent.append,
            device="bike",
            emit=lambda e: board.emit(dataclasses.replace(e, person="ann")),
        )
        board.on_stop = lambda person: driver.person_stop()
        await board.start()
        browser = None
        try:
            board.emit(board_sample("ann", 1, 140, 3))
            driver.on_sample(AlignedSample(1, 140.0, (), None, None, None, None, True, False))
            driver.on_event(MachineEvent("bike", 1.5, MachineEventKind.CONTROL_GRANTED))
            browser = await Browser.launch(
                board.url, tmp_path / "profile", tmp_path / "chromium.log"
            )
            button = "document.querySelector('[data-person=ann] .machine-stop')"
            await browser.wait_for(f"{button} !== null && !{button}.hidden", 15.0)
            await browser.evaluate(f"{button}.click()")
            await browser.wait_for(f"{button}.hidden", 15.0)
            assert coach.state is DriveState.RELEASED
            assert browser.errors == []
        finally:
            if browser is not None:
                await browser.close()
            await board.stop()

    run(body(), timeout=60.0)
    assert isinstance(sent[-1], ReleaseControl) and sent[-1].reason == "you asked to stop"


# -- power through the bounded, columnar readers (the hostile-input merge) ---------------------


def test_power_out_of_range_is_left_out_and_said_on_the_csv_fast_path(tmp_path):
    rows = "".join(f"{t},{120 + t % 10},{5000 if t == 7 else 200 + t % 50}\n" for t in range(400))
    recording = read_recording(write(tmp_path, "ride.csv", "t,hr,power\n" + rows))
    watts = [p.power_w for p in recording.points]
    assert watts[7] is None and watts[6] == 206.0 and watts[399] == 200.0 + 399 % 50
    assert any(
        "a power outside 0-3000 W was left out (data row 8)" in w for w in recording.warnings
    )


def test_point_rows_follow_record_points_field_order_to_the_power(tmp_path):
    from edge.sources.recordings import point_rows

    recording = read_recording(
        write(tmp_path, "ride.csv", "t,hr,cadence,power\n0,120,85,200\n0,,,\n1,121,86,\n")
    )
    assert (
        list(point_rows(recording.points))
        == [
            (p.t, p.hr_bpm, p.cadence_spm, p.speed_mps, p.distance_m, p.rr_intervals_s, p.power_w)
            for p in recording.points
        ]
        == [(0.0, 120.0, 85.0, None, None, (), 200.0), (1.0, 121.0, 86.0, None, None, (), None)]
    )


def test_an_imported_ride_keeps_its_power_where_the_file_has_no_heart_rate(tmp_path):
    # A point without heart rate ends the heart rate's hold; the power meter's values go on.
    rows = "".join(f"{t},{'' if 5 <= t < 12 else 130},{180 + t}\n" for t in range(20))
    path = write(tmp_path, "ride.csv", "t,hr,power\n" + rows)
    with SessionStore.open(tmp_path / "other.db") as other:
        (result,) = import_recordings(other, [path], "ana", PROFILE)
        assert result.imported, result.reason
        samples = other.samples(result.session_id)
    assert [s.power_w for s in samples] == [180.0 + t for t in range(20)]
    assert [s.t for s in samples if s.hr_gap] == list(range(5, 12))
