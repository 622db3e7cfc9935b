"""The gym's zone board: a small HTTP server on loopback, updated live by Server-Sent Events.

    board = KioskBoard()                       # 127.0.0.1:8088; port=0 picks a free port
    await board.start()
    emit = fan_out(json_sink, board.emit)      # the session's sink, and the board's
    ...
    await board.stop()

Routes: `/` the page (one tile per member), `/events` the SSE stream (a "snapshot" of every tile
on connect, then one "member" event per change and a "ping" every few seconds), `/state.json` every
tile now, `/healthz`, and `POST /feedback`: how a member's session felt, from the tile's "How did
it feel?" buttons, `{"person": NAME, "rpe": 1..10}` and/or `{"person": NAME, "verdict": "too_hard"
| "too_easy"}` (JSON, at most 2 KB), handed to the board's `on_feedback` (the daemon records it in
the store, as `edgecoach feedback` does). Errors are answered with one plain line a person can act
on. With gym machines (`[[machines]]`, the board's `machines`): `/machines.json` lists them, each
free or with whom it is bound to, `POST /bind` `{"person": NAME, "machine": LABEL}` binds a free
one to a member (the coach then reads it into their session and drives it for them) and `POST
/release` `{"person": NAME}` lets it go again.

The board listens on loopback only: it shows heart rates, so it is for a screen attached to the
device, never for the network. Requests whose Host header is not a loopback name are refused too,
so a web page elsewhere cannot read the board through DNS rebinding; feedback must come as JSON
(which a page elsewhere cannot send without a CORS preflight the board never allows) and, when the
browser names an Origin, from a loopback one.

`emit` never blocks and never raises. Each browser has its own writer task and, between writes,
the latest encoded update of each member waiting for it: a browser that reads slowly gets fewer
in-between updates, never stale ones, and the memory it holds is one update per member. A browser
that stops reading (a write not drained within `drain_timeout_s`) or has gone is dropped; its
EventSource reconnects and starts again from a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import inspect
import ipaddress
import json
import logging
import socket
import struct
import termios
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

from edge.core.events import SessionEvent
from edge.core.zones import ZoneModel
from edge.errors import KioskConfigError
from edge.kiosk.state import BoardState
from edge.settings import KIOSK_HOST, KIOSK_PORT, kiosk_port, loopback_host

log = logging.getLogger(__name__)

#: Browsers streaming at once; more are answered 503.
MAX_CLIENTS = 32
#: A "ping" event this often, so a browser can tell a quiet board from a dead one.
PING_S = 5.0
#: How long a request head may take to arrive.
REQUEST_TIMEOUT_S = 10.0
#: A browser whose writes do not drain for this long has stopped reading: it is dropped.
DRAIN_TIMEOUT_S = 10.0
#: Browser's reconnect delay after the stream ends, in ms (the SSE "retry" field).
RETRY_MS = 2000
#: The largest `POST /feedback` body accepted, in bytes.
MAX_FEEDBACK_BYTES = 2048
#: How long recording one feedback may take before the browser is told to try again.
FEEDBACK_TIMEOUT_S = 10.0
#: The verdicts a tile can send.
VERDICTS = ("too_hard", "too_easy")

#: `on_feedback(person, rpe, verdict)`: record how the person's session felt (rpe 1..10 or None,
#: verdict "too_hard", "too_easy" or None, at least one given) and return what was recorded, as
#: JSON-able values (the daemon's: session_id, rpe, text, signal). Async, or a plain function run
#: in a worker thread. A ValueError is the person's mistake: its message is shown on the tile.
FeedbackHandler = Callable[
    [str, int | None, str | None], Mapping[str, object] | Awaitable[Mapping[str, object]]
]
#: `on_stop(person)`: the person pressed "Stop machine" on their tile: the coach lets go of the
#: machine it drives for them, at once; True when there was one to let go of. Called on the
#: board's loop: it must not block.
StopHandler = Callable[[str], bool]


class MachineBinder(Protocol):
    """The gym's machines as the board binds them (the daemon's `MachineRoster`). Called on the
    board's loop; a ValueError is the member's mistake (a machine taken, a session not running):
    its message is shown on the tile."""

    def listing(self) -> list[dict[str, object]]:
        """Every gym machine: {"machine": label, "kind", "drive", "person": name or None}."""
        ...

    def bind(self, person: str, machine: str) -> Mapping[str, object]:
        """Bind a free machine to a member who has none."""
        ...

    async def release(self, person: str, reason: str) -> bool:
        """Let the member's machine go (control given back first); True if there was one."""
        ...


