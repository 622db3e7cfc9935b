"""The systemd units and the install scripts.

Checked with the real tools: `systemd-analyze verify` and `systemd-analyze security --offline`
on the units with their placeholders filled in, install.sh and uninstall.sh run with DESTDIR into
a temp dir (by /bin/sh, which is dash on Debian), and the daemon's engines run under the same
seccomp filters the unit asks systemd for (built here with libseccomp: SystemCallFilter=,
MemoryDenyWriteExecute=, RestrictAddressFamilies=). What needs a booted systemd (the sandbox's
namespaces, the IP firewall, credentials) is not exercised here; systemd/README.md says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.artifacts import Manifest, record
from edge.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
SYSTEMD = REPO / "systemd"
UNIT = SYSTEMD / "edgecoach.service"
KIOSK = SYSTEMD / "edgecoach-kiosk.service"
MAX_EXPOSURE = 2.0

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (Debian: systemd)",
)


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Key -> every value assigned to it, in order (continuation lines joined)."""
    settings: dict[str, list[str]] = {}
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def stub(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """Both units with their placeholders filled in, pointing at executable stubs."""
    prefix = tmp_path / "prefix"
    stub(prefix / "venv" / "bin" / "edgecoach")
    cage = stub(tmp_path / "bin" / "cage")
    chromium = stub(tmp_path / "bin" / "chromium")
    out = tmp_path / "units"
    out.mkdir()
    for unit in (UNIT, KIOSK):
        text = unit.read_text(encoding="utf-8")
        text = (
            text.replace("@PREFIX@", str(prefix))
            .replace("@CAGE@", str(cage))
            .replace("@CHROMIUM@", str(chromium))
        )
        assert not re.search(r"@[A-Z]+@", text), unit.name
        (out / unit.name).write_text(text, encoding="utf-8")
    return out


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )


# --- systemd-analyze ------------------------------------------------------------------------


@needs_analyze
def test_units_verify(units: Path) -> None:
    done = analyze("verify", str(units / UNIT.name), str(units / KIOSK.name))
    assert done.returncode == 0, done.stderr
    # verify exits 0 on unknown keys and bad values, but says so on stderr
    ours = [line for line in done.stderr.splitlines() if "edgecoach" in line]
    assert ours == [], done.stderr


@needs_analyze
def test_verify_would_catch_a_wrong_prefix(tmp_path: Path) -> None:
    """The verify test means something: a missing binary or an unfilled placeholder fails."""
    shutil.copy(UNIT, tmp_path / UNIT.name)
    assert analyze("verify", str(tmp_path / UNIT.name)).returncode != 0
    (tmp_path / UNIT.name).write_text(
        UNIT.read_text(encoding="utf-8").replace("@PREFIX@", str(tmp_path / "nowhere")),
        encoding="utf-8",
    )
    done = analyze("verify", str(tmp_path / UNIT.name))
    assert done.returncode != 0
    assert "nowhere/venv/bin/edgecoach is not executable" in done.stderr


@needs_analyze
def test_security_exposure(units: Path) -> None:
    done = analyze("security", "--offline=yes", str(units / UNIT.name))
    assert done.returncode == 0, done.stderr
    found = re.search(r"Overall exposure level for edgecoach\.service: (\d+\.\d+)", done.stdout)
    assert found, done.stdout
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout


# --- what the unit promises -----------------------------------------------------------------


def test_only_loopback_ip_and_few_address_families() -> None:
    unit = unit_settings(UNIT)
    assert unit["IPAddressDeny"] == ["any"]
    allowed = " ".join(unit["IPAddressAllow"]).split()
    assert allowed and set(allowed) <= {"localhost", "127.0.0.1", "::1", "127.0.0.0/8", "::1/128"}
    families = " ".join(unit["RestrictAddressFamilies"]).split()
    assert set(families) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    kiosk = unit_settings(KIOSK)
    assert kiosk["IPAddressDeny"] == ["any"] and kiosk["IPAddressAllow"] == ["localhost"]
    assert "http://127.0.0.1:8088/" in kiosk["ExecStart"][0]


