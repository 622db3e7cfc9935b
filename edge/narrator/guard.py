"""The guard between the language model and the person's ear.

A model's text is spoken only if every number in it comes from the cue's facts (or is a small
count such as "one" written as a digit), it stays within length bounds, and it makes no diagnosis
or other claim a coach must not make. Anything else is rejected and the template is spoken instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.coach.cues import Action, Cue

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
BANNED = re.compile(
    r"\b(diagnos\w*|arrhythmi\w*|heart attack|heart disease|cardiac arrest|atrial|"
    r"tachycardi\w*|bradycardi\w*|medication|prescri\w*|you have an? (condition|disease))\b",
    re.IGNORECASE,
)
#: Numbers a sentence may use without them being facts ("take 2 deep breaths").
HARMLESS_NUMBERS = frozenset({"1", "2", "3"})
#: Words at least one of which must appear, so that the text asks for what the coach decided.
ACTION_WORDS = {
    Action.EASE_OFF: re.compile(r"\b(ease|slow|back off|easier|reduce|lower|relax|calm)", re.I),
    Action.STOP: re.compile(r"\b(stop|rest)", re.I),
    Action.CHECK_SENSOR: re.compile(r"\b(strap|sensor|band|check)", re.I),
    Action.HOLD: re.compile(r"\b(hold|keep|steady|stay|maintain|sustain)", re.I),
}


#: Facts that carry a cue's point: a text naming none of them has lost the message.
KEY_FACTS = ("hr", "zone", "zone5_lower", "forecast_hr")


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""


def check(text: str, cue: Cue, *, min_chars: int = 8, max_chars: int = 220) -> Verdict:
    stripped = text.strip()
    if len(stripped) < min_chars:
        return Verdict(False, "too short")
    if len(stripped) > max_chars:
        return Verdict(False, f"too long ({len(stripped)} characters)")
    banned = BANNED.search(stripped)
    if banned:
        return Verdict(False, f"banned claim: {banned.group(0)!r}")
    wanted = ACTION_WORDS.get(cue.action)
    if wanted is not None and not wanted.search(stripped):
        return Verdict(False, f"does not ask the person to {cue.action.value.replace('_', ' ')}")
    allowed = {_canonical(str(v)) for v in cue.facts.values()} | HARMLESS_NUMBERS
    numbers = {_canonical(n) for n in _NUMBER.findall(stripped)}
    for number in sorted(numbers - allowed):
        return Verdict(False, f"number {number} is not among the facts")
    keys = {_canonical(str(cue.facts[k])) for k in KEY_FACTS if k in cue.facts}
    if keys and not keys & numbers:
        return Verdict(False, "names none of the key facts (" + ", ".join(sorted(keys)) + ")")
    return Verdict(True)


def _canonical(number: str) -> str:
    try:
        value = float(number)
    except ValueError:
        return number
    return str(int(value)) if value == int(value) else str(value)
