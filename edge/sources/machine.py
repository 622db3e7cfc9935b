"""A fitness machine over BLE (FTMS): its data in as readings, the coach's commands out.

`MachineLink` is a `BleSensorSource` for one machine: the same scan, connect, reconnect-for-ever
loop and clean-up (one task per device), subscribing to the machine's data record (Indoor Bike,
Treadmill, Rower or Cross Trainer Data), to Fitness Machine Status, and to indications on the
Fitness Machine Control Point. Its `readings()` yields `MachineReading`s and link events like any
source; the machine's status (a target changed at the machine, stop pressed, control taken by
another app) and the answers to commands go to `on_event` as `MachineEvent`s.

Commands (`edge.stream.machine`) are queued with `send` and written by one writer task per
connection, one at a time, as the specification requires: write with response, then wait for the
control point's indication and check its result code before the next. "Control not permitted"
while driving means control was lost; no answer within `response_timeout_s` is a failure. A
release sends the safe load first, then Reset, which ends control, and Reset is sent even when
the safe load is refused. A link lost while the coach held control is reported as control lost:
a machine drops control with the link, and the coach must not think it still drives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from edge.errors import MalformedPayloadError, SensorError
from edge.settings import BleBandConfig, MachineSettings
from edge.sources.ble import BleSensorSource, ReconnectBackoff, _notify_args
from edge.stream.machine import (
    MachineCommand,
    MachineEvent,
    MachineEventKind,
    ReleaseControl,
    RequestControl,
    SetTargetIncline,
    SetTargetPower,
    SetTargetResistance,
    SetTargetSpeed,
    StartMachine,
)
from firmware_bridge.gatt import fitness_machine as ftms
from firmware_bridge.gatt.uuids import (
    FITNESS_MACHINE_CONTROL_POINT,
    FITNESS_MACHINE_DATA,
    FITNESS_MACHINE_SERVICE,
    FITNESS_MACHINE_STATUS,
)

_LOGGER = logging.getLogger(__name__)

#: The data record each machine kind of the config notifies.
DATA_BY_KIND = {
    "bike": FITNESS_MACHINE_DATA["indoor_bike"],
    "treadmill": FITNESS_MACHINE_DATA["treadmill"],
    "rower": FITNESS_MACHINE_DATA["rower"],
    "cross_trainer": FITNESS_MACHINE_DATA["cross_trainer"],
}

_STATUS_EVENTS = {
    ftms.StatusCode.RESET: MachineEventKind.RESET,
    ftms.StatusCode.STOPPED_OR_PAUSED_BY_USER: MachineEventKind.STOPPED_BY_USER,
    ftms.StatusCode.STOPPED_BY_SAFETY_KEY: MachineEventKind.STOPPED_BY_USER,
    ftms.StatusCode.STARTED_OR_RESUMED_BY_USER: MachineEventKind.STARTED_BY_USER,
    ftms.StatusCode.TARGET_SPEED_CHANGED: MachineEventKind.TARGET_SPEED_CHANGED,
    ftms.StatusCode.TARGET_INCLINE_CHANGED: MachineEventKind.TARGET_INCLINE_CHANGED,
    ftms.StatusCode.TARGET_RESISTANCE_LEVEL_CHANGED: MachineEventKind.TARGET_RESISTANCE_CHANGED,
    ftms.StatusCode.TARGET_POWER_CHANGED: MachineEventKind.TARGET_POWER_CHANGED,
    ftms.StatusCode.CONTROL_PERMISSION_LOST: MachineEventKind.CONTROL_LOST,
}


_BACKOFF = ReconnectBackoff()


class MachineControlError(SensorError):
    """A command the machine refused or did not answer; carries the machine's address."""


def status_event(device: str, t: float, status: ftms.FitnessMachineStatus) -> MachineEvent | None:
    """A status notification as the coach's event; None for those it has no use for."""
    kind = _STATUS_EVENTS.get(status.code)
    if kind is None:
        return None
    parameter = status.parameter
    value: float | None = None
    if isinstance(parameter, ftms.SetTargetPower):
        value = float(parameter.power_w)
    elif isinstance(parameter, ftms.SetTargetSpeed):
        value = parameter.speed_kmh
    elif isinstance(parameter, ftms.SetTargetInclination):
        value = parameter.inclination_percent
    elif isinstance(parameter, ftms.SetTargetResistanceLevel):
        value = parameter.level
    detail = status.code.name.lower().replace("_", " ")
    return MachineEvent(device, t, kind, value, detail)


