"""`make pi-check`: install the Pi bundle into an arm64 Debian bookworm root under qemu, offline.

1. an arm64 root made once with debootstrap (minbase + python3, python3-venv, espeak-ng), cached
   in /var/cache/edgecoach-pi-check (``$EDGECOACH_PI_ROOT``); each check runs on a throw-away
   overlay of it, so every install starts from a fresh system;
2. the bundle (``make pi-bundle``, itself cached) is copied in and unpacked with ``tar``; then,
   inside ``unshare -n`` (no network device at all) and with no resolv.conf:
   - a copy with one altered wheel must be refused by the installer;
   - ``--check-only`` for a Pi Zero 2 W and a Pi 4 (fake /proc trees) prints their plans, and a
     choice too big for a board must be refused;
   - the real install, as on a Pi: ``./install.sh`` (hash check, board, flavour, memory, then
     systemd/install.sh --offline);
3. in the installed venv: ``edgecoach demo --speed 0 --json --no-llm``, ``edgecoach replay`` of a
   real FIT recording, ``edgecoach doctor --json``, and llama-cpp-python of both builds loading
   the packaged GGUF and generating a few tokens;
4. on a Pi 4's CPU (QEMU_CPU=cortex-a72 and the Pi 4's cpuinfo): the demo again, the generic
   llama-cpp-python build generating, and the dotprod build stopping with SIGILL;
5. the emulated demos and replay are compared with the same commands on this x86 machine: the
   same cues (kind, action, second), and forecasts within the model card's int8 tolerance;
6. the tuned demo: when models/manifest.json vouches for the coaching LoRA adapter, the bundle
   must carry it, the installer must choose it, `doctor` must verify it by sha256, and
   ``edgecoach demo --speed 0 --json`` (waiting for every cue's words) must word its cues with
   the adapter on SmolLM2 under emulation as on x86: `compare_words` counts the lines that match
   word for word.

The emulated board is a Pi 5 as far as the installer can tell (its /proc files come from
``export/bundle/boards/pi5-8gb``, and qemu emulates a cortex-a76): x86 has no device tree, and
onnxruntime crashes under qemu-user when it reads the host's x86 /proc/cpuinfo, or dies with
SIGILL when that cpuinfo promises more than the emulated CPU has. A report goes to
build/pi/check-report.json, the emulated runs' events beside it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from export.bundle.build import COACH_LORA, LORA_KIND, REPO, build_bundle, vouched_ggufs

log = logging.getLogger(__name__)

ROOT_CACHE = Path(
    os.environ.get("EDGECOACH_PI_ROOT", "/var/cache/edgecoach-pi-check/bookworm-arm64")
)
ROOT_PACKAGES = ("python3", "python3-venv", "espeak-ng")
ROOT_MARKER = ".edgecoach-root"
BOARDS = Path(__file__).resolve().parent / "boards"
HOST_TOOLS = {
    "qemu-aarch64-static": "qemu-user-static",
    "debootstrap": "debootstrap",
    "update-binfmts": "binfmt-support",
    "unshare": "util-linux",
}
RECORDING = "activity-small-fenix2-run.fit"
#: The CPU qemu emulates for each fake board (QEMU_CPU), matching its /proc/cpuinfo. qemu's
#: default CPU ("max", with i8mm, SVE and more) is no Pi's; onnxruntime's int8 LSTM gave forecasts
#: tens of bpm off on it here, while on cortex-a76 / a72 / a53 it matched x86 to the last digit.
BOARD_CPUS = {
    "pi5-8gb": "cortex-a76",
    "pi4-4gb": "cortex-a72",
    "pi3b": "cortex-a53",
    "zero2w": "cortex-a53",
}
#: The model card: the int8 export's forecast moves by under 0.1 bpm between runs (activation
#: scales per call); the JSON events round to 0.1 bpm, which can add another 0.1.
FORECAST_TOLERANCE_BPM = 0.1 + 0.1
#: The tuned demos wait for every cue's words ([llm] timeout_s): emulated, the model is many times
#: slower than on a Pi, and a cue spoken from its template after a timeout says nothing of how
#: the adapter words it. Without a deadline each cue gets its words in turn on both machines.
TUNED_TIMEOUT_S = 100000
#: Share of the model-worded lines that must match x86 word for word. Greedy decoding picks the
#: same tokens wherever the logits agree; llama.cpp's NEON (dotprod) and AVX2 kernels sum in
#: another order, so a near tie between two tokens may tip the other way on arm64.
WORDS_MIN_EXACT = 0.8
#: Doctor checks that cannot pass in a chroot: no system D-Bus, BlueZ or sound card there.
DOCTOR_UNCHECKABLE = {"bluez", "dbus-permission", "bluetooth-adapter", "audio-output"}
CHROOT_ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    "TERM=dumb",
)
NET_PROBE = r"""
import socket
try:
    socket.create_connection(("151.101.0.223", 443), timeout=5)
