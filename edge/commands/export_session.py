"""`edgecoach export-session`: a session as a FIT activity or a CSV of every second."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from edge.commands._options import resolve_session, session_argument
from edge.settings import Settings

if TYPE_CHECKING:
    from edge.store import SessionStore

NAME = "export-session"
HELP = "write a session as a FIT or CSV file"


def configure(parser: argparse.ArgumentParser) -> None:
    session_argument(parser)
    parser.add_argument(
        "--format",
        choices=("fit", "csv"),
        required=True,
        help="fit: a FIT activity for watches and training sites; csv: every "
        "stored second, for spreadsheets",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write it (default: edgecoach-session-N.fit or .csv here)",
    )


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    from edge.store import open_store

    assert settings is not None
    with open_store(settings.daemon, must_exist=True) as store:
        return run_with_store(args, settings, store)


def run_with_store(args: argparse.Namespace, settings: Settings, store: SessionStore) -> int:
    from edge.reports.exchange import export_csv, export_fit

    session_id = resolve_session(store, args.session)
    out = args.out or Path(f"edgecoach-session-{session_id}.{args.format}")
    export = export_fit if args.format == "fit" else export_csv
    print(export(store, session_id, out))
    return 0


# -- edgecoach import --------------------------------------------------------------------------
