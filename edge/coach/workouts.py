"""Planned workouts: steps with a duration and a target zone, and a tracker that coaches them.

A plan is written the way people write it on a whiteboard::

    10m z2, 4x(3m z4, 2m z1), 5m z1

Durations are `90s`, `3m`, `1m30s`, `1h`, or `m:ss`; a target is one zone (`z4`) or a range
(`z3-4`); `Nx(...)` repeats the steps inside. On a machine the coach can drive, a step may carry
an effort target instead of (or besides) a zone: power for a bike in ERG mode
(``4x(3m 250W, 2m 120W)``), a belt speed and an incline for a treadmill (``10m 9.5kmh 2%``).
The machine coach (`edge.coach.machine_coach`) sets those targets; the zone, when given, is what
the heart is coached to. A step may name its kind after the zone
(`10m z2 warmup`); otherwise it is inferred: inside a repeat the hardest steps are work and the
others recovery; outside, steps before the first work step are the warm-up and those after the
last one the cool-down. The same plan can be a TOML file (see `PlannedWorkout.from_toml`).

`WorkoutTracker` follows the plan on the session clock and says what is due each second: each
step's start, the halfway point of long steps, a push or an ease-off when the heart rate sits
outside the target zone, the end of each interval and of the workout. It only proposes; the coach
decides which cue is given (one a second, by priority) and tells the tracker with `given`. An
announcement that loses its second to a more important cue stays due for a few seconds.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from edge.config_checks import plan_text
from edge.core.cues import Action, CueKind, duration_facts
from edge.core.events import StepProgress
from edge.core.forecast import Forecast
from edge.core.zones import ZoneModel
from edge.errors import ConfigError

__all__ = [
    "STEP_KINDS",
    "PlannedStep",
    "PlannedWorkout",
    "StepStatus",
    "WorkoutCue",
    "WorkoutError",
    "WorkoutSettings",
    "WorkoutTracker",
    "load_workout",
    "parse_workout",
]

StepKind = Literal["warmup", "work", "recover", "cooldown"]
STEP_KINDS: tuple[str, ...] = ("warmup", "work", "recover", "cooldown")
_KIND_ALIASES = {
    "warmup": "warmup",
    "warm-up": "warmup",
    "wu": "warmup",
    "work": "work",
    "interval": "work",
    "recover": "recover",
    "recovery": "recover",
    "rest": "recover",
    "cooldown": "cooldown",
    "cool-down": "cooldown",
    "cd": "cooldown",
}
_DEFAULT_NAMES = {
    "warmup": "Warm-up",
    "work": "Interval",
    "recover": "Recovery",
    "cooldown": "Cool-down",
}


class WorkoutError(ConfigError):
    """A workout plan that cannot be read; the message points at the offending part."""


@dataclass(frozen=True, slots=True)
class PlannedStep:
    name: str
    duration_s: int
    #: One zone (1..5) or an inclusive range of zones, (3, 4) meaning "zone 3 to 4"; None for a
    #: step with only an effort target (the machine holds the effort, the heart goes where it may).
    target_zone: int | tuple[int, int] | None
    kind: StepKind = "work"
    #: Watts a bike holds in ERG mode during the step.
    power_w: int | None = None
    #: Belt speed of a treadmill, km/h.
    speed_kmh: float | None = None
    #: Treadmill incline, percent.
    incline_pct: float | None = None

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise WorkoutError(
                f"step {self.name!r}: duration must be positive, got {self.duration_s} s"
            )
        if self.target_zone is None and self.power_w is None and self.speed_kmh is None:
            raise WorkoutError(f"step {self.name!r}: needs a target zone, a power or a speed")
        if self.power_w is not None and not 0 < self.power_w <= 2000:
            raise WorkoutError(f"step {self.name!r}: power must be 1..2000 W, got {self.power_w}")
        if self.speed_kmh is not None and not 0 < self.speed_kmh <= 30:
            raise WorkoutError(
                f"step {self.name!r}: speed must be above 0 and at most 30 km/h, "
                f"got {self.speed_kmh}"
            )
        if self.incline_pct is not None and not -10 <= self.incline_pct <= 40:
            raise WorkoutError(
                f"step {self.name!r}: incline must be -10..40 %, got {self.incline_pct}"
            )
        low, high = self.zone_range
        if not 1 <= low <= high <= 5:
            raise WorkoutError(
                f"step {self.name!r}: target zone must be 1..5 (or a range "
                f"low-high within it), got {self.target_zone!r}"
            )
        if self.kind not in STEP_KINDS:
            raise WorkoutError(
                f"step {self.name!r}: kind must be one of "
                f"{', '.join(STEP_KINDS)}, got {self.kind!r}"
            )

    @property
    def has_effort_target(self) -> bool:
        return self.power_w is not None or self.speed_kmh is not None

    @property
    def zone_range(self) -> tuple[int, int]:
        """(lowest, highest) target zone; the same zone twice for a single-zone target; (1, 5)
        for a step without one."""
        if self.target_zone is None:
            return 1, 5
        if isinstance(self.target_zone, tuple):
            return int(self.target_zone[0]), int(self.target_zone[1])
        return int(self.target_zone), int(self.target_zone)

    def target_bpm(self, zones: ZoneModel) -> tuple[int, int]:
        """Rounded (low, high) heart rates of the target, from the person's zones."""
        low, high = self.zone_range
        return zones.bounds_bpm(low)[0], zones.bounds_bpm(high)[1]

    def zone_text(self) -> str:
        """The step's targets as written in a plan ("z4", "250W", "9.5kmh 2%", "z3 200W")."""
        parts = []
        if self.target_zone is not None:
            low, high = self.zone_range
            parts.append(f"z{low}" if low == high else f"z{low}-{high}")
        if self.power_w is not None:
            parts.append(f"{self.power_w}W")
        if self.speed_kmh is not None:
            parts.append(f"{self.speed_kmh:g}kmh")
        if self.incline_pct is not None:
            parts.append(f"{self.incline_pct:g}%")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class PlannedWorkout:
    name: str
    steps: tuple[PlannedStep, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if not self.steps:
            raise WorkoutError(f"workout {self.name!r} has no steps")

    @property
    def duration_s(self) -> int:
        return sum(step.duration_s for step in self.steps)

    @classmethod
    def parse(cls, text: str, name: str = "workout") -> PlannedWorkout:
        """A plan from its short text form, e.g. ``"10m z2, 4x(3m z4, 2m z1), 5m z1"``."""
        return cls(name, _Parser(text).steps())

    @classmethod
    def from_toml(cls, text: str, *, where: str = "workout") -> PlannedWorkout:
        """A plan from TOML: the text form, or a table per step.

        Either ``steps = "10m z2, 4x(3m z4, 2m z1), 5m z1"``, or::

            name = "threshold 4x3"
            [[steps]]
            duration = "10m"
            zone = 2            # or "3-4", or [3, 4]
            kind = "warmup"     # optional, inferred as in the text form
            [[steps]]
            repeat = 4
            steps = "3m z4, 2m z1"   # or tables, as above
            [[steps]]
            duration = "20m"
            power_w = 180       # effort targets, with or without a zone: power_w (a bike in
                                # ERG), speed_kmh and incline_pct (a treadmill)
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise WorkoutError(f"{where} is not valid TOML: {exc}") from None
        unknown = set(data) - {"name", "steps"}
        if unknown:
            raise WorkoutError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: name, steps"
            )
        name = str(data.get("name", "workout"))
        steps = data.get("steps")
        if isinstance(steps, str):
            return cls(name, _Parser(steps, where=where).steps())
        if not isinstance(steps, list) or not steps:
            raise WorkoutError(
                f"{where}: steps must be a text plan or an array of tables ([[steps]])"
            )
        try:  # tables are checked, and written in the text form, by the config's checks
            text = plan_text(steps, where)
        except WorkoutError:
            raise
        except ConfigError as exc:
            raise WorkoutError(str(exc)) from None
        return cls(name, _Parser(text, where=where).steps())

    def describe(self) -> str:
        """The plan in its text form, one entry per step (repeats written out)."""
        return ", ".join(
            f"{_format_duration(s.duration_s)} {s.zone_text()} {s.kind}" for s in self.steps
        )


def parse_workout(text: str, name: str = "workout") -> PlannedWorkout:
    """`PlannedWorkout.parse`: the short text form."""
    return PlannedWorkout.parse(text, name)


def load_workout(path: Path) -> PlannedWorkout:
    """A plan from a file: TOML if it ends in .toml, else the text form (# starts a comment)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkoutError(f"cannot read workout plan {path}: {exc.strerror}") from None
    if Path(path).suffix == ".toml":
        return PlannedWorkout.from_toml(text, where=str(path))
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return PlannedWorkout(Path(path).stem, _Parser(" ".join(lines), where=str(path)).steps())


# -- parsing ------------------------------------------------------------------------------------


class _Item(NamedTuple):
    """A parsed step before kinds are inferred; `repeat` steps come from an `Nx(...)` group."""

    duration_s: int
    #: (0, 0) when the step has no zone (only an effort target).
    zones: tuple[int, int]
    kind: str | None
    #: The repeat groups it is inside, outermost first; () at top level.
    groups: tuple[int, ...] = ()
    power_w: int | None = None
    speed_kmh: float | None = None
    incline_pct: float | None = None

    @property
    def intensity(self) -> float:
        """What kinds are inferred from: the zone, else the power or speed (one plan rarely
        mixes them; where it does, zones count as the lowest)."""
        if self.zones[1]:
            return float(self.zones[1])
        if self.power_w is not None:
            return 10.0 + self.power_w
        return 10.0 + 10.0 * (self.speed_kmh or 0.0) + 10.0 * (self.incline_pct or 0.0)


_TOKEN = re.compile(
    r"\s*(?:(?P<repeat>\d+)\s*[x×]\s*\(|(?P<close>\))|(?P<comma>,)"
    r"|(?P<step>[^,()]+))"
)
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?(?:(?P<s>\d+)s(?:ec)?)?$")
_CLOCK = re.compile(r"^(?P<m>\d+):(?P<s>[0-5]\d)$")
_ZONE = re.compile(r"^z(?:one)?(?P<low>\d)(?:\s*-\s*z?(?P<high>\d))?$", re.I)
_POWER = re.compile(r"^(?P<w>\d{1,4})\s*w$", re.I)
_SPEED = re.compile(r"^(?P<v>\d{1,2}(?:\.\d+)?)\s*(?:km/?h|kph)$", re.I)
_INCLINE = re.compile(r"^(?P<p>-?\d{1,2}(?:\.\d+)?)\s*%$")


class _Parser:
    def __init__(self, text: str, *, where: str = "workout plan") -> None:
        self.text = text
        self.where = where
        self.pos = 0
        self.groups = 0

    def steps(self) -> tuple[PlannedStep, ...]:
        items = self._list(depth=0)
        if self.pos < len(self.text.rstrip()):
            raise self._error("unexpected ')'")
        if not items:
            raise self._error("no steps")
        return _build(items)

    def _list(self, depth: int, groups: tuple[int, ...] = ()) -> list[_Item]:
        items: list[_Item] = []
        expect_item = True
        while True:
            match = _TOKEN.match(self.text, self.pos)
            if match is None or not match.group(0).strip():
                if depth:
                    raise self._error("missing ')'")
                return items
            if match.group("close"):
                if not depth:
                    return items
                self.pos = match.end()
                if expect_item:
                    raise self._error("a step is missing before ')'")
                return items
            if match.group("comma"):
                if expect_item:
                    raise self._error("a step is missing before ','")
                self.pos = match.end()
                expect_item = True
                continue
            if not expect_item:
                raise self._error("steps must be separated by ','")
            start = self.pos
            self.pos = match.end()
            if match.group("repeat"):
                count = int(match.group("repeat"))
                if count < 1:
                    self.pos = start
                    raise self._error("a repeat needs a count of 1 or more")
                self.groups += 1
                body = self._list(depth + 1, groups=(*groups, self.groups))
                items += body * count
            else:
                items.append(self._step(match.group("step").strip(), start, groups))
            expect_item = False

    def _step(self, text: str, start: int, groups: tuple[int, ...]) -> _Item:
        words = text.split()
        if len(words) < 2 or any(_duration_s(word) for word in words[1:]):
            self.pos = start
            raise self._error(
                f"a step is a duration and a zone (like '3m z4') or an effort "
                f"(like '3m 250W' or '10m 9.5kmh 2%'), got {text!r}"
            )
        duration = _duration_s(words[0])
        if not duration:
            self.pos = start
            raise self._error(f"{words[0]!r} is not a duration (90s, 3m, 1m30s, 1h, 2:30)")
        targets: dict[str, object] = {}
        kind = None
        for position, word in enumerate(words[1:], start=1):
            found = _target(word)
            if found is None:
                if position == len(words) - 1 and targets:
                    kind = _KIND_ALIASES.get(word.lower())
                    if kind is not None:
                        continue
                    self.pos = start
                    raise self._error(
                        f"{word!r} is not a step kind ({', '.join(STEP_KINDS)}), "
                        "nor a zone, power, speed or incline"
                    )
                self.pos = start
                raise self._error(
                    f"{word!r} is not a target zone (z1..z5, or a range z3-4), a power (250W), a "
                    f"speed (9.5kmh), an incline (2%) or a step kind ({', '.join(STEP_KINDS)})"
                )
            name, value = found
            if name in targets:
                self.pos = start
                raise self._error(f"{text!r} gives two {name} targets")
            targets[name] = value
        if "incline" in targets and "speed" not in targets:
            self.pos = start
            raise self._error(f"{text!r}: an incline needs a speed too (like '10m 9.5kmh 2%')")
        if "zones" not in targets and "power" not in targets and "speed" not in targets:
            self.pos = start
            raise self._error(f"{text!r} has no target: a zone, a power or a speed")
        zones = targets.get("zones", (0, 0))
        return _Item(
            duration,
            zones,
            kind,
            groups,  # type: ignore[arg-type]
            targets.get("power"),
            targets.get("speed"),  # type: ignore[arg-type]
            targets.get("incline"),
        )  # type: ignore[arg-type]

    def _error(self, message: str) -> WorkoutError:
        return WorkoutError(f"{self.where}: {message} at character {self.pos + 1} of {self.text!r}")


def _duration_s(text: str) -> int | None:
    text = text.lower()
    if match := _CLOCK.match(text):
        return int(match["m"]) * 60 + int(match["s"])
    match = _DURATION.match(text)
    if match is None or not any(match.groups()):
        return None
    return int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)


def _target(word: str) -> tuple[str, object] | None:
    """One target word of a step: ("zones", (3, 4)), ("power", 250), ("speed", 9.5), ("incline",
    2.0); None if it is none of them."""
    if (zones := _zones(word)) is not None and 1 <= zones[0] <= zones[1] <= 5:
        return "zones", zones
    if match := _POWER.match(word):
        return "power", int(match["w"])
    if match := _SPEED.match(word):
        return "speed", float(match["v"])
    if match := _INCLINE.match(word):
        return "incline", float(match["p"])
    return None


def _zones(text: str | int | list) -> tuple[int, int] | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text, text
    if isinstance(text, list):
        if len(text) != 2 or not all(isinstance(z, int) and not isinstance(z, bool) for z in text):
            return None
        return text[0], text[1]
    text = str(text).strip()
    if text.isdigit():
        return int(text), int(text)
    match = _ZONE.match(text) or _ZONE.match("z" + text)
    if match is None:
        return None
    low = int(match["low"])
    return low, int(match["high"] or low)


def _build(items: Iterable[_Item]) -> tuple[PlannedStep, ...]:
    flat = list(items)
    kinds = _infer_kinds(flat)
    counters: dict[str, int] = {}
    totals = {kind: kinds.count(kind) for kind in set(kinds)}
    steps = []
    for item, kind in zip(flat, kinds, strict=True):
        counters[kind] = counters.get(kind, 0) + 1
        name = _DEFAULT_NAMES[kind]
        if totals[kind] > 1:
            name += f" {counters[kind]}"
        zone: int | tuple[int, int] | None = (
            item.zones[0] if item.zones[0] == item.zones[1] else item.zones
        )
        steps.append(
            PlannedStep(
                name,
                item.duration_s,
                zone or None,  # type: ignore[arg-type]
                kind,
                item.power_w,
                item.speed_kmh,
                item.incline_pct,
            )
        )
    return tuple(steps)


def _infer_kinds(items: list[_Item]) -> list[str]:
    kinds: list[str | None] = [item.kind for item in items]
    # Inside a repeat: the hardest steps of the innermost group are the work, the rest recovery
    # (a group's hardest counts the repeats nested in it).
    hardest: dict[int, float] = {}
    for item in items:
        for group in item.groups:
            hardest[group] = max(hardest.get(group, 0.0), item.intensity)
    for index, item in enumerate(items):
        if kinds[index] is None and item.groups:
            kinds[index] = "work" if item.intensity >= hardest[item.groups[-1]] else "recover"
    # With no work inside repeats, the hardest top-level steps are the work.
    if "work" not in kinds:
        top = (
            max(item.intensity for item, kind in zip(items, kinds, strict=True) if kind is None)
            if None in kinds
            else 0.0
        )
        for index, item in enumerate(items):
            if kinds[index] is None and item.intensity == top:
                kinds[index] = "work"
    work = [i for i, kind in enumerate(kinds) if kind == "work"]
    first, last = (work[0], work[-1]) if work else (len(items), -1)
    for index, item in enumerate(items):
        if kinds[index] is None:
            if index < first:
                kinds[index] = "warmup"
            elif index > last:
                kinds[index] = "cooldown"
            elif item.zones[1]:
                kinds[index] = "work" if item.zones[1] >= 3 else "recover"
            else:  # an effort target between work steps: work if near the hardest
                kinds[index] = "work" if item.intensity >= 0.75 * top_effort(items) else "recover"
    return [str(kind) for kind in kinds]


def top_effort(items: list[_Item]) -> float:
    return max(item.intensity for item in items)


def _format_duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest}s"
    return f"{minutes}m{rest}s" if rest else f"{minutes}m"


