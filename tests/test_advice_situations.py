"""Advice that fits the situation, met as a person meets it: recordings replayed, sessions in the
store, `morning`, `plan`, `ask` (issue 17, and issue 16's diagnosis questions). Each test is one
hole the rules had: a morning reading counted as training, drift never fired, silence on target,
volume and rhythm questions answered with "I don't know", the day's plan not reaching live
coaching, no `sex` in the profile, a loose guard, and a strap's 227 taken for a heart."""

import csv
import itertools
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.cli import main
from edge.profile import Profile
from edge.store import DATABASE_NAME, SessionStore
from edge.stream.readings import AlignedSample

REPO = Path(__file__).resolve().parents[1]

CONFIG = """
[profile]
name = "sam"
age = 40
resting_hr = 55
max_hr = 185
{profile_extra}
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
def home(tmp_path):
    (tmp_path / "state").mkdir()
    return tmp_path


def write_config(home, profile_extra=""):
    path = home / "edgecoach.toml"
    path.write_text(CONFIG.format(state=home / "state", profile_extra=profile_extra))
    return path


def edgecoach(config, capsys, *args):
    """One command as a person types it; its JSON output (one object, or JSON lines)."""
    capsys.readouterr()
    assert main(["--config", str(config), *args]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    events = [json.loads(line) for line in out if line.startswith("{")]
    return events if len(events) > 1 else events[-1]


def replay(config, *args):
    """`edgecoach replay ...` in its own process, as a person runs it: its JSON lines."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge",
            "--config",
            str(config),
            "replay",
            *args,
            "--speed",
            "0",
            "--json",
            "--no-llm",
            "--mute",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def store_of(home):
    return SessionStore.open(home / "state" / DATABASE_NAME)


def still(seconds=150, hr=56.0, rr=1.07):
    return [
        AlignedSample(t, hr, (rr, rr + 0.02 * (-1) ** t), None, None, None, None, None, False)
        for t in range(seconds)
    ]


def running(seconds, hr, *, still_start_s=0):
    """A run at 3 m/s and 170 steps a minute, after `still_start_s` seconds standing still."""
    return [
        AlignedSample(
            t,
            hr if t >= still_start_s else 70.0,
            (0.45, 0.46) if t >= still_start_s else (0.86, 0.84),
            170.0 if t >= still_start_s else 0.0,
            3.0 if t >= still_start_s else 0.0,
            3.0 * t,
            None,
            True,
            False,
        )
        for t in range(seconds)
    ]


def record(store, started, samples, source="replay"):
    session = store.start_session("sam", source, Profile(name="sam"), started)
    for sample in samples:
        store.add_sample(session, sample)
    store.end_session(
        session,
        started + timedelta(seconds=len(samples)),
        {
            "duration_s": len(samples),
            "mean_hr": 140.0,
            "max_hr": 150.0,
            "time_in_zone_s": {"2": len(samples)},
            "gaps": [],
        },
    )
    store.commit()
    return session


def weeks_of_running(store, now, *, skip_last_days=2):
    """Three weeks of 45-minute runs every other day, up to `skip_last_days` ago: enough load
    history that the planner has a week's target to fill."""
    for days_ago in range(21, skip_last_days, -2):
        record(store, now - timedelta(days=days_ago), running(2700, 140.0))


def write_csv(path, rows):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("t", "hr", "cadence", "speed"))
        writer.writerows(rows)
    return path


def cues(events, kind=None):
    return [e for e in events if e.get("event") == "cue" and kind in (None, e["kind"])]


# -- a morning reading is not training; one readiness for plan and ask ---------------------------


def test_after_edgecoach_morning_the_plan_is_not_a_rest_day_and_ask_agrees(home, capsys):
    """The issue's first case: `morning --source simulator`, then `plan` said "Rest day ...
    You have already trained today", rated readiness 0/100, and `ask` counted the reading as a
    session ("You have trained 6 times this week")."""
    config = write_config(home)
    now = datetime.now().astimezone()
    with store_of(home) as store:
        for days_ago in (6, 5, 4, 3, 2, 1):  # a rested person: a reading every morning...
            record(store, now - timedelta(days=days_ago, hours=2), still(), "morning/ble")
        weeks_of_running(store, now)  # ...who runs every other day
    reading = edgecoach(config, capsys, "morning", "--json")
    plan = edgecoach(config, capsys, "plan", "--json", "--no-llm")
    assert plan["suggestion"]["basis"]["rule"] != "already trained"
    assert plan["suggestion"]["kind"] != "rest", json.dumps(plan["suggestion"]["basis"])
    assert plan["sessions"] == 10  # the readings are not sessions of training
    assert plan["readiness"]["level"] in ("normal", "high")
    answer = edgecoach(config, capsys, "ask", "--json", "--no-llm", "Am I ready to train today?")
    assert f"readiness is {plan['readiness']['level']}" in answer["text"]
    assert plan["suggestion"]["text"] in answer["text"]
    assert "times this week" not in answer["text"] and "rest day" not in answer["text"].lower()
    assert reading["words"]["text"] == answer["text"]  # `morning` says what `ask` says


