"""The gym fleet against a real Mosquitto, started here on a free loopback port with the CA, the
certificates and the ACL `edgecoach fleet init|add-pi` makes.

The big one: three `edgecoach run` daemons in fleet mode (simulated bands) and `edgecoach board`
shown in headless Chromium: every member on the board; one Pi killed -9 and shown offline within
10 s; the broker killed -9 mid-session while sessions end, then restarted: each summary reaches
the board exactly once. Beside it: certificates from another CA or expired are refused by the
broker and `doctor` says which; a Pi publishing under another Pi's prefix, or the board
publishing at all, is refused by the ACL; a Pi that goes silent (SIGSTOP, as a cut cable) is
offline after 1.5 keepalives and back online by itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fleet_fixtures import SITE, Broker, free_port, make_broker, needs_mosquitto
from test_kiosk import CHROMIUM, Browser

from edge.commands.doctor import fleet_checks
from edge.fleet.connection import make_client
from edge.fleet.doctor import certificate_finding, probe_broker
from edge.fleet.pki import add_pi, init_fleet
from edge.settings import load_settings

pytestmark = needs_mosquitto


def run(coro, timeout: float = 60.0):
    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


def settings_for(broker: Broker, tmp_path: Path, name: str, extra: str = ""):
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f'[daemon]\nstate_dir = "{tmp_path / name}"\n'
        + broker.fleet_toml(name, enabled=name != "board")
        + extra
    )
    return load_settings(config)


@pytest.fixture
def broker(tmp_path: Path):
    broker = make_broker(tmp_path, {"pi-a": "studio", "pi-b": "studio", "pi-c": "floor"})
    broker.start()
    yield broker
    broker.stop()


# -- certificates ----------------------------------------------------------------------------------


def test_the_right_certificate_connects_and_doctor_says_so(broker: Broker, tmp_path: Path) -> None:
    settings = settings_for(broker, tmp_path, "pi-a")
    checks = {c.name: c for c in fleet_checks(settings)}
    assert checks["fleet-certificate"].ok and not checks["fleet-certificate"].warn
    assert "pi-a, from the gym CA" in checks["fleet-certificate"].detail
    assert checks["fleet-broker"].ok, checks["fleet-broker"]
    assert f"connected to 127.0.0.1:{broker.port} as pi-a" in checks["fleet-broker"].detail


def test_a_certificate_of_another_gym_ca_is_refused_and_doctor_says_why(
    broker: Broker, tmp_path: Path
) -> None:
    other = tmp_path / "other-gym"
    init_fleet(other, SITE, ["127.0.0.1"], port=free_port())
    add_pi(other, "pi-a")
    settings = settings_for(broker, tmp_path, "pi-a")
    fleet = settings.fleet.__class__(
        **{
            **{f: getattr(settings.fleet, f) for f in settings.fleet.__dataclass_fields__},
            "cert_file": other / "pis/pi-a/pi-a.crt",
            "key_file": other / "pis/pi-a/pi-a.key",
        }
    )
    refused = probe_broker(fleet)
    assert not refused.ok
    assert (
        "the broker refused this Pi's certificate: it was not made by this gym's CA"
        in refused.detail
    )
    assert "fleet add-pi pi-a" in refused.fix
    offline = certificate_finding(fleet)
    assert not offline.ok and "was not made by the gym CA" in offline.detail


def test_an_expired_certificate_is_refused_and_doctor_says_why(
    broker: Broker, tmp_path: Path
) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    add_pi(broker.folder, "pi-a", room="studio", days=30, not_before=long_ago)
    settings = settings_for(broker, tmp_path, "pi-a")
    checks = {c.name: c for c in fleet_checks(settings)}
    assert not checks["fleet-certificate"].ok
    assert "the certificate expired on" in checks["fleet-certificate"].detail
    assert not checks["fleet-broker"].ok
    assert (
        "the broker refused this Pi's certificate: it has expired" in checks["fleet-broker"].detail
    )


def test_a_broker_that_is_not_there_is_named(broker: Broker, tmp_path: Path) -> None:
    broker.stop()
    finding = probe_broker(settings_for(broker, tmp_path, "pi-a").fleet)
    assert not finding.ok and finding.detail == f"nothing listens on 127.0.0.1:{broker.port}"


# -- the ACL -------------------------------------------------------------------------------------------


def test_a_pi_writes_only_its_own_prefix_and_the_board_only_reads(
    broker: Broker, tmp_path: Path
) -> None:
    async def body() -> None:
        received: list[tuple[str, bytes]] = []
        board_settings = settings_for(broker, tmp_path, "board").fleet
        async with make_client(board_settings, identifier="board-test") as board:
            await board.subscribe(f"edgecoach/v1/{SITE}/#", qos=1)

            async def listen() -> None:
                async for message in board.messages:
                    received.append((str(message.topic), message.payload))
                    if message.payload == b"marker":
                        return

            listening = asyncio.create_task(listen())
            pi_a = settings_for(broker, tmp_path, "pi-a").fleet
            async with make_client(pi_a, identifier="pi-a") as client:
                await client.publish(f"edgecoach/v1/{SITE}/pi-b/live", b"spoofed", qos=1)
                await client.publish(
                    f"edgecoach/v1/{SITE}/pi-b/presence", b"spoofed", qos=1, retain=True
                )
                await client.publish(f"edgecoach/v1/{SITE}/pi-a/live", b"own", qos=1)
            await board.publish(f"edgecoach/v1/{SITE}/pi-a/live", b"from the board", qos=1)
            pi_b = settings_for(broker, tmp_path, "pi-b").fleet
            async with make_client(pi_b, identifier="pi-b") as client:
                await client.publish(f"edgecoach/v1/{SITE}/pi-b/live", b"marker", qos=1)
            await asyncio.wait_for(listening, 10)
        # Messages of one client arrive in order; the marker came last: nothing else will.
        assert received == [
            (f"edgecoach/v1/{SITE}/pi-a/live", b"own"),
            (f"edgecoach/v1/{SITE}/pi-b/live", b"marker"),
        ]

    run(body())


# -- three Pis, one board ----------------------------------------------------------------------------

PI_CONFIG = """
[daemon]
state_dir = "{state}"
source = "simulator"
speed = {speed}
seed = {seed}
[speech]
enabled = false
[llm]
enabled = false
{fleet}room = "{room}"
"""
PERSON = """
[[people]]
name = "{name}"
age = {age}
resting_hr = 58
max_hr = 186
workout = "{workout}"
"""
#: Workout seconds per wall second: the 150 s "morning" ends after 10 s, "demo" after 24 s.
SPEED = 15
PIS = {
    "pi-a": ("studio", [("Ana", "morning"), ("Ben", "demo")]),
    "pi-b": ("studio", [("Cleo", "morning"), ("Dev", "demo")]),
    "pi-c": ("floor", [("Eli", "demo")]),
}


class Daemon:
    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.events: list[dict] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while line := await self.process.stdout.readline():
            self.events.append(json.loads(line))

    def latest_t(self, person: str) -> int:
        return max(
            (e["t"] for e in self.events if e["event"] == "sample" and e.get("person") == person),
            default=-1,
        )

    def ended(self, person: str) -> bool:
        return any(e["event"] == "summary" and e.get("person") == person for e in self.events)


async def until(condition, timeout: float, what: str, step: float = 0.1) -> float:
    """Wait for `condition()` (sync or async); seconds it took."""
    started = time.monotonic()
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(step)


def outbox(tmp_path: Path, pi: str) -> list[str]:
    folder = tmp_path / pi / "fleet" / "outbox"
    return sorted(p.name for p in folder.glob("*.json")) if folder.exists() else []


def board_summaries(state: Path) -> list[dict]:
    path = state / "board-summaries.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_three_pis_one_board_a_dead_pi_and_a_broker_restart(broker: Broker, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    edgecoach = [sys.executable, "-m", "edge"]
    board_port = free_port()
    board_state = tmp_path / "board"
    board_config = tmp_path / "board.toml"
    board_config.write_text(
        f'[daemon]\nstate_dir = "{board_state}"\n' + broker.fleet_toml("board", enabled=False)
    )

    async def body() -> None:
        with (tmp_path / "board.log").open("wb") as log:
            board = await asyncio.create_subprocess_exec(
                *edgecoach,
                "-v",
                "--config",
                str(board_config),
                "board",
                "--port",
                str(board_port),
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
            )
        daemons: dict[str, Daemon] = {}
        browser = None
        try:
            assert (
                "edgecoach board: http://127.0.0.1:"
                in (await asyncio.wait_for(board.stdout.readline(), 30)).decode()
            )
            for seed, (pi, (room, people)) in enumerate(PIS.items()):
                config = tmp_path / f"{pi}.toml"
                config.write_text(
                    PI_CONFIG.format(
                        state=tmp_path / pi,
                        speed=SPEED,
                        seed=seed + 1,
                        room=room,
                        fleet=broker.fleet_toml(pi),
                    )
                    + "".join(
                        PERSON.format(name=n, age=30 + i, workout=w)
                        for i, (n, w) in enumerate(people)
                    )
                )
                with (tmp_path / f"{pi}.log").open("wb") as log:
                    process = await asyncio.create_subprocess_exec(
                        *edgecoach,
                        "-v",
                        "--config",
                        str(config),
                        "run",
                        "--json",
                        stdout=asyncio.subprocess.PIPE,
                        stderr=log,
                        env=env,
                    )
                daemons[pi] = Daemon(pi, process)

            # Every member of every Pi on one board, live, grouped by room.
            url = f"http://127.0.0.1:{board_port}/"
            browser = await Browser.launch(url, tmp_path / "profile", tmp_path / "chrome.log")
            live = (
                "[...document.querySelectorAll('article.tile')]"
                ".filter(t => t.dataset.state === 'ok' && /^\\d+$/.test("
                "t.querySelector('.hr').textContent)).length"
            )
            await until(lambda: browser.evaluate(f"{live} === 5"), 60, "five live tiles")
            names = await browser.evaluate(
                "[...document.querySelectorAll('#board > *')].map(e => e.classList.contains("
                "'room') ? '#' + e.dataset.room : e.querySelector('.name').textContent)"
            )
            assert names == ["#floor", "Eli", "#studio", "Ana", "Ben", "Cleo", "Dev"]
            assert await browser.evaluate("document.getElementById('connection').hidden")

            # pi-c dies (kill -9): its last will says so; its member is not "resting".
            daemons["pi-c"].process.send_signal(signal.SIGKILL)
            took = await until(
                lambda: browser.evaluate(
                    "document.querySelector('article[data-pi=\"pi-c\"]').dataset.state"
                    " === 'pi_offline'"
                ),
                10,
                "pi-c offline on the board",
            )
            eli = await browser.evaluate(
                "document.querySelector('article[data-pi=\"pi-c\"] .status').textContent"
            )
            assert (
                eli.startswith("PI OFFLINE")
                and await browser.evaluate(
                    "document.querySelector('article[data-pi=\"pi-c\"] .hr').textContent"
                )
                == "--"
            )
            print(f"pi-c shown offline {took:.1f} s after kill -9")

            # The broker dies mid-session; the morning sessions end meanwhile.
            await until(
                lambda: all(
                    daemons[p].latest_t(n) >= 30 for p, n in (("pi-a", "Ana"), ("pi-b", "Cleo"))
                ),
                30,
                "30 s played",
            )
            broker.kill()
            await until(
                lambda: daemons["pi-a"].ended("Ana") and daemons["pi-b"].ended("Cleo"),
                30,
                "the morning sessions to end",
            )
            await until(
                lambda: outbox(tmp_path, "pi-a") and outbox(tmp_path, "pi-b"),
                10,
                "the summaries waiting on disk",
            )
            assert not any(s["member"] in ("Ana", "Cleo") for s in board_summaries(board_state))
            for pi in ("pi-a", "pi-b"):  # coaching went on without the broker
                assert daemons[pi].process.returncode is None
            await browser.wait_for("!document.getElementById('connection').hidden", 15)

            broker.start()
            await until(
                lambda: {s["member"] for s in board_summaries(board_state)} >= {"Ana", "Cleo"},
                30,
                "the queued summaries at the board",
            )
            assert not outbox(tmp_path, "pi-a") and not outbox(tmp_path, "pi-b")
            await browser.wait_for(f"{live} === 2", 15)  # Ben and Dev, live again

            for pi in ("pi-a", "pi-b"):
                assert await asyncio.wait_for(daemons[pi].process.wait(), 60) == 0
            await until(lambda: len(board_summaries(board_state)) >= 4, 15, "all summaries")
            await asyncio.sleep(1.0)  # time for a duplicate to arrive, if any would
            summaries = board_summaries(board_state)
            ids = [s["id"] for s in summaries]
            assert len(ids) == len(set(ids)) == 4, ids
            assert sorted(s["member"] for s in summaries) == ["Ana", "Ben", "Cleo", "Dev"]
            assert all(s["id"].startswith(s["pi"] + ".") for s in summaries)
            assert set(summaries[0]["summary"]) == {
                "duration_s",
                "mean_hr",
                "max_hr",
                "time_in_zone_s",
                "cues",
            }
            # What the Pis stored and what the board got agree, figure by figure.
            for pi, person in (("pi-a", "Ana"), ("pi-b", "Dev")):
                local = next(
                    e
                    for e in daemons[pi].events
                    if e["event"] == "summary" and e["person"] == person
                )
                remote = next(s for s in summaries if s["member"] == person)["summary"]
                assert remote["duration_s"] == local["duration_s"]
                assert remote["mean_hr"] == local["mean_hr"]
            # A clean stop is shown as one: "stopped", not "not answering".
            await browser.wait_for(
                "document.querySelector('article[data-pi=\"pi-a\"] .status').textContent"
                ".includes('stopped')",
                10,
            )

            def fetch() -> dict:
                with urllib.request.urlopen(f"{url}state.json", timeout=5) as reply:
                    return json.loads(reply.read())

            state = await asyncio.to_thread(fetch)
            assert len(state["members"]) == 5
            assert browser.errors == []
        finally:
            if browser is not None:
                await browser.close()
            for daemon in daemons.values():
                if daemon.process.returncode is None:
                    daemon.process.kill()
                await daemon.process.wait()
                daemon.reader.cancel()
            if board.returncode is None:
                board.send_signal(signal.SIGTERM)
                await asyncio.wait_for(board.wait(), 10)

    run(body(), timeout=150)


# -- a Pi cut off: no FIN, no RST, only silence ---------------------------------------------------

_FROZEN_PI = """
import asyncio, sys
from pathlib import Path
from edge.fleet.publisher import FleetPublisher
from edge.settings import load_settings
from session_events import sample_event

