"""The gym's zone board: tile state from session events, the loopback server, SSE, a real browser.

The browser test drives Debian's headless Chromium over the DevTools protocol on a pipe
(`--remote-debugging-pipe`, NUL-delimited JSON on fds 3 and 4): `--dump-dom` alone dumps the page
at its load event, before the first server-sent event, and `--virtual-time-budget` never expires
while an EventSource stream is open, so the test waits on the page itself instead.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from blockbuster import blockbuster_ctx
from session_events import cue_event, sample_event, spoken_event

from edge.coach.summary import summarise
from edge.core.cues import Action, CueKind
from edge.core.events import (
    CueDecided,
    CueSpoken,
    LinkChanged,
    SampleTaken,
    SessionEnded,
    SessionEvent,
    WarningRaised,
    event_json,
    for_person,
)
from edge.core.zones import ZoneModel
from edge.errors import ConfigError, KioskConfigError
from edge.kiosk import BoardState, KioskBoard
from edge.kiosk.state import NO_SIGNAL_AFTER_S
from edge.profile import Profile
from edge.settings import KioskSettings, loopback_host
from edge.stream.readings import LinkEvent, LinkState


def run(coro, timeout: float = 15.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def sample(
    person: str, t: int, hr: float | None, zone: int | None, hrr_fraction: float | None = None
) -> SampleTaken:
    """A sample event as the daemon hands it to the board (a person on it)."""
    return sample_event(t, hr, zone, person=person, hrr_fraction=hrr_fraction)


def cue(person: str, cue_id: int, t: int, kind: CueKind, action: Action, **facts) -> CueDecided:
    """A cue event exactly as the session emits it."""
    return cue_event(cue_id, kind, t=t, action=action, person=person, **facts)


def spoken(
    person: str | None, cue_id: int, text: str, kind: str = "zone_change", source: str = "llm"
) -> CueSpoken:
    return spoken_event(cue_id, text, kind=CueKind(kind), source=source, person=person)


# -- tile state ---------------------------------------------------------------------------------


def test_a_sample_sets_heart_rate_zone_and_effort() -> None:
    board = BoardState()
    member = board.apply(sample("sam", 12, 171.6, 4, hrr_fraction=0.8712), now=100.0)
    assert member is not None
    state = member.as_dict(now=101.5)
    assert state["name"] == "sam"
    assert (state["hr"], state["zone"], state["zone_name"]) == (172, 4, "threshold")
    assert state["effort_pct"] == 87
    assert state["sample_age_s"] == 1.5
    assert state["no_signal"] is False
    assert state["t"] == 12


def test_effort_comes_from_the_zone_model_or_not_at_all() -> None:
    zones = {"sam": ZoneModel(resting_hr=56, max_hr=181)}
    board = BoardState.listing(zones=zones)
    sam = board.apply(sample("sam", 1, 143.5, 3), now=0.0)
    kim = board.apply(sample("kim", 1, 150, 3), now=0.0)
    assert sam.as_dict(0.0)["effort_pct"] == 70  # (143.5 - 56) / 125
    assert kim.as_dict(0.0)["effort_pct"] is None
    assert kim.as_dict(0.0)["zone_name"] == "steady"


def test_a_gap_or_a_silent_band_shows_no_signal() -> None:
    board = BoardState()
    board.apply(sample("kim", 1, 120, 1), now=0.0)
    assert board.members["kim"].as_dict(now=NO_SIGNAL_AFTER_S)["no_signal"] is False
    assert board.members["kim"].as_dict(now=NO_SIGNAL_AFTER_S + 0.5)["no_signal"] is True
    state = board.apply(sample("kim", 2, None, None), now=1.0).as_dict(now=1.0)
    assert state["no_signal"] is True and state["gap"] is True
    assert state["hr"] is None and state["zone"] is None and state["effort_pct"] is None


def test_a_member_listed_before_any_sample_waits_for_a_band() -> None:
    board = BoardState.listing(["sam", "kim"])
    assert list(board.members) == ["sam", "kim"]
    state = board.members["kim"].as_dict(now=5.0)
    assert state["hr"] is None and state["sample_age_s"] is None and state["no_signal"] is True


def test_the_cue_shows_its_words_once_ready_and_never_older_words() -> None:
    board = BoardState()
    board.apply(
        cue(
            "sam",
            4,
            30,
            CueKind.ZONE_CHANGE,
            Action.HOLD,
            hr=150,
            zone=3,
            previous_zone=2,
            zone_low=144,
            zone_high=156,
        ),
        now=0.0,
    )
    shown = board.members["sam"].as_dict(0.0)["cue"]
    assert shown["text"] == "Zone 3 now, heart rate 150. Hold this effort."
    assert (shown["id"], shown["source"], shown["safety"]) == (4, "template", False)

    board.apply(spoken("sam", 4, "Nice, zone 3 at 150: hold it there."), now=0.4)
    assert board.members["sam"].as_dict(0.5)["cue"]["text"] == "Nice, zone 3 at 150: hold it there."
    assert board.members["sam"].as_dict(0.5)["cue"]["source"] == "llm"

    board.apply(
        cue(
            "sam",
            5,
            40,
            CueKind.HIGH_ZONE,
            Action.EASE_OFF,
            hr=170,
            zone=5,
            previous_zone=4,
            zone5_lower=169,
        ),
        now=1.0,
    )
    # The words of cue 4 arriving again (or late) never replace cue 5's.
    assert board.apply(spoken("sam", 4, "old words"), now=1.1) is None
    assert board.members["sam"].as_dict(1.2)["cue"]["text"].startswith("Zone 5, heart rate 170")


def test_words_without_a_cue_event_are_the_cue() -> None:
    board = BoardState()
    board.apply(spoken("you", 9, "Easy does it.", kind="zone_change"), now=0.0)
    assert board.members["you"].as_dict(0.0)["cue"]["text"] == "Easy does it."


def test_sensor_lost_badge_until_the_heart_rate_is_back() -> None:
    board = BoardState()
    board.apply(sample("kim", 1, 120, 1), now=0.0)
    board.apply(sample("kim", 2, None, None), now=1.0)
    board.apply(cue("kim", 1, 2, CueKind.SENSOR_LOST, Action.CHECK_SENSOR, gap_s=5), now=1.0)
    assert board.members["kim"].as_dict(1.0)["sensor_lost"] is True
    board.apply(sample("kim", 3, None, None), now=2.0)
    assert board.members["kim"].as_dict(2.0)["sensor_lost"] is True
    board.apply(sample("kim", 4, 118, 1), now=3.0)
    assert board.members["kim"].as_dict(3.0)["sensor_lost"] is False

    board.apply(cue("kim", 2, 9, CueKind.SENSOR_LOST, Action.CHECK_SENSOR, gap_s=5), now=4.0)
    board.apply(cue("kim", 3, 12, CueKind.SENSOR_BACK, Action.INFO, hr=119), now=5.0)
    assert board.members["kim"].as_dict(5.0)["sensor_lost"] is False


@pytest.mark.parametrize(
    "kind,facts",
    [
        (CueKind.ABOVE_MAX_HR, {"hr": 190, "max_hr": 181, "held_s": 5}),
        (CueKind.IMPLAUSIBLE_READING, {"hr": 251}),
    ],
)
def test_safety_cues_are_marked(kind: CueKind, facts: dict) -> None:
    board = BoardState()
    board.apply(cue("lee", 1, 5, kind, Action.STOP, **facts), now=0.0)
    assert board.members["lee"].as_dict(0.0)["cue"]["safety"] is True


def test_events_without_a_person_are_yours_and_other_events_change_nothing() -> None:
    board = BoardState()
    assert board.apply(sample(None, 1, 90, 0), now=0.0).name == "you"
    assert board.apply(WarningRaised("speech stopped"), now=0.0) is None
    board.apply(LinkChanged(LinkEvent("band", 3, LinkState.DISCONNECTED)), now=0.0)
    assert board.members["you"].as_dict(0.0)["link"] == "disconnected"
    board.apply(
        SessionEnded(summarise([], {}, [], [], ZoneModel.for_profile(Profile()), [])), now=1.0
    )
    assert board.members["you"].as_dict(1.0)["ended"] is True


def test_a_zone_outside_the_model_is_not_shown() -> None:
    board = BoardState()
    state = board.apply(sample("x", 1, None, 9), now=0.0).as_dict(0.0)
    assert state["hr"] is None and state["zone"] is None and state["effort_pct"] is None


# -- the server: loopback only ------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",
        "",
        "::",
        "192.168.1.20",
        "10.0.0.1",
        "example.com",
        "localhost.example.com",
        "127.0.0.1 ",
    ],
)
def test_the_board_refuses_any_host_but_loopback(host: str) -> None:
    with pytest.raises(KioskConfigError, match="loopback") as raised:
        KioskBoard(host, 0)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, ConfigError)
    with pytest.raises(ValueError, match="loopback"):
        KioskSettings(enabled=True, host=host)


def test_loopback_names_are_accepted() -> None:
    assert loopback_host("127.0.0.1") == "127.0.0.1"
    assert loopback_host("localhost") == "127.0.0.1"
    assert loopback_host("::1") == "::1"
    assert KioskBoard().host == "127.0.0.1" and KioskBoard().port == 8088


@pytest.mark.parametrize("port", [-1, 65536, "8088", True])
def test_bad_ports_are_refused(port) -> None:
    with pytest.raises(KioskConfigError, match="port"):
        KioskBoard("127.0.0.1", port)


def test_a_port_in_use_is_a_config_error() -> None:
    async def body() -> None:
        async with KioskBoard(port=0) as first:
            with pytest.raises(KioskConfigError, match="cannot listen"):
                await KioskBoard(port=first.port).start()

    run(body())


# -- the server: HTTP and SSE -------------------------------------------------------------------


async def http_get(
    port: int, path: str, host: str = "127.0.0.1", method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


class SseClient:
    """A browser's EventSource, as a test sees it: (event, data) pairs from `/events`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> SseClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=4 * 2**20)
        writer.write(
            f"GET /events HTTP/1.1\r\nHost: localhost:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        client = cls(reader, writer)
        head = await reader.readuntil(b"\r\n\r\n")
        client.status = int(head.split(b" ")[1])
        client.head = head.decode("latin-1")
        return client

    async def next(self, timeout: float = 5.0, pings: bool = False) -> tuple[str, object] | None:
        """The next event (pings too if asked); None at the end of the stream."""
        event, data = "message", []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            if not line:
                return None
            line = line.rstrip(b"\n").decode()
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                if event != "ping" or pings:
                    return event, json.loads("\n".join(data))
                event, data = "message", []

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


def test_state_json_healthz_and_the_page() -> None:
    async def body() -> None:
        async with KioskBoard(port=0, members=["sam", "kim"]) as board:
            board.emit(sample("sam", 7, 150, 3, hrr_fraction=0.75))
            status, headers, raw = await http_get(board.port, "/state.json")
            assert status == 200 and headers["content-type"] == "application/json"
            assert headers["cache-control"] == "no-store"
            state = json.loads(raw)
            assert [m["name"] for m in state["members"]] == ["sam", "kim"]
            assert state["members"][0]["hr"] == 150 and state["members"][0]["effort_pct"] == 75
            assert state["members"][1]["no_signal"] is True

            status, _, raw = await http_get(board.port, "/healthz")
            assert status == 200 and json.loads(raw) == {"status": "ok", "members": 2, "clients": 0}
            status, headers, raw = await http_get(board.port, "/")
            assert status == 200 and headers["content-type"].startswith("text/html")
            assert b"EventSource" in raw and int(headers["content-length"]) == len(raw)
            assert "default-src 'none'" in headers["content-security-policy"]
            # Nothing on the page comes from elsewhere.
            assert b"http://" not in raw and b"https://" not in raw and b"//cdn" not in raw

            assert (await http_get(board.port, "/nope"))[0] == 404
            assert (await http_get(board.port, "/state.json", method="POST"))[0] == 405
            status, _, raw = await http_get(board.port, "/healthz", method="HEAD")
            assert status == 200 and raw == b""

    run(body())


def test_requests_for_other_host_names_are_refused() -> None:
    """A web page elsewhere cannot read the board through DNS rebinding."""

    async def body() -> None:
        async with KioskBoard(port=0) as board:
            board.emit(sample("sam", 7, 150, 3))
            status, _, raw = await http_get(board.port, "/state.json", host="attacker.example")
            assert status == 421 and b"150" not in raw
            assert (await http_get(board.port, "/state.json", host="localhost"))[0] == 200
            assert (await http_get(board.port, "/state.json", host="[::1]"))[0] == 200

    run(body())


def test_the_stream_sends_a_snapshot_then_every_update_then_ends_on_stop() -> None:
    async def body() -> None:
        board = KioskBoard(port=0, ping_s=0.2)
        await board.start()
        try:
            board.emit(sample("sam", 1, 140, 2))
            first = await SseClient.connect(board.port)
            second = await SseClient.connect(board.port)
            assert first.status == 200 and "text/event-stream" in first.head
            for client in (first, second):
                event, snapshot = await client.next()
                assert event == "snapshot"
                assert [(m["name"], m["hr"]) for m in snapshot["members"]] == [("sam", 140)]
            assert board.clients == 2

            board.emit(sample("kim", 1, 101, 0))
            board.emit(
                cue("kim", 1, 1, CueKind.ZONE_CHANGE, Action.INFO, hr=101, zone=0, previous_zone=1)
            )
            for client in (first, second):  # both in one update: they came in one go
                event, kim = await client.next()
                assert event == "member" and (kim["name"], kim["hr"], kim["seq"]) == ("kim", 101, 2)
                assert kim["cue"]["text"].startswith("Heart rate 101")
            board.emit(spoken("kim", 1, "Easy now, kim."))
            for client in (first, second):
                event, kim = await client.next()
                assert (event, kim["seq"], kim["cue"]["text"]) == ("member", 3, "Easy now, kim.")
            assert (await first.next(timeout=2.0, pings=True))[0] == "ping"
            await second.close()
        finally:
            await board.stop()
        assert await first.next() is None  # the stream ended with the board
        await first.close()
        assert board.clients == 0

    run(body())


def test_a_slow_browser_gets_the_latest_update_of_each_member_not_a_backlog() -> None:
    async def body() -> None:
        async with KioskBoard(port=0) as board:
            client = await SseClient.connect(board.port)
            assert (await client.next())[0] == "snapshot"
            # Three updates of sam and one of kim before the stream's task runs again.
            for t in range(3):
                board.emit(sample("sam", t, 120 + t, 1))
            board.emit(sample("kim", 0, 99, 0))
            event, sam = await client.next()
            assert event == "member" and (sam["name"], sam["hr"], sam["seq"]) == ("sam", 122, 3)
            assert (await client.next())[1]["name"] == "kim"
            assert board.updates_coalesced == 2
            board.emit(sample("sam", 3, 125, 1))
            assert (await client.next())[1]["hr"] == 125
            await client.close()

    run(body())


def test_a_browser_that_stops_reading_is_dropped_and_emit_never_blocks() -> None:
    async def body() -> None:
        async with KioskBoard(port=0, drain_timeout_s=0.3) as board:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", board.port))
            reader, writer = await asyncio.open_connection(sock=sock)
            stuck = SseClient(reader, writer)
            writer.write(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{board.port}\r\n\r\n".encode())
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
            # ...and it reads no more. Distinct members, so nothing coalesces.
            longest, n = 0.0, 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10.0
            while board.clients_dropped == 0 and loop.time() < deadline:
                for _ in range(50):
                    event = sample(f"member {n % 500} " + "x" * 300, n, 100 + n % 80, 1)
                    before = time.perf_counter()
                    board.emit(event)
                    longest = max(longest, time.perf_counter() - before)
                    n += 1
                await asyncio.sleep(0.005)
            assert board.clients_dropped == 1 and board.clients == 0
            assert longest < 0.25, f"emit() took {longest:.3f} s"
            await stuck.close()
            fresh = await SseClient.connect(board.port)
            _, snapshot = await fresh.next()
            assert len(snapshot["members"]) == min(n, 500)  # a reconnect starts from a snapshot
            await fresh.close()

    run(body())


def test_too_many_browsers_are_answered_503() -> None:
    async def body() -> None:
        async with KioskBoard(port=0, max_clients=1) as board:
            first = await SseClient.connect(board.port)
            await first.next()
            second = await SseClient.connect(board.port)
            assert second.status == 503
            await second.close()
            await first.close()

    run(body())


def test_emit_from_another_thread_lands_on_the_board_loop() -> None:
    async def body() -> None:
        async with KioskBoard(port=0) as board:
            client = await SseClient.connect(board.port)
            await client.next()
            thread = threading.Thread(target=board.emit, args=(sample("sam", 1, 133, 2),))
            thread.start()
            thread.join()
            event, sam = await client.next()
            assert event == "member" and sam["hr"] == 133
            await client.close()

    run(body())


def test_the_server_never_blocks_its_event_loop() -> None:
    async def body() -> None:
        async with KioskBoard(port=0) as board:
            with blockbuster_ctx():
                client = await SseClient.connect(board.port)
                await client.next()
                board.emit(sample("sam", 1, 133, 2))
                await client.next()
                assert (await http_get(board.port, "/"))[0] == 200
                assert (await http_get(board.port, "/state.json"))[0] == 200
                await client.close()

    run(body())


def test_real_coaching_sessions_feed_the_board_as_the_daemon_wires_it() -> None:
    """Two people's sessions (simulator, coach, template words), fanned out to a sink and the
    board as the daemon would."""
    from edge.narrator.narrator import Narrator
    from edge.profile import Profile
    from edge.session import CoachingSession
    from edge.sources.simulator import SimulatorSource
    from firmware_bridge.simulator import DEMO_WORKOUT, Athlete

    people = [Profile("sam", 42, 56, 181), Profile("kim", 30, 62, 190)]

    async def body() -> None:
        zones = {p.name: ZoneModel.for_profile(p) for p in people}
        async with KioskBoard(port=0, members=[p.name for p in people], zones=zones) as board:
            client = await SseClient.connect(board.port)
            await client.next()
            lines: list[dict] = []

            def sink_for(name: str):
                def emit_for_person(event: SessionEvent) -> None:  # as the daemon's
                    event = for_person(event, name)
                    lines.append(event_json(event))  # the JSON-lines sink, say
                    board.emit(event)

                return emit_for_person

            sessions = []
            for seed, profile in enumerate(people):
                athlete = Athlete(profile.age, profile.resting_hr, profile.effective_max_hr, 0.5)
                session = CoachingSession(
                    profile=profile,
                    health=None,
                    narrator=Narrator(None),
                    speaker=None,
                    emit=sink_for(profile.name),
                )
                source = SimulatorSource(DEMO_WORKOUT, athlete, seed=seed, speed=0)
                sessions.append(session.run(source))
            await asyncio.gather(*sessions)

            state = {m["name"]: m for m in board.snapshot()["members"]}
            assert set(state) == {"sam", "kim"}
            for name in state:
                last = [e for e in lines if e["person"] == name and e["event"] == "sample"][-1]
                assert state[name]["hr"] == round(last["hr"])
                assert state[name]["zone"] == last["zone"]
                assert state[name]["ended"] is True and state[name]["effort_pct"] is not None
                spoken = [e for e in lines if e["person"] == name and e["event"] == "spoken"]
                assert state[name]["cue"]["text"] == spoken[-1]["text"]
            seen: dict[str, dict] = {}
            while not all(seen.get(name, {}).get("ended") for name in state):
                event, member = await client.next()
                assert event == "member"
                seen[member["name"]] = member
            ages = ("sample_age_s", "cue")  # measured when sent, not now
            for name, now in state.items():
                assert {k: v for k, v in seen[name].items() if k not in ages} == {
                    k: v for k, v in now.items() if k not in ages
                }
                assert seen[name]["cue"]["text"] == now["cue"]["text"]
            await client.close()

    run(body(), timeout=60.0)


# -- a real browser -----------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--window-size=1280,800",
    "--remote-debugging-pipe",
)
# Puts the DevTools pipe ends on fds 3 (commands in) and 4 (replies out), then runs Chromium.
_PIPE_LAUNCHER = (
    "import fcntl, os, sys\n"
    "a, b = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])\n"
    "os.dup2(a, 3); os.dup2(b, 4)\n"
    "for fd in {a, b, *map(int, sys.argv[1:3])} - {3, 4}: os.close(fd)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe: no WebSocket, no driver."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        commands: int,
        replies: asyncio.StreamReader,
        transport: asyncio.ReadTransport,
    ) -> None:
        self.proc = proc
        self._commands, self._replies, self._transport = commands, replies, transport
        self._id = 0
        self.session: str | None = None
        #: Uncaught exceptions and console errors of the page.
        self.errors: list[dict] = []

    @classmethod
    async def launch(cls, url: str, profile: Path, log: Path) -> Browser:
        commands_r, commands_w = os.pipe()
        replies_r, replies_w = os.pipe()
        with log.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _PIPE_LAUNCHER,
                str(commands_r),
                str(replies_w),
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                url,
                pass_fds=(commands_r, replies_w),
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        os.close(commands_r)
        os.close(replies_w)
        loop = asyncio.get_running_loop()
        replies = asyncio.StreamReader(limit=64 * 1024 * 1024)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(replies), os.fdopen(replies_r, "rb", 0)
        )
        browser = cls(proc, commands_w, replies, transport)
        try:
            await browser._attach(url)
        except BaseException:
            await browser.close()
            raise
        return browser

    async def call(self, method: str, session: bool = True, **params) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session and self.session is not None:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            raw = await asyncio.wait_for(self._replies.readuntil(b"\0"), 10.0)
            reply = json.loads(raw[:-1])
            if reply.get("method") == "Runtime.exceptionThrown" or (
                reply.get("method") == "Runtime.consoleAPICalled"
                and reply["params"]["type"] == "error"
            ):
                self.errors.append(reply["params"])
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    async def _attach(self, url: str) -> None:
        for _ in range(100):
            targets = (await self.call("Target.getTargets", session=False))["targetInfos"]
            page = next((t for t in targets if t["type"] == "page" and t["url"] == url), None)
            if page is not None:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"Chromium opened no page for {url}: {targets}")
        attached = await self.call(
            "Target.attachToTarget", session=False, targetId=page["targetId"], flatten=True
        )
        self.session = attached["sessionId"]
        await self.call("Runtime.enable")
        # --window-size includes the window's frame; the page gets exactly 1280 x 800.
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=800,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 8.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await self.evaluate(expression):
            if loop.time() > deadline:
                dom = await self.evaluate("document.body.outerHTML")
                raise AssertionError(f"the page never showed {expression}:\n{dom[:3000]}")
            await asyncio.sleep(0.1)

    async def screenshot(self) -> bytes:
        return base64.b64decode((await self.call("Page.captureScreenshot", format="png"))["data"])

    async def close(self) -> None:
        try:
            if self.proc.returncode is None:
                await self.call("Browser.close", session=False)
        except (RuntimeError, TimeoutError, asyncio.IncompleteReadError, BrokenPipeError):
            pass
        finally:
            os.close(self._commands)
            self._transport.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Tiles(HTMLParser):
    """The tiles of a dumped DOM: attributes of each `article.tile` and its parts' text."""

    PARTS = ("name", "hr", "zone-name", "effort", "effort-unit", "cue-label", "cue-text", "age")

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.tiles: dict[str, dict] = {}
        self._tile: dict | None = None
        self._part: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "article" and "tile" in classes:
            person = attributes.get("data-person")  # none: the page's <template>
            self._tile = (
                None
                if person is None
                else {
                    "classes": set(classes),
                    "style": attributes.get("style") or "",
                    **{part: "" for part in self.PARTS},
                }
            )
            if self._tile is not None:
                self.tiles[person] = self._tile
        elif self._tile is not None:
            if "badge" in classes:
                self._tile[f"badge {classes[-1]}"] = "hidden" not in attributes
            self._part = next((c for c in classes if c in self.PARTS), self._part)

    def handle_endtag(self, tag: str) -> None:
        self._part = None

    def handle_data(self, data: str) -> None:
        if self._tile is not None and self._part is not None:
            self._tile[self._part] += data


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


