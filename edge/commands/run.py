"""`edgecoach run`: the daemon that systemd runs."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from edge.settings import DAEMON_SOURCES, Settings

NAME = "run"
HELP = "the daemon: coach everyone in the config from their bands until stopped (what systemd runs)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the coaching daemon. SIGTERM or Ctrl-C stops it cleanly; every "
        "sample is stored as it arrives."
    )
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")
    parser.add_argument(
        "--source", choices=DAEMON_SOURCES, help="override [daemon] source from the config"
    )
    parser.add_argument("--state-dir", type=Path, help="override [daemon] state_dir")
    parser.add_argument(
        "--max-runtime", type=float, metavar="SECONDS", help="stop by itself after this long"
    )


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    from edge.daemon import DaemonOptions, run_daemon

    assert settings is not None
    daemon = settings.daemon
    if args.source:
        daemon = dataclasses.replace(daemon, source=args.source)
    if args.state_dir:
        daemon = dataclasses.replace(daemon, state_dir=args.state_dir)
    settings = dataclasses.replace(settings, daemon=daemon)
    run_daemon(settings, DaemonOptions(json=args.json, max_runtime_s=args.max_runtime))
    return 0