def test_daemon_unit_settings() -> None:
    unit = unit_settings(UNIT)
    one = {key: values[-1] for key, values in unit.items()}
    assert one["ExecStart"] == (
        "@PREFIX@/venv/bin/edgecoach run --config /etc/edgecoach/config.toml"
    )
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "RestartSec": "5",
        "User": "edgecoach",
        "Group": "edgecoach",
        "StateDirectory": "edgecoach",
        "LoadCredential": "edgecoach-db-key:/etc/edgecoach/db.key",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "DevicePolicy": "closed",
        "DeviceAllow": "char-alsa rw",
        "MemoryDenyWriteExecute": "yes",
        "UMask": "0077",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "NoNewPrivileges": "yes",
    }
    assert {key: one.get(key) for key in expected} == expected
    assert set(one["SupplementaryGroups"].split()) == {"bluetooth", "audio"}
    assert "PrivateDevices" not in one  # it would hide /dev/snd from espeak-ng
    assert unit["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]
    assert "DynamicUser" not in one
    assert {"StartLimitIntervalSec", "StartLimitBurst"} <= set(one)


# --- the engines under the unit's seccomp filters --------------------------------------------


@functools.cache
def syscall_group(name: str) -> frozenset[str]:
    """`systemd-analyze syscall-filter @group`, with nested groups expanded."""
    out = analyze("syscall-filter", name)
    assert out.returncode == 0, out.stderr
    names: set[str] = set()
    for line in out.stdout.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith("#"):
            names |= syscall_group(line) if line.startswith("@") else {line}
    return frozenset(names)


def allowed_syscalls(filters: list[str]) -> set[str]:
    """The allow list systemd builds from SystemCallFilter= lines (allow-list mode)."""
    assert filters and not filters[0].startswith("~"), "expected an allow list first"
    # implicitly allowed in allow-list mode (systemd.exec(5))
    allowed = set(syscall_group("@default")) | {
        "execve",
        "exit",
        "exit_group",
        "getrlimit",
        "rt_sigreturn",
        "sigreturn",
    }
    for line in filters:
        deny = line.startswith("~")
        for item in line.lstrip("~").split():
            names = syscall_group(item) if item.startswith("@") else {item}
            allowed = allowed - names if deny else allowed | names
    return allowed


def _sandbox_child(spec_json: str) -> None:
    """Runs in a fresh interpreter: install the filters, then run the daemon's engines."""
    spec = json.loads(spec_json)
    seccomp = ctypes.CDLL(spec["libseccomp"], use_errno=True)
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    seccomp.seccomp_release.argtypes = [ctypes.c_void_p]

    class Cmp(ctypes.Structure):
        _fields_ = [
            ("arg", ctypes.c_uint),
            ("op", ctypes.c_int),
            ("datum_a", ctypes.c_uint64),
            ("datum_b", ctypes.c_uint64),
        ]

    seccomp.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(Cmp),
    ]
    allow, eq, masked_eq = 0x7FFF0000, 4, 7

    def fail_with(code: int) -> int:
        return 0x00050000 | code

    def rule(ctx: int, action: int, name: str, *cmps: Cmp) -> None:
        number = seccomp.seccomp_syscall_resolve_name(name.encode())
        if number < 0:  # not a system call on this architecture
            return
        array = (Cmp * len(cmps))(*cmps) if cmps else None
        if seccomp.seccomp_rule_add_array(ctx, action, number, len(cmps), array) < 0:
            raise OSError(f"seccomp_rule_add {name}")

    def load(ctx: int) -> None:
        result = seccomp.seccomp_load(ctx)
        seccomp.seccomp_release(ctx)
        if result < 0:
            raise OSError(-result, "seccomp_load")

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, as NoNewPrivileges=yes
    if spec["mdwe"]:  # MemoryDenyWriteExecute=yes, as systemd builds it
        ctx = seccomp.seccomp_init(allow)
        write, execute = 0x2, 0x4
        rule(
            ctx, fail_with(errno.EPERM), "mmap", Cmp(2, masked_eq, write | execute, write | execute)
        )
        rule(ctx, fail_with(errno.EPERM), "mprotect", Cmp(2, masked_eq, execute, execute))
        rule(ctx, fail_with(errno.EPERM), "pkey_mprotect", Cmp(2, masked_eq, execute, execute))
        rule(ctx, fail_with(errno.EPERM), "shmat", Cmp(2, masked_eq, 0o100000, 0o100000))
        load(ctx)
    ctx = seccomp.seccomp_init(allow)  # RestrictAddressFamilies=
    for family in range(46):
        if family not in spec["families"]:
            rule(ctx, fail_with(errno.EAFNOSUPPORT), "socket", Cmp(0, eq, family, 0))
    load(ctx)
    ctx = seccomp.seccomp_init(fail_with(spec["errno"]))  # SystemCallFilter=, last (as systemd)
    for name in spec["syscalls"]:
        rule(ctx, allow, name)
    load(ctx)
    print(json.dumps(_workload(spec)), flush=True)


