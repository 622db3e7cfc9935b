"""Sessions by name: "today is a tempo run" without writing zones.

A named session (easy, recovery, long, steady, tempo, intervals) becomes a `PlannedWorkout`
in the person's own zones, the same shapes `edgecoach plan` suggests (`edge.training.plan`):
an easy or long run is one continuous step, a steady or tempo run has a warm-up, a hard day
is 3-minute efforts in zone 4 with 2 minutes easy between. `session_workout` is also how the
planner's suggestion for today reaches the live coach.
"""

from __future__ import annotations

import re

from edge.coach.workouts import PlannedWorkout, WorkoutError

__all__ = ["SESSION_NAMES", "is_session_name", "parse_session", "session_workout"]

#: Names a person may give today's session, with the planner's kind each stands for and its
#: default minutes.
_SESSIONS: dict[str, tuple[str, int]] = {
    "easy": ("easy", 30),
    "recovery": ("recovery", 20),
    "long": ("long", 60),
    "steady": ("moderate", 40),
    "moderate": ("moderate", 40),
    "tempo": ("tempo", 40),
    "hard": ("hard", 40),
    "intervals": ("hard", 40),
    "interval": ("hard", 40),
    "rest": ("rest", 0),
}
SESSION_NAMES: tuple[str, ...] = tuple(_SESSIONS)
_NAMED = re.compile(
    r"^\s*(?P<name>[a-z]+)(?:\s+(?:run|ride|session|day|workout))?"
    r"(?:\s+(?P<minutes>\d+)\s*(?:m|min|mins|minutes)?)?\s*$",
    re.I,
)


def parse_session(text: str) -> tuple[str, int | None] | None:
    """ "tempo", "tempo run", "easy 45", "long run 90 min" -> (name, minutes or None); None
    when `text` names no session (it may be a workout such as "10m z2, 4x(3m z4, 2m z1)")."""
    found = _NAMED.match(text)
    if not found or found.group("name").lower() not in _SESSIONS:
        return None
    minutes = found.group("minutes")
    return found.group("name").lower(), None if minutes is None else int(minutes)


def is_session_name(text: str) -> bool:
    return parse_session(text) is not None


def session_workout(
    kind: str, minutes: int | None = None, zones: tuple[int, ...] = ()
) -> PlannedWorkout | None:
    """The workout of a session of `kind` (a name above or a planner kind) lasting `minutes`
    (default: the kind's own); `zones` overrides an easy day's (the planner's low-readiness
    day is zone 1 only). None for a rest day: there is nothing to coach."""
    name, default = _SESSIONS.get(kind, (kind, 0))
    if name == "rest":
        return None
    if name not in ("easy", "recovery", "long", "moderate", "tempo", "hard"):
        raise WorkoutError(
            f"no session called {kind!r}: say one of {', '.join(SESSION_NAMES)}, "
            'or write the workout ("10m z2, 4x(3m z4, 2m z1), 5m z1")'
        )
    minutes = minutes or default
    if minutes < 10:
        raise WorkoutError(
            f"a {kind} session of {minutes} minutes is too short to coach: give at least 10"
        )
    match name:
        case "recovery":
            text = f"{minutes}m z1 recover"  # never a push: below zone 1 is fine
        case "easy":
            low, high = (min(zones), max(zones)) if zones else (1, 2)
            target = f"z{low}" if low == high else f"z{low}-{high}"
            text = (
                f"10m {target} warmup, {minutes - 10}m {target}"
                if minutes >= 20
                else f"{minutes}m {target}"
            )
        case "long":
            text = f"10m z1-2 warmup, {minutes - 10}m z2"
        case "moderate":
            text = f"10m z2 warmup, {minutes - 10}m z3"
        case "tempo":
            main = max(minutes - 20, 5)
            text = (
                f"10m z2 warmup, {main}m z3-4, {minutes - 10 - main}m z1 cooldown"
                if minutes - 10 - main > 0
                else f"10m z2 warmup, {main}m z3-4"
            )
        case _:  # hard: the planner's 3-minute efforts (`edge.training.plan.hard_reps`)
            reps = min(max((minutes - 20) // 5, 3), 8)
            cool = max(minutes - 10 - 5 * reps, 0)
            text = f"10m z2 warmup, {reps}x(3m z4, 2m z1)" + (
                f", {cool}m z1 cooldown" if cool else ""
            )
    return PlannedWorkout.parse(text, name=f"{kind} {minutes} min")