def requests_for(command: MachineCommand) -> list[ftms.ControlPointRequest]:
    """The control point requests that carry out one command, in order."""
    if isinstance(command, RequestControl):
        return [ftms.RequestControl()]
    if isinstance(command, SetTargetPower):
        return [ftms.SetTargetPower(power_w=int(command.watts))]
    if isinstance(command, SetTargetSpeed):
        return [ftms.SetTargetSpeed(speed_kmh=command.kmh)]
    if isinstance(command, SetTargetIncline):
        return [ftms.SetTargetInclination(inclination_percent=command.percent)]
    if isinstance(command, SetTargetResistance):
        return [ftms.SetTargetResistanceLevel(level=command.level)]
    if isinstance(command, StartMachine):
        return [ftms.StartOrResume()]
    if isinstance(command, ReleaseControl):
        return [*([] if command.safe is None else requests_for(command.safe)), ftms.Reset()]
    raise TypeError(f"not a machine command: {command!r}")


class MachineLink(BleSensorSource):
    """One FTMS machine: iterate `readings()` in its own task; `send` commands to it."""

    def __init__(
        self,
        machine: MachineSettings,
        *,
        on_event: Callable[[MachineEvent], None] = lambda event: None,
        reconnect_backoff: Callable[[int, BaseException | None], float] = _BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        response_timeout_s: float = 3.0,
    ) -> None:
        super().__init__(
            BleBandConfig(address=machine.address, name=machine.name),
            reconnect_backoff=reconnect_backoff,
            clock=clock,
        )
        self.machine = machine
        if self.name == "BLE band":
            self.name = f"fitness machine ({machine.kind})"
        self.on_event = on_event
        self.response_timeout_s = response_timeout_s
        #: Every answer the control point gave, in order: (request, result code), for tests
        #: and the status screen.
        self.answers: list[tuple[str, int]] = []
        self._commands: asyncio.Queue[MachineCommand] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._responses: asyncio.Queue[ftms.ControlPointResponse] = asyncio.Queue()
        self._in_control = False
        self._stopping = False
        #: True while the writer carries out a command (a response may be owed).
        self._busy = False

    def send(self, command: MachineCommand) -> None:
        """Queue a command; it is written once the machine is connected, in order."""
        self._commands.put_nowait(command)

    @property
    def in_control(self) -> bool:
        return self._in_control

    # -- the link -------------------------------------------------------------------------------

    def _service_uuids(self) -> list[str]:
        return [FITNESS_MACHINE_SERVICE]

    async def _setup(
        self, client: BleakClient, inbox: Any, subscribed: list[BleakGATTCharacteristic]
    ) -> None:
        chars: dict[str, BleakGATTCharacteristic] = {}
        for char in client.services.characteristics.values():
            chars.setdefault(char.uuid, char)
        data = chars.get(DATA_BY_KIND[self.machine.kind])
        if data is None:
            raise SensorError(
                f"{self.name}: offers no {self.machine.kind} data; is it a "
                f"{self.machine.kind}? (kind = in [[people.machines]])",
                address=self._address,
            )
        self.kinds = (self.machine.kind,)
        self._reset_link_state()
        while not self._responses.empty():
            self._responses.get_nowait()
        notify = _notify_args(self.config.use_acquire_notify)
        try:
            await client.start_notify(data, self._callback(self.machine.kind, inbox), **notify)
            subscribed.append(data)
            status = chars.get(FITNESS_MACHINE_STATUS)
            if status is not None:
                await client.start_notify(status, self._on_status, **notify)
                subscribed.append(status)
            point = chars.get(FITNESS_MACHINE_CONTROL_POINT)
            if point is not None and self.machine.drive:
                # Indications: BlueZ acknowledges each; StartNotify is the only way to get them.
                await client.start_notify(
                    point, self._on_response, bluez={"use_start_notify": True}
                )
                subscribed.append(point)
                self._writer = asyncio.create_task(
                    self._write_commands(client, point), name=f"machine-commands-{self.device}"
                )
            elif self.machine.drive:
                _LOGGER.warning(
                    "%s: no control point: the machine can be read, not driven", self.name
                )
        except BleakError as exc:
            raise SensorError(
                f"{self.name}: the link failed while subscribing: {exc}", address=self._address
            ) from exc

    async def _stop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            await asyncio.wait({writer})  # its end, without swallowing our own cancellation

    async def _disconnect(self, client: BleakClient) -> None:
        await self._stop_writer()
        while not self._commands.empty():  # commands for a link that is gone are void
            self._commands.get_nowait()
        if self._in_control and not self._stopping:
            self._in_control = False
            self.on_event(
                MachineEvent(
                    self.device,
                    self.clock(),
                    MachineEventKind.CONTROL_LOST,
                    detail="the link to the machine was lost",
                )
            )
        await super()._disconnect(client)

    async def _teardown(
        self, client: BleakClient, subscribed: list[BleakGATTCharacteristic]
    ) -> None:
        """Stopping (the daemon ends, the task is cancelled) while in control: leave the machine
        safe and give control back before the link goes, as a release would."""
        self._stopping = True
        try:
            # Let the writer finish what it has (a release on its way), within a bound.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2 * self.response_timeout_s):
                    while (
                        client.is_connected
                        and self._writer is not None
                        and (self._busy or not self._commands.empty())
                    ):
                        await asyncio.sleep(0.01)
            await self._stop_writer()
            point = next((c for c in subscribed if c.uuid == FITNESS_MACHINE_CONTROL_POINT), None)
            if self._in_control and client.is_connected and point is not None:
                safe = (
                    SetTargetResistance(self.machine.safe_resistance)
                    if self.machine.kind == "bike"
                    else None
                )
                for request in requests_for(ReleaseControl("edgecoach is stopping", safe)):
                    try:
                        await self._request(client, point, request)
                    except MachineControlError as exc:
                        _LOGGER.warning("%s", exc)
                self._in_control = False
            await super()._teardown(client, subscribed)
        finally:
            self._stopping = False

    def _on_status(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        t = self.clock()
        try:
            status = ftms.decode_fitness_machine_status(bytes(data))
        except MalformedPayloadError as exc:
            self._note_malformed("status", exc)
            return
        event = status_event(self.device, t, status)
        if event is None:
            return
        if event.kind in (MachineEventKind.CONTROL_LOST, MachineEventKind.RESET):
            self._in_control = False
        self.on_event(event)

    def _on_response(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            response = ftms.decode_control_point_response(bytes(data))
        except MalformedPayloadError as exc:
            self._note_malformed("control point", exc)
            return
        self._responses.put_nowait(response)

    # -- commands -------------------------------------------------------------------------------

    async def _write_commands(self, client: BleakClient, point: BleakGATTCharacteristic) -> None:
        while True:
            self._busy = False
            command = await self._commands.get()
            self._busy = True
            for request in requests_for(command):
                try:
                    await self._request(client, point, request)
                except MachineControlError as exc:
                    self._failed(command, request, exc)
                    if not isinstance(request, ftms.Reset) and isinstance(command, ReleaseControl):
                        continue  # the safe load was refused: still give control back
                    break
            if isinstance(command, ReleaseControl):
                self._in_control = False

    async def _request(
        self, client: BleakClient, point: BleakGATTCharacteristic, request: ftms.ControlPointRequest
    ) -> None:
        op = ftms.op_code_of(request)
        what = op.name.lower().replace("_", " ")
        try:
            await client.write_gatt_char(
                point, ftms.encode_fitness_machine_control_point(request), response=True
            )
            async with asyncio.timeout(self.response_timeout_s):
                while True:
                    response = await self._responses.get()
                    if response.request_op_code == op:
                        break
                    _LOGGER.debug("%s: an answer to another request: %s", self.name, response)
        except TimeoutError:
            raise MachineControlError(
                f"{self.name}: no answer to {what} within {self.response_timeout_s:g} s",
                address=self._address,
            ) from None
        except BleakError as exc:
            raise MachineControlError(
                f"{self.name}: could not write {what}: {exc}", address=self._address
            ) from exc
        self.answers.append((what, response.result))
        if not response.ok:
            code = response.result_code
            name = code.name.lower().replace("_", " ") if code else f"{response.result:#04x}"
            raise MachineControlError(f"{self.name}: {what} refused: {name}", address=self._address)
        if isinstance(request, ftms.RequestControl):
            self._in_control = True
            self.on_event(MachineEvent(self.device, self.clock(), MachineEventKind.CONTROL_GRANTED))
        elif isinstance(request, ftms.Reset):
            self._in_control = False

    def _failed(
        self, command: MachineCommand, request: ftms.ControlPointRequest, exc: MachineControlError
    ) -> None:
        _LOGGER.warning("%s", exc)
        detail = str(exc).split(": ", 1)[-1]
        not_permitted = "control not permitted" in detail
        if not_permitted and self._in_control:
            # Driving, and the machine says we may not: someone else has control now.
            self._in_control = False
            self.on_event(
                MachineEvent(
                    self.device, self.clock(), MachineEventKind.CONTROL_LOST, detail=detail
                )
            )
            return
        self.on_event(
            MachineEvent(self.device, self.clock(), MachineEventKind.COMMAND_FAILED, detail=detail)
        )
