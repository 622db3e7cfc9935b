#!/usr/bin/env python3
"""Install edgecoach on a Raspberry Pi from an offline bundle: no network, python3 only.

    sudo ./install.sh                       # in the unpacked bundle: verify, check the board, install
    sudo ./install.sh --model none          # templates only, no language model (least memory)
    ./install.sh --check-only               # verify and print the plan, change nothing
    ./install.sh --list-models              # what each model choice needs in disk and memory

The bundle (made by `make pi-bundle` on a workstation) holds every wheel for aarch64 / CPython
3.11, llama-cpp-python in two builds, the models, the systemd units and install.sh. In order:

1. every file is checked against SHA256SUMS; a missing, altered or unlisted file stops the install
   before anything runs (``--expect-id`` also checks the sha256 of SHA256SUMS itself, the bundle
   id printed by `make pi-bundle`);
2. the board is read from /proc/device-tree/model, /proc/meminfo (MemTotal) and /proc/cpuinfo;
3. the llama-cpp-python build: ``dotprod`` when the CPU has the dot product flag (asimddp, a Pi 5),
   else ``generic`` (Pi 3, Pi 4, Zero 2 W);
4. the model choice must fit the board's memory (sizes.json of the bundle), else it is refused;
5. systemd/install.sh of the bundle runs with ``--offline`` (pip --no-index --find-links);
6. a new /etc/edgecoach/config.toml gets the model choice; the choice is recorded in
   PREFIX/share/edgecoach/bundle-install.json.

Only the standard library is used: this runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUMS_NAME = "SHA256SUMS"
BUNDLE_JSON = "bundle.json"
SIZES_JSON = "sizes.json"
BUNDLE_FORMAT = 1
#: Files the installer may find that are not in SHA256SUMS (SHA256SUMS itself).
UNLISTED_OK = frozenset({SUMS_NAME})
MB = 1024 * 1024


class BundleError(Exception):
    """The bundle or the board is not fit to install on; the message says what to do."""


# --- 1. hashes ---------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sums(bundle: Path) -> dict[str, str]:
    """SHA256SUMS as {relative path: sha256}; the format of `sha256sum` ("HASH  PATH")."""
    sums_path = bundle / SUMS_NAME
    if not sums_path.is_file():
        raise BundleError(
            f"{bundle} has no {SUMS_NAME}: this is not an edgecoach bundle, "
            "or it was unpacked only in part"
        )
    sums: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise BundleError(
                f"{sums_path} line {number} is not 'SHA256  PATH': the bundle is "
                "damaged; copy it again"
            )
        if name.startswith("/") or ".." in Path(name).parts or name in sums:
            raise BundleError(f"{sums_path} line {number} names {name!r}: refused")
        sums[name] = digest
    return sums


def bundle_id(bundle: Path) -> str:
    """The sha256 of SHA256SUMS: one value that pins every file of the bundle."""
    return sha256_file(bundle / SUMS_NAME)


def verify_bundle(bundle: Path, expect_id: str | None = None) -> dict[str, str]:
    """Check every file against SHA256SUMS; raise BundleError naming what is wrong."""
    sums = read_sums(bundle)
    if expect_id is not None and bundle_id(bundle) != expect_id.lower():
        raise BundleError(
            f"the bundle id is {bundle_id(bundle)}, not the expected {expect_id}: "
            "SHA256SUMS was changed or this is another bundle; do not install it"
        )
    present = {
        p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file() or p.is_symlink()
    }
    missing = sorted(set(sums) - present)
    unlisted = sorted(present - set(sums) - UNLISTED_OK)
    altered = sorted(
        name
        for name in sorted(set(sums) & present)
        if (bundle / name).is_symlink() or sha256_file(bundle / name) != sums[name]
    )
    problems = []
    if altered:
        problems.append("altered (sha256 differs from SHA256SUMS): " + ", ".join(altered))
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if unlisted:
        problems.append(
            "not in SHA256SUMS (added after the bundle was made): " + ", ".join(unlisted)
        )
    if problems:
        raise BundleError(
            "the bundle has been tampered with or damaged; nothing was installed.\n  "
            + "\n  ".join(problems)
            + "\n  Copy the bundle again from its source (make pi-bundle)."
        )
    return sums


# --- 2. the board ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    model: str
    mem_total_kb: int
    cpu_flags: frozenset[str] = field(default_factory=frozenset)
    cpu_parts: tuple[str, ...] = ()
    cores: int = 0

    @property
    def mem_total_mb(self) -> int:
        return self.mem_total_kb // 1024

    @property
    def dotprod(self) -> bool:
        return "asimddp" in self.cpu_flags


#: ARM CPU part numbers (cpuinfo "CPU part") of the Pi family, for messages.
CPU_PARTS = {"0xd03": "Cortex-A53", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76"}


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


def read_board(root: Path = Path("/")) -> Board:
    """The board, from `root`/proc (and /sys/firmware/devicetree); `root` is "/" on a device."""
    model = None
    for rel in ("proc/device-tree/model", "sys/firmware/devicetree/base/model"):
        text = _read(root / rel)
        if text:
            model = text.rstrip("\x00\n ").strip()
            break
    cpuinfo = _read(root / "proc/cpuinfo") or ""
    flags: set[str] = set()
    parts: list[str] = []
    cores = 0
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "processor":
            cores += 1
        elif key in ("features", "flags"):
            flags.update(value.split())
        elif key == "cpu part":
            parts.append(value.strip())
        elif key == "model" and model is None and value.strip():
            model = value.strip()
    meminfo = _read(root / "proc/meminfo")
    if meminfo is None:
        raise BundleError(f"cannot read {root / 'proc/meminfo'}: is /proc mounted?")
    mem_kb = None
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    if mem_kb is None:
        raise BundleError(f"{root / 'proc/meminfo'} has no MemTotal line")
    return Board(model or "unknown board", mem_kb, frozenset(flags), tuple(parts), cores)


def describe(board: Board) -> str:
    cpus = sorted({CPU_PARTS.get(p, p) for p in board.cpu_parts})
    cpu = "/".join(cpus) if cpus else "unknown CPU"
    return (
        f"{board.model}: {board.cores} cores ({cpu}), {board.mem_total_mb} MB memory, "
        f"dot product {'yes' if board.dotprod else 'no'}"
    )


# --- 3. llama-cpp-python flavour ---------------------------------------------------------------


def choose_flavour(board: Board, flavours: dict[str, dict], requested: str = "auto") -> str:
    """The llama-cpp-python build for this CPU: the fastest whose CPU flags it has."""

    def fits(name: str) -> bool:
        return set(flavours[name].get("needs_flags", ())) <= board.cpu_flags

    if requested != "auto":
        if requested not in flavours:
            raise BundleError(
                f"no llama-cpp-python build {requested!r} in the bundle "
                f"(there are: {', '.join(sorted(flavours))})"
            )
        if not fits(requested):
            need = " ".join(flavours[requested]["needs_flags"])
            raise BundleError(
                f"the {requested} build of llama-cpp-python needs the CPU flags "
                f"{need}, which {board.model} does not report in /proc/cpuinfo; "
                "it would stop with 'Illegal instruction'. Use --flavour generic."
            )
        return requested
    usable = [n for n in flavours if fits(n)]
    if not usable:
        raise BundleError(f"no llama-cpp-python build of the bundle runs on {board.model}")
    # the one needing the most CPU features is the most specialised, hence the fastest
    return max(usable, key=lambda n: (len(flavours[n].get("needs_flags", ())), n))


# --- 4. memory and disk ------------------------------------------------------------------------


def check_memory(board: Board, sizes: dict, model: str) -> dict:
    """The size entry of `model`; BundleError when it is unknown or does not fit `board`."""
    models = sizes["models"]
    if model not in models:
        raise BundleError(
            f"no model choice {model!r} in this bundle; choices: "
            + ", ".join(sorted(models))
            + " (see --list-models)"
        )
    entry = models[model]
    need = entry["ram_mb"]
    if board.mem_total_mb < need:
        fitting = sorted(
            (e["ram_mb"], name) for name, e in models.items() if e["ram_mb"] <= board.mem_total_mb
        )
        advice = (
            "choose one that fits: " + ", ".join(f"--model {n} (needs {r} MB)" for r, n in fitting)
            if fitting
            else "no model choice of this bundle fits this board"
        )
        raise BundleError(
            f"model {model!r} does not fit {board.model}: it needs {need} MB of memory "
            f"({entry['peak_rss_mb']} MB measured peak of edgecoach with it, plus "
            f"{sizes['rule']['os_reserve_mb']} MB for the system and "
            f"{round(sizes['rule']['margin'] * 100 - 100)} % margin), and the board has "
            f"{board.mem_total_mb} MB (MemTotal). Nothing was installed; {advice}, "
            "or --ignore-memory-check if you know better."
        )
    return entry


def check_disk(prefix: Path, sizes: dict, model: str) -> None:
    need = sizes["models"][model]["disk_mb"]
    probe = prefix
    while not probe.exists():
        probe = probe.parent
    st = os.statvfs(probe)
    free = st.f_bavail * st.f_frsize // MB
    if free < need:
        raise BundleError(
            f"{probe} has {free} MB free; installing with model {model!r} needs "
            f"{need} MB. Free some space (or choose --prefix elsewhere)."
        )


def format_sizes(sizes: dict, board: Board | None = None) -> str:
    rows = [f"{'model':<24} {'RAM MB':>7} {'disk MB':>8}  what"]
    for name, e in sizes["models"].items():
        fit = ""
        if board is not None:
            fit = "  fits" if e["ram_mb"] <= board.mem_total_mb else "  DOES NOT FIT"
        rows.append(f"{name:<24} {e['ram_mb']:>7} {e['disk_mb']:>8}  {e['what']}{fit}")
    return "\n".join(rows)


# --- 5. install --------------------------------------------------------------------------------


def wheelhouse(bundle: Path, manifest: dict, flavour: str, into: Path) -> Path:
    """A folder of links: the common wheels plus the chosen llama-cpp-python build."""
    into.mkdir(parents=True, exist_ok=True)
    for wheel in sorted((bundle / manifest["wheels"]["common"]).glob("*.whl")):
        (into / wheel.name).symlink_to(wheel.resolve())
    llama = bundle / manifest["flavours"][flavour]["wheel"]
    (into / llama.name).symlink_to(llama.resolve())
    return into


def set_model_in_config(config: Path, entry: dict, prefix: Path) -> bool:
    """Write the model choice into the [llm] table of a config.toml that install.sh just made."""
    if not config.is_file():
        return False
    lines = config.read_text(encoding="utf-8").splitlines()
    try:
        start = lines.index("[llm]")
    except ValueError:
        return False
    if entry["llm"] is None:
        new = ["enabled = false        # set by the bundle installer: --model none"]
    elif entry.get("auto"):
        # model_path stays empty: edgecoach applies the coaching adapter that the models
        # folder's manifest vouches for, after checking it and its base by sha256.
        new = [
            (
                "# model_path stays empty (set by the bundle installer): the coaching "
                "adapter of the models folder, checked by sha256"
            )
        ]
    else:
        path = prefix / "venv" / entry["llm"]
        new = [f'model_path = "{path}"  # set by the bundle installer']
    lines[start + 1 : start + 1] = new
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="install.sh", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model",
        default=None,
        help="the language model choice (default: the bundle's default; --list-models)",
    )
    p.add_argument(
        "--flavour",
        default="auto",
        help="llama-cpp-python build: auto, generic, dotprod (default auto: by the CPU's flags)",
    )
    p.add_argument("--prefix", default=os.environ.get("PREFIX", "/opt/edgecoach"))
    p.add_argument("--kiosk", action="store_true", help="also install the zone board screen")
    p.add_argument("--python", default=sys.executable, help="interpreter for the venv (3.11)")
    p.add_argument("--expect-id", help="the bundle id (sha256 of SHA256SUMS) to insist on")
    p.add_argument("--check-only", action="store_true", help="verify and plan, install nothing")
    p.add_argument("--list-models", action="store_true", help="print the size table and stop")
    p.add_argument("--ignore-memory-check", action="store_true")
    p.add_argument(
        "--board-root", default=os.environ.get("EDGECOACH_BOARD_ROOT", "/"), help=argparse.SUPPRESS
    )  # tests and emulation: read proc files from here
    p.add_argument(
        "--bundle", default=str(Path(__file__).resolve().parent.parent), help=argparse.SUPPRESS
    )
    p.add_argument("--machine", default=platform.machine(), help=argparse.SUPPRESS)  # tests
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bundle = Path(args.bundle)
    try:
        print(f"==> checking every file of {bundle} against {SUMS_NAME}")
        sums = verify_bundle(bundle, args.expect_id)
        print(f"    {len(sums)} files intact; bundle id {bundle_id(bundle)}")
        manifest = json.loads((bundle / BUNDLE_JSON).read_text(encoding="utf-8"))
        sizes = json.loads((bundle / SIZES_JSON).read_text(encoding="utf-8"))
        if manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(
                f"bundle format {manifest.get('format')} is not {BUNDLE_FORMAT}: "
                "use the installer inside that bundle"
            )
        board = read_board(Path(args.board_root))
        print(f"==> board: {describe(board)}")
        if args.list_models:
            print(format_sizes(sizes, board))
            return 0
        machine = args.machine
        if machine not in ("aarch64", "arm64"):
            raise BundleError(
                f"this bundle is for 64-bit ARM (aarch64); this machine is "
                f"{machine}. On a Pi use the 64-bit Raspberry Pi OS."
            )
        want = tuple(manifest["python"])
        if tuple(sys.version_info[:2]) != want and args.python == sys.executable:
            raise BundleError(
                f"the wheels are for Python {want[0]}.{want[1]} (Debian bookworm, "
                f"Raspberry Pi OS 12); this is Python {platform.python_version()}. "
                "Pass --python python3.11 if it is installed."
            )
        flavour = choose_flavour(board, manifest["flavours"], args.flavour)
        print(f"==> llama-cpp-python build: {flavour} ({manifest['flavours'][flavour]['boards']})")
        model = args.model or sizes["default"]
        if model not in sizes["models"]:
            raise BundleError(
                f"no model choice {model!r} in this bundle; choices: "
                + ", ".join(sorted(sizes["models"]))
                + " (see --list-models)"
            )
        if args.ignore_memory_check:
            entry = sizes["models"][model]
            print(f"==> model {model}: memory check skipped (--ignore-memory-check)")
        else:
            entry = check_memory(board, sizes, model)
            print(f"==> model {model}: needs {entry['ram_mb']} MB of {board.mem_total_mb} MB")
        prefix = Path(args.prefix)
        check_disk(Path(os.environ.get("DESTDIR", "/") + str(prefix)), sizes, model)
        if args.check_only:
            print("==> check only: nothing installed")
            return 0
        config = Path(os.environ.get("DESTDIR", "") + "/etc/edgecoach/config.toml")
        fresh_config = not config.exists()
        with tempfile.TemporaryDirectory(prefix="edgecoach-wheels-") as tmp:
            wheels = wheelhouse(bundle, manifest, flavour, Path(tmp) / "wheels")
            cmd = [
                "sh",
                str(bundle / "systemd" / "install.sh"),
                "--offline",
                str(wheels),
                "--models",
                str(bundle / "models"),
                "--prefix",
                str(prefix),
                "--python",
                args.python,
            ]
            if args.kiosk:
                cmd.append("--kiosk")
            print("==> " + " ".join(cmd), flush=True)
            proc = subprocess.run(cmd, check=False)
            if proc.returncode:
                raise BundleError(f"systemd/install.sh failed with status {proc.returncode}")
        if fresh_config and set_model_in_config(config, entry, prefix):
            print(f"==> {config}: model choice {model} written into [llm]")
        elif not fresh_config:
            print(
                f"    {config} was kept; for model {model} set in [llm]: "
                + (
                    "enabled = false"
                    if entry["llm"] is None
                    else "model_path empty (the coaching adapter)"
                    if entry.get("auto")
                    else f'model_path = "{prefix / "venv" / entry["llm"]}"'
                )
            )
        record = Path(os.environ.get("DESTDIR", "") + str(prefix / "share/edgecoach"))
        record.mkdir(parents=True, exist_ok=True)
        (record / "bundle-install.json").write_text(
            json.dumps(
                {
                    "bundle_id": bundle_id(bundle),
                    "version": manifest["version"],
                    "flavour": flavour,
                    "model": model,
                    "board": describe(board),
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"==> installed edgecoach {manifest['version']} ({flavour}, model {model})")
        return 0
    except BundleError as exc:
        print(f"install.sh: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