# -- following a plan ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkoutSettings:
    #: Seconds a step's start, halfway or end announcement stays due if a more important cue
    #: takes its second.
    announce_window_s: int = 20
    #: Steps at least this long get a "halfway" announcement.
    halfway_min_step_s: int = 240
    #: Seconds after a step starts before its target is enforced (hearts take time to move).
    off_target_grace_s: int = 30
    #: Seconds the heart rate must sit outside the target before a push or an ease-off.
    off_target_after_s: int = 30
    #: Beats per minute outside the target's bounds before the heart rate counts as outside.
    off_target_margin_bpm: float = 2.0
    #: Shortest time between two push / ease-off cues in one step.
    off_target_interval_s: int = 60
    #: No push or ease-off in the last seconds of a step: the next step is about to change it.
    off_target_min_remaining_s: int = 15


class WorkoutCue(NamedTuple):
    """A cue the tracker proposes; `key` is handed back to `WorkoutTracker.given`."""

    kind: CueKind
    action: Action
    facts: dict[str, float | int | str]
    key: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class StepStatus:
    """Where the plan is at one second: for displays and the session's sample events."""

    index: int
    count: int
    step: PlannedStep
    elapsed_s: int
    remaining_s: int
    target_low: int
    target_high: int

    def progress(self) -> StepProgress:
        """The status as the session's sample event carries it."""
        low, high = self.step.zone_range
        return StepProgress(
            step=self.index + 1,
            steps=self.count,
            name=self.step.name,
            kind=self.step.kind,
            zone=low if low == high else (low, high),
            target_low=self.target_low,
            target_high=self.target_high,
            elapsed_s=self.elapsed_s,
            remaining_s=self.remaining_s,
        )


