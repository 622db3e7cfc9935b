"""`doctor`'s fleet checks: this Pi's certificate (offline), and the broker, asked directly.

`probe_broker` opens TCP and TLS to the broker itself and sends one MQTT 5 CONNECT: unlike a
client library, which only times out when the broker refuses a certificate, it sees the TLS
alert the broker sends ("certificate expired", "unknown CA") and says which it was. It connects
as `<pi>-doctor`, so a running daemon's own session is left alone. Blocking: from async code
call it in a thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from edge.errors import ConfigError
from edge.fleet.connection import tls_context

#: How long to listen for the broker's verdict on our certificate before speaking MQTT.
_ALERT_WAIT_S = 1.0
#: A certificate that ends sooner than this is a warning.
RENEW_WITHIN = dt.timedelta(days=30)

#: TLS alerts the broker sends about our certificate, and what they mean for a person.
_ALERTS = {
    "CERTIFICATE_EXPIRED": "the broker refused this Pi's certificate: it has expired",
    "UNKNOWN_CA": "the broker refused this Pi's certificate: it was not made by this gym's CA",
    "BAD_CERTIFICATE": "the broker refused this Pi's certificate",
    "CERTIFICATE_REQUIRED": "the broker wants a certificate and got none",
    "DECRYPT_ERROR": "the broker refused this Pi's certificate: its key does not match",
}
_CONNACK_REASONS = {
    0x85: "the broker refused the client id",
    0x86: "the broker refused this Pi's name",
    0x87: "the broker says this Pi is not authorised: is it in the broker's ACL?",
    0x88: "the broker is unavailable",
    0x8A: "the broker has banned this Pi",
}


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    detail: str
    fix: str = ""
    warn: bool = False


def _name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def certificate_finding(settings: Any, now: dt.datetime | None = None) -> Finding:
    """Is this Pi's certificate usable: the gym CA's, for this Pi, in date, with its key?"""
    now = now or dt.datetime.now(dt.UTC)
    remake = f"make a new one on the fleet machine: edgecoach fleet add-pi {settings.pi}"
    try:
        cert = x509.load_pem_x509_certificate(settings.cert_file.read_bytes())
        ca = x509.load_pem_x509_certificate(settings.ca_file.read_bytes())
        key = serialization.load_pem_private_key(settings.key_file.read_bytes(), password=None)
    except OSError as exc:
        return Finding(
            False,
            f"cannot read {exc.filename}: {exc.strerror}",
            "copy the files `edgecoach fleet add-pi` made for this Pi, readable by "
            "the service (root:edgecoach, 0640)",
        )
    except ValueError as exc:
        return Finding(False, f"a fleet file is not a PEM certificate or key: {exc}", remake)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return Finding(
            False, f"{settings.cert_file} was not made by the gym CA in {settings.ca_file}", remake
        )
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return Finding(
            False,
            f"{settings.key_file} is not the key of {settings.cert_file}",
            "copy the key made with the certificate (same pis/<pi>/ folder)",
        )
    if _name(cert) != settings.pi:
        return Finding(
            False,
            f"the certificate is for {_name(cert)!r}, this Pi is "
            f"{settings.pi!r}: the broker's ACL would refuse its topics",
            f"set [fleet] pi = {_name(cert)!r}, or {remake}",
        )
    ends = cert.not_valid_after_utc
    if cert.not_valid_before_utc > now:
        return Finding(
            False,
            f"the certificate is valid only from {cert.not_valid_before_utc:%Y-%m-%d}",
            "check this Pi's clock (doctor's clock check)",
        )
    if ends <= now:
        return Finding(
            False, f"the certificate expired on {ends:%Y-%m-%d}: the broker refuses it", remake
        )
    detail = f"{settings.pi}, from the gym CA, valid until {ends:%Y-%m-%d}"
    if ends - now < RENEW_WITHIN:
        return Finding(True, f"{detail}: {(ends - now).days} days left", remake, warn=True)
    return Finding(True, detail)


def _connect_packet(client_id: str, keepalive_s: int = 10) -> bytes:
    """An MQTT 5 CONNECT with a clean start, no properties, no will, no user name."""
    identifier = client_id.encode()
    variable = (
        b"\x00\x04MQTT"
        + bytes([5, 0x02])
        + struct.pack("!H", keepalive_s)
        + b"\x00"
        + struct.pack("!H", len(identifier))
        + identifier
    )
    return bytes([0x10, len(variable)]) + variable


def probe_broker(settings: Any, *, timeout_s: float = 3.0) -> Finding:
    """Connect to the broker as this Pi (TCP, TLS with its certificate, MQTT CONNECT) and say
    what happened. Blocks for at most about `timeout_s` per step."""
    where = f"{settings.broker_host}:{settings.broker_port}"
    try:
        context = tls_context(settings.ca_file, settings.cert_file, settings.key_file)
    except ConfigError as exc:
        return Finding(False, str(exc), "see the fleet-certificate check")
    try:
        raw = socket.create_connection(
            (settings.broker_host, settings.broker_port), timeout=timeout_s
        )
    except ConnectionRefusedError:
        return Finding(
            False,
            f"nothing listens on {where}",
            "start the broker (mosquitto -c .../mosquitto.conf), or correct "
            "[fleet] broker_host / broker_port",
        )
    except OSError as exc:
        return Finding(
            False,
            f"cannot reach {where}: {exc.strerror or exc}",
            "check the network, the broker's address and the systemd unit's "
            "IPAddressAllow= (install.sh --fleet-broker ADDRESS)",
        )
    try:
        with context.wrap_socket(raw, server_hostname=settings.broker_host) as tls:
            # TLS 1.3: the broker judges our certificate after the handshake, and its alert
            # is lost if we write meanwhile (our bytes then meet a closed socket: a reset).
            # So listen first: the alert, or nothing (session tickets are read silently).
            tls.settimeout(_ALERT_WAIT_S)
            with contextlib.suppress(TimeoutError):
                if tls.recv(1) == b"":
                    raise ssl.SSLEOFError("the broker closed the connection")
            tls.settimeout(timeout_s)
            tls.sendall(_connect_packet(f"{settings.pi}-doctor"))
            reply = tls.recv(64)
            if reply[:1] == b"\x20" and len(reply) >= 4:
                code = reply[3]
                with_disconnect = b"\xe0\x00"
                tls.sendall(with_disconnect)
                if code == 0:
                    return Finding(
                        True, f"connected to {where} as {settings.pi} (TLS {tls.version()}, MQTT 5)"
                    )
                return Finding(
                    False,
                    _CONNACK_REASONS.get(
                        code, f"the broker refused the connection (reason 0x{code:02x})"
                    ),
                    "regenerate the broker's ACL with `edgecoach fleet add-pi` "
                    "and reload mosquitto",
                )
            return Finding(
                False, f"{where} did not answer as an MQTT broker", "check [fleet] broker_port"
            )
    except ssl.SSLCertVerificationError as exc:
        return Finding(
            False,
            f"the broker's certificate was not accepted: {exc.verify_message}",
            "ca_file must be the gym CA's, and the broker's certificate made for "
            f"{settings.broker_host} (fleet init --broker-address)",
        )
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        for needle, text in _ALERTS.items():
            if needle in reason:
                return Finding(
                    False,
                    f"{text} ({reason})",
                    f"make a new one: edgecoach fleet add-pi {settings.pi}",
                )
        if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return _closed_during_tls(settings, where)
        return Finding(
            False,
            f"TLS with {where} failed: {reason}",
            "check the broker's TLS settings (the mosquitto.conf fleet init made)",
        )
    except ConnectionResetError:
        return _closed_during_tls(settings, where)
    except (TimeoutError, OSError) as exc:
        return Finding(False, f"{where} stopped answering: {exc}", "check the broker's log")


def _closed_during_tls(settings: Any, where: str) -> Finding:
    """The broker hung up without a readable alert: say why if this Pi's files show it."""
    offline = certificate_finding(settings)
    if not offline.ok:
        return Finding(
            False, f"the broker refused this Pi's certificate: {offline.detail}", offline.fix
        )
    return Finding(
        False,
        f"{where} closed the connection during TLS: it refused this Pi's "
        "certificate, or is not the gym's broker",
        "check the broker's log, and that ca_file is the gym CA's",
    )


