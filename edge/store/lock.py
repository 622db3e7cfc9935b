"""Who is recording into a store: a lock the daemon holds while it runs.

`edgecoach run` holds an exclusive `flock` on `<database>.lock` for as long as it records;
commands that must not run beside it (`edgecoach forget`, which deletes rows the daemon may be
writing after) ask `recording_daemon` first and refuse with what to do. The kernel drops the lock
when the daemon's process ends, however it ends (kill -9 included), so a stale file never
blocks anyone; the file holds the daemon's pid only to name it in messages.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Self

from edge.store.errors import StoreError

__all__ = ["RecordingLock", "lock_path", "recording_daemon"]


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class RecordingLock:
    """Held by the daemon while it records into `database`; `acquire` refuses a second one."""

    def __init__(self, database: Path) -> None:
        self.database = Path(database)
        self._fd: int | None = None

    def acquire(self) -> None:
        path = lock_path(self.database)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot create {path}: {exc.strerror}; the store's folder must be writable",
                path=self.database,
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid_in(fd)
            os.close(fd)
            raise StoreError(
                f"another edgecoach daemon{_pid_text(holder)} is already recording into "
                f"{self.database}: stop it (sudo systemctl stop edgecoach) or give this one "
                "another --state-dir",
                path=self.database,
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def recording_daemon(database: Path) -> int | None:
    """The pid of the daemon recording into `database` now (0 when it cannot be read), or
    None when no daemon is."""
    path = lock_path(Path(database))
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid_in(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _pid_in(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _pid_text(pid: int | None) -> str:
    return f" (pid {pid})" if pid else ""
