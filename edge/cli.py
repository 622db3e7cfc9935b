"""The `edgecoach` command. Parses argv, configures logging, and turns errors into one line.

Only this module reads argv and configures logging; everything below it takes frozen settings.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from edge.errors import USER_ERRORS
from edge.settings import load_settings

log = logging.getLogger("edgecoach")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not a usage dump
        self.exit(2, f"edgecoach: {message} (see `{self.prog} --help`)\n")


def _positive_or_zero(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (as fast as possible) or more")
    return value


def _playback_flags(parser: argparse.ArgumentParser, *, default_speed: float) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object per event")
    parser.add_argument("--speak-to", type=Path, metavar="FILE.wav",
                        help="write speech into this WAV file instead of the audio device")
    parser.add_argument("--mute", action="store_true", help="no speech")
    parser.add_argument("--speed", type=_positive_or_zero, default=default_speed,
                        help=f"workout seconds per second (default {default_speed:g}; "
                        "0 = as fast as possible)")
    parser.add_argument("--no-llm", action="store_true", help="word cues with templates only")
    parser.add_argument("--plan", metavar="PLAN", help='coach through a planned workout, e.g. '
                        '"10m z2, 4x(3m z4, 2m z1), 5m z1", or a file holding one')


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edgecoach", description=(
        "On-device fitness coach: reads heart rate and cadence from BLE bands, forecasts with a "
        "local health model, and speaks guidance worded by a local language model. "
        "Nothing leaves the device."))
    parser.add_argument("--config", type=Path, help="settings file (TOML); default: "
                        "$EDGECOACH_CONFIG, /etc/edgecoach/config.toml, ~/.config/edgecoach/config.toml")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser("demo", help="play a simulated workout through the whole coach "
                               "(no band, no network needed)",
                               description="Play six simulated minutes (warm-up, a hard section "
                               "into zone 5, cool-down) as real GATT bytes through the health "
                               "model, the coach, the language model and speech.")
    _playback_flags(demo, default_speed=30.0)
    demo.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    demo.add_argument("--ble", action="store_true", help="play it through virtual bands over "
                      "real bleak and a private D-Bus (at most 50x)")

    replay = commands.add_parser("replay", help="coach a recorded workout (FIT, TCX, GPX, CSV)",
                                 description="Play a recording through the whole coach, as if "
                                 "the band were sending it now.")
    replay.add_argument("file", type=Path, help="the recording")
    _playback_flags(replay, default_speed=1.0)

    scan = commands.add_parser("scan", help="list nearby heart-rate, footpod and cycling "
                               "sensors with signal strength and battery",
                               description="Scan for BLE heart-rate (0x180D), running speed and "
                               "cadence (0x1814) and cycling speed and cadence (0x1816) sensors.")
    from edge.scan_command import configure_parser as configure_scan

    configure_scan(scan)

    doctor = commands.add_parser("doctor", help="check BlueZ, audio, models, disk, config and "
                                 "clock, and say how to fix what is wrong")
    from edge.doctor import configure_parser as configure_doctor

    configure_doctor(doctor)

    run = commands.add_parser("run", help="the daemon: coach everyone in the config from their "
                              "bands until stopped (what systemd runs)",
                              description="Run the coaching daemon. SIGTERM or Ctrl-C stops it "
                              "cleanly; every sample is stored as it arrives.")
    run.add_argument("--json", action="store_true", help="print events as JSON lines")
    from edge.settings import _SOURCES as DAEMON_SOURCES

    run.add_argument("--source", choices=DAEMON_SOURCES,
                     help="override [daemon] source from the config")
    run.add_argument("--state-dir", type=Path, help="override [daemon] state_dir")
    run.add_argument("--max-runtime", type=float, metavar="SECONDS",
                     help="stop by itself after this long")

    evaluate = commands.add_parser("eval", help="measure the models on your own data")
    eval_targets = evaluate.add_subparsers(dest="target", metavar="TARGET", parser_class=_Parser)
    from edge.health.evaluate import configure_parser as configure_eval_hr

    configure_eval_hr(eval_targets.add_parser(
        "hr", help="health model vs persistence on every FIT/TCX/GPX/CSV file in a folder"))
    from edge.advice_eval import configure_parser as configure_eval_advice

    configure_eval_advice(eval_targets.add_parser(
        "advice", help="tuned vs base language model on coaching scenarios (JSON lines)"))
    from edge.ask import configure_parser as configure_ask

    configure_ask(commands.add_parser(
        "ask", help="ask about your own training; answered from your recorded data"))
    from edge.health.calibrate import configure_parser as configure_calibrate

    configure_calibrate(commands.add_parser(
        "calibrate", help="adapt the health model to you from your recorded sessions"))

    from edge.training.commands import configure_feedback_parser, configure_plan_parser

    configure_plan_parser(commands.add_parser(
        "plan", help="today's suggestion or this week's plan, with what it rests on"))
    from edge.training.morning import configure_parser as configure_morning

    configure_morning(commands.add_parser(
        "morning", help="a resting reading (heart rate, HRV) and today's readiness"))
    configure_feedback_parser(commands.add_parser(
        "feedback", help="say how a session felt (RPE 1-10, too hard, too easy)"))

    from edge.reports.commands import COMMANDS as REPORT_COMMANDS

    for name, (help_text, configure, _) in REPORT_COMMANDS.items():
        configure(commands.add_parser(name, help=help_text))

    from edge.privacy import configure_export_parser, configure_forget_parser

    configure_forget_parser(commands.add_parser(
        "forget", help="erase everything held about a person, for good"))
    configure_export_parser(commands.add_parser(
        "export-data", help="everything held about a person, in open formats (JSON, CSV)"))

    export = commands.add_parser("export", help="build models on a workstation "
                                 "(needs the [export] extra)")
    export_targets = export.add_subparsers(dest="target", metavar="TARGET", parser_class=_Parser)
    health = export_targets.add_parser("health", help="train and export the heart-rate model")
    try:
        from export.health.cli import configure_parser
    except ImportError:  # the export extra (torch) is not installed on this device
        health.set_defaults(export_missing=True)
    else:
        configure_parser(health)
    llm = export_targets.add_parser("llm", help="fine-tune the coaching language model and "
                                    "export it to GGUF")
    try:
        from export.llm.cli import configure_parser as configure_llm_export
    except ImportError:
        llm.set_defaults(export_missing=True)
    else:
        configure_llm_export(llm)
    headroom = export_targets.add_parser(
        "headroom", help="how far any forecaster could beat persistence on a folder of "
        "recordings (by file cross-validation, with oracles)")
    try:
        from export.health.headroom import configure_parser as configure_headroom
    except ImportError:
        headroom.set_defaults(export_missing=True)
    else:
        configure_headroom(headroom)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _dispatch(args, parser)
    except USER_ERRORS as exc:
        print(f"edgecoach: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgecoach: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "doctor":  # before the config is loaded: a broken one is a finding
        from edge.doctor import run as run_doctor

        return run_doctor(args)
    settings = load_settings(args.config)
    if args.command in ("demo", "replay"):
        from edge.playback import PlaybackOptions, run_demo, run_replay

        if args.no_llm:
            settings = _without_llm(settings)
        options = PlaybackOptions(json=args.json, speak_to=args.speak_to, mute=args.mute,
                                  speed=args.speed, seed=getattr(args, "seed", 1),
                                  ble=getattr(args, "ble", False), plan=args.plan)
        if args.command == "demo":
            run_demo(settings, options)
        else:
            run_replay(settings, args.file, options)
        return 0
    if args.command == "eval":
        if args.target is None:
            parser.parse_args(["eval", "--help"])
        if args.target == "advice":
            from edge.advice_eval import run as run_eval_advice

            return run_eval_advice(args, settings)
        from edge.health.evaluate import run as run_eval_hr

        return run_eval_hr(args, settings)
    if args.command == "morning":
        from edge.training.morning import run as run_morning

        return run_morning(args, settings)
    if args.command == "ask":
        from edge.ask import run as run_ask

        return run_ask(args, settings)
    if args.command == "calibrate":
        from edge.health.calibrate import run as run_calibrate

        return run_calibrate(args, settings)
    if args.command in ("forget", "export-data"):
        from edge.privacy import run_export, run_forget

        return (run_forget if args.command == "forget" else run_export)(args, settings)
    if args.command in STORE_COMMANDS:
        return _with_store(settings, args, STORE_COMMANDS[args.command])
    from edge.reports.commands import COMMANDS as REPORT_COMMANDS

    if args.command in REPORT_COMMANDS:
        return _with_store(settings, args, REPORT_COMMANDS[args.command][2])
    if args.command == "scan":
        from edge.scan_command import run as run_scan

        return run_scan(args)
    if args.command == "run":
        import dataclasses

        from edge.daemon import DaemonOptions, run_daemon

        daemon = settings.daemon
        if args.source:
            daemon = dataclasses.replace(daemon, source=args.source)
        if args.state_dir:
            daemon = dataclasses.replace(daemon, state_dir=args.state_dir)
        settings = dataclasses.replace(settings, daemon=daemon)
        run_daemon(settings, DaemonOptions(json=args.json, max_runtime_s=args.max_runtime))
        return 0
    if args.command == "export":
        if args.target is None:
            parser.parse_args(["export", "--help"])
        if getattr(args, "export_missing", False):
            print("edgecoach: the export stage needs its extra: pip install 'edgecoach[export]'",
                  file=sys.stderr)
            return 2
        if args.target == "llm":
            from export.llm.cli import run as run_llm_export

            return run_llm_export(args, settings)
        if args.target == "headroom":
            from export.health.headroom import run as run_headroom

            return run_headroom(args)
        from export.health.cli import run

        return run(args)
    raise AssertionError(args.command)


def _run_plan(args, settings, store):
    from edge.training.commands import run_plan

    return run_plan(args, settings, store)


def _run_feedback(args, settings, store):
    from edge.training.commands import run_feedback

    return run_feedback(args, settings, store)


#: Commands that read or write the person's recorded sessions.
STORE_COMMANDS = {"plan": _run_plan, "feedback": _run_feedback}


def _with_store(settings, args, command) -> int:
    from edge.daemon import DATABASE_NAME
    from edge.store import SessionStore

    state_dir = getattr(args, "state_dir", None) or settings.daemon.state_dir
    from edge.keys import find_key

    key = find_key(settings.daemon.key_file)
    # Only import writes new sessions: the other commands never create a store by reading.
    with SessionStore.open(state_dir / DATABASE_NAME, key=key,
                           create=args.command == "import") as store:
        return command(args, settings, store)


def _without_llm(settings):
    import dataclasses

    return dataclasses.replace(settings, llm=dataclasses.replace(settings.llm, enabled=False))


if __name__ == "__main__":
    sys.exit(main())
