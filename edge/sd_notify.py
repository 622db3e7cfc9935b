"""A minimal sd_notify client: tell systemd that the daemon is ready, alive or stopping.

systemd's `Type=notify` units get the path of a datagram socket in $NOTIFY_SOCKET; a message is
one datagram of newline-separated ``KEY=VALUE`` lines (``READY=1``, ``WATCHDOG=1``,
``STOPPING=1``, ``STATUS=...``). A path that starts with ``@`` names a socket in the abstract
namespace. Outside systemd (a terminal, the tests, another init) there is no $NOTIFY_SOCKET and
every call is a no-op that returns False, so the daemon can call these unconditionally.

With ``WatchdogSec=`` set, systemd also passes $WATCHDOG_USEC (and $WATCHDOG_PID); the daemon
should send ``WATCHDOG=1`` at about half that interval from its event loop, so that a loop that
hangs stops the pings and systemd restarts the service. With ``NotifyAccess=main`` only the main
process may send; this is what the edgecoach unit uses.

Nothing here blocks: the socket is non-blocking, and a full or missing socket is logged and
reported as False, never raised, because failing to notify must not take the daemon down.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)

__all__ = ["notify", "ready", "status", "stopping", "watchdog_interval_s", "watchdog_ping"]

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"


def _address(value: str) -> str | bytes | None:
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        # abstract namespace: a leading NUL byte instead of the '@'
        return b"\0" + value[1:].encode()
    return None


def notify(state: str) -> bool:
    """Send `state` (``KEY=VALUE`` lines) to systemd; True when the datagram was sent.

    False, without an error, when $NOTIFY_SOCKET is not set (not started by systemd), names an
    address this client does not speak (such as ``vsock:``), or the send fails.
    """
    value = os.environ.get(NOTIFY_SOCKET_ENV, "")
    if not value:
        return False
    address = _address(value)
    if address is None:
        log.warning(
            "$%s=%r is not a unix socket path; not notifying systemd", NOTIFY_SOCKET_ENV, value
        )
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)
            sock.sendto(state.encode(), address)
    except OSError as exc:
        log.warning("could not notify systemd at %s (%s): %s", value, state.split("\n")[0], exc)
        return False
    return True


def ready(status_text: str | None = None) -> bool:
    """``READY=1``: start-up is done (Type=notify units are 'starting' until this arrives)."""
    return notify("READY=1" if status_text is None else f"READY=1\nSTATUS={_one_line(status_text)}")


def watchdog_ping() -> bool:
    """``WATCHDOG=1``: the daemon is alive; send it every `watchdog_interval_s() / 2` seconds."""
    return notify("WATCHDOG=1")


def stopping(status_text: str | None = None) -> bool:
    """``STOPPING=1``: shutdown has begun (say so on SIGTERM, before closing things)."""
    return notify(
        "STOPPING=1" if status_text is None else f"STOPPING=1\nSTATUS={_one_line(status_text)}"
    )


def status(text: str) -> bool:
    """``STATUS=...``: one line that `systemctl status edgecoach` shows."""
    return notify(f"STATUS={_one_line(text)}")


def watchdog_interval_s() -> float | None:
    """The watchdog timeout systemd enforces on this process, in seconds, or None when off.

    None when $WATCHDOG_USEC is absent, not a positive number, or $WATCHDOG_PID names another
    process (the variables were inherited by a child).
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


def _one_line(text: str) -> str:
    return " ".join(text.split())
