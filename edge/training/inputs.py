"""What the planner reads of a person, from the session store: the training functions' inputs.

This is the only module of `edge.training` that touches the store: it reads sessions, samples and
feedback from the store it is given (and writes feedback to it) and runs the pure functions of
`physiology`, `load`, `readiness` and `plan` over them. `edgecoach plan`, `feedback`, `morning`
and `ask` (in `edge.commands`) and the zone board's feedback buttons go through it.

`[training]` settings: `trimp_k` (Banister's sex factor, 1.92; a profile's `sex` of
"female"/"male", where there is one, takes precedence), `goal_minutes` (150, the WHO/ACSM weekly
minimum of moderate activity) and `history_days` (42: four weeks of chronic load plus two).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from edge.profile import Profile
from edge.settings import Settings, TrainingSettings
from edge.store import FeedbackError, SessionStore
from edge.stream.readings import AlignedSample
from edge.training.load import BANISTER_K_FEMALE, BANISTER_K_MALE, SessionLoad, session_load
from edge.training.physiology import measured_profile
from edge.training.plan import (
    Feedback,
    Suggestion,
    daily_suggestion,
)
from edge.training.readiness import (
    MORNING_SOURCE,
    MorningReading,
    Readiness,
    is_morning_reading,
    readiness,
    reading_from_samples,
)

__all__ = [
    "MORNING_SOURCE",
    "TrainingInputs",
    "feedback_text",
    "latest_session_id",
    "load_inputs",
    "record_feedback",
    "todays_suggestion",
]

log = logging.getLogger(__name__)


def _trimp_k(training: TrainingSettings, profile: Profile) -> float:
    """Banister's weighting: the profile's sex where it gives one, else `[training] trimp_k`."""
    sex = str(getattr(profile, "sex", "") or "").strip().lower()
    if sex in ("female", "f", "woman"):
        return BANISTER_K_FEMALE
    if sex in ("male", "m", "man"):
        return BANISTER_K_MALE
    return training.trimp_k


def _local_day(moment: datetime) -> date:
    return moment.astimezone().date() if moment.tzinfo is not None else moment.date()


# -- reading the store --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrainingInputs:
    """Everything the plan needs for one person, read from the store once."""

    person: str
    today: date
    #: The profile with measured resting and maximum heart rate where the data allows.
    profile: Profile
    profile_basis: dict[str, Any]
    loads: list[SessionLoad]
    feedback: list[Feedback]
    readiness: Readiness
    #: Banister's sex factor used for TRIMP.
    k: float
    goal_minutes: float


def load_inputs(
    store: SessionStore, settings: Settings, person: str, today: date
) -> TrainingInputs:
    """Sessions of the last `history_days` up to `today`: measured profile, loads, feedback and
    today's readiness.

    Readiness comes from the morning readings (`edgecoach morning`, source `morning/...`) only,
    never from a training session; and a morning reading is never training: it adds no load,
    no minutes and no "already trained today". `plan`, `ask`, `morning` and the daemon's planned
    session all read readiness from here, so they cannot disagree.
    """
    history_days = settings.training.history_days
    goal = settings.training.goal_minutes
    all_rows = sorted(store.sessions(person), key=lambda r: (r.started_at, r.id))
    first_day = today - timedelta(days=history_days)
    rows = [r for r in all_rows if first_day <= _local_day(r.started_at) <= today]
    samples: dict[int, list[AlignedSample]] = {r.id: store.samples(r.id) for r in rows}
    profile = settings.person(person).profile
    k = _trimp_k(settings.training, profile)
    with_samples = [r for r in rows if samples[r.id]]
    training = [r for r in with_samples if not is_morning_reading(r.source)]
    # A morning reading is no training, but it is the best measure of resting heart rate.
    measured, profile_basis = measured_profile(profile, [samples[r.id] for r in with_samples])
    loads = [
        session_load(
            samples[r.id],
            measured,
            day=_local_day(r.started_at),
            session_id=r.id,
            started_at=r.started_at,
            k=k,
        )
        for r in training
    ]
    feedback = [Feedback.from_store(r.id, row) for r in rows for row in store.feedback(r.id)]
    readings: dict[date, MorningReading] = {}
    for r in with_samples:
        if not is_morning_reading(r.source):
            continue
        # The day's latest reading: a second try after a restless first one replaces it.
        found = reading_from_samples(_local_day(r.started_at), samples[r.id], declared_still=True)
        if found is not None:
            readings[found.date] = found
    todays = readings.pop(today, None)
    if todays is None:
        state = Readiness(
            None,
            "unknown",
            {
                "reason": "no morning reading today: `edgecoach morning` takes one (2 minutes lying "
                "or sitting still with the band on)"
            },
            today,
        )
    else:
        state = readiness(list(readings.values()), todays)
    return TrainingInputs(person, today, measured, profile_basis, loads, feedback, state, k, goal)


def todays_suggestion(
    store: SessionStore, settings: Settings, person: str, today: date
) -> tuple[Suggestion, TrainingInputs]:
    """What `edgecoach plan` suggests for `today` (also what `ask` answers with)."""
    inputs = load_inputs(store, settings, person, today)
    return daily_suggestion(
        inputs.loads, inputs.readiness, inputs.feedback, today, inputs.goal_minutes, k=inputs.k
    ), inputs


#: What `--too-hard` / `--too-easy` (the zone board's "too_hard" / "too_easy") store as the
#: feedback's text: `Feedback.label` reads them back.
VERDICT_LABELS = {"too_hard": "too hard", "too_easy": "too easy"}


def feedback_text(verdict: str | None, note: str | None = None) -> str | None:
    """The stored text of a verdict ("too_hard", "too_easy" or None) and an optional note:
    "too hard", "too hard: legs heavy", the note alone, or None."""
    if verdict is not None and verdict not in VERDICT_LABELS:
        raise FeedbackError(f'a verdict is "too_hard" or "too_easy", not {verdict!r}')
    label = VERDICT_LABELS.get(verdict) if verdict is not None else None
    note = note.strip() if note and note.strip() else None
    return f"{label}: {note}" if label and note else label or note


def latest_session_id(store: SessionStore, person: str) -> int:
    """The person's latest training session (by start, then number; morning readings left
    out); FeedbackError if there is none."""
    # A morning reading is no session to give feedback on: the training before it is.
    rows = [r for r in store.sessions(person) if not is_morning_reading(r.source)]
    if not rows:
        raise FeedbackError(
            f"{person} has no sessions in {store.path}: record one first, "
            "or give the session's number",
            path=store.path,
        )
    return max(rows, key=lambda r: (r.started_at, r.id)).id


def record_feedback(
    store: SessionStore,
    session_id: int,
    rpe: int | None,
    verdict: str | None = None,
    note: str | None = None,
) -> dict[str, object]:
    """Record how session `session_id` felt, as `edgecoach feedback` does; what was recorded:
    `{"session_id", "rpe", "text", "signal"}` (the signal the next plan reads from it)."""
    text = feedback_text(verdict, note)
    store.add_feedback(session_id, rpe, text)
    return {
        "session_id": session_id,
        "rpe": rpe,
        "text": text,
        "signal": Feedback(session_id, rpe, text).signal,
    }
