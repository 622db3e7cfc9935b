import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from pathlib import Path

import pytest

from edge.core.cues import Action, Cue, CueKind, Priority
from edge.core.narration import Narration
from edge.profile import Profile
from edge.store import (
    APPLICATION_ID,
    MIGRATIONS,
    FeedbackError,
    SessionStore,
    StoreError,
    StoreFullError,
    StoreKeyError,
)
from edge.store import cipher as store_cipher
from edge.store import sessions as store_sessions
from edge.stream.readings import AlignedSample

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 5, 1, 7, 30, tzinfo=UTC)
ANN = Profile(name="Ann", age=35, resting_hr=52.0, max_hr=188.0)
#: A database key as install.sh writes it (without the newline).
KEY = "5f1c0a3e9b7d2468ace013579bdf2468" * 2
needs_sqlcipher = pytest.mark.skipif(
    find_spec("sqlcipher3") is None, reason="sqlcipher3 is not installed"
)
#: Each test marked with it runs on a plain store and on an encrypted one.
plain_and_encrypted = pytest.mark.parametrize(
    "key", [None, pytest.param(KEY, marks=needs_sqlcipher)], ids=["plain", "encrypted"]
)


def sample(t: int) -> AlignedSample:
    """A deterministic sample per second: every 7th second is a heart-rate gap."""
    if t % 7 == 3:
        return AlignedSample(t, None, (), 158.0, 2.9, 3.1 * t, 2.6 * t, None, True)
    rr = tuple(round(0.5 + 0.001 * k, 3) for k in range(t % 3))
    return AlignedSample(
        t, 120.0 + t % 11, rr, 160.0 + t % 5, 3.1, 3.1 * t, 2.6 * t, t % 2 == 0, False
    )


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "store" / "sessions.db"


def db_bytes(path: Path) -> int:
    """The database's size in pages, counting pages still in the -wal file."""
    with closing(sqlite3.connect(path)) as reader:
        pages = reader.execute("PRAGMA page_count").fetchone()[0]
        return pages * reader.execute("PRAGMA page_size").fetchone()[0]


@plain_and_encrypted
def test_round_trip_of_samples_cues_narrations_and_feedback(db, key):
    samples = [sample(t) for t in range(30)]
    cue = Cue(
        1,
        12,
        CueKind.ZONE_CHANGE,
        Action.HOLD,
        Priority.ZONE,
        {"hr": 151, "zone": 3, "previous_zone": 2, "zone_name": "tempo"},
    )
    silent = Cue(2, 20, CueKind.SENSOR_LOST, Action.CHECK_SENSOR, Priority.SENSOR, {})
    narration = Narration(1, "Zone 3, heart rate 151. Hold it.", "llm", "", 0.8124, 1)
    with SessionStore.open(db, key=key) as store:
        session_id = store.start_session("ann", "simulator", ANN, START)
        for s in samples:
            forecast = {"hr_10s": 150.5, "hr_60s": 160.0} if s.t == 12 else None
            store.add_sample(session_id, s, forecast)
        store.add_cue(session_id, cue)
        store.add_narration(session_id, narration)
        store.add_cue(session_id, silent)
        store.end_session(session_id, START + timedelta(seconds=30), {"duration_s": 30})
        store.add_feedback(session_id, 6, "  legs heavy ")

    with SessionStore.open(db, key=key) as store:
        assert store.samples(session_id) == samples
        assert store.forecasts(session_id) == {12: {"hr_10s": 150.5, "hr_60s": 160.0}}
        assert store.cues(session_id) == [
            {
                **cue.as_dict(),
                "text": narration.text,
                "source": "llm",
                "reason": "",
                "seconds": 0.8124,
                "attempts": 1,
            },
            {
                **silent.as_dict(),
                "text": None,
                "source": None,
                "reason": None,
                "seconds": None,
                "attempts": None,
            },
        ]
        (row,) = store.sessions("ann")
        assert (row.id, row.person, row.source, row.profile) == (
            session_id,
            "ann",
            "simulator",
            ANN,
        )
        assert row.started_at == START and row.ended_at == START + timedelta(seconds=30)
        assert row.summary == {"duration_s": 30}
        assert (row.sample_count, row.last_t, row.ended) == (30, 29, True)
        assert store.open_sessions() == []
        assert store.sessions("bob") == []
        assert [(f["rpe"], f["text"]) for f in store.feedback(session_id)] == [(6, "legs heavy")]


