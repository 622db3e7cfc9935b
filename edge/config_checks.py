"""Checks of the settings a person writes, with messages that say what to write instead.

`load_settings` calls these once the TOML is read: a profile no heart can have (an age of 300, a
resting heart rate above the maximum, NaN) would be coached as if it were true ("above your
maximum of -2" every few seconds), so it is refused when the file is read, naming the file, the
section and the value. Pure: values in, the normalised value out or a `ConfigError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from edge.errors import ConfigError
from edge.profile import Profile, name_key, normalise_name

__all__ = [
    "AGE_YEARS",
    "MAX_HR_BPM",
    "MIN_RESERVE_BPM",
    "RESTING_HR_BPM",
    "EFFORT_TARGET_KEYS",
    "check_daemon_speed",
    "check_effort_targets",
    "check_numbers",
    "check_profile",
    "check_unique_names",
    "plan_text",
]

#: Ages the estimate 208 - 0.7 x age (Tanaka) and the coaching guidelines are meant for.
AGE_YEARS = (5, 110)
#: Resting heart rates of people: trained endurance athletes reach the high 20s.
RESTING_HR_BPM = (25.0, 120.0)
#: A measured maximum heart rate.
MAX_HR_BPM = (100.0, 240.0)
#: The least heart-rate reserve (max - resting) that five zones can be cut from.
MIN_RESERVE_BPM = 20.0
#: The longest name shown on a board tile or a spoken greeting.
MAX_NAME_CHARS = 64
#: A planned step's effort targets as TOML keys: (what the text form writes, unit, least, most).
#: The bounds are the workout parser's own (`edge.coach.workouts.PlannedStep`).
EFFORT_TARGET_KEYS: dict[str, tuple[str, str, float, float]] = {
    "power_w": ("W", "watts", 1.0, 2000.0),
    "speed_kmh": ("kmh", "km/h", 0.1, 30.0),
    "incline_pct": ("%", "percent", -10.0, 40.0),
}
#: What a planned step's duration may be written as in TOML text ("90s", "3m", "1m30s", "1h",
#: "2:30"); a whole number is seconds.
_DURATION_TEXT = re.compile(r"^(?:(?=\d)(\d+h)?(\d+m)?(\d+s)?|\d+:[0-5]\d)$")
#: The keys of one planned step's table, besides the effort targets (a name is for the reader).
_STEP_KEYS = ("duration", "zone", "kind", "name")


def check_profile(profile: Profile, where: str) -> Profile:
    """`profile` with its name normalised, or ConfigError saying which value to change."""
    name = normalise_name(profile.name) if isinstance(profile.name, str) else ""
    if not name:
        raise ConfigError(f"{where}: name must be a non-empty name, got {profile.name!r}")
    if len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise ConfigError(
            f"{where}: name must be at most {MAX_NAME_CHARS} printable "
            f"characters, got {profile.name!r}"
        )
    age = profile.age
    if (
        isinstance(age, bool)
        or not isinstance(age, int)
        or not (AGE_YEARS[0] <= age <= AGE_YEARS[1])
    ):
        raise ConfigError(
            f"{where}: age must be whole years from {AGE_YEARS[0]} to "
            f"{AGE_YEARS[1]}, got {age!r}; it sets the estimated maximum heart "
            "rate (208 - 0.7 x age; 206 - 0.88 x age for women) when max_hr is not given"
        )
    resting = _number(profile.resting_hr)
    if resting is None or not RESTING_HR_BPM[0] <= resting <= RESTING_HR_BPM[1]:
        raise ConfigError(
            f"{where}: resting_hr must be beats per minute from "
            f"{RESTING_HR_BPM[0]:g} to {RESTING_HR_BPM[1]:g}, got "
            f"{profile.resting_hr!r}; measure it lying still for a few minutes "
            "after waking (edgecoach morning)"
        )
    if profile.max_hr is not None:
        maximum = _number(profile.max_hr)
        if maximum is None or not MAX_HR_BPM[0] <= maximum <= MAX_HR_BPM[1]:
            raise ConfigError(
                f"{where}: max_hr must be beats per minute from "
                f"{MAX_HR_BPM[0]:g} to {MAX_HR_BPM[1]:g}, got "
                f"{profile.max_hr!r}; leave it out to estimate it from age"
            )
    checked = Profile(
        name=name, age=age, resting_hr=resting, max_hr=profile.max_hr, sex=profile.sex
    )
    reserve = checked.heart_rate_reserve
    if reserve < MIN_RESERVE_BPM:
        maximum_text = (
            f"the maximum estimated from age {age} ({checked.effective_max_hr:.0f})"
            if checked.max_hr_is_estimated
            else f"max_hr ({checked.effective_max_hr:g})"
        )
        raise ConfigError(
            f"{where}: resting_hr ({resting:g}) must be at least "
            f"{MIN_RESERVE_BPM:g} bpm below {maximum_text}: the zones are cut "
            "from the difference; check both values (is resting_hr the maximum, "
            "or the other way round?)"
        )
    return checked


def check_unique_names(names: Iterable[str], where: str) -> None:
    """Refuse two names that are one person to the store ("sam" and "Sam ")."""
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        key = name_key(name)
        if key in seen:
            raise ConfigError(
                f"{where}: [[people]] #{seen[key]} and #{number} share a name, "
                f"{normalise_name(name)!r} (names are compared without case and "
                "surrounding spaces): give each person a name of their own, or "
                "their sessions become one person's"
            )
        seen[key] = number


def check_effort_targets(table: Mapping[str, Any], where: str) -> dict[str, float]:
    """The effort targets of one planned step given as TOML keys (`power_w`, `speed_kmh`,
    `incline_pct`), checked: a number in its range, whole watts, and a bike's power or a
    treadmill's speed and incline, not both. ConfigError says which value to change."""
    found: dict[str, float] = {}
    for key, (_, unit, least, most) in EFFORT_TARGET_KEYS.items():
        if key not in table:
            continue
        value = _number(table[key])
        if value is None or not least <= value <= most:
            raise ConfigError(
                f"{where}: {key} must be a number of {unit} from {least:g} to {most:g}, "
                f"got {table[key]!r}"
            )
        if key == "power_w" and value != int(value):
            raise ConfigError(f"{where}: power_w must be whole watts, got {table[key]!r}")
        found[key] = value
    if "power_w" in found and ({"speed_kmh", "incline_pct"} & set(found)):
        raise ConfigError(
            f"{where}: a step holds a bike's power (power_w) or a treadmill's speed and "
            "incline (speed_kmh, incline_pct), not both"
        )
    return found


