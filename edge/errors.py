"""One error tree for edgecoach.

Every error a person can meet carries a message that says what is wrong and what to do about it;
the CLI prints that message as one line and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

from pathlib import Path

from firmware_bridge.errors import BridgeError, MalformedPayloadError, VirtualBusError

__all__ = [
    "USER_ERRORS",
    "AdapterBaseMismatchError",
    "BridgeError",
    "ConfigError",
    "EdgecoachError",
    "ExportError",
    "FleetConfigError",
    "KioskConfigError",
    "MalformedPayloadError",
    "ModelError",
    "ModelIntegrityError",
    "ModelMissingError",
    "SensorError",
    "SourceFileError",
    "SpeechError",
    "VirtualBusError",
]


class EdgecoachError(Exception):
    """Base of every error edgecoach raises on purpose."""

    #: Process exit status the CLI uses for this kind of error.
    exit_code: int = 1


class ConfigError(EdgecoachError):
    """The configuration file or a command-line flag is not usable."""

    exit_code = 2


class FleetConfigError(ConfigError, ValueError):
    """A gym fleet name, address or setting that cannot be used."""


class KioskConfigError(ConfigError, ValueError):
    """The board was asked to listen where it must not (anything but loopback)."""


class SensorError(EdgecoachError):
    """A sensor could not be found, connected or read."""

    def __init__(self, message: str, *, address: str | None = None) -> None:
        self.address = address
        super().__init__(message)


class ModelError(EdgecoachError):
    """A model file is missing, damaged or does not match what the manifest promises."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        self.path = path
        super().__init__(message)


class ModelMissingError(ModelError):
    """The model file is not where the manifest or the config says."""


class ModelIntegrityError(ModelError):
    """The model file's sha256 differs from the manifest: tampered, truncated or replaced."""


class AdapterBaseMismatchError(ModelIntegrityError):
    """A LoRA adapter would be applied to a base model other than the one it was trained on."""


class SourceFileError(EdgecoachError):
    """A recording (FIT, TCX, GPX, CSV) that cannot be read."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        self.path = path
        super().__init__(message)


class SpeechError(EdgecoachError):
    """Speech output is not available (no espeak-ng, no audio device, unwritable WAV path)."""


class ExportError(EdgecoachError):
    """An export stage failed or produced a model that drifts from its source."""


#: Every error raised on purpose, the band side's included: the command line prints these as
#: one line instead of a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (EdgecoachError, BridgeError)
