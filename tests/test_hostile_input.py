"""Careless and hostile input (issue 16): each case as it was reported, replayed on files made
here, with the clear error, bounded memory and an unchanged store asserted.

The files are generated (tests/hostile_files.py), never committed. Timings are not asserted
(bench/hostile_import.py and bench/fit_fuzz.py print them); memory is, with tracemalloc, where a
bug made it grow with what the file claims instead of what it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hostile_files import fit_bytes, flip_bits, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config_checks import AGE_YEARS, MIN_RESERVE_BPM, check_profile
from edge.errors import ConfigError, SourceFileError
from edge.journal import StoreJournal
from edge.kiosk.server import KioskBoard
from edge.profile import Profile
from edge.reports.exchange import export_csv, export_fit, import_recordings
from edge.settings import load_settings
from edge.sources.recordings import MAX_DURATION_S, read_recording
from edge.store import RecordingLock, SessionStore, StoreError, recording_daemon, space_warning
from edge.stream.aligner import StreamAligner
from edge.stream.plausible import CADENCE_SPM, DISTANCE_M, HR_BPM, SPEED_MPS
from edge.stream.readings import AlignedSample, HeartRateReading, StrideReading

START = datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
ANN = Profile(name="ann", age=35, resting_hr=55.0, max_hr=185.0)


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def peak_mib(function, *args):
    """`function(*args)` and the peak of Python and numpy allocations meanwhile, in MiB."""
    tracemalloc.start()
    try:
        result = function(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / 2**20


def store_rows(path: Path) -> dict[str, int]:
    """Rows per table, read with a plain connection: what is on disk."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("people", "sessions", "samples", "cues")
        }


# -- readers: a file that claims days, a clock that jumps, CRCs --------------------------------


def test_a_csv_whose_clock_jumps_is_cut_in_one_line_and_memory_stays_small(tmp_path):
    # The report: 3 rows, the last 100 million seconds on; replay printed 3 lines and then
    # grew to 1.7 GB filling the gap second by second.
    path = write(tmp_path, "b.csv", "time,hr\n0,120\n1,121\n100000000,122\n")
    recording, peak = peak_mib(read_recording, path)
    assert [p.t for p in recording.points] == [0.0, 1.0]
    (line,) = recording.warnings
    assert "clock jumps 1157 days between data row 2 and data row 3" in line
    assert "left out 1" in line
    assert peak < 5


def test_the_clock_jump_keeps_the_larger_part_wherever_it_is(tmp_path):
    rows = ["time,hr", "5,99"] + [f"{1_000_000 + t},{120 + t % 5}" for t in range(100)]
    recording = read_recording(write(tmp_path, "late.csv", "\n".join(rows) + "\n"))
    assert len(recording.points) == 100 and recording.duration_s == 99
    assert "read the 100 records from data row 2 on, left out 1" in recording.warnings[0]


def test_a_recording_that_claims_days_is_cut_at_the_longest_one_read(tmp_path):
    # Five-hour steps (each under the clock-jump limit) adding up to 4 days.
    rows = ["time,hr"] + [f"{t * 5 * 3600},{120 + t}" for t in range(20)]
    recording = read_recording(write(tmp_path, "days.csv", "\n".join(rows) + "\n"))
    assert recording.duration_s <= MAX_DURATION_S
    assert any(
        w.startswith("the recording claims to last 4 days, more than the 2 days read")
        for w in recording.warnings
    )


def test_a_fit_timestamp_that_jumps_67_million_seconds_is_cut_with_one_line(tmp_path):
    path = write(tmp_path, "jump.fit", fit_bytes(600, jump=(300, 67_000_000)))
    recording, peak = peak_mib(read_recording, path)
    assert len(recording.points) == 300 and recording.duration_s == 299
    assert recording.warnings[0].startswith(
        "the clock jumps 775 days between record 300 and record 301"
    )
    assert peak < 10


