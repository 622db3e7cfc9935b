"""A real gym broker for the fleet tests: `edgecoach fleet init` files, Mosquitto on a free
loopback port, and configs for Pis and the board."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.fleet.pki import add_pi, init_fleet

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto",) if os.access(p, os.X_OK)), None
)
needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto is not installed (apt-get install -y mosquitto)"
)
SITE = "gym"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Broker:
    folder: Path
    port: int
    log: Path
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.folder / "mosquitto.conf")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def kill(self) -> None:
        """SIGKILL: the broker dies with no chance to save or say goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def fleet_toml(self, name: str, *, enabled: bool = True) -> str:
        """The `[fleet]` section for Pi `name` (or the board), its files in the fleet folder."""
        if name == "board":
            files = (self.folder / "board.crt", self.folder / "board.key")
        else:
            files = (
                self.folder / "pis" / name / f"{name}.crt",
                self.folder / "pis" / name / f"{name}.key",
            )
        return (
            f'[fleet]\nenabled = {"true" if enabled else "false"}\nsite = "{SITE}"\n'
            + (f'pi = "{name}"\n' if name != "board" else "")
            + f'broker_host = "127.0.0.1"\nbroker_port = {self.port}\n'
            f'ca_file = "{self.folder / "ca.crt"}"\ncert_file = "{files[0]}"\n'
            f'key_file = "{files[1]}"\nkeepalive_s = 3\n'
        )


def make_broker(tmp_path: Path, pis: dict[str, str]) -> Broker:
    """Fleet files for `pis` (name -> room) and a broker for them (not started)."""
    port = free_port()
    folder = tmp_path / "fleet"
    # As root, Mosquitto would drop to its own user, which cannot read tmp_path's broker key.
    init_fleet(
        folder,
        SITE,
        ["127.0.0.1"],
        port=port,
        bind_address="127.0.0.1",
        broker_runs_as="root" if os.getuid() == 0 else "",
    )
    for name, room in pis.items():
        add_pi(folder, name, room=room)
    return Broker(folder, port, tmp_path / "mosquitto.log")
