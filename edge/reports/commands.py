"""`edgecoach report | history | export-session | import`: flags and what each command does.

Each command is a `configure_*(parser)` that adds its flags and a `run_*(args, settings, store)`
that does the work and returns the exit status; `COMMANDS` lists them for the CLI to wire up.
This module imports only argparse at the top, so building the parser stays quick; the work's
modules (matplotlib, fit_tool) load when a command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.profile import Profile
    from edge.settings import Settings
    from edge.store import SessionStore

__all__ = [
    "COMMANDS",
    "configure_export",
    "configure_history",
    "configure_import",
    "configure_report",
    "run_export",
    "run_history",
    "run_import",
    "run_report",
]

Runner = Callable[[argparse.Namespace, "Settings", "SessionStore"], int]


def _session_ref(text: str) -> int | str:
    if text == "last":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a session number (or 'last'); `edgecoach history` lists them"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError("session numbers start at 1")
    return value


def _session_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", metavar="SESSION", type=_session_ref,
                        help="the session's number (`edgecoach history` lists them), or 'last' "
                        "for the newest")


def _resolve(store: SessionStore, ref: int | str) -> int:
    from edge.reports.metrics import ReportError

    if ref != "last":
        return int(ref)
    sessions = store.sessions()
    if not sessions:
        raise ReportError(f"there are no sessions in {store.path} yet")
    return sessions[-1].id


# -- edgecoach report --------------------------------------------------------------------------

def configure_report(parser: argparse.ArgumentParser) -> None:
    """Add `edgecoach report`'s arguments to `parser`."""
    _session_argument(parser)
    parser.add_argument("--out", type=Path, metavar="FILE.html",
                        help="where to write it (default: edgecoach-session-N.html here)")
    parser.add_argument("--open", action="store_true",
                        help="open it in the web browser when written")
    parser.add_argument("--no-llm", action="store_true",
                        help="the summary in the coach's template words, no language model")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON object (path, summary text and its source) instead "
                        "of the path")


#: A report is not spoken live: the language model may take this long for its summary.
REPORT_LLM_TIMEOUT_S = 30.0


def run_report(args: argparse.Namespace, settings: Settings, store: SessionStore) -> int:
    from edge.reports.metrics import load_session
    from edge.reports.report import summary_words, write_report

    session_id = _resolve(store, args.session)
    out = args.out or Path(f"edgecoach-session-{session_id}.html")
    data = load_session(store, session_id)  # an unknown session fails before a model loads
    narrator = _report_narrator(settings, no_llm=args.no_llm)
    try:
        words = summary_words(data, narrator)
    finally:
        narrator.close()
    path = write_report(store, session_id, out, words=words)
    if args.json:
        print(json.dumps({"path": str(path), "session": session_id,
                          "summary": words.as_dict()}))
    else:
        print(path)
    if args.open:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            print(f"edgecoach: no web browser found here; open {path} on a phone or computer",
                  file=sys.stderr)
    return 0


def _report_narrator(settings: Settings, *, no_llm: bool):  # -> Narrator
    """The narrator for a report's summary: the configured language model with a patient time
    limit, or none (template words) with `--no-llm` or `[llm] enabled = false`."""
    from edge.engines import load_narrator
    from edge.narrator.narrator import Narrator, NarratorSettings

    if no_llm:
        return Narrator(None, NarratorSettings(), "asked for with --no-llm")
    llm = dataclasses.replace(settings.llm,
                              timeout_s=max(settings.llm.timeout_s, REPORT_LLM_TIMEOUT_S))
    return load_narrator(dataclasses.replace(settings, llm=llm))


# -- edgecoach history -------------------------------------------------------------------------

def configure_history(parser: argparse.ArgumentParser) -> None:
    """Add `edgecoach history`'s flags to `parser`."""
    parser.add_argument("--person", metavar="NAME", help="only this person's sessions")
    parser.add_argument("--json", action="store_true", help="print a JSON array, one object "
                        "per session, instead of the table")


def run_history(args: argparse.Namespace, settings: Settings, store: SessionStore) -> int:
    from edge.reports.history import format_history, history

    rows = history(store, args.person)
    print(json.dumps(rows, indent=1) if args.json else format_history(rows))
    return 0


# -- edgecoach export-session ------------------------------------------------------------------

def configure_export(parser: argparse.ArgumentParser) -> None:
    """Add `edgecoach export-session`'s arguments to `parser`."""
    _session_argument(parser)
    parser.add_argument("--format", choices=("fit", "csv"), required=True,
                        help="fit: a FIT activity for watches and training sites; csv: every "
                        "stored second, for spreadsheets")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="where to write it (default: edgecoach-session-N.fit or .csv here)")


def run_export(args: argparse.Namespace, settings: Settings, store: SessionStore) -> int:
    from edge.reports.exchange import export_csv, export_fit

    session_id = _resolve(store, args.session)
    out = args.out or Path(f"edgecoach-session-{session_id}.{args.format}")
    export = export_fit if args.format == "fit" else export_csv
    print(export(store, session_id, out))
    return 0


# -- edgecoach import --------------------------------------------------------------------------

def configure_import(parser: argparse.ArgumentParser) -> None:
    """Add `edgecoach import`'s arguments to `parser`."""
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="recordings to import: .fit, .tcx, .gpx or .csv")
    parser.add_argument("--person", metavar="NAME", required=True,
                        help="whose sessions they become (zones from their [[people]] profile)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file")


def run_import(args: argparse.Namespace, settings: Settings, store: SessionStore) -> int:
    """Exit status 0 when every file was imported or was already there, 1 when one was bad."""
    from edge.reports.exchange import import_recordings

    profile, found = profile_for(settings, args.person)
    if not found and not args.json:
        print(f"edgecoach: {args.person} has no [[people]] entry in {settings.source}: zones "
              "use the [profile] section's resting and maximum heart rate", file=sys.stderr)
    results = import_recordings(store, args.files, args.person, profile)
    for result in results:
        if args.json:
            print(json.dumps(result.as_dict()))
        elif result.imported:
            minutes, seconds = divmod(result.duration_s, 60)
            print(f"imported {result.path} as session {result.session_id} "
                  f"({minutes} min {seconds:02d} s)")
        else:
            print(f"skipped {result.path}: {result.reason}")
    return 1 if any(r.status == "skipped" for r in results) else 0


def profile_for(settings: Settings, person: str) -> tuple[Profile, bool]:
    """`person`'s profile from the settings, and whether they have one of their own.

    A name with no `[[people]]` entry (nor the `[profile]` section's name) gets the `[profile]`
    section's figures under that name.
    """
    for entry in settings.people:
        if entry.profile.name == person:
            return entry.profile, True
    if settings.profile.name == person:
        return settings.profile, True
    return dataclasses.replace(settings.profile, name=person), False


#: name -> (one-line help, configure, run), for `edge.cli` to add as sub-commands.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Runner]] = {
    "report": ("write a session's report: one HTML file with plots, for any browser",
               configure_report, run_report),
    "history": ("list past sessions: duration, heart rate, zones 4-5, TRIMP, cues, RPE",
                configure_history, run_history),
    "export-session": ("write a session as a FIT or CSV file", configure_export, run_export),
    "import": ("add past FIT, TCX, GPX or CSV recordings as sessions", configure_import,
               run_import),
}