except OSError as exc:
    try:
        socket.getaddrinfo("pypi.org", 443)
    except OSError as dns:
        print(f"unreachable: {exc}; {dns}")
    else:
        print("pypi.org resolves")
else:
    print("connected")
"""
LLAMA_SMOKE = r"""
import sys, time
from pathlib import Path
t0 = time.monotonic()
import llama_cpp
from llama_cpp import Llama
gguf = Path(sys.argv[1])
llm = Llama(model_path=str(gguf), n_ctx=256, n_threads=2, verbose=False)
t1 = time.monotonic()
out = llm("Heart rate 150, zone 3. Coach says:", max_tokens=6, temperature=0.0)
print(repr(llama_cpp.__file__), f"load {t1 - t0:.1f} s", f"generate {time.monotonic() - t1:.1f} s",
      repr(out["choices"][0]["text"]))
"""


#: The run comparisons of the report (`compare_runs`), each with its "ok".
RUN_COMPARISONS = ("compare_demo", "compare_demo_tuned", "compare_demo_pi4_cpu", "compare_replay")


class CheckError(RuntimeError):
    pass


def _run(cmd: list[str], *, check: bool, **kw) -> subprocess.CompletedProcess:
    log.info("+ %s", " ".join(map(str, cmd)))
    return subprocess.run(cmd, check=check, **kw)


def preflight() -> None:
    if os.geteuid() != 0:
        raise CheckError("pi-check needs root (debootstrap, chroot, mount)")
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise CheckError(
            "missing tools; install them with: apt-get install -y " + " ".join(missing)
        )
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "status").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)], check=True)
    entry = binfmt / "qemu-aarch64"
    if not entry.exists() or "enabled" not in entry.read_text():
        _run(["update-binfmts", "--enable", "qemu-aarch64"], check=True)
    if "flags: " not in entry.read_text() or "F" not in entry.read_text().split("flags: ")[1]:
        raise CheckError(
            "qemu-aarch64's binfmt entry lacks the F flag: the chroot would need qemu inside it"
        )


def debian_mirror() -> str:
    for path in sorted(Path("/etc/apt").glob("sources.list.d/*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and "/debian" in line and "security" not in line:
                return line.split()[1]
    sources = Path("/etc/apt/sources.list")
    if sources.exists():
        for line in sources.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and "debian" in line and "security" not in line:
                return parts[1] if not parts[1].startswith("[") else parts[2]
    return "http://deb.debian.org/debian"


def ensure_root(root: Path = ROOT_CACHE) -> tuple[Path, bool]:
    """The cached arm64 bookworm root, made with debootstrap when missing. (root, made now)"""
    marker = root / ROOT_MARKER
    want = {"suite": "bookworm", "arch": "arm64", "packages": list(ROOT_PACKAGES)}
    if marker.exists() and json.loads(marker.read_text()) == want:
        log.info("arm64 root: cached %s", root)
        return root, False
    tmp = root.with_name(root.name + ".tmp")
    for stale in (tmp, root):
        if stale.exists():
            _assert_unmounted(stale)
            shutil.rmtree(stale)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    mirror = debian_mirror()
    _run(
        [
            "debootstrap",
            "--arch=arm64",
            "--variant=minbase",
            "--include=" + ",".join(ROOT_PACKAGES),
            "bookworm",
            str(tmp),
            mirror,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # apt caches are of no use offline, and the image of a Pi has no network during the check
    shutil.rmtree(tmp / "var/cache/apt/archives", ignore_errors=True)
    (tmp / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    (tmp / ROOT_MARKER).write_text(json.dumps(want))
    tmp.rename(root)
    return root, True


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target == prefix or target.startswith(prefix + "/"):
            found.append(target)
    return found


def _assert_unmounted(path: Path) -> None:
    mounted = _mounts_under(path)
    if mounted:
        raise CheckError(f"still mounted under {path}: {mounted}; unmount them first")


def bind_cpuinfo(root: Path, board: str) -> None:
    """Show `board`'s /proc/cpuinfo in `root` (replacing the one bound before)."""
    target = root / "proc/cpuinfo"
    if str(target) in _mounts_under(target):
        _run(["umount", str(target)], check=True)
    _run(["mount", "--bind", str(BOARDS / board / "proc/cpuinfo"), str(target)], check=True)