def plan_text(steps: Any, where: str) -> str:
    """A planned workout given as TOML step tables, in the text form the workout parser reads
    ("10m z2, 4x(3m 250W, 2m 120W)"); text is returned as it is. A step table has `duration`
    (seconds, or text like "3m"), and a `zone` (1..5, "3-4" or [3, 4]) and/or effort targets
    (`power_w`, `speed_kmh`, `incline_pct`), and may name its `kind`; a repeat is `repeat = N`
    with `steps` (text or tables). ConfigError names the step and the value to change."""
    if isinstance(steps, str):
        return steps
    if not isinstance(steps, list) or not steps:
        raise ConfigError(
            f'{where}: a plan is text like "4x(3m 250W, 2m 120W)" or an array of step tables '
            "(duration, zone, power_w, speed_kmh, incline_pct, kind; or repeat and steps)"
        )
    parts = []
    for number, table in enumerate(steps, start=1):
        here = f"{where} step #{number}"
        if not isinstance(table, dict):
            raise ConfigError(f"{here} must be a table")
        if "repeat" in table:
            unknown = set(table) - {"repeat", "steps"}
            if unknown:
                raise ConfigError(
                    f"{here}: unknown key(s) {', '.join(sorted(unknown))} in a repeat; "
                    "a repeat has repeat and steps"
                )
            count = table["repeat"]
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
                raise ConfigError(f"{here}: repeat must be a whole number from 1 to 100")
            parts.append(f"{count}x({plan_text(table.get('steps'), here)})")
            continue
        unknown = set(table) - set(_STEP_KEYS) - set(EFFORT_TARGET_KEYS)
        if unknown:
            raise ConfigError(
                f"{here}: unknown key(s) {', '.join(sorted(unknown))}; known: "
                f"{', '.join((*_STEP_KEYS, *EFFORT_TARGET_KEYS))} (or repeat and steps)"
            )
        words = [_duration_word(table.get("duration"), here)]
        if "zone" in table:
            words.append(_zone_word(table["zone"], here))
        targets = check_effort_targets(table, here)
        if "zone" not in table and not ({"power_w", "speed_kmh"} & set(targets)):
            raise ConfigError(f"{here}: a step needs a zone, a power_w or a speed_kmh")
        for key, value in targets.items():
            words.append(f"{value:g}{EFFORT_TARGET_KEYS[key][0]}")
        if "kind" in table:
            kind = table["kind"]
            if not isinstance(kind, str) or not re.fullmatch(r"[a-z-]+", kind.lower()):
                raise ConfigError(
                    f"{here}: kind must be warmup, work, recover or cooldown, got {kind!r}"
                )
            words.append(kind.lower())
        parts.append(" ".join(words))
    return ", ".join(parts)