SAM_WORDS = "Stop and rest now. Your heart rate is 188, above your maximum of 181."
LEE_WORDS = "Lovely, Lee: zone 2 at 128, an easy pace you can hold all day."


def gym_events() -> list[dict]:
    """Three members: sam in zone 5 with a safety cue, kim with a gap, lee worded by the model."""
    return [
        sample("sam", 300, 184, 5, hrr_fraction=1.02),
        cue(
            "sam",
            7,
            300,
            CueKind.HIGH_ZONE,
            Action.EASE_OFF,
            hr=184,
            zone=5,
            previous_zone=4,
            zone5_lower=169,
        ),
        sample("sam", 301, 188, 5, hrr_fraction=1.054),
        cue("sam", 8, 301, CueKind.ABOVE_MAX_HR, Action.STOP, hr=188, max_hr=181, held_s=5),
        sample("kim", 200, 141, 3),
        sample("kim", 201, None, None),
        cue("kim", 3, 201, CueKind.SENSOR_LOST, Action.CHECK_SENSOR, gap_s=5),
        sample("lee", 90, 128, 2, hrr_fraction=0.62),
        cue(
            "lee",
            2,
            90,
            CueKind.ZONE_CHANGE,
            Action.HOLD,
            hr=128,
            zone=2,
            previous_zone=1,
            zone_low=120,
            zone_high=131,
        ),
        spoken("lee", 2, LEE_WORDS),
    ]


