"""The store's errors, and what an SQLite error means for a person: full disk, read-only file,
not an edgecoach database, wrong key."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from edge.errors import EdgecoachError

#: Where the database key comes from; said whenever the key is missing.
MISSING_KEY_HINT = (
    "systemd's LoadCredential=edgecoach-db-key (edgecoach.service, from /etc/edgecoach/db.key) "
    "hands the daemon its key as $CREDENTIALS_DIRECTORY/edgecoach-db-key; outside the service, "
    "set [daemon] key_file to a file holding the key (64 hex digits)"
)


class StoreError(EdgecoachError):
    """The session store cannot be opened, read or written."""

    def __init__(self, message: str, *, path: Path | None = None, pending_rows: int = 0) -> None:
        self.path = path
        #: Rows recorded but not yet written, held in memory for the next commit.
        self.pending_rows = pending_rows
        super().__init__(message)


class StoreFullError(StoreError):
    """The disk (or the store's size limit) is full; the rows wait in memory for room."""


class StoreKeyError(StoreError):
    """The database key is missing, malformed, or does not open the store."""

    #: Restarting will not bring the key (systemd: RestartPreventExitStatus=2).
    exit_code = 2


class FeedbackError(StoreError, ValueError):
    """Feedback that cannot be recorded as given (an RPE outside 1..10, an unknown session)."""


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _problem(exc: sqlite3.Error, path: Path, max_bytes: int | None) -> str:
    """What went wrong with the store and what a person can do about it."""
    code = _primary_code(exc)
    if code == sqlite3.SQLITE_FULL:
        if max_bytes is not None:
            return (
                f"{path} has reached its size limit of {max_bytes} bytes, or the disk "
                "holding it is full: free space or raise the limit"
            )
        return f"the disk holding {path} is full: free space"
    if code == sqlite3.SQLITE_READONLY:
        return (
            f"{path} cannot be written (the file, its folder or its disk is read-only): "
            "make it writable"
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return (
            f"{path} is not an edgecoach database or is damaged: stop edgecoach and move it aside"
        )
    if code == sqlite3.SQLITE_IOERR:
        if _disk_is_full(path):  # a -wal or -shm file that could not grow, on a full disk
            return f"the disk holding {path} is full: free space"
        return f"the disk holding {path} failed to read or write ({exc}): check the disk"
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return (
            f"{path} is locked by another program (another edgecoach?): stop it or use "
            "another store"
        )
    if code == sqlite3.SQLITE_CANTOPEN:
        return f"cannot open {path}: check that its folder exists and is writable"
    if code == sqlite3.SQLITE_CONSTRAINT:
        return (
            f"rows for {path} conflict with rows already there ({exc}): is another "
            "edgecoach writing to the same store?"
        )
    return f"SQLite error on {path}: {exc}"


def _disk_is_full(path: Path) -> bool:
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024