@contextmanager
def overlay_root(base: Path, board: str = "pi5-8gb"):
    """A writable throw-away root over `base`, with /proc (`board`'s cpuinfo), /sys and /dev."""
    run_dir = base.parent / "run"
    if run_dir.exists():
        for target in sorted(_mounts_under(run_dir), reverse=True):
            _run(["umount", "-l", target], check=False)
        _assert_unmounted(run_dir)
        shutil.rmtree(run_dir)
    upper, work, merged = (run_dir / n for n in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir(parents=True)
    mounted: list[Path] = []
    try:
        _run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={base},upperdir={upper},workdir={work}",
                str(merged),
            ],
            check=True,
        )
        mounted.append(merged)
        _run(["mount", "-t", "proc", "proc", str(merged / "proc")], check=True)
        mounted.append(merged / "proc")
        bind_cpuinfo(merged, board)
        mounted.append(merged / "proc/cpuinfo")
        _run(["mount", "--bind", "/sys", str(merged / "sys")], check=True)
        mounted.append(merged / "sys")
        _run(["mount", "-o", "remount,bind,ro", str(merged / "sys")], check=True)
        _run(["mount", "--bind", "/dev", str(merged / "dev")], check=True)
        mounted.append(merged / "dev")
        (merged / "etc/resolv.conf").unlink(missing_ok=True)
        yield merged
    finally:
        for target in reversed(mounted):
            if _run(["umount", str(target)], check=False).returncode:
                _run(["umount", "-l", str(target)], check=False)
        if not _mounts_under(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)


def in_root(
    root: Path,
    cmd: list[str],
    *,
    cpu: str = BOARD_CPUS["pi5-8gb"],
    timeout: float = 1800,
    check: bool = True,
    capture: bool = True,
) -> subprocess.CompletedProcess:
    """Run `cmd` in `root` with a clean environment and no network (a new, empty netns).

    QEMU_CPU in that environment reaches every arm64 program started in there: qemu-user reads
    it when binfmt_misc starts it.
    """
    full = [
        "unshare",
        "--net",
        "chroot",
        str(root),
        "/usr/bin/env",
        "-i",
        *CHROOT_ENV,
        f"QEMU_CPU={cpu}",
        *cmd,
    ]
    log.info("[arm64 %s] %s", cpu, " ".join(cmd))
    proc = subprocess.run(full, timeout=timeout, text=True, capture_output=capture, check=False)
    if check and proc.returncode:
        raise CheckError(
            f"in the arm64 root, {' '.join(cmd)} failed ({proc.returncode}):\n"
            f"{(proc.stdout or '')[-3000:]}\n{(proc.stderr or '')[-3000:]}"
        )
    return proc


