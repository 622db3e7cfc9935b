"""``edgecoach ask "QUESTION"``: answers from the person's own recorded data, or says it can't.

The question's intent is found by keywords (`edge.narrator.advice.classify_question`); the facts
that intent needs are read from the session store (the last session, the recent trend, the week's
load and the plan the coach's rules make from it, the zones from the profile); the rules word an
answer from those facts; the language model may reword it, and the guard checks every number
against the facts before it is shown. Safety words ("chest pain", "dizzy") always get the fixed
advice to stop and seek help, never a model's words. With no recorded sessions the answer says
so plainly instead of guessing.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from edge.core.zones import ZoneModel
from edge.errors import EdgecoachError
from edge.narrator.advice import (
    HARD_SESSION_MIN,
    MAX_WEEKLY_INCREASE_PCT,
    TREND_SESSIONS,
    Intent,
    classify_question,
    no_data_answer,
    plan_facts,
    question_advice,
    summary_facts,
)
from edge.narrator.llm import LlamaEngine
from edge.narrator.narrator import Narrator, NarratorSettings
from edge.profile import Profile
from edge.reports.fitness import FitnessMarkers, fitness_trend, session_markers
from edge.settings import Settings
from edge.store import DATABASE_NAME, SessionRow, SessionStore
from edge.training.readiness import is_morning_reading

log = logging.getLogger(__name__)

NAME = "ask"
HELP = "ask about your own training; answered from your recorded data"

#: Intents answered from the profile or fixed words, without any recorded session.
_WITHOUT_DATA = (Intent.SAFETY, Intent.MEDICAL, Intent.UNKNOWN, Intent.ZONES)
_ZONE_ASKED = re.compile(r"\bzone\s*([1-5])\b", re.IGNORECASE)
#: Minutes (or hours) a volume question asks about: "Can I train 200 minutes next week?"
_MINUTES_ASKED = re.compile(r"\b(\d+(?:\.\d+)?)\s*(minutes?|mins?|hours?|hrs?|h)\b", re.IGNORECASE)
_DOUBLING = re.compile(r"\b(doubl\w*|twice)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    #: "llm" (the model's words, guard passed) or "template" (the rules' words).
    source: str
    facts_used: Mapping[str, object] = field(default_factory=dict)
    intent: str = ""
    #: Why the template was used, when it was.
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "facts_used", MappingProxyType(dict(self.facts_used)))

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "source": self.source,
            "intent": self.intent,
            "facts_used": dict(self.facts_used),
            "reason": self.reason,
        }


# -- facts from the store ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Session:
    row: SessionRow
    summary: dict[str, Any]
    started: datetime
    ended: datetime


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _summary_of(store: SessionStore, row: SessionRow) -> dict[str, Any] | None:
    """The stored summary, or one made from the samples of a session a crash cut short."""
    if row.summary and row.summary.get("duration_s"):
        return row.summary
    samples = store.samples(row.id)
    if not samples:
        return None
    zones = ZoneModel.for_profile(row.profile)
    rates = [s.hr_bpm for s in samples if s.hr_bpm is not None]
    in_zone = {str(z): 0 for z in range(6)}
    for hr in rates:
        in_zone[str(zones.zone(hr))] += 1
    distances = [s.distance_m for s in samples if s.distance_m is not None]
    return {
        "duration_s": len(samples),
        "mean_hr": sum(rates) / len(rates) if rates else None,
        "max_hr": max(rates) if rates else None,
        "time_in_zone_s": in_zone,
        "distance_m": max(distances) if distances else None,
        "gaps": [],
    }


def recorded_sessions(store: SessionStore | None, person: str | None = None) -> list[_Session]:
    """Training sessions with samples, oldest first: `person`'s when they have any, else
    everyone's. Morning readings (`edgecoach morning`) are not training and are left out."""
    if store is None:
        return []
    rows = store.sessions(person) if person else []
    rows = rows or store.sessions()
    found = []
    for row in rows:
        if is_morning_reading(row.source):
            continue
        summary = _summary_of(store, row)
        if summary is None:
            continue
        started = _aware(row.started_at)
        ended = _aware(row.ended_at) if row.ended_at is not None else started
        if row.ended_at is None or ended <= started:
            ended = started + timedelta(seconds=int(summary["duration_s"]))
        found.append(_Session(row, summary, started, ended))
    return sorted(found, key=lambda s: s.started)


