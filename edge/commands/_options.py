"""Flags and argument types more than one command takes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.store import SessionStore


def positive_or_zero(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (as fast as possible) or more")
    return value


def playback_flags(parser: argparse.ArgumentParser, *, default_speed: float) -> None:
    """What `demo` and `replay` share: where events and speech go, how fast, which plan."""
    parser.add_argument("--json", action="store_true", help="print one JSON object per event")
    parser.add_argument(
        "--speak-to",
        type=Path,
        metavar="FILE.wav",
        help="write speech into this WAV file instead of the audio device",
    )
    parser.add_argument("--mute", action="store_true", help="no speech")
    parser.add_argument(
        "--speed",
        type=positive_or_zero,
        default=default_speed,
        help=f"workout seconds per second (default {default_speed:g}; 0 = as fast as possible)",
    )
    parser.add_argument("--no-llm", action="store_true", help="word cues with templates only")
    parser.add_argument(
        "--plan",
        metavar="PLAN",
        help="today's session (default: the one "
        '`edgecoach plan` suggests); a name such as "tempo" or "easy 45"; '
        'a workout, e.g. "10m z2, 4x(3m z4, 2m z1), 5m z1", or a file holding '
        'one; or "none" for free training',
    )


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


def session_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "session",
        metavar="SESSION",
        type=_session_ref,
        help="the session's number (`edgecoach history` lists them), or 'last' for the newest",
    )


def resolve_session(store: SessionStore, ref: int | str) -> int:
    from edge.reports.metrics import ReportError

    if ref != "last":
        return int(ref)
    sessions = store.sessions()
    if not sessions:
        raise ReportError(f"there are no sessions in {store.path} yet")
    return sessions[-1].id


# -- edgecoach report --------------------------------------------------------------------------
