"""Prompts as exact strings, the guard's cases, the cue grammar, and the rule-made advice."""

import pytest

from edge.core.cues import Action, Cue, CueKind, Priority
from edge.narrator import advice as rules
from edge.narrator import guard, prompts
from edge.narrator.grammar import fact_numbers, sentence_grammar

EASE = Cue(
    1,
    10,
    CueKind.HIGH_ZONE,
    Action.EASE_OFF,
    Priority.ZONE,
    {"hr": 176, "zone": 5, "previous_zone": 4, "zone5_lower": 174},
)
FORECAST = Cue(
    2,
    20,
    CueKind.FORECAST_OVERSHOOT,
    Action.EASE_OFF,
    Priority.FORECAST,
    {"hr": 160, "forecast_hr": 176, "horizon_s": 30, "zone5_lower": 174},
)


# -- prompts ----------------------------------------------------------------------------------


def test_prompt_is_an_exact_rephrase_request_of_the_template():
    messages = prompts.cue_messages(EASE)
    assert messages == [
        {"role": "system", "content": prompts.SYSTEM_PROMPT},
        {
            "role": "user",
            "content": 'Rephrase for the runner: "Zone 5, heart rate 176. That is '
            'near your maximum. Ease off until you are below 174."',
        },
    ]


def test_cue_prompt_returns_messages_and_stop():
    messages, stop = prompts.cue_prompt(EASE)
    assert messages == prompts.cue_messages(EASE)
    assert stop == ("\n", "<|im_end|>", "<|im_start|>")


def test_the_tuned_model_gets_the_facts_line():
    messages, stop = prompts.cue_prompt(EASE, prompts.FACTS)
    assert messages == [
        {
            "role": "system",
            "content": "You are edgecoach, a running coach. Word the message from the facts.",
        },
        {
            "role": "user",
            "content": "cue high_zone | ease_off | hr=176 zone=5 previous_zone=4 zone5_lower=174",
        },
    ]
    assert stop == prompts.STOP


def test_facts_prompts_of_answers_name_task_action_and_question():
    summary = rules.summary_advice(
        {"duration_min": 42, "mean_hr": 148, "max_hr": 171, "distance_km": 7.4}
    )
    assert prompts.advice_prompt(summary, prompts.FACTS).messages[1]["content"] == (
        "summary | hold | duration_min=42 mean_hr=148 max_hr=171 distance_km=7.4"
    )
    question = rules.question_advice("What's my VO2max?", rules.Intent.UNKNOWN, {})
    assert prompts.advice_prompt(question, prompts.FACTS).messages[1]["content"] == (
        "question unknown | info | none | What's my VO2max?"
    )


def test_base_model_rephrases_answers_with_the_question():
    answer = rules.question_advice(
        "How did my run go?",
        rules.Intent.LAST_SESSION,
        {"duration_min": 30, "mean_hr": 140, "max_hr": 160, "days_ago": 0},
    )
    messages, _ = prompts.advice_prompt(answer, prompts.REPHRASE)
    assert messages[0]["content"] == prompts.ANSWER_SYSTEM_PROMPT
    assert messages[1]["content"] == (
        'The runner asked: "How did my run go?". Rephrase the answer for them: "Today you '
        "trained for 30 minutes at an average heart rate of 140, peaking at 160. A steady "
        'session: keep it up."'
    )


def test_unknown_prompt_style_is_refused():
    with pytest.raises(ValueError, match="unknown prompt style"):
        prompts.cue_prompt(EASE, "chatty")


def test_clean_reply_strips_labels_and_quotes():
    assert prompts.clean_reply('Rephrased: "Slow down, 176 is high."') == "Slow down, 176 is high."
    assert prompts.clean_reply("\u201cEase off now.\u201d") == "Ease off now."
    assert prompts.clean_reply("Here is the message: Ease off.") == "Ease off."


def test_clean_reply_keeps_a_sentence_that_merely_has_a_colon():
    assert prompts.clean_reply("Heart rate is back: 150.") == "Heart rate is back: 150."
    assert prompts.clean_reply("Ease off \u2014 now.") == "Ease off , now."


# -- the guard --------------------------------------------------------------------------------


def test_guard_accepts_faithful_text():
    assert guard.check("You're at 176, zone 5. Ease off below 174.", EASE).ok


