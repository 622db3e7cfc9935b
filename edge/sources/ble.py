"""The BLE backend: one heart-rate strap, footpod or cadence sensor over bleak.

`BleSensorSource.readings()` scans for the band (by address, by name, or the first device that
advertises one of the wanted services), connects through
`bleak_retry_connector.establish_connection`, subscribes to Heart Rate Measurement (0x2A37),
RSC Measurement (0x2A53) and CSC Measurement (0x2A5B), whichever the band has, reads Battery
Level (0x2A19) and Body Sensor Location (0x2A38) where present, and yields decoded readings on
the session clock. When the link drops it yields `LinkEvent(DISCONNECTED)`, nothing invented,
and reconnects, forever, with a backoff that is a pure function of the attempt and the error.

Notification callbacks only push into an `asyncio.Queue` owned by the session; the generator
yields from it. Cancelling the task that iterates (or closing the generator) stops the
notifications, disconnects, and closes bleak's per-connection D-Bus connection. Use one
source, in its own task, per band.

Known bleak 3.1 behaviour this works around: after a disconnect started by the peripheral the
client keeps its own D-Bus connection open (one socket per reconnect, for ever); calling
`client.disconnect()` after the disconnected callback closes it. `tests/test_ble_source.py`
keeps the count of open fds flat over many forced reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from edge.errors import MalformedPayloadError, SensorError
from edge.settings import BleBandConfig
from edge.sources.notifications import NotificationDecoder
from edge.stream.readings import (
    LinkEvent,
    LinkState,
    Reading,
)
from firmware_bridge import gatt
from firmware_bridge.gatt.uuids import (
    BATTERY_LEVEL,
    BODY_SENSOR_LOCATION,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    SENSOR_MEASUREMENTS,
    SENSOR_SERVICES,
)

_LOGGER = logging.getLogger(__name__)

#: Sensor kinds, the service each is found by and the measurement each notifies.
KIND_SERVICES = SENSOR_SERVICES
KIND_MEASUREMENTS = SENSOR_MEASUREMENTS
_MEASUREMENT_KINDS = {uuid: kind for kind, uuid in KIND_MEASUREMENTS.items()}


class BandNotFoundError(SensorError):
    """No advertisement from the band within the scan window."""


class ServicesNotResolvedError(SensorError):
    """The link came up but BlueZ never finished discovering the band's GATT services."""


@dataclass(frozen=True, slots=True)
class ReconnectBackoff:
    """Seconds to wait before reconnect `attempt` after `error`: a pure function of both.

    `attempt` counts consecutive tries since the last good session, from 1. A link that was up
    and then dropped (`error` None) is retried at once; a band that was not seen in a scan is
    retried sooner than other failures, since the scan itself already waited.
    """

    first_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0
    max_not_found_s: float = 5.0

    def __call__(self, attempt: int, error: BaseException | None) -> float:
        if error is None:
            return 0.0
        delay = min(self.max_s, self.first_s * self.factor ** max(0, attempt - 1))
        if isinstance(error, BandNotFoundError):
            return min(delay, self.max_not_found_s)
        return delay


class BleState(enum.Enum):
    IDLE = "idle"
    SCANNING = "scanning"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    BACKING_OFF = "backing off"
    STOPPED = "stopped"


@dataclass(slots=True)
class BleStats:
    """Counters for logs, the status screen and tests."""

    scans: int = 0
    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    notifications: int = 0
    malformed: int = 0
    malformed_by_kind: dict[str, int] = field(default_factory=dict)
    last_error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class _Packet:
    kind: str
    uuid: str
    data: bytes
    t: float


@dataclass(frozen=True, slots=True)
class _LinkLost:
    t: float


_Item = _Packet | _LinkLost

_scan_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _scan_lock() -> asyncio.Lock:
    """One scan at a time per process: bluetoothd answers a second StartDiscovery from the same
    D-Bus connection (bleak shares one per event loop) with org.bluez.Error.InProgress."""
    loop = asyncio.get_running_loop()
    lock = _scan_locks.get(loop)
    if lock is None:
        lock = _scan_locks[loop] = asyncio.Lock()
    return lock


def _notify_args(use_acquire_notify: bool) -> dict[str, Any]:
    return {"bluez": {"use_start_notify": not use_acquire_notify}}


