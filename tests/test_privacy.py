"""Health data at rest: encrypted, erasable for good, exportable, and kept out of the logs."""

import argparse
import csv
import dataclasses
import io
import json
import logging
import os
import sqlite3
import stat
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.commands import export_data as export_data_command
from edge.commands import forget as forget_command
from edge.core.cues import Action, Cue, CueKind, Priority
from edge.core.narration import Narration
from edge.profile import Profile
from edge.reports.personal_data import UnknownPersonError, export_person, forget_person
from edge.settings import DaemonSettings, Settings
from edge.store import (
    CREDENTIAL_NAME,
    DATABASE_NAME,
    SessionStore,
    StoreError,
    StoreKeyError,
    find_key,
    parse_key,
    read_key_file,
)
from edge.stream.readings import AlignedSample
from tests.test_store import ANN, KEY, needs_sqlcipher, sample

START = datetime(2026, 5, 1, 7, 30, tzinfo=UTC)
MARKER_PERSON = "zz-marker-person"
MARKER_FACT = "zz-marker-8342"
MARKER_NOTE = "zz-marker-note"
MARKER = b"zz-marker"
OTHER_KEY = "e" * 64


def marked_sample(t: int) -> AlignedSample:
    """A heart rate of 173 with RR intervals, or a gap: the marker person's seconds."""
    if t % 9 == 4:
        return AlignedSample(t, None, (), 170.0, 3.4, 3.4 * t, 2.8 * t, None, True)
    return AlignedSample(t, 173.0, (0.347, 0.346), 171.0, 3.4, 3.4 * t, 2.8 * t, True, False)


def record_marker_person(store: SessionStore, seconds: int = 300) -> int:
    """A session full of markers: in the name, the samples' forecasts, a cue's facts, the words
    spoken and the feedback."""
    profile = Profile(name=MARKER_PERSON, age=29, resting_hr=48.0, max_hr=196.0)
    session_id = store.start_session(MARKER_PERSON, "ble", profile, START)
    for t in range(seconds):
        forecast = {"hr_10s": 173.0, "hr_60s": 175.5, "tag": MARKER_FACT} if t % 10 == 0 else None
        store.add_sample(session_id, marked_sample(t), forecast)
    store.add_cue(
        session_id,
        Cue(
            1,
            20,
            CueKind.ZONE_CHANGE,
            Action.EASE_OFF,
            Priority.ZONE,
            {"hr": 173, "zone": 5, "note": MARKER_FACT},
        ),
    )
    store.add_narration(
        session_id, Narration(1, f"Heart rate 173, {MARKER_FACT}. Ease off.", "llm", "", 0.5, 1)
    )
    store.add_cue(session_id, Cue(2, 40, CueKind.SENSOR_LOST, Action.CHECK_SENSOR, Priority.SENSOR))
    store.end_session(
        session_id, START + timedelta(seconds=seconds), {"duration_s": seconds, "mood": MARKER_FACT}
    )
    store.add_feedback(session_id, 8, MARKER_NOTE)
    return session_id


def record_bob(store: SessionStore, seconds: int = 300) -> int:
    session_id = store.start_session("bob", "simulator", ANN, START)
    for t in range(seconds):
        store.add_sample(session_id, sample(t), {"hr_10s": 130.5} if t == 5 else None)
    store.add_cue(
        session_id, Cue(1, 5, CueKind.SENSOR_BACK, Action.INFO, Priority.SENSOR, {"hr": 125})
    )
    store.add_narration(session_id, Narration(1, "Sensor back.", "template", "guard", 0.1, 2))
    store.end_session(session_id, START + timedelta(seconds=seconds), {"duration_s": seconds})
    store.add_feedback(session_id, 4, "easy")
    return session_id


def files_of(db: Path) -> dict[str, bytes]:
    """The database and its -wal and -shm, as they are on disk now."""
    found = {}
    for suffix in ("", "-wal", "-shm"):
        path = db.with_name(db.name + suffix)
        if path.exists():
            found[path.name] = path.read_bytes()
    return found


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "state" / DATABASE_NAME


