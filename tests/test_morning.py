"""`edgecoach morning`: a resting reading through the daemon's own path, then readiness."""

import json
from datetime import datetime, timedelta

import pytest

from edge.cli import main
from edge.profile import Profile
from edge.store import DATABASE_NAME, SessionStore
from edge.stream.readings import AlignedSample

CONFIG = """
[profile]
name = "sam"
age = 40
resting_hr = 55
max_hr = 180
[daemon]
source = "simulator"
speed = 50
state_dir = "{state}"
[speech]
enabled = false
[llm]
enabled = false
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "edgecoach.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state"))
    return path


def morning(config, capsys, *extra):
    assert main(["--config", str(config), "morning", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def still_samples(hr, rr_s, seconds=150):
    """A person lying still: heart rate and RR intervals, no cadence, no speed."""
    return [
        AlignedSample(t, hr, (rr_s, rr_s + 0.02 * (-1) ** t), None, None, None, None, None, False)
        for t in range(seconds)
    ]


def test_a_simulated_morning_gives_resting_heart_rate_and_hrv(config, capsys):
    result = morning(config, capsys)
    assert result["person"] == "sam" and result["seconds"] >= 140
    assert 45 <= result["resting_hr_bpm"] <= 65  # the simulated person rests near 55
    assert result["rmssd_ms"] is not None and result["rmssd_ms"] > 0
    # No earlier readings: readiness says plainly that it needs a baseline.
    assert result["readiness"]["level"] == "unknown"
    assert "baseline" in result["readiness"]["basis"]["reason"]


def test_with_a_few_days_of_readings_readiness_is_scored(config, capsys, tmp_path):
    with SessionStore.open(tmp_path / "state" / DATABASE_NAME) as store:
        now = datetime.now().astimezone()
        for days_ago in (4, 3, 2, 1):
            # Earlier mornings from a chest strap alone: no footpod says "still", the person did.
            session = store.start_session(
                "sam", "morning/ble", Profile(name="sam"), now - timedelta(days=days_ago)
            )
            for sample in still_samples(56.0, 1.07):
                store.add_sample(session, sample)
            store.end_session(session, now - timedelta(days=days_ago) + timedelta(minutes=3), {})
    result = morning(config, capsys)
    readiness = result["readiness"]
    assert readiness["score"] is not None and readiness["level"] in ("low", "normal", "high")
    assert readiness["basis"]["baseline_days"] >= 3
    with SessionStore.open(tmp_path / "state" / DATABASE_NAME) as store:
        latest = max(store.sessions("sam"), key=lambda r: r.id)
    assert latest.id == result["session_id"] and latest.source == "morning/simulator"


def test_a_workout_without_a_footpod_is_not_taken_for_a_resting_reading():
    from edge.training.readiness import reading_from_samples

    today = datetime.now().date()
    assert reading_from_samples(today, still_samples(56.0, 1.07)) is None
    reading = reading_from_samples(today, still_samples(56.0, 1.07), declared_still=True)
    assert reading is not None and reading.resting_hr == 56.0 and reading.rmssd_ms > 0


def test_too_short_a_reading_is_refused_with_what_to_do(config, capsys):
    assert main(["--config", str(config), "morning", "--seconds", "20"]) != 0
    assert "at least 70" in capsys.readouterr().err
