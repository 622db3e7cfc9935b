"""The store's files on disk: private modes (0600 in a 0700 folder), the -wal and -shm
sidecars, fsync of the folder, and zeroing the blocks of a file being replaced."""

from __future__ import annotations

import os
from pathlib import Path


def _private_folder(folder: Path) -> None:
    """The store's folder; one made here is 0700 (only its owner may enter)."""
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


def _private_file(path: Path) -> None:
    """An empty store file, 0600, where there is none; SQLite gives its -wal and -shm files
    the database file's mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _zero(fd: int) -> None:
    size = os.fstat(fd).st_size
    block = bytes(1 << 20)
    os.lseek(fd, 0, os.SEEK_SET)
    written = 0
    while written < size:
        written += os.write(fd, block[: min(len(block), size - written)])
    os.fsync(fd)