# -- encryption at rest ----------------------------------------------------------------------------


@needs_sqlcipher
def test_an_encrypted_store_holds_no_plaintext_names_or_heart_rates(tmp_path):
    plain, encrypted = tmp_path / "plain.db", tmp_path / "encrypted.db"
    for path, key in ((plain, None), (encrypted, KEY)):
        with SessionStore.open(path, key=key) as store:
            record_marker_person(store)
            while_open = files_of(path)
        after_close = files_of(path)
        if key is None:  # the control: the same rows in a plain file are readable
            assert MARKER_PERSON.encode() in b"".join(after_close.values())
            assert b'"hr_10s": 173.0' in b"".join(after_close.values())
            continue
        assert f"{encrypted.name}-wal" in while_open  # the -wal was scanned too
        for name, data in {
            **{f"open:{k}": v for k, v in while_open.items()},
            **after_close,
        }.items():
            assert MARKER not in data, name
            assert b"173.0" not in data and b"Ease off" not in data, name
            assert b"SQLite format 3" not in data, name
    with SessionStore.open(encrypted, key=KEY) as store:
        (row,) = store.sessions(MARKER_PERSON)
        assert store.samples(row.id) == [marked_sample(t) for t in range(300)]


@needs_sqlcipher
def test_a_wrong_key_is_refused_and_leaves_the_file_and_its_wal_untouched(db):
    with SessionStore.open(db, key=KEY) as writer:  # still open: its -wal holds the rows
        record_marker_person(writer, seconds=30)
        before = files_of(db)
        assert f"{db.name}-wal" in before
        with pytest.raises(
            StoreKeyError,
            match=f"the database key does not open {db}: wrong key; the file was left untouched",
        ):
            SessionStore.open(db, key=OTHER_KEY)
        after = files_of(db)
        assert {k: v for k, v in after.items() if not k.endswith("-shm")} == {
            k: v for k, v in before.items() if not k.endswith("-shm")
        }
    closed = files_of(db)
    with pytest.raises(StoreKeyError, match="wrong key") as caught:
        SessionStore.open(db, key=OTHER_KEY)
    assert caught.value.exit_code == 2  # systemd: RestartPreventExitStatus=2
    assert OTHER_KEY not in str(caught.value) and KEY not in str(caught.value)
    assert files_of(db) == closed


@needs_sqlcipher
def test_an_encrypted_store_without_a_key_names_where_the_key_comes_from(db):
    with SessionStore.open(db, key=KEY) as store:
        record_bob(store, seconds=20)
    before = files_of(db)
    with pytest.raises(
        StoreKeyError,
        match="no database key to open .*LoadCredential=edgecoach-db-key.*key_file.*left untouched",
    ):
        SessionStore.open(db)
    assert files_of(db) == before


@needs_sqlcipher
def test_bytes_that_are_not_whole_pages_are_not_a_database_whatever_the_key(db):
    db.parent.mkdir(parents=True)
    db.write_bytes(os.urandom(5000))
    before = db.read_bytes()
    for key in (KEY, None):
        with pytest.raises(StoreError, match="not an edgecoach database or is damaged") as caught:
            SessionStore.open(db, key=key)
        assert not isinstance(caught.value, StoreKeyError)
    assert db.read_bytes() == before
    assert [p.name for p in db.parent.iterdir()] == [db.name]


@needs_sqlcipher
def test_a_plain_store_opened_with_a_key_is_encrypted_once_in_place(db):
    with SessionStore.open(db) as store:
        session_id = record_marker_person(store, seconds=60)
    os.chmod(db, 0o640)
    assert MARKER in db.read_bytes()
    with SessionStore.open(db, key=KEY) as store:
        assert store.encrypted
        assert store.samples(session_id) == [marked_sample(t) for t in range(60)]
        assert [c["text"] for c in store.cues(session_id)][0].startswith("Heart rate 173")
    assert stat.S_IMODE(db.stat().st_mode) == 0o640
    assert sorted(p.name for p in db.parent.iterdir()) == [db.name]
    data = db.read_bytes()
    assert MARKER not in data and not data.startswith(b"SQLite format 3")
    with pytest.raises(StoreKeyError):
        SessionStore.open(db)
    with SessionStore.open(db, key=KEY) as store:  # opened again: already encrypted
        assert store.sessions()[0].person == MARKER_PERSON


