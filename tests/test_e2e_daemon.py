"""End to end: a virtual band plays a workout into `edgecoach run`, then `edgecoach report`.

Everything is real except the radio: the daemon is a subprocess of the CLI with a TOML config;
its heart-rate band and footpod are virtual bands behind the fake BlueZ on a private D-Bus,
reached through the real bleak backend; the committed ONNX health model forecasts; the coach
decides; the zone board serves the page that headless Chromium shows; the store keeps it all
for the report.

The workout is the built-in "climb" (`firmware_bridge.simulator.CLIMB_WORKOUT`): a walk, then
straight into a hard run held for two minutes, so heart rate climbs sharply into zone 5, then a
cool-down walk during which the heart-rate band goes out of range for 20 workout seconds (the
link really drops and what the band sends meanwhile is lost). What is checked is when cues come,
in workout seconds, never in wall time.
"""

from __future__ import annotations

import asyncio
import html
import json
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
from ble_fixtures import needs_dbus
from test_kiosk import CHROMIUM, Browser, Tiles

SPEED = 10  # workout seconds per wall second: 36 s for the six minutes
LOSS_AT_S, LOSS_S = 250, 20

CONFIG = """
[daemon]
state_dir = "{state}"
source = "virtual"
workout = "climb"
speed = {speed}
virtual_link_losses = [[{loss_at}, {loss_s}]]
[speech]
enabled = false
[llm]
enabled = false
[kiosk]
enabled = true
port = {port}
[[people]]
name = "sam"
age = 35
resting_hr = 58
max_hr = 187
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def zone5_lower(resting: float = 58, max_hr: float = 187) -> float:
    return resting + 0.9 * (max_hr - resting)


async def play(
    edgecoach: list[str], config: Path, env: dict[str, str], port: int, tmp_path: Path
) -> tuple[list[dict], dict, str]:
    """Run the daemon until its workout ends; meanwhile, show its board in Chromium and wait
    until sam's tile shows one of sam's cues. Returns the events, the tile and stderr."""
    daemon = await asyncio.create_subprocess_exec(
        *edgecoach,
        "--config",
        str(config),
        "run",
        "--json",
        "--max-runtime",
        "600",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    events: list[dict] = []
    stderr_task = asyncio.create_task(daemon.stderr.read())
    first_sample = asyncio.Event()

    async def read_events() -> None:
        while line := await daemon.stdout.readline():
            event = json.loads(line)
            events.append(event)
            if event["event"] == "sample":
                first_sample.set()

    reader = asyncio.create_task(read_events())
    browser = None
    tile: dict = {}
    try:
        await asyncio.wait_for(first_sample.wait(), 120)
        browser = await Browser.launch(
            f"http://127.0.0.1:{port}/", tmp_path / "profile", tmp_path / "chromium.log"
        )
        for _ in range(1200):  # the page follows the daemon live; wait for sam's first cue
            # Right after launch (or a reload) there may be no document element yet: read "".
            dom = await browser.evaluate(
                "document.documentElement ? document.documentElement.outerHTML : ''"
            )
            tile = Tiles(dom).tiles.get("sam", {})
            said = {e["text"] for e in events if e["event"] == "spoken"} | {
                e["template"] for e in events if e["event"] == "cue"
            }
            if tile.get("cue-text") and html.unescape(tile["cue-text"]).strip() in said:
                break
            await asyncio.sleep(0.1)
        (tmp_path / "board.png").write_bytes(await browser.screenshot())
        assert browser.errors == []
        await browser.close()
        browser = None
        await asyncio.wait_for(reader, 300)  # the daemon ends when the workout has played
        await asyncio.wait_for(daemon.wait(), 60)
    finally:
        if browser is not None:
            await browser.close()
        if daemon.returncode is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(daemon.wait(), 60)
            except TimeoutError:
                daemon.kill()
                await daemon.wait()
        reader.cancel()
    stderr = (await stderr_task).decode()
    assert daemon.returncode == 0, stderr[-3000:]
    return events, tile, stderr


@needs_dbus
@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_a_virtual_band_workout_through_the_daemon_the_board_and_the_report(
    edgecoach, clean_env, tmp_path
):
    port = free_port()
    state = tmp_path / "state"
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG.format(state=state, speed=SPEED, port=port, loss_at=LOSS_AT_S, loss_s=LOSS_S)
    )

    events, tile, _ = asyncio.run(
        asyncio.wait_for(play(edgecoach, config, clean_env, port, tmp_path), 480)
    )
    samples = [e for e in events if e["event"] == "sample"]
    cues = [e for e in events if e["event"] == "cue"]
    kinds = [c["kind"] for c in cues]
    line = zone5_lower()

    # The whole workout arrived over BLE, one sample per second.
    assert [s["t"] for s in samples] == list(range(len(samples))) and len(samples) >= 355

    # Overshoot: warned while heart rate is still below zone 5, before it first gets there.
    crossed = next(s["t"] for s in samples if s["hr"] is not None and s["hr"] >= line)
    warnings = [c for c in cues if c["kind"] == "forecast_overshoot"]
    assert warnings, (kinds, crossed)
    warning = warnings[0]
    assert warning["t"] < crossed, (warning, crossed)
    assert warning["facts"]["hr"] < line and warning["facts"]["zone5_lower"] == round(line)
    assert warning["facts"]["forecast_hr"] >= round(line) - 1
    assert str(round(line)) in warning["template"]
    # ...and zone 5 itself is announced after it was crossed.
    high = next(c for c in cues if c["kind"] == "high_zone")
    assert warning["t"] < crossed <= high["t"]

    # Sensor loss: the band really went away (the link dropped and came back), the stream has
    # a gap where the band was out of range, and the coach said so once, then its return once.
    links = [
        (e["t"], e["state"])
        for e in events
        if e["event"] == "link" and e["detail"] != "rsc" and e["device"].endswith(":01")
    ]
    assert [state for _, state in links][:2] == ["connected", "disconnected"], links
    assert links[-1][1] == "connected" and links[1][0] >= LOSS_AT_S - 1, links
    gap = [s["t"] for s in samples if s["gap"]]
    assert gap and LOSS_AT_S - 2 <= gap[0] <= LOSS_AT_S + 5 and len(gap) >= LOSS_S - 3, gap
    assert kinds.count("sensor_lost") == 1 and kinds.count("sensor_back") == 1, kinds
    lost = next(c for c in cues if c["kind"] == "sensor_lost")
    back = next(c for c in cues if c["kind"] == "sensor_back")
    assert gap[0] < lost["t"] <= gap[0] + 10 and gap[-1] < back["t"]
    # Every cue was worded (templates: the language model is off in this config).
    spoken = [e for e in events if e["event"] == "spoken"]
    assert sorted(e["cue_id"] for e in spoken) == sorted(c["id"] for c in cues)

    # The board in a real browser showed sam's cue.
    said = {e["text"] for e in spoken} | {c["template"] for c in cues}
    assert html.unescape(tile.get("cue-text", "")).strip() in said, tile

    # Stored and ended; the report is written, its summary saying where the words came from.
    db = state / "edgecoach.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        sessions = conn.execute("SELECT id, source, ended_at IS NOT NULL FROM sessions").fetchall()
        stored_cues = conn.execute("SELECT COUNT(*) FROM cues").fetchone()[0]
    assert sessions == [(1, "virtual", 1)] and stored_cues == len(cues)
    out = tmp_path / "report.html"
    report = subprocess.run(
        [*edgecoach, "--config", str(config), "report", "1", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    answer = json.loads(report.stdout)
    assert answer["path"] == str(out) and answer["summary"]["source"] == "template"
    assert answer["summary"]["reason"] == "language model turned off"
    page = out.read_text()
    assert html.escape(answer["summary"]["text"], quote=False) in page
    assert "not by the language model (language model turned off)" in page
    assert "virtual bands" in page
