"""What every export stage shares: metadata files, versions, metrics."""

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

import numpy as np

from edge.health.features import HR_INDEX, OUTPUT_NAMES

#: The files each stage writes inside the work folder.
WINDOWS_FILE = "windows.npz"
TEACHER_FILE = "teacher.pt"
STUDENT_FILE = "student.pt"
TEACHER_ONNX_FILE = "teacher.onnx"
VERIFY_FILE = "verify.json"
CROSSVAL_FILE = "crossval.json"


def meta_path(output: Path) -> Path:
    """Where the metadata of `output` lives: beside it, ``<output>.meta.json``."""
    return output.with_name(output.name + ".meta.json")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("edgecoach", "numpy", "torch", "onnx", "onnxruntime", "optimum"):
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


def describe_input(path: Path) -> dict[str, Any]:
    return {"path": str(path), "sha256": sha256_file(path), "bytes": Path(path).stat().st_size}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")
    tmp.replace(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_meta(
    output: Path,
    *,
    stage: str,
    inputs: dict[str, Any],
    seed: int,
    sizes: dict[str, Any],
    metrics: dict[str, Any],
    wall_s: float,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Write ``<output>.meta.json`` and return its path."""
    path = meta_path(output)
    write_json(
        path,
        {
            "stage": stage,
            "output": {
                "path": str(output),
                "sha256": sha256_file(output),
                "bytes": output.stat().st_size,
            },
            "inputs": inputs,
            "seed": seed,
            "settings": settings or {},
            "sizes": sizes,
            "metrics": metrics,
            "versions": versions(),
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


def mae_report(
    pred_bpm: np.ndarray, target_bpm: np.ndarray, mask: np.ndarray, windows: np.ndarray
) -> dict[str, dict[str, float]]:
    """MAE (bpm) per output for the model and for persistence ("heart rate stays as it is")."""
    last = windows[:, -1, HR_INDEX].astype(np.float64)
    report: dict[str, dict[str, float]] = {}
    for j, name in enumerate(OUTPUT_NAMES):
        m = mask[:, j]
        if not m.any():
            continue
        err = np.abs(pred_bpm[m, j] - target_bpm[m, j])
        base = np.abs(last[m] - target_bpm[m, j])
        report[name] = {
            "model_mae_bpm": round(float(err.mean()), 3),
            "persistence_mae_bpm": round(float(base.mean()), 3),
            "n": int(m.sum()),
        }
    return report