@pytest.mark.parametrize(
    ("damage", "line"),
    [
        ({"file_crc": False}, "the file's CRC does not match its contents"),
        ({"header_crc": False}, "the FIT header's CRC does not match the header"),
    ],
)
def test_a_fit_crc_error_is_reported_and_the_file_still_read(tmp_path, damage, line):
    whole = read_recording(write(tmp_path, "good.fit", fit_bytes(120)))
    damaged = read_recording(write(tmp_path, "bad.fit", fit_bytes(120, **damage)))
    assert whole.warnings == ()
    assert any(w.startswith(line) for w in damaged.warnings)
    assert damaged.points == whole.points


@pytest.mark.parametrize("seed", range(12))
def test_a_fit_with_flipped_bits_reads_within_bounds_or_says_why(tmp_path, seed):
    # The report: 40 flipped bits read as 67 million seconds, 3.6 GB in 120 s.
    path = write(tmp_path, "flipped.fit", flip_bits(fit_bytes(1800), 40, seed=seed))
    try:
        recording, peak = peak_mib(read_recording, path)
    except SourceFileError as exc:
        assert str(exc).startswith(str(path))
        return
    assert recording.duration_s <= MAX_DURATION_S
    assert all(p.hr_bpm is None or HR_BPM[0] <= p.hr_bpm <= HR_BPM[1] for p in recording.points)
    assert peak < 40


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from edge.sources import recordings

    monkeypatch.setitem(recordings.MAX_FILE_BYTES, ".csv", 1024)
    path = write_csv(tmp_path / "big.csv", 200)
    with pytest.raises(SourceFileError, match=r"more than edgecoach reads as one recording"):
        read_recording(path)


def test_memory_follows_the_rows_kept_not_the_file(tmp_path):
    path = write_csv(tmp_path / "rows.csv", 200_000, hz=10)
    recording, peak = peak_mib(read_recording, path)
    assert len(recording.points) == 200_000
    # Five float64 columns of 200,000 rows are 8 MB; a row object each was 20 times that.
    assert peak < 40


# -- impossible values: a gap or a flagged sample, never a number in a summary -------------------

POISON_CSV = (
    "time,hr,cadence,speed,distance\n"
    "0,120,170,3.0,0\n"
    "1,1e308,170,-3,3\n"
    "2,300,170,3.0,6\n"
    "3,nan,1e400,inf,9\n"
    "4,125,170,3.0,-12\n"
    "5,126,170,3.0,15\n"
)


def test_impossible_values_are_left_out_and_said_once_per_kind(tmp_path):
    recording = read_recording(write(tmp_path, "poison.csv", POISON_CSV))
    for point in recording.points:
        for value, bounds in (
            (point.hr_bpm, HR_BPM),
            (point.cadence_spm, CADENCE_SPM),
            (point.speed_mps, SPEED_MPS),
            (point.distance_m, DISTANCE_M),
        ):
            assert value is None or bounds[0] <= value <= bounds[1]
    assert [p.hr_bpm for p in recording.points] == [120, None, None, None, 125, 126]
    assert (
        "a heart rate outside 30-230 bpm was left out (2 times, first data row 2)"
        in recording.warnings
    )


def test_an_imported_poisoned_file_leaves_finite_figures_everywhere(tmp_path):
    store_path = tmp_path / "state" / "edgecoach.db"
    with SessionStore.open(store_path) as store:
        (result,) = import_recordings(store, [write(tmp_path, "p.csv", POISON_CSV)], "ann", ANN)
        assert result.imported
        row = store.sessions()[0]
        samples = store.samples(row.id)
        # The summary is JSON the store reads back: no Infinity, no NaN, no 300 bpm.
        json.dumps(row.summary, allow_nan=False)
        assert row.summary["max_hr"] == 126
        assert all(s.hr_bpm is None or s.hr_bpm <= HR_BPM[1] for s in samples)
        export_csv(store, row.id, tmp_path / "out.csv")
        export_fit(store, row.id, tmp_path / "out.fit")
    assert read_recording(tmp_path / "out.fit").points_with_hr == 3  # 120, 125, 126