async def open_gym_board(board: KioskBoard, tmp_path: Path, timeout: float = 8.0) -> Browser:
    """The gym's events on `board`, the board open in Chromium, its three tiles live."""
    for event in gym_events():
        board.emit(event)
    browser = await Browser.launch(board.url, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        await browser.wait_for(
            "document.querySelectorAll('article.tile').length === 3"
            " && document.getElementById('connection').hidden",
            timeout,
        )
    except BaseException:
        await browser.close()
        raise
    return browser


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_a_real_browser_shows_every_member_live(tmp_path: Path) -> None:
    async def body() -> None:
        board = KioskBoard(port=0, members=["sam", "kim", "lee"])
        await board.start()
        browser = None
        try:
            browser = await open_gym_board(board, tmp_path)
            dom = await browser.evaluate("document.documentElement.outerHTML")
            (tmp_path / "board.html").write_text(dom)
            png = await browser.screenshot()
            (tmp_path / "board.png").write_bytes(png)

            tiles = Tiles(dom).tiles
            assert list(tiles) == ["sam", "kim", "lee"]
            sam, kim, lee = tiles["sam"], tiles["kim"], tiles["lee"]
            assert sam["hr"] == "188" and "zone-5" in sam["classes"]
            assert "--zone-colour: #ff453a" in sam["style"]
            assert sam["zone-name"] == "Zone 5 \u00b7 maximum"
            assert (sam["effort"], sam["effort-unit"]) == ("105%", "HRR")
            assert {"safety", "fresh"} <= sam["classes"] and sam["cue-label"] == "STOP"
            assert sam["cue-text"].startswith(SAM_WORDS)
            assert kim["hr"] == "--" and "no-signal" in kim["classes"]
            assert kim["zone-name"] == "NO SIGNAL" and kim["badge lost"] is True
            assert kim["cue-text"].startswith("Heart rate signal lost")
            assert not any(c.startswith("zone-") for c in kim["classes"])
            assert lee["hr"] == "128" and "zone-2" in lee["classes"]
            assert "--zone-colour: #34c759" in lee["style"]
            assert lee["cue-text"] == LEE_WORDS and "safety" not in lee["classes"]
            assert lee["badge lost"] is False and sam["badge lost"] is False
            assert png_size(png) == (1280, 800) and len(png) > 20_000

            # Live: an update reaches the page without a reload.
            board.emit(sample("kim", 210, 152, 3))
            await browser.wait_for(
                "document.querySelector('[data-person=kim] .hr').textContent === '152'"
                " && document.querySelector('[data-person=kim]').classList.contains('zone-3')"
            )
            # The daemon goes away: the page says so.
            await board.stop()
            await browser.wait_for(
                "!document.getElementById('connection').hidden && document.getElementById"
                "('connection').textContent.startsWith('Connection lost')"
            )
            (tmp_path / "board-offline.png").write_bytes(await browser.screenshot())
            assert browser.errors == []
        finally:
            if browser is not None:
                await browser.close()
            await board.stop()

    run(body(), timeout=30.0)


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_the_page_shows_no_signal_when_a_band_goes_quiet(tmp_path: Path) -> None:
    """No sample for ten seconds: the page says so by itself (the board's clock is moved on)."""
    now = [1000.0]

    async def body() -> None:
        async with KioskBoard(port=0, clock=lambda: now[0]) as board:
            board.emit(sample("sam", 1, 150, 3))
            now[0] += 11.0  # the snapshot the page gets says: last sample 11 s ago
            browser = await Browser.launch(
                board.url, tmp_path / "profile", tmp_path / "chromium.log"
            )
            try:
                await browser.wait_for("document.querySelectorAll('article.tile').length === 1")
                tiles = Tiles(await browser.evaluate("document.documentElement.outerHTML")).tiles
                assert "no-signal" in tiles["sam"]["classes"] and tiles["sam"]["hr"] == "--"
                assert tiles["sam"]["zone-name"] == "NO SIGNAL"
                assert re.fullmatch(r"last reading 1[1-4] s ago", tiles["sam"]["age"])
                board.emit(sample("sam", 2, 151, 3))
                await browser.wait_for(
                    "document.querySelector('[data-person=sam] .hr').textContent === '151'"
                )
                assert browser.errors == []
            finally:
                await browser.close()

    run(body(), timeout=30.0)
