"""A virtual BLE band for tests and the hardware-free demo.

The real bleak BlueZ backend talks over a real (private) D-Bus to a fake `org.bluez` that
serves `VirtualBand`s; only the radio is missing. Typical use::

    band = VirtualBand("C0:FF:EE:00:00:01", "Virtual HRM", script=heart_rate_script([120] * 60))
    async with virtual_radio(band) as bluez:
        source = BleSensorSource(BleBandConfig(address=band.address))
        async for reading in source.readings():
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .band import (
    SERVICE_UUIDS,
    Notification,
    SentNotification,
    VirtualBand,
    csc_script,
    cycling_power_script,
    heart_rate_script,
    rsc_script,
)
from .bluez import AttError, FakeBluez
from .bus import PrivateSystemBus, release_bleak_bluez_manager
from .machines import (
    BIKE_ADDRESS,
    POWER_METER_ADDRESS,
    TREADMILL_ADDRESS,
    MachineSample,
    MachineState,
    ReceivedRequest,
    VirtualFitnessMachine,
    VirtualIndoorBike,
    VirtualTreadmill,
    virtual_gym,
    virtual_power_meter,
)


@asynccontextmanager
async def virtual_radio(
    *bands: VirtualBand,
    advertise_interval_s: float = 0.1,
    resolve_delay_s: float = 0.02,
    connect_fail_s: float = 0.2,
) -> AsyncIterator[FakeBluez]:
    """Start a private system bus and a fake BlueZ serving `bands`; stop both on exit.

    While inside, bleak in this process talks to the fake (DBUS_SYSTEM_BUS_ADDRESS is set).
    Cancel the tasks reading from BLE sources before leaving the block.
    """
    fake = FakeBluez(
        advertise_interval_s=advertise_interval_s,
        resolve_delay_s=resolve_delay_s,
        connect_fail_s=connect_fail_s,
    )
    # FakeBluez starts after the bus has exported DBUS_SYSTEM_BUS_ADDRESS, and stops first
    async with PrivateSystemBus(), fake as bluez:
        for band in bands:
            bluez.add(band)
        yield bluez


__all__ = [
    "BIKE_ADDRESS",
    "POWER_METER_ADDRESS",
    "SERVICE_UUIDS",
    "TREADMILL_ADDRESS",
    "AttError",
    "FakeBluez",
    "MachineSample",
    "MachineState",
    "Notification",
    "PrivateSystemBus",
    "ReceivedRequest",
    "SentNotification",
    "VirtualBand",
    "VirtualFitnessMachine",
    "VirtualIndoorBike",
    "VirtualTreadmill",
    "csc_script",
    "cycling_power_script",
    "heart_rate_script",
    "release_bleak_bluez_manager",
    "rsc_script",
    "virtual_gym",
    "virtual_power_meter",
    "virtual_radio",
]