def test_values_already_poisoned_in_a_store_are_read_as_gaps(tmp_path):
    # A store written before the checks: inf, NaN, 300 bpm and a speed of -3 in its rows.
    store_path = tmp_path / "edgecoach.db"
    with SessionStore.open(store_path) as store:
        session_id = store.start_session("ann", "ble", ANN, START)
        for t in range(4):
            store.add_sample(
                session_id, AlignedSample(t, 120.0, (), 170.0, 3.0, t * 3.0, None, None, False)
            )
        store.end_session(session_id, START, {"mean_hr": 120.0})
    with contextlib.closing(sqlite3.connect(store_path)) as conn:
        conn.execute("UPDATE samples SET hr_bpm = 9e999 WHERE t = 1")
        conn.execute("UPDATE samples SET hr_bpm = 300, speed_mps = -3 WHERE t = 2")
        conn.execute("UPDATE sessions SET summary = '{\"mean_hr\": Infinity}'")
        conn.commit()
    with SessionStore.open(store_path) as store:
        samples = store.samples(session_id)
        assert [s.hr_bpm for s in samples] == [120.0, None, None, 120.0]
        assert [s.hr_gap for s in samples] == [False, True, True, False]
        assert samples[2].speed_mps is None
        assert store.sessions()[0].summary == {"mean_hr": None}
        export_fit(store, session_id, tmp_path / "s.fit")  # a speed of -3 crashed it


def test_the_live_stream_turns_an_impossible_heart_rate_into_a_flagged_gap():
    aligner = StreamAligner(start_t=0.0)
    out = aligner.push(HeartRateReading("band", 0.2, 120))
    out += aligner.push(HeartRateReading("band", 1.2, 300))
    out += aligner.push(StrideReading("band", 1.5, 1e9, -3.0, math.inf))
    out += aligner.push(HeartRateReading("band", 2.2, 121))
    out += aligner.flush()
    assert [(s.hr_bpm, s.hr_gap, s.rejected_hr_bpm) for s in out] == [
        (120.0, False, None),
        (None, True, 300.0),
        (121.0, False, None),
    ]
    assert (out[1].cadence_spm, out[1].speed_mps, out[1].distance_m) == (None, None, None)


def test_replay_json_is_json_and_the_coach_asks_to_check_the_strap(tmp_path, edgecoach, clean_env):
    config = write(
        tmp_path,
        "config.toml",
        "[llm]\nenabled = false\n[speech]\nenabled = false\n"
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n',
    )
    path = write(tmp_path, "poison.csv", POISON_CSV)
    done = subprocess.run(
        [
            *edgecoach,
            "--config",
            str(config),
            "replay",
            str(path),
            "--speed",
            "0",
            "--json",
            "--no-llm",
            "--mute",
        ],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    events = [json.loads(line, parse_constant=refuse) for line in done.stdout.splitlines()]
    summary = next(e for e in events if e["event"] == "summary")
    assert summary["max_hr"] == 126
    assert "a heart rate outside 30-230 bpm was left out" in done.stderr


# -- profiles and config -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[profile]\nage = 300\n", "age must be whole years from 5 to 110, got 300"),
        ("[profile]\nage = -4\n", "age must be whole years from 5 to 110, got -4"),
        ("[profile]\nresting_hr = -50\n", "resting_hr must be beats per minute from 25 to 120"),
        ("[profile]\nresting_hr = 80\nmax_hr = 60\n", "max_hr must be beats per minute from 100"),
        (
            "[profile]\nresting_hr = 110\nmax_hr = 120\n",
            "resting_hr (110) must be at least 20 bpm below max_hr (120)",
        ),
        ("[profile]\nresting_hr = 120\nmax_hr = 120\n", "must be at least 20 bpm below max_hr"),
        ("[profile]\nmax_hr = nan\n", "max_hr must be beats per minute from 100 to 240, got nan"),
        ("[profile]\nresting_hr = inf\n", "resting_hr must be beats per minute"),
        (
            "[profile]\nage = 108\nresting_hr = 120\n",
            "at least 20 bpm below the maximum estimated from age 108",
        ),
        ('[profile]\nname = "  "\n', "name must be a non-empty name"),
        ("[daemon]\nspeed = -3\n", "[daemon]: speed must be 0 (as fast as possible) or a positive"),
        ("[daemon]\nspeed = nan\n", "[daemon]: speed must be 0"),
        ("[llm]\ntimeout_s = -1\n", "[llm]: timeout_s must be more than 0"),
        (
            '[[people]]\nname = "sam"\n[[people]]\nname = "sam "\n',
            "[[people]] #1 and #2 share a name, 'sam'",
        ),
        ('[[people]]\nname = "Sam"\n[[people]]\nname = "sam"\n', "#1 and #2 share a name"),
    ],
)
def test_an_impossible_profile_or_setting_is_refused_with_what_to_change(tmp_path, table, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "config.toml", table))
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "config.toml"))


