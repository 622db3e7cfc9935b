"""What every export stage shares, health model and language model alike: the metadata file
beside each output, the versions that made it, file hashes and timing.

Each stage writes its output and ``<output>.meta.json`` (inputs by sha256, seed, settings, sizes,
metrics, versions, wall time), so the next stage, a rerun or a reader can tell what made it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any


def meta_path(output: Path) -> Path:
    """Where the metadata of `output` lives: beside it, ``<output>.meta.json``."""
    output = Path(output)
    return output.with_name(output.name + ".meta.json")


def versions(distributions: Iterable[str]) -> dict[str, str]:
    """Python's version and those of the installed `distributions` (missing ones left out)."""
    found = {"python": platform.python_version()}
    for dist in distributions:
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
    """A file or folder as an input or output: path, sha256 and size (a folder's sha256 covers
    each file's name and content)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        h = hashlib.sha256()
        for p in files:
            h.update(p.relative_to(path).as_posix().encode())
            h.update(sha256_file(p).encode())
        return {
            "path": str(path),
            "sha256": h.hexdigest(),
            "bytes": sum(p.stat().st_size for p in files),
        }
    return {"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def _jsonable(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    return str(value)  # paths, dates


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON atomically (a crash leaves the old file or the new, never half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_meta(
    output: Path,
    *,
    stage: str,
    inputs: dict[str, Any],
    seed: int,
    sizes: dict[str, Any],
    metrics: dict[str, Any],
    wall_s: float,
    versions_of: Iterable[str],
    settings: dict[str, Any] | None = None,
) -> Path:
    """Write ``<output>.meta.json`` and return its path."""
    path = meta_path(output)
    write_json(
        path,
        {
            "stage": stage,
            "output": describe(output),
            "inputs": inputs,
            "seed": seed,
            "settings": settings or {},
            "sizes": sizes,
            "metrics": metrics,
            "versions": versions(versions_of),
            "wall_s": round(wall_s, 3),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
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