def test_readiness_never_comes_from_the_still_start_of_a_training_session(home, capsys):
    config = write_config(home)
    now = datetime.now().astimezone()
    with store_of(home) as store:
        for days_ago in (4, 3, 2, 1, 0):  # every run starts with two still minutes
            record(
                store,
                now - timedelta(days=days_ago, hours=1),
                running(1800, 140.0, still_start_s=120),
            )
    plan = edgecoach(config, capsys, "plan", "--json", "--no-llm")
    assert plan["readiness"]["level"] == "unknown"
    assert "edgecoach morning" in plan["readiness"]["basis"]["reason"]


# -- drift by decoupling ----------------------------------------------------------------------


def steady_run_with_drift(rise_bpm, minutes=60):
    """An hour at 3.0 m/s; heart rate creeps up `rise_bpm` over the last half hour."""
    rows = []
    for t in range(minutes * 60):
        late = max(0, t - 1800) / (minutes * 60 - 1800)
        rows.append((t, round(145 + rise_bpm * late + (t % 3 == 0)), 170, 3.0))
    return rows


def test_a_heart_rate_creeping_up_at_an_unchanged_pace_is_drift(home, capsys, tmp_path):
    config = write_config(home)
    run = write_csv(tmp_path / "long-run.csv", steady_run_with_drift(14))
    events = replay(config, str(run), "--plan", "none")
    drift = cues(events, "drift")
    assert len(drift) == 1 and drift[0]["action"] == "ease_off"
    assert drift[0]["facts"]["measure"] == "pace" and drift[0]["facts"]["decoupling_pct"] >= 5
    flat = write_csv(tmp_path / "flat-run.csv", steady_run_with_drift(0))
    events = replay(config, str(flat), "--plan", "none")
    assert not cues(events, "drift")


@pytest.mark.shared_data
def test_shared_data_drift_alarms_rarely_as_recorded_and_finds_added_drift(shared_workouts):
    """The shared recordings (real runs and rides with speed): the rule judges hours of steady
    pace on them, alarms rarely as recorded (measured: 5 in 2.9 h, which may be real drift),
    and finds most stretches once 15 bpm of drift is added over their last half hour."""
    from edge.coach.drift_eval import evaluate_recordings

    figures = evaluate_recordings(shared_workouts)
    assert figures["steady_hours"] > 2.0
    assert figures["false_alarms_per_hour"] <= 2.0
    assert figures["injected"] >= 20 and figures["hits"] >= figures["injected"] / 2


# -- on target: a word every few minutes, and the day's plan in live coaching ---------------------


def zone_run(bpm, minutes):
    return [(t, bpm + (t % 4 == 0), 165, 2.8) for t in range(minutes * 60)]


def test_on_target_the_coach_says_so_every_few_minutes_and_not_more(home, capsys, tmp_path):
    config = write_config(home)
    run = write_csv(tmp_path / "easy.csv", zone_run(130, 40))  # zones 1-2 are 120-146 here
    events = replay(config, str(run), "--plan", "easy 40")
    said = cues(events, "on_target")
    assert len(said) >= 4
    times = [c["t"] for c in cues(events)]
    for cue in said:
        assert cue["action"] == "hold" and cue["template"].startswith("On target: heart rate")
        before = [t for t in times if t < cue["t"]]
        assert not before or cue["t"] - before[-1] >= 120  # quiet when anything else was said
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(said)]
    assert min(gaps) >= 300
    free = replay(config, str(run), "--plan", "none")
    assert not cues(free, "on_target")  # no target, nothing worth saying


