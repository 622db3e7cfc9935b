"""`edgecoach export-data`: everything held about a person, in open formats (JSON, CSV)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TextIO

from edge.settings import Settings

NAME = "export-data"
HELP = "everything held about a person, in open formats (JSON, CSV)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write everything stored about a person in open formats: person.json (profile, "
        "sessions, cues and the words spoken, feedback), one CSV of samples per session, and a "
        "README.txt describing them. The files hold health data: keep them safe."
    )
    parser.add_argument(
        "person", nargs="?", help="whose data (default: everyone in the store, one folder each)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder to write into (default: ./edgecoach-export-YYYY-MM-DD)",
    )
    parser.add_argument("--state-dir", type=Path, help="override [daemon] state_dir")


def run(
    args: argparse.Namespace, settings: Settings | None, *, stdout: TextIO | None = None
) -> int:
    """`edgecoach export-data`: 0 when written. With PERSON the files go into --out itself;
    without, each person's into --out/<name>/."""
    from edge.reports.personal_data import export_person, folder_name
    from edge.store import open_store

    assert settings is not None
    stdout = sys.stdout if stdout is None else stdout
    out = args.out or Path.cwd() / f"edgecoach-export-{date.today().isoformat()}"
    with open_store(settings.daemon, args.state_dir, must_exist=True) as store:
        if args.person:
            targets = [(args.person.strip(), out)]
        else:
            targets = [(row.name, out / folder_name(row.name)) for row in store.people()]
            if not targets:
                print(f"{store.path} holds no one's data yet; nothing exported.", file=stdout)
                return 0
        for person, folder in targets:
            paths = export_person(store, person, folder)
            print(f"{person}: {len(paths)} files in {folder}", file=stdout)
    return 0


# -- helpers -----------------------------------------------------------------------------------
