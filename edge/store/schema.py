"""The store's tables, their migrations, and conversions between rows and values (pure)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edge.profile import Profile
from edge.stream.plausible import (
    CADENCE_SPM,
    DISTANCE_M,
    EFFORT_RANGES,
    HR_BPM,
    SPEED_MPS,
    STEPS,
    finite_json,
    plausible,
    plausible_rr,
)
from edge.stream.readings import EFFORT_FIELDS, AlignedSample

#: Written into the SQLite header (PRAGMA application_id) so that edgecoach knows its own files.
APPLICATION_ID = 0x45444743  # "EDGC"


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
    (  # 2: effort from power meters and fitness machines; NULL in every older sample
        "ALTER TABLE samples ADD COLUMN power_w REAL",
        "ALTER TABLE samples ADD COLUMN machine_speed_mps REAL",
        "ALTER TABLE samples ADD COLUMN incline_pct REAL",
        "ALTER TABLE samples ADD COLUMN resistance REAL",
        "ALTER TABLE samples ADD COLUMN stroke_rate_spm REAL",
        "ALTER TABLE samples ADD COLUMN machine_distance_m REAL",
    ),
    (  # 3: fitness markers per session (`edge.reports.fitness`): JSON, made when it ended
        """CREATE TABLE fitness (
            session_id INTEGER PRIMARY KEY REFERENCES sessions(id),
            markers TEXT NOT NULL,
            computed_at TEXT NOT NULL)""",
    ),
)


_INSERT_SAMPLE = (
    "INSERT INTO samples (session_id, t, hr_bpm, rr_intervals_s, cadence_spm, speed_mps,"
    " distance_m, steps, contact, hr_gap, forecast, " + ", ".join(EFFORT_FIELDS) + ")"
    " VALUES (" + ", ".join("?" * (11 + len(EFFORT_FIELDS))) + ")"
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
    "t, hr_bpm, rr_intervals_s, cadence_spm, speed_mps, distance_m, steps, contact, hr_gap, "
    + ", ".join(EFFORT_FIELDS)
)


_SESSION_QUERY = """
    SELECT s.id, p.name, s.source, s.profile, s.started_at, s.ended_at, s.summary,
           (SELECT count(*) FROM samples WHERE session_id = s.id),
           (SELECT max(t) FROM samples WHERE session_id = s.id)
    FROM sessions s JOIN people p ON p.id = s.person_id
"""


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


def _schema_version(conn: sqlite3.Connection) -> int:
    known = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if known is None:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(moment: datetime) -> str:
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, got {type(moment).__name__}")
    return moment.isoformat()


def _sample_row(
    session_id: int, sample: AlignedSample, forecast: Mapping[str, Any] | None
) -> tuple[Any, ...]:
    # Only plausible values go in (edge.stream.plausible): a heart rate out of range is a gap.
    hr = plausible(sample.hr_bpm, HR_BPM)
    return (
        session_id,
        int(sample.t),
        hr,
        json.dumps(list(plausible_rr(sample.rr_intervals_s))),
        plausible(sample.cadence_spm, CADENCE_SPM),
        plausible(sample.speed_mps, SPEED_MPS),
        plausible(sample.distance_m, DISTANCE_M),
        plausible(sample.steps, STEPS),
        None if sample.contact is None else int(sample.contact),
        int(sample.hr_gap or hr is None),
        None if forecast is None else json.dumps(finite_json(dict(forecast))),
        *(plausible(getattr(sample, name), EFFORT_RANGES[name]) for name in EFFORT_FIELDS),
    )


def _sample_from_row(row: tuple[Any, ...]) -> AlignedSample:
    # Checked again on the way out: a store written before the checks may hold anything.
    t, hr, rr, cadence, speed, distance, steps, contact, gap = row[:9]
    effort = {
        name: plausible(value, EFFORT_RANGES[name])
        for name, value in zip(EFFORT_FIELDS, row[9:], strict=True)
    }
    hr = plausible(hr, HR_BPM)
    return AlignedSample(
        t=t,
        hr_bpm=hr,
        rr_intervals_s=plausible_rr(json.loads(rr)),
        cadence_spm=plausible(cadence, CADENCE_SPM),
        speed_mps=plausible(speed, SPEED_MPS),
        distance_m=plausible(distance, DISTANCE_M),
        steps=plausible(steps, STEPS),
        contact=None if contact is None else bool(contact),
        hr_gap=bool(gap) or hr is None,
        **effort,
    )


def _session_from_row(row: tuple[Any, ...]) -> SessionRow:
    session_id, person, source, profile, started, ended, summary, count, last_t = row
    known = {f.name for f in dataclasses.fields(Profile)}
    profile_fields = {k: v for k, v in json.loads(profile).items() if k in known}
    return SessionRow(
        id=session_id,
        person=person,
        source=source,
        profile=Profile(**profile_fields),
        started_at=datetime.fromisoformat(started),
        ended_at=None if ended is None else datetime.fromisoformat(ended),
        summary=None if summary is None else finite_json(json.loads(summary)),
        sample_count=count,
        last_t=last_t,
    )
