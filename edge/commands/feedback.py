"""`edgecoach feedback`: how a session felt (RPE 1-10, too hard, too easy); the next plan reads it."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from edge.settings import Settings

if TYPE_CHECKING:
    from edge.store import SessionStore

NAME = "feedback"
HELP = "say how a session felt (RPE 1-10, too hard, too easy)"


def _rpe(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(
            f"RPE must be a whole number from 1 (very easy) to 10 (all-out), not {text!r}"
        )
    return value


def _session_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a session is a positive number, not {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "session",
        nargs="?",
        type=_session_id,
        metavar="SESSION",
        help="the session's number (default: the person's latest session)",
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--rpe", type=_rpe, metavar="N", help="how hard it felt, 1 (very easy) to 10 (all-out)"
    )
    how.add_argument("--too-hard", action="store_true", help="it was too hard")
    how.add_argument("--too-easy", action="store_true", help="it was too easy")
    parser.add_argument("--note", metavar="TEXT", help="a note of your own")
    parser.add_argument(
        "--person", metavar="NAME", help="whose latest session, when SESSION is not given"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    """Record how a session felt; the next plan takes it into account."""
    from edge.store import open_store

    assert settings is not None
    with open_store(settings.daemon, create=False) as store:  # no file, no session
        return run_with_store(args, settings, store)


def run_with_store(args: argparse.Namespace, settings: Settings, store: SessionStore) -> int:
    """`run` on a store already open (tests, and callers holding the store)."""
    from edge.store import FeedbackError
    from edge.training.inputs import feedback_text, latest_session_id
    from edge.training.plan import Feedback

    if args.session is not None:
        session_id = args.session
    else:
        session_id = latest_session_id(store, args.person or settings.default_person())
    verdict = "too_hard" if args.too_hard else "too_easy" if args.too_easy else None
    text = feedback_text(verdict, args.note)
    if args.rpe is None and text is None:
        raise FeedbackError(
            "say how it felt: --rpe N (1 very easy to 10 all-out), --too-hard or "
            "--too-easy, with an optional --note",
            path=store.path,
        )
    store.add_feedback(session_id, args.rpe, text)
    if args.json:
        print(json.dumps({"session_id": session_id, "rpe": args.rpe, "text": text}))
        return 0
    said = ", ".join(x for x in (f"RPE {args.rpe}" if args.rpe else None, text) if x)
    signal = Feedback(session_id, args.rpe, text).signal
    effect = {
        "too hard": "the next plan eases off",
        "too easy": "after a moderate, long or hard session the next plan steps up, "
        "within its 10 % weekly cap",
    }.get(signal or "", "noted; it does not change the plan")
    print(f"Feedback for session {session_id}: {said}. {effect[:1].upper() + effect[1:]}.")
    return 0
