"""Stage 5, verify: every GGUF loads in llama.cpp and is scored on the held-out corpus split.

Each quantised file is loaded with the device's own engine (`edge.narrator.llm.LlamaEngine`) and
every held-out example goes through the device's narrator (`edge.narrator.evaluate.evaluate`): prompt
in the style the GGUF names, guard, retry, template. The base model (the packaged SmolLM2 with its
rephrase prompt) is scored on the same examples, so the table is tuned against base, side by
side: action agreement, guard pass rate, fact errors, latency, decode speed, file size.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edge.errors import ExportError
from edge.narrator.evaluate import Scenario, evaluate
from edge.narrator.llm import LlamaEngine, packaged_gguf_path
from edge.narrator.narrator import NarratorSettings
from edge.narrator.prompts import FACTS
from export.llm._stage import describe, stopwatch, write_json, write_meta
from export.llm.corpus import read_lines

log = logging.getLogger(__name__)

VERIFY_FILE = "verify.json"


def heldout_scenarios(heldout_path: Path, limit: int = 0) -> list[Scenario]:
    """The held-out corpus lines as advice scenarios (expected action: the rules' own)."""
    scenarios = []
    for index, line in enumerate(read_lines(heldout_path)):
        cue = {"kind": line["kind"], "action": line["action"]} if line["task"] == "cue" else None
        scenarios.append(
            Scenario(
                id=f"heldout-{index}-{line['group']}",
                kind=line["task"],
                facts=line["facts"],
                cue=cue,
                question=line.get("question", ""),
                intent=line["kind"] if line["task"] == "question" else "",
                action=line["action"] or "info",
            )
        )
    if limit:
        # Keep every group represented: take them round-robin.
        by_group: dict[str, list[Scenario]] = {}
        for s in scenarios:
            by_group.setdefault(s.id.split("-", 2)[2], []).append(s)
        picked: list[Scenario] = []
        while len(picked) < min(limit, len(scenarios)):
            for group in list(by_group):
                if by_group[group] and len(picked) < limit:
                    picked.append(by_group[group].pop(0))
        scenarios = picked
    return scenarios


def score_gguf(
    path: Path,
    scenarios: list[Scenario],
    *,
    name: str,
    threads: int | None,
    settings: NarratorSettings,
    lora: Path | None = None,
) -> dict[str, Any]:
    """Score `path` (with the adapter `lora` applied, when given) on `scenarios`."""
    with stopwatch() as t_load:
        engine = LlamaEngine(path, threads=threads, lora_path=lora)
    try:
        report = evaluate(engine, scenarios, name=name, settings=settings, progress=True)
        summary = report.summary()
        summary |= {
            "bytes": (lora or path).stat().st_size,
            "load_s": round(t_load[0], 3),
            "prompt_style": engine.prompt_style,
        }
        if lora is not None:
            summary["base_bytes"] = path.stat().st_size
        failures = [
            {"id": r["id"], "text": r["text"], "why": r["guard_reason"] or "action"}
            for r in report.results
            if not r["fixed"] and not (r["guard_ok"] and r["action_ok"])
        ]
        summary["failures"] = failures[:12]
        return summary
    finally:
        engine.close()


def verify(
    ggufs: dict[str, Path],
    heldout_path: Path,
    work_dir: Path,
    *,
    base_gguf: Path | None = None,
    limit: int = 0,
    threads: int | None = None,
    seed: int = 0,
    settings: NarratorSettings | None = None,
    min_guard_pass: float = 0.0,
    compare_base: bool = True,
    adapters: dict[str, tuple[Path, Path]] | None = None,
) -> Path:
    """Score each of `ggufs` ({"Q8_0": path, ...}), each of `adapters` ({"lora": (base GGUF,
    adapter GGUF)}) and the base; write ``verify.json``."""
    settings = settings or NarratorSettings(timeout_s=20.0, max_tokens=48)
    scenarios = heldout_scenarios(heldout_path, limit)
    if not scenarios:
        raise ExportError(f"no held-out examples in {heldout_path}")
    out = Path(work_dir) / VERIFY_FILE
    results: dict[str, Any] = {}
    models = {n: (p, None) for n, p in ggufs.items()} | dict(adapters or {})
    with stopwatch() as t:
        for name, (path, lora) in models.items():
            results[name] = score_gguf(
                path, scenarios, name=name, threads=threads, settings=settings, lora=lora
            )
            if results[name]["prompt_style"] != FACTS:
                raise ExportError(
                    f"{lora or path} does not say it was trained for the facts "
                    "prompt (edgecoach.prompt_style); re-run the convert stage"
                )
        base = base_gguf or packaged_gguf_path()
        if compare_base:
            results["base"] = score_gguf(
                base, scenarios, name="base", threads=threads, settings=settings
            )
    payload = {"heldout": str(heldout_path), "examples": len(scenarios), "models": results}
    write_json(out, payload)
    inputs = {n: describe(p) for n, p in ggufs.items()} | {"heldout": describe(heldout_path)}
    inputs |= {
        n: {"base": describe(b), "adapter": describe(a)} for n, (b, a) in (adapters or {}).items()
    }
    if compare_base:
        inputs["base"] = describe(base)
    write_meta(
        out,
        stage="verify",
        inputs=inputs,
        seed=seed,
        settings={
            "limit": limit,
            "threads": threads,
            "timeout_s": settings.timeout_s,
            "max_tokens": settings.max_tokens,
        },
        sizes={"examples": len(scenarios)},
        metrics={n: {k: v for k, v in r.items() if k != "failures"} for n, r in results.items()},
        wall_s=t[0],
    )
    for name, r in results.items():
        log.info(
            "verify %s: guard %.1f%%, action %.1f%%, %.0f tokens/s, %.1f MB",
            name,
            100 * (r["guard_pass_rate"] or 0),
            100 * (r["action_agreement"] or 0),
            r["decode_tokens_per_s"] or 0,
            r["bytes"] / 1e6,
        )
    if min_guard_pass:
        best = max((r["guard_pass_rate"] or 0) for n, r in results.items() if n != "base")
        if best < min_guard_pass:
            raise ExportError(
                f"the tuned model passes the guard on {best:.0%} of the held-out "
                f"examples, below the {min_guard_pass:.0%} asked for"
            )
    return out
