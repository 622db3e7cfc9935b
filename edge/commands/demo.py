"""`edgecoach demo`: a simulated workout through the whole coach, no band and no network."""

from __future__ import annotations

import argparse

from edge.commands._options import playback_flags
from edge.settings import Settings

NAME = "demo"
HELP = "play a simulated workout through the whole coach (no band, no network needed)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Play six simulated minutes (warm-up, a hard section into zone 5, "
        "cool-down) as real GATT bytes through the health model, the coach, "
        "the language model and speech."
    )
    playback_flags(parser, default_speed=30.0)
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument(
        "--ble",
        action="store_true",
        help="play it through virtual bands over real bleak and a private D-Bus (at most 50x)",
    )
    parser.add_argument(
        "--machine",
        action="store_true",
        help="a virtual bike in ERG, driven "
        "by the coach through the BLE path (FTMS), with a simulated rider's "
        'heart; --plan gives its power targets ("4x(3m 250W, 2m 120W)")',
    )


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    from edge.playback import options_from, run_demo

    assert settings is not None
    run_demo(*options_from(args, settings))
    return 0