class BleSensorSource:
    """A `SensorSource` for one BLE band. Iterate `readings()` in the band's own task."""

    def __init__(
        self,
        config: BleBandConfig,
        *,
        reconnect_backoff: Callable[[int, BaseException | None], float] = ReconnectBackoff(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.reconnect_backoff = reconnect_backoff
        self.clock = clock
        self.name = config.name or config.address or "BLE band"
        self.stats = BleStats()
        self.state = BleState.IDLE
        #: Decoded Body Sensor Location (0x2A38) of the last connection, where the band has one.
        self.body_sensor_location: gatt.BodySensorLocation | None = None
        #: Manufacturer and model strings of the last connection, where the band has them.
        self.device_info: dict[str, str] = {}
        #: The kinds the band offered at the last connection.
        self.kinds: tuple[str, ...] = ()
        self._address = config.address.upper() if config.address else None
        self._iterating = False
        self._decoder = NotificationDecoder(self.device, config.wheel_circumference_m)
        self._failure_logged: str | None = None

    @property
    def device(self) -> str:
        """What readings carry in `device`: the address once known."""
        return self._address or self.name

    async def readings(self) -> AsyncIterator[Reading]:
        """Yield readings until cancelled, reconnecting for ever.

        Close it by cancelling the task that iterates, or with `contextlib.aclosing`.
        """
        if self._iterating:
            raise RuntimeError(f"{self.name}: readings() is already being iterated")
        self._iterating = True
        attempt = 0
        try:
            while True:
                error: BaseException | None = None
                streamed = False
                try:
                    async with contextlib.aclosing(self._session()) as session:
                        async for reading in session:
                            streamed = True
                            yield reading
                except SensorError as exc:
                    error = exc
                    self._note_failure(exc)
                except Exception as exc:  # the band task must survive anything
                    error = exc
                    self.stats.connect_failures += 1
                    self.stats.last_error = exc
                    _LOGGER.exception("%s: unexpected error in the BLE session", self.name)
                # a session that streamed starts the count again, however it ended
                attempt = 1 if streamed else attempt + 1
                delay = self.reconnect_backoff(attempt, error)
                if delay > 0:
                    self.state = BleState.BACKING_OFF
                    _LOGGER.debug("%s: reconnect %d in %.2f s", self.name, attempt, delay)
                    await asyncio.sleep(delay)
        finally:
            self.state = BleState.STOPPED
            self._iterating = False

    # one connection, from scan to link loss

    async def _session(self) -> AsyncIterator[Reading]:
        device = await self._find()
        inbox: asyncio.Queue[_Item] = asyncio.Queue()
        client: BleakClient | None = None
        subscribed: list[BleakGATTCharacteristic] = []
        try:
            client = await self._connect(device, inbox)
            connected_at = self.clock()
            battery = await self._setup(client, inbox, subscribed)
            self.stats.connects += 1
            self._failure_logged = None
            self.state = BleState.STREAMING
            _LOGGER.info("%s: connected (%s)", self.name, ", ".join(self.kinds))
            yield LinkEvent(self.device, connected_at, LinkState.CONNECTED, ", ".join(self.kinds))
            poll = battery is not None and "notify" not in battery.properties
            next_poll = self.clock() + self.config.battery_poll_s
            while True:
                try:
                    async with asyncio.timeout(
                        max(0.0, next_poll - self.clock()) if poll else None
                    ):
                        item = await inbox.get()
                except TimeoutError:
                    next_poll = self.clock() + self.config.battery_poll_s
                    assert battery is not None
                    await self._read_battery(client, battery, inbox)
                    continue
                if isinstance(item, _LinkLost):
                    lost_at = item.t
                    break
                reading = self._decode(item)
                if reading is not None:
                    yield reading
            # the link is gone: close bleak's D-Bus connection for it (the fd leak), then
            # hand over what was sent before the drop and is still on its way
            await self._disconnect(client)
            client = None
            last_t = lost_at
            for item in await self._drain(inbox):
                reading = self._decode(item)
                if reading is not None:
                    last_t = max(last_t, reading.t)
                    yield reading
            self.stats.disconnects += 1
            _LOGGER.info("%s: link lost", self.name)
            yield LinkEvent(self.device, last_t, LinkState.DISCONNECTED, "link lost")
        finally:
            if client is not None:
                await self._teardown(client, subscribed)

    async def _find(self) -> BLEDevice:
        cfg = self.config
        self.state = BleState.SCANNING
        uuids = self._service_uuids()
        address = self._address
        name = cfg.name.casefold() if cfg.name and not address else None

        def wanted(device: BLEDevice, adv: AdvertisementData) -> bool:
            if address is not None:
                return device.address.upper() == address
            if name is not None:
                return (device.name or adv.local_name or "").casefold() == name
            return bool({u.lower() for u in adv.service_uuids} & set(uuids))

        try:
            async with _scan_lock():
                self.stats.scans += 1
                # by address the advertisement's UUIDs do not matter: some bands leave them out
                device = await BleakScanner.find_device_by_filter(
                    wanted,
                    timeout=cfg.scan_timeout_s,
                    **({} if address else {"service_uuids": uuids}),
                )
        except (BleakError, OSError, EOFError) as exc:
            raise SensorError(
                f"{self.name}: cannot scan: {exc or type(exc).__name__}; check that bluetoothd"
                " is running and the adapter is powered (bluetoothctl power on)",
                address=address,
            ) from exc
        if device is None:
            what = address or (
                f'named "{cfg.name}"' if cfg.name else "offering " + "/".join(cfg.kinds)
            )
            raise BandNotFoundError(
                f"{self.name}: no band {what} seen in a {cfg.scan_timeout_s:g} s scan; check that"
                " it is switched on, worn (straps sleep without skin contact), in range and"
                " not connected to a phone or watch",
                address=address,
            )
        if self._address is None:
            # from now on reconnect to this very band, not to whichever is nearest
            self._address = device.address.upper()
            self._decoder.device = self.device
        if device.name and self.name in (cfg.name, cfg.address, "BLE band"):
            self.name = f"{device.name} {device.address.upper()}"
        return device

    def _service_uuids(self) -> list[str]:
        """The services a device found without an address or name must advertise."""
        return [KIND_SERVICES[k] for k in self.config.kinds]

    async def _connect(self, device: BLEDevice, inbox: asyncio.Queue[_Item]) -> BleakClient:
        cfg = self.config
        self.state = BleState.CONNECTING
        created: list[BleakClient] = []

        def make_client(*args: Any, **kwargs: Any) -> BleakClient:
            client = BleakClientWithServiceCache(*args, **kwargs)
            created.append(client)
            return client

        def on_disconnected(_client: BleakClient) -> None:
            inbox.put_nowait(_LinkLost(self.clock()))

        attempt = asyncio.create_task(
            establish_connection(
                cast(type[BleakClient], make_client),
                device,
                self.name,
                disconnected_callback=on_disconnected,
                max_attempts=cfg.connect_attempts,
            ),
            name=f"ble-connect-{device.address}",
        )
        try:
            done, _ = await asyncio.wait({attempt}, timeout=cfg.connect_timeout_s)
        except asyncio.CancelledError:
            attempt.cancel()
            await self._discard(attempt)
            raise
        if not done:
            # looked at before cancelling: the cancel's own clean-up takes the link down
            link_was_up = bool(created) and created[-1].is_connected
            attempt.cancel()
            await self._discard(attempt)
            if link_was_up:
                raise ServicesNotResolvedError(
                    f"{self.name}: connected, but its GATT services did not resolve within"
                    f" {cfg.connect_timeout_s:g} s; restart the band, and if it keeps happening"
                    f" remove it from BlueZ (bluetoothctl remove {device.address}) so its"
                    " service cache is rebuilt",
                    address=device.address,
                )
            raise SensorError(
                f"{self.name}: did not connect within {cfg.connect_timeout_s:g} s; move it"
                " closer or restart it",
                address=device.address,
            )
        try:
            client = attempt.result()
        except (BleakError, EOFError, BrokenPipeError, TimeoutError) as exc:
            raise SensorError(
                f"{self.name}: could not connect: {exc or type(exc).__name__}",
                address=device.address,
            ) from exc
        # a link that came up and went down during a failed try inside establish_connection
        # left a _LinkLost behind; nothing is subscribed yet, so whatever is queued is stale
        while not inbox.empty():
            inbox.get_nowait()
        if not client.is_connected:
            await self._disconnect(client)
            raise SensorError(
                f"{self.name}: the link dropped right after connecting", address=device.address
            )
        return client

    async def _discard(self, attempt: asyncio.Task[BleakClient]) -> None:
        """Wait for a cancelled connection attempt to unwind; one that won the race against
        the cancel is disconnected, so no link is left behind."""
        await asyncio.wait({attempt})
        if not attempt.cancelled() and attempt.exception() is None:
            await self._disconnect(attempt.result())

    async def _setup(
        self,
        client: BleakClient,
        inbox: asyncio.Queue[_Item],
        subscribed: list[BleakGATTCharacteristic],
    ) -> BleakGATTCharacteristic | None:
        """Subscribe and read what the band has; returns its battery level characteristic.

        A battery level read goes into `inbox`, in order with the notifications that arrive
        meanwhile. The characteristics are looked up once, now: bleak forgets the services
        the moment the link drops, which can happen at any await from here on.
        """
        cfg = self.config
        chars: dict[str, BleakGATTCharacteristic] = {}
        for char in client.services.characteristics.values():
            # the first of a repeated UUID (bleak's get_characteristic raises on repeats)
            chars.setdefault(char.uuid, char)
        kinds = tuple(k for k in cfg.kinds if KIND_MEASUREMENTS[k] in chars)
        if not kinds:
            raise SensorError(
                f"{self.name}: offers none of {'/'.join(cfg.kinds)}; is it the right band?",
                address=self._address,
            )
        self.kinds = kinds
        self._reset_link_state()
        battery = chars.get(BATTERY_LEVEL)
        try:
            for kind in kinds:
                char = chars[KIND_MEASUREMENTS[kind]]
                await client.start_notify(
                    char, self._callback(kind, inbox), **_notify_args(cfg.use_acquire_notify)
                )
                subscribed.append(char)
            # nice to have: a band that refuses these reads still streams
            self.body_sensor_location = None
            location = chars.get(BODY_SENSOR_LOCATION)
            if location is not None and "heart_rate" in kinds:
                try:
                    self.body_sensor_location = gatt.decode_body_sensor_location(
                        await client.read_gatt_char(location)
                    )
                except (BleakError, MalformedPayloadError) as exc:
                    _LOGGER.debug("%s: body sensor location: %s", self.name, exc)
            for uuid, key in ((MANUFACTURER_NAME, "manufacturer"), (MODEL_NUMBER, "model")):
                char = chars.get(uuid)
                if char is None:
                    continue
                try:
                    self.device_info[key] = gatt.decode_device_information_string(
                        uuid, await client.read_gatt_char(char)
                    )
                except (BleakError, MalformedPayloadError) as exc:
                    _LOGGER.debug("%s: %s: %s", self.name, key, exc)
            if battery is not None:
                await self._read_battery(client, battery, inbox)
                if "notify" in battery.properties:
                    await client.start_notify(
                        battery,
                        self._callback("battery", inbox),
                        **_notify_args(cfg.use_acquire_notify),
                    )
                    subscribed.append(battery)
        except BleakError as exc:
            raise SensorError(
                f"{self.name}: the link failed while subscribing: {exc}", address=self._address
            ) from exc
        return battery

    def _callback(
        self, kind: str, inbox: asyncio.Queue[_Item]
    ) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def on_notify(char: BleakGATTCharacteristic, data: bytearray) -> None:
            inbox.put_nowait(_Packet(kind, char.uuid, bytes(data), self.clock()))

        return on_notify

    async def _read_battery(
        self, client: BleakClient, char: BleakGATTCharacteristic, inbox: asyncio.Queue[_Item]
    ) -> None:
        try:
            data = await client.read_gatt_char(char)
        except BleakError as exc:
            _LOGGER.debug("%s: battery read failed: %s", self.name, exc)
            return
        inbox.put_nowait(_Packet("battery", char.uuid, bytes(data), self.clock()))

    async def _drain(self, inbox: asyncio.Queue[_Item]) -> list[_Packet]:
        """Packets still queued after a link loss; with AcquireNotify also those still in the
        sockets, which bleak reads on its own schedule, not in order with the D-Bus signal."""
        packets: list[_Packet] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (
            self.config.acquire_drain_s if self.config.use_acquire_notify else 0.0
        )
        while True:
            try:
                item = inbox.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return packets
                try:
                    async with asyncio.timeout(remaining):
                        item = await inbox.get()
                except TimeoutError:
                    return packets
            if isinstance(item, _Packet):
                packets.append(item)

    async def _disconnect(self, client: BleakClient) -> None:
        try:
            async with asyncio.timeout(self.config.disconnect_timeout_s):
                await client.disconnect()
        except (BleakError, TimeoutError, EOFError, OSError) as exc:
            _LOGGER.debug("%s: disconnect: %r", self.name, exc)

    async def _teardown(
        self, client: BleakClient, subscribed: list[BleakGATTCharacteristic]
    ) -> None:
        """Unsubscribe and disconnect; runs on cancellation and on every failed session."""
        if client.is_connected:
            for char in subscribed:
                try:
                    async with asyncio.timeout(self.config.disconnect_timeout_s):
                        await client.stop_notify(char)
                except (BleakError, TimeoutError, EOFError, OSError) as exc:
                    _LOGGER.debug("%s: stop_notify %s: %r", self.name, char.uuid, exc)
        await self._disconnect(client)

    # decoding

    def _reset_link_state(self) -> None:
        """Per-connection history: rates and step counts never span a link loss."""
        self._decoder.reset_link()

    def _decode(self, item: _Packet) -> Reading | None:
        try:
            reading = self._decoder.decode(item.t, item.uuid, item.data)
        except MalformedPayloadError as exc:
            self._note_malformed(item.kind, exc)
            return None
        self.stats.notifications += 1
        return reading

    def _note_malformed(self, kind: str, exc: MalformedPayloadError) -> None:
        self.stats.malformed += 1
        seen = self.stats.malformed_by_kind.get(kind, 0)
        self.stats.malformed_by_kind[kind] = seen + 1
        if seen == 0:
            _LOGGER.warning(
                "%s: dropped a malformed %s notification: %s (further ones are counted and"
                " logged at debug level)",
                self.name,
                kind,
                exc,
            )
        else:
            _LOGGER.debug("%s: malformed %s notification: %s", self.name, kind, exc)

    def _note_failure(self, exc: SensorError) -> None:
        self.stats.connect_failures += 1
        self.stats.last_error = exc
        message = str(exc)
        if message != self._failure_logged:
            _LOGGER.warning("%s", message)
            self._failure_logged = message
        else:
            _LOGGER.debug("%s", message)


# scanning for bands to choose from


@dataclass(frozen=True, slots=True)
class ScanResult:
    """One band found by `scan`."""

    address: str
    name: str | None
    rssi: int | None
    #: Which of heart_rate / rsc / csc it advertises.
    kinds: tuple[str, ...]
    #: Battery level from a brief connection; None when it has none or the read failed.
    battery_percent: int | None


async def scan(
    timeout_s: float = 5.0, *, read_battery: bool = True, connect_timeout_s: float = 10.0
) -> list[ScanResult]:
    """List nearby heart-rate, footpod and cadence sensors, strongest signal first."""
    async with _scan_lock():
        found = await BleakScanner.discover(
            timeout=timeout_s, return_adv=True, service_uuids=list(KIND_SERVICES.values())
        )
    results: list[ScanResult] = []
    for device, adv in found.values():
        advertised = {u.lower() for u in adv.service_uuids}
        kinds = tuple(k for k, uuid in KIND_SERVICES.items() if uuid in advertised)
        battery = await _read_battery_briefly(device, connect_timeout_s) if read_battery else None
        results.append(
            ScanResult(
                address=device.address.upper(),
                name=device.name or adv.local_name,
                rssi=adv.rssi,
                kinds=kinds,
                battery_percent=battery,
            )
        )
    results.sort(key=lambda r: -(r.rssi if r.rssi is not None else -1000))
    return results


async def _read_battery_briefly(device: BLEDevice, timeout_s: float) -> int | None:
    details = device.details if isinstance(device.details, dict) else {}
    if details.get("props", {}).get("Connected"):
        # in use by someone else (maybe one of our own sources): our disconnect would end
        # their link too, since BlueZ has one link per device
        return None
    client: BleakClient | None = None
    try:
        async with asyncio.timeout(timeout_s):
            client = await establish_connection(
                BleakClientWithServiceCache, device, device.name or device.address, max_attempts=1
            )
            char = next(
                (c for c in client.services.characteristics.values() if c.uuid == BATTERY_LEVEL),
                None,
            )
            if char is None:
                return None
            return gatt.decode_battery_level(await client.read_gatt_char(char))
    except (BleakError, TimeoutError, MalformedPayloadError, EOFError, OSError) as exc:
        _LOGGER.debug("%s: no battery level: %r", device.address, exc)
        return None
    finally:
        if client is not None:
            with contextlib.suppress(BleakError, TimeoutError, EOFError, OSError):
                async with asyncio.timeout(5.0):
                    await client.disconnect()


__all__ = [
    "KIND_MEASUREMENTS",
    "KIND_SERVICES",
    "BandNotFoundError",
    "BleBandConfig",
    "BleSensorSource",
    "BleState",
    "BleStats",
    "ReconnectBackoff",
    "ScanResult",
    "ServicesNotResolvedError",
    "scan",
]
