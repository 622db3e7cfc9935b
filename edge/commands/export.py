"""`edgecoach export`: build the models on a workstation (needs the `[export]` extra).

The only module of `edge` that reaches into `export` (the import contracts allow exactly this
one), and only once `edgecoach export ...` is what is being run: the device's commands never
load torch.
"""

from __future__ import annotations

import argparse
from types import ModuleType

from edge.errors import ConfigError
from edge.settings import Settings

NAME = "export"
HELP = "build models on a workstation (needs the [export] extra)"

#: target -> one-line help.
TARGETS = {
    "health": "train and export the heart-rate model",
    "llm": "fine-tune the coaching language model and export it to GGUF",
    "headroom": "how far any forecaster could beat persistence on a folder of recordings "
    "(by file cross-validation, with oracles)",
}


def _target(name: str) -> ModuleType:
    """The export stage's command module for `name`; ImportError without the export extra."""
    if name == "health":
        from export.health import cli
    elif name == "llm":
        from export.llm import cli
    else:
        from export.health import headroom as cli
    return cli


def configure(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_subparsers(
        dest="target", metavar="TARGET", parser_class=type(parser), required=True
    )
    for name, help_text in TARGETS.items():
        target = targets.add_parser(name, help=help_text)
        try:
            module = _target(name)
        except ImportError:  # the export extra (torch) is not installed on this device
            target.set_defaults(export_missing=True)
        else:
            module.configure_parser(target)


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    if getattr(args, "export_missing", False):
        raise ConfigError("the export stage needs its extra: pip install 'edgecoach[export]'")
    module = _target(args.target)
    return module.run(args, settings) if args.target == "llm" else module.run(args)
