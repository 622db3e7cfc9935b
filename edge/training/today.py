"""Today's session for live coaching: the planner's suggestion by default, or one named.

`edgecoach run`, `replay` and `demo` coach through today's session unless told otherwise: the
suggestion `edgecoach plan` makes (from the same sessions, feedback and morning readiness)
becomes a planned workout in the person's zones (`edge.coach.sessions`), so an "easy, zone 2"
day that drifts into zone 3 hears "ease off", and time on target hears a word now and then.
A person can say what today is instead, without writing zones ("tempo", "easy 45"), give a
workout ("10m z2, 4x(3m z4, 2m z1), 5m z1" or a file), or ask for none ("none").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from edge.coach.sessions import parse_session, session_workout
from edge.coach.workouts import PlannedWorkout, load_workout

__all__ = ["NO_PLAN", "PLANNED", "TodaysSession", "todays_session"]

#: The spellings of "the planner's session for today" and of "no plan".
PLANNED = ("today", "planned", "plan")
NO_PLAN = ("none", "free", "off")


@dataclass(frozen=True, slots=True)
class TodaysSession:
    #: What is coached; None for free training (a rest day, or "none").
    workout: PlannedWorkout | None
    #: "planner", "named", "workout" or "none".
    source: str
    #: One line for the person: what today is and why.
    description: str


def todays_session(
    spec: str | None,
    *,
    store: Any = None,
    settings: Any = None,
    person: str = "",
    today: date | None = None,
) -> TodaysSession:
    """Resolve `spec` (None: the planner's) to today's session.

    The planner reads `store` (a `SessionStore`, or None when there is none yet: the plan of
    a person with no history) for `person` with `settings`, as `edgecoach plan` does."""
    text = (spec or "today").strip()
    if text.lower() in NO_PLAN:
        return TodaysSession(None, "none", "no planned session: free training")
    if text.lower() in PLANNED:
        return _from_planner(store, settings, person, today or date.today())
    named = parse_session(text)
    if named is not None:
        name, minutes = named
        workout = session_workout(name, minutes)
        what = "a rest day" if workout is None else f"{name}: {workout.describe()}"
        return TodaysSession(workout, "named", f"today is {what}")
    path = Path(text)
    workout = (
        load_workout(path)
        if path.suffix in (".toml", ".txt") or path.is_file()
        else PlannedWorkout.parse(text)
    )
    return TodaysSession(workout, "workout", f"planned workout: {workout.describe()}")


def _from_planner(store: Any, settings: Any, person: str, today: date) -> TodaysSession:
    from edge.training.inputs import todays_suggestion
    from edge.training.plan import daily_suggestion

    if store is not None:
        suggestion, _ = todays_suggestion(store, settings, person, today)
    else:
        suggestion = daily_suggestion([], None, [], today, settings.training.goal_minutes)
    workout = session_workout(suggestion.kind, suggestion.minutes, suggestion.zones)
    head = suggestion.text.split(". ")[0].rstrip(".")
    return TodaysSession(workout, "planner", f"today's plan: {head}")
