"""Compare LoRA settings (rank, target modules, top layers, epochs, learning rate) by held-out loss.

A small measured comparison on a subset of the corpus, before the one full training run of
`edgecoach export llm`: the base is loaded once, every setting trains a fresh copy of it on the
same examples (frozen layers' outputs cached per depth), and the teacher-forced loss on the
held-out split is printed per epoch, with the trained parameter count, the adapter's size and the
training time. The full fine-tune of the same top layers (the pre-adapter export) can be run
beside them with ``--with-full``.

    PYTHONPATH=. .venv/bin/python bench/lora_sweep.py --examples 400 --heldout 100 --epochs 2
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=REPO / "build" / "lora-sweep")
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--heldout", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--configs",
        default="r16,r32,r8,attn16,k6r16,r16lr2e-3",
        help="comma-separated names from CONFIGS",
    )
    parser.add_argument(
        "--with-full",
        action="store_true",
        help="also run the full top-layer fine-tune on the same subset",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()

    import torch

    from export.llm import corpus as corpus_stage
    from export.llm.base import load_base
    from export.llm.finetune import FULL, FinetuneSettings, finetune

    torch.set_num_threads(1)
    base_settings = FinetuneSettings(
        epochs=args.epochs, max_examples=args.examples, max_heldout=args.heldout, threads=1
    )
    configs = {
        "r8": dataclasses.replace(base_settings, lora_rank=8, lora_alpha=16),
        "r16": base_settings,
        "r32": dataclasses.replace(base_settings, lora_rank=32, lora_alpha=64),
        "r64": dataclasses.replace(base_settings, lora_rank=64, lora_alpha=128),
        "attn16": dataclasses.replace(base_settings, lora_targets=ATTENTION),
        "mlp16": dataclasses.replace(
            base_settings, lora_targets=("gate_proj", "up_proj", "down_proj")
        ),
        "k6r16": dataclasses.replace(base_settings, train_layers=6),
        "k15r16": dataclasses.replace(base_settings, train_layers=15),
        "r16lr2e-3": dataclasses.replace(base_settings, learning_rate=2e-3),
        "r16lr5e-4": dataclasses.replace(base_settings, learning_rate=5e-4),
        "r32lr2e-3": dataclasses.replace(
            base_settings, lora_rank=32, lora_alpha=64, learning_rate=2e-3
        ),
    }
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    if args.with_full:
        configs["full"] = dataclasses.replace(
            FULL,
            epochs=args.epochs,
            max_examples=args.examples,
            max_heldout=args.heldout,
            threads=1,
        )
        names.append("full")
    unknown = [n for n in names if n not in configs]
    if unknown:
        parser.error(f"unknown configs {unknown}; known: {', '.join(configs)}")
    corpus_path = args.work_dir / "corpus" / corpus_stage.TRAIN_FILE
    if not corpus_path.exists():
        corpus_path = corpus_stage.build_corpus(args.work_dir, seed=0)
    loaded = load_base(None)
    states: dict = {}
    results = {}
    for name in names:
        settings = configs[name]
        fresh = dataclasses.replace(loaded, model=copy.deepcopy(loaded.model))
        run_dir = args.work_dir / name
        started = time.perf_counter()
        out = finetune(
            corpus_path, run_dir, seed=0, settings=settings, loaded=fresh, states_cache=states
        )
        meta = json.loads(
            (
                out
                / (
                    "adapter_config.json.meta.json"
                    if settings.method == "lora"
                    else "config.json.meta.json"
                )
            ).read_text()
        )
        adapter = out / "adapter_model.safetensors"
        results[name] = {
            "rank": settings.lora_rank if settings.method == "lora" else None,
            "targets": list(settings.lora_targets) if settings.method == "lora" else "all",
            "layers": settings.train_layers,
            "lr": settings.learning_rate,
            "parameters": meta["sizes"]["trained_parameters"],
            "adapter_mb_f32": round(adapter.stat().st_size / 2**20, 2)
            if adapter.exists()
            else None,
            "heldout_before": meta["metrics"]["heldout_loss_before"],
            "heldout_by_epoch": meta["metrics"]["heldout_loss_by_epoch"],
            "train_s": meta["metrics"]["train_s"],
            "wall_s": round(time.perf_counter() - started, 1),
        }
        print(name, json.dumps(results[name]), flush=True)
    print(f"\n{'config':>10} {'params':>10} {'MB f32':>7} {'train s':>8}  held-out loss by epoch")
    for name, r in results.items():
        print(
            f"{name:>10} {r['parameters']:>10,} {r['adapter_mb_f32'] or '-':>7} "
            f"{r['train_s']:>8}  {r['heldout_before']} -> "
            f"{' -> '.join(str(x) for x in r['heldout_by_epoch'])}"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
