"""The `edgecoach` command. Parses argv, configures logging, and turns errors into one line.

Only this module reads argv and configures logging; everything below it takes frozen settings.
The commands live in `edge.commands`, one module each; this registers them in a loop and
configures the flags of the one being run only, so a command never pays for another's imports.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from edge.commands import COMMANDS, Command
from edge.errors import USER_ERRORS
from edge.settings import load_settings

log = logging.getLogger("edgecoach")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not a usage dump
        self.exit(2, f"edgecoach: {message} (see `{self.prog} --help`)\n")


#: Global flags that take a value, to step over when looking for the command's name in argv.
_VALUE_FLAGS = ("--config",)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with the flags of the command named in `argv` only (none when it names
    none: `edgecoach --help` lists the commands without loading any); every command's flags
    when `argv` is None."""
    parser = _Parser(
        prog="edgecoach",
        description=(
            "On-device fitness coach: reads heart rate and cadence from BLE bands, forecasts with a "
            "local health model, and speaks guidance worded by a local language model. "
            "Nothing leaves the device."
        ),
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="settings file (TOML); default: "
        "$EDGECOACH_CONFIG, /etc/edgecoach/config.toml, "
        "~/.config/edgecoach/config.toml",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    named = None if argv is None else _command_named(argv)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.NAME, help=command.HELP)
        sub.set_defaults(run=command)
        if argv is None or named == command.NAME:
            command.configure(sub)
    return parser


def _command_named(argv: Sequence[str]) -> str | None:
    names = {command.NAME for command in COMMANDS}
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _VALUE_FLAGS:
            skip = True
        elif word in names:
            return word
        elif not word.startswith("-"):
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command is None:
        parser.print_help()
        return 2
    command: Command = args.run
    try:
        settings = load_settings(args.config) if getattr(command, "LOADS_SETTINGS", True) else None
        return command.run(args, settings)
    except USER_ERRORS as exc:
        print(f"edgecoach: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgecoach: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
