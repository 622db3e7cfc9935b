"""`VirtualBand`: one BLE peripheral behind the fake BlueZ, fed by a script, with faults on demand.

A band offers some of heart rate (0x180D), running speed and cadence (0x1814), cycling speed
and cadence (0x1816), cycling power (0x1818: a pedal or crank power meter), battery (0x180F) and
device information (0x180A). It plays a script of
`Notification(delay_s, characteristic_uuid, payload)` items, pre-encoded bytes, so the band
never needs to understand what it sends; `heart_rate_script` and friends build scripts from
plain numbers with the codecs in `firmware_bridge.gatt`.

Every payload the band tries to send is written to `sent` with whether it reached a
subscriber, so a test can check that the central saw exactly what was delivered.

The script starts when a central first connects and its services resolve. By default an item
whose characteristic nobody is subscribed to waits until somebody is (`hold_until_subscribed`),
which makes tests exact; with ``hold_until_subscribed=False`` it is dropped, as a real strap
does while nobody listens, and recorded with ``delivered=False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from firmware_bridge.gatt import (
    CSCMeasurement,
    CyclingPowerFeature,
    CyclingPowerFeatureBits,
    CyclingPowerMeasurement,
    HeartRateMeasurement,
    RSCMeasurement,
    SensorLocation,
    encode_battery_level,
    encode_body_sensor_location,
    encode_csc_measurement,
    encode_cycling_power_feature,
    encode_cycling_power_measurement,
    encode_device_information_string,
    encode_heart_rate_measurement,
    encode_rsc_measurement,
    encode_sensor_location,
    rr_seconds_to_raw,
)
from firmware_bridge.gatt.uuids import (
    BATTERY_LEVEL,
    BATTERY_SERVICE,
    BODY_SENSOR_LOCATION,
    CSC_MEASUREMENT,
    CYCLING_POWER_FEATURE,
    CYCLING_POWER_MEASUREMENT,
    CYCLING_POWER_SERVICE,
    DEVICE_INFORMATION_SERVICE,
    HEART_RATE_MEASUREMENT,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    RSC_MEASUREMENT,
    SENSOR_LOCATION,
    SENSOR_SERVICES,
)

from .bluez import AttError, CharacteristicSpec, DeviceLink, ServiceSpec

_LOGGER = logging.getLogger(__name__)

#: Service kinds a band can offer, and the service UUID of each.
SERVICE_UUIDS: dict[str, str] = {
    **SENSOR_SERVICES,
    "cycling_power": CYCLING_POWER_SERVICE,
    "battery": BATTERY_SERVICE,
    "device_info": DEVICE_INFORMATION_SERVICE,
}

#: What the virtual power meter says it sends: a crank meter with balance and torque.
POWER_METER_FEATURE = CyclingPowerFeature(
    CyclingPowerFeatureBits.PEDAL_POWER_BALANCE
    | CyclingPowerFeatureBits.ACCUMULATED_TORQUE
    | CyclingPowerFeatureBits.CRANK_REVOLUTION_DATA
    | CyclingPowerFeatureBits.ACCUMULATED_ENERGY
)

#: The kinds that go into the advertisement (sensors advertise their measurement service).
ADVERTISED_KINDS = ("heart_rate", "rsc", "csc", "cycling_power")


class Notification(NamedTuple):
    """One script item: wait `delay_s`, then notify `payload` on `uuid`."""

    delay_s: float
    uuid: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class SentNotification:
    """What the band tried to send, and whether a subscriber got it."""

    #: Event-loop time of the send.
    t: float
    uuid: str
    payload: bytes
    delivered: bool
    #: Which connection it went out on (1 for the first), 0 when not connected.
    link: int
    garbage: bool = False


ScriptItem = Notification | tuple[float, str, bytes]
Script = Iterable[ScriptItem] | AsyncIterable[ScriptItem]


class VirtualBand:
    """One virtual peripheral. Add it to a running `FakeBluez` with ``bluez.add(band)``."""

    def __init__(
        self,
        address: str,
        name: str,
        *,
        services: Sequence[str] = ("heart_rate", "battery", "device_info"),
        script: Script = (),
        repeat: bool = False,
        hold_until_subscribed: bool = True,
        body_sensor_location: int = 1,
        manufacturer: str = "edgecoach",
        model: str = "virtual band",
        battery_percent: int = 100,
        battery_drain_per_s: float = 0.0,
        battery_notify: bool = False,
        slow_connect_s: float = 0.0,
        never_resolves_services: bool = False,
        acquire_notify: bool = True,
    ) -> None:
        unknown = set(services) - set(SERVICE_UUIDS)
        if unknown:
            raise ValueError(
                f"unknown service kinds {sorted(unknown)}; use some of {sorted(SERVICE_UUIDS)}"
            )
        if repeat and not isinstance(script, Sequence):
            raise ValueError("repeat=True needs the script as a list, not an iterator")
        self.address = address.upper()
        self.name = name
        self.services = tuple(services)
        self.script = script
        self.repeat = repeat
        self.hold_until_subscribed = hold_until_subscribed
        self.body_sensor_location = body_sensor_location
        self.manufacturer = manufacturer
        self.model = model
        self.battery_drain_per_s = battery_drain_per_s
        self.battery_notify = battery_notify
        self.slow_connect_s = slow_connect_s
        self.never_resolves_services = never_resolves_services
        self.acquire_notify = acquire_notify
        #: Every payload the band tried to notify, in order.
        self.sent: list[SentNotification] = []
        #: How many connections reached resolved services.
        self.link_count = 0
        self._battery = float(battery_percent)
        self._link: DeviceLink | None = None
        self._up = False
        self._hidden_until = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._script_task: asyncio.Task[None] | None = None
        self._battery_task: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None

    # what the fake BlueZ asks (the `Peripheral` protocol)

    def advertised_uuids(self) -> list[str]:
        return [SERVICE_UUIDS[k] for k in self.services if k in ADVERTISED_KINDS]

    def in_range(self) -> bool:
        return asyncio.get_running_loop().time() >= self._hidden_until

    def gatt_services(self) -> list[ServiceSpec]:
        acquire = self.acquire_notify
        layout: list[ServiceSpec] = []
        for kind in self.services:
            chars: tuple[CharacteristicSpec, ...]
            if kind == "heart_rate":
                chars = (
                    CharacteristicSpec(HEART_RATE_MEASUREMENT, ("notify",), acquire_notify=acquire),
                    CharacteristicSpec(
                        BODY_SENSOR_LOCATION,
                        ("read",),
                        encode_body_sensor_location(self.body_sensor_location),
                    ),
                )
            elif kind == "rsc":
                chars = (CharacteristicSpec(RSC_MEASUREMENT, ("notify",), acquire_notify=acquire),)
            elif kind == "csc":
                chars = (CharacteristicSpec(CSC_MEASUREMENT, ("notify",), acquire_notify=acquire),)
            elif kind == "cycling_power":
                chars = (
                    CharacteristicSpec(
                        CYCLING_POWER_MEASUREMENT, ("notify",), acquire_notify=acquire
                    ),
                    CharacteristicSpec(
                        CYCLING_POWER_FEATURE,
                        ("read",),
                        encode_cycling_power_feature(POWER_METER_FEATURE),
                    ),
                    CharacteristicSpec(
                        SENSOR_LOCATION,
                        ("read",),
                        encode_sensor_location(SensorLocation.LEFT_CRANK),
                    ),
                )
            elif kind == "battery":
                flags = ("read", "notify") if self.battery_notify else ("read",)
                chars = (
                    CharacteristicSpec(
                        BATTERY_LEVEL, flags, self._battery_bytes(), acquire_notify=acquire
                    ),
                )
            else:
                chars = (
                    CharacteristicSpec(
                        MANUFACTURER_NAME,
                        ("read",),
                        encode_device_information_string(self.manufacturer),
                    ),
                    CharacteristicSpec(
                        MODEL_NUMBER, ("read",), encode_device_information_string(self.model)
                    ),
                )
            layout.append(ServiceSpec(SERVICE_UUIDS[kind], chars))
        return layout

    async def accept_connection(self) -> bool:
        if self.slow_connect_s > 0:
            await asyncio.sleep(self.slow_connect_s)
        return self.in_range()

    def resolves_services(self) -> bool:
        return not self.never_resolves_services

    def read_value(self, uuid: str) -> bytes | None:
        if uuid == BATTERY_LEVEL:
            return self._battery_bytes()
        return None

    def write_value(self, uuid: str, value: bytes, with_response: bool) -> None:
        # a band has no writable characteristic: the fake refuses by the flags before this
        raise AttError(AttError.WRITE_NOT_PERMITTED)

    def link_up(self, link: DeviceLink) -> None:
        self._link = link
        self._up = True
        self.link_count += 1
        if self._script_task is None:
            self._script_task = self._spawn(self._play(), "script")
        if self._battery_task is None and self.battery_drain_per_s > 0:
            self._battery_task = self._spawn(self._drain_battery(), "battery")
        self._signal()

    def link_down(self, reason: str) -> None:
        _LOGGER.debug("%s: link down (%s)", self.address, reason)
        self._up = False
        self._signal()

    def subscriptions_changed(self) -> None:
        self._signal()

    # state

    @property
    def connected(self) -> bool:
        """Connected with services resolved."""
        return self._up

    @property
    def battery_percent(self) -> int:
        return max(0, min(100, int(self._battery)))

    def delivered(self, uuid: str | None = None) -> list[bytes]:
        """Payloads a subscriber received, in order (optionally for one characteristic)."""
        return [s.payload for s in self.sent if s.delivered and (uuid is None or s.uuid == uuid)]

    # faults and manual sends

    def notify(self, uuid: str, payload: bytes) -> bool:
        """Notify `payload` on `uuid` now; True when a subscriber got it."""
        return self._send(uuid, bytes(payload), garbage=False)

    def send_garbage(self, uuid: str, data: bytes) -> bool:
        """Notify bytes that break the characteristic's format (recorded with garbage=True)."""
        return self._send(uuid, bytes(data), garbage=True)

    def drop_link(self) -> None:
        """The peripheral ends the link (out of battery, strap taken off): Connected=False."""
        if self._link is not None:
            self._link.disconnect("peripheral")

    def out_of_range(self, seconds: float) -> None:
        """Drop the link and be neither visible nor connectable for `seconds`."""
        self._hidden_until = asyncio.get_running_loop().time() + seconds
        if self._link is not None:
            self._link.disconnect("out-of-range")

    def back_in_range(self) -> None:
        self._hidden_until = 0.0

    # waiting, for tests and demos

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Wait until `condition()` holds: re-checked whenever the band's state changes, and
        every 10 ms for conditions on things the band cannot see."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                changed = self._changed_event()
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.01):
                        await changed.wait()

    async def wait_connected(self, timeout_s: float = 10.0) -> None:
        await self.wait_until(lambda: self._up, timeout_s)

    async def wait_delivered(
        self, count: int, uuid: str | None = None, timeout_s: float = 10.0
    ) -> None:
        await self.wait_until(lambda: len(self.delivered(uuid)) >= count, timeout_s)

    async def wait_script_done(self, timeout_s: float = 10.0) -> None:
        await self.wait_until(
            lambda: self._script_task is not None and self._script_task.done(), timeout_s
        )

    async def close(self) -> None:
        """Stop the script and the battery drain."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # internals

    def _battery_bytes(self) -> bytes:
        return encode_battery_level(self.battery_percent)

    def _subscribed(self, uuid: str) -> bool:
        return self._up and self._link is not None and self._link.subscribed(uuid)

    def _send(self, uuid: str, payload: bytes, *, garbage: bool) -> bool:
        delivered = self._up and self._link is not None and self._link.notify(uuid, payload)
        self.sent.append(
            SentNotification(
                t=asyncio.get_running_loop().time(),
                uuid=uuid,
                payload=payload,
                delivered=delivered,
                link=self.link_count if self._up else 0,
                garbage=garbage,
            )
        )
        self._signal()
        return delivered

    async def _play(self) -> None:
        while True:
            async for item in _items(self.script):
                delay_s, uuid, payload = item
                if delay_s > 0:
                    await asyncio.sleep(delay_s)
                if self.hold_until_subscribed:
                    await self.wait_until(lambda u=uuid: self._subscribed(u), timeout_s=1e9)
                self._send(uuid, bytes(payload), garbage=False)
            if not self.repeat:
                self._signal()
                return

    async def _drain_battery(self) -> None:
        step_s = min(1.0, max(0.01, 1.0 / self.battery_drain_per_s))
        while self._battery > 0:
            await asyncio.sleep(step_s)
            before = self.battery_percent
            self._battery = max(0.0, self._battery - self.battery_drain_per_s * step_s)
            if self.battery_percent != before and self._link is not None:
                value = self._battery_bytes()
                self._link.set_value(BATTERY_LEVEL, value)
                if self.battery_notify and self._subscribed(BATTERY_LEVEL):
                    self._send(BATTERY_LEVEL, value, garbage=False)

    def _spawn(self, coro: object, what: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(
            coro,  # type: ignore[arg-type]
            name=f"virtual-band-{self.address}-{what}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("%s: %s failed", self.address, task.get_name(), exc_info=task.exception())
        self._signal()

    def _changed_event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _signal(self) -> None:
        if self._changed is not None:
            self._changed.set()


async def _items(script: Script) -> AsyncIterable[ScriptItem]:
    if isinstance(script, AsyncIterable):
        async for item in script:
            yield item
    else:
        for item in script:
            yield item


# script builders


def heart_rate_script(
    bpms: Iterable[int],
    interval_s: float = 1.0,
    *,
    contact: bool | None = True,
    rr: bool = True,
    energy_start_kj: int | None = None,
) -> list[Notification]:
    """One Heart Rate Measurement per bpm, `interval_s` apart, with RR intervals from the bpm.

    `contact`: True/False for a strap that reports skin contact, None for one that cannot tell.
    """
    items: list[Notification] = []
    energy = energy_start_kj
    for bpm in bpms:
        measurement = HeartRateMeasurement(
            bpm=bpm,
            contact_supported=contact is not None,
            contact_detected=bool(contact),
            energy_expended_kj=energy,
            rr_intervals=(rr_seconds_to_raw(60.0 / bpm),) if rr and bpm > 0 else (),
            wide_format=bpm > 255,
        )
        items.append(
            Notification(
                interval_s, HEART_RATE_MEASUREMENT, encode_heart_rate_measurement(measurement)
            )
        )
        if energy is not None:
            energy += 1
    return items


def rsc_script(
    cadences_spm: Iterable[int],
    speed_mps: float = 3.0,
    interval_s: float = 1.0,
    *,
    stride_length_m: float | None = None,
    start_distance_m: float | None = 0.0,
) -> list[Notification]:
    """One RSC Measurement per cadence, `interval_s` apart, distance growing at `speed_mps`."""
    items: list[Notification] = []
    distance = start_distance_m
    for cadence in cadences_spm:
        measurement = RSCMeasurement(
            speed_mps=speed_mps,
            cadence_spm=cadence,
            stride_length_m=stride_length_m,
            total_distance_m=distance,
            is_running=speed_mps >= 2.0,
        )
        items.append(Notification(interval_s, RSC_MEASUREMENT, encode_rsc_measurement(measurement)))
        if distance is not None:
            distance += speed_mps * interval_s
    return items


def csc_script(
    count: int,
    crank_rpm: float = 90.0,
    wheel_speed_mps: float = 8.0,
    interval_s: float = 1.0,
    *,
    wheel_circumference_m: float = 2.105,
) -> list[Notification]:
    """`count` CSC Measurements at a steady cadence and speed, counters from zero."""
    items: list[Notification] = []
    event_ticks_per_s = 1024
    for i in range(count):
        elapsed = i * interval_s
        wheel_revs = int(elapsed * wheel_speed_mps / wheel_circumference_m)
        crank_revs = int(elapsed * crank_rpm / 60.0)
        # event time of the last whole revolution, as a sensor stamps it
        wheel_t = wheel_revs * wheel_circumference_m / wheel_speed_mps if wheel_speed_mps else 0.0
        crank_t = crank_revs * 60.0 / crank_rpm if crank_rpm else 0.0
        measurement = CSCMeasurement(
            cumulative_wheel_revolutions=wheel_revs,
            last_wheel_event_time=round(wheel_t * event_ticks_per_s) & 0xFFFF,
            cumulative_crank_revolutions=crank_revs & 0xFFFF,
            last_crank_event_time=round(crank_t * event_ticks_per_s) & 0xFFFF,
        )
        items.append(Notification(interval_s, CSC_MEASUREMENT, encode_csc_measurement(measurement)))
    return items


def cycling_power_script(
    powers_w: Iterable[int],
    crank_rpm: float = 90.0,
    interval_s: float = 1.0,
    *,
    left_balance_percent: float | None = 50.0,
    step_s: float | None = None,
) -> list[Notification]:
    """One Cycling Power Measurement per power, `interval_s` apart, from a crank meter: crank
    revolutions and event time, crank-based accumulated torque (so the mean power over the
    revolutions matches), left-pedal balance and accumulated energy; counters wrap as a real
    meter's do. Each measurement covers `step_s` of the rider's time (default `interval_s`), so
    a test can send a minute of riding in a fraction of a second."""
    step = interval_s if step_s is None else step_s
    items: list[Notification] = []
    revolutions = 0.0
    torque_nm = 0.0  # accumulated, 1/32 N m on the wire, wraps at 2048 N m
    energy_j = 0.0
    last_event_s = 0.0
    for power in powers_w:
        if crank_rpm > 0:
            revs_before = int(revolutions)
            revolutions += crank_rpm / 60.0 * step
            whole = int(revolutions) - revs_before
            # torque per revolution: work per revolution / 2 pi
            torque_nm += whole * max(0, power) * 60.0 / crank_rpm / (2 * math.pi)
            last_event_s = int(revolutions) * 60.0 / crank_rpm
        energy_j += max(0, power) * step
        measurement = CyclingPowerMeasurement(
            instantaneous_power_w=power,
            pedal_power_balance_percent=left_balance_percent,
            pedal_power_balance_left=left_balance_percent is not None,
            accumulated_torque_nm=round(torque_nm * 32) % (2048 * 32) / 32,
            accumulated_torque_crank_based=True,
            cumulative_crank_revolutions=int(revolutions) & 0xFFFF,
            last_crank_event_time=round(last_event_s * 1024) & 0xFFFF,
            accumulated_energy_kj=int(energy_j / 1000) & 0xFFFF,
        )
        items.append(
            Notification(
                interval_s, CYCLING_POWER_MEASUREMENT, encode_cycling_power_measurement(measurement)
            )
        )
    return items
