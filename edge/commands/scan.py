"""`edgecoach scan`: list the heart-rate straps, footpods and cadence sensors in range, and the
power meters (Cycling Power, 0x1818) and fitness machines (FTMS, 0x1826) with their features.

Prints a table (address, name, signal strength, what it measures, battery, features) or, with
`--json`, one JSON object per device. Bands come from `edge.sources.ble.scan`; power meters and
machines from a second listen (`edge.sources.effort_scan`), each connected briefly to read its feature characteristic
(0x2A65 / 0x2ACC), which says what it measures and which targets it takes. `--virtual` scans the
virtual demo bands, a virtual bike, treadmill and power meter served by the fake BlueZ on a private
D-Bus (`firmware_bridge.virtual_band`), so the command can be seen working without a Bluetooth
adapter. Errors that mean "no Bluetooth here" become one `SensorError` line that says what to
check.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakError

from edge.errors import SensorError
from edge.settings import Settings
from edge.sources.ble import ScanResult, scan
from edge.sources.effort_scan import EffortScanResult, scan_effort

NAME = "scan"
HELP = (
    "list nearby heart-rate, footpod, cycling and power sensors and fitness machines, with "
    "signal strength, battery and features"
)

#: Scan length when --timeout is not given (the virtual bands answer at once).
DEFAULT_TIMEOUT_S = 5.0
VIRTUAL_TIMEOUT_S = 1.0

_KIND_LABELS = {
    "heart_rate": "heart rate",
    "rsc": "footpod",
    "csc": "cycling",
    "cycling_power": "power",
    "fitness_machine": "fitness machine",
}
_MACHINE_LABELS = {
    "treadmill": "treadmill",
    "cross_trainer": "cross trainer",
    "rower": "rower",
    "indoor_bike": "indoor bike",
}


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Scan for BLE heart-rate (0x180D), running speed and cadence "
        "(0x1814) and cycling speed and cadence (0x1816) sensors."
    )
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help=f"how long to listen for advertisements (default {DEFAULT_TIMEOUT_S:g}; "
        f"{VIRTUAL_TIMEOUT_S:g} with --virtual)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per band")
    parser.add_argument(
        "--no-battery",
        action="store_true",
        help="do not connect briefly to each device (battery level, machine features)",
    )
    parser.add_argument(
        "--virtual",
        action="store_true",
        help="scan the virtual demo bands (heart rate, footpod, cadence), a virtual bike, "
        "treadmill and power meter on a private D-Bus instead of the radio: no adapter needed",
    )


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    """Scan, print what was found, return the exit status (0, also when nothing was found)."""
    timeout_s = args.timeout
    if timeout_s is None:
        timeout_s = VIRTUAL_TIMEOUT_S if args.virtual else DEFAULT_TIMEOUT_S
    results, machines = asyncio.run(
        scan_all(timeout_s, read_details=not args.no_battery, virtual=args.virtual)
    )
    if args.json:
        for result in results:
            print(json.dumps(as_dict(result)))
        for machine in machines:
            print(json.dumps(effort_as_dict(machine)))
    else:
        print(format_table(results, timeout_s, machines))
    return 0


async def scan_all(
    timeout_s: float, *, read_details: bool = True, virtual: bool = False
) -> tuple[list[ScanResult], list[EffortScanResult]]:
    """Bands, then power meters and fitness machines: two listens of `timeout_s` each (one
    discovery at a time per D-Bus connection, as bluetoothd wants)."""
    if virtual:
        from edge.sources.virtual_demo import demo_scan_bands
        from firmware_bridge.virtual_band import virtual_gym, virtual_power_meter, virtual_radio

        virtual = (*demo_scan_bands(), *virtual_gym(), virtual_power_meter())
        async with virtual_radio(*virtual, advertise_interval_s=0.05):
            return await _scan(timeout_s, read_details), await _scan_effort(timeout_s, read_details)
    return await _scan(timeout_s, read_details), await _scan_effort(timeout_s, read_details)


async def scan_bands(
    timeout_s: float, *, read_battery: bool = True, virtual: bool = False
) -> list[ScanResult]:
    """`edge.sources.ble.scan`, on the radio or (`virtual`) on the virtual demo bands; errors
    that mean no usable Bluetooth become a `SensorError` with advice."""
    if virtual:
        from edge.sources.virtual_demo import demo_scan_bands
        from firmware_bridge.virtual_band import virtual_radio

        async with virtual_radio(*demo_scan_bands(), advertise_interval_s=0.05):
            return await _scan(timeout_s, read_battery)
    return await _scan(timeout_s, read_battery)


async def _scan(timeout_s: float, read_battery: bool) -> list[ScanResult]:
    try:
        return await scan(timeout_s, read_battery=read_battery)
    except (BleakError, OSError, EOFError) as exc:
        raise scan_error(exc) from exc


async def _scan_effort(timeout_s: float, read_details: bool) -> list[EffortScanResult]:
    try:
        return await scan_effort(timeout_s, read_details=read_details)
    except (BleakError, OSError, EOFError) as exc:
        raise scan_error(exc) from exc


def scan_error(exc: BaseException) -> SensorError:
    """The one-line error, with what to do, for an exception from a scan."""
    advice = "is bluetoothd running? `systemctl status bluetooth`"
    if isinstance(exc, BleakBluetoothNotAvailableError):
        reason = exc.reason
        if reason is BleakBluetoothNotAvailableReason.NO_BLUETOOTH:
            message = f"no Bluetooth adapter found: is one plugged in, and {advice}"
        elif reason is BleakBluetoothNotAvailableReason.POWERED_OFF:
            message = "the Bluetooth adapter is switched off: `bluetoothctl power on`"
        elif reason is BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE:
            message = (
                "the Bluetooth adapter cannot act as a BLE central (a classic-only adapter?):"
                " use a Bluetooth 4.0+ adapter"
            )
        elif reason is BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM:
            message = (
                "not allowed to use Bluetooth: run as a user in the `bluetooth` group, or check"
                " the D-Bus policy for org.bluez"
            )
        else:
            message = f"Bluetooth is not available ({exc.args[0]}): {advice}"
        return SensorError(message)
    text = str(exc)
    if "ServiceUnknown" in text or "org.bluez was not provided" in text:
        return SensorError(f"BlueZ is not running: {advice}")
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        # the system bus socket is missing: no D-Bus at all (a container, a minimal image)
        return SensorError(
            "cannot reach the D-Bus system bus: is dbus running (`systemctl status dbus`),"
            f" and {advice}"
        )
    if isinstance(exc, PermissionError):
        return SensorError(
            "not allowed to open the D-Bus system bus: check the permissions of"
            " /run/dbus/system_bus_socket"
        )
    if "adapter" in text and "not found" in text:
        return SensorError(f"no Bluetooth adapter found: {advice}")
    return SensorError(f"cannot scan: {text or type(exc).__name__}; {advice}")


def as_dict(result: ScanResult) -> dict[str, object]:
    """One band as the JSON line prints it."""
    return {
        "address": result.address,
        "name": result.name,
        "rssi": result.rssi,
        "kinds": list(result.kinds),
        "battery_percent": result.battery_percent,
    }


def effort_as_dict(result: EffortScanResult) -> dict[str, object]:
    """One power meter or machine as the JSON line prints it (a band's keys, and more)."""
    return {
        "address": result.address,
        "name": result.name,
        "rssi": result.rssi,
        "kinds": list(result.kinds),
        "battery_percent": result.battery_percent,
        "machines": list(result.machines),
        "features": list(result.features),
        "targets": list(result.targets),
    }


def _measures(result: EffortScanResult) -> str:
    what = [_MACHINE_LABELS.get(m, m) for m in result.machines]
    if "cycling_power" in result.kinds:
        what.append("power meter")
    if not what:
        what = [_KIND_LABELS.get(k, k) for k in result.kinds]
    return ", ".join(what) or "-"


def _features(result: EffortScanResult) -> str:
    parts = []
    if result.targets:
        parts.append("targets " + ", ".join(result.targets))
    if result.features:
        parts.append("measures " + ", ".join(result.features))
    return "; ".join(parts)


def format_table(
    results: list[ScanResult], timeout_s: float, machines: list[EffortScanResult] | None = None
) -> str:
    """Bands, then power meters and machines, as one aligned table, each strongest first."""
    machines = machines or []
    if not results and not machines:
        return (
            f"No heart-rate, footpod or cadence sensor, power meter or fitness machine seen in"
            f" {timeout_s:g} s. Wake the band (straps need skin contact) or the machine (pedal"
            " or step on it), check it is not connected to a phone or watch, and try a longer"
            " --timeout."
        )
    header = ("ADDRESS", "NAME", "RSSI", "MEASURES", "BATTERY", "FEATURES")
    rows = [
        (
            r.address,
            r.name or "(no name)",
            "" if r.rssi is None else f"{r.rssi} dBm",
            ", ".join(_KIND_LABELS.get(k, k) for k in r.kinds) or "-",
            "" if r.battery_percent is None else f"{r.battery_percent} %",
            "",
        )
        for r in results
    ]
    rows += [
        (
            m.address,
            m.name or "(no name)",
            "" if m.rssi is None else f"{m.rssi} dBm",
            _measures(m),
            "" if m.battery_percent is None else f"{m.battery_percent} %",
            _features(m),
        )
        for m in machines
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    return "\n".join(lines)


__all__ = [
    "EffortScanResult",
    "as_dict",
    "configure",
    "effort_as_dict",
    "format_table",
    "run",
    "scan_all",
    "scan_bands",
    "scan_effort",
    "scan_error",
]
