"""Where the database key comes from, and the one way every command opens the store with it.

On the device systemd hands the key to the daemon as a credential: edgecoach.service has
`LoadCredential=edgecoach-db-key:/etc/edgecoach/db.key`, so the daemon reads it from
`$CREDENTIALS_DIRECTORY/edgecoach-db-key` while /etc/edgecoach/db.key itself stays root-only.
Outside the service (an admin running `edgecoach forget` as root, say) the key comes from the
file named by `[daemon] key_file`. Tests and development pass a key explicitly, or none: then the
store is plain SQLite.

A key file holds 32 random bytes as 64 hex digits and a newline, as systemd/install.sh writes it
(`od -An -tx1 -N32 /dev/urandom`). No message ever shows the key or any part of it.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from edge.settings import DaemonSettings
from edge.store.errors import MISSING_KEY_HINT, StoreError, StoreKeyError
from edge.store.sessions import DATABASE_NAME, SessionStore

__all__ = [
    "CREDENTIAL_NAME",
    "StoreKeyError",
    "find_key",
    "open_store",
    "parse_key",
    "read_key_file",
]

log = logging.getLogger(__name__)

#: The credential's name in edgecoach.service's LoadCredential=.
CREDENTIAL_NAME = "edgecoach-db-key"
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


def parse_key(text: str | bytes, *, source: str) -> bytes:
    """The 32-byte key held as 64 hex digits in `text` (surrounding whitespace and the newline
    are ignored); `source` names where it came from in the error."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise StoreKeyError(
                f"{source} does not hold a database key: expected 64 hex "
                "digits and a newline, found bytes that are not text"
            ) from None
    digits = text.strip()
    if not _HEX_KEY.fullmatch(digits):
        found = (
            f"{len(digits)} characters"
            if len(digits) != 64
            else "64 characters that are not all hex digits"
        )
        raise StoreKeyError(
            f"{source} does not hold a database key: expected 64 hex digits "
            f"and a newline (32 bytes, as install.sh writes it), found {found}"
        )
    return bytes.fromhex(digits)


def read_key_file(path: Path) -> bytes:
    """Read and check the key in `path`; warns when other users could read it."""
    path = Path(path)
    try:
        info = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreKeyError(
            f"no database key: {path} does not exist ([daemon] key_file); "
            "install.sh creates /etc/edgecoach/db.key"
        ) from None
    except OSError as exc:
        raise StoreKeyError(
            f"cannot read the database key {path}: {exc.strerror}; it is "
            "root-only: run as root, or let systemd hand it over "
            "(LoadCredential=edgecoach-db-key)"
        ) from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by other users: chmod 0600 it", path)
    return parse_key(data, source=str(path))


def find_key(
    key_file: Path | None = None,
    *,
    key: str | bytes | None = None,
    required: bool = False,
    environ: Mapping[str, str] | None = None,
) -> bytes | None:
    """The database key as 32 bytes, from the first of these that is there:

    1. `key`, given explicitly (tests, development): 64 hex digits, or 32 raw bytes;
    2. `$CREDENTIALS_DIRECTORY/edgecoach-db-key` (systemd's LoadCredential=);
    3. `key_file` (`[daemon] key_file`): a missing or unreadable file is an error, not "no key".

    None when there is none and `required` is false (the store is then plain SQLite);
    StoreKeyError, saying where a key can come from, when `required`. A malformed key is always
    a StoreKeyError. `environ` defaults to os.environ.
    """
    if key is not None:
        if isinstance(key, bytes | bytearray):
            if len(key) != 32:
                raise StoreKeyError(f"the database key given is {len(key)} bytes, not 32")
            return bytes(key)
        return parse_key(key, source="the database key given")
    env = os.environ if environ is None else environ
    if credentials := env.get("CREDENTIALS_DIRECTORY"):
        credential = Path(credentials) / CREDENTIAL_NAME
        if credential.is_file():
            try:
                data = credential.read_bytes()
            except OSError as exc:
                raise StoreKeyError(
                    f"cannot read the credential {credential}: {exc.strerror}"
                ) from exc
            return parse_key(data, source=str(credential))
        log.debug("no %s in $CREDENTIALS_DIRECTORY", CREDENTIAL_NAME)
    if key_file is not None:
        return read_key_file(key_file)
    if required:
        raise StoreKeyError(f"no database key: {MISSING_KEY_HINT}")
    return None


def open_store(
    daemon: DaemonSettings,
    state_dir: Path | None = None,
    *,
    must_exist: bool = False,
    required_key: bool = False,
    create: bool = True,
) -> SessionStore:
    """The session store in `state_dir` (default `[daemon] state_dir`), opened with the
    daemon's key. With `must_exist`, a missing database is a StoreError that says nothing has
    been recorded there, instead of an empty new one; without `create`, a missing database
    reads as empty and no file is made (a command that only reads)."""
    path = Path(state_dir or daemon.state_dir) / DATABASE_NAME
    if must_exist and not path.is_file():
        raise StoreError(
            f"there is no edgecoach database at {path}: nothing has been recorded "
            "there (is [daemon] state_dir or --state-dir right?)",
            path=path,
        )
    return SessionStore.open(
        path, key=find_key(daemon.key_file, required=required_key), create=create
    )
