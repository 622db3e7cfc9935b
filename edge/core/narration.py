"""A narration: the words a cue was given, and whether a language model or a template wrote them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Narration:
    cue_id: int
    text: str
    #: "llm", or "template" with `reason` saying why the model's words were not used.
    source: str
    reason: str = ""
    #: Seconds spent in the narrator for this cue (model call, guard and fallback).
    seconds: float = 0.0
    attempts: int = 0
    #: Seconds from the call to the first words handed to `on_sentence` (None without one).
    first_words_s: float | None = None
    #: Which model worded it (source "llm"): the GGUF's name, or "<adapter> on <base>".
    model: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "cue_id": self.cue_id,
            "text": self.text,
            "source": self.source,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
            "model": self.model,
        }
