"""A person's rights over their data: erasing it (`edgecoach forget`) and handing all of it over
in open formats (`edgecoach export-data`).

`forget_person` deletes everything the store holds about someone and leaves no copy behind in
the database file, its -wal or its free pages (`SessionStore.erase_person`). `export_person`
writes `person.json` (who they are, every session with its profile, summary, cues with their
facts and spoken words, feedback), one CSV of samples per session, and a README.txt saying what
each file and column holds.

Logs never carry a person's name or health values: what a log says is kept in the journal long
after the person is forgotten. Names and numbers go only to the terminal that asked for them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.health.personal_kinetics import kinetics_path
from edge.store import PersonRow, SessionStore, StoreError
from edge.stream.readings import AlignedSample

if TYPE_CHECKING:
    pass

__all__ = [
    "EXPORT_FORMAT_VERSION",
    "ForgetReport",
    "UnknownPersonError",
    "export_person",
    "forget_person",
]

log = logging.getLogger(__name__)

#: `format_version` in person.json; raised when a field changes meaning or goes away.
EXPORT_FORMAT_VERSION = 1
_SAMPLE_COLUMNS = (
    "t_s",
    "hr_bpm",
    "rr_intervals_s",
    "cadence_spm",
    "speed_mps",
    "distance_m",
    "steps",
    "contact",
    "hr_gap",
)


class UnknownPersonError(StoreError, LookupError):
    """No one of that name in the store."""


@dataclass(frozen=True, slots=True)
class ForgetReport:
    """What `forget_person` erased."""

    person: str
    sessions: int
    samples: int
    cues: int
    narrations: int
    feedback: int
    #: Bytes in the database file and its -wal before, and after (VACUUMed, -wal empty).
    bytes_before: int
    bytes_after: int
    #: Sessions' fitness markers, and files of the person's own state (their learnt heart
    #: kinetics) deleted beside the store.
    fitness: int = 0
    state_files: int = 0


# -- forget ------------------------------------------------------------------------------------


def forget_person(store: SessionStore, person: str) -> ForgetReport:
    """Erase everything `store` holds about `person`, for good.

    Their samples, cues, spoken words, feedback, sessions and name are deleted with
    secure_delete on, the -wal is checkpointed and truncated, and the file is VACUUMed, so no
    recoverable copy remains in the file, the -wal or free pages. Other people's data is kept.
    UnknownPersonError when there is no one called `person`; ValueError while one of their
    sessions is being recorded by this store.
    """
    known_person(store, person)
    before = _size(store.path)
    counts = store.erase_person(person)
    state_files = _erase_state(kinetics_path(store.path.parent, person))
    report = ForgetReport(
        person=person,
        sessions=counts["sessions"],
        samples=counts["samples"],
        cues=counts["cues"],
        narrations=counts["narrations"],
        feedback=counts["feedback"],
        bytes_before=before,
        bytes_after=_size(store.path),
        fitness=counts.get("fitness", 0),
        state_files=state_files,
    )
    log.info(
        "erased one person's data: %d sessions, %d samples, %d cues",
        report.sessions,
        report.samples,
        report.cues,
    )
    return report


def _erase_state(path: Path) -> int:
    """Delete one of the person's state files and their folder once it is empty; 1 if a file
    was there."""
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise StoreError(
            f"cannot delete {path}: {exc.strerror}; delete it by hand", path=path
        ) from exc
    try:
        path.parent.rmdir()
    except OSError:
        pass  # other files of theirs (or none of our business) remain
    return 1


def export_person(store: SessionStore, person: str, out_dir: Path) -> list[Path]:
    """Write everything `store` holds about `person` into `out_dir` in open formats.

    person.json, one `session-<id>-samples.csv` per session, and README.txt describing them;
    returns their paths in that order. The folder is created (mode 0700) and the files are
    readable by their owner only: they are health data. Files of an earlier export there are
    overwritten. UnknownPersonError when there is no one called `person`.
    """
    row = known_person(store, person)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create {out_dir}: {exc.strerror}; choose another --out folder", path=store.path
        ) from exc
    sessions = []
    sample_files: list[Path] = []
    latest_profile = None
    total = 0
    fitness = store.fitness(person)
    for session in store.sessions(person):
        samples = store.samples(session.id)
        total += len(samples)
        csv_path = out_dir / f"session-{session.id}-samples.csv"
        _write_private(csv_path, _samples_csv(samples, store.forecasts(session.id)))
        sample_files.append(csv_path)
        latest_profile = dataclasses.asdict(session.profile)
        sessions.append(
            {
                "id": session.id,
                "source": session.source,
                "started_at": session.started_at.isoformat(),
                "ended_at": None if session.ended_at is None else session.ended_at.isoformat(),
                "profile": dataclasses.asdict(session.profile),
                "summary": session.summary,
                "sample_count": session.sample_count,
                "last_t_s": session.last_t,
                "samples_file": csv_path.name,
                "cues": store.cues(session.id),
                "fitness": fitness.get(session.id),
                "feedback": [
                    {**f, "created_at": f["created_at"].isoformat()}
                    for f in store.feedback(session.id)
                ],
            }
        )
    document = {
        "format": "edgecoach personal data export",
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(),
        "person": {"name": row.name, "first_seen_at": row.created_at.isoformat()},
        "profile": latest_profile,
        "heart_kinetics": _heart_kinetics(store, person),
        "sessions": sessions,
    }
    person_json = out_dir / "person.json"
    _write_private(person_json, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    readme = out_dir / "README.txt"
    _write_private(readme, _README)
    log.info("exported one person's data: %d sessions, %d samples", len(sessions), total)
    return [person_json, *sample_files, readme]


def _heart_kinetics(store: SessionStore, person: str) -> Any:
    """The person's learnt heart kinetics as saved beside the store, or None."""
    path = kinetics_path(store.path.parent, person)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return {"unreadable": f"{path.name}: {exc}"}


