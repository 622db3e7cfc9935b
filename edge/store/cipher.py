"""SQLCipher: opening an encrypted store with its raw key, telling an encrypted file from
anything else without writing to it, and encrypting a plain store once, in place."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

from edge.store.errors import MISSING_KEY_HINT, StoreError, StoreKeyError, _primary_code, _problem
from edge.store.files import _fsync_folder, _sidecars, _zero
from edge.store.schema import APPLICATION_ID, MIGRATIONS, _schema_version

log = logging.getLogger(__name__)


SQLITE_MAGIC = b"SQLite format 3\x00"


#: SQLCipher writes pages of 4096 bytes (SQLCipher 3: 1024), so an encrypted file's size is a
#: multiple of this; it is the only thing that tells an encrypted file from other bytes.
_CIPHER_PAGE_MULTIPLE = 1024


_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


def _check_existing(path: Path, driver: ModuleType, literal: str | None) -> bool:
    """Refuse a file that is not an edgecoach database, is damaged, or that the key does not
    open, without writing to it. True when it is a plain (unencrypted) SQLite file."""
    damaged = StoreError(
        f"{path} is not an edgecoach database or is damaged; it was left "
        "untouched; move it aside and edgecoach will start a new one",
        path=path,
    )
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(
            f"cannot read {path}: {exc.strerror}; check its permissions", path=path
        ) from exc
    plain = head == SQLITE_MAGIC
    if not plain:
        if size % _CIPHER_PAGE_MULTIPLE:  # not whole pages: not an SQLCipher file either
            raise damaged
        if literal is None:
            raise StoreKeyError(
                f"no database key to open {path}: it is not a plain SQLite file, so either it "
                f"is encrypted ({MISSING_KEY_HINT}), or it is not an edgecoach database or is "
                "damaged; it was left untouched; move it aside only if it is not encrypted, "
                "and edgecoach will start a new one",
                path=path,
            )
    # Read-only: this connection never writes the file, nor checkpoints a -wal into it.
    uri = f"{path.resolve().as_uri()}?mode=ro"
    reader = sqlite3 if plain else driver
    errors = _errors_of(reader)
    try:
        check = reader.connect(uri, uri=True, timeout=5.0)
    except errors as exc:
        raise StoreError(_problem(exc, path, None), path=path) from exc
    try:
        if not plain:
            assert literal is not None
            _unlock(check, literal, path, errors)
        verdict = check.execute("PRAGMA quick_check").fetchall()
        application_id = check.execute("PRAGMA application_id").fetchone()[0]
        tables = {
            row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        version = _schema_version(check) if "schema_version" in tables else 0
    except errors as exc:
        if _primary_code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            raise damaged from exc
        raise StoreError(_problem(exc, path, None), path=path) from exc
    finally:
        check.close()
    if verdict != [("ok",)]:
        raise damaged
    if application_id != APPLICATION_ID and (application_id != 0 or tables):
        raise damaged
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{path} was written by a newer edgecoach (schema version {version}; "
            f"this one knows up to {len(MIGRATIONS)}): upgrade edgecoach; the file "
            "was left untouched",
            path=path,
        )
    return plain


def _key_literal(key: str | bytes) -> str:
    """The key as SQLCipher's raw-key literal, x'<64 hex digits>'; never shown in a message."""
    if isinstance(key, bytes | bytearray):
        if len(key) != 32:
            raise StoreKeyError(f"a database key is 32 bytes (64 hex digits), not {len(key)} bytes")
        return f"x'{bytes(key).hex()}'"
    if isinstance(key, str):
        text = key.strip()
        if not _HEX_KEY.fullmatch(text):
            raise StoreKeyError(
                f"a database key is 64 hex digits (32 bytes); this one has "
                f"{len(text)} characters"
                + ("" if len(text) != 64 else ", not all of them hex digits")
            )
        return f"x'{text.lower()}'"
    raise TypeError(f"a database key is str (hex) or bytes, not {type(key).__name__}")


def _sqlcipher(path: Path) -> ModuleType:
    try:
        from sqlcipher3 import dbapi2
    except ImportError as exc:
        raise StoreError(
            f"{path} is to be encrypted but SQLCipher is not installed: "
            "pip install 'sqlcipher3>=0.6.2'",
            path=path,
        ) from exc
    return dbapi2


def _errors_of(driver: ModuleType) -> tuple[type[Exception], ...]:
    return (sqlite3.Error,) if driver is sqlite3 else (sqlite3.Error, driver.Error)


def _unlock(conn: Any, literal: str, path: Path, errors: tuple[type[Exception], ...]) -> None:
    """Give an SQLCipher connection its key, before anything else, and check that it opens."""
    conn.execute("PRAGMA cipher_log_level = NONE")  # our errors say it; no stderr noise
    conn.execute(f'PRAGMA key = "{literal}"')
    row = conn.execute("PRAGMA cipher_version").fetchone()
    if not row or not row[0]:  # a plain SQLite under the sqlcipher3 name: it would not encrypt
        raise StoreError(
            f"the sqlcipher3 module in use does not encrypt (no cipher_version), "
            f"so {path} is not opened; reinstall it: pip install --force-reinstall "
            "'sqlcipher3>=0.6.2'",
            path=path,
        )
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except errors as exc:
        if _primary_code(exc) == sqlite3.SQLITE_NOTADB:
            raise StoreKeyError(
                f"the database key does not open {path}: wrong key; the file "
                "was left untouched; give edgecoach the key it was created "
                "with (or move the file aside to start an empty store)",
                path=path,
            ) from exc
        raise


def _encrypt_in_place(path: Path, driver: ModuleType, literal: str) -> None:
    """Turn the plain store at `path` into an encrypted one, crash-safe, and wipe the old file.

    The encrypted copy is written beside it and renamed over it; the old file, no longer
    linked, is then overwritten with zeros through a descriptor kept open across the rename.
    """
    errors = _errors_of(driver)
    staging = path.with_name(path.name + ".encrypting")
    for leftover in (staging, *_sidecars(staging)):
        leftover.unlink(missing_ok=True)
    log.warning("%s is not encrypted: encrypting it with the database key (once)", path)
    try:
        source = driver.connect(str(path), timeout=5.0, isolation_level=None)
        try:
            source.execute("ATTACH DATABASE ? AS encrypted KEY ?", (str(staging), literal))
            source.execute("SELECT sqlcipher_export('encrypted')")
            source.execute(f"PRAGMA encrypted.application_id = {APPLICATION_ID}")
            source.execute("DETACH DATABASE encrypted")
        finally:
            source.close()
    except errors as exc:
        staging.unlink(missing_ok=True)
        raise StoreError(_problem(exc, path, None) + "; it was left as it was", path=path) from exc
    if any(p.exists() for p in _sidecars(path)):
        staging.unlink(missing_ok=True)
        raise StoreError(
            f"cannot encrypt {path} while another program has it open: stop it "
            "and open the store again; it was left as it was",
            path=path,
        )
    try:
        with staging.open("rb+") as handle:
            info = path.stat()  # keep the owner and mode: root may be running this
            os.fchmod(handle.fileno(), info.st_mode & 0o7777)
            if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                os.fchown(handle.fileno(), info.st_uid, info.st_gid)
            os.fsync(handle.fileno())
        old = os.open(path, os.O_RDWR)
        try:
            os.replace(staging, path)
            _fsync_folder(path.parent)
            _zero(old)
        finally:
            os.close(old)
    except OSError as exc:
        raise StoreError(
            f"cannot replace {path} by its encrypted copy: {exc.strerror}; check "
            "the folder's permissions and free space",
            path=path,
        ) from exc
