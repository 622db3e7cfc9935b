"""Prompt building: pure functions from facts to `(messages, stop)`, and from a reply to speech.

Kept free of any model object so the exact strings can be tested, and so that the guard knows
which numbers the model was given. Two styles, chosen by the model file (`LlamaEngine.prompt_style`
reads it from the GGUF's ``edgecoach.prompt_style`` key):

- ``rephrase``, for the base SmolLM2-135M-Instruct: it follows "rephrase this message" far better
  than a list of facts (asked with facts alone it talked about running form and never said to
  slow down), so the prompt hands it the rule-made template to rephrase; the facts stay the
  guard's to check against.
- ``facts``, for the model `edgecoach export llm` fine-tunes: one compact line of task, action
  and facts, the exact shape of its training corpus (`export/llm/corpus.py` builds the corpus
  with these same functions), so what it is asked on the device is what it learned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from edge.core.cues import Cue
from edge.narrator.advice import Advice, Task, cue_advice, format_value

REPHRASE = "rephrase"
FACTS = "facts"
PROMPT_STYLES = (REPHRASE, FACTS)

SYSTEM_PROMPT = (
    "You are a running coach talking to the runner through an earpiece. You rephrase coaching "
    "messages in one short sentence, speaking directly to the runner as 'you'. "
    "Keep every number exactly as given."
)
ANSWER_SYSTEM_PROMPT = (
    "You are a running coach talking to the runner. You rephrase the coach's answer in at most "
    "three short sentences, speaking directly to the runner as 'you'. "
    "Keep every number exactly as given."
)
FACTS_SYSTEM_PROMPT = "You are edgecoach, a running coach. Word the message from the facts."

#: A reply ends at the first line break: a cue is one spoken sentence or two, never a list.
STOP = ("\n", "<|im_end|>", "<|im_start|>")

#: A short label before a colon ("Rephrased:", "Here is the message:"), which small models add;
#: a sentence that merely has a colon ("Heart rate is back: 150.") keeps it.
_LEAD_IN = re.compile(
    r"^[^\"\u201c:.!?\d]{0,30}\b(rephras\w*|here's|here is|message|version|revised|answer|"
    r"response|sure|output|translation|challenge|coach says)\b[^\"\u201c:.!?\d]{0,20}:\s*",
    re.IGNORECASE,
)


class Prompt(NamedTuple):
    messages: list[dict[str, str]]
    stop: tuple[str, ...]


def facts_text(facts: Mapping[str, object]) -> str:
    """``hr=176 zone=5 zone5_lower=174``, in the order the rules wrote them; ``none`` if empty."""
    return " ".join(f"{k}={format_value(v)}" for k, v in facts.items()) or "none"


def facts_line(advice: Advice) -> str:
    """The one-line request of the ``facts`` style.

    ``cue high_zone | ease_off | hr=176 zone=5 previous_zone=4 zone5_lower=174``;
    ``question last_session | hold | duration_min=42 ... | How did my run go?``.
    """
    head = (
        advice.task.value
        if advice.task is Task.SUMMARY or advice.task is Task.READINESS or advice.task is Task.PLAN
        else f"{advice.task.value} {advice.kind}"
    )
    action = advice.action.value if advice.action is not None else "info"
    line = f"{head} | {action} | {facts_text(advice.facts)}"
    if advice.task is Task.QUESTION:
        line += f" | {advice.question.strip()}"
    return line


def advice_prompt(advice: Advice, style: str = REPHRASE) -> Prompt:
    """Chat messages asking a model to word `advice`, in the prompt style its GGUF names."""
    if style == FACTS:
        return Prompt(
            [
                {"role": "system", "content": FACTS_SYSTEM_PROMPT},
                {"role": "user", "content": facts_line(advice)},
            ],
            STOP,
        )
    if style != REPHRASE:
        raise ValueError(f"unknown prompt style {style!r}; known: {', '.join(PROMPT_STYLES)}")
    if advice.task is Task.CUE:
        request = f'Rephrase for the runner: "{advice.template}"'
        return Prompt(
            [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": request}],
            STOP,
        )
    if advice.task is Task.QUESTION:
        request = (
            f'The runner asked: "{advice.question.strip()}". Rephrase the answer for them: '
            f'"{advice.template}"'
        )
    else:
        request = f'Rephrase for the runner: "{advice.template}"'
    return Prompt(
        [{"role": "system", "content": ANSWER_SYSTEM_PROMPT}, {"role": "user", "content": request}],
        STOP,
    )


def cue_prompt(cue: Cue, style: str = REPHRASE) -> Prompt:
    return advice_prompt(cue_advice(cue), style)


def cue_messages(cue: Cue) -> list[dict[str, str]]:
    """Chat messages asking the base model to say `cue` in its own words."""
    return cue_prompt(cue, REPHRASE).messages


def clean_reply(text: str) -> str:
    """Strip what small models wrap around the sentence: a lead-in label and quotation marks;
    turn dashes and ellipses into what a speech engine reads well."""
    text = text.replace("\u2014", ", ").replace("\u2013", "-").replace("\u2026", "...")
    text = re.sub(r"\s+", " ", text)
    text = _LEAD_IN.sub("", text.strip())
    text = text.strip().strip('"').strip("\u201c\u201d").strip()
    # A quotation left open or closed on one side only reads badly when spoken.
    return text if text.count('"') % 2 == 0 else text.replace('"', "")
