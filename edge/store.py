"""The session store: people, sessions, samples, cues, spoken words and feedback, in SQLite.

Durability. The database runs in WAL mode and samples are committed as they arrive.
`add_sample` commits whenever `commit_interval_s` (0.25 s) has passed since the last attempt, so
a live 1 Hz stream commits every sample and a replay running faster than real time commits four
times a second; rows added in between wait in memory for the next `add_sample`, `commit()` or any
other write. Once a commit returns, its rows are in the -wal file: a killed process (kill -9, a
crash, the OOM killer) loses only rows added after the last commit, at most the last second of a
live stream, whatever `synchronous` says. `synchronous` decides what power loss does. With NORMAL
the -wal file is fsynced only at checkpoints, so a dead battery or a pulled plug can take the
last seconds to minutes of commits with it (the file stays consistent). With FULL every commit
fsyncs the -wal file and power loss takes only uncommitted rows. Measured on the development
machine (x86 VM, virtio disk, SQLite 3.40, `add_sample` committing every sample): NORMAL
0.036 ms per sample, FULL 0.16 ms per sample; batched at the default interval, 0.011 ms. At one
commit a second FULL costs about 0.02 % of a worker thread here, and even an SD card's fsync
(several ms, not measured) stays under 1 %, so FULL is the default.

Threads. Every call blocks on disk I/O. The store holds one connection, opened with
`check_same_thread=False`, and every public method runs under one lock, so any thread may call
it; the daemon calls it from a single worker thread (`asyncio.to_thread` or a one-thread
executor), never on the event loop.

Errors. SQLite errors become a `StoreError` whose message says what to do. When a commit fails
(disk full, file turned read-only, I/O error) the rows stay in memory and are written by the next
commit, so nothing recorded is lost while the process lives; `StoreFullError` marks the disk-full
case. A file that is not an edgecoach database, or is damaged, is refused at `open` without being
written to.

Encryption. With a key, `open` goes through SQLCipher (the `sqlcipher3` module, the same API as
sqlite3): every page of the file and of its -wal is AES-256 encrypted and authenticated; the
-shm file holds only page numbers. The key is 32 random bytes, used as a raw key
(`PRAGMA key = "x'<hex>'"`), so there is no passphrase derivation to pay for on a Pi; SQLCipher
still derives a separate HMAC key from it. `edge.keys` finds the key (systemd's credential, a key
file). An encrypted file looks like random bytes, so a file without the SQLite header is taken to
be encrypted when its size is a whole number of pages; opening it without a key, or with a key
that does not decrypt its first page, raises `StoreKeyError` and leaves it untouched. A plain
edgecoach store opened with a key is encrypted once, in place: written anew through
`sqlcipher_export`, renamed over the old file, and the old file's blocks overwritten with zeros
(a best effort: flash storage may keep copies of the old blocks). Without a key the store is
plain SQLite, as for tests and development.

Erasing. Every connection runs with `secure_delete = ON` (deleted rows are overwritten with
zeros) and `temp_store = MEMORY` (VACUUM's copy of the database never touches /tmp).
`erase_person` deletes a person's rows, then checkpoints the -wal into the file and truncates it,
then VACUUMs (no free pages left) and truncates the -wal again, so no copy of the rows remains in
the file, its -wal or its free pages.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import operator
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from edge.errors import EdgecoachError
from edge.profile import Profile
from edge.stream.readings import AlignedSample

if TYPE_CHECKING:  # only their attributes are read; importing them would pull in the narrator
    from edge.core.cues import Cue
    from edge.core.narration import Narration

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "MISSING_KEY_HINT",
    "FeedbackError",
    "PersonRow",
    "ResumeState",
    "SessionRow",
    "SessionStore",
    "StoreError",
    "StoreFullError",
    "StoreKeyError",
]

#: The database file in `[daemon] state_dir`.
DATABASE_NAME = "edgecoach.db"

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Written into the SQLite header (PRAGMA application_id) so that edgecoach knows its own files.
APPLICATION_ID = 0x45444743  # "EDGC"
SQLITE_MAGIC = b"SQLite format 3\x00"
#: SQLCipher writes pages of 4096 bytes (SQLCipher 3: 1024), so an encrypted file's size is a
#: multiple of this; it is the only thing that tells an encrypted file from other bytes.
_CIPHER_PAGE_MULTIPLE = 1024
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")

#: Where the database key comes from; said whenever the key is missing.
MISSING_KEY_HINT = (
    "systemd's LoadCredential=edgecoach-db-key (edgecoach.service, from /etc/edgecoach/db.key) "
    "hands the daemon its key as $CREDENTIALS_DIRECTORY/edgecoach-db-key; outside the service, "
    "set [daemon] key_file to a file holding the key (64 hex digits)"
)

#: Forward migrations: entry N-1 takes the schema from version N-1 to N, in one transaction.
#: Never edit a released entry; append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the first schema
        f"PRAGMA application_id = {APPLICATION_ID}",
        """CREATE TABLE schema_version (
            version INTEGER PRIMARY KEY,
            applied_at TEXT NOT NULL)""",
        """CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL)""",
        # profile: JSON, the Profile as it was when the session started. ended_at stays NULL
        # until end_session, so a crashed session is one with no end.
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id),
            source TEXT NOT NULL,
            profile TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            summary TEXT)""",
        "CREATE INDEX sessions_by_person ON sessions(person_id)",
        # rr_intervals_s: JSON list; contact and hr_gap: 0/1 (contact NULL when unknown);
        # forecast: JSON object or NULL.
        """CREATE TABLE samples (
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            t INTEGER NOT NULL,
            hr_bpm REAL,
            rr_intervals_s TEXT NOT NULL,
            cadence_spm REAL,
            speed_mps REAL,
            distance_m REAL,
            steps REAL,
            contact INTEGER,
            hr_gap INTEGER NOT NULL,
            forecast TEXT,
            PRIMARY KEY (session_id, t)) WITHOUT ROWID""",
        """CREATE TABLE cues (
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            cue_id INTEGER NOT NULL,
            t INTEGER NOT NULL,
            kind TEXT NOT NULL,
            action TEXT NOT NULL,
            priority TEXT NOT NULL,
            facts TEXT NOT NULL,
            PRIMARY KEY (session_id, cue_id))""",
        """CREATE TABLE narrations (
            session_id INTEGER NOT NULL,
            cue_id INTEGER NOT NULL,
            text TEXT NOT NULL,
            source TEXT NOT NULL,
            reason TEXT NOT NULL,
            seconds REAL NOT NULL,
            attempts INTEGER NOT NULL,
            PRIMARY KEY (session_id, cue_id),
            FOREIGN KEY (session_id, cue_id) REFERENCES cues(session_id, cue_id))""",
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            rpe INTEGER CHECK (rpe BETWEEN 1 AND 10),
            text TEXT,
            created_at TEXT NOT NULL)""",
    ),
)

_INSERT_SAMPLE = (
    "INSERT INTO samples (session_id, t, hr_bpm, rr_intervals_s, cadence_spm, speed_mps,"
    " distance_m, steps, contact, hr_gap, forecast) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CUE = (
    "INSERT INTO cues (session_id, cue_id, t, kind, action, priority, facts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_NARRATION = (
    "INSERT INTO narrations (session_id, cue_id, text, source, reason, seconds, attempts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SAMPLE_COLUMNS = (
    "t, hr_bpm, rr_intervals_s, cadence_spm, speed_mps, distance_m, steps, contact, hr_gap"
)
_SESSION_QUERY = """
    SELECT s.id, p.name, s.source, s.profile, s.started_at, s.ended_at, s.summary,
           (SELECT count(*) FROM samples WHERE session_id = s.id),
           (SELECT max(t) FROM samples WHERE session_id = s.id)
    FROM sessions s JOIN people p ON p.id = s.person_id