def fitness_points(
    store: SessionStore, sessions: Sequence[_Session]
) -> list[tuple[datetime, FitnessMarkers]]:
    """Each session's fitness markers with its start: as stored when it ended, or worked out
    from its samples for one stored before markers were (left out when it has too little
    effort)."""
    stored: dict[int, dict[str, Any]] = {}
    for person in {s.row.person for s in sessions}:
        stored |= store.fitness(person)
    points = []
    for session in sessions:
        if session.row.id in stored:
            markers: FitnessMarkers | None = FitnessMarkers.from_dict(stored[session.row.id])
        else:
            markers = session_markers(store.samples(session.row.id))
        if markers is not None:
            points.append((session.started, markers))
    return points


def _hard_min(summary: Mapping[str, Any]) -> int:
    zones = summary.get("time_in_zone_s") or {}
    return round((int(zones.get("4", 0)) + int(zones.get("5", 0))) / 60)


def _load_facts(sessions: Sequence[_Session], now: datetime) -> dict[str, Any]:
    last = sessions[-1]
    week = [s for s in sessions if (now - s.started).total_seconds() <= 7 * 86400]
    return {
        "hours_since_last": max(0, round((now - last.ended).total_seconds() / 3600)),
        "last_hard_min": _hard_min(last.summary),
        "sessions_7d": len(week),
        "hard_sessions_7d": sum(1 for s in week if _hard_min(s.summary) >= HARD_SESSION_MIN),
    }


def gather_facts(
    intent: Intent, question: str, sessions: Sequence[_Session], profile: Profile, now: datetime
) -> dict[str, Any]:
    """The facts `intent` needs, from the sessions (oldest first) and the profile."""
    zones = ZoneModel.for_profile(profile)
    match intent:
        case Intent.LAST_SESSION | Intent.HEART_RATE:
            last = sessions[-1]
            days = (now.astimezone().date() - last.started.astimezone().date()).days
            facts = summary_facts(last.summary, days_ago=max(0, days))
            if intent is Intent.HEART_RATE:
                keep = ("duration_min", "mean_hr", "max_hr", "days_ago")
                facts = {k: facts[k] for k in keep if k in facts}
            return facts
        case Intent.ZONES:
            base = {"resting_hr": round(zones.resting_hr), "max_hr": round(zones.max_hr)}
            asked = _ZONE_ASKED.search(question)
            if asked:
                zone = int(asked.group(1))
                low, high = zones.bounds_bpm(zone)
                return {"zone": zone, "zone_low": low, "zone_high": high, **base}
            return base | {"zone5_lower": round(zones.lower_bpm(5))}
        case Intent.TREND:
            rated = [s for s in sessions if s.summary.get("mean_hr") is not None]
            facts: dict[str, Any] = {"sessions": len(rated)}
            if len(rated) >= 2 * TREND_SESSIONS:
                recent = rated[-TREND_SESSIONS:]
                before = rated[-2 * TREND_SESSIONS : -TREND_SESSIONS]
                facts["mean_hr_recent"] = round(
                    sum(float(s.summary["mean_hr"]) for s in recent) / len(recent)
                )
                facts["mean_hr_before"] = round(
                    sum(float(s.summary["mean_hr"]) for s in before) / len(before)
                )
            return facts
        case Intent.READINESS:
            load = _load_facts(sessions, now)
            return {k: load[k] for k in ("hours_since_last", "last_hard_min", "sessions_7d")}
        case Intent.PLAN:
            load = _load_facts(sessions, now)
            return plan_facts(**load, zone_bounds={z: zones.bounds_bpm(z) for z in range(1, 6)})
        case Intent.VOLUME:
            return volume_facts(question, sessions, now)
    return {}


def volume_facts(question: str, sessions: Sequence[_Session], now: datetime) -> dict[str, Any]:
    """Facts for "Can I train 200 minutes next week?", "Is it fine to double my long run?":
    the minutes trained in the last 7 days, 10 % more as next week's most, the minutes asked
    about, and for a doubling the longest session of the last 14 days."""

    def minutes(s: _Session) -> float:
        return int(s.summary.get("duration_s") or 0) / 60

    def within(days: int) -> list[_Session]:
        return [s for s in sessions if (now - s.started).total_seconds() <= days * 86400]

    last = round(sum(minutes(s) for s in within(7)))
    facts: dict[str, Any] = {
        "last_week_min": last,
        "increase_pct": MAX_WEEKLY_INCREASE_PCT,
        "next_week_max_min": round(last * (1 + MAX_WEEKLY_INCREASE_PCT / 100)),
    }
    asked = _MINUTES_ASKED.search(question)
    if asked:
        value = float(asked.group(1)) * (60 if asked.group(2).lower().startswith("h") else 1)
        facts["asked_min"] = round(value)
    recent = within(14)
    if _DOUBLING.search(question) and recent:
        longest = round(max(minutes(s) for s in recent))
        facts.update(
            doubling="yes",
            longest_min=longest,
            longest_next_max_min=round(longest * (1 + MAX_WEEKLY_INCREASE_PCT / 100)),
        )
    return facts


