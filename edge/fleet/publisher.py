"""The Pi's side of the fleet: an event sink that publishes its members to the gym's broker.

    publisher = FleetPublisher(settings.fleet, state_dir=..., session_ids=daemon.session_ids)
    await publisher.start()
    emit = fan_out(json_sink, board.emit, publisher.emit)
    ...
    await publisher.stop()

`emit` never blocks and never raises: it updates the member's live state and wakes the one
connection task. That task connects (MQTT 5, TLS), publishes retained presence "online" with a
last will "offline" (so a Pi that dies shows offline within seconds), then each member's live
state at QoS 0 at most once per `live_interval_s`, and every summary in the outbox at QoS 1,
removing it only once the broker has acknowledged it. When the broker is away nothing is lost
that matters: coaching, speech and the store carry on; live states wait (only the latest of
each member is kept); summaries wait on disk and go once the broker is back. It reconnects with
`backoff_s` for as long as the daemon runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import os
import secrets
import ssl
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiomqtt

from edge.core.events import SessionEvent
from edge.fleet.connection import (
    backoff_s,
    explain,
    make_client,
    message_expiry,
    settings_context,
)
from edge.fleet.events import read_event
from edge.fleet.live import LiveTracker
from edge.fleet.outbox import Outbox
from edge.fleet.schema import (
    Presence,
    SummaryMessage,
    encode_live,
    encode_presence,
    encode_summary,
    live_topic,
    presence_topic,
    summary_topic,
)

log = logging.getLogger(__name__)

#: The board forgets a retained summary after a week (MQTT 5 message expiry).
SUMMARY_EXPIRY_S = 7 * 24 * 3600
#: A live state older than this is dropped by the broker rather than delivered late.
LIVE_EXPIRY_S = 5
#: How long `stop()` tries to hand the last summaries and "offline" to the broker.
STOP_FLUSH_S = 3.0
#: A member's updates are spaced at least this share of `live_interval_s` (samples jitter).
_SPACING = 0.9


def fleet_secret(folder: Path) -> bytes:
    """This Pi's fleet secret (made once, 0600): keys the pseudonyms and the summary ids'
    epoch, so both stay stable across restarts and change when the state dir is wiped."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "secret"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        pass
    secret = secrets.token_bytes(32)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, secret.hex().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    return secret


