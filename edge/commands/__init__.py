"""Every `edgecoach` command: one module each, all of the same shape.

A command module has

    NAME: str                                   the word typed after `edgecoach`
    HELP: str                                   one line for `edgecoach --help`
    configure(parser: ArgumentParser) -> None   adds its flags
    run(args: Namespace, settings: Settings | None) -> int   does the work, returns the exit status

and imports at module level nothing heavier than the settings: engines, models, the store and
the export stage are imported inside `run` (or inside `configure` for the export targets), so
`edgecoach run` never loads torch. `edge.cli` registers the modules below in a loop and
configures only the one being run. A command with `LOADS_SETTINGS = False` reads the config
itself (`doctor`, which reports a broken one) and gets None.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Protocol

from edge.commands import (
    ask,
    board,
    calibrate,
    demo,
    doctor,
    eval,
    export,
    export_data,
    export_session,
    feedback,
    fleet,
    forget,
    history,
    import_recordings,
    morning,
    plan,
    replay,
    report,
    run,
    scan,
)

if TYPE_CHECKING:
    from edge.settings import Settings


class Command(Protocol):
    NAME: str
    HELP: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, settings: Settings | None) -> int: ...


#: Every command, in the order `edgecoach --help` lists them.
COMMANDS: tuple[Command, ...] = (  # type: ignore[assignment]  # modules satisfy the protocol
    demo,
    replay,
    run,
    scan,
    doctor,
    morning,
    plan,
    feedback,
    ask,
    history,
    report,
    export_session,
    import_recordings,
    export_data,
    forget,
    calibrate,
    eval,
    export,
    board,
    fleet,
)