# -- forget ----------------------------------------------------------------------------------------


def test_forget_leaves_no_rows_and_no_recoverable_pages(db):
    with SessionStore.open(db) as store:
        record_marker_person(store)
        bob = record_bob(store)
        kept = (store.samples(bob), store.cues(bob), store.feedback(bob), store.sessions("bob"))
        assert MARKER in b"".join(files_of(db).values())  # the control: it was there

        report = forget_person(store, MARKER_PERSON)
        assert (
            report.sessions,
            report.samples,
            report.cues,
            report.narrations,
            report.feedback,
        ) == (1, 300, 2, 1, 1)
        assert report.bytes_after == db.stat().st_size < report.bytes_before
        for name, data in files_of(db).items():  # still open
            assert MARKER not in data, name
        assert (
            store.samples(bob),
            store.cues(bob),
            store.feedback(bob),
            store.sessions("bob"),
        ) == kept
        with pytest.raises(UnknownPersonError, match="no one called 'zz-marker-person'"):
            forget_person(store, MARKER_PERSON)
    for name, data in files_of(db).items():
        assert MARKER not in data, name
    with closing(sqlite3.connect(db)) as reader:
        assert reader.execute("PRAGMA freelist_count").fetchone()[0] == 0
        assert reader.execute("SELECT name FROM people").fetchall() == [("bob",)]
        for table in ("samples", "cues", "narrations", "feedback", "sessions"):
            (left,) = reader.execute(
                f"SELECT count(*) FROM {table} WHERE session_id != ?"
                if table != "sessions"
                else "SELECT count(*) FROM sessions WHERE id != ?",
                (bob,),
            ).fetchone()
            assert left == 0, table


def test_forget_refuses_while_another_program_holds_the_store(db):
    with SessionStore.open(db) as store:
        record_marker_person(store, seconds=20)
        with closing(sqlite3.connect(db, isolation_level=None)) as other:
            other.execute("BEGIN")
            other.execute("SELECT count(*) FROM samples").fetchone()  # a read snapshot held
            store._connection().execute("PRAGMA busy_timeout = 50")
            with pytest.raises(StoreError, match="another program has the store open"):
                forget_person(store, MARKER_PERSON)
            other.execute("COMMIT")
        assert [p.name for p in store.people()] == [MARKER_PERSON]  # nothing was deleted


@needs_sqlcipher
def test_forget_on_an_encrypted_store(db):
    with SessionStore.open(db, key=KEY) as store:
        record_marker_person(store, seconds=60)
        bob = record_bob(store, seconds=60)
        forget_person(store, MARKER_PERSON)
    with SessionStore.open(db, key=KEY) as store:
        assert [p.name for p in store.people()] == ["bob"]
        assert store.samples(bob) == [sample(t) for t in range(60)]
        (free,) = store._connection().execute("PRAGMA freelist_count").fetchone()
        assert free == 0


# -- export ----------------------------------------------------------------------------------------


