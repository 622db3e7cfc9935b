"""`edgecoach doctor` checks, against a real private system bus, real files and real espeak-ng."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.artifacts import Manifest, record
from edge.commands import doctor
from edge.commands.doctor import (
    BluezProbe,
    Check,
    bluez_checks,
    check_clock,
    probe_bluez,
    run_checks,
)
from edge.settings import HealthSettings, LlmSettings, Settings, SpeechSettings

REPO = Path(__file__).resolve().parents[1]

needs_dbus = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None, reason="dbus-daemon not installed (Debian: dbus)"
)

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    {extra}
  </policy>
</busconfig>
"""
#: What Debian's bluetooth.conf does to a user outside the bluetooth group.
DENY_BLUEZ = '<deny send_destination="org.bluez"/>'


def start_bus(tmp_path: Path, extra: str = "") -> tuple[subprocess.Popen[bytes], str]:
    config = tmp_path / "system.conf"
    config.write_text(BUS_CONFIG.format(socket=tmp_path / "bus", extra=extra), encoding="utf-8")
    daemon = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert daemon.stdout is not None
    address = daemon.stdout.readline().decode().strip()
    daemon.stdout.close()
    assert address, "dbus-daemon did not start"
    return daemon, address


def stop_bus(daemon: subprocess.Popen[bytes]) -> None:
    daemon.terminate()
    try:
        daemon.wait(timeout=5)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()


@pytest.fixture
def system_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private, empty system bus: no BlueZ on it."""
    daemon, address = start_bus(tmp_path)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
    try:
        yield address
    finally:
        stop_bus(daemon)


@pytest.fixture(autouse=True)
def no_system_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the machine's own system bus: a test that wants one starts a private bus."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-system-bus'}")


@pytest.fixture
def settings() -> Settings:
    """Defaults, with the language model off (its check has its own tests)."""
    return Settings(llm=LlmSettings(enabled=False))


def by_name(checks: list[Check]) -> dict[str, Check]:
    names = [check.name for check in checks]
    assert len(names) == len(set(names)), names
    return {check.name: check for check in checks}


def assert_failure_with_fix(check: Check, *words: str) -> None:
    assert not check.ok, check
    assert check.fix, f"{check.name} failed without a fix"
    for word in words:
        assert word in check.fix, (word, check.fix)


# --- BlueZ ----------------------------------------------------------------------------------


@needs_dbus
def test_no_bluez_on_the_bus_fails_with_a_fix(
    system_bus: str, settings: Settings, tmp_path: Path
) -> None:
    checks = by_name(run_checks(settings, state_dir=tmp_path))
    assert_failure_with_fix(checks["bluez"], "systemctl enable --now bluetooth", "bluez")
    assert "not running" in checks["bluez"].detail
    for dependent in ("dbus-permission", "bluetooth-adapter"):
        assert not checks[dependent].ok
        assert checks[dependent].detail.startswith("not checked")


def test_no_system_bus_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    check = by_name(run_checks(settings, state_dir=tmp_path))["bluez"]
    assert_failure_with_fix(check, "systemctl start dbus")
    assert str(tmp_path / "no-bus") in check.detail


def test_a_bus_that_never_answers_does_not_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    path = tmp_path / "silent"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.bind(str(path))
        silent.listen(1)  # accepts the connection in the kernel, never says a word
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
        started = time.monotonic()
        checks = by_name(run_checks(settings, state_dir=tmp_path, bus_timeout_s=0.3))
        elapsed = time.monotonic() - started
    assert_failure_with_fix(checks["bluez"], "dbus")
    assert elapsed < 5.0


@needs_dbus
def test_a_powered_adapter_passes(tmp_path: Path) -> None:
    from firmware_bridge.virtual_band import FakeBluez

    daemon, address = start_bus(tmp_path)

    async def probe() -> BluezProbe:
        async with FakeBluez(bus_address=address, adapter_address="00:1A:7D:DA:71:13"):
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
            try:
                return await probe_bluez(timeout_s=2.0)
            finally:
                del os.environ["DBUS_SYSTEM_BUS_ADDRESS"]

    try:
        found = asyncio.run(probe())
    finally:
        stop_bus(daemon)
    checks = by_name(bluez_checks(found))
    assert all(check.ok for check in checks.values()), checks
    assert "hci0 (00:1A:7D:DA:71:13) is powered on" in checks["bluetooth-adapter"].detail


@needs_dbus
def test_a_bluez_that_refuses_us_is_a_permission_failure(tmp_path: Path) -> None:
    from firmware_bridge.virtual_band import FakeBluez

    daemon, address = start_bus(tmp_path, DENY_BLUEZ)

    async def probe() -> BluezProbe:
        async with FakeBluez(bus_address=address):
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
            try:
                return await probe_bluez(timeout_s=2.0)
            finally:
                del os.environ["DBUS_SYSTEM_BUS_ADDRESS"]

    try:
        found = asyncio.run(probe())
    finally:
        stop_bus(daemon)
    checks = by_name(bluez_checks(found))
    assert checks["bluez"].ok
    assert_failure_with_fix(checks["dbus-permission"], "bluetooth group")
    assert not checks["bluetooth-adapter"].ok


def test_adapters_judged_from_the_managed_objects() -> None:
    def adapter(**props: object) -> dict[str, dict[str, object]]:
        return {"org.bluez.Adapter1": {"Address": "AA:BB:CC:DD:EE:FF", **props}}

    def judged(objects: dict[str, dict[str, dict[str, object]]]) -> Check:
        return by_name(bluez_checks(BluezProbe("unix:path=x", owner=":1.1", objects=objects)))[
            "bluetooth-adapter"
        ]

    assert_failure_with_fix(judged({"/org/bluez": {"org.bluez.AgentManager1": {}}}), "rfkill")
    off = judged({"/org/bluez/hci0": adapter(Powered=False)})
    assert_failure_with_fix(off, "bluetoothctl power on", "AutoEnable=true")
    assert "hci0 (AA:BB:CC:DD:EE:FF)" in off.detail
    assert_failure_with_fix(
        judged({"/org/bluez/hci0": adapter(Powered=True, Roles=["peripheral"])}), "Low Energy"
    )
    two = judged(
        {
            "/org/bluez/hci0": adapter(Powered=False),
            "/org/bluez/hci1": adapter(Powered=True, Roles=["central"]),
        }
    )
    assert two.ok and two.detail.startswith("hci1")


# --- models ---------------------------------------------------------------------------------


@pytest.fixture
def models_copy(tmp_path: Path) -> Path:
    """A copy of the repository's models/, or a small stand-in built with `record`."""
    target = tmp_path / "models"
    if (REPO / "models" / "manifest.json").is_file():
        shutil.copytree(REPO / "models", target)
    else:
        target.mkdir()
        (target / "health_forecast.onnx").write_bytes(b"\x08\x07" + bytes(range(256)) * 8)
        record(target, target / "health_forecast.onnx", "health-model", "test stand-in")
    return target