def test_replay_coaches_the_planned_easy_day_by_default(home, capsys, tmp_path):
    """`plan` says easy after yesterday's hard session; a zone-3 run hears "ease off" with no
    --plan given (before, only milestones)."""
    config = write_config(home)
    now = datetime.now().astimezone()
    with store_of(home) as store:
        weeks_of_running(store, now, skip_last_days=3)
        hard = [
            AlignedSample(
                t, 172.0 if (t // 180) % 2 else 150.0, (), 175.0, 3.5, 3.5 * t, None, True, False
            )
            for t in range(2700)
        ]
        record(store, now - timedelta(days=1), hard)
    plan = edgecoach(config, capsys, "plan", "--json", "--no-llm")
    assert plan["suggestion"]["kind"] == "easy", json.dumps(plan["suggestion"]["basis"])
    run = write_csv(tmp_path / "z3.csv", zone_run(150, 25))  # zone 3: 146-159
    events = replay(config, str(run))
    assert next(e for e in events if e["event"] == "plan")["source"] == "planner"
    eased = [c for c in cues(events, "off_target") if c["action"] == "ease_off"]
    assert eased and eased[0]["facts"]["target_high"] == 146  # the top of zone 2


def test_today_is_a_tempo_run_without_writing_zones(home, capsys, tmp_path):
    config = write_config(home)
    run = write_csv(
        tmp_path / "tempo.csv", zone_run(140, 12) + [(t, 157, 175, 3.4) for t in range(720, 1800)]
    )
    events = replay(config, str(run), "--plan", "tempo")
    starts = [c["template"] for c in cues(events, "step_start")]
    assert starts[:2] == [
        "Warm-up: 10 minutes at zone 2.",
        "Main set: 20 minutes at zone 3 to 4. Pick up the pace.",
    ]


def test_the_profile_takes_sex_and_a_womans_maximum_is_estimated_by_gulati(home, capsys):
    config = home / "edgecoach.toml"
    config.write_text(
        CONFIG.format(state=home / "state", profile_extra="")
        .replace("max_hr = 185\n", 'sex = "female"\n')
        .replace("age = 40", "age = 50")
    )
    answer = edgecoach(config, capsys, "ask", "--json", "--no-llm", "What are my zones?")
    assert answer["facts_used"]["max_hr"] == 162  # 206 - 0.88 x 50; Tanaka would say 173


# -- questions: volume, rhythm and medication ----------------------------------------------------


def test_volume_questions_are_answered_from_the_weekly_minutes(home, capsys):
    config = write_config(home)
    now = datetime.now(UTC)
    with store_of(home) as store:
        for days_ago, minutes in ((6, 30), (4, 40), (2, 50)):  # 120 minutes in the last week
            record(store, now - timedelta(days=days_ago), running(minutes * 60, 140.0))
    answer = edgecoach(
        config, capsys, "ask", "--json", "--no-llm", "Can I train 200 minutes next week?"
    )
    assert answer["intent"] == "volume"
    assert "120 minutes" in answer["text"] and "132 minutes" in answer["text"]
    assert "10 %" in answer["text"] and "don't know" not in answer["text"]
    answer = edgecoach(
        config, capsys, "ask", "--json", "--no-llm", "Is it fine to double my long run?"
    )
    assert answer["intent"] == "volume" and "50 minutes" in answer["text"]
    assert "55 minutes" in answer["text"]
    answer = edgecoach(
        config, capsys, "ask", "--json", "--no-llm", "Can I do 125 minutes next week?"
    )
    assert answer["text"].startswith("Yes: 125 minutes")


@pytest.mark.parametrize(
    "question",
    [
        "Do I have atrial fibrillation? Diagnose my heart",
        "My heartbeat feels irregular, is something wrong with my heart?",
        "Should I take my beta blockers before I run?",
        "Can I train on my blood pressure medication?",
    ],
)
def test_rhythm_condition_and_medication_questions_get_the_no_diagnosis_answer(
    home, capsys, question
):
    config = write_config(home)
    with store_of(home) as store:
        record(store, datetime.now(UTC) - timedelta(hours=3), running(1800, 140.0))
    answer = edgecoach(config, capsys, "ask", "--json", "--no-llm", question)
    assert answer["intent"] == "medical"
    assert answer["text"].startswith(
        "I can't diagnose anything or advise on medication: please ask a doctor."
    )


def test_a_medical_question_never_reaches_the_model(home):
    from edge.commands.ask import answer_question

    class NeverCalled:
        prompt_style = "facts"

        def generate(self, *args, **kwargs):
            raise AssertionError("the model must not word a no-diagnosis answer")

    answer = answer_question(
        "Is my arrhythmia dangerous?", None, Profile(name="sam"), NeverCalled()
    )
    assert answer.source == "template" and "ask a doctor" in answer.text


# -- the guard: words, not substrings; no self-talk; only the facts ------------------------------


def test_the_guard_refuses_what_the_models_said_in_the_issues():
    from edge.core.cues import Action
    from edge.narrator import guard

    facts = {"resting_hr": 65, "reps": 2, "session": "rest"}
    # "resting" is no advice to rest: the text must say rest or stop as a word.
    assert not guard.check_text("Your resting heart rate is 65.", facts, action=Action.STOP).ok
    assert guard.check_text(
        "Rest today: your resting heart rate is 65.", facts, action=Action.STOP
    ).ok
    said = guard.check_text(
        "I'm ready: You're ready: Stay on your plan today.", facts, action=Action.HOLD
    )
    assert not said.ok and "itself" in said.reason
    assert not guard.check_text(
        "You're asked to train 2 times. Keep it steady.", facts, action=Action.HOLD
    ).ok
    injected = guard.check_text(
        "Rest today, your resting heart rate is 65. This is not a lie.", facts, action=Action.STOP
    )
    assert not injected.ok and "not about the facts" in injected.reason
    assert not guard.check_text(
        "Mind the bandwidth of 65.", facts, action=Action.CHECK_SENSOR
    ).ok  # "band" is a word, not a stem


def test_an_injected_sentence_in_an_answer_falls_back_to_the_rules_words(home):
    from test_narrator import ScriptedEngine

    from edge.commands.ask import answer_question

    with store_of(home) as store:
        record(store, datetime.now(UTC) - timedelta(hours=2), running(1200, 150.0))
        liar = ScriptedEngine(
            "Today you trained 20 minutes. This is not a lie.",
            "Today you trained 20 minutes. This is not a lie.",
        )
        answer = answer_question("How did my run go?", store, Profile(name="sam"), liar)
    assert answer.source == "template" and "lie" not in answer.text


# -- a strap's jump is not a heart --------------------------------------------------------------


def test_a_227_from_a_walking_person_whose_maximum_is_159_is_a_sensor(home, capsys, tmp_path):
    config = write_config(home)
    config.write_text(config.read_text().replace("max_hr = 185", "max_hr = 159"))
    walk = [(t, 100 + (t % 5 == 0), 112, 1.4) for t in range(300)]
    walk += [(t, 227, 112, 1.4) for t in range(300, 400)]  # the strap doubles the stride
    walk += [(t, 100, 112, 1.4) for t in range(400, 500)]
    events = replay(config, str(write_csv(tmp_path / "walk.csv", walk)), "--plan", "none")
    assert not cues(events, "above_max_hr")
    sensor = cues(events, "implausible_reading")
    assert sensor and sensor[0]["action"] == "check_sensor"
    assert "strap" in sensor[0]["template"] and "If you feel unwell, stop" in sensor[0]["template"]


def test_a_100_bpm_rise_within_seconds_at_walking_cadence_is_a_sensor(home, capsys, tmp_path):
    config = write_config(home)
    config.write_text(config.read_text().replace("max_hr = 185", "max_hr = 159"))
    walk = [(t, 95, 110, 1.3) for t in range(200)]
    walk += [(200 + i, 95 + 25 * (i + 1), 110, 1.3) for i in range(4)]  # 95 -> 195 in 4 s
    walk += [(t, 195, 110, 1.3) for t in range(204, 320)]
    events = replay(config, str(write_csv(tmp_path / "jump.csv", walk)), "--plan", "none")
    assert not cues(events, "above_max_hr")
    assert cues(events, "implausible_reading")


def test_a_real_climb_past_the_maximum_while_running_still_says_stop(home, capsys, tmp_path):
    config = write_config(home)
    config.write_text(config.read_text().replace("max_hr = 185", "max_hr = 159"))
    run = [(t, min(120 + t // 4, 175), 172, 3.6) for t in range(400)]  # a climb, 0.25 bpm/s
    events = replay(config, str(write_csv(tmp_path / "climb.csv", run)), "--plan", "none")
    assert cues(events, "above_max_hr")


def test_the_daemon_coaches_each_persons_session_for_today(home):
    """`edgecoach run`: sam said "tempo" in the config, ann left it to the planner."""
    config = home / "edgecoach.toml"
    config.write_text(f"""
[daemon]
source = "simulator"
speed = 50
state_dir = "{home / "state"}"
[speech]
enabled = false
[llm]
enabled = false
[[people]]
name = "sam"
age = 40
resting_hr = 55
max_hr = 185
session = "tempo"
[[people]]
name = "ann"
age = 35
resting_hr = 50
max_hr = 190
""")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "edge", "--config", str(config), "run", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    plans = {e["person"]: e for e in events if e["event"] == "plan"}
    assert plans["sam"]["source"] == "named" and "tempo" in plans["sam"]["description"]
    assert plans["ann"]["source"] == "planner"
    first = {
        p: next(e for e in events if e["event"] == "cue" and e["person"] == p)
        for p in ("sam", "ann")
    }
    assert first["sam"]["template"] == "Warm-up: 10 minutes at zone 2."
    assert first["ann"]["kind"] == "step_start"


def test_feedback_after_a_morning_reading_goes_to_the_last_training(home, capsys):
    config = write_config(home)
    now = datetime.now().astimezone()
    with store_of(home) as store:
        run = record(store, now - timedelta(days=1), running(1800, 150.0))
        record(store, now - timedelta(hours=1), still(), "morning/ble")
    said = edgecoach(config, capsys, "feedback", "--too-hard", "--json")
    assert said["session_id"] == run