def test_guard_rejects_numbers_not_in_the_facts():
    verdict = guard.check("You're at 182, ease off a little.", EASE)
    assert not verdict.ok and "182" in verdict.reason


def test_guard_rejects_text_that_does_not_ask_for_the_action():
    verdict = guard.check("Great work, you're flying at 176 in zone 5!", EASE)
    assert not verdict.ok and "ease off" in verdict.reason


def test_guard_rejects_text_that_lost_the_point():
    verdict = guard.check("Ease off and enjoy the run.", EASE)
    assert not verdict.ok and "key facts" in verdict.reason


def test_guard_rejects_diagnoses_and_bad_lengths():
    assert not guard.check("Ease off, this looks like tachycardia.", EASE).ok
    assert not guard.check("Ease", EASE).ok
    assert not guard.check("Ease off. " * 40, EASE).ok


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Ease off at 176, this could be a heart condition.", "banned claim"),
        ("Slow down at 176, you may need medication.", "banned claim"),
        ("Ease off at 176, there's nothing to worry about.", "banned claim"),
        ("Heart rate 176. Push harder, you can do it!", "against ease off"),
        ("Heart rate 176, zone 5. Speed up and ease off later.", "against ease off"),
        ("**Ease off** at 176.", "not speakable"),
        ("Ease off at 176 \U0001f525", "not speakable"),
        ("Ease off at one hundred seventy six.", "number in words"),
        ("Ease off, 176 is zone 174.", "not a fact in zone"),
        ("Ease off. A. B. C. 176.", "sentences"),
    ],
)
def test_guard_cases(text, reason):
    verdict = guard.check(text, EASE)
    assert not verdict.ok and reason in verdict.reason, verdict


def test_guard_checks_units_against_the_facts():
    assert guard.check("Ease off now, you'll pass 174 in about 30 seconds.", FORECAST).ok
    verdict = guard.check("Ease off now, you'll pass 174 in about 30 minutes.", FORECAST)
    assert not verdict.ok and "30 is not a fact in minutes" in verdict.reason
    assert not guard.check("Ease off: 176 bpm in about 174 seconds.", FORECAST).ok
    # A readiness score is never a duration: the old tuned model said "Rest today: 38 minutes."
    rest = {"session": "rest", "reason": "after_hard_low_readiness", "readiness_score": 38}
    verdict = guard.check_text("Rest today: 38 minutes.", rest, action=Action.STOP)
    assert not verdict.ok and "38 is not a fact in minutes" in verdict.reason
    assert guard.check_text("Rest today: your readiness is 38.", rest, action=Action.STOP).ok


def test_guard_allows_a_negated_contradiction():
    assert guard.check("Don't push, ease off: you're at 176 in zone 5.", EASE).ok


def test_guard_allows_harmless_counts_and_requires_dont_know_words():
    assert guard.check("Ease off, take 2 deep breaths: 176 is zone 5.", EASE).ok
    unknown = rules.unknown_answer("How did I sleep?")
    assert guard.check_advice(unknown.template, unknown).ok
    verdict = guard.check_advice("You slept well, keep it up.", unknown)
    assert not verdict.ok and "does not know" in verdict.reason


def test_check_sentence_is_the_part_one_sentence_can_fail_alone():
    facts = dict(EASE.facts)
    assert guard.check_sentence("Your heart will settle soon.", facts, action=Action.EASE_OFF).ok
    assert not guard.check_sentence("It is 190 now.", facts, action=Action.EASE_OFF).ok
    assert not guard.check_sentence("Now sprint.", facts, action=Action.EASE_OFF).ok


def test_action_agreement():
    assert guard.action_agrees("Slow down below 174.", Action.EASE_OFF)
    assert not guard.action_agrees("Push on, 176 is fine.", Action.EASE_OFF)
    assert guard.action_agrees("Heart rate is back: 150.", Action.INFO)
    assert not guard.action_agrees("Stop now.", Action.INFO)
    assert guard.action_agrees("Your resting heart rate is 60.", None)
    assert guard.unknown_numbers("At 176, 182 and 2 breaths.", EASE.facts) == ["182"]


def test_fact_units_come_from_fact_names():
    assert [
        guard.fact_unit(k)
        for k in (
            "horizon_s",
            "duration_min",
            "max_hr",
            "zone",
            "previous_zone",
            "zone5_lower",
            "distance_km",
            "sessions_7d",
            "session",
            "readiness_score",
            "warmup_zone",
        )
    ] == ["s", "min", "bpm", "zone", "zone", "bpm", "km", "count", None, "points", "zone"]