def events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def compare_runs(
    x86: list[dict], arm: list[dict], tolerance: float = FORECAST_TOLERANCE_BPM
) -> dict:
    """Same cues at the same seconds, forecasts within `tolerance` bpm, same samples."""

    def cues(evs):
        return [(e["t"], e["kind"], e["action"]) for e in evs if e["event"] == "cue"]

    def samples(evs):
        return {e["t"]: e for e in evs if e["event"] == "sample"}

    problems = []
    cx, ca = cues(x86), cues(arm)
    if cx != ca:
        only_x, only_a = sorted(set(cx) - set(ca)), sorted(set(ca) - set(cx))
        problems.append(f"cues differ: only on x86 {only_x[:5]}, only on arm64 {only_a[:5]}")
    sx, sa = samples(x86), samples(arm)
    if sorted(sx) != sorted(sa):
        problems.append(f"sample seconds differ ({len(sx)} on x86, {len(sa)} on arm64)")
    worst, where, compared = 0.0, None, 0
    for t in sorted(set(sx) & set(sa)):
        if sx[t]["hr"] != sa[t]["hr"] or sx[t]["zone"] != sa[t]["zone"]:
            problems.append(
                f"t={t}: hr/zone {sx[t]['hr']}/{sx[t]['zone']} on x86, "
                f"{sa[t]['hr']}/{sa[t]['zone']} on arm64"
            )
            break
        fx, fa = sx[t].get("forecast") or {}, sa[t].get("forecast") or {}
        if set(fx) != set(fa):
            problems.append(f"t={t}: forecast on one side only")
            break
        for key in fx:
            if fx[key] is None or fa[key] is None:
                if fx[key] != fa[key]:
                    problems.append(f"t={t}: {key} {fx[key]} vs {fa[key]}")
                continue
            compared += 1
            diff = abs(fx[key] - fa[key])
            if diff > worst:
                worst, where = diff, (t, key, fx[key], fa[key])
    if worst > tolerance + 1e-9:
        problems.append(f"forecast differs by {worst:.3f} bpm > {tolerance} at {where}")
    return {
        "cues": len(cx),
        "samples": len(sx),
        "forecast_values": compared,
        "max_forecast_diff_bpm": round(worst, 4),
        "worst_at": where,
        "tolerance_bpm": tolerance,
        "ok": not problems,
        "problems": problems,
    }


def compare_words(
    x86: list[dict],
    arm: list[dict],
    adapter: str | None = None,
    min_exact: float = WORDS_MIN_EXACT,
    templates: list[dict] = (),
) -> dict:
    """The `spoken` events of two runs of the same demo: the same cues spoken, the same model
    (naming `adapter` when given), and the model-worded (`source` "llm") lines equal word for
    word in at least `min_exact` of the cues both runs worded with the model.

    `templates`, the events of the same demo with --no-llm, tell how many of the matching lines
    are the model's own words rather than its template's, which say less about the adapter."""

    def spoken(evs):
        return {(e["t"], e["kind"], e["action"]): e for e in evs if e["event"] == "spoken"}

    sx, sa = spoken(x86), spoken(arm)
    problems = []
    if set(sx) != set(sa):
        only_x, only_a = sorted(set(sx) - set(sa)), sorted(set(sa) - set(sx))
        problems.append(f"spoken cues differ: only on x86 {only_x[:5]}, only on arm64 {only_a[:5]}")
    tuned_x = {k for k, e in sx.items() if e["source"] == "llm"}
    tuned_a = {k for k, e in sa.items() if e["source"] == "llm"}
    both = sorted(tuned_x & tuned_a)
    one_side = [
        {
            "t": k[0],
            "kind": k[1],
            "x86": f"{sx[k]['source']} ({sx[k]['reason']})" if k in sx else None,
            "arm64": f"{sa[k]['source']} ({sa[k]['reason']})" if k in sa else None,
        }
        for k in sorted((tuned_x ^ tuned_a) & set(sx) & set(sa))
    ]
    if not tuned_x:
        problems.append("no line of the x86 demo was worded by the model")
    if one_side:
        problems.append(f"{len(one_side)} cues worded by the model on one machine only")
    models = {
        "x86": sorted({sx[k]["model"] for k in tuned_x}),
        "arm64": sorted({sa[k]["model"] for k in tuned_a}),
    }
    if models["x86"] != models["arm64"]:
        problems.append(f"different models: {models}")
    if adapter and not all(m.startswith(adapter + " on ") for m in models["x86"] + models["arm64"]):
        problems.append(f"not every model-worded line names the adapter {adapter}: {models}")
    differ = [
        {"t": k[0], "kind": k[1], "x86": sx[k]["text"], "arm64": sa[k]["text"]}
        for k in both
        if sx[k]["text"] != sa[k]["text"]
    ]
    exact = len(both) - len(differ)
    template_text = {k: e["text"] for k, e in spoken(templates).items()}
    own_words = sum(
        1 for k in both if sx[k]["text"] == sa[k]["text"] and sx[k]["text"] != template_text.get(k)
    )
    if both and exact < min_exact * len(both):
        problems.append(
            f"{exact} of {len(both)} model-worded lines match x86, fewer than {min_exact:.0%}"
        )
    template_differ = [
        k
        for k in sorted(set(sx) & set(sa))
        if k not in tuned_x and k not in tuned_a and sx[k]["text"] != sa[k]["text"]
    ]
    if template_differ:
        problems.append(f"template lines differ at {template_differ[:5]}")
    return {
        "spoken": len(sx),
        "model_worded": len(both),
        "exact": exact,
        "exact_not_template": own_words if templates else None,
        "min_exact": min_exact,
        "differ": differ,
        "one_side": one_side,
        "models": models,
        "ok": not problems,
        "problems": problems,
    }