def test_export_data_writes_open_files_that_round_trip(db, tmp_path):
    out = tmp_path / "export"
    with SessionStore.open(db) as store:
        session_id = record_marker_person(store, seconds=40)
        open_id = store.start_session(MARKER_PERSON, "ble", ANN, START + timedelta(hours=1))
        store.add_sample(open_id, sample(0))  # a session that never ended
        record_bob(store, seconds=10)
        paths = export_person(store, MARKER_PERSON, out)
        samples, forecasts = store.samples(session_id), store.forecasts(session_id)
        cues, feedback = store.cues(session_id), store.feedback(session_id)
        (row, unfinished) = store.sessions(MARKER_PERSON)
        with pytest.raises(UnknownPersonError, match="it holds 'zz-marker-person', 'bob'"):
            export_person(store, "carol", tmp_path / "carol")

    assert [p.name for p in paths] == [
        "person.json",
        f"session-{session_id}-samples.csv",
        f"session-{open_id}-samples.csv",
        "README.txt",
    ]
    assert sorted(out.iterdir()) == sorted(paths)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths} == {0o600}

    document = json.loads((out / "person.json").read_text())
    assert document["format_version"] == 1 and document["person"]["name"] == MARKER_PERSON
    first, second = document["sessions"]
    assert first["id"] == session_id and first["ended_at"] == row.ended_at.isoformat()
    assert first["started_at"] == START.isoformat() and second["ended_at"] is None
    assert first["profile"] == dataclasses.asdict(row.profile)
    assert document["profile"] == dataclasses.asdict(unfinished.profile)
    assert first["summary"] == row.summary and first["sample_count"] == 40
    assert first["cues"] == cues
    assert first["cues"][0]["facts"]["note"] == MARKER_FACT
    assert first["cues"][0]["text"].startswith("Heart rate 173")
    assert first["feedback"] == [{**f, "created_at": f["created_at"].isoformat()} for f in feedback]
    assert "bob" not in (out / "person.json").read_text()

    with (out / first["samples_file"]).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:9] == [
        "t_s",
        "hr_bpm",
        "rr_intervals_s",
        "cadence_spm",
        "speed_mps",
        "distance_m",
        "steps",
        "contact",
        "hr_gap",
    ]

    def number(text):
        return None if text == "" else float(text)

    back = [
        AlignedSample(
            t=int(r["t_s"]),
            hr_bpm=number(r["hr_bpm"]),
            rr_intervals_s=tuple(float(x) for x in r["rr_intervals_s"].split()),
            cadence_spm=number(r["cadence_spm"]),
            speed_mps=number(r["speed_mps"]),
            distance_m=number(r["distance_m"]),
            steps=number(r["steps"]),
            contact=None if r["contact"] == "" else r["contact"] == "1",
            hr_gap=r["hr_gap"] == "1",
        )
        for r in rows
    ]
    assert back == samples
    assert {
        int(r["t_s"]): {
            k.removeprefix("forecast_"): (v if k == "forecast_tag" else float(v))
            for k, v in r.items()
            if k.startswith("forecast_") and v
        }
        for r in rows
        if r["forecast_hr_10s"]
    } == forecasts
    readme = (out / "README.txt").read_text()
    for column in list(rows[0])[:9] + ["person.json", "forecast_"]:
        assert column in readme


# -- the commands ----------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def command(configure, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


