"""From cue to words: the language model when it is quick and truthful, the template otherwise.

The model runs in a single worker thread owned by the narrator, so it never blocks the sensors or
the event loop, and calls into llama.cpp never overlap. Each cue has a hard time budget; text the
guard rejects is retried once if time is left, then the template is used. Safety cues are never
rephrased. A live cue never queues for the model: if the worker is still on another message (ten
people share one model) or the cue has already waited most of its time limit, its template is
spoken at once, because late words are worse than plain ones.

Streaming to speech. With `on_sentence`, words reach the speaker a sentence at a time while the
model is still writing, but only words the guard has passed:

- the first sentence is handed on as soon as it is complete *and passes the whole guard on its
  own* (it asks for the action, names a key fact, every number is a fact): a cue's first sentence
  is its message, so the person hears it about one sentence's decoding time after the first token
  instead of after the whole reply;
- each later sentence is handed on when it passes the checks one sentence can fail by itself
  (numbers and units from the facts, no banned claim, nothing against the action, speakable) and
  the message stays within its length; the first one that fails ends the reply there, and
  generation is stopped;
- if the first sentence alone is not enough, nothing is spoken until the reply is finished and
  passes as a whole (then it is handed on sentence by sentence at once), or the retry or the
  template is.

The trade-off: a sentence once spoken cannot be taken back, so streaming speaks the longest
guard-clean beginning of a reply rather than rejecting a reply whose third sentence went wrong;
and the first word waits for the end of the first sentence (a few hundred milliseconds) rather
than the first token, because a half sentence cannot be checked. Without `on_sentence` nothing
changes: the whole reply is checked, then returned.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from edge.core.cues import Cue
from edge.core.narration import Narration
from edge.narrator import guard, prompts
from edge.narrator.advice import Advice, Task, cue_advice
from edge.narrator.grammar import fact_numbers, sentence_grammar
from edge.narrator.llm import LlamaEngine

log = logging.getLogger(__name__)

#: A sentence is complete at its end mark followed by a space (a decimal point is not followed
#: by one); the rest of a reply is complete when the reply ends.
_COMPLETE = re.compile(r"^(.*?[.!?])\s+(?=\S)", re.S)


@dataclass(frozen=True, slots=True)
class NarratorSettings:
    #: Hard limit for one cue's words, model and retry together.
    timeout_s: float = 4.0
    max_tokens: int = 48
    #: Longest reply for summaries and answers, which run to a few sentences.
    answer_max_tokens: int = 96
    #: Sampling temperature of the first attempt (0: greedy, the model's most likely words)...
    temperature: float = 0.0
    #: ...and of the retry, which must not simply repeat a rejected reply.
    retry_temperature: float = 0.6
    attempts: int = 2
    #: A cue with less time than this left (it waited behind others) is worded by its template.
    min_model_s: float = 1.0
    #: A live cue arriving while the model is still on another message gets its template.
    skip_when_busy: bool = True
    #: Constrain decoding with a GBNF grammar (plain sentences, numbers only from the facts).
    #: Off by default: it slows llama-cpp-python's decoding (see bench/llm_throughput.py).
    grammar: bool = False
    #: Let the model write only the facts' numbers (and 1-3), digit by digit (`NumberGate`):
    #: the cheap part of the grammar, on by default.
    numbers_from_facts: bool = True


@dataclass
class _Streamer:
    """Cuts streamed text into sentences and hands on the ones the guard passes."""

    advice: Advice
    emit: Callable[[str], None] | None
    started: float
    buffer: str = ""
    spoken: list[str] = field(default_factory=list)
    #: True once the first sentence was not enough alone: wait for the whole reply.
    holding: bool = False
    #: True once a later sentence failed: the reply ends with what was spoken.
    cut: str = ""
    first_words_s: float | None = None

    def feed(self, piece: str) -> bool:
        """Take a piece of the reply; False asks the engine to stop generating."""
        self.buffer += piece
        while not (self.cut or self.holding) and (match := _COMPLETE.match(self.buffer)):
            sentence, self.buffer = match.group(1), self.buffer[match.end() :]
            self._sentence(sentence)
        return not self.cut

    def _sentence(self, sentence: str) -> None:
        text = prompts.clean_reply(sentence)
        if not self.spoken:
            if guard.check_advice(text, self.advice).ok:
                self._say(text)
            else:
                self.holding = True  # checked as a whole when the reply is finished
            return
        verdict = guard.check_sentence(
            text, self.advice.facts, action=self.advice.action, forbid=self.advice.forbid
        )
        total = len(" ".join(self.spoken)) + 1 + len(text)
        if not verdict.ok:
            self.cut = verdict.reason
        elif total > self.advice.max_chars or len(self.spoken) >= self.advice.max_sentences:
            self.cut = "too long"
        else:
            self._say(text)

    def _say(self, text: str) -> None:
        if self.first_words_s is None:
            self.first_words_s = time.perf_counter() - self.started
        self.spoken.append(text)
        if self.emit is not None:
            self.emit(text)

    def finish(self) -> None:
        """The reply ended: its last sentence needs no following space to be complete, but an
        unfinished one (the token limit hit mid-sentence) is not spoken."""
        rest = self.buffer.strip()
        self.buffer = ""
        if self.spoken and not self.cut and rest:
            if rest[-1] in ".!?":
                self._sentence(rest)
            else:
                self.cut = "unfinished sentence"


class Narrator:
    def __init__(
        self,
        engine: LlamaEngine | None,
        settings: NarratorSettings = NarratorSettings(),
        unavailable_reason: str = "no language model loaded",
    ) -> None:
        self.engine = engine
        self.settings = settings
        self._unavailable_reason = unavailable_reason
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgecoach-llm")
        #: Messages handed to the worker and not finished by it (guarded by `_pending_lock`).
        self._pending = 0
        self._pending_lock = threading.Lock()

    @property
    def prompt_style(self) -> str:
        return getattr(self.engine, "prompt_style", prompts.REPHRASE)

    @property
    def model_name(self) -> str:
        """The model that words replies: "<adapter> on <base>" with the coaching adapter."""
        return str(getattr(self.engine, "model_name", "") or "")

    async def narrate(
        self,
        cue: Cue,
        *,
        on_sentence: Callable[[str], None] | None = None,
        since: float | None = None,
    ) -> Narration:
        """Words for `cue`. `on_sentence`, called on the event loop's thread, gets each sentence
        that may be spoken as soon as it is known (see the module docstring). `since` is the
        `time.perf_counter()` of the sample that triggered the cue: the time limit counts from
        there, so a cue that waited behind others gets less time, or none."""
        return await self.narrate_advice(cue_advice(cue), on_sentence=on_sentence, since=since)

    async def narrate_advice(
        self,
        advice: Advice,
        *,
        on_sentence: Callable[[str], None] | None = None,
        since: float | None = None,
    ) -> Narration:
        loop = asyncio.get_running_loop()
        emit = None
        if on_sentence is not None:

            def emit(text: str) -> None:
                loop.call_soon_threadsafe(on_sentence, text)

        started = time.perf_counter()
        if advice.deterministic or self.engine is None:
            reason = "safety cue: fixed words" if advice.deterministic else self._unavailable_reason
            return self._template(advice, reason, started, 0, on_sentence)
        deadline = (started if since is None else min(since, started)) + self.settings.timeout_s
        if since is not None and deadline - started < self.settings.min_model_s:
            # On a busy machine cues queue behind slow model calls; words that come late are
            # worse than plain words now, so a late cue skips the model.
            return self._template(
                advice,
                f"late: {started - since:.1f} s behind earlier cues",
                started,
                0,
                on_sentence,
            )
        with self._pending_lock:
            busy = self._pending > 0
            if not (busy and advice.task is Task.CUE and self.settings.skip_when_busy):
                self._pending += 1
                busy = False
        if busy:
            # One model serves everyone: a live cue does not wait its turn behind another
            # person's (or its own earlier) words, it is spoken from its template now.
            return self._template(
                advice, "model busy with another message", started, 0, on_sentence
            )
        abandoned = threading.Event()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(
                    self._executor, self._counted_word, advice, deadline, emit, abandoned, started
                ),
                # The worker stops itself at the deadline; this catches a stuck call.
                timeout=deadline - started + 1.0,
            )
        except TimeoutError:
            abandoned.set()  # the worker stops at its next token and hands nothing on
            return self._template(advice, "timed out", started, 1, on_sentence)

    def _counted_word(
        self,
        advice: Advice,
        deadline: float,
        emit: Callable[[str], None] | None,
        abandoned: threading.Event,
        started: float,
    ) -> Narration:
        try:
            return self._word(advice, deadline, emit, abandoned, started)
        finally:
            with self._pending_lock:
                self._pending -= 1

    def narrate_sync(
        self, advice: Advice, *, on_sentence: Callable[[str], None] | None = None
    ) -> Narration:
        """`narrate_advice` in the caller's thread, for a command with no event loop (`ask`)."""
        started = time.perf_counter()
        if advice.deterministic or self.engine is None:
            reason = "fixed words" if advice.deterministic else self._unavailable_reason
            return self._template(advice, reason, started, 0, on_sentence)
        return self._word(advice, started + self.settings.timeout_s, on_sentence)

    def _template(
        self,
        advice: Advice,
        reason: str,
        started: float,
        attempts: int,
        emit: Callable[[str], None] | None,
    ) -> Narration:
        if emit is not None:
            emit(advice.template)
        seconds = time.perf_counter() - started
        return Narration(
            advice.cue_id,
            advice.template,
            "template",
            reason,
            seconds,
            attempts,
            None if emit is None else seconds,
        )

    def _word(
        self,
        advice: Advice,
        deadline: float,
        emit: Callable[[str], None] | None,
        abandoned: threading.Event | None = None,
        started: float | None = None,
    ) -> Narration:
        """Every attempt for one message, in the worker thread. Never raises."""
        started = time.perf_counter() if started is None else started
        if abandoned is not None and emit is not None:
            speak = emit

            def emit(text: str) -> None:
                if not abandoned.is_set():
                    speak(text)

        reason = ""
        attempt = 0
        prompt = prompts.advice_prompt(advice, self.prompt_style)
        grammar = (
            sentence_grammar(advice.facts, max_sentences=advice.max_sentences)
            if self.settings.grammar
            else None
        )
        numbers = (
            fact_numbers(advice.facts) + sorted(guard.HARMLESS_NUMBERS)
            if self.settings.numbers_from_facts
            else None
        )
        max_tokens = (
            self.settings.max_tokens
            if advice.task is Task.CUE
            else max(self.settings.max_tokens, self.settings.answer_max_tokens)
        )
        for attempt in range(1, self.settings.attempts + 1):
            if abandoned is not None and abandoned.is_set():
                reason = "timed out"
                break
            if time.perf_counter() >= deadline:
                reason = reason or f"timed out after {self.settings.timeout_s:g} s"
                break
            streamer = _Streamer(advice, emit, started)

            def on_text(piece: str, streamer: _Streamer = streamer) -> bool:
                if abandoned is not None and abandoned.is_set():
                    return False
                return streamer.feed(piece) if emit is not None else True

            try:
                generation = self.engine.generate(  # type: ignore[union-attr]
                    prompt.messages,
                    max_tokens=max_tokens,
                    temperature=self.settings.temperature
                    if attempt == 1
                    else self.settings.retry_temperature,
                    stop=prompt.stop,
                    deadline=deadline,
                    on_text=on_text,
                    grammar=grammar,
                    numbers=numbers,
                )
            except Exception as exc:  # a failing model must never silence the coach
                log.warning(
                    "language model failed on %s %s: %s", advice.task.value, advice.kind, exc
                )
                reason = f"model error: {exc}"
                break
            if streamer.spoken:
                if not generation.timed_out:
                    streamer.finish()
                note = (
                    f"cut at the time limit after {len(streamer.spoken)} sentence(s)"
                    if generation.timed_out
                    else f"later sentence dropped: {streamer.cut}"
                    if streamer.cut
                    else ""
                )
                return Narration(
                    advice.cue_id,
                    " ".join(streamer.spoken),
                    "llm",
                    note,
                    time.perf_counter() - started,
                    attempt,
                    streamer.first_words_s,
                    self.model_name,
                )
            if generation.timed_out:
                reason = f"timed out after {self.settings.timeout_s:g} s"
                break
            text = prompts.clean_reply(generation.text)
            verdict = guard.check_advice(text, advice)
            if verdict.ok:
                first = None
                if emit is not None:
                    first = time.perf_counter() - started
                    for sentence in guard.split_sentences(text):
                        emit(sentence)
                return Narration(
                    advice.cue_id,
                    text,
                    "llm",
                    "",
                    time.perf_counter() - started,
                    attempt,
                    first,
                    self.model_name,
                )
            reason = f"guard: {verdict.reason}"
            log.info(
                "%s %s: model text rejected (%s): %r",
                advice.task.value,
                advice.kind,
                verdict.reason,
                generation.text,
            )
        return self._template(advice, reason, started, attempt, emit)

    def shutdown(self) -> None:
        """Wait for the worker to finish; the engine stays open (it may be shared)."""
        self._executor.shutdown(wait=True)

    def close(self) -> None:
        self.shutdown()
        if self.engine is not None:
            self.engine.close()
