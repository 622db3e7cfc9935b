"""`edgecoach import`: past FIT, TCX, GPX or CSV recordings become sessions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge.settings import Settings

if TYPE_CHECKING:
    from edge.store import SessionStore

NAME = "import"
HELP = "add past FIT, TCX, GPX or CSV recordings as sessions"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="recordings to import: .fit, .tcx, .gpx or .csv",
    )
    parser.add_argument(
        "--person",
        metavar="NAME",
        required=True,
        help="whose sessions they become (zones from their [[people]] profile)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per file")


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    from edge.store import open_store

    assert settings is not None
    with open_store(settings.daemon) as store:
        return run_with_store(args, settings, store)


def run_with_store(args: argparse.Namespace, settings: Settings, store: SessionStore) -> int:
    """Exit status 0 when every file was imported or was already there, 1 when one was bad."""
    from edge.reports.exchange import import_recordings

    profile = settings.person(args.person).profile
    if not settings.configures(args.person) and not args.json:
        print(
            f"edgecoach: {args.person} has no [[people]] entry in {settings.source}: zones "
            "use the [profile] section's resting and maximum heart rate",
            file=sys.stderr,
        )
    results = import_recordings(store, args.files, args.person, profile)
    for result in results:
        if args.json:
            print(json.dumps(result.as_dict()))
        elif result.imported:
            minutes, seconds = divmod(result.duration_s, 60)
            print(
                f"imported {result.path} as session {result.session_id} "
                f"({minutes} min {seconds:02d} s)"
            )
            for warning in result.warnings:  # what was cut or left out, and where
                print(f"  {warning}")
        else:
            print(f"skipped {result.path}: {result.reason}")
    learnt = learn_kinetics(store, args.person, [r.session_id for r in results if r.imported])
    if learnt and not args.json:
        print(f"heart kinetics learnt from {learnt} of them, for the next sessions")
    return 1 if any(r.status == "skipped" for r in results) else 0


def learn_kinetics(store: SessionStore, person: str, session_ids: list[int | None]) -> int:
    """The imported sessions with effort teach the person's heart kinetics, oldest first, as
    the daemon's own sessions do (saved in the person's folder beside the store). Returns how
    many sessions taught something."""
    from edge.health.personal_kinetics import kinetics_path, learn_from_session

    wanted = {i for i in session_ids if i is not None}
    rows = sorted((r for r in store.sessions(person) if r.id in wanted), key=lambda r: r.started_at)
    path = kinetics_path(store.path.parent, person)
    learnt = 0
    for row in rows:
        report = learn_from_session(
            path, person, store.samples(row.id), now=row.started_at.isoformat()
        )
        learnt += bool(report["updated"])
    return learnt
