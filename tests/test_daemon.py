"""`edgecoach run`: the daemon through the real CLI, stopped by SIGTERM and killed by SIGKILL."""

import json
import signal
import sqlite3
import subprocess
import time

import pytest

CONFIG = """
[daemon]
state_dir = "{state}"
source = "simulator"
speed = {speed}
[speech]
enabled = false
[[people]]
name = "sam"
age = 40
resting_hr = 60
max_hr = 182
[[people]]
name = "alex"
age = 30
resting_hr = 55
max_hr = 190
"""


def write_config(tmp_path, speed):
    state = tmp_path / "state"
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(state=state, speed=speed))
    return path, state / "edgecoach.db"


def query(db, sql):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def stored_samples(db) -> int:
    """Samples stored so far; 0 while the daemon is still creating the database."""
    try:
        return query(db, "SELECT COUNT(*) FROM samples")[0][0] if db.exists() else 0
    except sqlite3.OperationalError:  # no such table yet, or the schema is being written
        return 0


def start(edgecoach, config, env, *args):
    return subprocess.Popen(
        [*edgecoach, "--config", str(config), "run", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_daemon_coaches_two_people_and_stores_everything(edgecoach, clean_env, tmp_path):
    config, db = write_config(tmp_path, speed=0)
    result = subprocess.run(
        [*edgecoach, "--config", str(config), "run", "--json"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    summaries = {e["person"]: e for e in events if e["event"] == "summary"}
    assert set(summaries) == {"sam", "alex"}
    rows = query(
        db,
        "SELECT p.name, s.ended_at IS NOT NULL, COUNT(x.t), MIN(x.t), MAX(x.t) "
        "FROM sessions s JOIN people p ON p.id = s.person_id "
        "JOIN samples x ON x.session_id = s.id GROUP BY s.id ORDER BY p.name",
    )
    assert rows == [("alex", 1, 360, 0, 359), ("sam", 1, 360, 0, 359)]
    stored_cues = query(db, "SELECT COUNT(*) FROM cues")[0][0]
    assert stored_cues == sum(s["cues"] for s in summaries.values()) > 0
    assert query(db, "SELECT COUNT(*) FROM narrations")[0][0] == stored_cues


def test_sigterm_stops_cleanly_and_ends_the_sessions(edgecoach, clean_env, tmp_path):
    config, db = write_config(tmp_path, speed=20)
    daemon = start(edgecoach, config, clean_env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stored_samples(db) > 20:
            break
        time.sleep(0.2)
    daemon.send_signal(signal.SIGTERM)
    stdout, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr
    assert query(db, "SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL") == [(0,)]
    assert 20 < query(db, "SELECT COUNT(*) FROM samples")[0][0] < 720
    assert "summary" in stdout


def test_sigkill_loses_at_most_the_last_second_and_the_session_continues(
    edgecoach, clean_env, tmp_path
):
    speed = 4  # simulated seconds per wall second: one wall second is 4 samples
    config, db = write_config(tmp_path, speed=speed)
    daemon = start(edgecoach, config, clean_env)
    printed: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and min(printed.values(), default=0) < 24:
        event = json.loads(daemon.stdout.readline())
        if event["event"] == "sample":
            printed[event["person"]] = event["t"]
    daemon.send_signal(signal.SIGKILL)
    daemon.communicate(timeout=30)
    stored = dict(
        query(
            db,
            "SELECT p.name, MAX(x.t) FROM samples x JOIN sessions s ON "
            "s.id = x.session_id JOIN people p ON p.id = s.person_id "
            "GROUP BY p.name",
        )
    )
    for person, last_printed in printed.items():
        assert stored[person] >= last_printed - speed, (person, stored, printed)
    sessions_before = query(db, "SELECT id FROM sessions ORDER BY id")

    restarted = subprocess.run(
        [*edgecoach, "--config", str(config), "run", "--json", "--max-runtime", "3"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=120,
    )
    assert restarted.returncode == 0, restarted.stderr
    assert query(db, "SELECT id FROM sessions ORDER BY id") == sessions_before  # continued
    for (session_id,) in sessions_before:
        ts = [
            t
            for (t,) in query(
                db, f"SELECT t FROM samples WHERE session_id = {session_id} ORDER BY t"
            )
        ]
        assert ts == list(range(len(ts))) and len(ts) > stored[_name(db, session_id)] + 1
        assert query(db, f"SELECT ended_at IS NOT NULL FROM sessions WHERE id = {session_id}") == [
            (1,)
        ]


def _name(db, session_id):
    return query(
        db,
        f"SELECT p.name FROM sessions s JOIN people p ON p.id = s.person_id "
        f"WHERE s.id = {session_id}",
    )[0][0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("[daemon]\nsource = 'wifi'\n", "source must be one of"),
        ("[[people]]\nname = 'a'\n[[people]]\nname = 'a'\n", "share a name"),
    ],
)
def test_bad_daemon_config_is_one_line(cli, tmp_path, text, message):
    config = tmp_path / "config.toml"
    config.write_text(text)
    result = cli("--config", str(config), "run")
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_daemon_serves_the_zone_board_on_loopback(edgecoach, clean_env, tmp_path):
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config, _ = write_config(tmp_path, speed=10)
    config.write_text(config.read_text() + f"[kiosk]\nenabled = true\nport = {port}\n")
    daemon = start(edgecoach, config, clean_env)
    try:
        state = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/state.json", timeout=2
                ) as reply:
                    state = json.load(reply)
                if all(m.get("hr") for m in state["members"]):
                    break
            except OSError:
                pass
            time.sleep(0.3)
        assert state is not None
        assert sorted(m["name"] for m in state["members"]) == ["alex", "sam"]
        assert all(m["hr"] for m in state["members"])
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
    assert daemon.returncode == 0


REPLAY_CONFIG = """
[daemon]
state_dir = "{state}"
source = "replay"
speed = 0
replay_file = "shared.csv"
[speech]
enabled = false
[llm]
enabled = false
[[people]]
name = "sam"
age = 40
resting_hr = 60
max_hr = 182
replay_file = "sam.csv"
[[people]]
name = "alex"
age = 30
resting_hr = 55
max_hr = 190
"""


def recording(path, seconds: int, start_bpm: int) -> None:
    rows = ["t,hr,cadence,speed,distance"]
    rows += [f"{t},{start_bpm + t // 4},{160 + t % 5},3.0,{3.0 * t:.1f}" for t in range(seconds)]
    path.write_text("\n".join(rows) + "\n")


def test_the_daemon_replays_a_recording_per_person(edgecoach, clean_env, tmp_path):
    recording(tmp_path / "sam.csv", 90, 110)
    recording(tmp_path / "shared.csv", 60, 100)  # alex has none of their own
    config = tmp_path / "config.toml"
    config.write_text(REPLAY_CONFIG.format(state=tmp_path / "state"))
    result = subprocess.run(
        [*edgecoach, "--config", str(config), "run", "--json"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    first_hr = {}
    for e in events:
        if e["event"] == "sample" and e["hr"] is not None:
            first_hr.setdefault(e["person"], e["hr"])
    assert first_hr == {"sam": 110, "alex": 100}
    db = tmp_path / "state" / "edgecoach.db"
    rows = query(
        db,
        "SELECT p.name, s.source, COUNT(x.t) FROM sessions s JOIN people p ON "
        "p.id = s.person_id JOIN samples x ON x.session_id = s.id GROUP BY s.id "
        "ORDER BY p.name",
    )
    assert rows == [("alex", "replay", 60), ("sam", "replay", 90)]


def test_a_missing_replay_file_is_one_line_naming_it(cli, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(REPLAY_CONFIG.format(state=tmp_path / "state"))
    recording(tmp_path / "shared.csv", 10, 100)  # sam's own file is missing
    result = cli("--config", str(config), "run")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"replay_file {tmp_path / 'sam.csv'} does not exist" in result.stderr
    assert "[[people]] sam" in result.stderr and "export-session" in result.stderr


def test_run_source_replay_without_a_recording_says_what_to_set(cli, tmp_path):
    config, _ = write_config(tmp_path, speed=0)
    result = cli("--config", str(config), "run", "--source", "replay")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert 'source "replay" needs a recording for sam: set replay_file' in result.stderr


def test_the_daemon_draws_an_e_paper_preview_of_the_first_person(edgecoach, clean_env, tmp_path):
    from PIL import Image

    pytest.importorskip("luma.core", reason="luma.oled is not installed")
    config, _ = write_config(tmp_path, speed=0)
    config.write_text(
        config.read_text() + '[display]\nkind = "epaper"\ndriver = "dummy"\n'
        'panel = "2.13"\nperson = "alex"\nmin_refresh_s = 0\n'
        'preview_file = "panel.png"\n'
    )
    result = subprocess.run(
        [*edgecoach, "--config", str(config), "run"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "panel.png") as image:
        assert image.size == (250, 122) and image.mode == "1"
        black = image.convert("L").histogram()[0]
    assert 0.01 < black / (250 * 122) < 0.6  # something is written on white paper
