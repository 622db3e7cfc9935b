"""The guard between the language model and the person's ear.

A model's text is spoken only if

- every number in it comes from the facts (or is a small count such as "2 deep breaths"), and a
  number with a unit ("30 seconds", "zone 5", "176 bpm") matches a fact of that unit;
- it names at least one of the message's key facts, so its point is not lost;
- it asks for what the rules decided (ease off, hold, stop, check the strap...) and says nothing
  that contradicts it ("push on" when the cue says ease off);
- it makes no diagnosis or other medical claim a coach must not make;
- every sentence speaks to the person about the training: none talks about the model itself or
  its instructions ("I'm ready", "You're asked to"), none is about something else ("This is not
  a lie."); action words count as whole words ("resting" does not ask to rest);
- it is speakable: plain words, no markup or emoji, no numbers written as words (which could not
  be checked), within length and sentence bounds.

Anything else is rejected and the template is spoken instead. `check_sentence` applies the checks
one sentence can fail on its own, for text streamed to the speaker sentence by sentence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from edge.core.cues import Action, Cue
from edge.narrator.advice import CUE_KEY_FACTS, Advice, canonical_number, cue_advice

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
BANNED = re.compile(
    r"\b(diagnos\w*|arrhythmi\w*|heart attack|heart disease|heart failure|heart condition|"
    r"heart problem|cardiac arrest|atrial|afib|a-fib|fibrillation|tachycardi\w*|bradycardi\w*|"
    r"hypertensi\w*|stroke|disorder|syndrome|medication|medicine|prescri\w*|pills?|drugs?|"
    r"dosage|supplements?|treatment|cure[sd]?|you have an? (condition|disease|illness)|"
    r"perfectly healthy|nothing to worry about)\b",
    re.IGNORECASE,
)
#: Numbers a sentence may use without them being facts ("take 2 deep breaths").
HARMLESS_NUMBERS = frozenset({"1", "2", "3"})
#: Words at least one of which must appear, so that the text asks for what the coach decided.
#: Whole words only: "resting heart rate" is no advice to rest, "bandwidth" no strap.
ACTION_WORDS = {
    Action.EASE_OFF: re.compile(
        r"\b(ease|eases|easing|easy|easier|slow|slower|slowly|slowing|"
        r"back off|reduce|lower|relax|relaxed|calm|calmer)\b",
        re.I,
    ),
    Action.STOP: re.compile(r"\b(stop|stopping|rest)\b(?! of)", re.I),
    Action.CHECK_SENSOR: re.compile(r"\b(straps?|sensors?|bands?|check|checking)\b", re.I),
    Action.HOLD: re.compile(
        r"\b(hold|holding|keep|keeping|steady|steadily|stay|staying|"
        r"maintain|maintaining|sustain)\b",
        re.I,
    ),
    Action.PUSH: re.compile(
        r"\b(push|pushing|pick up|speed up|harder|faster|hard efforts?|"
        r"work hard)\b",
        re.I,
    ),
}
#: Words that ask for the opposite of the action.
CONTRADICTING_WORDS = {
    Action.EASE_OFF: re.compile(
        r"\b(push|pushing|speed up|pick up|faster|harder|go for it|"
        r"sprint|keep going hard|increase)\b",
        re.I,
    ),
    Action.STOP: re.compile(
        r"\b(keep going|carry on|push|pushing|faster|harder|speed up|"
        r"continue)\b",
        re.I,
    ),
    Action.HOLD: re.compile(r"\b(stop|sprint|speed up|slow down|ease off)\b", re.I),
    Action.PUSH: re.compile(r"\b(stop|slow down|ease off|rest now)\b", re.I),
}
#: The model talking about itself or its instructions instead of to the person: "I'm ready",
#: "You're asked to train...", "As an AI...". A coach's words never describe the coach.
_SELF_TALK = re.compile(
    r"\b(i(?:'m|\u2019m| am)\b(?! not sure| not able)|you(?:'re|\u2019re| are) (?:being )?(?:asked|told|instructed|"
    r"supposed to (?:answer|reply|rephrase|write|say))\b|your (?:task|job|role|instructions?) "
    r"(?:is|are)\b|as (?:an? |your )?(?:ai|assistant|language model|chatbot)\b|"
    r"the (?:user|assistant|system|prompt)\b|(?:user|assistant|system|coach|runner)\s*:|"
    r"let me\b|i(?:'ll|\u2019ll| will) (?:now |try to )?(?:rephrase|rewrite|answer|respond|reply)\b|"
    r"here(?:'s|\u2019s| is) (?:a|an|the|your|my) (?:answer|response|reply|version)\b|"
    r"i hope this helps|(?:^|(?<=[.!?] ))(?:sure|certainly|of course|okay)[,!])",
    re.I,
)
#: A sentence must be about the training: name a fact, or use one of these words. "This is not
#: a lie." (added by a prompt injection) names neither and is refused.
_ON_TOPIC = re.compile(
    r"\b(heart|hr|bpm|beats?|pulse|zones?|effort\w*|pace\w*|speed|cadence|steps?|strides?|"
    r"minutes?|mins?|seconds?|hours?|km|kilomet\w+|distance|sessions?|train\w*|workouts?|"
    r"exercis\w*|run|runs|running|ran|jog\w*|ride|rides|riding|cycl\w*|walk\w*|swim\w*|"
    r"rest\w*|recover\w*|eas\w*|slow\w*|hard\w*|steady|steadily|hold\w*|keep\w*|stay\w*|"
    r"maintain\w*|sustain\w*|push\w*|faster|relax\w*|calm\w*|straps?|sensors?|bands?|contacts?|"
    r"signal|reading\w*|record\w*|breath\w*|drink\w*|water|heat|hot|fatigue\w*|tired\w*|legs?|"
    r"body|plan\w*|today|tomorrow|yesterday|tonight|morning|weeks?|weekly|days?|intervals?|"
    r"warm\w*|cool\w*|load|readiness|ready|hrv|rmssd|doctor|medical|help|stop\w*|intens\w*|"
    r"aerobic|fitness|fitter|fit|max\w*|average\w*|peak\w*|laps?|target|range|limit|sprint\w*|"
    r"goal|progress\w*|build\w*|increase\w*|gradual\w*|volume|long|longer|short|done|"
    r"complete\w*|well|great|nice|good|job|work\w*|data|know|tell|sure|pain|faint|chest|dizzy|"
    r"unwell|safe\w*|injur\w*|health\w*|strong|tempo|base|level|higher|up|down|back|more|less|"
    r"normal|usual|careful\w*)\b",
    re.I,
)
_NEGATION = re.compile(r"\b(don't|do not|not|no|never|without|avoid)\s+(\w+\s+)?$", re.I)
#: Number words beyond the harmless ones: the guard cannot check them, so they are refused.
_NUMBER_WORDS = re.compile(
    r"\b(four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    r"hundred|thousand|dozen)\b",
    re.I,
)
_UNSPEAKABLE = re.compile(r"[*#_`<>\[\]{}|~^@\\]|https?:|[^\x20-\x7e\u2018\u2019\u201c\u201d]")
#: Unit words after a number, and the unit they mean.
_UNIT_AFTER = re.compile(
    r"(\d+(?:\.\d+)?)\s*(seconds?|secs?|s\b|minutes?|mins?|hours?|hrs?|h\b|bpm|beats|km|"
    r"kilomet(?:re|er)s?|%|percent|days?|times|sessions?)",
    re.I,
)
_ZONE_NUMBER = re.compile(r"\bzones?\s+(\d+)", re.I)
_UNIT_OF_WORD = {
    "sec": "s",
    "second": "s",
    "s": "s",
    "minute": "min",
    "min": "min",
    "hour": "h",
    "hr": "h",
    "h": "h",
    "bpm": "bpm",
    "beat": "bpm",
    "km": "km",
    "kilometre": "km",
    "kilometer": "km",
    "%": "pct",
    "percent": "pct",
    "day": "day",
    "time": "count",
    "session": "count",
}
#: The request read back instead of answered ("The runner asked: ...", "Here's a rewritten
#: version"): the base model does this with its rephrase prompt.
_ECHO = re.compile(
    r"\b(rephras\w*|the runner asked|rewritten|coach's answer|the new phrase)\b", re.I
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

#: Facts that carry a cue's point: a text naming none of them has lost the message.
KEY_FACTS = CUE_KEY_FACTS


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""


def fact_unit(key: str) -> str | None:
    """The unit of a fact by its name (`horizon_s` seconds, `max_hr` bpm, `zone` a zone...);
    None when the name does not say."""
    if key.endswith("_s"):
        return "s"
    if key.endswith("_min"):
        return "min"
    if key.endswith(("_h", "hours_since_last")):
        return "h"
    if key.endswith("_km"):
        return "km"
    if key.endswith("_pct"):
        return "pct"
    if key in ("days_ago",):
        return "day"
    if key.endswith(("_score", "load_left")):
        return "points"  # a readiness score or a training load is never minutes or bpm
    if key.startswith("sessions") or key in ("reps",):
        return "count"
    if key == "zone" or key.endswith("_zone"):
        return "zone"
    if (
        key == "hr"
        or "_hr" in key
        or key.startswith("hr_")
        or key.endswith(("_bpm", "_low", "_high", "_lower"))
    ):
        return "bpm"
    return None


def check(text: str, cue: Cue, *, min_chars: int = 8, max_chars: int = 220) -> Verdict:
    """Whether `text` may be spoken for a live cue."""
    advice = cue_advice(cue)
    return check_advice(text, advice, min_chars=min_chars, max_chars=max_chars)


def check_advice(
    text: str, advice: Advice, *, min_chars: int = 8, max_chars: int | None = None
) -> Verdict:
    """Whether `text` may be spoken for `advice` (a cue, a summary, an answer...)."""
    return check_text(
        text,
        advice.facts,
        action=advice.action,
        key_facts=advice.key_facts,
        require=advice.require,
        forbid=advice.forbid,
        max_sentences=advice.max_sentences,
        min_chars=min_chars,
        max_chars=advice.max_chars if max_chars is None else max_chars,
    )


def check_text(
    text: str,
    facts: Mapping[str, object],
    *,
    action: Action | None = None,
    key_facts: tuple[str, ...] = (),
    require: str = "",
    forbid: str = "",
    max_sentences: int = 3,
    min_chars: int = 8,
    max_chars: int = 400,
) -> Verdict:
    stripped = text.strip()
    if len(stripped) < min_chars:
        return Verdict(False, "too short")
    if len(stripped) > max_chars:
        return Verdict(False, f"too long ({len(stripped)} characters)")
    sentences = split_sentences(stripped)
    if len(sentences) > max_sentences:
        return Verdict(False, f"{len(sentences)} sentences (at most {max_sentences})")
    partial = check_sentence(stripped, facts, action=action, forbid=forbid)
    if not partial.ok:
        return partial
    wanted = ACTION_WORDS.get(action) if action is not None else None
    if wanted is not None and not wanted.search(stripped):
        return Verdict(False, f"does not ask the person to {action.value.replace('_', ' ')}")
    if require and not re.search(require, stripped, re.I):
        return Verdict(False, "does not say plainly that it does not know")
    numbers = {canonical_number(n) for n in _NUMBER.findall(stripped)}
    keys = {canonical_number(str(facts[k])) for k in key_facts if k in facts}
    if keys and not keys & numbers:
        return Verdict(False, "names none of the key facts (" + ", ".join(sorted(keys)) + ")")
    return Verdict(True)


def check_sentence(
    sentence: str, facts: Mapping[str, object], *, action: Action | None = None, forbid: str = ""
) -> Verdict:
    """The checks a piece of text fails on its own: claims, numbers, units, contradictions,
    speakability, and `forbid` (words the rules know to be untrue here, such as another
    reason for today's plan). Passing them does not make a whole message (see `check_text`)."""
    banned = BANNED.search(sentence)
    if banned:
        return Verdict(False, f"banned claim: {banned.group(0)!r}")
    echo = _ECHO.search(sentence)
    if echo:
        return Verdict(False, f"reads the request back: {echo.group(0)!r}")
    self_talk = _SELF_TALK.search(sentence)
    if self_talk:
        return Verdict(False, f"talks about itself or its instructions: {self_talk.group(0)!r}")
    untrue = re.search(forbid, sentence, re.I) if forbid else None
    if untrue:
        return Verdict(False, f"says what the facts do not: {untrue.group(0)!r}")
    odd = _UNSPEAKABLE.search(sentence)
    if odd:
        return Verdict(False, f"not speakable: {odd.group(0)!r}")
    word = _NUMBER_WORDS.search(sentence)
    if word:
        return Verdict(False, f"number in words ({word.group(0)!r}): only digits can be checked")
    allowed = {canonical_number(str(v)) for v in facts.values()} | HARMLESS_NUMBERS
    numbers = {canonical_number(n) for n in _NUMBER.findall(sentence)}
    for number in sorted(numbers - allowed):
        return Verdict(False, f"number {number} is not among the facts")
    unit_problem = _unit_problem(sentence, facts)
    if unit_problem:
        return Verdict(False, unit_problem)
    off_topic = _off_topic(sentence, facts)
    if off_topic:
        return Verdict(False, off_topic)
    against = CONTRADICTING_WORDS.get(action) if action is not None else None
    if against is not None:
        for match in against.finditer(sentence):
            if not _NEGATION.search(sentence[: match.start()]):
                return Verdict(
                    False, f"says {match.group(0)!r}, against {action.value.replace('_', ' ')}"
                )  # type: ignore[union-attr]
    return Verdict(True)


_ASKS_STOP = ACTION_WORDS[Action.STOP]


def action_agrees(text: str, action: Action | None) -> bool:
    """Whether `text` asks for `action` and nothing against it. Information (no action, or
    INFO) agrees when it asks neither to stop nor to push."""
    if action is None or action is Action.INFO:
        return not _asks(text, _ASKS_STOP) and not _asks(text, ACTION_WORDS[Action.PUSH])
    wanted = ACTION_WORDS.get(action)
    if wanted is not None and not wanted.search(text):
        return False
    against = CONTRADICTING_WORDS.get(action)
    return against is None or not _asks(text, against)


def _asks(text: str, words: re.Pattern[str]) -> bool:
    return any(not _NEGATION.search(text[: m.start()]) for m in words.finditer(text))


def unknown_numbers(text: str, facts: Mapping[str, object]) -> list[str]:
    """Numbers in `text` that are neither facts nor harmless counts (the "fact errors")."""
    allowed = {canonical_number(str(v)) for v in facts.values()} | HARMLESS_NUMBERS
    return sorted({canonical_number(n) for n in _NUMBER.findall(text)} - allowed)


def _off_topic(text: str, facts: Mapping[str, object]) -> str:
    """A reason when some sentence of `text` is about neither the facts nor the training."""
    words = {str(v).lower() for v in facts.values() if isinstance(v, str)}
    numbers = {canonical_number(str(v)) for v in facts.values()}
    for sentence in split_sentences(text):
        if _ON_TOPIC.search(sentence) or numbers & {
            canonical_number(n) for n in _NUMBER.findall(sentence)
        }:
            continue
        if any(w and re.search(rf"\b{re.escape(w)}\b", sentence, re.I) for w in words):
            continue
        return f"not about the facts: {sentence.strip()[:40]!r}"
    return ""


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def _unit_problem(text: str, facts: Mapping[str, object]) -> str:
    found = [(m.group(1), _unit_word(m.group(2))) for m in _UNIT_AFTER.finditer(text)]
    found += [(m.group(1), "zone") for m in _ZONE_NUMBER.finditer(text)]
    for number, unit in found:
        value = canonical_number(number)
        units = {fact_unit(k) for k, v in facts.items() if canonical_number(str(v)) == value}
        if not units or None in units or unit in units:
            continue  # a harmless count, a fact of unknown unit, or the right unit
        shown = {
            "s": "seconds",
            "min": "minutes",
            "h": "hours",
            "pct": "percent",
            "count": "a count",
        }.get(unit, unit)
        return f"{number} is not a fact in {shown}"
    return ""


def _unit_word(word: str) -> str:
    word = word.lower().rstrip("s") if word.lower() not in ("s",) else "s"
    return _UNIT_OF_WORD.get(word, _UNIT_OF_WORD.get(word[:3], word))
