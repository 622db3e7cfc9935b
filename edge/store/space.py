"""Room on the disk for the store: said at start, before a session is coached, not after.

A disk that fills while the daemon runs is handled by the store (rows wait in memory, and are
counted when they cannot); a disk that is already (nearly) full at start is said loudly up front:
the person would otherwise be coached through a whole session that is never stored.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["BYTES_PER_SAMPLE", "space_warning"]

#: What one stored second of one person costs on disk: the row, its index entry, and its copy
#: in the -wal until the next checkpoint (measured: about 160 bytes; rounded up).
BYTES_PER_SAMPLE = 400
#: Warn when less than this much recording time fits.
WARN_BELOW_S = 3600


def space_warning(database: Path, people: int) -> str | None:
    """A line to say loudly when the disk holding `database` has room for less than an hour
    of `people`'s samples; None when there is room."""
    folder = database.parent
    while not folder.is_dir() and folder != folder.parent:  # the store's folder is made later
        folder = folder.parent
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    free = stats.f_bavail * stats.f_frsize
    seconds = free // (BYTES_PER_SAMPLE * max(1, people))
    if seconds >= WARN_BELOW_S:
        return None
    if seconds < 60:
        return (
            f"the disk holding {database} is full ({free // 1024} KiB free): this "
            "session will be coached but NOT stored; free space on it"
        )
    return (
        f"the disk holding {database} has {free // 1024} KiB free, room for about "
        f"{seconds // 60} minutes of samples: past that the session is coached but not "
        "stored; free space on it"
    )
