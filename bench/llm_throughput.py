"""Language-model figures on this machine: the narrator's decode speed against a bare
llama-cpp-python loop on the same GGUF (and the same LoRA adapter), threads and prompt; the
adapter's cost (decode tokens/s with it on and off, on the same base); time to the first spoken
words of a live cue; peak RSS with the model (and adapter) loaded.

    .venv/bin/python bench/llm_throughput.py                 # the model the runtime would load
    .venv/bin/python bench/llm_throughput.py --gguf FILE --threads 2 --grammar --json
    .venv/bin/python bench/llm_throughput.py --gguf BASE --lora ADAPTER

- "narrator path": `LlamaEngine.generate`, exactly what the narrator calls (chat template,
  streaming chunks, stop strings, the deadline check, the `on_text` callback);
- "bare loop": `Llama.generate` over the same prompt tokens with the same sampling settings
  (llama-cpp-python's own defaults for a chat completion), stopped at the same token count;
- decode tokens/s counts the tokens after the first (whose time is the prompt evaluation),
  including the end-of-turn token that ended a reply (it was evaluated inside the timed window);
  the bare loop decodes as many; each run starts from an empty cache (`fresh`: the whole prompt
  evaluated, as for a live cue); both runs alternate, the median
  of `--repeat` is reported, and the ratio is narrator / bare (1.0 = no overhead);
- with an adapter: the bare loop once more on a second engine of the same base without it, on
  the same prompt tokens, alternating; "adapter_ratio" is on / off (1.0 = the adapter is free);
- first spoken words: `Narrator.narrate(cue, on_sentence=...)` on a high-zone cue with a new
  heart rate each time, from the call to the first guarded sentence handed to the speaker;
- RSS: a fresh process loads the model and generates once; its peak resident set (VmHWM),
  and the interpreter's own before loading.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.core.cues import Action, Cue, CueKind, Priority  # noqa: E402
from edge.narrator import prompts  # noqa: E402
from edge.narrator.grammar import sentence_grammar  # noqa: E402
from edge.narrator.llm import LlamaEngine, choose_gguf  # noqa: E402
from edge.narrator.narrator import Narrator, NarratorSettings  # noqa: E402

TEMPERATURE = 0.3
SAMPLING = {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0}


def cue(hr: int) -> Cue:
    return Cue(
        1,
        100,
        CueKind.HIGH_ZONE,
        Action.EASE_OFF,
        Priority.ZONE,
        {
            "hr": hr,
            "zone": 5,
            "previous_zone": 4,
            "zone_low": 172,
            "zone_high": 185,
            "zone5_lower": 172,
        },
    )


def fresh(engine: LlamaEngine) -> None:
    """Forget the cached prompt, so the next run evaluates all of it, as a live cue does.

    Without this the second run on a prompt reuses the first one's cache, and decoding after a
    fully cached prompt measured about 11 % faster here than after a prompt evaluated anew
    (whichever of the two paths ran second won by that much)."""
    engine._llama.reset()


def narrator_path(engine: LlamaEngine, messages, stop, max_tokens: int, grammar: str | None):
    """Tokens decoded after the first piece, and the seconds they took.

    A reply that ends on the end-of-turn token or a stop string had one more token evaluated and
    sampled (the one that ended it) than it has pieces; that evaluation lies inside the timed
    window, so it is counted. A reply cut at `max_tokens` ends right after its last piece.
    """
    fresh(engine)
    generation = engine.generate(
        messages, max_tokens=max_tokens, temperature=TEMPERATURE, stop=stop, grammar=grammar
    )
    decode = generation.total_s - (generation.first_token_s or 0.0)
    ended_by_model = generation.tokens < max_tokens
    return generation.tokens - 1 + int(ended_by_model), decode


def bare_loop(engine: LlamaEngine, prompt_tokens: list[int], n_after_first: int):
    """Decode `n_after_first` tokens after the first (or up to the end of turn): count, seconds."""
    llama = engine._llama  # the same loaded model, threads and context
    fresh(engine)
    started = time.perf_counter()
    first = None
    count = 0
    for token in llama.generate(prompt_tokens, temp=TEMPERATURE, **SAMPLING):
        if first is None:
            first = time.perf_counter()
        else:
            count += 1
        if token == llama.token_eos() or count >= n_after_first:
            break
    return count, time.perf_counter() - (first or started)


def throughput(
    engine: LlamaEngine,
    repeat: int,
    max_tokens: int,
    grammar: bool,
    without: LlamaEngine | None = None,
) -> dict:
    rows = {"narrator": [], "bare": [], "narrator_grammar": [], "bare_adapter_off": []}
    for i in range(repeat):
        c = cue(173 + i % 10)
        messages, stop = prompts.cue_prompt(c, engine.prompt_style)
        prompt_tokens = _prompt_tokens(engine, messages)
        n, decode = narrator_path(engine, messages, stop, max_tokens, None)
        if n > 0:
            rows["narrator"].append(n / decode)
            m, bare = bare_loop(engine, prompt_tokens, n)
            if m > 0:
                rows["bare"].append(m / bare)
            if without is not None:
                # Same base, same prompt tokens and count, no adapter: what the adapter costs.
                m, off = bare_loop(without, prompt_tokens, n)
                if m > 0:
                    rows["bare_adapter_off"].append(m / off)
        if grammar:
            n, decode = narrator_path(
                engine, messages, stop, max_tokens, sentence_grammar(c.facts, max_sentences=3)
            )
            if n > 0:
                rows["narrator_grammar"].append(n / decode)
    out = {k: round(statistics.median(v), 1) for k, v in rows.items() if v}
    if "narrator" in out and "bare" in out:
        out["ratio"] = round(out["narrator"] / out["bare"], 3)
    if "bare_adapter_off" in out and "bare" in out:
        out["adapter_ratio"] = round(out["bare"] / out["bare_adapter_off"], 3)
    if "narrator_grammar" in out and "narrator" in out:
        out["grammar_ratio"] = round(out["narrator_grammar"] / out["narrator"], 3)
    return out


def _prompt_tokens(engine: LlamaEngine, messages) -> list[int]:
    """The prompt tokens llama-cpp-python's chat handler makes from the GGUF's template."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llama = engine._llama
    formatter = Jinja2ChatFormatter(
        template=llama.metadata["tokenizer.chat_template"],
        eos_token=llama.detokenize([llama.token_eos()]).decode(),
        bos_token=llama.detokenize([llama.token_bos()]).decode(),
    )
    result = formatter(messages=messages)
    return llama.tokenize(result.prompt.encode(), add_bos=not result.added_special, special=True)