@needs_sqlcipher
def test_forget_and_export_data_commands(db, tmp_path, monkeypatch, capsys):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / CREDENTIAL_NAME).write_text(KEY + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    settings = dataclasses.replace(Settings(), daemon=DaemonSettings(state_dir=db.parent))
    with SessionStore.open(db, key=KEY) as store:
        record_marker_person(store, seconds=20)
        record_bob(store, seconds=20)

    out = tmp_path / "all"
    assert (
        export_data_command.run(command(export_data_command.configure, "--out", str(out)), settings)
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["bob", MARKER_PERSON]
    assert (out / "bob" / "person.json").is_file()

    forget = command(forget_command.configure, MARKER_PERSON)
    assert forget_command.run(forget, settings, stdin=io.StringIO("yes\n")) == 2  # no terminal
    assert "add --yes" in capsys.readouterr().err
    said = io.StringIO()
    assert forget_command.run(forget, settings, stdin=Terminal("n\n"), stdout=said) == 1
    assert "This cannot be undone. [y/N]" in said.getvalue()
    assert "Nothing was erased" in said.getvalue()
    said = io.StringIO()
    assert forget_command.run(forget, settings, stdin=Terminal("y\n"), stdout=said) == 0
    assert "Forgot 'zz-marker-person': 1 sessions, 20 samples" in said.getvalue()
    with pytest.raises(UnknownPersonError):
        forget_command.run(command(forget_command.configure, MARKER_PERSON, "--yes"), settings)
    with pytest.raises(UnknownPersonError, match="no one called 'you'"):  # [profile] name
        forget_command.run(
            command(forget_command.configure, "--yes"), settings, stdout=io.StringIO()
        )
    assert (
        forget_command.run(
            command(forget_command.configure, "bob", "--yes"), settings, stdout=io.StringIO()
        )
        == 0
    )
    with SessionStore.open(db, key=KEY) as store:
        assert store.people() == []

    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(StoreKeyError, match="LoadCredential=edgecoach-db-key"):
        export_data_command.run(command(export_data_command.configure), settings)
    empty = dataclasses.replace(settings, daemon=DaemonSettings(state_dir=tmp_path / "none"))
    with pytest.raises(StoreError, match="no edgecoach database at"):
        export_data_command.run(command(export_data_command.configure), empty)


# -- logs ------------------------------------------------------------------------------------------


def test_no_names_or_health_values_in_the_logs(db, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with SessionStore.open(db) as store:
        session_id = record_marker_person(store, seconds=30)
        store.start_session(MARKER_PERSON, "ble", ANN, START)
        store.resume_session(session_id + 1)
        export_person(store, MARKER_PERSON, tmp_path / "export")
        with pytest.raises(ValueError, match="still being recorded"):
            forget_person(store, MARKER_PERSON)
    with SessionStore.open(db) as store:  # a crash left that session open: it can go
        forget_person(store, MARKER_PERSON)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "erased one person's data" in logged and "exported one person's data" in logged
    for secret in ("zz-marker", "173", "Ease off", KEY):
        assert secret not in logged


# -- keys ------------------------------------------------------------------------------------------


def test_the_key_comes_from_the_systemd_credential(tmp_path, monkeypatch):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / CREDENTIAL_NAME).write_text(KEY + "\n")  # as install.sh writes db.key
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert find_key() == bytes.fromhex(KEY)
    key_file = tmp_path / "db.key"
    key_file.write_text(OTHER_KEY + "\n")
    assert find_key(key_file) == bytes.fromhex(KEY)  # the credential comes first
    assert find_key(key_file, key=OTHER_KEY) == bytes.fromhex(OTHER_KEY)  # explicit wins
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    assert find_key(key_file) == bytes.fromhex(OTHER_KEY)
    assert find_key() is None
    with pytest.raises(
        StoreKeyError,
        match="^no database key: systemd's LoadCredential=edgecoach-db-key.*\\[daemon\\] key_file",
    ):
        find_key(required=True)
    with pytest.raises(StoreKeyError, match="does not exist"):
        find_key(tmp_path / "missing.key")
    empty_dir = tmp_path / "other-credentials"  # a credentials dir without ours: the file next
    empty_dir.mkdir()
    assert find_key(key_file, environ={"CREDENTIALS_DIRECTORY": str(empty_dir)}) == bytes.fromhex(
        OTHER_KEY
    )


@pytest.mark.parametrize(
    "content", [KEY[:63] + "\n", KEY + "00\n", "z" * 64 + "\n", "", b"\xff" * 64]
)
def test_a_malformed_key_file_is_refused_without_showing_it(tmp_path, content):
    key_file = tmp_path / "db.key"
    if isinstance(content, bytes):
        key_file.write_bytes(content)
    else:
        key_file.write_text(content)
    with pytest.raises(
        StoreKeyError, match=f"{key_file} does not hold a database key: expected 64 hex digits"
    ) as caught:
        read_key_file(key_file)
    if content and isinstance(content, str):
        assert content.strip() not in str(caught.value)


def test_a_key_file_others_can_read_is_used_with_a_warning(tmp_path, caplog):
    key_file = tmp_path / "db.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    assert read_key_file(key_file) == bytes.fromhex(KEY)
    assert "can be read by other users" in caplog.text
    assert parse_key(f"  {KEY.upper()}\r\n", source="x") == bytes.fromhex(KEY)
