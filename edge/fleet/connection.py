"""Connecting to the gym's broker: MQTT 5 over TLS with the gym CA and this node's certificate.

The client is aiomqtt (asyncio, on paho-mqtt). Reconnecting is the caller's loop, with
`backoff_s` between tries; `explain` turns what the connection attempt raised into a sentence
that says what to fix.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.errors import FleetConfigError

#: How long a connection attempt (and a QoS 1 acknowledgement) may take. Short, because a
#: first attempt right after a connection was lost sometimes stalls in aiomqtt (a write
#: callback of the old socket lands on the new one) and only the next attempt goes through.
CONNECT_TIMEOUT_S = 5.0
#: Longest wait between reconnection tries, in seconds.
MAX_BACKOFF_S = 5.0


def backoff_s(attempt: int) -> float:
    """Seconds before reconnection try `attempt` (0 first): 0.5, 1, 2, 4, then 5 s."""
    return min(MAX_BACKOFF_S, 0.5 * 2 ** min(attempt, 10))


def tls_context(ca_file: object, cert_file: object, key_file: object) -> ssl.SSLContext:
    """Trust the gym CA only, present this node's certificate, check the broker's address."""
    for path in (ca_file, cert_file, key_file):  # ssl's own errors do not name the file
        if not os.path.isfile(str(path)):
            raise FleetConfigError(
                f"fleet file {path} does not exist: copy the files "
                "`edgecoach fleet add-pi` made for this node"
            )
        if not os.access(str(path), os.R_OK):
            raise FleetConfigError(
                f"fleet file {path} is not readable by this user: make it "
                "readable by the service (root:edgecoach 0640)"
            )
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
        context.load_cert_chain(str(cert_file), str(key_file))
    except FileNotFoundError as exc:
        raise FleetConfigError(
            f"fleet file {exc.filename} does not exist: copy the files "
            f"`edgecoach fleet add-pi` made for this node"
        ) from None
    except PermissionError as exc:
        raise FleetConfigError(
            f"fleet file {exc.filename} is not readable by this user: "
            f"make it readable by the service (root:edgecoach 0640)"
        ) from None
    except ssl.SSLError as exc:
        raise FleetConfigError(
            f"the fleet certificate or key cannot be loaded ({exc.reason}): "
            f"the key must be the one made with the certificate"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def message_expiry(seconds: int) -> Properties:
    """PUBLISH properties asking the broker to drop the message after `seconds`."""
    properties = Properties(PacketTypes.PUBLISH)
    properties.MessageExpiryInterval = seconds
    return properties


async def settings_context(settings: Any) -> ssl.SSLContext:
    """`tls_context` for `[fleet]` `settings`, its files read in a worker thread."""
    return await asyncio.to_thread(
        tls_context, settings.ca_file, settings.cert_file, settings.key_file
    )


def make_client(
    settings: Any,
    *,
    identifier: str,
    will: aiomqtt.Will | None = None,
    context: ssl.SSLContext | None = None,
) -> aiomqtt.Client:
    """An MQTT 5 client for `[fleet]` `settings` (not yet connected: `async with` it), with
    `context` (from `settings_context`, made once) or one made here."""
    if context is None:
        context = tls_context(settings.ca_file, settings.cert_file, settings.key_file)
    return aiomqtt.Client(
        hostname=settings.broker_host,
        port=settings.broker_port,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        will=will,
        keepalive=settings.keepalive_s,
        timeout=CONNECT_TIMEOUT_S,
        tls_context=context,
    )


_HINTS: Mapping[str, str] = {
    "CERTIFICATE_VERIFY_FAILED": "the broker's certificate is not from this node's gym CA, or "
    "not for this broker address: check ca_file and broker_host",
    "UNKNOWN_CA": "the broker does not know the CA of this node's certificate: it was made by "
    "another `fleet init`; make one with `edgecoach fleet add-pi` in the gym's "
    "fleet folder",
    "CERTIFICATE_EXPIRED": "the broker refused this node's certificate: it has expired; make a "
    "new one with `edgecoach fleet add-pi`",
    "BAD_CERTIFICATE": "the broker refused this node's certificate",
    "CERTIFICATE_REQUIRED": "the broker wants a certificate and got none",
    "Connection refused": "nothing listens there: is mosquitto running, on this port?",
    "Not authorized": "the broker refused this node's name: is it in the broker's ACL?",
    "timed out": "no answer: is the broker's address right, and its port open?",
}


def explain(error: BaseException) -> str:
    """What went wrong connecting, and what to do, in one line."""
    text = " ".join(str(error).split()) or type(error).__name__
    for needle, hint in _HINTS.items():
        if needle.lower() in text.lower():
            return f"{hint} ({text})"
    return text
