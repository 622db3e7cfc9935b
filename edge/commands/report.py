"""`edgecoach report`: one session as a self-contained HTML page with plots, for any browser."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge.commands._options import resolve_session, session_argument
from edge.settings import Settings

if TYPE_CHECKING:
    from edge.store import SessionStore

NAME = "report"
HELP = "write a session's report: one HTML file with plots, for any browser"

#: A report is not spoken live: the language model may take this long for its summary.
REPORT_LLM_TIMEOUT_S = 30.0


def configure(parser: argparse.ArgumentParser) -> None:
    session_argument(parser)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE.html",
        help="where to write it (default: edgecoach-session-N.html here)",
    )
    parser.add_argument(
        "--open", action="store_true", help="open it in the web browser when written"
    )
    parser.add_argument(
        "--no-llm",
        action="store_true",
        help="the summary in the coach's template words, no language model",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON object (path, summary text and its source) instead of the path",
    )


#: A report is not spoken live: the language model may take this long for its summary.


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    from edge.store import open_store

    assert settings is not None
    with open_store(settings.daemon, must_exist=True) as store:
        return run_with_store(args, settings, store)


def run_with_store(args: argparse.Namespace, settings: Settings, store: SessionStore) -> int:
    from edge.reports.metrics import load_session
    from edge.reports.report import summary_words, write_report

    session_id = resolve_session(store, args.session)
    out = args.out or Path(f"edgecoach-session-{session_id}.html")
    data = load_session(store, session_id)  # an unknown session fails before a model loads
    narrator = _report_narrator(settings, no_llm=args.no_llm)
    try:
        words = summary_words(data, narrator)
    finally:
        narrator.close()
    path = write_report(store, session_id, out, words=words)
    if args.json:
        print(json.dumps({"path": str(path), "session": session_id, "summary": words.as_dict()}))
    else:
        print(path)
    if args.open:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            print(
                f"edgecoach: no web browser found here; open {path} on a phone or computer",
                file=sys.stderr,
            )
    return 0


def _report_narrator(settings: Settings, *, no_llm: bool):  # -> Narrator
    """The narrator for a report's summary: the configured language model with a patient time
    limit, or none (template words) with `--no-llm` or `[llm] enabled = false`."""
    from edge.engines import load_narrator
    from edge.narrator.narrator import Narrator, NarratorSettings

    if no_llm:
        return Narrator(None, NarratorSettings(), "asked for with --no-llm")
    llm = dataclasses.replace(
        settings.llm, timeout_s=max(settings.llm.timeout_s, REPORT_LLM_TIMEOUT_S)
    )
    return load_narrator(dataclasses.replace(settings, llm=llm))


# -- edgecoach history -------------------------------------------------------------------------
