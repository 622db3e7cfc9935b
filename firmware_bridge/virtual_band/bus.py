"""A private D-Bus system bus for the fake BlueZ, and the environment bleak needs to use it.

bleak's BlueZ backend talks to whatever `DBUS_SYSTEM_BUS_ADDRESS` names, so a throwaway
`dbus-daemon` of type system in a temp dir lets the real backend run against the fake
`org.bluez` in `bluez.py` without a radio, root or the machine's own bus. Debian and Ubuntu ship
`dbus-daemon` in the `dbus` package (`dbus-daemon` on PATH is all that is needed).

`PrivateSystemBus` also puts a stub `bluetoothctl` (printing `bluetoothctl: 5.66`) first on
PATH: bleak runs `bluetoothctl --version` once per process and warns when it is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from firmware_bridge.errors import VirtualBusError

_LOGGER = logging.getLogger(__name__)

#: What the stub prints; bleak refuses to connect below 5.55.
STUB_BLUEZ_VERSION = "5.66"

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
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
    <allow send_destination="*"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


class PrivateSystemBus:
    """A `dbus-daemon --config-file=... --nofork` of type system, living in a temp dir.

    Use as ``async with PrivateSystemBus() as bus:``; while it runs, `DBUS_SYSTEM_BUS_ADDRESS`
    points at it (when `export_env`) and the stub `bluetoothctl` is first on PATH (when
    `stub_bluetoothctl`). `stop()` puts both variables back as they were.
    """

    def __init__(
        self,
        *,
        export_env: bool = True,
        stub_bluetoothctl: bool = True,
        dbus_daemon: str = "dbus-daemon",
        start_timeout_s: float = 10.0,
    ) -> None:
        self._export_env = export_env
        self._stub_bluetoothctl = stub_bluetoothctl
        self._dbus_daemon = dbus_daemon
        self._start_timeout_s = start_timeout_s
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._saved_env: dict[str, str | None] = {}
        self._address: str | None = None

    @property
    def address(self) -> str:
        """The bus address (``unix:path=...,guid=...``); only valid while running."""
        if self._address is None:
            raise RuntimeError("PrivateSystemBus is not running; call start() first")
        return self._address

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> str:
        """Start the daemon and return its address."""
        if self._proc is not None:
            return self.address
        exe = shutil.which(self._dbus_daemon)
        if exe is None:
            raise VirtualBusError(
                f"{self._dbus_daemon} not found: install the 'dbus' package to run the virtual band"
            )
        # a few small files, written off the event loop all the same
        self._tmp = await asyncio.to_thread(tempfile.TemporaryDirectory, prefix="edgecoach-dbus-")
        tmp = Path(self._tmp.name)
        config, bindir = await asyncio.to_thread(_write_files, tmp, self._stub_bluetoothctl)
        log_path = tmp / "dbus-daemon.log"
        try:
            log = await asyncio.to_thread(log_path.open, "wb")
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    exe,
                    f"--config-file={config}",
                    "--nofork",
                    "--print-address=1",
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                )
            finally:
                log.close()
            assert self._proc.stdout is not None
            async with asyncio.timeout(self._start_timeout_s):
                line = await self._proc.stdout.readline()
            address = line.decode().strip()
            if not address:
                said = await asyncio.to_thread(log_path.read_text, errors="replace")
                raise VirtualBusError(f"dbus-daemon exited without printing its address: {said}")
        except BaseException:
            await self.stop()
            raise
        self._address = address
        if bindir is not None:
            self._set_env("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
        if self._export_env:
            self._set_env("DBUS_SYSTEM_BUS_ADDRESS", address)
        _LOGGER.debug("private system bus at %s", address)
        return address

    async def stop(self) -> None:
        """Release bleak's connection to this bus, stop the daemon and restore the environment."""
        if self._address is not None:
            await release_bleak_bluez_manager()
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:
                proc.terminate()
            try:
                async with asyncio.timeout(5.0):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        self._address = None
        if self._tmp is not None:
            await asyncio.to_thread(self._tmp.cleanup)
            self._tmp = None

    def _set_env(self, name: str, value: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

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


def _write_files(tmp: Path, stub_bluetoothctl: bool) -> tuple[Path, Path | None]:
    """The daemon's config and, when wanted, the stub `bluetoothctl`; returns their paths."""
    config = tmp / "system.conf"
    config.write_text(_CONFIG.format(socket=tmp / "system_bus_socket"), encoding="utf-8")
    if not stub_bluetoothctl:
        return config, None
    bindir = tmp / "bin"
    bindir.mkdir()
    stub = bindir / "bluetoothctl"
    stub.write_text(f"#!/bin/sh\necho 'bluetoothctl: {STUB_BLUEZ_VERSION}'\n", encoding="utf-8")
    stub.chmod(0o755)
    return config, bindir


async def release_bleak_bluez_manager() -> None:
    """Close the D-Bus connection bleak's BlueZ manager keeps for the running event loop.

    bleak keeps one manager (and one bus connection) per event loop for the life of the
    process. Before the bus it talks to goes away, drop it quietly so that the manager neither
    logs "D-Bus connection to BlueZ was lost" nor leaves its socket open; the next bleak call
    builds a fresh one. Uses bleak 3.x private names; `tests/test_virtual_band.py` checks that
    they still exist in the installed bleak.
    """
    try:
        from bleak.backends.bluezdbus import manager as bluez_manager
    except ImportError:  # pragma: no cover - bleak without the BlueZ backend
        return
    loop = asyncio.get_running_loop()
    instance = bluez_manager._global_instances.pop(loop, None)
    if instance is None:
        return
    bus, watcher = instance._bus, instance._bus_watcher_task
    instance._bus = None
    instance._bus_watcher_task = None
    # the watcher would log the deliberate disconnect as a lost connection; this manager is
    # already out of bleak's table, so nothing else needs telling
    instance._handle_bus_disconnect = lambda exc: None  # type: ignore[method-assign]
    if bus is not None:
        bus.disconnect()
    if watcher is not None:
        # not cancelled: it awaits the bus's own disconnect future, which a cancel would break
        await asyncio.gather(watcher, return_exceptions=True)
    elif bus is not None:
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()