async def main():
    settings = load_settings(Path(sys.argv[1]))
    publisher = FleetPublisher(settings.fleet, state_dir=Path(sys.argv[2]), members=["Zoe"])
    await publisher.start()
    await publisher.connected.wait()
    print("connected", flush=True)
    t = 0
    while True:
        publisher.emit(sample_event(t, 120 + t % 20, 2, person="Zoe", hrr_fraction=0.5))
        t += 1
        await asyncio.sleep(1)

asyncio.run(main())
"""


def test_a_pi_that_goes_silent_is_shown_offline_after_its_keepalive_and_back_after(
    broker: Broker, tmp_path: Path
) -> None:
    """SIGSTOP freezes the Pi as a cut cable would: its socket stays open, it just stops
    talking. The broker gives up after 1.5 keepalives (3 s here) and publishes its last will;
    after SIGCONT the Pi reconnects by itself and is online again."""
    settings_for(broker, tmp_path, "pi-a")  # writes pi-a.toml
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [
                str(Path(__file__).parents[1]),
                str(Path(__file__).parent),
                os.environ.get("PYTHONPATH", ""),
            ]
        ),
    }

    async def body() -> None:
        presence: list[tuple[float, bytes]] = []
        board_settings = settings_for(broker, tmp_path, "board").fleet
        async with make_client(board_settings, identifier="board-test") as board:
            await board.subscribe(f"edgecoach/v1/{SITE}/pi-a/presence", qos=1)

            async def listen() -> None:
                async for message in board.messages:
                    presence.append((time.monotonic(), message.payload))

            listening = asyncio.create_task(listen())
            with (tmp_path / "pi.log").open("wb") as log:
                pi = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    _FROZEN_PI,
                    str(tmp_path / "pi-a.toml"),
                    str(tmp_path / "pi-a"),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                    env=env,
                )
            try:
                assert await asyncio.wait_for(pi.stdout.readline(), 20) == b"connected\n"

                def last_state() -> str:
                    return json.loads(presence[-1][1])["state"] if presence else ""

                await until(lambda: last_state() == "online", 10, "pi-a online")
                pi.send_signal(signal.SIGSTOP)
                frozen = time.monotonic()
                await until(lambda: last_state() == "offline", 10, "pi-a offline")
                took = presence[-1][0] - frozen
                assert json.loads(presence[-1][1])["reason"] == "connection lost"
                assert 2.0 < took < 8.0, took  # 1.5 x keepalive_s = 4.5 s, give or take
                pi.send_signal(signal.SIGCONT)
                back = await until(lambda: last_state() == "online", 15, "pi-a online again")
                print(f"offline {took:.1f} s after SIGSTOP, online {back:.1f} s after SIGCONT")
            finally:
                listening.cancel()
                if pi.returncode is None:
                    pi.send_signal(signal.SIGCONT)
                    pi.kill()
                await pi.wait()

    run(body())
