"""`edgecoach board`: the gym's zone board, every member of every Pi, from the gym's broker.

Runs on the machine with the big screen: subscribes to `[fleet]` site on the broker as the
read-only board (the board certificate `edgecoach fleet init` made) and serves the page on
loopback (`[kiosk]` host and port, or --port) for a browser on the same machine. Until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from edge.errors import ConfigError
from edge.settings import Settings

log = logging.getLogger(__name__)


NAME = "board"
HELP = "the gym's zone board: every member of every Pi, from the gym's broker"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, help="the page's port on loopback (default: [kiosk] port)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where the board records summaries (default: [daemon] state_dir)",
    )
    parser.add_argument(
        "--max-runtime", type=float, metavar="SECONDS", help="stop by itself after this long"
    )


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    assert settings is not None
    fleet = settings.fleet
    missing = [k for k in ("ca_file", "cert_file", "key_file") if getattr(fleet, k) is None]
    if missing:
        raise ConfigError(
            f"{settings.source} [fleet]: the board needs {', '.join(missing)}: "
            "the gym CA's ca.crt and the board.crt / board.key `edgecoach fleet "
            "init` made"
        )
    from edge.fleet.board import serve_board

    state_dir = args.state_dir or settings.daemon.state_dir
    port = settings.kiosk.port if args.port is None else args.port

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.max_runtime is not None:
            loop.call_later(args.max_runtime, stop.set)

        def ready(board, _subscriber) -> None:
            print(
                f"edgecoach board: {board.url} (site {fleet.site} on "
                f"{fleet.broker_host}:{fleet.broker_port})",
                flush=True,
            )

        await serve_board(
            fleet,
            host=settings.kiosk.host,
            port=port,
            state_dir=state_dir,
            stop=stop,
            on_ready=ready,
        )

    asyncio.run(main())
    return 0