def first_words(engine: LlamaEngine, repeat: int) -> dict:
    narrator = Narrator(engine, NarratorSettings(timeout_s=10.0))
    firsts, totals, sources = [], [], []

    async def one(c: Cue):
        spoken: list[float] = []
        started = time.perf_counter()
        narration = await narrator.narrate(
            c, on_sentence=lambda _t: spoken.append(time.perf_counter() - started)
        )
        return narration, spoken

    try:
        for i in range(repeat):
            narration, spoken = asyncio.run(one(cue(173 + i)))
            if spoken:
                firsts.append(spoken[0])
            totals.append(narration.seconds)
            sources.append(narration.source)
    finally:
        narrator.shutdown()
    return {
        "first_words_p50_s": round(statistics.median(firsts), 3) if firsts else None,
        "first_words_max_s": round(max(firsts), 3) if firsts else None,
        "whole_reply_p50_s": round(statistics.median(totals), 3),
        "spoken_by_model": sources.count("llm"),
        "cues": repeat,
    }


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child started by this process
# would report this process's peak (the model already loaded here) as its own.
RSS_PROBE = """
import sys, json
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
sys.path.insert(0, {repo!r})
from edge.narrator.llm import LlamaEngine
from pathlib import Path
before = hwm()
lora = {lora!r}
engine = LlamaEngine(Path({path!r}), threads={threads}, lora_path=lora and Path(lora))
loaded = hwm()
engine.generate([{{"role": "user", "content": "Say hello to a runner."}}], max_tokens=16)
peak = hwm()
print(json.dumps({{"python_kib": before, "loaded_kib": loaded, "peak_kib": peak}}))
"""


