"""The models folder and its manifest: every file the device loads is hash-checked first.

``models/manifest.json``::

    {"version": 1,
     "artifacts": {"<file name>": {"sha256": "...", "bytes": N, "kind": "health-model",
                                   "created": "2025-01-01T00:00:00+00:00", "source": "...",
                                   ...details}}}

Any further keys of an entry are its details, kept as they are: a language-model adapter
records there the base model it must be applied to (``base_sha256``, ``base_name``), its corpus
hash and its scores.

File names are relative to the folder holding the manifest. The export stage adds entries with
`record`; the runtime asks `Manifest.verified_path` or `Manifest.verified_bytes`, which refuse a
missing, truncated or altered file with an error that says what to do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from edge.core.files import write_text_atomic
from edge.errors import ModelError, ModelIntegrityError, ModelMissingError

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "ArtifactEntry",
    "Manifest",
    "default_models_dir",
    "record",
    "sha256_of",
]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
#: Environment variable naming a models folder that overrides the default.
MODELS_DIR_ENV = "EDGECOACH_MODELS_DIR"

_ADVICE = "run `edgecoach export health` or reinstall edgecoach"


def default_models_dir() -> Path:
    """The models folder: $EDGECOACH_MODELS_DIR, else the checkout's (or installed) ``models/``.

    From a checkout or an editable install that is ``models/`` beside the ``edge`` package; from a
    regular install, ``<prefix>/share/edgecoach/models`` when it exists.
    """
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    beside = Path(__file__).resolve().parent.parent / "models"
    if beside.is_dir():
        return beside
    shared = Path(sys.prefix) / "share" / "edgecoach" / "models"
    if shared.is_dir():
        return shared
    return beside


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


@dataclass(frozen=True, slots=True)
class ArtifactEntry:
    name: str
    sha256: str
    bytes: int
    kind: str
    created: str
    source: str
    #: Whatever else the export recorded about the file (JSON values), e.g. an adapter's base.
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "bytes": self.bytes,
            "kind": self.kind,
            "created": self.created,
            "source": self.source,
            **{k: v for k, v in self.details.items() if k not in _CORE_KEYS},
        }


class Manifest:
    """What the models folder promises: file names with their sha256, size and kind."""

    def __init__(self, models_dir: Path, entries: Mapping[str, ArtifactEntry]) -> None:
        self.models_dir = Path(models_dir)
        self._entries = dict(entries)

    @property
    def path(self) -> Path:
        return self.models_dir / MANIFEST_NAME

    @property
    def entries(self) -> Mapping[str, ArtifactEntry]:
        return MappingProxyType(self._entries)

    @classmethod
    def load(cls, models_dir: Path) -> Manifest:
        """Read ``models_dir/manifest.json``.

        Raises ModelMissingError when it is not there and ModelError when it is not a manifest.
        """
        models_dir = Path(models_dir)
        path = models_dir / MANIFEST_NAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelMissingError(f"no model manifest at {path}: {_ADVICE}", path=path) from None
        except OSError as exc:
            raise ModelError(f"cannot read the model manifest {path}: {exc}", path=path) from exc
        except UnicodeDecodeError:
            raise ModelError(
                f"the model manifest {path} is not text (corrupt): {_ADVICE}", path=path
            ) from None
        return cls(models_dir, _parse(text, path))

    def entry(self, name: str) -> ArtifactEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise ModelMissingError(
                f"the model manifest {self.path} lists no {name!r}: {_ADVICE}",
                path=self.models_dir / name,
            ) from None

    def verified_bytes(self, name: str) -> bytes:
        """The contents of `name`, after checking its size and sha256 against the manifest.

        Read once and checked in memory, so what the caller loads is exactly what was checked.
        """
        entry = self.entry(name)
        path = self.models_dir / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelMissingError(
                f"model file {name} is missing from {self.models_dir}: {_ADVICE}", path=path
            ) from None
        except OSError as exc:
            raise ModelError(f"cannot read model file {path}: {exc}", path=path) from exc
        self._check(entry, path, sha256_of(data), len(data))
        return data

    def verified_path(self, name: str) -> Path:
        """The path of `name`, after checking its size and sha256 against the manifest."""
        entry = self.entry(name)
        path = self.models_dir / name
        try:
            digest, size = _sha256_file(path)
        except FileNotFoundError:
            raise ModelMissingError(
                f"model file {name} is missing from {self.models_dir}: {_ADVICE}", path=path
            ) from None
        except OSError as exc:
            raise ModelError(f"cannot read model file {path}: {exc}", path=path) from exc
        self._check(entry, path, digest, size)
        return path

    @staticmethod
    def _check(entry: ArtifactEntry, path: Path, digest: str, size: int) -> None:
        if size != entry.bytes:
            what = "truncated" if size < entry.bytes else "grown or replaced"
            raise ModelIntegrityError(
                f"model file {path} is {size} bytes but the manifest promises {entry.bytes}: "
                f"it was {what} (sha256 expected {entry.sha256[:12]}, got {digest[:12]}); "
                f"{_ADVICE}",
                path=path,
            )
        if digest != entry.sha256:
            raise ModelIntegrityError(
                f"model file {path} does not match the manifest: it was tampered with or "
                f"corrupted (sha256 expected {entry.sha256[:12]}, got {digest[:12]}); {_ADVICE}",
                path=path,
            )

    @staticmethod
    def record(
        models_dir: Path,
        path: Path,
        kind: str,
        source: str,
        details: Mapping[str, Any] | None = None,
    ) -> ArtifactEntry:
        """The module-level `record`, reachable from the class too."""
        return record(models_dir, path, kind, source, details)


_CORE_KEYS = ("sha256", "bytes", "kind", "created", "source")


def _parse(text: str, path: Path) -> dict[str, ArtifactEntry]:
    def bad(why: str) -> ModelError:
        return ModelError(f"the model manifest {path} is corrupt ({why}): {_ADVICE}", path=path)

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("artifacts"), dict):
        raise bad("no 'artifacts' table")
    if data.get("version") != MANIFEST_VERSION:
        raise ModelError(
            f"the model manifest {path} has version {data.get('version')!r}; this edgecoach "
            f"reads version {MANIFEST_VERSION}: {_ADVICE}",
            path=path,
        )
    entries: dict[str, ArtifactEntry] = {}
    for name, raw in data["artifacts"].items():
        try:
            entries[name] = ArtifactEntry(
                name=str(name),
                sha256=str(raw["sha256"]).lower(),
                bytes=int(raw["bytes"]),
                kind=str(raw["kind"]),
                created=str(raw.get("created", "")),
                source=str(raw.get("source", "")),
                details={k: v for k, v in raw.items() if k not in _CORE_KEYS},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise bad(f"entry {name!r}: {exc!r}") from None
        if Path(name).name != name:
            raise bad(f"entry {name!r} is not a plain file name")
    return entries


def record(
    models_dir: Path, path: Path, kind: str, source: str, details: Mapping[str, Any] | None = None
) -> ArtifactEntry:
    """Add or update the manifest entry for `path` (a file inside `models_dir`).

    `details` (JSON values) are stored beside the entry's core fields.

    Creates the manifest when there is none; refuses to overwrite a corrupt one. Writes a
    temporary file beside it and renames it into place, so a reader never sees half a manifest.
    """
    models_dir = Path(models_dir)
    path = Path(path)
    if path.resolve().parent != models_dir.resolve():
        raise ValueError(f"{path} is not directly inside {models_dir}")
    manifest_path = models_dir / MANIFEST_NAME
    if manifest_path.exists():
        existing = _parse(manifest_path.read_text(encoding="utf-8"), manifest_path)
    else:
        existing = {}
    digest, size = _sha256_file(path)
    entry = ArtifactEntry(
        name=path.name,
        sha256=digest,
        bytes=size,
        kind=kind,
        created=datetime.now(UTC).replace(microsecond=0).isoformat(),
        source=source,
        details=dict(details or {}),
    )
    existing[path.name] = entry
    payload = {
        "version": MANIFEST_VERSION,
        "artifacts": {n: existing[n].to_json() for n in sorted(existing)},
    }
    write_text_atomic(manifest_path, json.dumps(payload, indent=2) + "\n", mode=0o644)
    log.info("manifest %s: %s %s (%d bytes)", manifest_path, kind, path.name, size)
    return entry
