"""`edgecoach history`: past sessions, a line each."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from edge.settings import Settings

if TYPE_CHECKING:
    from edge.store import SessionStore

NAME = "history"
HELP = "list past sessions: duration, heart rate, zones 4-5, TRIMP, cues, RPE"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--person", metavar="NAME", help="only this person's sessions")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON array, one object per session, instead of the table",
    )


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    from edge.store import open_store

    assert settings is not None
    with open_store(settings.daemon, must_exist=True) as store:
        return run_with_store(args, settings, store)


def run_with_store(args: argparse.Namespace, settings: Settings, store: SessionStore) -> int:
    from edge.reports.history import format_history, history

    rows = history(store, args.person)
    print(json.dumps(rows, indent=1) if args.json else format_history(rows))
    return 0


# -- edgecoach export-session ------------------------------------------------------------------