def test_intact_models_pass(models_copy: Path, settings: Settings, tmp_path: Path) -> None:
    ok = by_name(
        run_checks(
            Settings(llm=settings.llm, health=HealthSettings(models_dir=models_copy)),
            state_dir=tmp_path,
        )
    )["health-models"]
    assert ok.ok, ok
    assert "match their sha256" in ok.detail


def test_a_tampered_model_fails(models_copy: Path, settings: Settings, tmp_path: Path) -> None:
    manifest = Manifest.load(models_copy)
    name = next(n for n, e in manifest.entries.items() if e.kind == "health-model")
    data = bytearray((models_copy / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (models_copy / name).write_bytes(bytes(data))
    check = by_name(
        run_checks(
            Settings(llm=settings.llm, health=HealthSettings(models_dir=models_copy)),
            state_dir=tmp_path,
        )
    )["health-models"]
    assert_failure_with_fix(check, str(models_copy), "install.sh")
    assert "tampered" in check.detail and name in check.detail


def test_a_missing_manifest_fails(tmp_path: Path, settings: Settings) -> None:
    check = by_name(
        run_checks(
            Settings(llm=settings.llm, health=HealthSettings(models_dir=tmp_path / "none")),
            state_dir=tmp_path,
        )
    )["health-models"]
    assert_failure_with_fix(check, "export health")
    assert "no model manifest" in check.detail


def test_language_model_checks(tmp_path: Path) -> None:
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip file")
    check = by_name(run_checks(Settings(llm=LlmSettings(model_path=not_gguf)), state_dir=tmp_path))[
        "language-model"
    ]
    assert_failure_with_fix(check, "model_path")
    assert "not a GGUF" in check.detail and "templates" in check.detail
    fake = tmp_path / "tiny.gguf"
    fake.write_bytes(b"GGUF" + bytes(100))
    assert by_name(run_checks(Settings(llm=LlmSettings(model_path=fake)), state_dir=tmp_path))[
        "language-model"
    ].ok
    assert by_name(run_checks(Settings(llm=LlmSettings(enabled=False)), state_dir=tmp_path))[
        "language-model"
    ].ok


def test_the_coaching_adapter_is_reported_verified_or_refused(tmp_path: Path) -> None:
    from edge.narrator.llm import ADAPTER_GGUF_NAME, LORA_KIND, file_sha256, packaged_gguf_path

    models = tmp_path / "models"
    models.mkdir()
    adapter = models / ADAPTER_GGUF_NAME
    adapter.write_bytes(b"GGUF" + bytes(300))
    record(models, adapter, LORA_KIND, "test", {"base_sha256": file_sha256(packaged_gguf_path())})
    settings = Settings(health=HealthSettings(models_dir=models))
    check = by_name(run_checks(settings, state_dir=tmp_path))["language-model"]
    assert check.ok and not check.warn
    assert ADAPTER_GGUF_NAME in check.detail and "verified by sha256" in check.detail
    # An adapter made for another base: the base alone, and doctor says why.
    record(models, adapter, LORA_KIND, "test", {"base_sha256": "f" * 64})
    check = by_name(run_checks(settings, state_dir=tmp_path))["language-model"]
    assert check.ok and check.warn and check.level == "warn"
    assert "WITHOUT the coaching model" in check.detail and "was trained on" in check.detail


# --- config ---------------------------------------------------------------------------------


def test_a_broken_config_is_shown_with_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    config = tmp_path / "config.toml"
    config.write_text("[speech]\nvolume = 11\n", encoding="utf-8")
    out = io.StringIO()
    assert doctor.doctor_main(config, state_dir=tmp_path, out=out) == 1
    text = out.getvalue()
    line = next(line for line in text.splitlines() if " config " in line)
    assert line.startswith("FAIL")
    assert str(config) in line and "volume" in line
    assert "fix: correct the file" in text
    # the other checks still ran, on built-in defaults
    assert "espeak-ng" in text and "clock" in text

    out = io.StringIO()
    config.write_text("[speech\n", encoding="utf-8")
    assert doctor.doctor_main(config, as_json=True, state_dir=tmp_path, out=out) == 1
    report = json.loads(out.getvalue())
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["config"]["level"] == "fail"
    assert "not valid TOML" in checks["config"]["detail"]
    assert set(checks["config"]) == {"name", "ok", "warn", "level", "detail", "fix"}


def test_a_good_config_names_its_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[speech]\nenabled = false\n", encoding="utf-8")
    out = io.StringIO()
    doctor.doctor_main(config, as_json=True, state_dir=tmp_path, out=out)
    checks = {c["name"]: c for c in json.loads(out.getvalue())["checks"]}
    assert checks["config"]["ok"] and str(config) in checks["config"]["detail"]
    assert checks["audio-output"]["ok"] and "off" in checks["audio-output"]["detail"]


def test_installed_config_template_loads(tmp_path: Path) -> None:
    """The commented defaults install.sh writes load as they are, and with every example line
    uncommented (so the template follows the settings' real names)."""
    text = (REPO / "systemd" / "install.sh").read_text(encoding="utf-8")
    start = text.index("# edgecoach settings, read once")
    body = text[start : text.index("\nEOF\n", start)] + "\n"
    config = tmp_path / "config.toml"
    config.write_text(body, encoding="utf-8")
    assert doctor.load_settings(config) == Settings(source=str(config))
    example = re.sub(r"(?m)^#\s*(\[.*\]|[a-z_]+ = .*)$", r"\1", body)
    assert example.count("\n[") >= 6, example
    config.write_text(example, encoding="utf-8")
    settings = doctor.load_settings(config)
    assert settings.people and settings.people[0].bands
    check = by_name(run_checks(settings, state_dir=tmp_path, bus_timeout_s=0.2))["config"]
    assert check.ok, check


# --- speech, disk, clock --------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_voice(tmp_path: Path, settings: Settings) -> None:
    good = by_name(run_checks(settings, state_dir=tmp_path))["espeak-ng"]
    assert good.ok, good
    bad = by_name(
        run_checks(
            Settings(llm=settings.llm, speech=SpeechSettings(voice="qqq")), state_dir=tmp_path
        )
    )["espeak-ng"]
    assert_failure_with_fix(bad, "espeak-ng --voices")


def test_no_audio_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setattr(doctor, "has_audio_output", lambda: False)
    check = by_name(run_checks(settings, state_dir=tmp_path))["audio-output"]
    assert_failure_with_fix(check, "aplay -l", "audio group")


def test_low_disk_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    real = shutil.disk_usage(tmp_path)
    assert by_name(run_checks(settings, state_dir=tmp_path))["disk-space"].level == (
        "ok" if real.free >= doctor.LOW_DISK_BYTES else "warn"
    )
    monkeypatch.setattr(
        doctor.shutil,
        "disk_usage",
        lambda path: type(real)(real.total, real.total - 50_000_000, 50_000_000),
    )
    check = by_name(run_checks(settings, state_dir=tmp_path / "not" / "yet"))["disk-space"]
    assert check.ok and check.warn and check.fix
    assert "50 MB free" in check.detail and "not created yet" in check.detail


def test_clock() -> None:
    assert_failure_with_fix(
        check_clock(datetime(2000, 1, 1, tzinfo=UTC), lambda: True), "timedatectl set-time"
    )
    now = datetime(2025, 6, 1, 7, 30, tzinfo=UTC)
    assert check_clock(now, lambda: True).level == "ok"
    unsynced = check_clock(now, lambda: False)
    assert unsynced.level == "warn" and unsynced.fix
    assert check_clock(now, lambda: None).level == "ok"


# --- output ---------------------------------------------------------------------------------


def test_format_checks() -> None:
    checks = [
        Check("config", True, "defaults"),
        Check("clock", True, "not synchronised", "set it", warn=True),
        Check("bluez", False, "not running", "start it"),
    ]
    text = doctor.format_checks(checks)
    assert text.splitlines() == [
        "ok    config  defaults",
        "WARN  clock   not synchronised",
        "              fix: set it",
        "FAIL  bluez   not running",
        "              fix: start it",
        "1 of 3 checks failed, 1 warning",
    ]
    assert doctor.exit_status(checks) == 1
    assert doctor.exit_status(checks[:2]) == 0
    assert doctor.format_checks(checks[:1]).splitlines()[-1] == "all 1 checks passed"


def test_run_checks_refuses_the_event_loop(settings: Settings) -> None:
    async def inside() -> None:
        with pytest.raises(RuntimeError, match="to_thread"):
            run_checks(settings)

    asyncio.run(inside())


def test_a_crashing_check_is_a_failure_not_an_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    def boom(_settings: Settings) -> Check:
        raise ValueError("kaput")

    monkeypatch.setattr(doctor, "_check_espeak", boom)
    checks = by_name(run_checks(settings, state_dir=tmp_path, bus_timeout_s=0.2))
    assert_failure_with_fix(checks["espeak-ng"], "bug")
    assert "kaput" in checks["espeak-ng"].detail
    assert len(checks) == 10


def test_cli_glue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path)
    doctor.configure(parser)
    config = tmp_path / "config.toml"
    config.write_text("[llm]\nenabled = false\n", encoding="utf-8")
    args = parser.parse_args(["--config", str(config), "--json", "--state-dir", str(tmp_path)])
    status = doctor.run(args)
    report = json.loads(capsys.readouterr().out)
    assert status == (0 if report["ok"] else 1)
    assert {c["name"] for c in report["checks"]} == {
        "config",
        "bluez",
        "dbus-permission",
        "bluetooth-adapter",
        "audio-output",
        "espeak-ng",
        "health-models",
        "language-model",
        "disk-space",
        "clock",
    }
    disk = next(c for c in report["checks"] if c["name"] == "disk-space")
    assert str(tmp_path) in disk["detail"]