def test_names_are_stored_as_one_person_however_they_are_spaced(tmp_path):
    settings = load_settings(write(tmp_path, "c.toml", '[[people]]\nname = "  sam   lee "\n'))
    assert settings.people[0].profile.name == "sam lee"
    with SessionStore.open(tmp_path / "s.db") as store:
        store.start_session("sam lee ", "ble", ANN, START)
        assert [p.name for p in store.people()] == ["sam lee"]
        assert len(store.sessions(" sam  lee")) == 1


@settings(max_examples=300, deadline=None)
@given(
    age=st.one_of(st.integers(-(10**6), 10**6), st.booleans()),
    resting=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-500, 500)),
    maximum=st.one_of(
        st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-500, 500)
    ),
    name=st.text(max_size=80),
)
def test_profile_validation_accepts_only_profiles_a_heart_fits(age, resting, maximum, name):
    profile = Profile(name=name, age=age, resting_hr=resting, max_hr=maximum)
    try:
        checked = check_profile(profile, "config.toml [profile]")
    except ConfigError as exc:
        assert str(exc).startswith("config.toml [profile]: ")
        return
    assert AGE_YEARS[0] <= checked.age <= AGE_YEARS[1] and not isinstance(checked.age, bool)
    assert math.isfinite(checked.resting_hr) and math.isfinite(checked.effective_max_hr)
    assert checked.heart_rate_reserve >= MIN_RESERVE_BPM
    assert checked.name == " ".join(checked.name.split()) and checked.name


# -- the CSV reader, as a property --------------------------------------------------------------

_CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "nan",
            "-inf",
            "1e308",
            "1e400",
            "abc",
            "12,5",
            '"7"',
            "0x10",
            "2024-05-01T07:30:00Z",
            "120 ",
        ]
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(_CELLS, _CELLS, _CELLS, _CELLS), max_size=60),
    header=st.sampled_from(
        [
            "time,hr,speed,cadence",
            "t;HR (bpm);speed [m/s];cadence",
            "seconds\tbpm\tspeed_mps\tcadence_spm",
        ]
    ),
)
def test_the_csv_reader_gives_bounded_points_or_a_clear_error(tmp_path, rows, header):
    delimiter = ";" if ";" in header else "\t" if "\t" in header else ","
    text = header + "\n" + "\n".join(delimiter.join(row) for row in rows) + "\n"
    path = write(tmp_path, "any.csv", text)
    try:
        recording = read_recording(path)
    except SourceFileError as exc:
        assert str(exc).startswith(str(path))
        return
    times = [p.t for p in recording.points]
    assert times == sorted(times) and times[0] == 0.0 and times[-1] <= MAX_DURATION_S
    assert len(set(times)) == len(times)
    for point in recording.points:
        assert point.hr_bpm is None or HR_BPM[0] <= point.hr_bpm <= HR_BPM[1]
        assert point.speed_mps is None or SPEED_MPS[0] <= point.speed_mps <= SPEED_MPS[1]
        assert point.cadence_spm is None or CADENCE_SPM[0] <= point.cadence_spm <= 300
    assert recording.points_with_hr >= 1
    assert len(recording.warnings) <= 10


# -- import: the same workout by its content ----------------------------------------------------


