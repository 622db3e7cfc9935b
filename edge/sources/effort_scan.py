"""Find power meters (Cycling Power, 0x1818) and fitness machines (FTMS, 0x1826) and read what
each says it can do (Cycling Power Feature 0x2A65, Fitness Machine Feature 0x2ACC), for
`edgecoach scan`.

Kept beside `edge.sources.ble.scan` (the bands' scan) rather than in it, so that the bands'
kinds and results stay as they are. Like that scan, it listens once and then connects to each
device briefly, never to one that is already connected (BlueZ has one link per device, and our
own daemon may hold it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from edge.errors import MalformedPayloadError
from firmware_bridge.gatt import (
    decode_battery_level,
    decode_cycling_power_feature,
    decode_fitness_machine_feature,
)
from firmware_bridge.gatt.uuids import (
    BATTERY_LEVEL,
    CYCLING_POWER_FEATURE,
    EFFORT_SERVICES,
    FITNESS_MACHINE_DATA,
    FITNESS_MACHINE_FEATURE,
)

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EffortScanResult:
    """One power meter or fitness machine found by `scan_effort`."""

    address: str
    name: str | None
    rssi: int | None
    #: Which of cycling_power / fitness_machine it advertises.
    kinds: tuple[str, ...]
    #: The FTMS data records it serves (treadmill, cross_trainer, rower, indoor_bike).
    machines: tuple[str, ...] = ()
    #: What it measures: the FTMS machine features and the Cycling Power features, as words.
    features: tuple[str, ...] = ()
    #: The targets its control point takes (power, speed, inclination, ...).
    targets: tuple[str, ...] = ()
    battery_percent: int | None = None


async def scan_effort(
    timeout_s: float = 5.0, *, read_details: bool = True, connect_timeout_s: float = 10.0
) -> list[EffortScanResult]:
    """List nearby power meters and fitness machines, strongest signal first; with
    `read_details`, connect to each briefly to read its features and battery."""
    found = await BleakScanner.discover(
        timeout=timeout_s, return_adv=True, service_uuids=list(EFFORT_SERVICES.values())
    )
    results: list[EffortScanResult] = []
    for device, adv in found.values():
        advertised = {u.lower() for u in adv.service_uuids}
        result = EffortScanResult(
            address=device.address.upper(),
            name=device.name or adv.local_name,
            rssi=adv.rssi,
            kinds=tuple(k for k, uuid in EFFORT_SERVICES.items() if uuid in advertised),
        )
        if read_details:
            result = await _read_details(device, result, connect_timeout_s)
        results.append(result)
    results.sort(key=lambda r: -(r.rssi if r.rssi is not None else -1000))
    return results


async def _read_details(
    device: BLEDevice, result: EffortScanResult, timeout_s: float
) -> EffortScanResult:
    """`result` with the features, machine types and battery a brief connection reads."""
    details = device.details if isinstance(device.details, dict) else {}
    if details.get("props", {}).get("Connected"):
        # in use (maybe by our own daemon): BlueZ has one link per device, do not end it
        return result
    client: BleakClient | None = None
    features: list[str] = []
    targets: list[str] = []
    battery: int | None = None
    try:
        async with asyncio.timeout(timeout_s):
            client = await establish_connection(
                BleakClientWithServiceCache, device, device.name or device.address, max_attempts=1
            )
            present = {c.uuid for c in client.services.characteristics.values()}
            machines = tuple(k for k, uuid in FITNESS_MACHINE_DATA.items() if uuid in present)
            with contextlib.suppress(MalformedPayloadError):
                if FITNESS_MACHINE_FEATURE in present:
                    ftms = decode_fitness_machine_feature(
                        await client.read_gatt_char(FITNESS_MACHINE_FEATURE)
                    )
                    features.extend(ftms.measures())
                    targets.extend(ftms.targets())
            with contextlib.suppress(MalformedPayloadError):
                if CYCLING_POWER_FEATURE in present:
                    power = decode_cycling_power_feature(
                        await client.read_gatt_char(CYCLING_POWER_FEATURE)
                    )
                    features.extend(f for f in power.names() if f not in features)
            with contextlib.suppress(MalformedPayloadError):
                if BATTERY_LEVEL in present:
                    battery = decode_battery_level(await client.read_gatt_char(BATTERY_LEVEL))
    except (BleakError, TimeoutError, EOFError, OSError) as exc:
        _LOGGER.debug("%s: no details: %r", device.address, exc)
        return result
    finally:
        if client is not None:
            with contextlib.suppress(BleakError, TimeoutError, EOFError, OSError):
                async with asyncio.timeout(5.0):
                    await client.disconnect()
    return EffortScanResult(
        address=result.address,
        name=result.name,
        rssi=result.rssi,
        kinds=result.kinds,
        machines=machines,
        features=tuple(features),
        targets=tuple(targets),
        battery_percent=battery,
    )


__all__ = ["EffortScanResult", "scan_effort"]
