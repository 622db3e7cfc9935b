"""The history: one row per stored session, oldest first, as dicts or as a table.

Every figure is worked out from the stored samples with the profile stored with the session
(`edge.reports.metrics`), so a session a crash left without a summary is listed like the others
and old sessions keep the zones they were coached with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from edge.reports.fitness import FitnessMarkers, session_markers
from edge.reports.metrics import load_session
from edge.store import SessionStore

__all__ = ["HISTORY_COLUMNS", "format_history", "history"]

#: (key, heading) of the table's columns, in order.
HISTORY_COLUMNS = (
    ("id", "id"),
    ("date", "date"),
    ("person", "person"),
    ("duration", "duration"),
    ("hr", "avg/max HR"),
    ("zones_4_5", "z4-5"),
    ("trimp", "TRIMP"),
    ("ef", "EF"),
    ("decoupling", "Pa:HR"),
    ("cues", "cues"),
    ("rpe", "RPE"),
    ("source", "source"),
)


def history(store: SessionStore, person: str | None = None) -> list[dict[str, Any]]:
    """Each session of `person` (everyone's with None), oldest first, as a JSON-ready dict.

    Keys: id, person, source, started_at (ISO 8601), ended (bool), duration_s, avg_hr and
    max_hr (None without heart rate), zones_4_5_s, trimp (1 decimal), cues, rpe (the latest
    given, or None), distance_m (None without distance), and `fitness`: the session's fitness
    markers (`edge.reports.fitness`: efficiency factor, aerobic decoupling, heart rate at the
    reference effort), as stored when it ended or else worked out from its samples, None for a
    session without enough effort.
    """
    rows = []
    stored = store.fitness(person)
    for row in store.sessions(person):
        data = load_session(store, row.id, row=row)
        summary = data.summary
        markers = (
            FitnessMarkers.from_dict(stored[row.id])
            if row.id in stored
            else session_markers(data.samples)
        )
        rows.append(
            {
                "id": row.id,
                "person": row.person,
                "source": row.source,
                "started_at": row.started_at.isoformat(),
                "ended": row.ended,
                "duration_s": summary.duration_s,
                "avg_hr": None if summary.mean_hr is None else round(summary.mean_hr, 1),
                "max_hr": summary.max_hr,
                "zones_4_5_s": data.time_in_zone_s.get(4, 0) + data.time_in_zone_s.get(5, 0),
                "trimp": round(data.trimp, 1),
                "cues": summary.cues,
                "rpe": data.rpe,
                "distance_m": None if summary.distance_m is None else round(summary.distance_m, 1),
                "fitness": None if markers is None else markers.as_dict(),
            }
        )
    return rows


def format_history(rows: Sequence[Mapping[str, Any]]) -> str:
    """`history`'s rows as a plain-text table, one line per session (no trailing newline)."""
    if not rows:
        return "no sessions yet"
    cells = [[heading for _, heading in HISTORY_COLUMNS]]
    for row in rows:
        shown = _shown(row)
        cells.append([shown[key] for key, _ in HISTORY_COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(HISTORY_COLUMNS))]
    numeric = {"id", "duration", "hr", "zones_4_5", "trimp", "ef", "decoupling", "cues", "rpe"}
    lines = []
    for line in cells:
        parts = [
            text.rjust(width) if key in numeric else text.ljust(width)
            for (key, _), text, width in zip(HISTORY_COLUMNS, line, widths, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    if not all(row.get("ended", True) for row in rows):
        lines.append("* never ended: the recording stopped without a summary (a crash?)")
    if any(row.get("fitness") for row in rows):
        lines.append(
            "EF: efficiency factor, W (rides) or m/min (runs) per beat/min; Pa:HR: aerobic "
            "decoupling, first half against second"
        )
    return "\n".join(lines)


def _shown(row: Mapping[str, Any]) -> dict[str, str]:
    started = datetime.fromisoformat(str(row["started_at"]))
    if started.tzinfo is not None:
        started = started.astimezone()  # this device's time zone
    avg, peak = row.get("avg_hr"), row.get("max_hr")
    fitness = row.get("fitness") or {}
    ef, decoupling = fitness.get("efficiency_factor"), fitness.get("decoupling_pct")
    return {
        "id": str(row["id"]),
        "date": f"{started:%Y-%m-%d %H:%M}",
        "person": str(row["person"]),
        "duration": _clock(int(row["duration_s"])) + ("" if row.get("ended", True) else "*"),
        "hr": "-" if avg is None else f"{avg:.0f}/{peak:.0f}",
        "zones_4_5": _clock(int(row["zones_4_5_s"])),
        "trimp": f"{row['trimp']:.0f}",
        "ef": "-" if ef is None else f"{ef:.2f}",
        "decoupling": "-" if decoupling is None else f"{decoupling:.1f}%",
        "cues": str(row["cues"]),
        "rpe": "-" if row.get("rpe") is None else str(row["rpe"]),
        "source": str(row["source"]),
    }


def _clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
