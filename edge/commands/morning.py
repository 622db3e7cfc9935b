"""`edgecoach morning`: a resting reading (heart rate and HRV), then today's readiness.

Lie or sit still for a couple of minutes with the band on, ideally on waking and always in the
same position: the daemon's own path records the band (BLE, or the virtual band / simulator
playing "morning rest") into the store as a short session, the still period at its start gives
resting heart rate and RMSSD (`reading_from_samples`), and readiness compares it with the
readings of the last days, as `edgecoach plan` does. Nothing here is new measurement code: the
session is stored like any other, so the plan and history see it too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, EdgecoachError
from edge.settings import Person, Settings

log = logging.getLogger(__name__)

NAME = "morning"
HELP = "a resting reading (heart rate, HRV) and today's readiness"

#: Seconds a band records for the reading: 10 to settle, then two minutes.
DEFAULT_SECONDS = 130
MIN_SECONDS = 70


class MorningError(EdgecoachError):
    """The reading could not be taken; the message says what to do."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Take a resting reading (heart rate and HRV from RR intervals): lie or sit still with "
        "the band on for about two minutes, ideally on waking, always in the same position. "
        "Prints the reading and today's readiness against your last days."
    )
    parser.add_argument("--person", help="whose band to read (default: the one configured)")
    parser.add_argument(
        "--seconds",
        type=int,
        default=DEFAULT_SECONDS,
        help=f"how long a BLE band records (default {DEFAULT_SECONDS}; at least {MIN_SECONDS})",
    )
    parser.add_argument(
        "--source",
        choices=("ble", "virtual", "simulator"),
        help="override [daemon] source (virtual and simulator play a resting person)",
    )
    parser.add_argument("--state-dir", type=Path, help="override [daemon] state_dir")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--no-llm",
        action="store_true",
        help="the rules' words only (no language-model wording of the day)",
    )


def _person(settings: Settings, name: str | None) -> Person:
    people = settings.people or (Person(settings.profile),)
    if name is None:
        if len(people) > 1:
            names = ", ".join(p.profile.name for p in people)
            raise ConfigError(f"several people are configured ({names}): choose one with --person")
        return people[0]
    for person in people:
        if person.profile.name == name:
            return person
    raise ConfigError(
        f"{name} is not in {settings.source}; configured: "
        f"{', '.join(p.profile.name for p in people)}"
    )


def reading_settings(settings: Settings, person: Person, args: argparse.Namespace) -> Settings:
    """The daemon's settings for one person's resting reading: their band only, no screens,
    the "morning" workout for a simulated band."""
    daemon = settings.daemon
    if args.source:
        daemon = dataclasses.replace(daemon, source=args.source)
    if args.state_dir:
        daemon = dataclasses.replace(daemon, state_dir=args.state_dir)
    daemon = dataclasses.replace(daemon, virtual_link_losses=())
    display = dataclasses.replace(settings.display, kind="none")
    kiosk = dataclasses.replace(settings.kiosk, enabled=False)
    return dataclasses.replace(
        settings,
        daemon=daemon,
        display=display,
        kiosk=kiosk,
        people=(dataclasses.replace(person, workout="morning"),),
    )


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    from edge.commands.plan import explain_advice
    from edge.core.zones import ZoneModel
    from edge.daemon import DaemonOptions, run_daemon
    from edge.narrator.plans import readiness_advice_for
    from edge.store import open_store
    from edge.training.inputs import MORNING_SOURCE, todays_suggestion
    from edge.training.readiness import reading_from_samples

    assert settings is not None
    if args.seconds < MIN_SECONDS:
        raise ConfigError(
            f"--seconds {args.seconds} is too short for a resting reading: give "
            f"at least {MIN_SECONDS} (10 to settle and a minute to measure)"
        )
    person = _person(settings, args.person)
    reading = reading_settings(settings, person, args)
    name = person.profile.name
    # A real band records for the time asked; a simulated one plays its 150 s rest and ends.
    limit = args.seconds + 15.0 if reading.daemon.source == "ble" else None
    print(
        f"Lie or sit still with the band on; recording {name} ({reading.daemon.source})...",
        flush=True,
    )
    run_daemon(
        reading,
        DaemonOptions(
            json=False,
            max_runtime_s=limit,
            resume=False,
            session_source=MORNING_SOURCE + reading.daemon.source,
        ),
    )
    with open_store(reading.daemon) as store:
        rows = sorted(store.sessions(name), key=lambda r: (r.started_at, r.id))
        if not rows:
            raise MorningError(
                f"nothing was recorded for {name}: is the band on and in reach? "
                "`edgecoach doctor` checks the Bluetooth side"
            )
        session = rows[-1]
        samples = store.samples(session.id)
        today = datetime.now().astimezone().date()
        found = reading_from_samples(today, samples, declared_still=True)
        if found is None:
            raise MorningError(
                f"session {session.id} has no still minute at its start ({len(samples)} s "
                "recorded): the band must report heart rate (and a footpod, if worn, no "
                "movement) for at least 70 s. Lie still and try again."
            )
        suggestion, inputs = todays_suggestion(store, reading, name, today)
    state = inputs.readiness
    # What the reading means for today, as `ask "Am I ready to train today?"` says it: the
    # language model's words when it has them in time and the guard passes them.
    words = explain_advice(
        readiness_advice_for(
            suggestion, ZoneModel.for_profile(inputs.profile), "Am I ready to train today?"
        ),
        settings,
        use_llm=not getattr(args, "no_llm", False),
    )
    result: dict[str, Any] = {
        "person": name,
        "session_id": session.id,
        "seconds": len(samples),
        "resting_hr_bpm": found.resting_hr,
        "rmssd_ms": None if found.rmssd_ms is None else round(found.rmssd_ms, 1),
        "readiness": {"level": state.level, "score": state.score, "basis": state.basis},
        "words": words,
    }
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    hrv = (
        "no RR intervals from this band: HRV not measured"
        if found.rmssd_ms is None
        else f"HRV (RMSSD) {found.rmssd_ms:.0f} ms"
    )
    print(
        f"{name}: resting heart rate {found.resting_hr:.0f} bpm, {hrv} "
        f"(session {session.id}, {len(samples)} s)."
    )
    if state.score is None:
        print(f"Readiness: {state.level} ({state.basis.get('reason', 'not enough readings')}).")
    else:
        print(f"Readiness: {state.level} ({state.score}/100 against your normal).")
    said_by = (
        "the on-device language model"
        if words["source"] == "llm"
        else f"the rules ({words['reason']})"
    )
    print(f"Today ({said_by}):\n  {words['text']}")
    return 0
