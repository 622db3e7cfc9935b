"""`edgecoach forget`: erase everything held about a person, for good."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from edge.settings import DaemonSettings, Settings

if TYPE_CHECKING:
    from edge.store import SessionStore

NAME = "forget"
HELP = "erase everything held about a person, for good"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Erase everything stored about a person: their sessions, samples, cues, spoken words, "
        "feedback and name, leaving no recoverable copy in the database. Stop the daemon first "
        "(sudo systemctl stop edgecoach). This cannot be undone."
    )
    parser.add_argument(
        "person",
        nargs="?",
        help="whom to forget (default: the one person in the config, when there is exactly one)",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation (required when not run from a terminal)",
    )
    parser.add_argument("--state-dir", type=Path, help="override [daemon] state_dir")


def run(
    args: argparse.Namespace,
    settings: Settings | None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """`edgecoach forget`: 0 when erased, 1 when the person said no, 2 without --yes and no
    terminal to ask on. Store and key problems are raised as EdgecoachError for the CLI."""
    from edge.reports.personal_data import forget_person, known_person
    from edge.store import open_store

    assert settings is not None
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    interactive = _isatty(stdin)
    if not args.yes and not interactive:
        print(
            "edgecoach: forget erases data for good and there is no terminal to confirm "
            "on: add --yes",
            file=sys.stderr,
        )
        return 2
    refuse_beside_the_daemon(settings.daemon, args.state_dir)
    with open_store(settings.daemon, args.state_dir, must_exist=True) as store:
        person = _person_to_forget(args.person, settings, store)
        known_person(store, person)
        if not args.yes:
            sessions = store.sessions(person)
            samples = sum(row.sample_count for row in sessions)
            stdout.write(
                f"Erase everything stored about {person!r} ({len(sessions)} "
                f"sessions, {samples} samples) from {store.path}? This cannot be "
                "undone. [y/N] "
            )
            stdout.flush()
            if stdin.readline().strip().lower() not in ("y", "yes"):
                print("Nothing was erased.", file=stdout)
                return 1
        report = forget_person(store, person)
    print(
        f"Forgot {person!r}: {report.sessions} sessions, {report.samples} samples, "
        f"{report.cues} cues, {report.narrations} spoken cues, {report.feedback} feedback "
        f"notes, {report.fitness} sessions' fitness markers and {report.state_files} learnt "
        f"heart-kinetics file(s) erased; the database went from {report.bytes_before} to "
        f"{report.bytes_after} bytes.",
        file=stdout,
    )
    return 0


def refuse_beside_the_daemon(daemon: DaemonSettings, state_dir: Path | None) -> None:
    """Erasing while `edgecoach run` records into the same store would delete rows it is
    about to write after (and, before the store dropped conflicting rows alone, cost other
    people's samples): refuse, saying what to do. The daemon holds the store's recording lock."""
    from edge.store import DATABASE_NAME, StoreError, recording_daemon

    path = Path(state_dir or daemon.state_dir) / DATABASE_NAME
    if (pid := recording_daemon(path)) is not None:
        running = f"edgecoach run (pid {pid})" if pid else "edgecoach run"
        raise StoreError(
            f"{running} is recording into {path}: forgetting now could cost "
            "other people's samples; stop it first (sudo systemctl stop "
            "edgecoach), then run this again; nothing was erased",
            path=path,
        )


def _person_to_forget(given: str | None, settings: Settings, store: SessionStore) -> str:
    if given is not None and given.strip():
        return given.strip()
    configured = [p.profile.name for p in settings.people] or [settings.profile.name]
    if len(configured) == 1:
        return configured[0]
    held = ", ".join(repr(row.name) for row in store.people()) or "no one yet"
    from edge.reports.personal_data import UnknownPersonError

    raise UnknownPersonError(
        f"name the person to forget: edgecoach forget NAME ({store.path} holds {held})",
        path=store.path,
    )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