def with_llm_timeout(config_text: str, seconds: float) -> str:
    """`config_text` (a config.toml) with [llm] timeout_s = `seconds`, the table added if need be."""
    lines = config_text.splitlines()
    setting = f"timeout_s = {seconds:g}  # pi-check: wait for every cue's words"
    if "[llm]" not in lines:
        return "\n".join([*lines, "", "[llm]", setting]) + "\n"
    start = lines.index("[llm]") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    kept = [ln for ln in lines[start:end] if not ln.replace(" ", "").startswith("timeout_s=")]
    return "\n".join([*lines[:start], setting, *kept, *lines[end:]]) + "\n"


def host_run(args: list[str]) -> list[dict]:
    exe = Path(sys.executable).parent / "edgecoach"
    proc = _run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, EDGECOACH_MODELS_DIR=str(REPO / "models")),
    )
    return events(proc.stdout)


def recording() -> Path:
    # ../shared beside the checkout, or where EDGECOACH_SHARED_WORKOUTS says (as for the tests:
    # a git worktree elsewhere)
    workouts = os.environ.get("EDGECOACH_SHARED_WORKOUTS") or REPO.parent / "shared/data/workouts"
    shared = Path(workouts) / RECORDING
    if shared.exists():
        return shared
    raise CheckError(
        f"no recording: {shared} is missing (../shared/data/workouts beside the checkout, "
        "or the folder EDGECOACH_SHARED_WORKOUTS names)"
    )


