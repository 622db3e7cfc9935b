from edge.coach.coach import Coach
from edge.coach.cues import Action, CueKind
from edge.health.model import Forecast
from edge.profile import Profile
from edge.stream.readings import AlignedSample

PROFILE = Profile(age=35, resting_hr=58, max_hr=187)  # reserve 129; zone 5 from 174.1


def sample(t: int, bpm: float | None) -> AlignedSample:
    return AlignedSample(t, bpm, (), None, None, None, None, True if bpm else None, bpm is None)


def ramp(start: float, end: float, seconds: int) -> list[float]:
    """Heart rate moving the way a heart does: a few beats per minute each second."""
    return [start + (end - start) * (i + 1) / seconds for i in range(seconds)]


def run(coach: Coach, bpms, start: int = 0, forecast=None) -> list:
    cues = []
    for offset, bpm in enumerate(bpms):
        cues += coach.update(sample(start + offset, bpm), forecast)
    return cues


def test_zone_change_is_announced_once_after_it_holds():
    coach = Coach(PROFILE)
    cues = run(coach, [130] * 30 + ramp(130, 150, 5) + [150] * 30)  # zone 1 -> zone 3
    assert [(c.kind, c.facts["zone"]) for c in cues] == [(CueKind.ZONE_CHANGE, 3)]
    assert cues[0].t >= 30 + coach.settings.zone_confirm_s
    assert cues[0].facts["hr"] == 150 and cues[0].facts["previous_zone"] == 1


def test_brief_excursion_is_not_announced():
    cues = run(Coach(PROFILE), [110] * 30 + ramp(110, 150, 5) + [150] * 3 + ramp(150, 110, 5)
               + [110] * 30)
    assert cues == []


def test_entering_zone_5_says_ease_off():
    cues = run(Coach(PROFILE), [150] * 10 + ramp(150, 178, 5) + [178] * 10)
    assert cues[-1].kind is CueKind.HIGH_ZONE and cues[-1].action is Action.EASE_OFF
    assert "Ease off" in cues[-1].template_text and "178" in cues[-1].template_text


def test_forecast_overshoot_warns_before_the_zone_is_crossed():
    forecast = Forecast(hr_10s=168, hr_30s=179, hr_60s=183, hr_expected=170)
    cues = run(Coach(PROFILE), [165] * 5, forecast=forecast)
    assert cues and cues[0].kind is CueKind.FORECAST_OVERSHOOT
    assert cues[0].facts["horizon_s"] == 30 and cues[0].facts["forecast_hr"] == 179
    assert cues[0].action is Action.EASE_OFF
    assert len(cues) == 1  # rate-limited, not repeated every second


def test_far_above_maximum_says_stop_and_seek_help_deterministically():
    cues = run(Coach(PROFILE), [180, 185, 190, 194, 195, 196, 196])
    stop = [c for c in cues if c.kind is CueKind.ABOVE_MAX_HR]
    assert len(stop) == 1 and stop[0].action is Action.STOP and stop[0].deterministic
    assert "Stop" in stop[0].template_text and "medical help" in stop[0].template_text
    assert stop[0].facts["max_hr"] == 187


def test_implausible_reading_asks_to_check_the_strap_and_drives_no_zone_cue():
    cues = run(Coach(PROFILE), [100] * 10 + [250] * 10)
    assert [c.kind for c in cues] == [CueKind.IMPLAUSIBLE_READING]
    assert cues[0].deterministic


def test_a_spike_is_not_believed_but_a_steady_new_level_is():
    coach = Coach(PROFILE)
    spike = run(coach, [100] * 10 + [150] + [100] * 10)
    assert [c.kind for c in spike] == [CueKind.IMPLAUSIBLE_READING]
    settled = run(coach, [150] * 20, start=21)  # jumps, then holds: the strap settled
    assert [c.kind for c in settled] == [CueKind.ZONE_CHANGE]


def test_sensor_loss_is_announced_once_and_its_return_too():
    cues = run(Coach(PROFILE), [120] * 10 + [None] * 20 + [121] * 3)
    assert [c.kind for c in cues] == [CueKind.SENSOR_LOST, CueKind.SENSOR_BACK]


def test_every_cue_carries_the_measurements_it_rests_on():
    cues = run(Coach(PROFILE), [110] * 30 + ramp(110, 150, 10) + [150] * 30 + ramp(150, 178, 7)
               + [178] * 20)
    assert cues and all("hr" in c.facts for c in cues)
    assert all(c.as_dict()["facts"] for c in cues)
