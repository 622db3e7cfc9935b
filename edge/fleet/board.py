"""The board node: every member of every Pi on one zone board (`edgecoach board`).

    FleetSubscriber   MQTT 5 over TLS as the read-only board: presence, live state, summaries
    SummaryLog        each summary recorded once, by id, on disk (a resend is recognised)
    FleetBoardState   the tiles (pure: messages and a clock in, tiles out), grouped by room
    KioskBoard        the kiosk's HTTP + Server-Sent Events server, with the fleet page

A Pi whose presence says offline (its last will, or a clean stop) keeps its tiles, marked
"Pi offline": its members are not resting, the board cannot see them. A board that has lost
the broker says so on every tile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiomqtt

from edge.fleet.connection import backoff_s, explain, make_client, settings_context
from edge.fleet.schema import (
    FleetPayloadError,
    MemberLive,
    Presence,
    SummaryMessage,
    Topic,
    decode_live,
    decode_presence,
    decode_summary,
    parse_topic,
    site_filters,
)
from edge.kiosk.server import KioskBoard
from edge.kiosk.state import NO_SIGNAL_AFTER_S, zone_label

log = logging.getLogger(__name__)

SUMMARY_LOG_NAME = "board-summaries.jsonl"


# --- what arrives -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    """One decoded message from a Pi, and the wall time the board got it."""

    topic: Topic
    body: Presence | MemberLive | SummaryMessage
    received_at: float


@dataclass(frozen=True, slots=True)
class BrokerLink:
    """The board's own connection to the broker came or went."""

    connected: bool
    detail: str = ""


# --- the tiles ------------------------------------------------------------------------------------


@dataclass(slots=True)
class PiState:
    name: str
    room: str = ""
    #: None until its presence is heard (a live message came first).
    online: bool | None = None
    reason: str = ""
    changed_at: float = 0.0


@dataclass(slots=True)
class _Link:
    connected: bool = False
    detail: str = "connecting to the broker"


@dataclass(slots=True)
class Tile:
    name: str  # "<pi>/<member>": the key the kiosk server and the page use
    pi: PiState
    member: str
    link: _Link
    seq: int = 0
    live: MemberLive | None = None
    received_at: float | None = None
    summary: Mapping[str, Any] | None = None
    #: The Pi's wall time the session ended (its summary's `ended_at`).
    summary_at: float = 0.0

    def as_dict(self, now: float) -> dict[str, object]:
        live = self.live
        age = None if self.received_at is None else round(max(0.0, now - self.received_at), 1)
        signal = live.signal if live is not None else "waiting"
        if live is not None and signal == "ok" and (age is None or age > NO_SIGNAL_AFTER_S):
            signal = "no_signal"
        cue = (
            None
            if live is None or live.cue is None
            else {"kind": live.cue.kind, "text": live.cue.text, "safety": live.cue.safety}
        )
        return {
            "name": self.name,
            "member": self.member,
            "pi": self.pi.name,
            "room": self.pi.room,
            "pi_online": self.pi.online,
            "pi_reason": self.pi.reason,
            "pi_changed_age_s": round(max(0.0, now - self.pi.changed_at), 1),
            "broker_connected": self.link.connected,
            "broker_detail": self.link.detail,
            "seq": self.seq,
            "t": None if live is None else live.t,
            "hr": None if live is None else live.hr,
            "zone": None if live is None else live.zone,
            "zone_name": None if live is None or live.zone is None else zone_label(live.zone),
            "effort_pct": None if live is None else live.effort_pct,
            "signal": signal,
            "sample_age_s": age,
            "cue": cue,
            "at": None if live is None else live.at,
            "ended": signal == "ended" or self.summary is not None,
            "summary": None if self.summary is None else dict(self.summary),
        }


class FleetBoardState:
    """Every Pi and member heard of. `apply` takes a `Received` or a `BrokerLink` and returns
    the tiles that changed (several when a Pi or the broker link changes)."""

    def __init__(self) -> None:
        self.members: dict[str, Tile] = {}
        self.pis: dict[str, PiState] = {}
        self.link = _Link()

    def pi(self, name: str) -> PiState:
        if name not in self.pis:
            self.pis[name] = PiState(name)
        return self.pis[name]

    def tile(self, pi: str, member: str) -> Tile:
        key = f"{pi}/{member}"
        if key not in self.members:
            self.members[key] = Tile(key, self.pi(pi), member, self.link)
        return self.members[key]

    def _of(self, pi: str) -> list[Tile]:
        return [t for t in self.members.values() if t.pi.name == pi]

    def apply(self, item: Received | BrokerLink, now: float) -> list[Tile]:
        if isinstance(item, BrokerLink):
            self.link.connected, self.link.detail = item.connected, item.detail
            changed = list(self.members.values())
        elif isinstance(item.body, Presence):
            changed = self._presence(item.topic.pi, item.body, now)
        elif isinstance(item.body, MemberLive):
            tile = self.tile(item.topic.pi, item.body.member)
            if tile.pi.online is None:
                tile.pi.online, tile.pi.changed_at = True, now
            if (
                tile.live is not None
                and item.body.seq < tile.live.seq
                and item.body.at <= tile.live.at
            ):
                return []  # an older state arriving late
            tile.live, tile.received_at = item.body, now
            if item.body.signal == "ok" and item.body.at > tile.summary_at:
                tile.summary = None  # a new session since the summary
            changed = [tile]
        else:
            tile = self.tile(item.topic.pi, item.body.member)
            tile.summary, tile.summary_at = item.body.summary, item.body.ended_at
            changed = [tile]
        for tile in changed:
            tile.seq += 1
        return changed

    def _presence(self, pi_name: str, presence: Presence, now: float) -> list[Tile]:
        pi = self.pi(pi_name)
        if pi.online != presence.online:
            pi.changed_at = now
        pi.online, pi.room, pi.reason = presence.online, presence.room, presence.reason
        for member in presence.members:
            self.tile(pi_name, member)
        return self._of(pi_name)


