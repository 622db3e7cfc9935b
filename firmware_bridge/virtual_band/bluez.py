"""A fake `org.bluez` on a D-Bus bus, faithful enough for bleak's real BlueZ backend.

What it serves, and why (see shared/notes/ble-testing.md):

- `org.bluez.Adapter1` at `/org/bluez/hci0`, powered, with the "central" role. Discovery
  sessions are kept per D-Bus sender as bluetoothd does: a second `StartDiscovery` from the
  same connection gets `org.bluez.Error.InProgress`.
- One `org.bluez.Device1` per peripheral, exported when a discovery first sees it; while any
  discovery runs, every in-range peripheral that is not connected "advertises" by an RSSI
  `PropertiesChanged` each `advertise_interval_s` (bleak reports nothing else).
- `Connect` raises `Connected`, then, after `resolve_delay_s`, exports the GATT objects at
  `<device>/serviceXXXX/charXXXX` and sets `ServicesResolved`. A disconnect from either side
  clears `ServicesResolved`, removes the GATT objects (a non-bonded device's database is not
  kept) and emits `Connected=False`; a peripheral-side link loss is only that signal.
- `GattCharacteristic1` with `ReadValue`, `StartNotify`/`StopNotify` (a notification or an
  indication is a `PropertiesChanged(Value)`; bluetoothd confirms indications itself), and
  `AcquireNotify` with `NotifyAcquired` where the peripheral offers it and the characteristic
  notifies (bluetoothd offers it for "notify", never for "indicate" only): one end of a
  `socketpair(AF_UNIX, SOCK_SEQPACKET)` per subscription, one notification per packet.
- `WriteValue(value, options)` with bluetoothd's options: "type" ("request" = write with
  response, "command" = without; by default whichever the flags allow, request first) and
  "offset" (only 0: no long writes). A type the flags do not allow is
  `org.bluez.Error.NotSupported`, as bluetoothd answers. The peripheral sees
  `write_value(uuid, value, with_response)`; an `AttError` it raises becomes the D-Bus error
  bluetoothd makes of that ATT error code for a request, and vanishes for a command (a write
  without response gets no answer).

Not faithful: pairing, descriptors, MTU exchange, long and reliable writes, advertising data
other than UUIDs, name and RSSI, discovery filters (accepted, not applied; bleak filters by UUID
itself), and bluetoothd's own retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Annotated, Any, Protocol, Self

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusInt16,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt16,
)
from dbus_fast.constants import PropertyAccess
from dbus_fast.errors import DBusError
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

_LOGGER = logging.getLogger(__name__)

BLUEZ_SERVICE = "org.bluez"
ADAPTER_INTERFACE = "org.bluez.Adapter1"
DEVICE_INTERFACE = "org.bluez.Device1"
GATT_SERVICE_INTERFACE = "org.bluez.GattService1"
GATT_CHARACTERISTIC_INTERFACE = "org.bluez.GattCharacteristic1"

#: ATT MTU the fake reports for AcquireNotify (the LE default).
DEFAULT_MTU = 23

#: What bluetoothd (before 5.62) answers a Connect to a device that does not respond.
UNREACHABLE_REASON = "Software caused connection abort"

DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusObjectPathList = Annotated[list[str], DBusSignature("ao")]
DBusAcquired = Annotated[list[Any], DBusSignature("hq")]


def _error(name: str, text: str) -> DBusError:
    return DBusError(f"org.bluez.Error.{name}", text)


class AttError(Exception):
    """An ATT error response from the peripheral to a write or read request."""

    WRITE_NOT_PERMITTED = 0x03
    REQUEST_NOT_SUPPORTED = 0x06
    INVALID_OFFSET = 0x07
    INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
    #: Common profile error codes (Core Specification Supplement, Part B).
    CCCD_IMPROPERLY_CONFIGURED = 0xFD
    PROCEDURE_ALREADY_IN_PROGRESS = 0xFE
    OUT_OF_RANGE = 0xFF

    def __init__(self, code: int) -> None:
        super().__init__(f"ATT error {code:#04x}")
        self.code = code

    def dbus_error(self) -> DBusError:
        """What bluetoothd (src/gatt-client.c, create_gatt_dbus_error) makes of this code."""
        if self.code == self.WRITE_NOT_PERMITTED:
            return _error("NotPermitted", "Write not permitted")
        if self.code == self.REQUEST_NOT_SUPPORTED:
            return _error("NotSupported", "Operation is not supported")
        if self.code == self.INVALID_OFFSET:
            return _error("InvalidArguments", "Invalid offset")
        if self.code == self.INVALID_ATTRIBUTE_VALUE_LENGTH:
            return _error("InvalidArguments", "Invalid Length")
        return _error("Failed", f"Operation failed with ATT error: {self.code:#04x}")


def _option(options: dict[str, Any], name: str) -> Any:
    """The plain value of one entry of a D-Bus a{sv} options dict, or None."""
    variant = options.get(name)
    return None if variant is None else getattr(variant, "value", variant)


@dataclass(frozen=True, slots=True)
class CharacteristicSpec:
    """One characteristic a peripheral offers: its UUID, BlueZ flags and value at connect."""

    uuid: str
    flags: tuple[str, ...] = ("read",)
    value: bytes = b""
    #: Offer AcquireNotify (the `NotifyAcquired` property) on a notifying characteristic.
    acquire_notify: bool = True


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    uuid: str
    characteristics: tuple[CharacteristicSpec, ...]


class Peripheral(Protocol):
    """What the fake BlueZ needs from a peripheral (`VirtualBand` implements it)."""

    address: str
    name: str

    def advertised_uuids(self) -> list[str]:
        """Service UUIDs in the advertisement."""
        ...

    def in_range(self) -> bool:
        """Whether the peripheral can be seen and connected now."""
        ...

    def gatt_services(self) -> list[ServiceSpec]:
        """The GATT database, read at each connection."""
        ...

    async def accept_connection(self) -> bool:
        """Called by Connect before the link is up; may sleep. False: does not answer."""
        ...

    def resolves_services(self) -> bool:
        """False for a peripheral whose GATT discovery never completes."""
        ...

    def read_value(self, uuid: str) -> bytes | None:
        """The current value for ReadValue, or None to use the value at connect."""
        ...

    def write_value(self, uuid: str, value: bytes, with_response: bool) -> None:
        """A central wrote `value`; raise `AttError` to refuse it."""
        ...

    def link_up(self, link: DeviceLink) -> None:
        """Services are resolved: the peripheral may notify through `link` from now on."""
        ...

    def link_down(self, reason: str) -> None:
        """The link went down (`reason`: "peripheral", "central" or "out-of-range")."""
        ...

    def subscriptions_changed(self) -> None:
        """A central started or stopped notifications on one of its characteristics."""
        ...

    async def close(self) -> None:
        """The fake is stopping or the peripheral was removed: end its own tasks."""
        ...


class _Adapter1(ServiceInterface):
    def __init__(self, fake: FakeBluez) -> None:
        super().__init__(ADAPTER_INTERFACE)
        self._fake = fake

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self._fake.adapter_address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return "edgecoach-virtual"

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        return "edgecoach-virtual"

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Pairable(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> DBusBool:
        return self._fake.discovering

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> DBusStrList:
        return ["central", "peripheral"]

    @dbus_method()
    def SetDiscoveryFilter(self, properties: DBusDict):
        # Accepted and not applied: bleak filters advertisements by UUID itself.
        return None

    @dbus_method()
    def GetDiscoveryFilters(self) -> DBusStrList:
        return ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData"]

    @dbus_method()
    def RemoveDevice(self, device: DBusObjectPath):
        self._fake._remove_device_object(device)

    # StartDiscovery and StopDiscovery are answered by FakeBluez._on_message, which can see
    # the sender: bluetoothd keeps one discovery session per D-Bus connection.


class _Device1(ServiceInterface):
    def __init__(self, link: DeviceLink) -> None:
        super().__init__(DEVICE_INTERFACE)
        self._link = link

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self._link.peripheral.address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "random"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self._link.peripheral.name

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        return self._link.peripheral.name

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> DBusObjectPath:
        return self._link.fake.adapter_path

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Trusted(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Blocked(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def LegacyPairing(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> DBusBool:
        return self._link.connected

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> DBusBool:
        return self._link.services_resolved

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        return self._link.peripheral.advertised_uuids()

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> DBusInt16:
        return self._link.rssi

    @dbus_method()
    async def Connect(self):
        await self._link.connect_from_central()

    @dbus_method()
    def Disconnect(self):
        self._link.disconnect("central")

    @dbus_method()
    def Pair(self):
        raise _error("NotSupported", "The virtual band does not pair")

    @dbus_method()
    def CancelPairing(self):
        raise _error("DoesNotExist", "No pairing in progress")


class _GattService1(ServiceInterface):
    def __init__(self, device_path: str, uuid: str) -> None:
        super().__init__(GATT_SERVICE_INTERFACE)
        self._device_path = device_path
        self._uuid = uuid

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> DBusObjectPath:
        return self._device_path

    @dbus_property(access=PropertyAccess.READ)
    def Includes(self) -> DBusObjectPathList:
        return []


class _GattCharacteristic1(ServiceInterface):
    """A characteristic; notifications by StartNotify and `PropertiesChanged(Value)`."""

    def __init__(self, link: DeviceLink, service_path: str, spec: CharacteristicSpec) -> None:
        super().__init__(GATT_CHARACTERISTIC_INTERFACE)
        self._link = link
        self._service_path = service_path
        self.spec = spec
        self.value = bytes(spec.value)
        self.notifying = False
        self.acquired: socket.socket | None = None

    @property
    def can_notify(self) -> bool:
        return "notify" in self.spec.flags or "indicate" in self.spec.flags

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.spec.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self._service_path

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:
        return self.notifying

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return list(self.spec.flags)

    @dbus_property(access=PropertyAccess.READ)
    def MTU(self) -> DBusUInt16:
        return DEFAULT_MTU

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        if "read" not in self.spec.flags:
            raise _error("NotPermitted", "Read not permitted")
        self._link.require_connected()
        current = self._link.peripheral.read_value(self.spec.uuid)
        if current is not None:
            self.value = bytes(current)
        return self.value

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict):
        flags = self.spec.flags
        kind = _option(options, "type")
        if kind is None:
            kind = "request" if "write" in flags else "command"
        allowed = {"request": "write", "command": "write-without-response"}.get(kind)
        if allowed is None:
            # "reliable" needs prepared writes, which the fake does not offer
            raise _error("NotSupported", "Operation is not supported")
        if allowed not in flags:
            raise _error("NotSupported", "Operation is not supported")
        offset = _option(options, "offset") or 0
        if offset:
            raise _error("InvalidArguments", "Invalid offset")
        self._link.require_connected()
        try:
            self._link.peripheral.write_value(self.spec.uuid, bytes(value), kind == "request")
        except AttError as error:
            if kind == "request":
                raise error.dbus_error() from None
            _LOGGER.debug("write command to %s refused: %s", self.spec.uuid, error)

    @dbus_method()
    def StartNotify(self):
        if not self.can_notify:
            raise _error("NotSupported", "Operation is not supported")
        self._link.require_connected()
        if self.acquired is not None:
            raise _error("NotPermitted", "Notify acquired")
        if not self.notifying:
            self.notifying = True
            self.emit_properties_changed({"Notifying": True})
            self._link.peripheral.subscriptions_changed()

    @dbus_method()
    def StopNotify(self):
        if not self.notifying:
            raise _error("Failed", "No notify session started")
        self.notifying = False
        self.emit_properties_changed({"Notifying": False})
        self._link.peripheral.subscriptions_changed()

    def notify(self, data: bytes) -> bool:
        """Send one notification to whoever subscribed; False when nobody has."""
        if self.acquired is not None:
            try:
                self.acquired.send(data)
            except OSError as exc:
                _LOGGER.debug("acquired notify socket for %s closed: %s", self.spec.uuid, exc)
                self.release_acquired()
                return False
            return True
        if self.notifying:
            self.value = bytes(data)
            self.emit_properties_changed({"Value": self.value})
            return True
        return False

    def release_acquired(self) -> None:
        """Close the AcquireNotify socket (the central sees end-of-file)."""
        sock, self.acquired = self.acquired, None
        if sock is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()
        self._emit_acquired(False)
        self._link.peripheral.subscriptions_changed()

    def _emit_acquired(self, acquired: bool) -> None:
        """Overridden where the characteristic offers AcquireNotify."""

    def stop(self) -> None:
        """The link went down: no subscription survives it."""
        self.release_acquired()
        if self.notifying:
            self.notifying = False
            self.emit_properties_changed({"Notifying": False})
            self._link.peripheral.subscriptions_changed()


class _AcquirableCharacteristic1(_GattCharacteristic1):
    """A notifying characteristic that also offers AcquireNotify."""

    @dbus_property(access=PropertyAccess.READ)
    def NotifyAcquired(self) -> DBusBool:
        return self.acquired is not None

    @dbus_method()
    def AcquireNotify(self, options: DBusDict) -> DBusAcquired:
        self._link.require_connected()
        if self.acquired is not None or self.notifying:
            raise _error("InProgress", "Notify already acquired")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        self.acquired = ours
        loop = asyncio.get_running_loop()
        loop.add_reader(ours.fileno(), self._on_acquired_readable)
        fd = theirs.detach()
        # dbus-fast sends the reply (and dups the fd into it) when this returns; our copy is
        # closed a moment later, never before the reply has gone.
        self._link.fake._close_soon(fd)
        self._emit_acquired(True)
        self._link.peripheral.subscriptions_changed()
        return [fd, DEFAULT_MTU]

    def _on_acquired_readable(self) -> None:
        sock = self.acquired
        if sock is None:
            return
        try:
            data = sock.recv(DEFAULT_MTU)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # the central closed its end: BlueZ ends the notify session
            self.release_acquired()

    def _emit_acquired(self, acquired: bool) -> None:
        self.emit_properties_changed({"NotifyAcquired": acquired})


class DeviceLink:
    """BlueZ's side of one peripheral: its Device1 object and, while resolved, its GATT objects."""

    def __init__(self, fake: FakeBluez, peripheral: Peripheral) -> None:
        self.fake = fake
        self.peripheral = peripheral
        self.path = f"{fake.adapter_path}/dev_{peripheral.address.upper().replace(':', '_')}"
        self.device = _Device1(self)
        self.exported = False
        self.connected = False
        self.services_resolved = False
        self.rssi = -58
        #: How many times a central called Connect / Disconnect on this device.
        self.connect_calls = 0
        self.disconnect_calls = 0
        self._rssi_cycle = itertools.cycle((-58, -61, -57, -63, -60))
        self._connecting = False
        self._resolve_task: asyncio.Task[None] | None = None
        self._gatt: list[tuple[str, ServiceInterface]] = []
        self._chars: dict[str, _GattCharacteristic1] = {}

    # discovery

    def export_device(self) -> None:
        if not self.exported:
            self.fake.bus.export(self.path, self.device)
            self.exported = True

    def advertise(self) -> None:
        """One advertisement seen: export on first sight, then an RSSI change."""
        if not self.exported:
            self.export_device()
            return
        self.rssi = next(self._rssi_cycle)
        self.device.emit_properties_changed({"RSSI": self.rssi})

    # connection

    def require_connected(self) -> None:
        if not self.connected:
            raise _error("NotConnected", "Not Connected")

    async def connect_from_central(self) -> None:
        self.connect_calls += 1
        if self.connected:
            return
        if self._connecting:
            raise _error("InProgress", "In Progress")
        self._connecting = True
        try:
            if not self.peripheral.in_range():
                await asyncio.sleep(self.fake.connect_fail_s)
                raise _error("Failed", UNREACHABLE_REASON)
            answered = await self.peripheral.accept_connection()
            if not answered or not self.peripheral.in_range():
                raise _error("Failed", UNREACHABLE_REASON)
            if not self._connecting:
                # a Disconnect while connecting cancels the connection attempt
                raise _error("Failed", "Operation was aborted")
        finally:
            self._connecting = False
        self.connected = True
        self.device.emit_properties_changed({"Connected": True})
        self._resolve_task = asyncio.create_task(
            self._resolve_services(), name=f"fake-bluez-resolve-{self.peripheral.address}"
        )

    async def _resolve_services(self) -> None:
        await asyncio.sleep(self.fake.resolve_delay_s)
        if not self.connected or not self.peripheral.resolves_services():
            return
        self._export_gatt(self.peripheral.gatt_services())
        self.services_resolved = True
        self.device.emit_properties_changed({"ServicesResolved": True})
        self.peripheral.link_up(self)

    def _export_gatt(self, services: Iterable[ServiceSpec]) -> None:
        handle = 0x000A
        for service in services:
            service_path = f"{self.path}/service{handle:04x}"
            iface = _GattService1(self.path, service.uuid)
            self.fake.bus.export(service_path, iface)
            self._gatt.append((service_path, iface))
            handle += 1
            for spec in service.characteristics:
                char_path = f"{service_path}/char{handle:04x}"
                # bluetoothd offers AcquireNotify for notifications only, not indications
                cls = (
                    _AcquirableCharacteristic1
                    if "notify" in spec.flags and spec.acquire_notify
                    else _GattCharacteristic1
                )
                char = cls(self, service_path, spec)
                self.fake.bus.export(char_path, char)
                self._gatt.append((char_path, char))
                self._chars[spec.uuid] = char
                handle += 2  # value handle + CCCD, as a real database would number them
            handle = (handle + 0x0F) & ~0x0F

    def disconnect(self, reason: str) -> None:
        """Take the link down (`reason`: "central", "peripheral" or "out-of-range")."""
        if reason == "central":
            self.disconnect_calls += 1
        if self._connecting:
            self._connecting = False
        if not self.connected:
            return
        if self._resolve_task is not None:
            self._resolve_task.cancel()
            self._resolve_task = None
        for char in self._chars.values():
            char.stop()
        if self.services_resolved:
            self.services_resolved = False
            self.device.emit_properties_changed({"ServicesResolved": False})
        for path, iface in reversed(self._gatt):
            self.fake.bus.unexport(path, iface)
        self._gatt.clear()
        self._chars.clear()
        self.connected = False
        self.device.emit_properties_changed({"Connected": False})
        self.peripheral.link_down(reason)

    # GATT traffic

    def notify(self, uuid: str, data: bytes) -> bool:
        """Notify `data` on characteristic `uuid`; False if not connected or not subscribed."""
        char = self._chars.get(uuid)
        if char is None or not self.services_resolved:
            return False
        return char.notify(bytes(data))

    def indicate(self, uuid: str, data: bytes) -> bool:
        """Indicate `data` on `uuid`. bluetoothd confirms indications itself and hands them to
        the central exactly as notifications, so this is `notify` under its own name."""
        return self.notify(uuid, data)

    def subscribed(self, uuid: str) -> bool:
        char = self._chars.get(uuid)
        return char is not None and (char.notifying or char.acquired is not None)

    def set_value(self, uuid: str, data: bytes) -> None:
        """Change a characteristic's value without notifying (what the next read returns)."""
        char = self._chars.get(uuid)
        if char is not None:
            char.value = bytes(data)

    def close(self) -> None:
        if self.connected:
            self.disconnect("peripheral")
        if self.exported:
            self.fake.bus.unexport(self.path, self.device)
            self.exported = False


