"""The fleet's topics and payloads, version 1. Pure: names and bytes in, frozen dataclasses out.

Topics, all under one site (a gym) and one Pi:

    edgecoach/v1/<site>/<pi>/presence          retained, QoS 1; the last will says "offline"
    edgecoach/v1/<site>/<pi>/live              QoS 0, one member's tile state, <= 1 Hz each
    edgecoach/v1/<site>/<pi>/summary/<id>      retained, QoS 1: a finished session's summary

`<site>` and `<pi>` are lowercase names (`NAME_PATTERN`); the ACL lets a Pi write only under its
own `edgecoach/v1/<site>/<pi>/` and the board only read. Payloads are UTF-8 JSON objects with
`"v": 1`; a board ignores, with a logged reason, anything it cannot decode. A summary's id is
`<pi>.<epoch>.<session>` (`epoch`: random, made once per state dir), so delivering it twice
(QoS 1 after a lost PUBACK, an outbox resent after a crash) is recognised by the board.

Live payload (what leaves a Pi each second for each member, by default):
    member (name or pseudonym), seq, t (session second), hr, zone, effort_pct, signal ("ok",
    "no_signal", "sensor_lost", "ended"), cue ({kind, text, safety} or null), at (wall time the
    Pi saw the sample, for latency). Only with `[fleet] share`: rr, cadence, speed, distance,
    forecast.
Summary payload: id, member, ended_at, summary {duration_s, mean_hr, max_hr, time_in_zone_s,
    cues}; only with `[fleet] share`: distance_m and steps ("distance"), gaps ("gaps").
Presence payload: state ("online" or "offline"), room, members, reason (why offline), at.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.errors import EdgecoachError
from edge.settings import (
    FLEET_NAME,
    FLEET_RESERVED_NAMES,
    FLEET_SHAREABLE,
    broker_address,
    fleet_name,
    fleet_pi_name,
    fleet_share,
)

ROOT = "edgecoach"
VERSION = 1
#: Site and Pi names, the names a Pi may not take, and what a config may share: the settings
#: check them when the config is read.
NAME_PATTERN = FLEET_NAME
RESERVED_NAMES = FLEET_RESERVED_NAMES
SHAREABLE = FLEET_SHAREABLE
check_name = fleet_name
check_pi_name = fleet_pi_name
check_share = fleet_share
check_broker_address = broker_address
#: The largest payload a board accepts (a live message is about 200 bytes, a summary < 1 KB).
MAX_PAYLOAD_BYTES = 16 * 1024
#: Longest member name shown on the board.
MAX_MEMBER_CHARS = 40
SIGNALS = ("ok", "no_signal", "sensor_lost", "ended")
#: Summary figures that leave a Pi by default.
SUMMARY_FIELDS = ("duration_s", "mean_hr", "max_hr", "time_in_zone_s", "cues")


class FleetPayloadError(EdgecoachError, ValueError):
    """A message on a fleet topic that is not a version 1 payload."""


# --- topics ------------------------------------------------------------------------------------


def prefix(site: str, pi: str) -> str:
    return f"{ROOT}/v{VERSION}/{site}/{pi}"


def presence_topic(site: str, pi: str) -> str:
    return f"{prefix(site, pi)}/presence"


def live_topic(site: str, pi: str) -> str:
    return f"{prefix(site, pi)}/live"


def summary_topic(site: str, pi: str, summary_id: str) -> str:
    return f"{prefix(site, pi)}/summary/{summary_id}"


def site_filters(site: str) -> tuple[str, ...]:
    """What a board subscribes to: every Pi's presence, live state and summaries."""
    base = f"{ROOT}/v{VERSION}/{site}/+"
    return (f"{base}/presence", f"{base}/live", f"{base}/summary/+")


@dataclass(frozen=True, slots=True)
class Topic:
    site: str
    pi: str
    #: "presence", "live" or "summary".
    kind: str
    #: The summary's id; "" for the others.
    key: str = ""


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != ROOT or parts[1] != f"v{VERSION}":
        raise FleetPayloadError(f"not a version {VERSION} fleet topic: {topic!r}")
    site, pi, kind, rest = parts[2], parts[3], parts[4], parts[5:]
    if NAME_PATTERN.fullmatch(site) is None or NAME_PATTERN.fullmatch(pi) is None:
        raise FleetPayloadError(f"bad site or Pi name in {topic!r}")
    if kind in ("presence", "live") and not rest:
        return Topic(site, pi, kind)
    if kind == "summary" and len(rest) == 1 and rest[0]:
        return Topic(site, pi, kind, rest[0])
    raise FleetPayloadError(f"unknown fleet topic {topic!r}")


# --- payloads ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CueLine:
    kind: str
    text: str
    safety: bool