def _workload(spec: dict) -> dict:
    import asyncio
    import mmap
    import sqlite3

    report: dict[str, object] = {}

    def refused(call: Callable[[], object]) -> str:
        try:
            call()
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc))
        return "allowed"

    # the filters are in place
    report["wx_mmap"] = refused(lambda: mmap.mmap(-1, 4096, prot=7))
    report["bluetooth_socket"] = refused(lambda: socket.socket(31, socket.SOCK_RAW, 1).close())
    report["setpriority"] = refused(lambda: os.setpriority(os.PRIO_PROCESS, 0, 5))
    # ctypes callbacks need libffi closures: W^X-safe only with static trampolines
    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)
    report["ctypes_callback"] = callback(41)
    import numpy as np

    report["numpy"] = float(np.linalg.inv(np.eye(3) * 2.0)[0, 0])
    if spec["models_dir"]:
        import onnxruntime as ort

        manifest = Manifest.load(Path(spec["models_dir"]))
        name = next(n for n, e in manifest.entries.items() if e.kind == "health-model")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            manifest.verified_bytes(name), options, providers=["CPUExecutionProvider"]
        )
        feeds = {}
        for node in session.get_inputs():
            shape = [d if isinstance(d, int) else 1 for d in node.shape]
            feeds[node.name] = np.zeros(shape, dtype=np.float32)
        outputs = session.run(None, feeds)
        report["onnxruntime"] = [list(o.shape) for o in outputs]
    if spec["gguf"]:
        from llama_cpp import Llama

        llm = Llama(model_path=spec["gguf"], n_ctx=64, n_batch=16, n_threads=2, verbose=False)
        try:
            llm.eval(llm.tokenize(b"Ease off"))
            report["llama"] = llm.n_tokens
        finally:
            llm.close()
    db = sqlite3.connect(Path(spec["tmp"]) / "store.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    report["sqlite_wal"] = db.execute("SELECT count(*) FROM t").fetchone()[0]
    db.close()

    async def kiosk_and_speech() -> tuple[int, int]:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        server.close()
        await server.wait_closed()
        if not spec["espeak"]:
            return port, -1
        speaking = await asyncio.create_subprocess_exec(
            spec["espeak"],
            "--stdout",
            "ease off",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        wav, _ = await speaking.communicate()
        return port, len(wav) if speaking.returncode == 0 else -speaking.returncode

    report["tcp_port"], report["espeak_wav_bytes"] = asyncio.run(kiosk_and_speech())
    return report


@needs_analyze
@pytest.mark.skipif(
    ctypes.util.find_library("seccomp") is None,
    reason="libseccomp not installed (Debian: libseccomp2)",
)
def test_engines_run_under_the_units_seccomp_filters(tmp_path: Path) -> None:
    """llama.cpp, onnxruntime, numpy, ctypes, SQLite WAL, asyncio TCP on loopback and an
    espeak-ng child process, all under this unit's SystemCallFilter=, MemoryDenyWriteExecute=
    and RestrictAddressFamilies= (and no JIT needs W^X memory)."""
    unit = {key: values for key, values in unit_settings(UNIT).items()}
    families = [getattr(socket, name) for name in unit["RestrictAddressFamilies"][0].split()]
    models_dir = REPO / "models"
    try:
        from edge.narrator.llm import packaged_gguf_path

        gguf: str | None = str(packaged_gguf_path())
    except Exception:  # noqa: BLE001 - not installed: that part is skipped
        gguf = None
    spec = {
        "libseccomp": ctypes.util.find_library("seccomp"),
        "syscalls": sorted(allowed_syscalls(unit["SystemCallFilter"])),
        "errno": getattr(errno, unit["SystemCallErrorNumber"][-1]),
        "mdwe": unit["MemoryDenyWriteExecute"][-1] == "yes",
        "families": families,
        "models_dir": str(models_dir) if (models_dir / "manifest.json").is_file() else "",
        "gguf": gguf,
        "espeak": shutil.which("espeak-ng"),
        "tmp": str(tmp_path),
    }
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import test_systemd_units as t; t._sandbox_child(sys.argv[2])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["wx_mmap"] == "EPERM"  # the W^X filter bites...
    assert report["bluetooth_socket"] == "EAFNOSUPPORT"  # ...and the address families...
    assert report["setpriority"] == "EPERM"  # ...and ~@resources
    assert report["ctypes_callback"] == 42
    assert report["numpy"] == 0.5
    assert report["sqlite_wal"] == 1
    assert report["tcp_port"] > 0
    if spec["models_dir"]:
        assert report["onnxruntime"], report
    if gguf:
        assert report["llama"] > 0, report
    if spec["espeak"]:
        assert report["espeak_wav_bytes"] > 1000, report


# --- install.sh and uninstall.sh -------------------------------------------------------------


def sh(
    script: str, *args: str, destdir: Path, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PREFIX", "DESTDIR")}
    environ.update(env, DESTDIR=str(destdir))
    done = subprocess.run(
        ["/bin/sh", str(SYSTEMD / script), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    models = tmp_path / "models-src"
    models.mkdir()
    (models / "health_forecast.onnx").write_bytes(bytes(range(256)) * 4)
    record(models, models / "health_forecast.onnx", "health-model", "test")
    return models


def install(root: Path, models: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return sh(
        "install.sh",
        "--no-pip",
        "--python",
        sys.executable,
        "--models",
        str(models),
        *extra,
        destdir=root,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_into_destdir(tmp_path: Path, models_dir: Path) -> None:
    root = tmp_path / "root"
    done = install(root, models_dir)
    etc = root / "etc" / "edgecoach"
    units = root / "etc" / "systemd" / "system"
    assert (units / UNIT.name).read_text(encoding="utf-8") == (
        UNIT.read_text(encoding="utf-8").replace("@PREFIX@", "/opt/edgecoach")
    )
    assert not re.search(r"@[A-Z]+@", (units / KIOSK.name).read_text(encoding="utf-8"))
    assert mode(units / UNIT.name) == mode(units / KIOSK.name) == 0o644
    assert (
        "ExecStart=/opt/edgecoach/venv/bin/edgecoach run --config /etc/edgecoach/config.toml"
        in (units / UNIT.name).read_text(encoding="utf-8")
    )
    assert mode(etc) == 0o750
    assert mode(etc / "config.toml") == 0o640
    assert load_settings(etc / "config.toml") == Settings(source=str(etc / "config.toml"))
    key = etc / "db.key"
    assert mode(key) == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}\n", key.read_text(encoding="ascii"))
    venv = root / "opt" / "edgecoach" / "venv"
    assert (venv / "pyvenv.cfg").is_file() and (venv / "bin" / "python").exists()
    models = venv / "share" / "edgecoach" / "models"
    Manifest.load(models).verified_path("health_forecast.onnx")
    assert (root / "opt" / "edgecoach" / "share" / "doc" / "edgecoach" / "systemd.md").is_file()
    # nothing outside DESTDIR was touched: host commands are only printed
    for command in ("useradd", "groupadd", "usermod", "chown", "systemctl"):
        for line in done.stdout.splitlines():
            if line.startswith(f"+ {command} "):
                assert line.endswith("(not run: DESTDIR is set)"), line
    assert "+ useradd --system --gid edgecoach" in done.stdout
    assert "usermod --append --groups bluetooth,audio edgecoach" in done.stdout
    assert "not running systemctl daemon-reload; systemctl enable edgecoach.service" in done.stdout
    assert not (root / "var").exists()  # the state dir is systemd's to create (StateDirectory=)


def test_install_twice_keeps_config_and_key(tmp_path: Path, models_dir: Path) -> None:
    root = tmp_path / "root"
    install(root, models_dir)
    etc = root / "etc" / "edgecoach"
    edited = "[speech]\nenabled = false\n"
    (etc / "config.toml").write_text(edited, encoding="utf-8")
    key = (etc / "db.key").read_text(encoding="ascii")
    unit = (root / "etc" / "systemd" / "system" / UNIT.name).read_text(encoding="utf-8")
    done = install(root, models_dir, "--kiosk")
    assert (etc / "config.toml").read_text(encoding="utf-8") == edited
    assert (etc / "db.key").read_text(encoding="ascii") == key
    assert (root / "etc" / "systemd" / "system" / UNIT.name).read_text(encoding="utf-8") == unit
    assert "config.toml exists; kept" in done.stdout and "db.key exists; kept" in done.stdout
    assert "useradd --system --gid edgecoach-kiosk" in done.stdout
    assert "systemctl enable edgecoach.service edgecoach-kiosk.service" in done.stdout
    assert sorted(p.name for p in etc.iterdir()) == ["config.toml", "db.key"]


def test_install_with_another_prefix_and_dry_run(tmp_path: Path, models_dir: Path) -> None:
    root = tmp_path / "root"
    dry = install(root, models_dir, "--dry-run")
    assert not root.exists()
    assert "+ write " in dry.stdout and "db.key" in dry.stdout
    install(root, models_dir, "--prefix", "/srv/coach")
    text = (root / "etc" / "systemd" / "system" / UNIT.name).read_text(encoding="utf-8")
    assert "ExecStart=/srv/coach/venv/bin/edgecoach run" in text
    assert (root / "srv" / "coach" / "venv" / "pyvenv.cfg").is_file()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--prefix", "relative/dir"], "absolute path"),
        (["--prefix", "/opt/edge coach"], "only letters"),
        (["--frobnicate"], "unknown option"),
        (["--offline", "/nonexistent/wheels"], "not a directory"),
    ],
)
def test_install_refuses_bad_arguments(tmp_path: Path, args: list[str], says: str) -> None:
    done = sh("install.sh", *args, destdir=tmp_path / "root", check=False)
    assert done.returncode != 0
    assert says in done.stderr
    assert not (tmp_path / "root").exists()


def test_uninstall_keeps_the_data_unless_purged(tmp_path: Path, models_dir: Path) -> None:
    root = tmp_path / "root"
    install(root, models_dir)
    data = root / "var" / "lib" / "edgecoach"
    data.mkdir(parents=True)
    (data / "edgecoach.db").write_bytes(b"SQLite format 3\0")
    (root / "var" / "cache" / "edgecoach").mkdir(parents=True)
    done = sh("uninstall.sh", destdir=root)
    units = root / "etc" / "systemd" / "system"
    assert not (units / UNIT.name).exists() and not (units / KIOSK.name).exists()
    assert not (root / "opt" / "edgecoach").exists()
    assert not (root / "etc" / "edgecoach" / "config.toml").exists()
    assert not (root / "var" / "cache" / "edgecoach").exists()
    assert (data / "edgecoach.db").read_bytes() == b"SQLite format 3\0"
    assert (root / "etc" / "edgecoach" / "db.key").is_file()  # the data's key stays with it
    assert "kept:" in done.stdout and "not running systemctl disable" in done.stdout
    again = sh("uninstall.sh", destdir=root)  # nothing left to remove: still fine
    assert "rm -rf" not in again.stdout

    purged = sh("uninstall.sh", "--purge-data", destdir=root)
    assert not data.exists() and not (root / "etc" / "edgecoach").exists()
    for line in purged.stdout.splitlines():
        if line.startswith(("+ userdel", "+ groupdel")):
            assert line.endswith("(not run: DESTDIR is set)"), line


def test_uninstall_dry_run_changes_nothing(tmp_path: Path, models_dir: Path) -> None:
    root = tmp_path / "root"
    install(root, models_dir)
    before = sorted(str(p) for p in root.rglob("*"))
    done = sh("uninstall.sh", "--purge-data", "--dry-run", destdir=root)
    assert "rm -rf -- " in done.stdout
    assert sorted(str(p) for p in root.rglob("*")) == before


# --- gym fleet mode: the broker, and nothing more ----------------------------------------------

DROPIN = Path("etc/systemd/system/edgecoach.service.d/fleet.conf")


def test_fleet_mode_allows_exactly_the_broker_besides_loopback(
    tmp_path: Path, models_dir: Path
) -> None:
    root = tmp_path / "root"
    done = install(root, models_dir, "--fleet-broker", "192.168.1.10")
    assert "IPAddressAllow=192.168.1.10" in done.stdout
    assert unit_settings(root / DROPIN) == {"IPAddressAllow": ["192.168.1.10"]}
    assert mode(root / DROPIN) == 0o644
    unit = unit_settings(root / "etc" / "systemd" / "system" / UNIT.name)
    assert unit["IPAddressDeny"] == ["any"] and unit["IPAddressAllow"] == ["localhost"]
    install(root, models_dir, "--fleet-broker", "fd00::10")
    assert unit_settings(root / DROPIN) == {"IPAddressAllow": ["fd00::10"]}
    done = install(root, models_dir)  # fleet mode off again: loopback only
    assert not (root / DROPIN).exists() and "rm -f" in done.stdout


@pytest.mark.parametrize(
    "address", ["broker.gym.lan", "10.0.0", "1.2.3.4.5", "any", "10.0.0.1/8", "localhost"]
)
def test_fleet_broker_must_be_one_ip_address(tmp_path: Path, address: str) -> None:
    done = sh("install.sh", "--fleet-broker", address, destdir=tmp_path / "root", check=False)
    assert done.returncode != 0 and "broker's IP address" in done.stderr
    assert not (tmp_path / "root").exists()


@needs_analyze
def test_the_unit_with_the_fleet_drop_in_verifies(
    units: Path, tmp_path: Path, models_dir: Path
) -> None:
    install(tmp_path / "root", models_dir, "--fleet-broker", "192.168.1.10")
    merged = units / UNIT.name
    merged.write_text(
        merged.read_text(encoding="utf-8")
        + (tmp_path / "root" / DROPIN).read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    done = analyze("verify", str(merged))
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "edgecoach" in line] == []
    assert unit_settings(merged)["IPAddressAllow"] == ["localhost", "192.168.1.10"]
