"""The offline and privacy promises, checked on the running daemon rather than stated."""

import json
import re
import subprocess

import pytest

CONFIG = """
[daemon]
state_dir = "{state}"
source = "simulator"
speed = 0
[speech]
enabled = false
[[people]]
name = "sam"
age = 40
resting_hr = 60
max_hr = 182
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state"))
    return path


def unshare_available() -> bool:
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def test_daemon_runs_in_a_namespace_with_no_network_and_nothing_outside_is_reachable(
    edgecoach, clean_env, config
):
    if not unshare_available():
        pytest.skip("network namespaces need root here")
    result = subprocess.run(
        ["unshare", "-n", *edgecoach, "--config", str(config), "run", "--json"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["duration_s"] for e in events if e["event"] == "summary"] == [360]
    # In that namespace an outside address (TEST-NET-1, reserved for documentation) cannot be
    # reached at all: the connect fails before any packet exists.
    probe = subprocess.run(
        [
            "unshare",
            "-n",
            "python3",
            "-c",
            "import socket\n"
            "try:\n socket.create_connection(('192.0.2.1', 443), timeout=2)\n"
            "except OSError as e:\n print(e.errno)\nelse:\n print('connected')",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert probe.stdout.strip() != "connected" and probe.stdout.strip()


def test_info_logs_hold_no_health_data(edgecoach, clean_env, config):
    result = subprocess.run(
        [*edgecoach, "-v", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    logs = result.stderr.lower()
    assert "cue zone_change" in logs  # it does say what happened...
    for leak in ("heart rate", "bpm", "hr ", "zone 5,", "rr interval"):
        assert leak not in logs  # ...but not the measurements
    assert not re.search(
        r"\b(1[0-9]{2}|[6-9][0-9])\b(?! ?s\b| cues| person)",
        logs.replace(str(config.parent).lower(), ""),
    ), logs