def test_wal_mode_application_id_and_schema_version(db):
    SessionStore.open(db).close()
    with closing(sqlite3.connect(db)) as reader:
        assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert reader.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        versions = reader.execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(n,) for n in range(1, len(MIGRATIONS) + 1)]
    with pytest.raises(ValueError, match="synchronous"):
        SessionStore.open(db, synchronous="OFF")


def test_forward_migration_keeps_the_data(db, monkeypatch):
    with SessionStore.open(db) as store:
        session_id = store.start_session("ann", "replay", ANN, START)
        store.add_sample(session_id, sample(0))
    newer = (*MIGRATIONS, ("ALTER TABLE feedback ADD COLUMN mood TEXT",))
    for module in (store_sessions, store_cipher):  # the schema this edgecoach knows
        monkeypatch.setattr(module, "MIGRATIONS", newer)
    with SessionStore.open(db) as store:
        assert store.samples(session_id) == [sample(0)]
    with closing(sqlite3.connect(db)) as reader:
        assert (
            reader.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            == len(MIGRATIONS) + 1
        )
        columns = [r[1] for r in reader.execute("PRAGMA table_info(feedback)")]
    assert "mood" in columns


def test_a_store_from_before_effort_opens_and_its_samples_read_without_effort(db, monkeypatch):
    # A database written by an edgecoach without power columns (schema version 1).
    for module in (store_sessions, store_cipher):
        monkeypatch.setattr(module, "MIGRATIONS", MIGRATIONS[:1])
    with closing(sqlite3.connect(db.parent.mkdir(parents=True) or db)) as old:
        for statement in MIGRATIONS[0]:
            old.execute(statement)
        old.execute("INSERT INTO schema_version VALUES (1, 'then')")
        old.execute("INSERT INTO people VALUES (1, 'ann', 'then')")
        old.execute(
            "INSERT INTO sessions VALUES (1, 1, 'ble', ?, ?, NULL, NULL)",
            ('{"name": "Ann", "age": 35, "resting_hr": 52.0, "max_hr": 188.0}', START.isoformat()),
        )
        old.execute(
            "INSERT INTO samples VALUES (1, 0, 120.0, '[]', 160.0, 3.1, 0.0, 0.0, 1, 0, NULL)"
        )
        old.commit()
    monkeypatch.undo()
    with SessionStore.open(db) as store:
        (old_sample,) = store.samples(1)
        assert old_sample == AlignedSample(0, 120.0, (), 160.0, 3.1, 0.0, 0.0, True, False)
        assert not old_sample.has_effort
        store.resume_session(1)
        effort = AlignedSample(
            1,
            130.0,
            (),
            88.0,
            None,
            None,
            None,
            True,
            False,
            power_w=212.0,
            machine_speed_mps=9.1,
            incline_pct=None,
            resistance=14.0,
            stroke_rate_spm=None,
            machine_distance_m=120.5,
        )
        store.add_sample(1, effort)
    with SessionStore.open(db) as store:
        assert store.samples(1) == [old_sample, effort]


def test_a_store_from_a_newer_edgecoach_is_refused_untouched(db):
    SessionStore.open(db).close()
    with closing(sqlite3.connect(db)) as writer, writer:
        writer.execute("INSERT INTO schema_version VALUES (99, 'later')")
    before = db.read_bytes()
    with pytest.raises(StoreError, match="newer edgecoach.*upgrade edgecoach"):
        SessionStore.open(db)
    assert db.read_bytes() == before