# -- the grammar ------------------------------------------------------------------------------


def test_grammar_allows_only_the_facts_numbers():
    assert fact_numbers({"hr": 176, "zone": 5, "distance_km": 7.4, "session": "easy"}) == [
        "176",
        "7.4",
        "5",
    ]
    assert sentence_grammar({"hr": 176, "zone": 5}, max_sentences=2, max_items=20) == (
        'root ::= sentence (" " sentence){0,1}\n'
        "sentence ::= item (sep item){0,19} end\n"
        "item ::= word | num\n"
        "word ::= [A-Za-z]+ ([-'] [A-Za-z]+)*\n"
        'num ::= "176" | "5"\n'
        'sep ::= " " | ", " | ": " | "; " | " - "\n'
        'end ::= "." | "!" | "?"\n'
    )


def test_grammar_without_numbers_has_words_only():
    grammar = sentence_grammar({"session": "rest"})
    assert "item ::= word\n" in grammar and "num ::=" not in grammar


# -- the rule-made advice ----------------------------------------------------------------------


def test_every_template_passes_its_own_guard():
    cases = [
        rules.cue_advice(EASE),
        rules.cue_advice(FORECAST),
        rules.summary_advice(
            {
                "duration_min": 50,
                "mean_hr": 150,
                "max_hr": 178,
                "main_zone": 4,
                "main_zone_min": 22,
                "hard_min": 30,
                "distance_km": 9.1,
                "gap_s": 12,
            }
        ),
        rules.readiness_advice({"resting_hr": 66, "baseline_resting_hr": 58}),
        rules.readiness_advice({"hours_since_last": 20, "last_hard_min": 25, "sessions_7d": 3}),
        rules.readiness_advice({"sessions_7d": 6}),
        rules.readiness_advice({}),
        rules.plan_advice(
            {
                "session": "intervals",
                "zone": 4,
                "zone_low": 160,
                "zone_high": 170,
                "reps": 5,
                "rep_min": 3,
            }
        ),
        rules.plan_advice({"session": "rest"}),
        rules.trend_answer({"sessions": 2}),
        rules.trend_answer({"sessions": 8, "mean_hr_recent": 140, "mean_hr_before": 146}),
        rules.zones_answer(
            {"zone": 2, "zone_low": 120, "zone_high": 133, "resting_hr": 55, "max_hr": 185}
        ),
    ]
    for advice in cases:
        assert guard.check_advice(advice.template, advice).ok, advice.template
        assert guard.action_agrees(advice.template, advice.action), advice.template


def test_readiness_rules():
    assert (
        rules.readiness_advice({"resting_hr": 66, "baseline_resting_hr": 58}).action is Action.STOP
    )
    assert (
        rules.readiness_advice({"hours_since_last": 20, "last_hard_min": 25}).action
        is Action.EASE_OFF
    )
    assert (
        rules.readiness_advice({"hours_since_last": 60, "last_hard_min": 25}).action is Action.HOLD
    )


def test_plan_rules():
    bounds = {z: (100 + 10 * z, 110 + 10 * z) for z in range(1, 6)}
    plan = rules.plan_facts(
        hours_since_last=20, last_hard_min=30, sessions_7d=3, hard_sessions_7d=1, zone_bounds=bounds
    )
    assert plan == {"session": "rest"}
    plan = rules.plan_facts(
        hours_since_last=30, last_hard_min=20, sessions_7d=3, hard_sessions_7d=1, zone_bounds=bounds
    )
    assert plan == {
        "session": "easy",
        "zone": 2,
        "zone_low": 120,
        "zone_high": 130,
        "duration_min": 30,
    }
    plan = rules.plan_facts(
        hours_since_last=72, last_hard_min=0, sessions_7d=2, hard_sessions_7d=0, zone_bounds=bounds
    )
    assert plan["session"] == "intervals"


@pytest.mark.parametrize(
    "question, intent",
    [
        ("I have chest pain, what should I do?", rules.Intent.SAFETY),
        ("I feel dizzy after my run", rules.Intent.SAFETY),
        ("How did I sleep?", rules.Intent.UNKNOWN),
        ("What's the meaning of life?", rules.Intent.UNKNOWN),
        ("How did my run go?", rules.Intent.LAST_SESSION),
        ("What was my max heart rate?", rules.Intent.HEART_RATE),
        ("What is my zone 2?", rules.Intent.ZONES),
        ("Am I getting fitter?", rules.Intent.TREND),
        ("Should I train today?", rules.Intent.READINESS),
        ("What should I do today?", rules.Intent.PLAN),
    ],
)
def test_question_intents(question, intent):
    assert rules.classify_question(question) is intent


