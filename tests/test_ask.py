"""`edgecoach ask`: answers from the person's own sessions in a real store, or says it can't."""

import argparse
import json
from datetime import UTC, datetime, timedelta

import pytest

from edge.commands.ask import Answer, answer_question, configure, run
from edge.narrator import guard
from edge.narrator.advice import classify_question, question_advice
from edge.profile import Profile
from edge.settings import DaemonSettings, LlmSettings, Settings
from edge.store import SessionStore
from edge.stream.readings import AlignedSample

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
PROFILE = Profile(name="sam", age=40, resting_hr=55, max_hr=185)


def _sample(t, hr, distance=None):
    return AlignedSample(
        t=t,
        hr_bpm=hr,
        rr_intervals_s=(),
        cadence_spm=170.0,
        speed_mps=3.0,
        distance_m=distance,
        steps=None,
        contact=True,
        hr_gap=False,
    )


def _session(store, started, rates, *, end=True, person="sam"):
    session = store.start_session(person, "replay", PROFILE, started)
    for t, hr in enumerate(rates):
        store.add_sample(session, _sample(t, hr, distance=3.0 * t))
    if end:
        zones = {str(z): 0 for z in range(6)}
        from edge.core.zones import ZoneModel

        model = ZoneModel.for_profile(PROFILE)
        for hr in rates:
            zones[str(model.zone(hr))] += 1
        store.end_session(
            session,
            started + timedelta(seconds=len(rates)),
            {
                "duration_s": len(rates),
                "mean_hr": sum(rates) / len(rates),
                "max_hr": max(rates),
                "time_in_zone_s": zones,
                "distance_m": 3.0 * (len(rates) - 1),
                "gaps": [],
            },
        )
    store.commit()
    return session


@pytest.fixture
def store(tmp_path):
    with SessionStore.open(tmp_path / "edgecoach.db") as opened:
        yield opened


class NeverCalled:
    prompt_style = "rephrase"

    def generate(self, *args, **kwargs):
        raise AssertionError("the model must not word this answer")


def test_no_data_says_it_does_not_know():
    answer = answer_question("How did my run go?", None, PROFILE, None, now=NOW)
    assert isinstance(answer, Answer)
    assert answer.text.startswith("I don't have any recorded sessions yet")
    assert answer.source == "template" and dict(answer.facts_used) == {}


def test_an_empty_store_says_it_does_not_know_without_asking_the_model(store):
    for question in ("How did my run go?", "Should I train today?", "Am I getting fitter?"):
        answer = answer_question(question, store, PROFILE, NeverCalled(), now=NOW)
        assert answer.text.startswith("I don't have any recorded sessions yet"), question


def test_the_last_session_is_answered_from_its_figures(store):
    _session(store, NOW - timedelta(hours=3), [120] * 600 + [150] * 1200 + [175] * 300)
    answer = answer_question("How did my run go today?", store, PROFILE, None, now=NOW)
    facts = dict(answer.facts_used)
    assert facts["duration_min"] == 35 and facts["max_hr"] == 175 and facts["days_ago"] == 0
    assert answer.text.startswith(
        "Today you trained for 35 minutes at an average heart rate "
        f"of {facts['mean_hr']}, peaking at 175."
    )
    advice = question_advice(
        "How did my run go today?", classify_question("How did my run go"), facts
    )
    assert guard.check_advice(answer.text, advice).ok


def test_a_session_a_crash_cut_short_is_summarised_from_its_samples(store):
    _session(store, NOW - timedelta(days=1), [140] * 900, end=False)
    answer = answer_question("What was my average heart rate?", store, PROFILE, None, now=NOW)
    assert dict(answer.facts_used) == {
        "duration_min": 15,
        "mean_hr": 140,
        "max_hr": 140,
        "days_ago": 1,
    }
    assert answer.text == (
        "Yesterday your heart rate averaged 140 and peaked at 140, over 15 minutes."
    )


def test_readiness_after_a_hard_session_yesterday(store):
    _session(store, NOW - timedelta(hours=20), [178] * 1500)
    answer = answer_question("Should I train today?", store, PROFILE, None, now=NOW)
    assert answer.intent == "readiness"
    assert answer.text.startswith("Keep today easy: your last session")
    assert dict(answer.facts_used)["last_hard_min"] == 25


def test_the_plan_and_the_trend(store):
    for day in range(6, 0, -1):
        _session(store, NOW - timedelta(days=day), [130 + day] * 1800)
    plan = answer_question("What should I do today?", store, PROFILE, None, now=NOW)
    assert plan.intent == "plan" and "Today" in plan.text
    trend = answer_question("Am I getting fitter?", store, PROFILE, None, now=NOW)
    assert (
        dict(trend.facts_used).items()
        >= {
            "sessions": 6,
            "mean_hr_recent": 132,
            "mean_hr_before": 135,
            "trend": "lower",
        }.items()
    )
    assert "lower for similar training" in trend.text
    # Six runs over five days: too short a span for the efficiency factor's trend, and said so.
    assert trend.text.endswith(
        "For a fitness trend I need at least 4 rides with power or runs with speed over 21 "
        "days; I have 6 over 5 days."
    )


