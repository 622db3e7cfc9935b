"""`edgecoach eval advice`: scenario files, and the report's JSON shape on a few scenarios."""

import argparse
import json
from pathlib import Path

import pytest

from edge.commands import eval as eval_command
from edge.errors import ConfigError
from edge.narrator.evaluate import compare, format_table, load_scenarios
from edge.settings import LlmSettings, Settings

SCENARIOS = Path(__file__).parent / "data" / "advice_scenarios.jsonl"
MODEL_KEYS = {
    "model",
    "path",
    "prompt_style",
    "scenarios",
    "model_worded",
    "action_agreement",
    "guard_pass_rate",
    "fact_error_rate",
    "fact_errors",
    "must_pass_rate",
    "must_pass_spoken",
    "model_share",
    "latency_p50_s",
    "latency_p95_s",
    "first_words_p50_s",
    "decode_tokens_per_s",
}


def test_the_hand_written_scenarios_load_and_their_templates_pass():
    import re

    from edge.narrator import guard

    scenarios = load_scenarios(SCENARIOS)
    assert len(scenarios) >= 30
    kinds = {s.kind for s in scenarios}
    assert kinds == {"cue", "question", "summary", "readiness", "plan"}
    easy = next(s for s in scenarios if s.id == "easy-run-z5-172")
    assert easy.facts["hr"] == 172 and easy.facts["zone"] == 5 and easy.action == "ease_off"
    assert any(re.search(p, "slow down") for p in easy.must)
    for scenario in scenarios:  # the rules' own words meet every scenario
        advice = scenario.advice()
        # Fixed words never reach a model, so the model's guard is not theirs to pass: the
        # no-diagnosis answer says "diagnose" and "medication", which a model may never say.
        assert advice.deterministic or guard.check_advice(advice.template, advice).ok, scenario.id
        assert all(re.search(p, advice.template, re.I) for p in scenario.must), scenario.id
        assert not any(re.search(p, advice.template, re.I) for p in scenario.must_not), scenario.id
        assert guard.action_agrees(advice.template, scenario.expected_action(advice))


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "not JSON"),
        ('{"id": "a", "kind": "poem", "facts": {}}', "kind must be one of"),
        ('{"id": "a", "kind": "cue", "facts": {"hr": 150}}', 'needs \\"cue\\"'),
        ('{"id": "a", "kind": "cue", "facts": {}, "cue": {"kind": "nope"}}', "do not make a cue"),
        ('{"id": "a", "kind": "summary", "facts": {}, "must": ["("]}', "must pattern"),
        ('{"id": "a", "kind": "summary", "facts": {}, "colour": 1}', "unknown field"),
        ('{"id": "a", "kind": "summary", "facts": {"x": [1]}}', "numbers and strings"),
    ],
)
def test_bad_scenarios_are_refused_with_the_line(tmp_path, line, message):
    path = tmp_path / "s.jsonl"
    path.write_text("# a comment\n\n" + line + "\n")
    with pytest.raises(ConfigError, match=message) as caught:
        load_scenarios(path)
    assert ":3:" in str(caught.value)


def test_repeated_ids_are_refused(tmp_path):
    path = tmp_path / "s.jsonl"
    line = '{"id": "a", "kind": "plan", "facts": {"session": "rest"}}\n'
    path.write_text(line * 2)
    with pytest.raises(ConfigError, match="repeated scenario id"):
        load_scenarios(path)


def test_the_report_compares_models_side_by_side():
    from test_narrator import ScriptedEngine

    scenarios = [
        s
        for s in load_scenarios(SCENARIOS)
        if s.id in ("easy-run-z5-172", "up-to-z4", "above-max-fixed")
    ]
    good = ScriptedEngine(
        "Heart rate 172, zone 5 on an easy run. Slow down below 172.",
        "Zone 4 at 162. Hold this effort.",
        prompt_style="facts",
    )
    bad = ScriptedEngine(
        "Push on, 190 is fine!",
        "Push on, 190 is fine!",
        "Great, keep it at 162 and stop.",
        "Great, keep it at 162 and stop.",
    )
    report = compare(scenarios, {"tuned": good, "base": bad})
    tuned, base = report["models"]["tuned"], report["models"]["base"]
    assert set(tuned) == MODEL_KEYS and set(base) == MODEL_KEYS
    assert (tuned["scenarios"], tuned["model_worded"]) == (3, 2)  # the safety cue is fixed
    assert tuned["guard_pass_rate"] == 1.0 and tuned["action_agreement"] == 1.0
    assert tuned["must_pass_rate"] == 1.0 and tuned["model_share"] == 1.0
    assert base["guard_pass_rate"] == 0.0 and base["fact_errors"] == 1
    assert base["must_pass_spoken"] == 1.0  # what is spoken falls back to the templates
    row = report["scenarios"][0]
    assert row["id"] == "easy-run-z5-172" and set(row) == {"id", "kind", "tuned", "base"}
    assert row["base"]["fact_errors"] == ["190"] and row["base"]["source"] == "template"
    assert "guard pass rate" in format_table(report)
    json.dumps(report)


def test_the_command_on_the_real_base_model_prints_json(capsys):
    parser = argparse.ArgumentParser()
    eval_command.configure(parser)
    args = parser.parse_args(
        ["advice", str(SCENARIOS), "--json", "--only", "base", "--limit", "3", "--threads", "2"]
    )
    assert eval_command.run(args, Settings(llm=LlmSettings(max_tokens=40))) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["models"]) == ["base"] and set(report["models"]["base"]) == MODEL_KEYS
    assert report["models"]["base"]["prompt_style"] == "rephrase"
    assert len(report["scenarios"]) == 3
    assert report["scenarios"][0]["base"]["spoken"]


def test_the_command_says_when_there_is_no_tuned_model_to_score(tmp_path):
    from edge.errors import EdgecoachError
    from edge.settings import HealthSettings

    parser = argparse.ArgumentParser()
    eval_command.configure(parser)
    settings = Settings(health=HealthSettings(models_dir=tmp_path))
    for only in ("lora", "tuned"):
        args = parser.parse_args(["advice", str(SCENARIOS), "--only", only, "--limit", "1"])
        with pytest.raises(EdgecoachError, match="no model to evaluate: no tuned model"):
            eval_command.run(args, settings)