#: Where install.sh puts the daemon's unit and the fleet drop-in.
UNIT_DIR = Path("/etc/systemd/system")


def firewall_finding(settings: Any, unit_dir: Path = UNIT_DIR) -> Finding:
    """Will the daemon's unit let it reach the broker? It admits loopback only, plus what
    `install.sh --fleet-broker` wrote into the fleet drop-in."""
    host = settings.broker_host
    if host == "localhost" or ipaddress.ip_address(host).is_loopback:
        return Finding(True, f"the broker {host} is on loopback, which the unit allows")
    if not (unit_dir / "edgecoach.service").is_file():
        return Finding(True, "no edgecoach.service installed here: nothing limits the daemon")
    dropin = unit_dir / "edgecoach.service.d" / "fleet.conf"
    fix = f"sudo systemd/install.sh --fleet-broker {host}, then systemctl daemon-reload"
    try:
        lines = dropin.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return Finding(
            False, f"the unit admits loopback only: the daemon cannot reach the broker {host}", fix
        )
    allowed = {
        word
        for line in lines
        if line.strip().startswith("IPAddressAllow=")
        for word in line.split("=", 1)[1].split()
    }
    if host not in allowed:
        return Finding(
            False,
            f"the unit admits {', '.join(sorted(allowed)) or 'no address'} "
            f"besides loopback, not the broker {host}",
            fix,
        )
    return Finding(True, f"the unit admits the broker {host} besides loopback, nothing else")
