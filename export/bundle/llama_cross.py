"""Cross-compile llama-cpp-python for aarch64 on an x86 workstation, in the bundle's flavours.

llama-cpp-python is an sdist on PyPI: a Pi would have to compile llama.cpp itself (a compiler,
cmake and a long time on a Pi 4). Here the sdist is built with the Debian cross compilers
(``gcc-aarch64-linux-gnu``, ``g++-aarch64-linux-gnu``) through a CMake toolchain file. pip tags
the result ``linux_x86_64`` (it names the wheel after the machine that built it) although every
shared library inside is aarch64: `retag_wheel` renames it ``linux_aarch64`` after
`check_wheel_arch` has read the ELF header of every ``.so``.

Flavours (the installer picks one from the dotprod flag ``asimddp`` in /proc/cpuinfo):

- ``generic``: ``-DGGML_NATIVE=OFF``, plain armv8-a with NEON: Pi 3, Pi 4, Zero 2 W and Pi 5;
- ``dotprod``: ``-DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod``: Pi 5 (Cortex-A76); it would die with
  SIGILL on a Pi 4 (Cortex-A72 has no dot product instructions).

Both leave OpenMP out (``-DGGML_OPENMP=OFF``, ggml's own thread pool), so the device needs no
libgomp1, and the multimodal library (``-DLLAVA_BUILD=OFF``), which edgecoach never loads.
Each flavour's wheel is cached under the cache folder by version and flags.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: ELF e_machine of AArch64.
EM_AARCH64 = 183

CROSS_CC = "aarch64-linux-gnu-gcc"
CROSS_CXX = "aarch64-linux-gnu-g++"
#: Debian packages that provide the cross compilers.
CROSS_PACKAGES = ("gcc-aarch64-linux-gnu", "g++-aarch64-linux-gnu")

COMMON_CMAKE_ARGS = (
    "-DGGML_OPENMP=OFF",
    "-DLLAVA_BUILD=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_CURL=OFF",
)


@dataclass(frozen=True)
class Flavour:
    name: str
    cmake_args: tuple[str, ...]
    #: /proc/cpuinfo "Features" flags a CPU needs for this flavour.
    needs_flags: tuple[str, ...]
    boards: str


FLAVOURS: tuple[Flavour, ...] = (
    Flavour("generic", ("-DGGML_NATIVE=OFF",), (), "any 64-bit Pi: Zero 2 W, 3, 4, 400, CM4, 5"),
    Flavour(
        "dotprod",
        ("-DGGML_NATIVE=OFF", "-DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod"),
        ("asimddp",),
        "Pi 5 / CM5 (Cortex-A76); not a Pi 4",
    ),
)

TOOLCHAIN = """\
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER {cc})
set(CMAKE_CXX_COMPILER {cxx})
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
"""


class CrossBuildError(RuntimeError):
    """The cross build could not run or produced something that is not an aarch64 wheel."""


def elf_machine(data: bytes) -> int | None:
    """e_machine of an ELF image, or None when `data` is not ELF."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        return None
    endian = "<" if data[5] == 1 else ">"
    return struct.unpack(endian + "H", data[18:20])[0]


