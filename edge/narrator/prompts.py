"""Prompt building: pure functions from a cue to chat messages, and from a reply to speech.

Kept free of any model object so the exact strings can be tested, and so that the guard knows
which numbers the model was given. The base 135M model follows "rephrase this message" far better
than it follows a list of facts (asked with facts alone it talked about running form and never
said to slow down), so the prompt hands it the rule-made template to rephrase; the facts stay the
guard's to check against.
"""

from __future__ import annotations

import re

from edge.coach.cues import Cue

SYSTEM_PROMPT = (
    "You are a running coach talking to the runner through an earpiece. You rephrase coaching "
    "messages in one short sentence, speaking directly to the runner as 'you'. "
    "Keep every number exactly as given."
)

#: A reply ends at the first line break: a cue is one spoken sentence or two, never a list.
STOP = ("\n", "<|im_end|>", "<|im_start|>")

#: A short label before a colon ("Rephrased:", "The new challenge:"), which small models add.
_LEAD_IN = re.compile(r"^[^\"\u201c:.!?\d]{0,40}:\s*")


def cue_messages(cue: Cue) -> list[dict[str, str]]:
    """Chat messages asking the model to say `cue` in its own words."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f'Rephrase for the runner: "{cue.template_text}"'},
    ]


def clean_reply(text: str) -> str:
    """Strip what small models wrap around the sentence: a lead-in label and quotation marks."""
    text = _LEAD_IN.sub("", text.strip())
    text = text.strip().strip('"').strip("\u201c\u201d").strip()
    # A quotation left open or closed on one side only reads badly when spoken.
    return text if text.count('"') % 2 == 0 else text.replace('"', "")
