"""`edgecoach replay`: a recorded workout through the whole coach, as if the band sent it now."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.commands._options import playback_flags
from edge.settings import Settings

NAME = "replay"
HELP = "coach a recorded workout (FIT, TCX, GPX, CSV)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Play a recording through the whole coach, as if the band were sending it now."
    )
    parser.add_argument("file", type=Path, help="the recording")
    playback_flags(parser, default_speed=1.0)


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    from edge.playback import options_from, run_replay

    assert settings is not None
    settings, options = options_from(args, settings)
    run_replay(settings, args.file, options)
    return 0
