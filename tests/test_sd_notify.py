"""edge.sd_notify against a real AF_UNIX datagram socket, as systemd's notify socket is."""

from __future__ import annotations

import logging
import os
import socket
import struct
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import sd_notify


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound datagram socket standing in for systemd's, named by $NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    if len(str(path)) > 100:  # sun_path holds 108 bytes
        path = Path(tempfile.mkdtemp(prefix="ec-", dir="/tmp")) / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        yield sock
    finally:
        sock.close()
        path.unlink(missing_ok=True)


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_and_watchdog_arrive_as_datagrams(notify_socket: socket.socket) -> None:
    assert sd_notify.ready() is True
    assert received(notify_socket) == "READY=1"
    assert sd_notify.watchdog_ping() is True
    assert received(notify_socket) == "WATCHDOG=1"
    assert sd_notify.stopping() is True
    assert received(notify_socket) == "STOPPING=1"


def test_status_lines_are_one_line(notify_socket: socket.socket) -> None:
    assert sd_notify.ready("coaching\n  2 bands") is True
    assert received(notify_socket) == "READY=1\nSTATUS=coaching 2 bands"
    assert sd_notify.status("waiting for a band") is True
    assert received(notify_socket) == "STATUS=waiting for a band"
    assert sd_notify.notify("RELOADING=1\nMONOTONIC_USEC=1") is True
    assert received(notify_socket) == "RELOADING=1\nMONOTONIC_USEC=1"


def test_the_sender_is_this_process(notify_socket: socket.socket) -> None:
    """NotifyAccess=main: systemd accepts a message only if its credentials name the main PID."""
    notify_socket.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    assert sd_notify.watchdog_ping()
    data, ancillary, _, _ = notify_socket.recvmsg(4096, socket.CMSG_SPACE(12))
    assert data == b"WATCHDOG=1"
    level, kind, creds = ancillary[0]
    assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
    pid, uid, gid = struct.unpack("iII", creds[:12])
    assert (pid, uid, gid) == (os.getpid(), os.getuid(), os.getgid())


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"edgecoach-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify.ready() is True
        assert received(sock) == "READY=1"


def test_no_notify_socket_is_a_quiet_no_op(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    with caplog.at_level(logging.DEBUG, logger="edge.sd_notify"):
        assert sd_notify.ready() is False
        assert sd_notify.watchdog_ping() is False
        assert sd_notify.stopping() is False
    assert caplog.records == []


@pytest.mark.parametrize("value", ["vsock:2:1234", "@", "relative/path"])
def test_unsupported_addresses_are_refused(
    value: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    with caplog.at_level(logging.WARNING, logger="edge.sd_notify"):
        assert sd_notify.ready() is False
    assert "not a unix socket path" in caplog.text


def test_a_vanished_socket_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    with caplog.at_level(logging.WARNING, logger="edge.sd_notify"):
        assert sd_notify.watchdog_ping() is False
    assert "could not notify systemd" in caplog.text


def test_a_full_socket_does_not_block(notify_socket: socket.socket) -> None:
    sent = 0
    while sd_notify.watchdog_ping():  # nobody reads: the queue fills, then sends fail at once
        sent += 1
        assert sent < 100_000
    assert sent > 0


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sd_notify.watchdog_interval_s() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert sd_notify.watchdog_interval_s() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sd_notify.watchdog_interval_s() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # inherited by a child
    assert sd_notify.watchdog_interval_s() is None
    monkeypatch.setenv("WATCHDOG_PID", "x")
    assert sd_notify.watchdog_interval_s() is None
    monkeypatch.delenv("WATCHDOG_PID")
    for bad in ("0", "-5", "soon", ""):
        monkeypatch.setenv("WATCHDOG_USEC", bad)
        assert sd_notify.watchdog_interval_s() is None