def test_a_short_history_says_it_cannot_tell_a_trend(store):
    _session(store, NOW - timedelta(days=1), [140] * 600)
    answer = answer_question("Am I improving?", store, PROFILE, None, now=NOW)
    assert answer.text.startswith("I can't tell yet")


def test_zones_come_from_the_profile_even_without_sessions():
    answer = answer_question("What is my zone 2?", None, PROFILE, None, now=NOW)
    # Karvonen: 55 + (185 - 55) x 60 % = 133, x 70 % = 146.
    assert answer.text == (
        "Your zone 2 is heart rate 133 to 146, from your resting 55 and maximum 185."
    )


def test_safety_words_always_get_the_fixed_advice():
    answer = answer_question(
        "I have chest pain, should I keep running?", None, PROFILE, NeverCalled(), now=NOW
    )
    assert answer.text.startswith("Stop and rest now") and answer.source == "template"


def test_questions_the_device_cannot_answer_say_so(store):
    _session(store, NOW - timedelta(days=1), [140] * 600)
    answer = answer_question("How did I sleep last night?", store, PROFILE, None, now=NOW)
    assert answer.text.startswith("I don't know")


def test_the_model_words_an_answer_only_if_the_guard_passes(store):
    from test_narrator import ScriptedEngine

    _session(store, NOW - timedelta(hours=2), [150] * 1200)
    liar = ScriptedEngine("You ran 25 km at 190.", "You trained for 99 minutes.")
    answer = answer_question("How did my run go?", store, PROFILE, liar, now=NOW)
    assert answer.source == "template" and "guard" in answer.reason
    honest = ScriptedEngine("Today you trained 20 minutes at an average of 150. Keep it up.")
    answer = answer_question("How did my run go?", store, PROFILE, honest, now=NOW)
    assert answer.source == "llm" and answer.text.startswith("Today you trained 20 minutes")


def test_the_command_reads_the_state_dir_and_prints_json(tmp_path, capsys):
    with SessionStore.open(tmp_path / "edgecoach.db") as opened:
        _session(opened, datetime.now(UTC) - timedelta(hours=1), [150] * 600)
    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(
        ["How", "did", "my", "run", "go?", "--state-dir", str(tmp_path), "--json"]
    )
    settings = Settings(
        profile=PROFILE,
        llm=LlmSettings(enabled=False),
        daemon=DaemonSettings(state_dir=tmp_path / "unused"),
    )
    assert run(args, settings) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["intent"] == "last_session" and printed["facts_used"]["duration_min"] == 10
    args = parser.parse_args(["How did my run go?", "--state-dir", str(tmp_path / "empty")])
    assert run(args, settings) == 0
    assert capsys.readouterr().out.startswith("I don't have any recorded sessions yet")
    assert not (tmp_path / "empty" / "edgecoach.db").exists()  # asking creates no store


def test_a_plan_question_gets_the_same_suggestion_as_edgecoach_plan(store):
    from edge.training.inputs import todays_suggestion

    for day in range(6, 0, -1):
        _session(store, NOW - timedelta(days=day), [130 + day] * 1800)
    settings = Settings(profile=PROFILE)
    answer = answer_question(
        "What should I do today?", store, PROFILE, None, now=NOW, app_settings=settings
    )
    suggestion, _ = todays_suggestion(store, settings, "sam", NOW.astimezone().date())
    assert answer.intent == "plan" and answer.text == suggestion.text
    assert dict(answer.facts_used)["session"] == suggestion.kind


def test_the_command_answers_for_the_configured_person_with_their_profile(tmp_path, capsys):
    """With [[people]] in the config, ask plans for that person with their own zones, as
    `edgecoach plan` does (it used to take the [profile] section's, another set of zones)."""
    from edge.narrator.plans import suggestion_facts
    from edge.settings import Person
    from edge.training.inputs import todays_suggestion

    with SessionStore.open(tmp_path / "edgecoach.db") as opened:
        _session(opened, datetime.now(UTC) - timedelta(days=2), [140] * 1800)
    ann = Profile(name="sam", age=30, resting_hr=48, max_hr=196)
    settings = Settings(
        profile=Profile(name="you"),
        people=(Person(ann),),
        llm=LlmSettings(enabled=False),
        daemon=DaemonSettings(state_dir=tmp_path),
    )
    parser = argparse.ArgumentParser()
    configure(parser)
    assert run(parser.parse_args(["What should I do today?", "--json"]), settings) == 0
    facts = json.loads(capsys.readouterr().out)["facts_used"]
    with SessionStore.open(tmp_path / "edgecoach.db") as opened:
        suggestion, inputs = todays_suggestion(
            opened, settings, "sam", datetime.now(UTC).astimezone().date()
        )
    from edge.core.zones import ZoneModel

    assert facts == suggestion_facts(suggestion, ZoneModel.for_profile(inputs.profile))
    assert inputs.profile.max_hr == 196