def check_wheel_arch(wheel: Path, machine: int = EM_AARCH64) -> list[str]:
    """The shared libraries inside `wheel`; raises unless every one is built for `machine`."""
    libs = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if ".so" not in Path(name).name:
                continue
            found = elf_machine(zf.read(name)[:64])
            if found is None:
                continue
            if found != machine:
                raise CrossBuildError(
                    f"{wheel.name}: {name} is ELF machine {found}, not {machine} (aarch64)"
                )
            libs.append(name)
    if not libs:
        raise CrossBuildError(f"{wheel.name} holds no shared library")
    return libs


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def retag_wheel(wheel: Path, platform_tag: str, out_dir: Path) -> Path:
    """Copy `wheel` into `out_dir` with its platform tag (file name, WHEEL, RECORD) replaced."""
    parts = wheel.name[: -len(".whl")].split("-")
    name = "-".join(parts[:-1] + [platform_tag]) + ".whl"
    out = out_dir / name
    with zipfile.ZipFile(wheel) as src:
        infos = src.infolist()
        wheel_file = next(i.filename for i in infos if i.filename.endswith(".dist-info/WHEEL"))
        record_file = next(i.filename for i in infos if i.filename.endswith(".dist-info/RECORD"))
        contents = {i.filename: src.read(i.filename) for i in infos}
    lines = []
    for line in contents[wheel_file].decode().splitlines():
        if line.startswith("Tag: "):
            py, abi, _ = line[5:].split("-")
            line = f"Tag: {py}-{abi}-{platform_tag}"
        lines.append(line)
    contents[wheel_file] = ("\n".join(lines) + "\n").encode()
    record = []
    for line in contents[record_file].decode().splitlines():
        path = line.rsplit(",", 2)[0]
        if path == wheel_file:
            data = contents[wheel_file]
            line = f"{path},{_record_hash(data)},{len(data)}"
        record.append(line)
    contents[record_file] = ("\n".join(record) + "\n").encode()
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in infos:
            dst.writestr(info, contents[info.filename])
    tmp.replace(out)
    return out


def cache_key(version: str, flavour: Flavour) -> str:
    flags = " ".join(flavour.cmake_args + COMMON_CMAKE_ARGS)
    return f"{version}-{flavour.name}-{hashlib.sha256(flags.encode()).hexdigest()[:10]}"


def build_flavour(
    version: str,
    flavour: Flavour,
    cache_dir: Path,
    *,
    python: str = sys.executable,
    jobs: int | None = None,
) -> Path:
    """The retagged aarch64 wheel of llama-cpp-python `version` in `flavour`, built once."""
    out_dir = cache_dir / cache_key(version, flavour)
    found = sorted(out_dir.glob("llama_cpp_python-*-linux_aarch64.whl"))
    if found:
        log.info("llama-cpp-python %s (%s): cached %s", version, flavour.name, found[0])
        return found[0]
    for tool in (CROSS_CC, CROSS_CXX):
        if shutil.which(tool) is None:
            raise CrossBuildError(
                f"{tool} is missing: apt-get install -y " + " ".join(CROSS_PACKAGES)
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llama-cross-") as tmp:
        toolchain = Path(tmp) / "aarch64.cmake"
        toolchain.write_text(
            TOOLCHAIN.format(cc=shutil.which(CROSS_CC), cxx=shutil.which(CROSS_CXX))
        )
        cmake_args = [
            f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
            *flavour.cmake_args,
            *COMMON_CMAKE_ARGS,
        ]
        env = dict(
            os.environ,
            CMAKE_ARGS=" ".join(cmake_args),
            CMAKE_BUILD_PARALLEL_LEVEL=str(jobs or os.cpu_count() or 2),
        )
        wheel_dir = Path(tmp) / "wheel"
        # --no-cache-dir: pip's wheel cache knows nothing of CMAKE_ARGS and would hand back the
        # host's own x86_64 build of the same sdist.
        cmd = [
            python,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-cache-dir",
            "--no-binary",
            "llama-cpp-python",
            "--wheel-dir",
            str(wheel_dir),
            f"llama-cpp-python=={version}",
        ]
        log.info(
            "cross-building llama-cpp-python %s (%s): %s",
            version,
            flavour.name,
            " ".join(cmake_args),
        )
        logfile = out_dir / "build.log"
        with logfile.open("w") as f:
            proc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, check=False)
        if proc.returncode:
            raise CrossBuildError(
                f"cross build of llama-cpp-python ({flavour.name}) failed; see {logfile}"
            )
        built = sorted(wheel_dir.glob("llama_cpp_python-*.whl"))
        if len(built) != 1:
            raise CrossBuildError(f"expected one wheel in {wheel_dir}, found {built}")
        check_wheel_arch(built[0])
        return retag_wheel(built[0], "linux_aarch64", out_dir)


def wheel_metadata(wheel: Path) -> str:
    """The METADATA text of `wheel` (tests and the size table use it)."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return io.TextIOWrapper(zf.open(name), encoding="utf-8").read()