CHILD = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.test_store import ANN, sample
from edge.store import SessionStore

store = SessionStore.open(Path(sys.argv[1]), key=sys.argv[3] or None)
session_id = store.start_session("ann", "ble", ANN, datetime.now(UTC))
print("S", session_id, flush=True)
t = 0
while True:
    committed = store.add_sample(session_id, sample(t))
    print("A", t, flush=True)
    if committed:
        print("C", t, flush=True)
    t += 1
    time.sleep(0.01)
"""


@plain_and_encrypted
def test_kill_9_mid_session_loses_at_most_the_last_second_and_resumes(db, key):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(REPO), key or ""],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, f"the writer died on its own: {child.stderr.read()}"
            lines.append(line)
            if line.startswith("A ") and int(line.split()[1]) >= 60:
                break  # mid-batch: commits come every ~25 samples at this rate
        else:
            pytest.fail("the writer did not get to t=60 within 10 s")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate(timeout=5)
    assert child.returncode == -signal.SIGKILL
    lines += rest.splitlines()
    session_id = int(lines[0].split()[1])
    added = [int(line.split()[1]) for line in lines if line.startswith("A ")]
    committed = [int(line.split()[1]) for line in lines if line.startswith("C ")]

    with SessionStore.open(db, key=key) as store:
        kept = store.samples(session_id)
        assert kept == [sample(t) for t in range(len(kept))]  # in order, none damaged
        assert kept[-1].t >= committed[-1]  # everything reported committed survived
        # At most the last second of samples (one every ~10 ms) is lost.
        assert max(added) - kept[-1].t <= 100
        assert [row.id for row in store.open_sessions()] == [session_id]

        resume = store.resume_session(session_id)
        assert resume.last_t == kept[-1].t and resume.next_t == kept[-1].t + 1
        assert resume.session.sample_count == len(kept)
        with pytest.raises(ValueError, match="never overwritten"):
            store.add_sample(session_id, sample(resume.last_t))
        store.add_sample(session_id, sample(resume.next_t))
        store.end_session(session_id, datetime.now(UTC), {"resumed": True})
        assert store.open_sessions() == []
        assert store.samples(session_id) == [sample(t) for t in range(resume.next_t + 1)]


def test_disk_full_keeps_rows_in_memory_until_there_is_room(db):
    with SessionStore.open(db, commit_interval_s=0) as store:
        session_id = store.start_session("ann", "ble", ANN, START)
        store.add_sample(session_id, sample(0))
        store.set_max_bytes(db_bytes(db))  # SQLite now reports SQLITE_FULL past this size
        failures: list[StoreFullError] = []
        for t in range(1, 600):
            try:
                store.add_sample(session_id, sample(t))
            except StoreFullError as exc:
                failures.append(exc)
        assert failures, "the size limit was never reached"
        assert "is full" in str(failures[0]) and "kept in memory" in str(failures[0])
        assert failures[-1].pending_rows == store.pending_rows > 0
        with pytest.raises(StoreFullError):
            store.add_cue(
                session_id, Cue(1, 599, CueKind.SENSOR_LOST, Action.CHECK_SENSOR, Priority.SENSOR)
            )
        on_disk = store.samples(session_id)
        assert on_disk == [sample(t) for t in range(len(on_disk))] and len(on_disk) < 600

        store.set_max_bytes(None)  # room is made
        assert store.commit() == 600 - len(on_disk) + 1
        assert store.pending_rows == 0
        assert store.samples(session_id) == [sample(t) for t in range(600)]
        assert [c["id"] for c in store.cues(session_id)] == [1]


def test_the_disk_full_message_names_the_disk(db):
    with SessionStore.open(db, commit_interval_s=0) as store:
        session_id = store.start_session("ann", "ble", ANN, START)
        # A real full disk: no size limit of ours, SQLite clamps this to the current size.
        store._connection().execute("PRAGMA max_page_count = 1")
        with pytest.raises(StoreFullError) as caught:
            for t in range(600):
                store.add_sample(session_id, sample(t))
        assert str(caught.value).startswith(
            f"the disk holding {db} is full: free space; "
            "samples are being kept in memory until then"
        )
        with pytest.raises(StoreError, match=r"^\d+ recorded rows could not be written"):
            store.close()  # still full: what is held is lost, and the caller is told


def test_random_bytes_are_refused_and_left_untouched(db):
    db.parent.mkdir(parents=True)
    db.write_bytes(os.urandom(64 * 1024))
    before = db.read_bytes()
    with pytest.raises(
        StoreError,
        match="not an edgecoach database or is damaged; it was left untouched; move it aside",
    ):
        SessionStore.open(db)
    assert db.read_bytes() == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["sessions.db"]


def test_a_damaged_store_and_another_programs_database_are_refused_untouched(tmp_path):
    damaged = tmp_path / "damaged.db"
    with SessionStore.open(damaged) as store:
        session_id = store.start_session("ann", "ble", ANN, START)
        for t in range(2000):
            store.add_sample(session_id, sample(t))
    data = bytearray(damaged.read_bytes())
    data[4096 * 2 : 4096 * 6] = os.urandom(4096 * 4)
    damaged.write_bytes(bytes(data))

    foreign = tmp_path / "places.sqlite"
    with closing(sqlite3.connect(foreign)) as other, other:
        other.execute("CREATE TABLE places (url TEXT)")

    for path in (damaged, foreign):
        before = path.read_bytes()
        with pytest.raises(StoreError, match="not an edgecoach database or is damaged"):
            SessionStore.open(path)
        assert path.read_bytes() == before


@pytest.mark.parametrize("rpe", [0, 11, -3, 5.5, True, "7"])
def test_rpe_outside_1_to_10_is_refused(db, rpe):
    with SessionStore.open(db) as store:
        session_id = store.start_session("ann", "ble", ANN, START)
        with pytest.raises(FeedbackError, match="RPE must be a whole number from 1"):
            store.add_feedback(session_id, rpe, None)
        assert store.feedback(session_id) == []


def test_feedback_needs_something_and_a_known_session(db):
    with SessionStore.open(db) as store:
        session_id = store.start_session("ann", "ble", ANN, START)
        store.add_feedback(session_id, 1, None)
        store.add_feedback(session_id, 10, None)
        store.add_feedback(session_id, None, "felt easy")
        with pytest.raises(FeedbackError, match="an RPE from 1 to 10, a note, or both"):
            store.add_feedback(session_id, None, "  ")
        with pytest.raises(FeedbackError, match="no session 99"):
            store.add_feedback(99, 5, None)
        assert [(f["rpe"], f["text"]) for f in store.feedback(session_id)] == [
            (1, None),
            (10, None),
            (None, "felt easy"),
        ]


def test_writes_to_sessions_that_are_not_open_are_refused(db):
    with SessionStore.open(db) as store:
        session_id = store.start_session("ann", "ble", ANN, START)
        store.add_cue(
            session_id, Cue(1, 0, CueKind.SENSOR_BACK, Action.INFO, Priority.SENSOR, {"hr": 99})
        )
        with pytest.raises(ValueError, match="already has cue 1"):
            store.add_cue(
                session_id, Cue(1, 0, CueKind.SENSOR_BACK, Action.INFO, Priority.SENSOR, {"hr": 99})
            )
        with pytest.raises(ValueError, match="has no cue 2"):
            store.add_narration(session_id, Narration(2, "Hi.", "template"))
        store.end_session(session_id, START, {})
        with pytest.raises(ValueError, match="not open"):
            store.add_sample(session_id, sample(0))
        with pytest.raises(ValueError, match="start a new session"):
            store.resume_session(session_id)


def test_calls_from_several_threads(db):
    with SessionStore.open(db) as store:
        ids = [
            store.start_session(person, "simulator", ANN, START)
            for person in ("ann", "bob", "cy", "di")
        ]

        def write(session_id: int) -> None:
            for t in range(200):
                store.add_sample(session_id, sample(t))

        with ThreadPoolExecutor(max_workers=len(ids)) as pool:
            for done in [pool.submit(write, session_id) for session_id in ids]:
                done.result()
        for session_id in ids:
            assert store.samples(session_id) == [sample(t) for t in range(200)]
        assert [row.person for row in store.sessions()] == ["ann", "bob", "cy", "di"]


@needs_sqlcipher
def test_an_encrypted_store_keeps_wal_full_sync_and_secure_delete(db):
    with SessionStore.open(db, key=KEY) as store:
        assert store.encrypted
        conn = store._connection()
        assert conn.execute("PRAGMA cipher_version").fetchone()[0]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        session_id = store.start_session("ann", "ble", ANN, START)
        store.add_sample(session_id, sample(0))
        assert db.with_name(db.name + "-wal").stat().st_size > 0
    assert not db.read_bytes().startswith(b"SQLite format 3")
    with pytest.raises(StoreKeyError, match="LoadCredential=edgecoach-db-key"):
        SessionStore.open(db)
    with SessionStore.open(db, key=bytes.fromhex(KEY)) as store:  # raw bytes, the same key
        assert store.samples(session_id) == [sample(0)]


def test_a_plain_store_also_deletes_securely(db):
    with SessionStore.open(db) as store:
        assert not store.encrypted
        conn = store._connection()
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY


@pytest.mark.parametrize("key", ["abc", KEY[:-1] + "g", b"short", 42])
def test_a_malformed_key_is_refused_before_the_file_is_touched(db, key):
    with pytest.raises((StoreKeyError, TypeError)) as caught:
        SessionStore.open(db, key=key)
    if isinstance(key, str):
        assert "64 hex digits" in str(caught.value) and key not in str(caught.value)
    assert not db.parent.exists()


def test_erase_person_deletes_their_rows_and_keeps_the_others(db):
    with SessionStore.open(db) as store:
        ann = store.start_session("ann", "ble", ANN, START)
        bob = store.start_session("bob", "ble", ANN, START)
        for t in range(50):
            store.add_sample(ann, sample(t))
            store.add_sample(bob, sample(t))
        store.add_cue(ann, Cue(1, 3, CueKind.SENSOR_LOST, Action.CHECK_SENSOR, Priority.SENSOR))
        store.add_narration(ann, Narration(1, "Check the strap.", "template"))
        with pytest.raises(ValueError, match="still being recorded"):
            store.erase_person("ann")
        store.end_session(ann, START, {})
        store.add_feedback(ann, 7, "hard")
        store.set_fitness(ann, {"measure": "power", "efficiency_factor": 1.5})
        assert [p.name for p in store.people()] == ["ann", "bob"]
        counts = store.erase_person("ann")
        assert counts == {
            "samples": 50,
            "cues": 1,
            "narrations": 1,
            "feedback": 1,
            "fitness": 1,
            "sessions": 1,
            "people": 1,
        }
        assert store.erase_person("nobody") == dict.fromkeys(counts, 0)
        assert [p.name for p in store.people()] == ["bob"]
        assert [row.id for row in store.sessions()] == [bob]
        assert store.samples(bob) == [sample(t) for t in range(50)]
        assert store.samples(ann) == [] and store.cues(ann) == [] and store.feedback(ann) == []
        assert store.fitness() == {}
        assert db.with_name(db.name + "-wal").stat().st_size == 0
        store.add_sample(bob, sample(50))  # bob's session goes on


def test_a_key_without_sqlcipher_installed_says_what_to_install(db, monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlcipher3", None)  # import sqlcipher3 now fails
    with pytest.raises(
        StoreError,
        match=r"SQLCipher is not installed: pip install "
        r"'sqlcipher3>=0.6.2'",
    ):
        SessionStore.open(db, key=KEY)
    assert not db.exists()