class WorkoutTracker:
    """Follows one plan on the session clock; proposes workout cues each second."""

    def __init__(
        self,
        plan: PlannedWorkout,
        zones: ZoneModel,
        settings: WorkoutSettings | None = None,
        *,
        start_t: int | None = None,
    ) -> None:
        self.plan = plan
        self.zones = zones
        self.settings = settings or WorkoutSettings()
        #: Session second the plan started; None until the first update.
        self.start_t = start_t
        self._starts: list[int] = []
        offset = 0
        for step in plan.steps:
            self._starts.append(offset)
            offset += step.duration_s
        self._total = offset
        self._reps: list[tuple[int, int]] = []
        counters: dict[str, int] = {}
        totals = {k: sum(s.kind == k for s in plan.steps) for k in STEP_KINDS}
        for step in plan.steps:
            counters[step.kind] = counters.get(step.kind, 0) + 1
            self._reps.append((counters[step.kind], totals[step.kind]))
        self._given: set[tuple[object, ...]] = set()
        self._off: tuple[int, Action, int] | None = None  # (step index, direction, since t)
        self._last_off_t: dict[int, int] = {}
        self._last_hr: float | None = None

    @property
    def duration_s(self) -> int:
        return self._total

    def finished(self, t: int) -> bool:
        return self.start_t is not None and t - self.start_t >= self._total

    def status(self, t: int) -> StepStatus | None:
        """The step running at session second `t`, or None before the start and after the end."""
        if self.start_t is None:
            return None
        elapsed = t - self.start_t
        if not 0 <= elapsed < self._total:
            return None
        index = max(i for i, start in enumerate(self._starts) if start <= elapsed)
        step = self.plan.steps[index]
        low, high = step.target_bpm(self.zones)
        into = elapsed - self._starts[index]
        return StepStatus(
            index, len(self.plan.steps), step, into, step.duration_s - into, low, high
        )

    def update(
        self, t: int, hr: float | None, forecast: Forecast | None = None
    ) -> list[WorkoutCue]:
        """What the plan has to say at second `t`, most urgent first; `hr` None if not believed."""
        if self.start_t is None:
            self.start_t = t
        self._last_hr = hr
        elapsed = t - self.start_t
        if elapsed < 0:
            return []
        window = self.settings.announce_window_s
        due: list[WorkoutCue] = []
        if elapsed >= self._total:
            self._off = None
            if elapsed - self._total < window and ("done",) not in self._given:
                facts: dict[str, float | int | str] = {
                    "steps": len(self.plan.steps),
                    "duration_s": self._total,
                    **duration_facts(self._total),
                }
                if hr is not None:
                    facts["hr"] = round(hr)
                due.append(WorkoutCue(CueKind.WORKOUT_DONE, Action.INFO, facts, ("done",)))
            return due
        status = self.status(t)
        assert status is not None
        index, step = status.index, status.step
        # The interval that just ended (its words come before the next step's).
        if index > 0 and status.elapsed_s < window:
            previous = self.plan.steps[index - 1]
            if previous.kind == "work" and ("end", index - 1) not in self._given:
                facts = self._facts(index - 1, hr, remaining_s=0)
                due.append(WorkoutCue(CueKind.STEP_END, Action.INFO, facts, ("end", index - 1)))
        if status.elapsed_s < min(window, step.duration_s) and ("start", index) not in self._given:
            facts = self._facts(index, hr, status.remaining_s) | duration_facts(step.duration_s)
            due.append(
                WorkoutCue(CueKind.STEP_START, self._start_action(index), facts, ("start", index))
            )
        half = step.duration_s // 2
        if (
            step.duration_s >= self.settings.halfway_min_step_s
            and half <= status.elapsed_s < half + window
            and ("halfway", index) not in self._given
        ):
            facts = self._facts(index, hr, status.remaining_s) | duration_facts(status.remaining_s)
            due.append(WorkoutCue(CueKind.STEP_HALFWAY, Action.HOLD, facts, ("halfway", index)))
        due += self._off_target(t, status, hr, forecast)
        return due

    def given(self, key: tuple[object, ...]) -> None:
        """The coach gave the cue proposed with `key`: do not propose it again."""
        if key[0] == "off":
            self._last_off_t[int(key[1])] = int(key[2])  # type: ignore[arg-type]
            self._off = None  # the next one needs the heart rate to stay out afresh
            return
        self._given.add(key)

    # -- inside ---------------------------------------------------------------------------------

    def _facts(
        self, index: int, hr: float | None, remaining_s: int
    ) -> dict[str, float | int | str]:
        step = self.plan.steps[index]
        low, high = step.zone_range
        target_low, target_high = step.target_bpm(self.zones)
        rep, reps = self._reps[index]
        facts: dict[str, float | int | str] = {
            "step": index + 1,
            "steps": len(self.plan.steps),
            "step_kind": step.kind,
            "rep": rep,
            "reps": reps,
            "zone": low,
            "target_low": target_low,
            "target_high": target_high,
            "remaining_s": remaining_s,
        }
        if high != low:
            facts["top_zone"] = high
        if hr is not None:
            facts["hr"] = round(hr)
        return facts

    def _start_action(self, index: int) -> Action:
        if index == 0:
            return Action.INFO
        step, previous = self.plan.steps[index], self.plan.steps[index - 1]
        if step.target_zone is None or previous.target_zone is None:
            now, before = (_item_of(step).intensity, _item_of(previous).intensity)
            return Action.PUSH if now > before else Action.EASE_OFF if now < before else Action.HOLD
        low, high = self.plan.steps[index].zone_range
        previous_low, previous_high = self.plan.steps[index - 1].zone_range
        if low > previous_high:
            return Action.PUSH
        if high < previous_low:
            return Action.EASE_OFF
        return Action.HOLD

    def _off_target(
        self, t: int, status: StepStatus, hr: float | None, forecast: Forecast | None
    ) -> list[WorkoutCue]:
        settings = self.settings
        step = status.step
        if (
            hr is None or status.elapsed_s < settings.off_target_grace_s or step.target_zone is None
        ):  # the machine holds the effort, not the heart
            self._off = None
            return []
        margin = settings.off_target_margin_bpm
        direction: Action | None = None
        if hr < status.target_low - margin and (
            step.kind == "work"
            or step.kind == "warmup"
            and status.elapsed_s >= step.duration_s // 2
        ):
            # Below target is fine while recovering or cooling down, and early in a warm-up.
            direction = Action.PUSH
        elif hr >= status.target_high + margin and step.zone_range[1] < 5:
            direction = Action.EASE_OFF  # over a zone-5 target is the safety rules' business
        if direction is not None and forecast is not None:
            # The heart is on its way: no push if it will be in the target in 30 s, and so on.
            ahead = forecast.hr_30s
            if direction is Action.PUSH and ahead >= status.target_low:
                direction = None
            elif direction is Action.EASE_OFF and ahead < status.target_high:
                direction = None
        if direction is None:
            self._off = None
            return []
        if self._off is None or self._off[:2] != (status.index, direction):
            self._off = (status.index, direction, t)
        held = t - self._off[2] + 1
        if held <= settings.off_target_after_s:
            return []
        if status.remaining_s < settings.off_target_min_remaining_s:
            return []
        if t - self._last_off_t.get(status.index, -(10**9)) < settings.off_target_interval_s:
            return []
        facts = self._facts(status.index, hr, status.remaining_s) | {"held_s": held}
        return [WorkoutCue(CueKind.OFF_TARGET, direction, facts, ("off", status.index, t))]


def _item_of(step: PlannedStep) -> _Item:
    low, high = step.zone_range if step.target_zone is not None else (0, 0)
    return _Item(
        step.duration_s, (low, high), step.kind, (), step.power_w, step.speed_kmh, step.incline_pct
    )
