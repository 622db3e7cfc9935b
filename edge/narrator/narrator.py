"""From cue to words: the language model when it is quick and truthful, the template otherwise.

The model runs in a single worker thread owned by the narrator, so it never blocks the sensors or
the event loop, and calls into llama.cpp never overlap. Each cue has a hard time budget; text the
guard rejects is retried once if time is left, then the template is used. Safety cues are never
rephrased.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from edge.coach.cues import Cue
from edge.narrator import guard, prompts
from edge.narrator.llm import LlamaEngine

log = logging.getLogger(__name__)


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

    def as_dict(self) -> dict[str, object]:
        return {"cue_id": self.cue_id, "text": self.text, "source": self.source,
                "reason": self.reason, "seconds": round(self.seconds, 3),
                "attempts": self.attempts}


@dataclass(frozen=True, slots=True)
class NarratorSettings:
    #: Hard limit for one cue's words, model and retry together.
    timeout_s: float = 4.0
    max_tokens: int = 48
    temperature: float = 0.3
    attempts: int = 2


class Narrator:
    def __init__(self, engine: LlamaEngine | None,
                 settings: NarratorSettings = NarratorSettings(),
                 unavailable_reason: str = "no language model loaded") -> None:
        self.engine = engine
        self.settings = settings
        self._unavailable_reason = unavailable_reason
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgecoach-llm")

    async def narrate(self, cue: Cue) -> Narration:
        started = time.perf_counter()
        if cue.deterministic:
            return Narration(cue.id, cue.template_text, "template", "safety cue: fixed words")
        if self.engine is None:
            return Narration(cue.id, cue.template_text, "template", self._unavailable_reason)
        deadline = started + self.settings.timeout_s
        reason = ""
        attempt = 0
        loop = asyncio.get_running_loop()
        for attempt in range(1, self.settings.attempts + 1):
            if time.perf_counter() >= deadline:
                reason = reason or "timed out"
                break
            try:
                generation = await asyncio.wait_for(
                    loop.run_in_executor(self._executor, self._generate, cue, deadline),
                    # The worker stops itself at the deadline; this catches a stuck call.
                    timeout=max(0.0, deadline - time.perf_counter()) + 1.0,
                )
            except TimeoutError:
                reason = "timed out"
                break
            except Exception as exc:  # a failing model must never silence the coach
                log.warning("language model failed on cue %d: %s", cue.id, exc)
                reason = f"model error: {exc}"
                break
            if generation.timed_out:
                reason = f"timed out after {self.settings.timeout_s:g} s"
                break
            text = prompts.clean_reply(generation.text)
            verdict = guard.check(text, cue)
            if verdict.ok:
                return Narration(cue.id, text, "llm", "",
                                 time.perf_counter() - started, attempt)
            reason = f"guard: {verdict.reason}"
            log.info("cue %d: model text rejected (%s): %r", cue.id, verdict.reason,
                     generation.text)
        return Narration(cue.id, cue.template_text, "template", reason,
                         time.perf_counter() - started, attempt)

    def _generate(self, cue: Cue, deadline: float):
        assert self.engine is not None
        return self.engine.generate(
            prompts.cue_messages(cue), max_tokens=self.settings.max_tokens,
            temperature=self.settings.temperature, stop=prompts.STOP, deadline=deadline,
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self.engine is not None:
            self.engine.close()