def answer_question(
    question: str,
    store: SessionStore | None,
    profile: Profile,
    engine: Any,
    *,
    now: datetime | None = None,
    settings: NarratorSettings | None = None,
    app_settings: Settings | None = None,
) -> Answer:
    """Answer `question` from the store's sessions (None: there is no store yet).

    `engine` is a `LlamaEngine` or None (the rules' words only). Blocking: call it from a
    worker thread in async code.
    """
    # With the app's settings a plan question gets exactly `edgecoach plan`'s suggestion
    # (measured profile, load, readiness, feedback); without, the simple rules below.
    now = _aware(now) if now is not None else datetime.now(UTC)
    intent = classify_question(question)
    sessions = recorded_sessions(store, profile.name) if intent not in _WITHOUT_DATA else []
    if intent not in _WITHOUT_DATA and not sessions:
        advice = no_data_answer(question)
    elif intent is Intent.PLAN and store is not None and app_settings is not None:
        from edge.narrator.plans import suggestion_advice
        from edge.training.inputs import todays_suggestion

        suggestion, inputs = todays_suggestion(
            store, app_settings, profile.name, now.astimezone().date()
        )
        advice = suggestion_advice(
            suggestion, ZoneModel.for_profile(inputs.profile), question=question
        )
    elif intent is Intent.READINESS and store is not None and app_settings is not None:
        # "Am I ready to train today?": the one readiness and today's plan, as `plan` says.
        from edge.narrator.plans import readiness_advice_for
        from edge.training.inputs import todays_suggestion

        suggestion, inputs = todays_suggestion(
            store, app_settings, profile.name, now.astimezone().date()
        )
        advice = readiness_advice_for(suggestion, ZoneModel.for_profile(inputs.profile), question)
    else:
        facts = gather_facts(intent, question, sessions, profile, now)
        if intent is Intent.TREND and store is not None:
            facts |= fitness_trend(fitness_points(store, sessions))
        advice = question_advice(question, intent, facts)
    narrator = Narrator(engine, settings or NarratorSettings(timeout_s=8.0), "no language model")
    try:
        narration = narrator.narrate_sync(advice)
    finally:
        narrator.shutdown()  # the engine is the caller's to close
    return Answer(narration.text, narration.source, advice.facts, advice.kind, narration.reason)


# -- the command --------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Answer a question from your own recorded sessions (the last one, "
        "the recent trend, today's plan, your zones); says so when it does "
        "not know."
    )
    parser.add_argument("question", nargs="+", help='the question, e.g. "How did my run go?"')
    parser.add_argument(
        "--state-dir", type=Path, help="where the session store is (default: [daemon] state_dir)"
    )
    parser.add_argument(
        "--person", help="whose sessions to answer from (default: the one person in the config)"
    )
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.add_argument("--no-llm", action="store_true", help="the rules' words only")


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    assert settings is not None
    question = " ".join(args.question).strip()
    if not question:
        raise EdgecoachError('ask needs a question, e.g. edgecoach ask "How did my run go?"')
    # The person `edgecoach plan` would plan for, with their own profile: before, ask used the
    # [profile] section even when [[people]] named someone, so its zones differed from plan's.
    person = args.person or settings.default_person()
    engine = None
    if settings.llm.enabled and not args.no_llm:
        engine = _load_engine(settings)
    from edge.store import open_store

    # No database yet: the answer says there is nothing recorded (and none is created).
    recorded = (Path(args.state_dir or settings.daemon.state_dir) / DATABASE_NAME).is_file()
    store = open_store(settings.daemon, args.state_dir) if recorded else None
    try:
        answer = answer_question(
            question,
            store,
            settings.person(person).profile,
            engine,
            settings=NarratorSettings(
                timeout_s=max(settings.llm.timeout_s, 8.0), max_tokens=settings.llm.max_tokens
            ),
            app_settings=settings,
        )
    finally:
        if store is not None:
            store.close()
        if engine is not None:
            engine.close()
    if args.json:
        print(json.dumps(answer.as_dict()))
    else:
        print(answer.text)
    return 0


def _load_engine(settings: Settings) -> LlamaEngine | None:
    from edge.narrator.llm import open_engine

    try:
        # The coaching adapter on its verified base when the models folder vouches for it.
        return open_engine(
            settings.llm.model_path,
            settings.health.models_dir,
            threads=settings.llm.threads or None,
        )
    except EdgecoachError as exc:
        log.warning("answering with the rules' words only: %s", exc)
        return None