def rss(path: Path, threads: int, lora: Path | None = None) -> dict:
    code = RSS_PROBE.format(
        repo=str(REPO), path=str(path), threads=threads, lora=None if lora is None else str(lora)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "python_mib": round(figures["python_kib"] / 1024, 1),
        "loaded_mib": round(figures["loaded_kib"] / 1024, 1),
        "peak_mib": round(figures["peak_kib"] / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", type=Path, help="GGUF (default: what the runtime loads)")
    parser.add_argument(
        "--lora",
        type=Path,
        help="GGUF LoRA adapter applied to --gguf "
        "(default: the runtime's, when it loads one and --gguf is not given)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--grammar", action="store_true", help="also time the cue grammar")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.gguf is None:
        choice = choose_gguf()
        path, lora = choice.path, args.lora or choice.lora
    else:
        path, lora = args.gguf, args.lora
    engine = LlamaEngine(path, threads=args.threads, lora_path=lora)
    without = None if lora is None else LlamaEngine(path, threads=args.threads)
    try:
        narrator_path(engine, *prompts.cue_prompt(cue(175), engine.prompt_style), 8, None)  # warm
        result = {
            "gguf": str(path),
            "lora": None if lora is None else str(lora),
            "bytes": path.stat().st_size,
            "lora_bytes": None if lora is None else lora.stat().st_size,
            "model": engine.model_name,
            "prompt_style": engine.prompt_style,
            "threads": args.threads,
            "load_s": round(engine.load_s, 3),
            "decode_tokens_per_s": throughput(
                engine, args.repeat, args.max_tokens, args.grammar, without
            ),
            "live_cue": first_words(engine, args.repeat),
        }
    finally:
        engine.close()
        if without is not None:
            without.close()
    result["rss"] = rss(path, args.threads, lora)
    if lora is not None:
        result["rss_adapter_off"] = rss(path, args.threads)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    d, live, mem = result["decode_tokens_per_s"], result["live_cue"], result["rss"]
    print(
        f"{result['model']} ({result['prompt_style']} prompts, {args.threads} threads, "
        f"{result['bytes'] / 2**20:.1f} MiB"
        + ("" if lora is None else f" + adapter {result['lora_bytes'] / 2**20:.1f} MiB")
        + f", loaded in {result['load_s']} s)"
    )
    print(
        f"  decode tokens/s: narrator {d.get('narrator')}, bare loop {d.get('bare')}"
        f"{'' if lora is None else ' (both with the adapter)'}, ratio {d.get('ratio')}"
    )
    if "adapter_ratio" in d:
        print(
            f"  adapter on vs off (bare loop, same base and prompt): {d['bare']} vs "
            f"{d['bare_adapter_off']} tokens/s, ratio {d['adapter_ratio']}"
        )
    if "narrator_grammar" in d:
        print(
            f"  with the cue grammar: {d['narrator_grammar']} tokens/s "
            f"({d['grammar_ratio']} of the narrator without it)"
        )
    print(
        f"  live cue: first spoken words after {live['first_words_p50_s']} s (p50, max "
        f"{live['first_words_max_s']}), whole reply {live['whole_reply_p50_s']} s, "
        f"{live['spoken_by_model']}/{live['cues']} worded by the model"
    )
    print(
        f"  RSS: {mem['python_mib']} MiB before loading, {mem['loaded_mib']} MiB loaded, "
        f"{mem['peak_mib']} MiB peak after a generation"
        + (
            ""
            if lora is None
            else f" (with the adapter; without it {result['rss_adapter_off']['peak_mib']} MiB)"
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
