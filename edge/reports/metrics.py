"""The figures a report and the history share, computed from what the store holds.

Pure functions over `AlignedSample`s, plus `load_session`, which reads one session from the store
and rebuilds what the coach had at the end of it (its `SessionSummary` included), so a report
says the same as the summary printed when the session ended, and works for a session that a
crash left without one.

Training load is Banister's TRIMP, per second of heart rate::

    TRIMP = sum over seconds with heart rate of (1/60) x x x 0.64 x e^(1.92 x)
    x     = (HR - resting) / (max - resting), clamped to 0..1

that is, minutes weighted by the fraction of heart-rate reserve and by an exponential that
makes hard minutes count for more. 0.64 and 1.92 are Banister's coefficients for men (0.86 and
1.67 for women); the profile does not record sex, so the men's are used for everyone. Seconds
without heart rate (gaps) add nothing: nothing is filled in.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge.coach.summary import summarise
from edge.core.cues import Action, Cue, CueKind, Priority
from edge.core.forecast import Forecast
from edge.core.narration import Narration
from edge.core.summary import SessionSummary
from edge.core.zones import ZoneModel
from edge.errors import EdgecoachError
from edge.store import SessionRow, SessionStore
from edge.stream.aligner import Gap
from edge.stream.readings import AlignedSample

__all__ = [
    "BANISTER_A",
    "BANISTER_B",
    "ReportError",
    "SessionData",
    "find_session",
    "gaps_of",
    "load_session",
    "time_in_zones",
    "trimp",
]

log = logging.getLogger(__name__)

#: Banister's TRIMP weighting `A x e^(B x)`, the coefficients for men (see the module docstring).
BANISTER_A = 0.64
BANISTER_B = 1.92

_FORECAST_KEYS = ("hr_10s", "hr_30s", "hr_60s", "hr_expected")


class ReportError(EdgecoachError):
    """A report, export or import cannot be made as asked (unknown session, no samples...)."""


def trimp(samples: Sequence[AlignedSample], zones: ZoneModel) -> float:
    """Banister's TRIMP over the seconds with heart rate (see the module docstring)."""
    total = 0.0
    for sample in samples:
        if sample.hr_bpm is None:
            continue
        x = min(max(zones.fraction_of_reserve(sample.hr_bpm), 0.0), 1.0)
        total += x * BANISTER_A * math.exp(BANISTER_B * x) / 60.0
    return total


def time_in_zones(samples: Sequence[AlignedSample], zones: ZoneModel) -> dict[int, int]:
    """Seconds in zones 0..5 (every zone present, 0 where none); gap seconds are not counted."""
    seconds = {zone: 0 for zone in range(6)}
    for sample in samples:
        if sample.hr_bpm is not None:
            seconds[zones.zone(sample.hr_bpm)] += 1
    return seconds


def gaps_of(samples: Sequence[AlignedSample]) -> tuple[Gap, ...]:
    """Runs of seconds without heart rate, as the aligner reports them (end exclusive)."""
    gaps: list[Gap] = []
    start: int | None = None
    previous_t = 0
    for sample in samples:
        if start is not None and (sample.hr_bpm is not None or sample.t != previous_t + 1):
            gaps.append(Gap(start, previous_t + 1))
            start = None
        if sample.hr_bpm is None and start is None:
            start = sample.t
        previous_t = sample.t
    if start is not None:
        gaps.append(Gap(start, previous_t + 1))
    return tuple(gaps)


@dataclass(frozen=True, slots=True)
class SessionData:
    """One session as the store holds it, with the figures worked out from it."""

    row: SessionRow
    samples: tuple[AlignedSample, ...]
    #: Stored forecasts by t (hr_10s, hr_30s, hr_60s, hr_expected).
    forecasts: Mapping[int, Mapping[str, Any]]
    #: `SessionStore.cues`: each cue with its facts and the words spoken for it.
    cues: tuple[Mapping[str, Any], ...]
    feedback: tuple[Mapping[str, Any], ...]
    zones: ZoneModel
    summary: SessionSummary
    trimp: float
    #: Seconds in zones 0..5; with `gap_s` they add up to `summary.duration_s`.
    time_in_zone_s: Mapping[int, int]
    gap_s: int

    @property
    def rpe(self) -> int | None:
        """The most recent RPE given for the session, None when none was."""
        rated = [f["rpe"] for f in self.feedback if f.get("rpe") is not None]
        return rated[-1] if rated else None


def find_session(store: SessionStore, session_id: int) -> SessionRow:
    """The stored session `session_id`; ReportError (saying how to find one) when there is none."""
    for row in store.sessions():
        if row.id == session_id:
            return row
    raise ReportError(
        f"there is no session {session_id} in {store.path}: "
        "`edgecoach history` lists the sessions and their numbers"
    )


def load_session(
    store: SessionStore, session_id: int, *, row: SessionRow | None = None
) -> SessionData:
    """Read session `session_id` and work out its summary, zones, TRIMP and gaps.

    `row` is the session's row when the caller has it already (saves looking it up).
    """
    if row is None or row.id != session_id:
        row = find_session(store, session_id)
    samples = tuple(store.samples(session_id))
    forecasts = store.forecasts(session_id)
    cues = tuple(store.cues(session_id))
    zones = ZoneModel.for_profile(row.profile)
    gaps = gaps_of(samples)
    summary = summarise(samples, _forecasts(forecasts), _cues(cues), _narrations(cues), zones, gaps)
    in_zone = time_in_zones(samples, zones)
    return SessionData(
        row=row,
        samples=samples,
        forecasts=forecasts,
        cues=cues,
        feedback=tuple(store.feedback(session_id)),
        zones=zones,
        summary=summary,
        trimp=trimp(samples, zones),
        time_in_zone_s=in_zone,
        gap_s=len(samples) - sum(in_zone.values()),
    )


def _forecasts(stored: Mapping[int, Mapping[str, Any]]) -> dict[int, Forecast]:
    out: dict[int, Forecast] = {}
    for t, values in stored.items():
        if all(isinstance(values.get(key), int | float) for key in _FORECAST_KEYS):
            out[t] = Forecast(**{key: float(values[key]) for key in _FORECAST_KEYS})
    return out


def _cues(stored: Sequence[Mapping[str, Any]]) -> list[Cue]:
    out = []
    for cue in stored:
        try:
            out.append(
                Cue(
                    cue["id"],
                    cue["t"],
                    CueKind(cue["kind"]),
                    Action(cue["action"]),
                    Priority[str(cue["priority"]).upper()],
                    cue["facts"],
                )
            )
        except (KeyError, ValueError):  # a kind this version does not know: count it out
            log.debug(
                "cue %s of an unknown kind %r left out of the summary",
                cue.get("id"),
                cue.get("kind"),
            )
    return out


def _narrations(stored: Sequence[Mapping[str, Any]]) -> list[Narration]:
    return [
        Narration(
            cue_id=cue["id"],
            text=cue["text"],
            source=cue["source"] or "template",
            reason=cue["reason"] or "",
            seconds=cue["seconds"] or 0.0,
            attempts=cue["attempts"] or 0,
        )
        for cue in stored
        if cue.get("text") is not None
    ]