def _duration_word(value: Any, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 86_400:
        return f"{value}s"
    if isinstance(value, str) and value.strip() and _DURATION_TEXT.match(value.strip().lower()):
        return value.strip().lower()
    raise ConfigError(
        f'{where}: duration must be seconds (1 to 86400) or text like "90s", "3m", "1m30s", '
        f'"1h" or "2:30", got {value!r}'
    )


def _zone_word(value: Any, where: str) -> str:
    low = high = None
    if isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    elif isinstance(value, list) and len(value) == 2 and all(type(z) is int for z in value):
        low, high = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d\s*(-\s*\d\s*)?", value):
        numbers = [int(n) for n in re.findall(r"\d", value)]
        low, high = numbers[0], numbers[-1]
    if low is None or high is None or not 1 <= low <= high <= 5:
        raise ConfigError(f'{where}: zone must be 1..5, "3-4" or [3, 4], got {value!r}')
    return f"z{low}" if low == high else f"z{low}-{high}"


def check_daemon_speed(speed: Any, where: str) -> float:
    """`[daemon] speed`: 0 (as fast as possible) or a positive finite number."""
    value = _number(speed)
    if value is None or value < 0:
        raise ConfigError(
            f"{where}: speed must be 0 (as fast as possible) or a positive number "
            f"of workout seconds per second, got {speed!r}"
        )
    return value


def check_numbers(
    values: Any, where: str, *, positive: Iterable[str] = (), not_negative: Iterable[str] = ()
) -> None:
    """Refuse NaN or infinity in any float field of a settings dataclass, and values below
    zero (or at zero, for `positive`) in the named ones."""
    for name in getattr(values, "__dataclass_fields__", {}):
        value = getattr(values, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: {name} must be a finite number, got {value!r}")
    for name in positive:
        value = getattr(values, name)
        if isinstance(value, int | float) and value <= 0:
            raise ConfigError(f"{where}: {name} must be more than 0, got {value!r}")
    for name in not_negative:
        value = getattr(values, name)
        if isinstance(value, int | float) and value < 0:
            raise ConfigError(f"{where}: {name} must be 0 or more, got {value!r}")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def check_sections(sections: dict[str, Any], path: object) -> dict[str, Any]:
    """The loader's sections with the profile normalised; ConfigError for a value no device or
    person can have (NaN anywhere, a negative speed, a profile no heart fits)."""
    import dataclasses

    checked = dict(sections)
    checked["profile"] = check_profile(sections["profile"], f"{path} [profile]")
    daemon = sections["daemon"]
    checked["daemon"] = dataclasses.replace(
        daemon, speed=check_daemon_speed(daemon.speed, f"{path} [daemon]")
    )
    check_numbers(
        sections["llm"],
        f"{path} [llm]",
        positive=("timeout_s", "max_tokens"),
        not_negative=("threads",),
    )
    check_numbers(sections["speech"], f"{path} [speech]", positive=("words_per_minute",))
    check_numbers(sections["health"], f"{path} [health]", positive=("threads",))
    check_numbers(sections["display"], f"{path} [display]", not_negative=("min_refresh_s",))
    return checked