@dataclass(frozen=True, slots=True)
class MemberLive:
    """One member's tile state, as a Pi publishes it each second."""

    member: str
    seq: int
    t: int | None
    hr: int | None
    zone: int | None
    effort_pct: int | None
    signal: str
    cue: CueLine | None
    #: Wall-clock time (Unix seconds) the Pi saw the sample this state comes from.
    at: float
    #: Fields the Pi's config shares beyond the defaults (rr, cadence, ...), by name.
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Presence:
    online: bool
    room: str = ""
    members: tuple[str, ...] = ()
    #: Why a Pi is offline: "stopped" (a clean stop) or "connection lost" (its last will).
    reason: str = ""
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class SummaryMessage:
    id: str
    member: str
    ended_at: float
    summary: Mapping[str, Any]


def _dump(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(
        {"v": VERSION, **payload}, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def encode_live(live: MemberLive) -> bytes:
    cue = (
        None
        if live.cue is None
        else {"kind": live.cue.kind, "text": live.cue.text, "safety": live.cue.safety}
    )
    return _dump(
        {
            "member": live.member,
            "seq": live.seq,
            "t": live.t,
            "hr": live.hr,
            "zone": live.zone,
            "effort_pct": live.effort_pct,
            "signal": live.signal,
            "cue": cue,
            "at": round(live.at, 3),
            **live.extra,
        }
    )


def encode_presence(presence: Presence) -> bytes:
    return _dump(
        {
            "state": "online" if presence.online else "offline",
            "room": presence.room,
            "members": list(presence.members),
            "reason": presence.reason,
            "at": round(presence.at, 3),
        }
    )


def encode_summary(message: SummaryMessage) -> bytes:
    return _dump(
        {
            "id": message.id,
            "member": message.member,
            "ended_at": round(message.ended_at, 3),
            "summary": dict(message.summary),
        }
    )


def _load(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise FleetPayloadError(
            f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD_BYTES} byte limit"
        )
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FleetPayloadError(f"payload is not UTF-8 JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FleetPayloadError("payload is not a JSON object")
    if data.get("v") != VERSION:
        raise FleetPayloadError(f"payload version {data.get('v')!r}, expected {VERSION}")
    return data


def _opt_int(data: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FleetPayloadError(
            f"{key} must be a whole number {low}..{high} or null, got {value!r}"
        )
    return value


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FleetPayloadError(f"{key} must be a number, got {value!r}")
    return float(value)


def _text(data: Mapping[str, Any], key: str, limit: int, *, empty: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise FleetPayloadError(
            f"{key} must be a {'' if empty else 'non-empty '}string of at most {limit} characters"
        )
    return value


def decode_live(payload: bytes) -> MemberLive:
    data = _load(payload)
    signal = data.get("signal")
    if signal not in SIGNALS:
        raise FleetPayloadError(f"signal must be one of {', '.join(SIGNALS)}, got {signal!r}")
    cue_data = data.get("cue")
    cue = None
    if cue_data is not None:
        if not isinstance(cue_data, dict):
            raise FleetPayloadError("cue must be an object or null")
        cue = CueLine(
            _text(cue_data, "kind", 40),
            _text(cue_data, "text", 400),
            cue_data.get("safety") is True,
        )
    seq = _opt_int(data, "seq", 0, 2**53)
    extra = {key: data[key] for key in SHAREABLE if key in data}
    return MemberLive(
        member=_text(data, "member", MAX_MEMBER_CHARS, empty=False),
        seq=seq or 0,
        t=_opt_int(data, "t", 0, 10**7),
        hr=_opt_int(data, "hr", 0, 300),
        zone=_opt_int(data, "zone", 0, 5),
        effort_pct=_opt_int(data, "effort_pct", 0, 1000),
        signal=signal,
        cue=cue,
        at=_number(data, "at"),
        extra=extra,
    )


def decode_presence(payload: bytes) -> Presence:
    data = _load(payload)
    state = data.get("state")
    if state not in ("online", "offline"):
        raise FleetPayloadError(f"state must be online or offline, got {state!r}")
    members = data.get("members", [])
    if not isinstance(members, list) or not all(
        isinstance(m, str) and 0 < len(m) <= MAX_MEMBER_CHARS for m in members
    ):
        raise FleetPayloadError("members must be a list of names")
    return Presence(
        online=state == "online",
        room=_text(data, "room", 40),
        members=tuple(members),
        reason=_text(data, "reason", 80),
        at=_number(data, "at"),
    )


def decode_summary(payload: bytes) -> SummaryMessage:
    data = _load(payload)
    summary = data.get("summary")
    if not isinstance(summary, dict):
        raise FleetPayloadError("summary must be an object")
    return SummaryMessage(
        id=_text(data, "id", 120, empty=False),
        member=_text(data, "member", MAX_MEMBER_CHARS, empty=False),
        ended_at=_number(data, "ended_at"),
        summary=summary,
    )
