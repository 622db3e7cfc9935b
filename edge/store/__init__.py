"""The session store: everything recorded on the device, in one SQLite file (SQLCipher with a key).

sessions.py   `SessionStore`: people, sessions, samples, cues, spoken words, feedback;
              durability, threads, erasing (read its docstring first)
schema.py     the tables, their migrations, rows <-> values
cipher.py     SQLCipher: opening with a raw key, encrypting a plain store in place
files.py      private file modes, the -wal/-shm sidecars, zeroing replaced blocks
errors.py     `StoreError` and what an SQLite error means for a person
keys.py       where the key comes from, and `open_store`: the one way commands open it
lock.py       the daemon's recording lock, which `forget` respects
space.py      room left on the disk, said before a session starts
"""

from edge.store.errors import (
    MISSING_KEY_HINT,
    FeedbackError,
    StoreError,
    StoreFullError,
    StoreKeyError,
)
from edge.store.keys import CREDENTIAL_NAME, find_key, open_store, parse_key, read_key_file
from edge.store.lock import RecordingLock, recording_daemon
from edge.store.schema import APPLICATION_ID, MIGRATIONS, PersonRow, ResumeState, SessionRow
from edge.store.sessions import DATABASE_NAME, MAX_PENDING_ROWS, SessionStore
from edge.store.space import space_warning

__all__ = [
    "APPLICATION_ID",
    "CREDENTIAL_NAME",
    "DATABASE_NAME",
    "MAX_PENDING_ROWS",
    "MIGRATIONS",
    "MISSING_KEY_HINT",
    "FeedbackError",
    "PersonRow",
    "RecordingLock",
    "ResumeState",
    "SessionRow",
    "SessionStore",
    "StoreError",
    "StoreFullError",
    "StoreKeyError",
    "find_key",
    "open_store",
    "parse_key",
    "read_key_file",
    "recording_daemon",
    "space_warning",
]