class FleetPublisher:
    def __init__(
        self,
        settings: Any,
        *,
        state_dir: Path,
        session_ids: Mapping[str, int] | None = None,
        members: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`settings`: `[fleet]`; `session_ids`: each person's session in the store (the
        daemon's, filled as sessions start), for summary ids; `members`: shown as soon as
        the Pi is online, before their first sample."""
        self.settings = settings
        self.folder = state_dir / "fleet"
        self.session_ids = session_ids if session_ids is not None else {}
        self.clock = clock
        self.monotonic = monotonic
        self._members = tuple(members)
        self.tracker = LiveTracker(share=settings.share, names=settings.names)
        self.outbox: Outbox | None = None
        self._epoch = ""
        #: Who has state to send, and when (monotonic); whose state holds a new sample.
        self._due: dict[str, float] = {}
        self._with_sample: set[str] = set()
        self._last_sample_sent: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._writes: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        #: The outbox may hold summaries not yet handed to the broker (on each connect, too).
        self._summaries_waiting = True
        self._client: aiomqtt.Client | None = None
        self._context: ssl.SSLContext | None = None
        self.connected = asyncio.Event()
        #: Messages handed to the broker, and connection attempts that failed.
        self.live_sent = 0
        self.summaries_sent = 0
        self.failed_connects = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the certificate files (a FleetConfigError says which is missing or wrong),
        then connect in the background."""
        self._context = await settings_context(self.settings)
        secret = await asyncio.to_thread(fleet_secret, self.folder)
        self.tracker.secret = secret
        self._epoch = hmac.new(secret, b"summary-epoch", hashlib.sha256).hexdigest()[:8]
        self.outbox = await asyncio.to_thread(
            Outbox, self.folder / "outbox", self.settings.outbox_limit
        )
        for person in self._members:
            self.tracker.member(person)
        self._task = asyncio.create_task(self._run(), name="edgecoach-fleet")
        log.info(
            "fleet: publishing as %s/%s to %s:%d",
            self.settings.site,
            self.settings.pi,
            self.settings.broker_host,
            self.settings.broker_port,
        )

    async def stop(self, flush_s: float = STOP_FLUSH_S) -> None:
        """Write the summaries still on their way to disk, try for `flush_s` to hand them,
        the last live states and "offline" to the broker, then disconnect."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), flush_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.info(
                "fleet: the broker did not answer in %g s; %d summaries wait on disk "
                "for the next start",
                flush_s,
                len(self.outbox or ()),
            )
        except Exception:  # stopping: logged, never raised into the daemon
            log.exception("fleet: stopping failed")

    # -- the session's sink ---------------------------------------------------------------------

    def emit(self, event: SessionEvent) -> None:
        try:
            fleet_event = read_event(event)
            if fleet_event is None:
                return
            if fleet_event.kind == "summary":
                self._queue_summary(fleet_event.person, fleet_event.summary)
            person = self.tracker.apply(fleet_event, self.clock())
            if person is not None:
                self._schedule(person, sample=fleet_event.kind == "sample")
        except Exception:  # a sink must not break the session that feeds it
            log.exception("fleet: could not take a %s event", type(event).__name__)

    def _schedule(self, person: str, *, sample: bool) -> None:
        """When the person's state goes out. A new sample goes at once, unless their last
        sample went less than 0.9 interval ago (then when that has passed): at 1 Hz, each
        sample as it comes. A cue or its words ride with the next sample; only if none comes
        within an interval do they go alone (a band that went quiet)."""
        now = self.monotonic()
        interval = self.settings.live_interval_s
        if sample:
            self._with_sample.add(person)
            due = self._last_sample_sent.get(person, -math.inf) + _SPACING * interval
            due = max(now, due)
        else:
            due = now + interval
        if due < self._due.get(person, math.inf):
            self._due[person] = due
        self._wake.set()

    def summary_id(self, person: str) -> str:
        session = self.session_ids.get(person)
        if session is None:  # no store behind this session: a one-off id
            return f"{self.settings.pi}.{self._epoch}.x{uuid.uuid4().hex[:12]}"
        return f"{self.settings.pi}.{self._epoch}.{session}"

    def _queue_summary(self, person: str, summary: Mapping[str, Any]) -> None:
        message = SummaryMessage(
            id=self.summary_id(person),
            member=self.tracker.shown_as(person),
            ended_at=self.clock(),
            summary=self.tracker.summary_fields(summary),
        )
        outbox = self.outbox
        if outbox is None:
            log.warning("fleet: a summary came before the publisher started; not sent")
            return

        async def write() -> None:
            try:
                await asyncio.to_thread(outbox.put, message.id, encode_summary(message))
            except OSError:  # a full or broken disk: the session is in the store regardless
                log.exception("fleet: could not keep summary %s for the board", message.id)
                return
            self._summaries_waiting = True
            self._wake.set()

        task = asyncio.get_running_loop().create_task(write(), name="edgecoach-fleet-outbox")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    # -- the connection ---------------------------------------------------------------------------

    def _presence(self, online: bool, reason: str = "") -> bytes:
        return encode_presence(
            Presence(
                online=online,
                room=self.settings.room,
                members=tuple(self.tracker.shown_as(p) for p in self.tracker.people),
                reason=reason,
                at=self.clock(),
            )
        )

    async def _run(self) -> None:
        settings = self.settings
        topic = presence_topic(settings.site, settings.pi)
        attempt = 0
        last_error = ""
        context = self._context
        while not self._stopping:
            will = aiomqtt.Will(topic, self._presence(False, "connection lost"), qos=1, retain=True)
            try:
                async with make_client(
                    settings, identifier=settings.pi, will=will, context=context
                ) as client:
                    self._client = client
                    await client.publish(
                        topic, self._presence(True), qos=1, retain=True, timeout=5.0
                    )
                    if attempt or last_error:
                        log.info("fleet: connected to the broker again")
                    attempt, last_error = 0, ""
                    self.connected.set()
                    self._summaries_waiting = True
                    for person in self.tracker.people:  # the board may have missed them
                        self._due.setdefault(person, 0.0)
                    await self._publish_loop(client)
                    with contextlib.suppress(aiomqtt.MqttError):
                        await client.publish(
                            topic, self._presence(False, "stopped"), qos=1, retain=True, timeout=2.0
                        )
                    return
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self._client = None
                if self._stopping:
                    return
                self.failed_connects += 1
                reason = await asyncio.to_thread(self._reason, exc)
                if reason != last_error:
                    log.warning(
                        "fleet: the broker %s:%d is unreachable, coaching goes on locally: %s",
                        settings.broker_host,
                        settings.broker_port,
                        reason,
                    )
                    last_error = reason
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1
            except Exception:  # a bug must not end publishing for good: logged, then retried
                self.connected.clear()
                log.exception("fleet: publishing failed; trying again")
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1
            finally:
                self._client = None

    def _reason(self, error: BaseException) -> str:
        """Why connecting failed: paho only says "timed out" when the broker refused our
        certificate, so ask the broker directly, as `doctor` does."""
        if "timed out" not in str(error):
            return explain(error)
        from edge.fleet.doctor import probe_broker

        try:
            probed = probe_broker(self.settings, timeout_s=3.0)
        except (OSError, ssl.SSLError, ValueError) as exc:
            return explain(exc)
        return explain(error) if probed.ok else probed.detail

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        live = live_topic(self.settings.site, self.settings.pi)
        expiry = message_expiry(LIVE_EXPIRY_S)
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None
        # Noticing a lost connection while there is nothing to publish, so the Pi reconnects
        # (and its last will is set again) even when quiet: the client's message stream
        # ends with MqttError when the connection does.
        watcher = asyncio.ensure_future(self._watch(client))
        try:
            while True:
                await self._send_summaries(client)
                now = self.monotonic()
                for person, due in list(self._due.items()):
                    if due > now and not self._stopping:
                        continue
                    del self._due[person]
                    if person in self._with_sample:
                        self._with_sample.discard(person)
                        self._last_sample_sent[person] = now
                    await client.publish(
                        live, encode_live(self.tracker.payload(person)), qos=0, properties=expiry
                    )
                    self.live_sent += 1
                if self._stopping:
                    return
                if timer is not None:
                    timer.cancel()
                    timer = None
                if self._due:
                    timer = loop.call_at(
                        loop.time() + max(0.0, min(self._due.values()) - now), self._wake.set
                    )
                waiter = asyncio.ensure_future(self._wake.wait())
                done, _ = await asyncio.wait({waiter, watcher}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if watcher in done:
                    watcher.result()  # the connection is gone: MqttError, reconnect
                    raise aiomqtt.MqttError("the connection to the broker ended")
                self._wake.clear()
        finally:
            if timer is not None:
                timer.cancel()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await watcher

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        async for _ in client.messages:  # a Pi subscribes to nothing: this only ends
            pass

    async def _send_summaries(self, client: aiomqtt.Client) -> None:
        outbox = self.outbox
        if outbox is None or not self._summaries_waiting:
            return
        self._summaries_waiting = False
        pending = await asyncio.to_thread(outbox.pending)
        for item in pending:
            await client.publish(
                summary_topic(self.settings.site, self.settings.pi, item.id),
                item.payload,
                qos=1,
                retain=True,
                timeout=5.0,
                properties=message_expiry(SUMMARY_EXPIRY_S),
            )
            await asyncio.to_thread(outbox.remove, item.id)
            self.summaries_sent += 1
            log.info("fleet: summary %s delivered", item.id)
