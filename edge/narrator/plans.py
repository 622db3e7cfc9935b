"""Today's suggestion as the narrator words it: the facts the language model is told of a plan
and the rules' own text to fall back on. `edgecoach plan`, `ask` and the fine-tuning corpus use
these same functions, so the model learns exactly what the device asks of it."""

from __future__ import annotations

from edge.core.zones import ZoneModel
from edge.narrator.advice import Advice, Task, plan_advice, readiness_plan_advice
from edge.training.plan import Suggestion, hard_reps, reason_token


def suggestion_facts(suggestion: Suggestion, zones: ZoneModel) -> dict[str, object]:
    """What the language model is told of a suggestion: kind, the rule that chose it, minutes,
    the heart-rate range, the structure of a hard or steady day, and readiness when known.
    The corpus of `edgecoach export llm` is made with this same function."""
    facts: dict[str, object] = {
        "session": suggestion.kind,
        "reason": reason_token(str(suggestion.basis.get("rule", ""))),
    }
    if suggestion.kind != "rest":
        facts["duration_min"] = suggestion.minutes
    if "cut_to_easy_from" in suggestion.basis:
        facts["instead_of"] = suggestion.basis["cut_to_easy_from"]
        facts["load_left"] = suggestion.basis["load_left"]
    if suggestion.kind in ("moderate", "hard"):
        facts.update(warmup_min=10, warmup_zone=2)
    if suggestion.kind == "hard":
        facts.update(reps=hard_reps(suggestion.minutes), rep_min=3, easy_min=2)
    if suggestion.zones:
        low, _ = zones.bounds_bpm(min(suggestion.zones))
        _, high = zones.bounds_bpm(max(suggestion.zones))
        facts.update(zone=max(suggestion.zones), zone_low=low, zone_high=high)
    for key in ("readiness_level", "readiness_score"):
        if suggestion.basis.get(key) is not None:
            facts[key] = suggestion.basis[key]
    return facts


def suggestion_advice(suggestion: Suggestion, zones: ZoneModel, *, question: str = "") -> Advice:
    """Today's suggestion for the narrator: `suggestion_facts`, and the rules' own text as the
    template (what is said when the model's words fail the guard)."""
    facts = suggestion_facts(suggestion, zones)
    if question:  # `edgecoach ask "what should I do today?"`: the same plan, as an answer
        return plan_advice(
            facts, task=Task.QUESTION, kind="plan", question=question, template=suggestion.text
        )
    return plan_advice(facts, template=suggestion.text)


def readiness_advice_for(suggestion: Suggestion, zones: ZoneModel, question: str) -> Advice:
    """ "Am I ready to train today?": the one readiness (the morning reading against the last
    week's, as `edgecoach plan` reads it) and what today's plan makes of it, in one answer
    (`readiness_plan_advice`). `ask`, `morning` and the corpus use it alike."""
    return readiness_plan_advice(
        suggestion_facts(suggestion, zones), question=question, template=suggestion.text
    )
