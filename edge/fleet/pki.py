"""The gym's certificates, the broker's config and its ACL (`edgecoach fleet init|add-pi`).

Everything cryptographic is done by the `cryptography` library: ECDSA P-256 keys, X.509 v3
certificates signed by a gym CA made here. Nothing is fetched; the CA key never leaves the
folder `fleet init` made (keep it off the Pis). The folder:

    ca.crt ca.key               the gym CA (ca.key: 0600, for `fleet add-pi` only)
    broker.crt broker.key       Mosquitto's, for the broker addresses given (IP SANs)
    board.crt board.key         the board's: it may only read
    mosquitto.conf acl          the broker's config: TLS, a certificate required, the ACL
    fleet.json                  site, broker, port and the Pis, read again by `add-pi`
    pis/<pi>/                   what to copy onto that Pi: ca.crt, <pi>.crt, <pi>.key and a
                                `[fleet]` section for its config.toml

Mosquitto takes each client's certificate common name as its user name
(`use_identity_as_username`), so the ACL can say: Pi `x` writes under `edgecoach/v1/<site>/x/`
and nowhere else, the board reads the site and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.errors import FleetConfigError
from edge.fleet.schema import (
    ROOT,
    VERSION,
    check_broker_address,
    check_name,
    check_pi_name,
    prefix,
)

#: Broker port for MQTT over TLS (IANA's secure-mqtt).
DEFAULT_PORT = 8883
CA_DAYS = 3650
CERT_DAYS = 825
BOARD_NAME = "board"
BROKER_NAME = "broker"


@dataclass(frozen=True, slots=True)
class FleetLayout:
    folder: Path
    site: str
    broker_addresses: tuple[str, ...]
    port: int
    pis: tuple[tuple[str, str], ...] = ()  # (name, room)

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    def pi_folder(self, name: str) -> Path:
        return self.folder / "pis" / name

    def save(self) -> None:
        data = {
            "site": self.site,
            "broker_addresses": list(self.broker_addresses),
            "port": self.port,
            "pis": [{"name": n, "room": r} for n, r in self.pis],
        }
        _write(self.folder / "fleet.json", (json.dumps(data, indent=2) + "\n").encode(), 0o644)

    @classmethod
    def load(cls, folder: Path) -> FleetLayout:
        try:
            data = json.loads((folder / "fleet.json").read_text(encoding="utf-8"))
            return cls(
                folder,
                data["site"],
                tuple(data["broker_addresses"]),
                int(data["port"]),
                tuple((p["name"], p.get("room", "")) for p in data["pis"]),
            )
        except FileNotFoundError:
            raise FleetConfigError(
                f"{folder} holds no fleet.json: make the fleet first with "
                f"`edgecoach fleet init --dir {folder} ...`"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise FleetConfigError(f"{folder}/fleet.json is damaged: {exc}") from None


# --- certificates ------------------------------------------------------------------------------


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(
    site: str,
    *,
    days: int = CA_DAYS,
    now: dt.datetime | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = new_key()
    now = now or dt.datetime.now(dt.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edgecoach"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"edgecoach gym CA {site}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    server_addresses: Sequence[str] = (),
    days: int = CERT_DAYS,
    not_before: dt.datetime | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key and a certificate for `common_name`, signed by the CA: a server's (with an IP or
    DNS name for each of `server_addresses`) when any are given, else a client's."""
    key = new_key()
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edgecoach"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server_addresses:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(a) for a in server_addresses]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def _san(address: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        return x509.DNSName(address)


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a temporary file, with `mode` from the start (a key is never readable by
    others, not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def write_pair(
    folder: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> None:
    _write(folder / f"{stem}.key", key_pem(key), 0o600)
    _write(folder / f"{stem}.crt", cert_pem(cert), 0o644)


def load_ca(layout: FleetLayout) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        key = serialization.load_pem_private_key(layout.ca_key.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())
    except FileNotFoundError as exc:
        raise FleetConfigError(
            f"the gym CA is missing ({exc.filename}): run `edgecoach fleet "
            f"add-pi` in the folder `fleet init` made"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise FleetConfigError(f"{layout.ca_key} is not the EC key `fleet init` writes")
    return key, cert


# --- the broker's files --------------------------------------------------------------------------


def acl_text(site: str, pis: Iterable[str], boards: Iterable[str] = (BOARD_NAME,)) -> str:
    """Mosquitto's ACL: each Pi writes under its own prefix only, a board reads the site."""
    lines = [
        "# Generated by `edgecoach fleet`: regenerated by every `fleet add-pi`.",
        "# A user is a certificate's common name (use_identity_as_username).",
        "",
    ]
    for board in boards:
        lines += [f"user {board}", f"topic read {ROOT}/v{VERSION}/{site}/#", ""]
    for pi in pis:
        lines += [f"user {pi}", f"topic write {prefix(site, pi)}/#", ""]
    return "\n".join(lines)


def mosquitto_conf(folder: Path, port: int, bind_address: str = "", run_as: str = "") -> str:
    """The broker's config. `run_as`: the user Mosquitto runs as once started (its own
    `mosquitto` by default when started as root, which must then own broker.key and data/)."""
    listen = f"listener {port}" + (f" {bind_address}" if bind_address else "")
    return "\n".join(
        [
            "# Generated by `edgecoach fleet init`: the gym broker for edgecoach.",
            "# Run: mosquitto -c " + str(folder / "mosquitto.conf"),
            "per_listener_settings false",
            "allow_anonymous false",
            listen,
            "protocol mqtt",
            f"cafile {folder / 'ca.crt'}",
            f"certfile {folder / 'broker.crt'}",
            f"keyfile {folder / 'broker.key'}",
            "tls_version tlsv1.2",
            "require_certificate true",
            "use_identity_as_username true",
            f"acl_file {folder / 'acl'}",
            "# Retained presence and summaries survive a broker restart.",
            "persistence true",
            f"persistence_location {folder / 'data'}/",
            "autosave_interval 30",
            "max_keepalive 60",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            *([f"user {run_as}"] if run_as else []),
            "",
        ]
    )


def pi_config_text(layout: FleetLayout, name: str, room: str, installed_in: str) -> str:
    """The `[fleet]` section for the Pi's config.toml, with its files where they will lie."""
    broker = layout.broker_addresses[0]
    return "\n".join(
        [
            "# Add to /etc/edgecoach/config.toml on this Pi; copy the three files beside it into",
            f"# {installed_in} (root:edgecoach, the key 0640), and install the unit with",
            f"# `systemd/install.sh --fleet-broker {broker}` so its firewall admits the broker.",
            "[fleet]",
            "enabled = true",
            f'site = "{layout.site}"',
            f'pi = "{name}"',
            f"room = {json.dumps(room)}",
            f'broker_host = "{broker}"',
            f"broker_port = {layout.port}",
            f'ca_file = "{installed_in}/ca.crt"',
            f'cert_file = "{installed_in}/{name}.crt"',
            f'key_file = "{installed_in}/{name}.key"',
            '# names = "pseudonym"   # show "Member 3F9A" instead of the name on the board',
            "# share = []            # raw fields to send too: rr, cadence, speed, distance, ...",
            "",
        ]
    )


def init_fleet(
    folder: Path,
    site: str,
    broker_addresses: Sequence[str],
    *,
    port: int = DEFAULT_PORT,
    bind_address: str = "",
    days: int = CA_DAYS,
    broker_runs_as: str = "",
) -> FleetLayout:
    """Make the gym CA, the broker's and the board's certificates, and the broker's config."""
    check_name("site", site)
    if not broker_addresses:
        raise FleetConfigError(
            "give the broker's address on the gym network (--broker-address 192.168.1.10)"
        )
    addresses = tuple(check_broker_address(a) for a in broker_addresses)
    if (folder / "ca.key").exists():
        raise FleetConfigError(
            f"{folder} already holds a gym CA; add Pis with "
            f"`edgecoach fleet add-pi`, or choose an empty folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = make_ca(site, days=days)
    _write(folder / "ca.key", key_pem(ca_key), 0o600)
    _write(folder / "ca.crt", cert_pem(ca_cert), 0o644)
    write_pair(
        folder, BROKER_NAME, *issue(ca_key, ca_cert, BROKER_NAME, server_addresses=addresses)
    )
    write_pair(folder, BOARD_NAME, *issue(ca_key, ca_cert, BOARD_NAME))
    (folder / "data").mkdir(exist_ok=True)
    layout = FleetLayout(folder.resolve(), site, addresses, port)
    _write(
        folder / "mosquitto.conf",
        mosquitto_conf(layout.folder, port, bind_address, broker_runs_as).encode(),
        0o644,
    )
    _write(folder / "acl", acl_text(site, ()).encode(), 0o644)
    layout.save()
    return layout


def add_pi(
    folder: Path,
    name: str,
    *,
    room: str = "",
    days: int = CERT_DAYS,
    not_before: dt.datetime | None = None,
    installed_in: str = "/etc/edgecoach/fleet",
) -> Path:
    """A certificate for Pi `name`, its files in pis/<name>/, and the ACL with it in."""
    check_pi_name(name)
    layout = FleetLayout.load(folder)
    ca_key, ca_cert = load_ca(layout)
    target = layout.pi_folder(name)
    write_pair(target, name, *issue(ca_key, ca_cert, name, days=days, not_before=not_before))
    _write(target / "ca.crt", cert_pem(ca_cert), 0o644)
    pis = tuple((n, r) for n, r in layout.pis if n != name) + ((name, room),)
    layout = FleetLayout(layout.folder, layout.site, layout.broker_addresses, layout.port, pis)
    _write(target / "fleet.toml", pi_config_text(layout, name, room, installed_in).encode(), 0o644)
    _write(layout.folder / "acl", acl_text(layout.site, [n for n, _ in pis]).encode(), 0o644)
    layout.save()
    return target