def test_safety_and_no_data_answers_are_fixed_words():
    assert rules.safety_answer().deterministic and "Stop" in rules.safety_answer().template
    assert rules.no_data_answer().deterministic
    assert rules.no_data_answer().template.startswith("I don't have any recorded sessions yet")


def test_a_plan_worded_with_another_rules_reason_is_refused():
    """The tuned model once explained a moderate day after "too hard" feedback with "A hard day
    is due": the numbers were right, the reason was not."""
    facts = {
        "session": "moderate",
        "reason": "too_hard",
        "duration_min": 30,
        "warmup_min": 10,
        "warmup_zone": 2,
        "zone": 3,
        "zone_low": 132,
        "zone_high": 156,
    }
    advice = rules.plan_advice(facts)
    assert guard.check_advice(advice.template, advice).ok
    wrong = (
        "Moderate 30 min: 10 min easy in zone 2, then steady in zone 3. A hard day is due: "
        "there has been none in the last two days."
    )
    verdict = guard.check_advice(wrong, advice)
    assert not verdict.ok and "says what the facts do not" in verdict.reason
    assert guard.check_advice(
        "Keep it steady today: 30 minutes in zone 3, heart rate 132 to "
        "156. Your recent sessions felt too hard.",
        advice,
    ).ok
    # Each sentence is checked as it streams, so the wrong reason is never spoken.
    assert not guard.check_sentence(
        "A hard day is due this week.", facts, action=advice.action, forbid=advice.forbid
    ).ok
    # A rule that is two reasons together allows both.
    both = rules.plan_advice(
        {"session": "rest", "reason": "after_hard_low_readiness", "readiness_score": 25}
    )
    assert guard.check_advice(
        "Rest today: yesterday was hard and your readiness is low, at 25.", both
    ).ok
    assert not guard.check_advice(
        "Rest today: you have reached this week's training load.", both
    ).ok


def test_a_reply_that_reads_the_request_back_is_refused():
    """The base model once answered "What's my VO2max?" with the prompt itself."""
    unknown = rules.unknown_answer("What's my VO2max?")
    echo = (
        "The runner asked: What's my VO2max? Rephrase the answer for them: I don't know that: "
        "I only have the heart rate."
    )
    verdict = guard.check_advice(echo, unknown)
    assert not verdict.ok and "reads the request back" in verdict.reason
    assert not guard.check_sentence("Here's a rewritten version of the coach's answer:", {}).ok


def test_every_prompt_and_its_longest_reply_fit_the_engines_context():
    """The engine keeps a small context (memory on a Pi): every prompt the scenarios make, in
    both styles, plus the longest reply the narrator allows, must fit in it."""
    from pathlib import Path

    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from edge.narrator.evaluate import load_scenarios
    from edge.narrator.llm import CONTEXT_TOKENS, packaged_gguf_path
    from edge.narrator.narrator import NarratorSettings

    vocab = Llama(model_path=str(packaged_gguf_path()), vocab_only=True, verbose=False)
    chat_format = Jinja2ChatFormatter(  # the GGUF's own template, as the engine applies it
        template=vocab.metadata["tokenizer.chat_template"],
        eos_token=vocab.detokenize([vocab.token_eos()]).decode(),
        bos_token=vocab.detokenize([vocab.token_bos()]).decode(),
    )
    longest_reply = max(NarratorSettings().max_tokens, NarratorSettings().answer_max_tokens)
    scenarios = load_scenarios(Path(__file__).parent / "data" / "advice_scenarios.jsonl")
    sizes = []
    for scenario in scenarios:
        for style in (prompts.FACTS, prompts.REPHRASE):
            messages, _stop = prompts.advice_prompt(scenario.advice(), style)
            text = chat_format(messages=messages).prompt
            sizes.append(len(vocab.tokenize(text.encode(), add_bos=False, special=True)))
    assert len(sizes) == 2 * len(scenarios) > 100
    assert max(sizes) + longest_reply <= CONTEXT_TOKENS, max(sizes)