def check(rebuild: bool = True) -> dict:
    t_start = time.monotonic()
    report: dict = {"steps": {}}
    steps = report["steps"]

    def timed(name: str, t0: float) -> None:
        steps[name] = round(time.monotonic() - t0, 1)
        log.info("-- %s: %.1f s", name, steps[name])

    preflight()
    t0 = time.monotonic()
    base, made = ensure_root()
    report["root"] = {"path": str(base), "made_now": made}
    timed("root (debootstrap)" if made else "root (cached)", t0)

    t0 = time.monotonic()
    bundle = build_bundle(REPO / "build")
    report["bundle"] = {"tar": str(bundle.tar), "bytes": bundle.bytes, "id": bundle.bundle_id}
    timed("bundle", t0)
    name = bundle.bundle_dir.name
    sizes = json.loads((bundle.bundle_dir / "sizes.json").read_text())
    # the coaching adapter of a clean checkout: the manifest vouches for it, so the bundle
    # carries it and makes it the default choice
    adapters = [p for p, kind in vouched_ggufs(REPO / "models").items() if kind == LORA_KIND]
    adapter = adapters[0].name if adapters else None
    if adapter:
        if not (bundle.bundle_dir / "models" / adapter).is_file():
            raise CheckError(f"the bundle lacks the coaching adapter {adapter}")
        if sizes["default"] != COACH_LORA:
            raise CheckError(f"the bundle's default model is {sizes['default']}, not {COACH_LORA}")
    report["adapter"] = adapter

    with ExitStack() as stack:
        root = stack.enter_context(overlay_root(base))
        t0 = time.monotonic()
        shutil.copy2(bundle.tar, root / "tmp" / bundle.tar.name)
        shutil.copytree(BOARDS, root / "tmp" / "boards")
        shutil.copy2(recording(), root / "tmp" / RECORDING)
        in_root(root, ["tar", "-C", "/tmp", "-xf", f"/tmp/{bundle.tar.name}"])
        timed("copy + unpack", t0)
        b = f"/tmp/{name}"
        # no network in there: pypi.org's address refuses at once, and no name resolves
        probe = in_root(root, ["python3", "-c", NET_PROBE], check=False)
        if probe.returncode != 0 or "unreachable" not in probe.stdout:
            raise CheckError(f"the arm64 root can reach the network: {probe.stdout}{probe.stderr}")
        report["network_in_root"] = probe.stdout.strip()

        # a tampered copy: one byte of one wheel changed
        t0 = time.monotonic()
        in_root(root, ["cp", "-a", b, "/tmp/tampered"])
        victim = min((root / "tmp/tampered/wheels/common").glob("numpy-*.whl"))
        with victim.open("r+b") as f:
            f.seek(1000)
            byte = f.read(1)
            f.seek(1000)
            f.write(bytes([byte[0] ^ 0xFF]))
        proc = in_root(
            root,
            ["/tmp/tampered/install.sh", "--check-only", "--board-root", "/tmp/boards/pi5-8gb"],
            check=False,
        )
        if proc.returncode == 0 or "tampered" not in proc.stderr or victim.name not in proc.stderr:
            raise CheckError(f"the tampered bundle was not refused:\n{proc.stdout}{proc.stderr}")
        report["tampered"] = proc.stderr.strip().splitlines()[:2]
        in_root(root, ["rm", "-rf", "/tmp/tampered"])
        timed("tampered bundle refused", t0)

        # board plans: what a Zero 2 W and a Pi 4 would get; a refusal for a board too small
        t0 = time.monotonic()
        plans = {}
        for board in ("zero2w", "pi4-4gb"):
            proc = in_root(
                root,
                [f"{b}/install.sh", "--check-only", "--board-root", f"/tmp/boards/{board}"],
                check=False,
            )
            plans[board] = {
                "rc": proc.returncode,
                "out": [
                    ln
                    for ln in (proc.stdout + proc.stderr).splitlines()
                    if ln.startswith(("==>", "install.sh:"))
                ],
            }
        small = root / "tmp/boards/small"
        shutil.copytree(root / "tmp/boards/zero2w", small)
        need = sizes["models"]["smollm2-135m"]["ram_mb"]
        (small / "proc/meminfo").write_text(f"MemTotal:       {(need - 1) * 1024} kB\n")
        proc = in_root(
            root,
            [
                f"{b}/install.sh",
                "--check-only",
                "--model",
                "smollm2-135m",
                "--board-root",
                "/tmp/boards/small",
            ],
            check=False,
        )
        if proc.returncode == 0 or "does not fit" not in proc.stderr:
            raise CheckError(f"a board with {need - 1} MB was not refused:\n{proc.stderr}")
        plans[f"zero2w with {need - 1} MB"] = {
            "rc": proc.returncode,
            "out": proc.stderr.strip().splitlines(),
        }
        report["plans"] = plans
        timed("board plans", t0)

        # the install, as on a Pi (the board's /proc files from the Pi 5 fixture)
        t0 = time.monotonic()
        proc = in_root(root, [f"{b}/install.sh", "--board-root", "/tmp/boards/pi5-8gb"])
        report["install_log_tail"] = proc.stdout.strip().splitlines()[-6:]
        installed = json.loads(
            (root / "opt/edgecoach/share/edgecoach/bundle-install.json").read_text()
        )
        report["installed"] = installed
        models_dir = root / "opt/edgecoach/venv/share/edgecoach/models"
        if adapter and (installed["model"] != COACH_LORA or not (models_dir / adapter).is_file()):
            raise CheckError(
                f"the install chose {installed['model']} and put "
                f"{sorted(p.name for p in models_dir.glob('*.gguf'))} in {models_dir}: "
                f"not the coaching adapter {adapter}"
            )
        du = subprocess.run(
            ["du", "-sm", str(root / "opt/edgecoach")], capture_output=True, text=True, check=True
        ).stdout.split()[0]
        report["installed_mb"] = int(du)
        timed("install (offline, emulated)", t0)

        exe = "/opt/edgecoach/venv/bin/edgecoach"
        cfg = ["--config", "/etc/edgecoach/config.toml"]
        t0 = time.monotonic()
        demo_args = ["demo", "--speed", "0", "--json", "--no-llm", "--mute"]
        arm_demo = events(in_root(root, [exe, *cfg, *demo_args]).stdout)
        timed("demo (emulated)", t0)
        # the tuned demo: the installed config, waiting for every cue's words
        t0 = time.monotonic()
        installed_cfg = (root / "etc/edgecoach/config.toml").read_text()
        (root / "tmp/tuned.toml").write_text(with_llm_timeout(installed_cfg, TUNED_TIMEOUT_S))
        tuned_args = ["demo", "--speed", "0", "--json", "--mute"]
        arm_tuned = events(
            in_root(root, [exe, "--config", "/tmp/tuned.toml", *tuned_args], timeout=3600).stdout
        )
        timed("tuned demo (emulated)", t0)
        t0 = time.monotonic()
        replay_args = [
            "replay",
            f"/tmp/{RECORDING}",
            "--speed",
            "0",
            "--json",
            "--no-llm",
            "--mute",
        ]
        arm_replay = events(in_root(root, [exe, *cfg, *replay_args]).stdout)
        timed("replay (emulated)", t0)

        t0 = time.monotonic()
        proc = in_root(root, [exe, *cfg, "doctor", "--json"], check=False)
        doctor = json.loads(proc.stdout)
        failed = [
            c["name"]
            for c in doctor["checks"]
            if c["level"] == "fail" and c["name"] not in DOCTOR_UNCHECKABLE
        ]
        report["doctor"] = {c["name"]: c["level"] for c in doctor["checks"]}
        if failed:
            raise CheckError(f"edgecoach doctor failed in the root: {failed}\n{proc.stdout}")
        llm_check = next(c for c in doctor["checks"] if c["name"] == "language-model")
        report["doctor_language_model"] = llm_check["detail"]
        if adapter and (adapter not in llm_check["detail"] or "sha256" not in llm_check["detail"]):
            raise CheckError(f"doctor did not verify the adapter {adapter}: {llm_check}")
        timed("doctor (emulated)", t0)

        # llama-cpp-python: the installed build, and the other flavour from its wheel
        t0 = time.monotonic()
        gguf = "/opt/edgecoach/venv/" + sizes["models"]["smollm2-135m"]["llm"]
        (root / "tmp/llama_smoke.py").write_text(LLAMA_SMOKE)
        py = "/opt/edgecoach/venv/bin/python"
        llama = {
            installed["flavour"]: in_root(root, [py, "/tmp/llama_smoke.py", gguf]).stdout.strip()
        }
        manifest = json.loads((bundle.bundle_dir / "bundle.json").read_text())
        for flavour, info in manifest["flavours"].items():
            if flavour in llama:
                continue
            in_root(
                root,
                [
                    py,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-index",
                    "--no-deps",
                    "--target",
                    f"/tmp/llama-{flavour}",
                    f"{b}/{info['wheel']}",
                ],
            )
            llama[flavour] = in_root(
                root, ["env", f"PYTHONPATH=/tmp/llama-{flavour}", py, "/tmp/llama_smoke.py", gguf]
            ).stdout.strip()
        report["llama"] = llama
        timed("llama-cpp-python load + generate (emulated)", t0)

        # a Pi 4's CPU (cortex-a72, no dot product) with its cpuinfo: the demo again, the generic
        # build generating, and the dotprod build refused by the CPU (why the installer picks)
        t0 = time.monotonic()
        if installed["flavour"] != "dotprod":
            raise CheckError(f"the Pi 5 board got the {installed['flavour']} build, not dotprod")
        bind_cpuinfo(root, "pi4-4gb")
        a72 = BOARD_CPUS["pi4-4gb"]
        arm_demo_pi4 = events(in_root(root, [exe, *cfg, *demo_args], cpu=a72).stdout)
        generic = in_root(
            root, ["env", "PYTHONPATH=/tmp/llama-generic", py, "/tmp/llama_smoke.py", gguf], cpu=a72
        ).stdout.strip()
        wrong = in_root(root, [py, "/tmp/llama_smoke.py", gguf], cpu=a72, check=False, timeout=600)
        if wrong.returncode == 0:
            raise CheckError(
                "the dotprod build ran on an emulated cortex-a72: the flavours "
                "are not what they claim"
            )
        report["pi4"] = {
            "llama_generic": generic,
            "llama_dotprod": f"exit status {wrong.returncode}: "
            + (wrong.stderr.strip().splitlines() or [""])[-1],
        }
        timed("Pi 4 CPU: demo + llama (emulated)", t0)

    t0 = time.monotonic()
    x86_demo = host_run(demo_args)
    report["compare_demo"] = compare_runs(x86_demo, arm_demo)
    report["compare_demo_pi4_cpu"] = compare_runs(x86_demo, arm_demo_pi4)
    tuned_cfg = REPO / "build/pi/tuned-x86_64.toml"
    tuned_cfg.write_text(with_llm_timeout("", TUNED_TIMEOUT_S))
    x86_tuned = host_run(["--config", str(tuned_cfg), *tuned_args])
    report["compare_demo_tuned"] = compare_runs(x86_tuned, arm_tuned)
    report["compare_words"] = compare_words(x86_tuned, arm_tuned, adapter, templates=x86_demo)
    for label, evs in (
        ("demo-arm64", arm_demo),
        ("demo-arm64-a72", arm_demo_pi4),
        ("replay-arm64", arm_replay),
        ("demo-x86_64", x86_demo),
        ("demo-tuned-arm64", arm_tuned),
        ("demo-tuned-x86_64", x86_tuned),
    ):
        (REPO / "build/pi" / f"{label}.jsonl").write_text(
            "".join(json.dumps(e) + "\n" for e in evs)
        )
    host_replay = [str(recording()) if a == f"/tmp/{RECORDING}" else a for a in replay_args]
    report["compare_replay"] = compare_runs(host_run(host_replay), arm_replay)
    timed("x86 runs + compare", t0)
    summary = [e for e in arm_replay if e["event"] == "summary"]
    report["replay_summary"] = (
        {k: summary[0].get(k) for k in ("duration_s", "cues", "mean_hr", "forecast_mae_30s")}
        if summary
        else None
    )
    report["seconds"] = round(time.monotonic() - t_start, 1)
    report["ok"] = all(report[k]["ok"] for k in (*RUN_COMPARISONS, "compare_words"))
    out = REPO / "build" / "pi" / "check-report.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    try:
        report = check()
    except (CheckError, subprocess.CalledProcessError) as exc:
        print(f"pi-check: FAILED: {exc}", file=sys.stderr)
        return 1
    for key in RUN_COMPARISONS:
        c = report[key]
        print(
            f"{key}: {'ok' if c['ok'] else 'FAILED'}: {c['cues']} cues, {c['samples']} samples, "
            f"max forecast difference {c['max_forecast_diff_bpm']} bpm "
            f"(tolerance {c['tolerance_bpm']}){'; ' + '; '.join(c['problems']) if c['problems'] else ''}"
        )
    w = report["compare_words"]
    print(
        f"tuned words: {'ok' if w['ok'] else 'FAILED'}: {w['exact']} of {w['model_worded']} "
        f"model-worded lines match x86 word for word, {w['exact_not_template']} of them "
        f"unlike their template ({w['spoken']} spoken; model "
        f"{', '.join(w['models']['arm64']) or 'none'}){'; ' + '; '.join(w['problems']) if w['problems'] else ''}"
    )
    for d in w["differ"]:
        print(f"  t={d['t']} {d['kind']}: x86 {d['x86']!r} / arm64 {d['arm64']!r}")
    print(f"doctor language-model: {report['doctor_language_model']}")
    for flavour, line in report["llama"].items():
        print(f"llama-cpp-python {flavour} (cortex-a76): {line}")
    print(f"llama-cpp-python generic (cortex-a72): {report['pi4']['llama_generic']}")
    print(f"llama-cpp-python dotprod (cortex-a72): {report['pi4']['llama_dotprod']}")
    print(f"no network in the root: {report['network_in_root']}")
    print(f"tampered bundle: {' / '.join(report['tampered'])}")
    for board, plan in report["plans"].items():
        print(f"plan {board}: rc {plan['rc']}: " + " | ".join(plan["out"][-3:]))
    print(f"installed: {report['installed']} ({report['installed_mb']} MB in /opt/edgecoach)")
    print("steps: " + ", ".join(f"{k} {v} s" for k, v in report["steps"].items()))
    print(f"bundle {report['bundle']['tar']}: {report['bundle']['bytes'] / 2**20:.1f} MiB")
    print(
        f"pi-check {'passed' if report['ok'] else 'FAILED'} in {report['seconds']} s "
        f"(report: build/pi/check-report.json)"
    )
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
