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
still derives a separate HMAC key from it. `edge.store.keys` finds the key (systemd's credential, a key
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
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from edge.profile import Profile, normalise_name
from edge.store.cipher import (
    _check_existing,
    _encrypt_in_place,
    _errors_of,
    _key_literal,
    _sqlcipher,
    _unlock,
)
from edge.store.errors import FeedbackError, StoreError, StoreFullError, _primary_code, _problem
from edge.store.files import _private_file, _private_folder
from edge.store.schema import (
    _INSERT_CUE,
    _INSERT_NARRATION,
    _INSERT_SAMPLE,
    _SAMPLE_COLUMNS,
    _SESSION_QUERY,
    MIGRATIONS,
    PersonRow,
    ResumeState,
    SessionRow,
    _iso,
    _now,
    _sample_from_row,
    _sample_row,
    _schema_version,
    _session_from_row,
)
from edge.stream.plausible import (
    finite_json,
)
from edge.stream.readings import AlignedSample

if TYPE_CHECKING:  # only their attributes are read; importing them would pull in the narrator
    from edge.core.cues import Cue
    from edge.core.narration import Narration


#: The database file in `[daemon] state_dir`.
DATABASE_NAME = "edgecoach.db"


log = logging.getLogger(__name__)


T = TypeVar("T")


#: Rows held in memory while the store cannot be written (a full disk): 6 hours of samples
#: for four people, about 40 MB. Past it the oldest samples are dropped, and counted.
MAX_PENDING_ROWS = 86_400


@dataclass(slots=True)
class _OpenSession:
    last_t: int | None = None
    cue_ids: set[int] = field(default_factory=set)
    narrated: set[int] = field(default_factory=set)


class SessionStore:
    """One SQLite file of sessions. Use `SessionStore.open(path)`; `close()` when done."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: Path,
        *,
        commit_interval_s: float,
        max_bytes: int | None,
        errors: tuple[type[Exception], ...] = (sqlite3.Error,),
    ) -> None:
        self.path = path
        self.commit_interval_s = commit_interval_s
        self._conn: sqlite3.Connection | None = connection
        self._lock = threading.RLock()
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._open: dict[int, _OpenSession] = {}
        self._last_attempt = float("-inf")
        self._failing = False
        #: Samples dropped while the disk was full (more than MAX_PENDING_ROWS waited).
        self.dropped_rows = 0
        self._max_bytes = max_bytes
        self._page_size = 4096
        self._default_max_pages = 0
        #: The driver's error classes: sqlite3's, and sqlcipher3's for an encrypted store.
        self._errors = errors
        #: Whether the file is encrypted (opened with a key through SQLCipher).
        self.encrypted = False

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        key: str | bytes | None = None,
        synchronous: str = "FULL",
        commit_interval_s: float = 0.25,
        max_bytes: int | None = None,
        create: bool = True,
    ) -> SessionStore:
        """Open the store at `path`, creating the file, its folder and the schema as needed.

        `key` encrypts the store with SQLCipher: 64 hex digits as text, or the 32 raw bytes
        (`edge.store.keys.find_key` finds it); None keeps it plain SQLite. A wrong or missing key for
        an encrypted file is a `StoreKeyError`, and the file is left untouched. `synchronous` is
        "FULL" (survives power loss, the default) or "NORMAL" (survives a killed process only;
        see the module docstring). `max_bytes` caps the file's size: past it, commits fail as
        if the disk were full. A new file is created readable by its owner only (0600), in a
        new folder only its owner may enter (0700): it holds health data. With `create` False
        (the commands that only read) a missing file is not created: the store opens empty,
        in memory, and nothing is written to disk.
        """
        path = Path(path)
        synchronous = synchronous.upper()
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        if commit_interval_s < 0:
            raise ValueError("commit_interval_s must not be negative")
        literal = None if key is None else _key_literal(key)
        if not create and not path.exists():
            return cls._empty(path)
        try:
            _private_folder(path.parent)
            existing = path.exists() and path.stat().st_size > 0
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder for {path}: {exc.strerror}; "
                "choose a writable location for the store",
                path=path,
            ) from exc
        driver = sqlite3 if literal is None else _sqlcipher(path)
        errors = _errors_of(driver)
        if existing and _check_existing(path, driver, literal) and literal is not None:
            _encrypt_in_place(path, driver, literal)
        try:
            _private_file(path)
            connection = driver.connect(
                str(path), timeout=5.0, isolation_level=None, check_same_thread=False
            )
        except OSError as exc:
            raise StoreError(
                f"cannot create {path}: {exc.strerror}; choose a writable location for the store",
                path=path,
            ) from exc
        except errors as exc:
            raise StoreError(_problem(exc, path, max_bytes), path=path) from exc
        store = cls(
            connection,
            path,
            commit_interval_s=commit_interval_s,
            max_bytes=max_bytes,
            errors=errors,
        )
        try:
            store._prepare(synchronous, literal)
        except BaseException:
            connection.close()
            store._conn = None
            raise
        return store

    @classmethod
    def _empty(cls, path: Path) -> SessionStore:
        """An empty store in memory standing for `path`, which does not exist: a command that
        only reads sees no sessions, and no file appears as a side effect of reading."""
        connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        store = cls(connection, path, commit_interval_s=0.0, max_bytes=None)
        connection.execute("PRAGMA foreign_keys = ON")
        store._migrate()
        log.debug("%s does not exist: reading an empty store", path)
        return store

    def _prepare(self, synchronous: str, literal: str | None) -> None:
        conn = self._connection()
        try:
            if literal is not None:
                _unlock(conn, literal, self.path, self._errors)
                self.encrypted = True
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(
                    f"SQLite could not put {self.path} in WAL mode (it stays in "
                    f"{mode} mode): keep the store on a local disk, not a network "
                    "share",
                    path=self.path,
                )
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
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version + 1, _now()),
                )
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
                raise StoreError(
                    f"{lost} recorded rows could not be written to {self.path} "
                    f"before it was closed and are lost: {failure.args[0]}",
                    path=self.path,
                ) from failure

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def start_session(
        self, person: str, source: str, profile: Profile, started_at: datetime
    ) -> int:
        """Record a new session for `person` (created on first use) and return its id.

        Written at once; if that fails (disk full) no session exists and StoreError says why.
        """
        person = normalise_name(person)
        if not person:
            raise ValueError("a session needs the name of the person it belongs to")
        profile_json = json.dumps(dataclasses.asdict(profile))
        started = _iso(started_at)

        def insert(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO people (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (person, _now()),
            )
            (person_id,) = conn.execute(
                "SELECT id FROM people WHERE name = ?", (person,)
            ).fetchone()
            cursor = conn.execute(
                "INSERT INTO sessions (person_id, source, profile, started_at) VALUES (?, ?, ?, ?)",
                (person_id, source, profile_json, started),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        with self._lock:
            session_id = self._write(insert)
            self._open[session_id] = _OpenSession()
            return session_id

    def add_sample(
        self, session_id: int, sample: AlignedSample, forecast: Mapping[str, Any] | None = None
    ) -> bool:
        """Append one sample; returns True when this call committed it (and all before it).

        Samples are appended in order of `t` and never overwrite: a `t` at or before the last
        one is a ValueError. A failed commit raises StoreError and keeps the rows in memory.
        """
        with self._lock:
            state = self._state(session_id)
            if state.last_t is not None and sample.t <= state.last_t:
                raise ValueError(
                    f"session {session_id} already has samples up to "
                    f"t={state.last_t}; samples are appended, never overwritten "
                    f"(got t={sample.t})"
                )
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
            self._pending.append(
                (
                    _INSERT_CUE,
                    (
                        session_id,
                        cue.id,
                        cue.t,
                        str(cue.kind.value),
                        str(cue.action.value),
                        cue.priority.name.lower(),
                        json.dumps(finite_json(dict(cue.facts))),
                    ),
                )
            )
            state.cue_ids.add(cue.id)
            self._write()

    def add_narration(self, session_id: int, narration: Narration) -> None:
        """Record the words spoken for a cue already added, and where they came from."""
        with self._lock:
            state = self._state(session_id)
            if narration.cue_id not in state.cue_ids:
                raise ValueError(
                    f"session {session_id} has no cue {narration.cue_id}: "
                    "add the cue before its narration"
                )
            if narration.cue_id in state.narrated:
                raise ValueError(
                    f"cue {narration.cue_id} of session {session_id} already has its narration"
                )
            self._pending.append(
                (
                    _INSERT_NARRATION,
                    (
                        session_id,
                        narration.cue_id,
                        narration.text,
                        narration.source,
                        narration.reason,
                        float(narration.seconds),
                        int(narration.attempts),
                    ),
                )
            )
            state.narrated.add(narration.cue_id)
            self._write()

    def end_session(self, session_id: int, ended_at: datetime, summary: Mapping[str, Any]) -> None:
        """Mark the session ended with its summary; no more samples are accepted for it."""
        with self._lock:
            self._state(session_id)
            self._pending.append(
                (
                    "UPDATE sessions SET ended_at = ?, summary = ? WHERE id = ?",
                    (_iso(ended_at), json.dumps(finite_json(dict(summary))), session_id),
                )
            )
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
                raise FeedbackError(
                    f"RPE must be a whole number from 1 (very easy) to 10 (all-out); got {rpe!r}",
                    path=self.path,
                )
            rpe = operator.index(rpe)
        text = text.strip() if text is not None else None
        if rpe is None and not text:
            raise FeedbackError(
                "feedback needs an RPE from 1 to 10, a note, or both", path=self.path
            )
        with self._lock:
            known = (
                self._connection()
                .execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,))
                .fetchone()
            )
            if known is None:
                raise FeedbackError(
                    f"there is no session {session_id} in {self.path}: "
                    "list the sessions to find its number",
                    path=self.path,
                )
            self._pending.append(
                (
                    "INSERT INTO feedback (session_id, rpe, text, created_at) VALUES (?, ?, ?, ?)",
                    (session_id, rpe, text or None, _now()),
                )
            )
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
                raise ValueError(
                    f"session {session_id} ended at {row.ended_at.isoformat()}; "
                    "start a new session instead of resuming it"
                )
            conn = self._connection()
            cue_ids = {
                r[0]
                for r in conn.execute("SELECT cue_id FROM cues WHERE session_id = ?", (session_id,))
            }
            narrated = {
                r[0]
                for r in conn.execute(
                    "SELECT cue_id FROM narrations WHERE session_id = ?", (session_id,)
                )
            }
            state = self._open.setdefault(session_id, _OpenSession())
            state.cue_ids |= cue_ids
            state.narrated |= narrated
            if row.last_t is not None and (state.last_t is None or row.last_t > state.last_t):
                state.last_t = row.last_t
            log.info("%s: resuming session %d after t=%s", self.path, session_id, state.last_t)
            return ResumeState(
                session=row, last_t=state.last_t, last_cue_id=max(state.cue_ids, default=None)
            )

    # -- reading -------------------------------------------------------------------------------
    # Reads first try to write what is pending; if that fails they show what is on disk.

    def sessions(self, person: str | None = None) -> list[SessionRow]:
        if person is None:
            return self._sessions("", ())
        return self._sessions("WHERE p.name = ?", (normalise_name(person),))

    def samples(self, session_id: int) -> list[AlignedSample]:
        """The session's samples in order of t."""
        rows = self._query(
            f"SELECT {_SAMPLE_COLUMNS} FROM samples WHERE session_id = ? ORDER BY t", (session_id,)
        )
        return [_sample_from_row(row) for row in rows]

    def forecasts(self, session_id: int) -> dict[int, dict[str, Any]]:
        """The forecasts stored with the session's samples, by t."""
        rows = self._query(
            "SELECT t, forecast FROM samples WHERE session_id = ?"
            " AND forecast IS NOT NULL ORDER BY t",
            (session_id,),
        )
        return {t: finite_json(json.loads(forecast)) for t, forecast in rows}

    def cues(self, session_id: int) -> list[dict[str, Any]]:
        """Each cue as `Cue.as_dict()` plus its narration's text, source, reason, seconds and
        attempts (None where the cue has no narration), in order of cue id."""
        rows = self._query(
            "SELECT c.cue_id, c.t, c.kind, c.action, c.priority, c.facts, n.text, n.source,"
            " n.reason, n.seconds, n.attempts FROM cues c LEFT JOIN narrations n"
            " ON n.session_id = c.session_id AND n.cue_id = c.cue_id"
            " WHERE c.session_id = ? ORDER BY c.cue_id",
            (session_id,),
        )
        keys = (
            "id",
            "t",
            "kind",
            "action",
            "priority",
            "facts",
            "text",
            "source",
            "reason",
            "seconds",
            "attempts",
        )
        cues = [dict(zip(keys, row, strict=True)) for row in rows]
        for cue in cues:
            cue["facts"] = finite_json(json.loads(cue["facts"]))
        return cues

    def feedback(self, session_id: int) -> list[dict[str, Any]]:
        """The feedback given for a session, oldest first."""
        rows = self._query(
            "SELECT rpe, text, created_at FROM feedback WHERE session_id = ? ORDER BY id",
            (session_id,),
        )
        return [
            {"rpe": rpe, "text": text, "created_at": datetime.fromisoformat(created)}
            for rpe, text, created in rows
        ]

    def set_fitness(self, session_id: int, markers: Mapping[str, Any]) -> None:
        """Store (or replace) a session's fitness markers (`edge.reports.fitness`), as JSON."""
        with self._lock:
            self._session_row(session_id)  # an unknown session is a clear error
            self._pending.append(
                (
                    "INSERT OR REPLACE INTO fitness (session_id, markers, computed_at)"
                    " VALUES (?, ?, ?)",
                    (session_id, json.dumps(finite_json(dict(markers))), _now()),
                )
            )
            self._write()

    def fitness(self, person: str | None = None) -> dict[int, dict[str, Any]]:
        """Stored fitness markers by session id: `person`'s, or everyone's with None."""
        sql = "SELECT f.session_id, f.markers FROM fitness f"
        params: tuple[Any, ...] = ()
        if person is not None:
            sql += (
                " JOIN sessions s ON s.id = f.session_id JOIN people p ON p.id = s.person_id"
                " WHERE p.name = ?"
            )
            params = (normalise_name(person),)
        return {session_id: json.loads(markers) for session_id, markers in self._query(sql, params)}

    def people(self) -> list[PersonRow]:
        """Everyone the store holds sessions for, in the order they were first seen."""
        rows = self._query("SELECT id, name, created_at FROM people ORDER BY id", ())
        return [
            PersonRow(id=pid, name=name, created_at=datetime.fromisoformat(created))
            for pid, name, created in rows
        ]

    # -- erasing -------------------------------------------------------------------------------

    def erase_person(self, person: str) -> dict[str, int]:
        """Delete every row about `person` for good; returns the rows deleted per table.

        Their samples, cues, narrations, feedback, fitness markers, sessions and their name go; then the -wal
        is checkpointed and truncated, the file VACUUMed and the -wal truncated again, so no
        copy of the rows stays in the file, the -wal or free pages (see the module docstring).
        Rows pending for other people are written first. A person unknown to the store deletes
        nothing, and the file is still cleaned. Refused (ValueError) while one of the person's
        sessions is open in this store; StoreError when another connection (another edgecoach)
        keeps the -wal from being emptied: stop it and erase again.
        """
        person = normalise_name(person)
        with self._lock:
            conn = self._connection()
            own = {
                row[0]
                for row in self._query(
                    "SELECT s.id FROM sessions s JOIN people p ON p.id = s.person_id"
                    " WHERE p.name = ?",
                    (person,),
                )
            }
            if busy := sorted(own & self._open.keys()):
                raise ValueError(
                    f"session {busy[0]} of this person is still being recorded: "
                    "end it (stop edgecoach) before erasing their data"
                )
            self._checkpoint("before erasing")  # another writer: refuse before deleting

            def delete(conn: sqlite3.Connection) -> dict[str, int]:
                found = conn.execute("SELECT id FROM people WHERE name = ?", (person,)).fetchone()
                counts = dict.fromkeys(
                    ("samples", "cues", "narrations", "feedback", "fitness", "sessions", "people"),
                    0,
                )
                if found is None:
                    return counts
                theirs = "session_id IN (SELECT id FROM sessions WHERE person_id = ?)"
                for table in ("narrations", "cues", "samples", "feedback", "fitness"):
                    counts[table] = conn.execute(
                        f"DELETE FROM {table} WHERE {theirs}", found
                    ).rowcount
                counts["sessions"] = conn.execute(
                    "DELETE FROM sessions WHERE person_id = ?", found
                ).rowcount
                counts["people"] = conn.execute("DELETE FROM people WHERE id = ?", found).rowcount
                return counts

            counts = self._write(delete)
            assert counts is not None
            try:
                self._checkpoint("after deleting the rows")
                conn.execute("VACUUM")
                self._checkpoint("after VACUUM")
                free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            except self._errors as exc:
                raise StoreError(
                    _problem(exc, self.path, self._max_bytes) + "; the rows are "
                    "deleted but copies may remain in the file until the erase "
                    "is run again",
                    path=self.path,
                ) from exc
            if free:
                raise StoreError(
                    f"{self.path} still has {free} free pages after VACUUM; run the erase again",
                    path=self.path,
                )
            return counts

    def _checkpoint(self, when: str) -> None:
        """Copy the -wal into the file and truncate it to 0 bytes, or raise StoreError."""
        try:
            busy, _, _ = self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except self._errors as exc:
            raise StoreError(_problem(exc, self.path, self._max_bytes), path=self.path) from exc
        if busy:
            raise StoreError(
                f"cannot empty {self.path}-wal {when}: another program has the "
                "store open (edgecoach run?): stop it (sudo systemctl stop "
                "edgecoach) and try again",
                path=self.path,
            )

    # -- internals -----------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the store at {self.path} is closed", path=self.path)
        return self._conn

    def _state(self, session_id: int) -> _OpenSession:
        state = self._open.get(session_id)
        if state is None:
            raise ValueError(
                f"session {session_id} is not open in this store: start it, or "
                "resume it if a crash left it unfinished"
            )
        return state

    def _write(self, then: Callable[[sqlite3.Connection], T] | None = None) -> T | None:
        """Write every pending row, then run `then`, in one transaction; keep the rows on error.

        Rows that conflict with the store (their session was erased under a running daemon)
        are dropped, with a line saying so, and the others written: one person's trouble never
        costs another person's samples. While the disk is full the rows wait in memory, at
        most `MAX_PENDING_ROWS`: past that the oldest samples are dropped, and counted."""
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
            code = _primary_code(exc)
            if code == sqlite3.SQLITE_CONSTRAINT and self._drop_conflicting(conn):
                return self._write(then)
            problem = _problem(exc, self.path, self._max_bytes)
            kind = StoreFullError if code == sqlite3.SQLITE_FULL else StoreError
            self._bound_pending()
            held = len(self._pending)
            tail = (
                f"; samples are being kept in memory until then ({held} rows waiting; "
                "they are lost if edgecoach stops before they are written)"
            )
            if self.dropped_rows:
                tail += f"; {self.dropped_rows} older samples could not be kept and are not stored"
            if not self._failing:
                log.warning("%s", problem)
            self._failing = True
            raise kind(problem + (tail if held else ""), path=self.path, pending_rows=held) from exc
        if self._failing:
            lost = (
                f"; {self.dropped_rows} samples recorded while it failed could not be kept "
                "and are not stored"
                if self.dropped_rows
                else ""
            )
            log.warning(
                "%s is writable again: %d waiting rows written%s",
                self.path,
                len(self._pending),
                lost,
            )
            self._failing = False
        self._pending.clear()
        return result

    @property
    def failing(self) -> bool:
        """True from a failed write until the next write that succeeds."""
        return self._failing

    def _drop_conflicting(self, conn: sqlite3.Connection) -> int:
        """Drop the pending rows that the store refuses (a constraint), keep the others;
        returns how many were dropped."""
        refused: list[int] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for index, (sql, params) in enumerate(self._pending):
                conn.execute("SAVEPOINT one_row")
                try:
                    conn.execute(sql, params)
                except self._errors as exc:
                    if _primary_code(exc) != sqlite3.SQLITE_CONSTRAINT:
                        raise
                    refused.append(index)
                    conn.execute("ROLLBACK TO one_row")
                conn.execute("RELEASE one_row")
        except self._errors:
            return 0
        finally:
            self._rollback(conn)
        if not refused:
            return 0
        sessions = sorted({self._pending[i][1][0] for i in refused})
        log.error(
            "%s: %d recorded rows of session(s) %s conflict with the store (was the "
            "session erased while edgecoach recorded it?) and are dropped; the other "
            "rows are written",
            self.path,
            len(refused),
            ", ".join(str(s) for s in sessions),
        )
        gone = set(refused)
        self._pending = [row for i, row in enumerate(self._pending) if i not in gone]
        return len(refused)

    def _bound_pending(self) -> None:
        """Keep at most MAX_PENDING_ROWS waiting: drop the oldest samples past that."""
        excess = len(self._pending) - MAX_PENDING_ROWS
        if excess <= 0:
            return
        kept: list[tuple[str, tuple[Any, ...]]] = []
        for sql, params in self._pending:
            if excess and sql is _INSERT_SAMPLE:
                excess -= 1
                self.dropped_rows += 1
                continue
            kept.append((sql, params))
        self._pending = kept

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
                raise StoreError(_problem(exc, self.path, self._max_bytes), path=self.path) from exc

    def _sessions(self, where: str, params: tuple[Any, ...]) -> list[SessionRow]:
        rows = self._query(f"{_SESSION_QUERY} {where} ORDER BY s.id", params)
        return [_session_from_row(row) for row in rows]

    def _session_row(self, session_id: int) -> SessionRow:
        found = self._sessions("WHERE s.id = ?", (session_id,))
        if not found:
            raise ValueError(f"there is no session {session_id} in {self.path}")
        return found[0]

    def _apply_max_bytes(self) -> None:
        pages = (
            self._default_max_pages
            if self._max_bytes is None
            else max(1, self._max_bytes // self._page_size)
        )
        self._connection().execute(f"PRAGMA max_page_count = {int(pages)}")
