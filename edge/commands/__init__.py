"""Command modules: each has `configure_parser(parser)` and `run(args, settings) -> int`."""