# --- summaries, once each --------------------------------------------------------------------------


class SummaryLog:
    """Summaries the board has recorded, one JSON line each, fsync'd; blocking (use a thread).
    An id seen before is a resend (QoS 1 after a lost PUBACK, a Pi's outbox after a crash,
    a retained copy on resubscribing) and is not recorded again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: set[str] = set()
        self.duplicates = 0
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError, TypeError, KeyError):
                    self.seen.add(json.loads(line)["id"])

    def record(self, pi: str, message: SummaryMessage, received_at: float) -> bool:
        """Record `message` unless its id was seen; True when it was new."""
        if message.id in self.seen:
            self.duplicates += 1
            return False
        line = json.dumps(
            {
                "id": message.id,
                "pi": pi,
                "member": message.member,
                "ended_at": message.ended_at,
                "received_at": round(received_at, 3),
                "summary": dict(message.summary),
            },
            ensure_ascii=False,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.seen.add(message.id)
        return True


# --- the subscriber ----------------------------------------------------------------------------------


class FleetSubscriber:
    def __init__(
        self, settings: Any, board: KioskBoard, summaries: SummaryLog, *, clock: Any = time.time
    ) -> None:
        self.settings = settings
        self.board = board
        self.summaries = summaries
        self.clock = clock
        self.connected = asyncio.Event()
        self.rejected = 0
        #: The TLS context, made once (`serve_board` makes it first: a bad file ends it there).
        self.context: ssl.SSLContext | None = None

    async def run(self) -> None:
        """Subscribe and feed the board, reconnecting with backoff, until cancelled."""
        attempt = 0
        identifier = f"board-{os.getpid()}"
        context = self.context or await settings_context(self.settings)
        while True:
            try:
                async with make_client(
                    self.settings, identifier=identifier, context=context
                ) as client:
                    for topic_filter in site_filters(self.settings.site):
                        qos = 0 if topic_filter.endswith("/live") else 1
                        await client.subscribe(topic_filter, qos=qos)
                    attempt = 0
                    self.connected.set()
                    self.board.emit(BrokerLink(True, "connected"))
                    log.info(
                        "board: subscribed to site %s on %s:%d",
                        self.settings.site,
                        self.settings.broker_host,
                        self.settings.broker_port,
                    )
                    async for message in client.messages:
                        await self.handle(str(message.topic), message.payload)
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                reason = explain(exc)
                self.board.emit(BrokerLink(False, reason))
                log.warning("board: lost the broker, reconnecting: %s", reason)
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1

    async def handle(self, topic_name: str, payload: object) -> None:
        if not isinstance(payload, bytes | bytearray) or not payload:
            return  # a retained message being cleared
        now = self.clock()
        try:
            topic = parse_topic(topic_name)
            if topic.site != self.settings.site:
                return
            if topic.kind == "presence":
                body: Presence | MemberLive | SummaryMessage = decode_presence(bytes(payload))
            elif topic.kind == "live":
                body = decode_live(bytes(payload))
            else:
                body = decode_summary(bytes(payload))
                if body.id != topic.key or not body.id.startswith(f"{topic.pi}."):
                    raise FleetPayloadError(
                        f"summary id {body.id!r} does not belong to {topic_name!r}"
                    )
                if not await asyncio.to_thread(self.summaries.record, topic.pi, body, now):
                    return
        except FleetPayloadError as exc:
            self.rejected += 1
            log.warning("board: ignored a message on %s: %s", topic_name, exc)
            return
        self.board.emit(Received(topic, body, now))


def fleet_board(settings: Any, *, host: str, port: int) -> KioskBoard:
    """The kiosk's server with the fleet's tiles and page."""
    page = resources.files("edge.fleet").joinpath("board.html").read_bytes()
    return KioskBoard(host, port, state=FleetBoardState(), page=page)


async def serve_board(
    settings: Any,
    *,
    host: str,
    port: int,
    state_dir: Path,
    stop: asyncio.Event | None = None,
    on_ready: Any = None,
) -> None:
    """Run the board node until `stop` is set (or cancelled): subscriber and page."""
    summaries = await asyncio.to_thread(SummaryLog, state_dir / SUMMARY_LOG_NAME)
    board = fleet_board(settings, host=host, port=port)
    subscriber = FleetSubscriber(settings, board, summaries)
    subscriber.context = await settings_context(settings)
    await board.start()
    task = asyncio.create_task(subscriber.run(), name="edgecoach-board-subscriber")
    try:
        if on_ready is not None:
            on_ready(board, subscriber)
        await (stop.wait() if stop is not None else asyncio.Future())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await board.stop()