"""


class StoreError(EdgecoachError):
    """The session store cannot be opened, read or written."""

    def __init__(self, message: str, *, path: Path | None = None, pending_rows: int = 0) -> None:
        self.path = path
        #: Rows recorded but not yet written, held in memory for the next commit.
        self.pending_rows = pending_rows
        super().__init__(message)


class StoreFullError(StoreError):
    """The disk (or the store's size limit) is full; the rows wait in memory for room."""


class StoreKeyError(StoreError):
    """The database key is missing, malformed, or does not open the store."""

    #: Restarting will not bring the key (systemd: RestartPreventExitStatus=2).
    exit_code = 2


class FeedbackError(StoreError, ValueError):
    """Feedback that cannot be recorded as given (an RPE outside 1..10, an unknown session)."""


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: int
    name: str
    #: When their first session was recorded.
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: int
    person: str
    #: Where the samples came from ("ble", "replay", "simulator", ...), as the caller named it.
    source: str
    #: The profile as it was when the session started.
    profile: Profile
    started_at: datetime
    #: None while the session runs, and for ever after a crash until it is resumed and ended.
    ended_at: datetime | None
    summary: dict[str, Any] | None
    #: Samples on disk.
    sample_count: int
    last_t: int | None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


@dataclass(frozen=True, slots=True)
class ResumeState:
    """Where a restarted daemon picks a session up: it appends after `last_t`, never over it."""

    session: SessionRow
    #: Session second of the last sample written, None when there is none yet.
    last_t: int | None
    #: Highest cue id recorded, None when there is none: new cues need higher ids.
    last_cue_id: int | None

    @property
    def next_t(self) -> int:
        return 0 if self.last_t is None else self.last_t + 1


@dataclass(slots=True)
class _OpenSession:
    last_t: int | None = None
    cue_ids: set[int] = field(default_factory=set)
    narrated: set[int] = field(default_factory=set)


class SessionStore:
    """One SQLite file of sessions. Use `SessionStore.open(path)`; `close()` when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path, *, commit_interval_s: float,
                 max_bytes: int | None,
                 errors: tuple[type[Exception], ...] = (sqlite3.Error,)) -> None:
        self.path = path
        self.commit_interval_s = commit_interval_s
        self._conn: sqlite3.Connection | None = connection
        self._lock = threading.RLock()
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._open: dict[int, _OpenSession] = {}
        self._last_attempt = float("-inf")
        self._failing = False
        self._max_bytes = max_bytes
        self._page_size = 4096
        self._default_max_pages = 0
        #: The driver's error classes: sqlite3's, and sqlcipher3's for an encrypted store.
        self._errors = errors
        #: Whether the file is encrypted (opened with a key through SQLCipher).
        self.encrypted = False

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, key: str | bytes | None = None, synchronous: str = "FULL",
             commit_interval_s: float = 0.25, max_bytes: int | None = None) -> SessionStore:
        """Open the store at `path`, creating the file, its folder and the schema as needed.

        `key` encrypts the store with SQLCipher: 64 hex digits as text, or the 32 raw bytes
        (`edge.keys.find_key` finds it); None keeps it plain SQLite. A wrong or missing key for
        an encrypted file is a `StoreKeyError`, and the file is left untouched. `synchronous` is
        "FULL" (survives power loss, the default) or "NORMAL" (survives a killed process only;
        see the module docstring). `max_bytes` caps the file's size: past it, commits fail as
        if the disk were full.
        """
        path = Path(path)
        synchronous = synchronous.upper()
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        if commit_interval_s < 0:
            raise ValueError("commit_interval_s must not be negative")
        literal = None if key is None else _key_literal(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            existing = path.exists() and path.stat().st_size > 0
        except OSError as exc:
            raise StoreError(f"cannot create the folder for {path}: {exc.strerror}; "
                             "choose a writable location for the store", path=path) from exc
        driver = sqlite3 if literal is None else _sqlcipher(path)
        errors = _errors_of(driver)
        if existing and _check_existing(path, driver, literal) and literal is not None:
            _encrypt_in_place(path, driver, literal)
        try:
            connection = driver.connect(str(path), timeout=5.0, isolation_level=None,
                                        check_same_thread=False)
        except errors as exc:
            raise StoreError(_problem(exc, path, max_bytes), path=path) from exc
        store = cls(connection, path, commit_interval_s=commit_interval_s, max_bytes=max_bytes,
                    errors=errors)
        try:
            store._prepare(synchronous, literal)
        except BaseException:
            connection.close()
            store._conn = None
            raise
        return store

    def _prepare(self, synchronous: str, literal: str | None) -> None:
        conn = self._connection()
        try:
            if literal is not None:
                _unlock(conn, literal, self.path, self._errors)
                self.encrypted = True
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"SQLite could not put {self.path} in WAL mode (it stays in "
                                 f"{mode} mode): keep the store on a local disk, not a network "
                                 "share", path=self.path)
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA temp_store = MEMORY")
            self._page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            self._default_max_pages = conn.execute("PRAGMA max_page_count").fetchone()[0]
            self._apply_max_bytes()
            self._migrate()
        except self._errors as exc:
            raise StoreError(_problem(exc, self.path, self._max_bytes), path=self.path) from exc

    def _migrate(self) -> None:
        conn = self._connection()
        while True:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = _schema_version(conn)
                if version >= len(MIGRATIONS):
                    conn.execute("COMMIT")
                    return
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                             (version + 1, _now()))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            log.info("%s: schema migrated to version %d", self.path, version + 1)

    def close(self) -> None:
        """Write what is pending and close. Raises StoreError if rows had to be dropped."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            failure: StoreError | None = None
            lost = 0
            try:
                if self._pending:
                    self._write()
            except StoreError as exc:
                failure, lost = exc, len(self._pending)
            finally:
                self._pending.clear()
                self._open.clear()
                self._conn = None
                conn.close()
            if failure is not None:
                raise StoreError(f"{lost} recorded rows could not be written to {self.path} "
                                 f"before it was closed and are lost: {failure.args[0]}",
                                 path=self.path) from failure

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def start_session(self, person: str, source: str, profile: Profile,
                      started_at: datetime) -> int:
        """Record a new session for `person` (created on first use) and return its id.

        Written at once; if that fails (disk full) no session exists and StoreError says why.
        """
        person = person.strip()
        if not person:
            raise ValueError("a session needs the name of the person it belongs to")
        profile_json = json.dumps(dataclasses.asdict(profile))
        started = _iso(started_at)

        def insert(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO people (name, created_at) VALUES (?, ?)"
                         " ON CONFLICT (name) DO NOTHING", (person, _now()))
            (person_id,) = conn.execute("SELECT id FROM people WHERE name = ?",
                                        (person,)).fetchone()
            cursor = conn.execute("INSERT INTO sessions (person_id, source, profile, started_at)"
                                  " VALUES (?, ?, ?, ?)",
                                  (person_id, source, profile_json, started))
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        with self._lock:
            session_id = self._write(insert)
            self._open[session_id] = _OpenSession()
            return session_id

    def add_sample(self, session_id: int, sample: AlignedSample,
                   forecast: Mapping[str, Any] | None = None) -> bool:
        """Append one sample; returns True when this call committed it (and all before it).

        Samples are appended in order of `t` and never overwrite: a `t` at or before the last
        one is a ValueError. A failed commit raises StoreError and keeps the rows in memory.
        """
        with self._lock:
            state = self._state(session_id)
            if state.last_t is not None and sample.t <= state.last_t:
                raise ValueError(f"session {session_id} already has samples up to "
                                 f"t={state.last_t}; samples are appended, never overwritten "
                                 f"(got t={sample.t})")
            self._pending.append((_INSERT_SAMPLE, _sample_row(session_id, sample, forecast)))
            state.last_t = sample.t
            if time.monotonic() - self._last_attempt < self.commit_interval_s:
                return False
            self._write()
            return True

    def add_cue(self, session_id: int, cue: Cue) -> None:
        """Record a cue and its facts; committed at once."""
        with self._lock:
            state = self._state(session_id)
            if cue.id in state.cue_ids:
                raise ValueError(f"session {session_id} already has cue {cue.id}")
            self._pending.append((
                _INSERT_CUE,
                (session_id, cue.id, cue.t, str(cue.kind.value), str(cue.action.value),
                 cue.priority.name.lower(), json.dumps(dict(cue.facts))),
            ))
            state.cue_ids.add(cue.id)
            self._write()

    def add_narration(self, session_id: int, narration: Narration) -> None:
        """Record the words spoken for a cue already added, and where they came from."""
        with self._lock:
            state = self._state(session_id)
            if narration.cue_id not in state.cue_ids:
                raise ValueError(f"session {session_id} has no cue {narration.cue_id}: "
                                 "add the cue before its narration")
            if narration.cue_id in state.narrated:
                raise ValueError(f"cue {narration.cue_id} of session {session_id} "
                                 "already has its narration")
            self._pending.append((
                _INSERT_NARRATION,
                (session_id, narration.cue_id, narration.text, narration.source,
                 narration.reason, float(narration.seconds), int(narration.attempts)),
            ))
            state.narrated.add(narration.cue_id)
            self._write()

    def end_session(self, session_id: int, ended_at: datetime,
                    summary: Mapping[str, Any]) -> None:
        """Mark the session ended with its summary; no more samples are accepted for it."""
        with self._lock:
            self._state(session_id)
            self._pending.append((
                "UPDATE sessions SET ended_at = ?, summary = ? WHERE id = ?",
                (_iso(ended_at), json.dumps(dict(summary)), session_id),
            ))
            del self._open[session_id]
            self._write()

    def add_feedback(self, session_id: int, rpe: int | None, text: str | None) -> None:
        """Record how the session felt: RPE 1 (very easy) to 10 (all-out), a note, or both."""
        if rpe is not None:
            try:
                valid = not isinstance(rpe, bool) and 1 <= operator.index(rpe) <= 10
            except TypeError:
                valid = False
            if not valid:
                raise FeedbackError("RPE must be a whole number from 1 (very easy) to 10 "
                                    f"(all-out); got {rpe!r}", path=self.path)
            rpe = operator.index(rpe)
        text = text.strip() if text is not None else None
        if rpe is None and not text:
            raise FeedbackError("feedback needs an RPE from 1 to 10, a note, or both",
                                path=self.path)
        with self._lock:
            known = self._connection().execute("SELECT 1 FROM sessions WHERE id = ?",
                                               (session_id,)).fetchone()
            if known is None:
                raise FeedbackError(f"there is no session {session_id} in {self.path}: "
                                    "list the sessions to find its number", path=self.path)
            self._pending.append((
                "INSERT INTO feedback (session_id, rpe, text, created_at) VALUES (?, ?, ?, ?)",
                (session_id, rpe, text or None, _now()),
            ))
            self._write()

    def commit(self) -> int:
        """Write every pending row now; returns how many were written."""
        with self._lock:
            count = len(self._pending)
            if count:
                self._write()
            return count

    @property
    def pending_rows(self) -> int:
        """Rows recorded but not yet on disk."""
        return len(self._pending)

    def set_max_bytes(self, max_bytes: int | None) -> None:
        """Cap the file at about `max_bytes` (None: no cap beyond SQLite's own)."""
        with self._lock:
            self._max_bytes = max_bytes
            try:
                self._apply_max_bytes()
            except self._errors as exc:
                raise StoreError(_problem(exc, self.path, max_bytes), path=self.path) from exc

    # -- resuming after a crash ----------------------------------------------------------------

    def open_sessions(self) -> list[SessionRow]:
        """Sessions never ended: after a daemon restart, the ones a crash cut short."""
        return self._sessions("WHERE s.ended_at IS NULL", ())

    def resume_session(self, session_id: int) -> ResumeState:
        """Open a session that was never ended so new samples append after its last one."""
        with self._lock:
            self._flush_for_read()
            row = self._session_row(session_id)
            if row.ended:
                raise ValueError(f"session {session_id} ended at {row.ended_at.isoformat()}; "
                                 "start a new session instead of resuming it")
            conn = self._connection()
            cue_ids = {r[0] for r in conn.execute(
                "SELECT cue_id FROM cues WHERE session_id = ?", (session_id,))}
            narrated = {r[0] for r in conn.execute(
                "SELECT cue_id FROM narrations WHERE session_id = ?", (session_id,))}
            state = self._open.setdefault(session_id, _OpenSession())
            state.cue_ids |= cue_ids
            state.narrated |= narrated
            if row.last_t is not None and (state.last_t is None or row.last_t > state.last_t):
                state.last_t = row.last_t
            log.info("%s: resuming session %d after t=%s", self.path, session_id, state.last_t)
            return ResumeState(session=row, last_t=state.last_t,
                               last_cue_id=max(state.cue_ids, default=None))

    # -- reading -------------------------------------------------------------------------------
    # Reads first try to write what is pending; if that fails they show what is on disk.

    def sessions(self, person: str | None = None) -> list[SessionRow]:
        if person is None:
            return self._sessions("", ())
        return self._sessions("WHERE p.name = ?", (person,))

    def samples(self, session_id: int) -> list[AlignedSample]:
        """The session's samples in order of t."""
        rows = self._query(f"SELECT {_SAMPLE_COLUMNS} FROM samples WHERE session_id = ?"
                           " ORDER BY t", (session_id,))
        return [_sample_from_row(row) for row in rows]

    def forecasts(self, session_id: int) -> dict[int, dict[str, Any]]:
        """The forecasts stored with the session's samples, by t."""
        rows = self._query("SELECT t, forecast FROM samples WHERE session_id = ?"
                           " AND forecast IS NOT NULL ORDER BY t", (session_id,))
        return {t: json.loads(forecast) for t, forecast in rows}

    def cues(self, session_id: int) -> list[dict[str, Any]]:
        """Each cue as `Cue.as_dict()` plus its narration's text, source, reason, seconds and
        attempts (None where the cue has no narration), in order of cue id."""
        rows = self._query(
            "SELECT c.cue_id, c.t, c.kind, c.action, c.priority, c.facts, n.text, n.source,"
            " n.reason, n.seconds, n.attempts FROM cues c LEFT JOIN narrations n"
            " ON n.session_id = c.session_id AND n.cue_id = c.cue_id"
            " WHERE c.session_id = ? ORDER BY c.cue_id", (session_id,))
        keys = ("id", "t", "kind", "action", "priority", "facts", "text", "source", "reason",
                "seconds", "attempts")
        cues = [dict(zip(keys, row, strict=True)) for row in rows]
        for cue in cues:
            cue["facts"] = json.loads(cue["facts"])
        return cues

    def feedback(self, session_id: int) -> list[dict[str, Any]]:
        """The feedback given for a session, oldest first."""
        rows = self._query("SELECT rpe, text, created_at FROM feedback WHERE session_id = ?"
                           " ORDER BY id", (session_id,))
        return [{"rpe": rpe, "text": text, "created_at": datetime.fromisoformat(created)}
                for rpe, text, created in rows]

    def people(self) -> list[PersonRow]:
        """Everyone the store holds sessions for, in the order they were first seen."""
        rows = self._query("SELECT id, name, created_at FROM people ORDER BY id", ())
        return [PersonRow(id=pid, name=name, created_at=datetime.fromisoformat(created))
                for pid, name, created in rows]

    # -- erasing -------------------------------------------------------------------------------

    def erase_person(self, person: str) -> dict[str, int]:
        """Delete every row about `person` for good; returns the rows deleted per table.

        Their samples, cues, narrations, feedback, sessions and their name go; then the -wal
        is checkpointed and truncated, the file VACUUMed and the -wal truncated again, so no
        copy of the rows stays in the file, the -wal or free pages (see the module docstring).
        Rows pending for other people are written first. A person unknown to the store deletes
        nothing, and the file is still cleaned. Refused (ValueError) while one of the person's
        sessions is open in this store; StoreError when another connection (another edgecoach)
        keeps the -wal from being emptied: stop it and erase again.
        """
        with self._lock:
            conn = self._connection()
            own = {row[0] for row in self._query(
                "SELECT s.id FROM sessions s JOIN people p ON p.id = s.person_id"
                " WHERE p.name = ?", (person,))}
            if busy := sorted(own & self._open.keys()):
                raise ValueError(f"session {busy[0]} of this person is still being recorded: "
                                 "end it (stop edgecoach) before erasing their data")
            self._checkpoint("before erasing")  # another writer: refuse before deleting

            def delete(conn: sqlite3.Connection) -> dict[str, int]:
                found = conn.execute("SELECT id FROM people WHERE name = ?",
                                     (person,)).fetchone()
                counts = dict.fromkeys(("samples", "cues", "narrations", "feedback",
                                        "sessions", "people"), 0)
                if found is None:
                    return counts
                theirs = "session_id IN (SELECT id FROM sessions WHERE person_id = ?)"
                for table in ("narrations", "cues", "samples", "feedback"):
                    counts[table] = conn.execute(f"DELETE FROM {table} WHERE {theirs}",
                                                 found).rowcount
                counts["sessions"] = conn.execute("DELETE FROM sessions WHERE person_id = ?",
                                                  found).rowcount
                counts["people"] = conn.execute("DELETE FROM people WHERE id = ?",
                                                found).rowcount
                return counts

            counts = self._write(delete)
            assert counts is not None
            try:
                self._checkpoint("after deleting the rows")
                conn.execute("VACUUM")
                self._checkpoint("after VACUUM")
                free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            except self._errors as exc:
                raise StoreError(_problem(exc, self.path, self._max_bytes) + "; the rows are "
                                 "deleted but copies may remain in the file until the erase "
                                 "is run again", path=self.path) from exc
            if free:
                raise StoreError(f"{self.path} still has {free} free pages after VACUUM; run "
                                 "the erase again", path=self.path)
            return counts

    def _checkpoint(self, when: str) -> None:
        """Copy the -wal into the file and truncate it to 0 bytes, or raise StoreError."""
        try:
            busy, _, _ = self._connection().execute(
                "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except self._errors as exc:
            raise StoreError(_problem(exc, self.path, self._max_bytes),
                             path=self.path) from exc
        if busy:
            raise StoreError(f"cannot empty {self.path}-wal {when}: another program has the "
                             "store open (edgecoach run?): stop it (sudo systemctl stop "
                             "edgecoach) and try again", path=self.path)

    # -- internals -----------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the store at {self.path} is closed", path=self.path)
        return self._conn

    def _state(self, session_id: int) -> _OpenSession:
        state = self._open.get(session_id)
        if state is None:
            raise ValueError(f"session {session_id} is not open in this store: start it, or "
                             "resume it if a crash left it unfinished")
        return state

    def _write(self, then: Callable[[sqlite3.Connection], T] | None = None) -> T | None:
        """Write every pending row, then run `then`, in one transaction; keep the rows on error."""
        conn = self._connection()
        self._last_attempt = time.monotonic()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for sql, params in self._pending:
                conn.execute(sql, params)
            result = then(conn) if then is not None else None
            conn.execute("COMMIT")
        except BaseException as exc:
            self._rollback(conn)
            if not isinstance(exc, self._errors):
                raise
            problem = _problem(exc, self.path, self._max_bytes)
            kind = StoreFullError if _primary_code(exc) == sqlite3.SQLITE_FULL else StoreError
            if not self._failing:
                log.warning("%s", problem)
            self._failing = True
            held = len(self._pending)
            tail = f"; samples are being kept in memory until then ({held} rows waiting)"
            raise kind(problem + (tail if held else ""), path=self.path,
                       pending_rows=held) from exc
        if self._failing:
            log.warning("%s is writable again: %d waiting rows written",
                        self.path, len(self._pending))
            self._failing = False
        self._pending.clear()
        return result

    def _rollback(self, conn: sqlite3.Connection) -> None:
        # SQLite rolls some failures (SQLITE_FULL among them) back by itself.
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except self._errors:
                log.exception("rollback failed")

    def _flush_for_read(self) -> None:
        if self._pending:
            try:
                self._write()
            except StoreError as exc:
                log.debug("reading without the rows still pending: %s", exc)

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            self._flush_for_read()
            try:
                return self._connection().execute(sql, params).fetchall()
            except self._errors as exc:
                raise StoreError(_problem(exc, self.path, self._max_bytes),
                                 path=self.path) from exc

    def _sessions(self, where: str, params: tuple[Any, ...]) -> list[SessionRow]:
        rows = self._query(f"{_SESSION_QUERY} {where} ORDER BY s.id", params)
        return [_session_from_row(row) for row in rows]

    def _session_row(self, session_id: int) -> SessionRow:
        found = self._sessions("WHERE s.id = ?", (session_id,))
        if not found:
            raise ValueError(f"there is no session {session_id} in {self.path}")
        return found[0]

    def _apply_max_bytes(self) -> None:
        pages = (self._default_max_pages if self._max_bytes is None
                 else max(1, self._max_bytes // self._page_size))
        self._connection().execute(f"PRAGMA max_page_count = {int(pages)}")


# -- checks and conversions (pure, or reading only) --------------------------------------------

def _check_existing(path: Path, driver: ModuleType, literal: str | None) -> bool:
    """Refuse a file that is not an edgecoach database, is damaged, or that the key does not
    open, without writing to it. True when it is a plain (unencrypted) SQLite file."""
    damaged = StoreError(f"{path} is not an edgecoach database or is damaged; it was left "
                         "untouched; move it aside and edgecoach will start a new one",
                         path=path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}; check its permissions",
                         path=path) from exc
    plain = head == SQLITE_MAGIC
    if not plain:
        if size % _CIPHER_PAGE_MULTIPLE:  # not whole pages: not an SQLCipher file either
            raise damaged
        if literal is None:
            raise StoreKeyError(
                f"no database key to open {path}: it is not a plain SQLite file, so either it "
                f"is encrypted ({MISSING_KEY_HINT}), or it is not an edgecoach database or is "
                "damaged; it was left untouched; move it aside only if it is not encrypted, "
                "and edgecoach will start a new one", path=path)
    # Read-only: this connection never writes the file, nor checkpoints a -wal into it.
    uri = f"{path.resolve().as_uri()}?mode=ro"
    reader = sqlite3 if plain else driver
    errors = _errors_of(reader)
    try:
        check = reader.connect(uri, uri=True, timeout=5.0)
    except errors as exc:
        raise StoreError(_problem(exc, path, None), path=path) from exc
    try:
        if not plain:
            assert literal is not None
            _unlock(check, literal, path, errors)
        verdict = check.execute("PRAGMA quick_check").fetchall()
        application_id = check.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in check.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = _schema_version(check) if "schema_version" in tables else 0
    except errors as exc:
        if _primary_code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            raise damaged from exc
        raise StoreError(_problem(exc, path, None), path=path) from exc
    finally:
        check.close()
    if verdict != [("ok",)]:
        raise damaged
    if application_id != APPLICATION_ID and (application_id != 0 or tables):
        raise damaged
    if version > len(MIGRATIONS):
        raise StoreError(f"{path} was written by a newer edgecoach (schema version {version}; "
                         f"this one knows up to {len(MIGRATIONS)}): upgrade edgecoach; the file "
                         "was left untouched", path=path)
    return plain


def _key_literal(key: str | bytes) -> str:
    """The key as SQLCipher's raw-key literal, x'<64 hex digits>'; never shown in a message."""
    if isinstance(key, bytes | bytearray):
        if len(key) != 32:
            raise StoreKeyError(f"a database key is 32 bytes (64 hex digits), not {len(key)} "
                                "bytes")
        return f"x'{bytes(key).hex()}'"
    if isinstance(key, str):
        text = key.strip()
        if not _HEX_KEY.fullmatch(text):
            raise StoreKeyError(f"a database key is 64 hex digits (32 bytes); this one has "
                                f"{len(text)} characters"
                                + ("" if len(text) != 64 else ", not all of them hex digits"))
        return f"x'{text.lower()}'"
    raise TypeError(f"a database key is str (hex) or bytes, not {type(key).__name__}")


def _sqlcipher(path: Path) -> ModuleType:
    try:
        from sqlcipher3 import dbapi2
    except ImportError as exc:
        raise StoreError(f"{path} is to be encrypted but SQLCipher is not installed: "
                         "pip install 'sqlcipher3>=0.6.2'", path=path) from exc
    return dbapi2


def _errors_of(driver: ModuleType) -> tuple[type[Exception], ...]:
    return (sqlite3.Error,) if driver is sqlite3 else (sqlite3.Error, driver.Error)


def _unlock(conn: Any, literal: str, path: Path, errors: tuple[type[Exception], ...]) -> None:
    """Give an SQLCipher connection its key, before anything else, and check that it opens."""
    conn.execute("PRAGMA cipher_log_level = NONE")  # our errors say it; no stderr noise
    conn.execute(f'PRAGMA key = "{literal}"')
    row = conn.execute("PRAGMA cipher_version").fetchone()
    if not row or not row[0]:  # a plain SQLite under the sqlcipher3 name: it would not encrypt
        raise StoreError(f"the sqlcipher3 module in use does not encrypt (no cipher_version), "
                         f"so {path} is not opened; reinstall it: pip install --force-reinstall "
                         "'sqlcipher3>=0.6.2'", path=path)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except errors as exc:
        if _primary_code(exc) == sqlite3.SQLITE_NOTADB:
            raise StoreKeyError(f"the database key does not open {path}: wrong key; the file "
                                "was left untouched; give edgecoach the key it was created "
                                "with (or move the file aside to start an empty store)",
                                path=path) from exc
        raise


def _encrypt_in_place(path: Path, driver: ModuleType, literal: str) -> None:
    """Turn the plain store at `path` into an encrypted one, crash-safe, and wipe the old file.

    The encrypted copy is written beside it and renamed over it; the old file, no longer
    linked, is then overwritten with zeros through a descriptor kept open across the rename.
    """
    errors = _errors_of(driver)
    staging = path.with_name(path.name + ".encrypting")
    for leftover in (staging, *_sidecars(staging)):
        leftover.unlink(missing_ok=True)
    log.warning("%s is not encrypted: encrypting it with the database key (once)", path)
    try:
        source = driver.connect(str(path), timeout=5.0, isolation_level=None)
        try:
            source.execute("ATTACH DATABASE ? AS encrypted KEY ?", (str(staging), literal))
            source.execute("SELECT sqlcipher_export('encrypted')")
            source.execute(f"PRAGMA encrypted.application_id = {APPLICATION_ID}")
            source.execute("DETACH DATABASE encrypted")
        finally:
            source.close()
    except errors as exc:
        staging.unlink(missing_ok=True)
        raise StoreError(_problem(exc, path, None) + "; it was left as it was",
                         path=path) from exc
    if any(p.exists() for p in _sidecars(path)):
        staging.unlink(missing_ok=True)
        raise StoreError(f"cannot encrypt {path} while another program has it open: stop it "
                         "and open the store again; it was left as it was", path=path)
    try:
        with staging.open("rb+") as handle:
            info = path.stat()  # keep the owner and mode: root may be running this
            os.fchmod(handle.fileno(), info.st_mode & 0o7777)
            if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                os.fchown(handle.fileno(), info.st_uid, info.st_gid)
            os.fsync(handle.fileno())
        old = os.open(path, os.O_RDWR)
        try:
            os.replace(staging, path)
            _fsync_folder(path.parent)
            _zero(old)
        finally:
            os.close(old)
    except OSError as exc:
        raise StoreError(f"cannot replace {path} by its encrypted copy: {exc.strerror}; check "
                         "the folder's permissions and free space", path=path) from exc


def _sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _zero(fd: int) -> None:
    size = os.fstat(fd).st_size
    block = bytes(1 << 20)
    os.lseek(fd, 0, os.SEEK_SET)
    written = 0
    while written < size:
        written += os.write(fd, block[:min(len(block), size - written)])
    os.fsync(fd)


def _schema_version(conn: sqlite3.Connection) -> int:
    known = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                         " AND name = 'schema_version'").fetchone()
    if known is None:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _problem(exc: sqlite3.Error, path: Path, max_bytes: int | None) -> str:
    """What went wrong with the store and what a person can do about it."""
    code = _primary_code(exc)
    if code == sqlite3.SQLITE_FULL:
        if max_bytes is not None:
            return (f"{path} has reached its size limit of {max_bytes} bytes, or the disk "
                    "holding it is full: free space or raise the limit")
        return f"the disk holding {path} is full: free space"
    if code == sqlite3.SQLITE_READONLY:
        return (f"{path} cannot be written (the file, its folder or its disk is read-only): "
                "make it writable")
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return (f"{path} is not an edgecoach database or is damaged: stop edgecoach and move "
                "it aside")
    if code == sqlite3.SQLITE_IOERR:
        return f"the disk holding {path} failed to read or write ({exc}): check the disk"
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return (f"{path} is locked by another program (another edgecoach?): stop it or use "
                "another store")
    if code == sqlite3.SQLITE_CANTOPEN:
        return f"cannot open {path}: check that its folder exists and is writable"
    if code == sqlite3.SQLITE_CONSTRAINT:
        return (f"rows for {path} conflict with rows already there ({exc}): is another "
                "edgecoach writing to the same store?")
    return f"SQLite error on {path}: {exc}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(moment: datetime) -> str:
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, got {type(moment).__name__}")
    return moment.isoformat()


def _sample_row(session_id: int, sample: AlignedSample,
                forecast: Mapping[str, Any] | None) -> tuple[Any, ...]:
    return (
        session_id, int(sample.t), sample.hr_bpm,
        json.dumps([float(rr) for rr in sample.rr_intervals_s]),
        sample.cadence_spm, sample.speed_mps, sample.distance_m, sample.steps,
        None if sample.contact is None else int(sample.contact), int(sample.hr_gap),
        None if forecast is None else json.dumps(dict(forecast)),
    )


def _sample_from_row(row: tuple[Any, ...]) -> AlignedSample:
    t, hr, rr, cadence, speed, distance, steps, contact, gap = row
    return AlignedSample(
        t=t, hr_bpm=hr, rr_intervals_s=tuple(float(x) for x in json.loads(rr)),
        cadence_spm=cadence, speed_mps=speed, distance_m=distance, steps=steps,
        contact=None if contact is None else bool(contact), hr_gap=bool(gap),
    )


def _session_from_row(row: tuple[Any, ...]) -> SessionRow:
    session_id, person, source, profile, started, ended, summary, count, last_t = row
    known = {f.name for f in dataclasses.fields(Profile)}
    profile_fields = {k: v for k, v in json.loads(profile).items() if k in known}
    return SessionRow(
        id=session_id, person=person, source=source, profile=Profile(**profile_fields),
        started_at=datetime.fromisoformat(started),
        ended_at=None if ended is None else datetime.fromisoformat(ended),
        summary=None if summary is None else json.loads(summary),
        sample_count=count, last_t=last_t,
    )