_HOST_HEADER_NAMES = {"localhost", "127.0.0.1", "[::1]"}
#: The routes that take a POST from the board's page.
_POST_PATHS = ("/feedback", "/stop", "/bind", "/release")


_PING_KEY = "\0ping"
_PROBE_KEY = "\0probe"
#: The deepest JSON nesting a feedback body may have (it needs 1: an object of plain values).
MAX_JSON_DEPTH = 8
#: While the board is full, each ping carries a comment of this many bytes: a browser reads it
#: at once; a client that never reads fills its buffers within a few pings, its writes stop
#: draining, and its place goes to the next browser (see `_stream`).
PROBE_BYTES = 256 * 1024
#: A stream's send buffer in the kernel, and what asyncio holds before a write waits: small,
#: so a client that stops reading is seen within seconds, not after megabytes.
STREAM_SEND_BUFFER = 64 * 1024
#: A full board gives the place of a client this far behind to a new browser.
EVICT_BACKLOG_BYTES = 16 * 1024


@dataclass(eq=False, slots=True)
class _Client:
    writer: asyncio.StreamWriter
    peer: str
    #: What waits for the next write: the latest update of each member (and a ping), in order.
    pending: dict[str, bytes] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False
    connected_at: float = field(default_factory=time.monotonic)

    def backlog(self) -> int:
        """Bytes written to this client that it has not taken yet (asyncio's buffer and the
        kernel's send queue): a browser that reads keeps this near 0."""
        transport = self.writer.transport
        queued = transport.get_write_buffer_size()
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                unsent = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
                queued += struct.unpack("i", unsent)[0]
            except OSError:
                pass
        return queued


def _sse(event: str, payload: object) -> bytes:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event}\ndata: {data}\n\n".encode()


