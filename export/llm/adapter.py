"""Stage 3 for an adapter, convert: the peft LoRA folder to a GGUF LoRA with llama.cpp's own script.

`convert_lora_to_gguf.py` ships in the llama-cpp-python source distribution (under
``vendor/llama.cpp``), beside the ``conversion`` package and the ``gguf-py`` it imports; no other
package carries it. So the export fetches the sdist of exactly the llama-cpp-python installed
(``pip download --no-binary :all: --no-deps llama-cpp-python==<version>``: pip's cache answers it
when the wheel was built here), unpacks those files once into a cache folder, and runs the
script in a subprocess against the base's config (`finetune.BASE_CONFIG_DIR`, the dequantised
GGUF the device runs). This happens on the workstation at export time only; the device never
fetches anything. ``EDGECOACH_LLAMA_CPP_SDIST`` may name the sdist (a .tar.gz) or an unpacked
``vendor/llama.cpp`` folder to use instead, for machines without a package index.

The GGUF adapter then gets edgecoach's keys (`convert.add_metadata`): the prompt style it was
trained for and the sha256 of the base GGUF it must be applied to.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata as importlib_metadata
from pathlib import Path

from edge.errors import ExportError
from edge.narrator.llm import PROMPT_STYLE_KEY, check_gguf
from edge.narrator.prompts import FACTS
from export.llm._stage import describe, read_json, stopwatch, write_meta
from export.llm.convert import _offline_env, add_metadata

log = logging.getLogger(__name__)

ADAPTER_F16_FILE = "coach-lora-f16.gguf"
SDIST_ENV = "EDGECOACH_LLAMA_CPP_SDIST"
#: What of the sdist's vendor/llama.cpp the converter needs.
_NEEDED = ("convert_lora_to_gguf.py", "convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def llama_cpp_version() -> str:
    try:
        return importlib_metadata.version("llama_cpp_python")
    except importlib_metadata.PackageNotFoundError as exc:
        raise ExportError("llama-cpp-python is not installed: pip install -e .") from exc


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgecoach"


def llama_cpp_scripts(version: str | None = None, *, timeout_s: float = 600) -> Path:
    """The ``vendor/llama.cpp`` folder of llama-cpp-python's sdist (the installed version),
    unpacked into the cache on first use; return the folder holding convert_lora_to_gguf.py."""
    version = version or llama_cpp_version()
    given = os.environ.get(SDIST_ENV)
    if given and Path(given).is_dir():
        folder = Path(given)
        if not (folder / "convert_lora_to_gguf.py").is_file():
            raise ExportError(
                f"${SDIST_ENV}={given} has no convert_lora_to_gguf.py: name the "
                "vendor/llama.cpp folder of llama-cpp-python's source"
            )
        return folder
    folder = _cache_root() / f"llama-cpp-python-{version}" / "vendor" / "llama.cpp"
    if (folder / "convert_lora_to_gguf.py").is_file() and (folder / "conversion").is_dir():
        return folder
    if given:
        tarball = Path(given)
        if not tarball.is_file():
            raise ExportError(f"${SDIST_ENV}={given} is neither a file nor a folder")
        _unpack(tarball, folder.parents[1], version)
        return folder
    with tempfile.TemporaryDirectory(prefix="edgecoach-sdist-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--dest",
            tmp,
            f"llama-cpp-python=={version}",
        ]
        log.info("fetching llama.cpp's converter: %s", " ".join(command[2:]))
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        found = sorted(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if done.returncode != 0 or not found:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
            raise ExportError(
                f"could not fetch the llama-cpp-python {version} source distribution, which "
                f"carries llama.cpp's convert_lora_to_gguf.py (exit {done.returncode}):\n{tail}\n"
                f"Without a package index, set ${SDIST_ENV} to the .tar.gz."
            )
        _unpack(found[0], folder.parents[1], version)
    return folder


def _unpack(tarball: Path, dest: Path, version: str) -> None:
    """Unpack the converter's files of `tarball` into `dest` (its top folder renamed)."""
    prefix_inside = "vendor/llama.cpp/"
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            members = []
            for member in archive.getmembers():
                parts = member.name.split("/", 1)
                if len(parts) < 2 or not parts[1].startswith(prefix_inside):
                    continue
                rest = parts[1][len(prefix_inside) :]
                if any(rest == n or (n.endswith("/") and rest.startswith(n)) for n in _NEEDED):
                    if not (member.isfile() or member.isdir()):
                        continue
                    member.name = parts[1]
                    members.append(member)
            if not any(m.name.endswith("convert_lora_to_gguf.py") for m in members):
                raise ExportError(
                    f"{tarball} has no vendor/llama.cpp/convert_lora_to_gguf.py: "
                    f"not llama-cpp-python {version}'s source distribution?"
                )
            archive.extractall(staging, members=members, filter="data")
        if dest.exists():
            import shutil

            shutil.rmtree(dest)
        staging.replace(dest)
    finally:
        if staging.exists():
            import shutil

            shutil.rmtree(staging, ignore_errors=True)


def convert_adapter(
    adapter_dir: Path,
    base_config: Path,
    work_dir: Path,
    *,
    metadata: dict[str, str] | None = None,
    seed: int = 0,
    timeout_s: float = 900,
) -> Path:
    """Convert the peft folder `adapter_dir` to ``work_dir/coach-lora-f16.gguf``; return it."""
    adapter_dir, work_dir = Path(adapter_dir).resolve(), Path(work_dir).resolve()
    base_config = Path(base_config).resolve()
    raw = work_dir / "convert-raw-lora.gguf"
    out = work_dir / ADAPTER_F16_FILE
    with stopwatch() as t:
        scripts = llama_cpp_scripts()
        command = [
            sys.executable,
            str(scripts / "convert_lora_to_gguf.py"),
            str(adapter_dir),
            "--base",
            str(base_config),
            "--outfile",
            str(raw),
            "--outtype",
            "f16",
        ]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=_offline_env(),
            cwd=str(work_dir),
            check=False,
        )
        if done.returncode != 0 or not raw.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise ExportError(
                f"llama.cpp's convert_lora_to_gguf.py failed on {adapter_dir} "
                f"(exit {done.returncode}):\n{tail}"
            )
        keys = {PROMPT_STYLE_KEY: FACTS, **(metadata or {})}
        add_metadata(raw, out, keys)
        raw.unlink()
        check_gguf(out)
    upstream = adapter_dir / "adapter_config.json.meta.json"
    write_meta(
        out,
        stage="convert",
        inputs={
            "adapter": describe(adapter_dir),
            "base_config": describe(base_config),
            "finetune_meta": read_json(upstream) if upstream.exists() else None,
        },
        seed=seed,
        settings={
            "outtype": "f16",
            "metadata": keys,
            "script": "convert_lora_to_gguf.py",
            "llama_cpp_python": llama_cpp_version(),
        },
        sizes={"bytes": out.stat().st_size},
        metrics={},
        wall_s=t[0],
    )
    log.info(
        "converted the adapter to %s (%.1f MB) in %.1f s", out.name, out.stat().st_size / 1e6, t[0]
    )
    return out
