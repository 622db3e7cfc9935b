"""Summaries waiting for the broker: one file each in a folder, bounded, surviving restarts.

A summary is written here (to a temporary name, fsync'd, then renamed) before it is published,
and removed only once the broker has acknowledged it (QoS 1 PUBACK). A crash between the two
sends it again on the next start: the board recognises its id. When the folder holds `limit`
summaries the oldest is dropped, with a warning: the session itself stays in the Pi's store,
only the board's copy is lost. Blocking file I/O: call it from a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Summaries kept for the broker at most; the oldest goes first.
DEFAULT_LIMIT = 1000
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}")
_FILE = re.compile(r"(\d{12})-(.+)\.json")


@dataclass(frozen=True, slots=True)
class Pending:
    id: str
    payload: bytes
    path: Path


class Outbox:
    def __init__(self, folder: Path, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError("the outbox must hold at least one summary")
        self.folder = folder
        self.limit = limit
        self.dropped = 0
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in folder.glob("*.tmp"):  # a write a crash interrupted: never renamed
            stale.unlink(missing_ok=True)

    def _entries(self) -> list[tuple[int, str, Path]]:
        entries = []
        for path in self.folder.iterdir():
            match = _FILE.fullmatch(path.name)
            if match:
                entries.append((int(match.group(1)), match.group(2), path))
        return sorted(entries)

    def put(self, summary_id: str, payload: bytes) -> None:
        """Keep `payload` until `remove(summary_id)`; putting an id already held replaces
        nothing (the first copy is the one sent)."""
        if _ID.fullmatch(summary_id) is None:
            raise ValueError(f"summary id {summary_id!r} is not a safe file name")
        entries = self._entries()
        if any(entry_id == summary_id for _, entry_id, _ in entries):
            return
        number = entries[-1][0] + 1 if entries else 1
        while len(entries) >= self.limit:
            _, old_id, old_path = entries.pop(0)
            old_path.unlink(missing_ok=True)
            self.dropped += 1
            log.warning(
                "fleet outbox full (%d summaries): dropped the oldest, %s; the session "
                "is still in this Pi's store",
                self.limit,
                old_id,
            )
        final = self.folder / f"{number:012d}-{summary_id}.json"
        temporary = final.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, final)
        self._sync_folder()

    def pending(self) -> list[Pending]:
        """Every summary not yet acknowledged, oldest first."""
        out = []
        for _, summary_id, path in self._entries():
            with contextlib.suppress(FileNotFoundError):
                out.append(Pending(summary_id, path.read_bytes(), path))
        return out

    def remove(self, summary_id: str) -> None:
        for _, entry_id, path in self._entries():
            if entry_id == summary_id:
                path.unlink(missing_ok=True)
        self._sync_folder()

    def __len__(self) -> int:
        return len(self._entries())

    def _sync_folder(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