class FakeBluez:
    """`org.bluez` with one adapter, serving `Peripheral`s (such as `VirtualBand`s).

    ``async with FakeBluez() as bluez: bluez.add(band)`` on the bus that
    `DBUS_SYSTEM_BUS_ADDRESS` names (or `bus_address`). It runs in the caller's event loop.
    """

    def __init__(
        self,
        bus_address: str | None = None,
        *,
        adapter: str = "hci0",
        adapter_address: str = "00:1A:7D:DA:71:13",
        advertise_interval_s: float = 0.1,
        resolve_delay_s: float = 0.02,
        connect_fail_s: float = 0.2,
    ) -> None:
        self._bus_address = bus_address
        self.adapter_path = f"/org/bluez/{adapter}"
        self.adapter_address = adapter_address
        self.advertise_interval_s = advertise_interval_s
        self.resolve_delay_s = resolve_delay_s
        self.connect_fail_s = connect_fail_s
        self._bus: MessageBus | None = None
        self._adapter = _Adapter1(self)
        self._links: dict[str, DeviceLink] = {}
        self._discovery_sessions: set[str] = set()
        self._advertiser: asyncio.Task[None] | None = None
        self._fds_to_close: dict[int, asyncio.TimerHandle] = {}

    @property
    def bus(self) -> MessageBus:
        if self._bus is None:
            raise RuntimeError("FakeBluez is not running; call start() first")
        return self._bus

    @property
    def discovering(self) -> bool:
        return bool(self._discovery_sessions)

    @property
    def links(self) -> dict[str, DeviceLink]:
        """DeviceLink by upper-case address."""
        return self._links

    async def start(self) -> None:
        address = self._bus_address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
        if not address:
            raise RuntimeError("no bus: start a PrivateSystemBus or pass bus_address")
        bus = MessageBus(bus_address=address, bus_type=BusType.SYSTEM, negotiate_unix_fd=True)
        try:
            await bus.connect()
            bus.add_message_handler(self._on_message)
            await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="AddMatch",
                    signature="s",
                    body=[
                        (
                            "type='signal',sender='org.freedesktop.DBus',"
                            "interface='org.freedesktop.DBus',member='NameOwnerChanged'"
                        )
                    ],
                )
            )
            bus.export(self.adapter_path, self._adapter)
            await bus.request_name(BLUEZ_SERVICE)
        except BaseException:
            bus.disconnect()
            raise
        self._bus = bus

    async def stop(self) -> None:
        if self._advertiser is not None:
            self._advertiser.cancel()
            await asyncio.gather(self._advertiser, return_exceptions=True)
            self._advertiser = None
        self._discovery_sessions.clear()
        bus = self._bus
        if bus is None:
            return
        for link in list(self._links.values()):
            link.close()
            await link.peripheral.close()
        for fd, handle in list(self._fds_to_close.items()):
            handle.cancel()
            self._close_fd(fd)
        self._bus = None
        bus.disconnect()
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def add(self, peripheral: Peripheral) -> DeviceLink:
        """Make `peripheral` visible to discoveries from now on."""
        key = peripheral.address.upper()
        if key in self._links:
            raise ValueError(f"a peripheral with address {key} is already added")
        link = DeviceLink(self, peripheral)
        self._links[key] = link
        return link

    async def remove(self, address: str) -> None:
        link = self._links.pop(address.upper(), None)
        if link is None:
            return
        if self._bus is not None:
            link.close()
        await link.peripheral.close()

    def _remove_device_object(self, path: str) -> None:
        for link in self._links.values():
            if link.path == path:
                if link.connected:
                    link.disconnect("central")
                if link.exported:
                    self.bus.unexport(link.path, link.device)
                    link.exported = False
                return
        raise _error("DoesNotExist", "Does Not Exist")

    # discovery sessions, one per D-Bus sender as in bluetoothd

    def _on_message(self, msg: Message) -> Message | bool | None:
        if msg.message_type is MessageType.SIGNAL:
            gone = msg.member == "NameOwnerChanged" and not msg.body[2]
            if gone and msg.body[0] in self._discovery_sessions:
                self._end_discovery(msg.body[0])
            return None
        if (
            msg.message_type is not MessageType.METHOD_CALL
            or msg.interface != ADAPTER_INTERFACE
            or msg.path != self.adapter_path
        ):
            return None
        sender = msg.sender or ""
        if msg.member == "StartDiscovery":
            if sender in self._discovery_sessions:
                return Message.new_error(
                    msg, "org.bluez.Error.InProgress", "Operation already in progress"
                )
            self._start_discovery(sender)
            return Message.new_method_return(msg)
        if msg.member == "StopDiscovery":
            if sender not in self._discovery_sessions:
                return Message.new_error(msg, "org.bluez.Error.Failed", "No discovery started")
            self._end_discovery(sender)
            return Message.new_method_return(msg)
        return None

    def _start_discovery(self, sender: str) -> None:
        was_discovering = self.discovering
        self._discovery_sessions.add(sender)
        if not was_discovering:
            self._adapter.emit_properties_changed({"Discovering": True})
            self._advertiser = asyncio.create_task(self._advertise(), name="fake-bluez-advertise")

    def _end_discovery(self, sender: str) -> None:
        self._discovery_sessions.discard(sender)
        if not self.discovering:
            if self._advertiser is not None:
                self._advertiser.cancel()
                self._advertiser = None
            self._adapter.emit_properties_changed({"Discovering": False})

    async def _advertise(self) -> None:
        while True:
            for link in list(self._links.values()):
                if link.peripheral.in_range() and not link.connected:
                    link.advertise()
            await asyncio.sleep(self.advertise_interval_s)

    # AcquireNotify fds

    def _close_soon(self, fd: int, delay_s: float = 0.1) -> None:
        handle = asyncio.get_running_loop().call_later(delay_s, self._close_fd, fd)
        self._fds_to_close[fd] = handle

    def _close_fd(self, fd: int) -> None:
        self._fds_to_close.pop(fd, None)
        with contextlib.suppress(OSError):
            os.close(fd)


__all__ = [
    "UNREACHABLE_REASON",
    "AttError",
    "CharacteristicSpec",
    "DeviceLink",
    "FakeBluez",
    "Peripheral",
    "ServiceSpec",
]