def test_the_same_workout_in_other_bytes_is_recognised(tmp_path):
    fit = fit_bytes(300)
    paths = [
        write(tmp_path, "a.fit", fit),
        write(tmp_path, "b.fit", fit + b"\x00" * 16),  # a copy with bytes appended
        write(tmp_path, "c.fit", fit_bytes(300, file_crc=False)),
    ]  # re-saved, other CRC
    with SessionStore.open(tmp_path / "s.db") as store:
        results = import_recordings(store, paths, "ann", ANN)
        assert [r.status for r in results] == ["imported", "duplicate", "duplicate"]
        assert "the same workout: the same start time and samples" in results[1].reason
        export_csv(store, results[0].session_id, tmp_path / "again.csv")
        (again,) = import_recordings(store, [tmp_path / "again.csv"], "ann", ANN)
        assert again.status == "duplicate"
        assert len(store.sessions()) == 1
        # Another workout (an hour later) is not taken for it.
        later = write(tmp_path, "later.fit", fit_bytes(300, start=START.replace(hour=9)))
        assert import_recordings(store, [later], "ann", ANN)[0].imported


# -- forget beside a running daemon -------------------------------------------------------------


def test_forget_is_refused_while_the_daemon_records_and_the_store_is_unchanged(
    tmp_path, edgecoach, clean_env
):
    state = tmp_path / "state"
    database = state / "edgecoach.db"
    with SessionStore.open(database) as store:
        for person in ("sam", "kim"):
            session_id = store.start_session(person, "ble", ANN, START)
            store.add_sample(
                session_id, AlignedSample(0, 120.0, (), None, None, None, None, None, False)
            )
            store.end_session(session_id, START, {})
    before = store_rows(database)
    config = write(tmp_path, "c.toml", f'[daemon]\nstate_dir = "{state}"\n')
    with RecordingLock(database):
        assert recording_daemon(database) == os.getpid()
        done = subprocess.run(
            [*edgecoach, "--config", str(config), "forget", "sam", "--yes"],
            capture_output=True,
            text=True,
            env=clean_env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1
        assert f"edgecoach run (pid {os.getpid()}) is recording into {database}" in done.stderr
        assert "nothing was erased" in done.stderr
        assert store_rows(database) == before
        with pytest.raises(StoreError, match="already recording"):
            RecordingLock(database).acquire()
    assert recording_daemon(database) is None
    done = subprocess.run(
        [*edgecoach, "--config", str(config), "forget", "sam", "--yes"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert store_rows(database)["people"] == 1


def test_a_session_erased_under_a_writer_costs_no_one_else_a_sample(tmp_path, caplog):
    # The report: forget beside the daemon made every pending row fail (FOREIGN KEY), another
    # person's samples among them, and all were lost at close.
    database = tmp_path / "edgecoach.db"
    with SessionStore.open(database, commit_interval_s=3600) as store:
        sam = store.start_session("sam", "ble", ANN, START)
        kim = store.start_session("kim", "ble", ANN, START)
        store.add_sample(sam, AlignedSample(0, 120.0, (), None, None, None, None, None, False))
        store.commit()
        for t in range(1, 28):
            for session_id in (sam, kim):
                store.add_sample(
                    session_id, AlignedSample(t, 120.0, (), None, None, None, None, None, False)
                )
        with contextlib.closing(sqlite3.connect(database)) as other:  # an old `forget`
            other.execute("PRAGMA foreign_keys = ON")
            other.execute("DELETE FROM samples WHERE session_id = ?", (sam,))
            other.execute("DELETE FROM sessions WHERE id = ?", (sam,))
            other.commit()
        with caplog.at_level(logging.ERROR, logger="edge.store"):
            store.commit()
        assert "27 recorded rows of session(s) 1 conflict with the store" in caplog.text
        assert len(store.samples(kim)) == 27


# -- disk full -----------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MiB tmpfs (root can mount one here); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave_bytes: int = 0) -> Path:
    """Fill `disk`, then give back `leave_bytes`; delete the file to make room again."""
    filler = disk / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    if leave_bytes:
        os.truncate(filler, max(0, filler.stat().st_size - leave_bytes))
    return filler


def test_a_full_disk_is_said_once_truthfully_and_writing_resumes_with_what_was_kept(
    small_disk, caplog
):
    database = small_disk / "edgecoach.db"

    async def record() -> tuple[SessionStore, int]:
        from concurrent.futures import ThreadPoolExecutor

        store = SessionStore.open(database, commit_interval_s=0)
        executor = ThreadPoolExecutor(max_workers=1)
        session_id = store.start_session("ann", "ble", ANN, START)
        journal = StoreJournal(store, session_id, executor)
        filler = fill(small_disk)
        for t in range(300):
            await journal.sample(
                AlignedSample(t, 120.0, (), None, None, None, None, None, False), None
            )
        assert store.pending_rows > 0
        full_log = caplog.text
        filler.unlink()  # room again
        for t in range(300, 310):
            await journal.sample(
                AlignedSample(t, 121.0, (), None, None, None, None, None, False), None
            )
        executor.shutdown()
        return store, session_id, full_log

    with caplog.at_level(logging.WARNING):
        store, session_id, full_log = asyncio.run(record())
    try:
        errors = [
            r for r in caplog.records if r.name == "edge.journal" and r.levelno == logging.ERROR
        ]
        assert len(errors) == 1  # once, not once a second
        assert (
            "is full: free space; samples are being kept in memory until then"
            in errors[0].getMessage()
        )
        assert "lost if edgecoach stops before they are written" in errors[0].getMessage()
        assert "writing again" not in full_log  # nothing claimed while the disk was full
        assert "nothing was lost" not in caplog.text
        assert (
            "the store is writing again; every sample kept in memory meanwhile is now written"
        ) in caplog.text
        assert [s.t for s in store.samples(session_id)] == list(range(310))
    finally:
        store.close()


def test_at_start_a_full_disk_is_said_before_any_session_is_coached(small_disk):
    fill(small_disk, leave_bytes=64 * 1024)
    line = space_warning(small_disk / "edgecoach.db", people=2)
    assert line is not None and "room for about" in line and "not stored" in line
    fill_more = small_disk / "more"
    with contextlib.suppress(OSError), fill_more.open("wb") as out:
        out.write(b"\0" * (128 * 1024))
    assert "is full" in space_warning(small_disk / "edgecoach.db", people=2)


def daemon_on(
    disk: Path, tmp_path: Path, edgecoach: list[str], env: dict[str, str], room: int
) -> subprocess.CompletedProcess[str]:
    """`edgecoach run` replaying 15 minutes at full speed into a store on `disk`, which has
    `room` bytes free when it starts."""
    recording = write_csv(tmp_path / "run.csv", 900)
    config = write(
        tmp_path,
        "c.toml",
        (
            "[llm]\nenabled = false\n[speech]\nenabled = false\n"
            f'[daemon]\nstate_dir = "{disk}"\nsource = "replay"\nspeed = 0\n'
            f'replay_file = "{recording}"\n'
        ),
    )
    with SessionStore.open(disk / "edgecoach.db"):
        pass
    fill(disk, leave_bytes=room)
    return subprocess.run(
        [*edgecoach, "--config", str(config), "run", "--max-runtime", "60"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def test_the_daemon_on_a_nearly_full_disk_says_so_up_front_and_once(
    small_disk, tmp_path, edgecoach, clean_env
):
    done = daemon_on(small_disk, tmp_path, edgecoach, clean_env, room=160 * 1024)
    log_lines = done.stderr.splitlines()
    up_front = [n for n, line in enumerate(log_lines) if "KiB free" in line]
    assert up_front and "room for about" in log_lines[up_front[0]], done.stderr
    full = [n for n, line in enumerate(log_lines) if "edge.journal" in line and "is full" in line]
    assert len(full) == 1, done.stderr  # once, not once a second
    assert "nothing was lost" not in done.stderr
    assert up_front[0] < full[0]


def test_the_daemon_on_a_full_disk_refuses_to_coach_what_it_cannot_store(
    small_disk, tmp_path, edgecoach, clean_env
):
    done = daemon_on(small_disk, tmp_path, edgecoach, clean_env, room=0)
    assert done.returncode != 0
    *before, last = done.stderr.strip().splitlines()
    assert last.startswith("edgecoach: ") and last.endswith(
        f"the disk holding {small_disk / 'edgecoach.db'} is full: free space"
    ), done.stderr
    assert any("is full" in line and "NOT stored" in line for line in before)  # up front
    assert "coach" not in "".join(line for line in before if "edge.session" in line)


# -- the store's file, and commands that only read ---------------------------------------------


def test_a_new_store_is_0600_in_a_0700_folder_and_reading_creates_nothing(
    tmp_path, edgecoach, clean_env
):
    database = tmp_path / "new" / "state" / "edgecoach.db"
    with SessionStore.open(database, create=False) as store:
        assert store.sessions() == []
    assert not (tmp_path / "new").exists()
    config = write(tmp_path, "c.toml", f'[daemon]\nstate_dir = "{database.parent}"\n')
    for command in (
        ["history"],
        ["plan"],
        ["report", "last"],
        ["ask", "how was my run?", "--no-llm"],
    ):
        subprocess.run(
            [*edgecoach, "--config", str(config), *command],
            capture_output=True,
            env=clean_env,
            timeout=120,
            check=False,
        )
        assert not database.exists(), command
    with SessionStore.open(database) as store:
        store.start_session("ann", "ble", ANN, START)
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(f"{database}-wal").stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700


# -- kiosk ---------------------------------------------------------------------------------------


async def _post(port: int, body: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /feedback HTTP/1.1\r\nHost: localhost:{port}\r\n"
        "Content-Type: application/json\r\nOrigin: http://localhost\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return int(raw.split(b" ")[1]), raw.split(b"\r\n\r\n", 1)[1]


def test_deeply_nested_feedback_is_answered_400_not_a_recursion_error(caplog):
    async def body() -> None:
        async with KioskBoard(
            port=0, members=["ann"], on_feedback=lambda *a: {"session_id": 1}
        ) as board:
            for nested in (b"[" * 1000 + b"]" * 1000, b'{"a":' * 300 + b"1" + b"}" * 300):
                status, text = await _post(board.port, nested)
                assert status == 400 and b"nests deeper than 8 levels" in text
            status, _ = await _post(board.port, b'{"person": "ann", "rpe": 5}')
            assert status == 200

    with caplog.at_level(logging.ERROR):
        asyncio.run(body())
    assert "RecursionError" not in caplog.text


def test_clients_that_never_read_cannot_keep_a_browser_off_the_board():
    async def body() -> float:
        async with KioskBoard(port=0, max_clients=8, ping_s=0.25) as board:
            idle = []
            for _ in range(8):  # raw sockets that ask for the stream and never read it
                sock = socket.create_connection(("127.0.0.1", board.port))
                sock.sendall(
                    f"GET /events HTTP/1.1\r\nHost: localhost:{board.port}\r\n\r\n".encode()
                )
                idle.append(sock)
            while board.clients < 8:
                await asyncio.sleep(0.05)
            started = time.monotonic()
            try:
                while time.monotonic() - started < 20:
                    reader, writer = await asyncio.open_connection("127.0.0.1", board.port)
                    writer.write(
                        f"GET /events HTTP/1.1\r\nHost: localhost:{board.port}\r\n\r\n".encode()
                    )
                    try:
                        head = await reader.readuntil(b"\r\n\r\n")
                        if b" 200 " in head.split(b"\r\n")[0]:
                            await asyncio.wait_for(reader.readuntil(b"event: snapshot"), 5)
                            assert board.clients_dropped >= 1
                            return time.monotonic() - started
                    finally:
                        writer.close()
                        with contextlib.suppress(ConnectionError):
                            await writer.wait_closed()
                    await asyncio.sleep(0.25)
                raise AssertionError("the board stayed full of clients that never read")
            finally:
                for sock in idle:
                    sock.close()

    waited = asyncio.run(body())
    assert waited < 20
    print(
        f"a reading browser got on a board full of non-readers after {waited:.1f} s",
        file=sys.stderr,
    )
