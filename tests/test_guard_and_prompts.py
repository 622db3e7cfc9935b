from edge.coach.cues import Action, Cue, CueKind, Priority
from edge.narrator import guard, prompts

EASE = Cue(1, 10, CueKind.HIGH_ZONE, Action.EASE_OFF, Priority.ZONE,
           {"hr": 176, "zone": 5, "previous_zone": 4, "zone5_lower": 174})


def test_prompt_is_an_exact_rephrase_request_of_the_template():
    messages = prompts.cue_messages(EASE)
    assert messages == [
        {"role": "system", "content": prompts.SYSTEM_PROMPT},
        {"role": "user", "content": 'Rephrase for the runner: "Zone 5, heart rate 176. That is '
                                    'near your maximum. Ease off until you are below 174."'},
    ]


def test_clean_reply_strips_labels_and_quotes():
    assert prompts.clean_reply('Rephrased: "Slow down, 176 is high."') == "Slow down, 176 is high."
    assert prompts.clean_reply("\u201cEase off now.\u201d") == "Ease off now."


def test_guard_accepts_faithful_text():
    assert guard.check("You're at 176, zone 5. Ease off below 174.", EASE).ok


def test_guard_rejects_numbers_not_in_the_facts():
    verdict = guard.check("You're at 182, ease off a little.", EASE)
    assert not verdict.ok and "182" in verdict.reason


def test_guard_rejects_text_that_does_not_ask_for_the_action():
    verdict = guard.check("Great work, you're flying at 176 in zone 5!", EASE)
    assert not verdict.ok and "ease off" in verdict.reason


def test_guard_rejects_text_that_lost_the_point():
    verdict = guard.check("Ease off and enjoy the run.", EASE)
    assert not verdict.ok and "key facts" in verdict.reason


def test_guard_rejects_diagnoses_and_bad_lengths():
    assert not guard.check("Ease off, this looks like tachycardia.", EASE).ok
    assert not guard.check("Ease", EASE).ok
    assert not guard.check("Ease off. " * 40, EASE).ok