class KioskBoard:
    def __init__(
        self,
        host: str = KIOSK_HOST,
        port: int = KIOSK_PORT,
        *,
        members: Sequence[str] = (),
        zones: Mapping[str, ZoneModel] | None = None,
        max_clients: int = MAX_CLIENTS,
        ping_s: float = PING_S,
        drain_timeout_s: float = DRAIN_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        on_feedback: FeedbackHandler | None = None,
        on_stop: StopHandler | None = None,
        machines: MachineBinder | None = None,
        state: Any = None,
        page: bytes | None = None,
    ) -> None:
        """A board on `host`:`port` (loopback only; port 0 picks a free one, see `.port`).

        `members` are shown from the start, in that order (the daemon's people); others appear
        when their first event arrives. `zones` (by person) give effort as % of heart-rate
        reserve for samples that carry no "hrr_fraction". `on_feedback` records what a tile's
        "How did it feel?" sends (see `FeedbackHandler`); without it `POST /feedback` is
        answered 503. `on_stop` lets go of a machine the coach drives for a member (`POST
        /stop`, the tile's "Stop machine"; see `StopHandler`). `machines` are the gym's machines
        a member binds from their tile (`MachineBinder`). `state` and `page` replace the
        tiles and the page (the gym fleet's board: its `apply(event, now)` returns the tile, or
        the list of tiles, that changed).
        """
        self.host = loopback_host(host)
        self._requested_port = kiosk_port(port)
        self.state = state if state is not None else BoardState.listing(members, zones)
        self.max_clients = max_clients
        self.ping_s = ping_s
        self.drain_timeout_s = drain_timeout_s
        self.clock = clock
        self.on_feedback = on_feedback
        self.on_stop = on_stop
        self.machines = machines
        self._page = (
            page
            if page is not None
            else resources.files("edge.kiosk").joinpath("page.html").read_bytes()
        )
        self._clients: set[_Client] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        #: Updates written to browsers, updates replaced by a newer one of the same member before
        #: a slow browser's next write, and browsers dropped for not reading.
        self.updates_sent = 0
        self.updates_coalesced = 0
        self.clients_dropped = 0

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (the free one picked, when asked for port 0)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def clients(self) -> int:
        """Browsers streaming now."""
        return len(self._clients)

    async def start(self) -> None:
        if self._server is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        try:
            self._server = await asyncio.start_server(
                self._handle, self.host, self._requested_port, limit=16 * 1024, reuse_address=True
            )
        except OSError as exc:
            raise KioskConfigError(
                f"the zone board cannot listen on {self.host}:{self._requested_port}: "
                f"{exc.strerror or exc}; choose another [kiosk] port"
            ) from exc
        self._pinger = asyncio.create_task(self._ping_loop(), name="edgecoach-kiosk-ping")
        log.info("zone board on %s", self.url)

    async def stop(self) -> None:
        """Stop listening, end every browser's stream, and wait for the connections to close."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
            self._pinger = None
        for client in list(self._clients):
            self._end(client)
        handlers = list(self._handlers)
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()
        self._loop = None
        log.info("zone board stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- the session's sink ---------------------------------------------------------------------

    def emit(self, event: SessionEvent) -> None:
        """Take one session event: update its member's tile and tell every browser. Never blocks.

        Safe to call from another thread: the update then happens on the board's event loop.
        """
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is watching
                loop.call_soon_threadsafe(self._apply, event)
            return
        self._apply(event)

    def _apply(self, event: SessionEvent | Any) -> None:
        try:
            changed = self.state.apply(event, self.clock())
            if changed is not None and self._clients:
                for member in changed if isinstance(changed, list) else (changed,):
                    self._broadcast(member.name, _sse("member", member.as_dict(self.clock())))
        except Exception:  # a sink must not break the session that feeds it
            log.exception("zone board: could not apply a %s event", type(event).__name__)

    def snapshot(self) -> dict[str, object]:
        """Every tile as `/state.json` serves it."""
        now = self.clock()
        return {"members": [m.as_dict(now) for m in self.state.members.values()]}

    def _broadcast(self, key: str, message: bytes) -> None:
        for client in self._clients:
            if key in client.pending:
                self.updates_coalesced += 1
            client.pending[key] = message
            client.wake.set()

    def _end(self, client: _Client) -> None:
        """Have the client's stream end once what waits for it is written."""
        self._clients.discard(client)
        client.closing = True
        client.wake.set()

    async def _ping_loop(self) -> None:
        ping = _sse("ping", {})
        probe = b": " + b"." * (PROBE_BYTES - 4) + b"\n\n"  # an SSE comment: browsers skip it
        while True:
            await asyncio.sleep(self.ping_s)
            self._broadcast(_PING_KEY, ping)
            if len(self._clients) >= self.max_clients:
                self._broadcast(_PROBE_KEY, probe)

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        peer = writer.get_extra_info("peername")
        peer_name = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "a browser"
        try:
            await self._serve(reader, writer, peer_name)
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
        ):
            pass  # the browser went, or sent nothing usable: nothing to answer
        except Exception:
            log.exception("zone board: request from %s failed", peer_name)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            if task is not None:
                self._handlers.discard(task)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await self._respond(writer, 400, "text/plain", b"bad request\n")
            return
        method, target, _ = parts
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if not _loopback_host_header(headers.get("host", "")):
            await self._respond(
                writer,
                421,
                "text/plain",
                b"the zone board answers only to 127.0.0.1 or localhost\n",
            )
            return
        path = target.split("?", 1)[0]
        allowed = ("POST",) if path in _POST_PATHS else ("GET", "HEAD")
        if method not in allowed:
            await self._respond(
                writer,
                405,
                "text/plain",
                b"method not allowed\n",
                extra={"Allow": ", ".join(allowed)},
                head_only=False,
            )
            return
        if method == "POST" and path == "/stop":
            await self._stop_machine(reader, writer, headers)
            return
        if method == "POST" and path in ("/bind", "/release"):
            await self._bind_machine(reader, writer, headers, path[1:])
            return
        if method == "POST":
            await self._feedback(reader, writer, headers)
            return
        head_only = method == "HEAD"
        if path in ("/", "/index.html"):
            await self._respond(
                writer, 200, "text/html; charset=utf-8", self._page, head_only=head_only
            )
        elif path == "/state.json":
            body = json.dumps(self.snapshot(), ensure_ascii=False).encode()
            await self._respond(writer, 200, "application/json", body, head_only=head_only)
        elif path == "/machines.json":
            listing = [] if self.machines is None else self.machines.listing()
            body = json.dumps({"machines": listing}, ensure_ascii=False).encode()
            await self._respond(writer, 200, "application/json", body, head_only=head_only)
        elif path == "/healthz":
            body = json.dumps(
                {"status": "ok", "members": len(self.state.members), "clients": len(self._clients)}
            ).encode()
            await self._respond(writer, 200, "application/json", body, head_only=head_only)
        elif path == "/events" and not head_only:
            await self._stream(writer, peer)
        else:
            await self._respond(writer, 404, "text/plain", b"not found\n", head_only=head_only)

    async def _refuse(self, writer: asyncio.StreamWriter, status: int, reason: str) -> None:
        await self._respond(writer, status, "text/plain; charset=utf-8", reason.encode() + b"\n")

    async def _json_body(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: Mapping[str, str],
        what: str,
    ) -> bytes | None:
        """The body of a POST from the board's own page, or None once refused (`what`: the
        "feedback" or the "stop" the messages name)."""

        async def refuse(status: int, reason: str) -> None:
            await self._refuse(writer, status, reason)

        if not _loopback_origin(headers.get("origin")):
            await refuse(403, f"{what} is taken only from the zone board's own page")
            return None
        if "transfer-encoding" in headers:
            await refuse(400, f"send the {what} with a Content-Length, not chunked")
            return None
        length_text = headers.get("content-length", "")
        if not length_text.isascii() or not length_text.isdigit():
            await refuse(400, f"send the {what} with a Content-Length")
            return None
        length = int(length_text)
        if length > MAX_FEEDBACK_BYTES:
            # Read what was sent (up to a limit), so the answer is not lost to a reset.
            with contextlib.suppress(asyncio.IncompleteReadError, TimeoutError):
                await asyncio.wait_for(reader.readexactly(min(length, 64 * 1024)), 2.0)
            await refuse(413, f"{what} is at most {MAX_FEEDBACK_BYTES} bytes of JSON")
            return None
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            await refuse(415, f"send the {what} as JSON (Content-Type: application/json)")
            return None
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return await asyncio.wait_for(reader.readexactly(length), REQUEST_TIMEOUT_S)

    async def _stop_machine(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: Mapping[str, str]
    ) -> None:
        """`POST /stop` `{"person": NAME}`: the coach lets go of the person's machine now."""
        body = await self._json_body(reader, writer, headers, "stop")
        if body is None:
            return
        if self.on_stop is None:
            await self._refuse(writer, 503, "no machine is driven from this board")
            return
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
        person = data.get("person") if isinstance(data, dict) else None
        if not isinstance(person, str) or person not in self.state.members:
            await self._refuse(writer, 400, 'send {"person": NAME} with a name shown on the board')
            return
        released = bool(self.on_stop(person))
        body = json.dumps({"person": person, "released": released}, ensure_ascii=False).encode()
        await self._respond(writer, 200, "application/json", body)

    async def _bind_machine(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: Mapping[str, str],
        what: str,
    ) -> None:
        """`POST /bind` `{"person", "machine"}` or `POST /release` `{"person"}`."""
        body = await self._json_body(reader, writer, headers, what)
        if body is None:
            return
        if self.machines is None:
            await self._refuse(writer, 503, "no gym machines are bound from this board")
            return
        try:
            data = json.loads(body.decode("utf-8")) if _json_depth(body.decode()) <= 2 else None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            data = None
        fields = {"person", "machine"} if what == "bind" else {"person"}
        person = data.get("person") if isinstance(data, dict) else None
        machine = data.get("machine") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or set(data) != fields
            or not isinstance(person, str)
            or (what == "bind" and not isinstance(machine, str))
        ):
            example = '{"person": NAME, "machine": LABEL}' if what == "bind" else '{"person": NAME}'
            await self._refuse(writer, 400, f"send {example}")
            return
        if person not in self.state.members:
            await self._refuse(writer, 400, "choose a name shown on the board")
            return
        try:
            if what == "bind":
                assert isinstance(machine, str)
                answer = dict(self.machines.bind(person, machine))
            else:
                released = await self.machines.release(person, "released from the zone board")
                answer = {"released": released}
        except ValueError as exc:
            await self._refuse(writer, 409, _one_line(str(exc)))
            return
        body = json.dumps({"person": person, **answer}, ensure_ascii=False).encode()
        await self._respond(writer, 200, "application/json", body)

    async def _feedback(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: Mapping[str, str]
    ) -> None:
        """`POST /feedback`: check, read and validate the body, record it, say what was."""

        async def refuse(status: int, reason: str) -> None:
            await self._refuse(writer, status, reason)

        body = await self._json_body(reader, writer, headers, "feedback")
        if body is None:
            return
        if self.on_feedback is None:
            await refuse(503, "feedback is not available")
            return
        try:
            person, rpe, verdict = self._parse_feedback(body)
        except ValueError as exc:
            await refuse(400, str(exc))
            return
        try:
            recorded = await asyncio.wait_for(
                self._record(person, rpe, verdict), FEEDBACK_TIMEOUT_S
            )
        except TimeoutError:
            await refuse(503, "the coach is busy: try again in a moment")
            return
        except ValueError as exc:  # the store's FeedbackError: no session yet, say
            await refuse(400, _one_line(str(exc)))
            return
        except Exception:
            log.exception("zone board: could not record feedback for %s", person)
            await refuse(500, "the feedback could not be recorded; the coach's log says why")
            return
        body = json.dumps({"person": person, **recorded}, ensure_ascii=False, default=str).encode()
        await self._respond(writer, 200, "application/json", body)

    def _parse_feedback(self, body: bytes) -> tuple[str, int | None, str | None]:
        """(person, rpe, verdict) from a `POST /feedback` body; ValueError says what is wrong."""
        try:
            text = body.decode("utf-8")
            if _json_depth(text) > MAX_JSON_DEPTH:
                raise ValueError(
                    f"the feedback nests deeper than {MAX_JSON_DEPTH} levels: "
                    'send {"person": NAME, "rpe": 1..10}'
                )
            data = json.loads(text)
        except RecursionError:  # bounded above; kept so no body can end the board's task
            raise ValueError("the feedback nests too deep: send a flat JSON object") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError(
                'the feedback is not valid JSON: send {"person": NAME, '
                '"rpe": 1..10} or {"person": NAME, "verdict": "too_hard"}'
            ) from None
        if not isinstance(data, dict):  # a reason for the tile, like every other here
            raise ValueError(  # noqa: TRY004
                'the feedback must be a JSON object: {"person": NAME, "rpe": 1..10}'
            )
        unknown = sorted(set(data) - {"person", "rpe", "verdict"})
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}: send person, rpe and/or verdict")
        person = data.get("person")
        if not isinstance(person, str) or not person.strip():
            raise ValueError('say whose session it was: "person" is a name shown on the board')
        if person not in self.state.members:
            raise ValueError(
                f"unknown member {_one_line(person)[:60]!r}: choose a name shown on the board"
            )
        rpe = data.get("rpe")
        if rpe is not None and (
            isinstance(rpe, bool) or not isinstance(rpe, int) or not 1 <= rpe <= 10
        ):
            raise ValueError("RPE must be a whole number from 1 (very easy) to 10 (all-out)")
        verdict = data.get("verdict")
        if verdict is not None and verdict not in VERDICTS:
            raise ValueError('verdict must be "too_hard" or "too_easy"')
        if rpe is None and verdict is None:
            raise ValueError("say how it felt: an RPE from 1 to 10, too hard or too easy")
        return person, rpe, verdict

    async def _record(
        self, person: str, rpe: int | None, verdict: str | None
    ) -> Mapping[str, object]:
        handler = self.on_feedback
        assert handler is not None
        if inspect.iscoroutinefunction(handler):
            result = await handler(person, rpe, verdict)
        else:  # a plain function may block (a store): never on the board's loop
            result = await asyncio.to_thread(handler, person, rpe, verdict)
            if inspect.isawaitable(result):
                result = await result
        return dict(result)

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        content_type: str,
        body: bytes,
        *,
        extra: Mapping[str, str] | None = None,
        head_only: bool = False,
    ) -> None:
        reason = {
            200: "OK",
            400: "Bad Request",
            403: "Forbidden",
            404: "Not Found",
            405: "Method Not Allowed",
            409: "Conflict",
            413: "Content Too Large",
            415: "Unsupported Media Type",
            421: "Misdirected Request",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }[status]
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            **_COMMON_HEADERS,
            **(extra or {}),
        }
        writer.write(_head(status, reason, headers) + (b"" if head_only else body))
        await asyncio.wait_for(writer.drain(), self.drain_timeout_s)

    async def _stream(self, writer: asyncio.StreamWriter, peer: str) -> None:
        if len(self._clients) >= self.max_clients and not self._evict_one_behind():
            await self._respond(
                writer,
                503,
                "text/plain",
                b"too many browsers on the board\n",
                extra={"Retry-After": "10"},
            )
            return
        sock = writer.get_extra_info("socket")
        if sock is not None:  # small buffers: a client that stops reading shows it soon
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
        writer.transport.set_write_buffer_limits(high=STREAM_SEND_BUFFER // 4)
        client = _Client(writer, peer)
        self._clients.add(client)
        log.debug("zone board: %s connected", peer)
        try:
            headers = {
                "Content-Type": "text/event-stream; charset=utf-8",
                **_COMMON_HEADERS,
                "X-Accel-Buffering": "no",
            }
            writer.write(
                _head(200, "OK", headers)
                + f"retry: {RETRY_MS}\n\n".encode()
                + _sse("snapshot", self.snapshot())
            )
            await self._drain(client)
            while not client.closing:
                await client.wake.wait()
                client.wake.clear()
                if client.pending:
                    messages = list(client.pending.values())
                    client.pending.clear()
                    writer.write(b"".join(messages))
                    self.updates_sent += len(messages)
                    await self._drain(client)
        finally:
            self._clients.discard(client)
            log.debug("zone board: %s disconnected", peer)

    def _evict_one_behind(self) -> bool:
        """On a full board: drop the client furthest behind, if one is more than
        EVICT_BACKLOG_BYTES behind (it does not read; its place goes to a new browser)."""
        behind = max(self._clients, key=lambda c: (c.backlog(), -c.connected_at), default=None)
        if behind is None or behind.backlog() < EVICT_BACKLOG_BYTES:
            return False
        log.info(
            "zone board: full; dropping %s, it stopped reading, for a new browser", behind.peer
        )
        self.clients_dropped += 1
        self._clients.discard(behind)
        behind.closing = True
        behind.writer.transport.abort()
        behind.wake.set()
        return True

    async def _drain(self, client: _Client) -> None:
        try:
            await asyncio.wait_for(client.writer.drain(), self.drain_timeout_s)
        except TimeoutError:
            log.info("zone board: dropping %s, it stopped reading", client.peer)
            self.clients_dropped += 1
            client.writer.transport.abort()
            raise


# Nothing on the page is fetched from elsewhere, and it may not be framed or cached.
_COMMON_HEADERS = {
    "Cache-Control": "no-store",
    "Connection": "close",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'",
}


def _json_depth(text: str) -> int:
    """How deep arrays and objects nest in `text` (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _head(status: int, reason: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _loopback_origin(value: str | None) -> bool:
    """A request's Origin is loopback (or absent: not a browser, or not a cross-site one)."""
    if value is None:
        return True
    try:
        parts = urlsplit(value)
        netloc = parts.netloc
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(netloc) and _loopback_host_header(netloc)


def _loopback_host_header(value: str) -> bool:
    if not value:
        return True  # HTTP/1.0 clients send none; the socket is loopback anyway
    host = value.rsplit(":", 1)[0] if not value.endswith("]") else value
    if host in _HOST_HEADER_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