def known_person(store: SessionStore, person: str) -> PersonRow:
    """`person`'s row in the store; UnknownPersonError, naming who is there, if none."""
    people = store.people()
    for row in people:
        if row.name == person:
            return row
    held = ", ".join(repr(row.name) for row in people) or "no one yet"
    raise UnknownPersonError(
        f"there is no one called {person!r} in {store.path} (it holds {held})", path=store.path
    )


def _size(path: Path) -> int:
    """Bytes in the database file and its -wal."""
    total = 0
    for part in (path, path.with_name(path.name + "-wal")):
        try:
            total += part.stat().st_size
        except OSError:
            pass
    return total


def folder_name(person: str) -> str:
    """A folder name for `person` that stays inside --out: no separators, no leading dot."""
    name = re.sub(r"[^\w.-]+", "_", person).lstrip(".")
    return name or "person"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    return str(value)


def _samples_csv(samples: list[AlignedSample], forecasts: dict[int, dict[str, Any]]) -> str:
    keys: list[str] = []
    for forecast in forecasts.values():
        keys += [k for k in forecast if k not in keys]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*_SAMPLE_COLUMNS, *(f"forecast_{k}" for k in keys)])
    for s in samples:
        forecast = forecasts.get(s.t, {})
        writer.writerow(
            [
                _cell(s.t),
                _cell(s.hr_bpm),
                " ".join(_cell(float(rr)) for rr in s.rr_intervals_s),
                _cell(s.cadence_spm),
                _cell(s.speed_mps),
                _cell(s.distance_m),
                _cell(s.steps),
                _cell(s.contact),
                _cell(s.hr_gap),
                *(_cell(forecast.get(k)) for k in keys),
            ]
        )
    return buffer.getvalue()


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
    except OSError as exc:
        raise StoreError(
            f"cannot write {path}: {exc.strerror}; choose another --out folder", path=path
        ) from exc


_README = """\
edgecoach personal data export
==============================

Everything edgecoach stored about one person on this device, in open formats. These files hold
health data (heart rate, heart-rate variability, effort): keep them as safe as you would a
medical record.

person.json (UTF-8 JSON)
  format, format_version  what this file is; the version changes if a field changes meaning
  exported_at             when this export was made (ISO 8601, UTC)
  person                  name, and first_seen_at: when their first session was recorded
  profile                 the profile of the latest session: name, age, resting_hr (bpm),
                          max_hr (bpm; null: estimated from age as 208 - 0.7 x age)
  heart_kinetics          how this person's heart answers effort, learnt from their sessions
                          (per kind of effort: rest_bpm, gain in bpm per W or per m/s, tau_s,
                          delay_s, drift_bpm_per_min, sessions); null when none were learnt
  sessions                one object per session, oldest first:
    id, source            the session number; where the samples came from (ble, simulator...)
    started_at, ended_at  ISO 8601 times; ended_at is null for a session that never ended
    profile               the profile as it was when the session started
    summary               the session's summary as the coach wrote it (null if it never ended)
    sample_count, last_t_s  samples stored, and the session second of the last one
    samples_file          the CSV with this session's samples
    cues                  what the coach decided, in order: id, t (session second), kind,
                          action, priority, facts (the numbers the cue rests on), and the words
                          spoken: text, source ("llm" or "template"), reason (why a template was
                          used), seconds (time taken to word it), attempts; null when unspoken
    feedback              rpe (1 very easy .. 10 all-out, or null), text (a note, or null),
                          created_at
    fitness               the session's fitness markers (null without enough effort): measure
                          (power or speed), efficiency_factor, decoupling_pct, hr_at_reference
                          at reference (W or m/s), normalized_power_w, mean_hr, mean_effort,
                          moving_s

session-<id>-samples.csv (UTF-8 CSV, one row per second, header row first)
  t_s             seconds since the session started
  hr_bpm          heart rate, beats per minute (empty: no reading)
  rr_intervals_s  the beat-to-beat (RR) intervals received that second, in seconds, separated
                  by spaces (empty: none)
  cadence_spm     cadence, steps per minute
  speed_mps       speed, metres per second
  distance_m      distance since the start, metres
  steps           steps since the start
  contact         1 when the strap reported skin contact, 0 when it reported none, empty when
                  it does not say
  hr_gap          1 when no heart-rate reading covers this second (the values are not invented)
  forecast_*      the health model's forecasts made at that second, in bpm: heart rate in 10,
                  30 and 60 s (hr_10s, hr_30s, hr_60s) and the heart rate expected for the
                  effort (hr_expected); empty when none was made
"""
