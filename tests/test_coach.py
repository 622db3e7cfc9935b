import dataclasses

from edge.coach.coach import Coach
from edge.core.cues import Action, CueKind
from edge.core.forecast import Forecast
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
    cues = run(
        Coach(PROFILE), [110] * 30 + ramp(110, 150, 5) + [150] * 3 + ramp(150, 110, 5) + [110] * 30
    )
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


def persistence(hr: float, expected: float) -> Forecast:
    """A forecast as the committed model gives during a climb: the horizons near the current
    rate (a little under it), the steady rate for the effort well above."""
    return Forecast(hr_10s=hr - 0.3, hr_30s=hr - 1.2, hr_60s=hr - 2.5, hr_expected=expected)


def climb(coach: Coach, bpms, expected: float) -> list:
    cues = []
    for t, bpm in enumerate(bpms):
        cues += coach.update(sample(t, bpm), persistence(bpm, expected))
    return cues


def test_a_climb_towards_a_steady_rate_above_zone_5_is_warned_before_the_crossing():
    bpms = [140] * 20 + ramp(140, 180, 50)  # 0.8 bpm/s, towards a steady 182
    cues = climb(Coach(PROFILE), bpms, expected=182)
    warning = next(c for c in cues if c.kind is CueKind.FORECAST_OVERSHOOT)
    crossed = next(t for t, bpm in enumerate(bpms) if bpm >= 174.1)
    assert warning.t < crossed and warning.facts["hr"] < 174.1
    assert warning.facts["forecast_hr"] >= 174 and warning.facts["horizon_s"] in (10, 30)
    assert warning.action is Action.EASE_OFF
    assert [c.kind for c in cues].count(CueKind.FORECAST_OVERSHOOT) == 1


def test_no_overshoot_warning_when_the_effort_settles_below_zone_5_or_is_not_climbing():
    below = climb(Coach(PROFILE), [140] * 20 + ramp(140, 170, 40) + [170] * 30, expected=171)
    flat = climb(Coach(PROFILE), [168] * 90, expected=182)  # steady rate high, no climb
    falling = climb(Coach(PROFILE), ramp(172, 150, 40), expected=180)
    for cues in (below, flat, falling):
        assert CueKind.FORECAST_OVERSHOOT not in [c.kind for c in cues]


def test_a_gap_restarts_the_climb_rate():
    coach = Coach(PROFILE)
    bpms = ramp(150, 160, 10) + [None] * 3 + ramp(160, 170, 8)  # never 12 s in a row
    assert CueKind.FORECAST_OVERSHOOT not in [c.kind for c in climb_with_gaps(coach, bpms)]


def climb_with_gaps(coach: Coach, bpms) -> list:
    cues = []
    for t, bpm in enumerate(bpms):
        cues += coach.update(sample(t, bpm), None if bpm is None else persistence(bpm, 185))
    return cues


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
    cues = run(
        Coach(PROFILE),
        [110] * 30 + ramp(110, 150, 10) + [150] * 30 + ramp(150, 178, 7) + [178] * 20,
    )
    assert cues and all("hr" in c.facts for c in cues)
    assert all(c.as_dict()["facts"] for c in cues)


# -- priorities, drift and milestones -----------------------------------------------------------

from edge.coach.coach import CoachSettings  # noqa: E402
from edge.core.cues import Cue, Priority  # noqa: E402
from edge.narrator import guard  # noqa: E402

EXPECTED = Forecast(hr_10s=150, hr_30s=150, hr_60s=150, hr_expected=140)


def moving(
    t: int,
    bpm: float | None,
    cadence: float | None = 170.0,
    speed: float | None = None,
    distance: float | None = None,
    steps: float | None = None,
) -> AlignedSample:
    return AlignedSample(
        t, bpm, (), cadence, speed, distance, steps, True if bpm else None, bpm is None
    )


def test_priorities_run_from_safety_to_milestones():
    order = [
        Priority.SAFETY,
        Priority.SENSOR,
        Priority.FORECAST,
        Priority.DRIFT,
        Priority.WORKOUT,
        Priority.ZONE,
        Priority.MILESTONE,
    ]
    assert sorted(order) == order and len(set(order)) == len(Priority)


def crept(t: int, rise_bpm: float = 14.0, minutes: int = 60) -> float:
    """A long steady run whose heart rate creeps up `rise_bpm` over its second half hour."""
    late = max(0.0, t - 30 * 60) / (minutes * 60 - 30 * 60)
    return 145.0 + rise_bpm * min(late, 1.0) + (1.0 if t % 7 == 0 else 0.0)


def test_drift_is_heart_rate_creeping_up_at_an_unchanged_pace():
    # The run: an hour at 3.0 m/s, heart rate up 14 bpm over the last half hour, and
    # a health model that expects what it sees (it follows heart rate up): drift is said once.
    coach = Coach(PROFILE)
    cues = [
        c
        for t in range(3600)
        for c in coach.update(moving(t, crept(t), speed=3.0), Forecast(0, 0, 0, crept(t)))
    ]
    drift = [c for c in cues if c.kind is CueKind.DRIFT]
    assert len(drift) == 1
    cue = drift[0]
    assert cue.action is Action.EASE_OFF and cue.priority is Priority.DRIFT
    assert cue.facts["start_hr"] == 145 and cue.facts["decoupling_pct"] >= 5
    assert 40 * 60 < cue.t < 3600 and cue.facts["measure"] == "pace"
    assert cue.template_text == (
        f"Your heart rate has crept up from 145 to {cue.facts['hr']} at the same pace over "
        f"{cue.facts['steady_min']} minutes: heat or fatigue. Ease off a little and drink."
    )
    assert guard.check(cue.template_text, cue).ok


def test_no_drift_at_a_steady_heart_rate_or_when_the_pace_rises_with_it():
    steady = Coach(PROFILE)
    assert not [
        c
        for t in range(3600)
        for c in steady.update(moving(t, 145 + (t % 5 == 0), speed=3.0), None)
        if c.kind is CueKind.DRIFT
    ]
    # Heart rate up 14 bpm because the pace went up 10 %: a harder effort, not drift.
    faster = Coach(PROFILE)
    assert not [
        c
        for t in range(3600)
        for c in faster.update(
            moving(t, crept(t), speed=3.0 * (1.0 + 0.1 * min(max(t - 1800, 0) / 1800, 1.0))), None
        )
        if c.kind is CueKind.DRIFT
    ]
    # No pace or power: nothing says what the effort is (cadence alone is not effort).
    blind = Coach(PROFILE)
    assert not [
        c
        for t in range(3600)
        for c in blind.update(moving(t, crept(t)), None)
        if c.kind is CueKind.DRIFT
    ]


def test_intervals_and_the_warm_up_are_not_drift():
    # 3 minutes fast, 2 easy, for an hour: heart rate up and down with the pace, no drift.
    coach = Coach(PROFILE)
    cues = [
        c
        for t in range(3600)
        for c in coach.update(
            moving(t, 165 if t % 300 < 180 else 135, speed=4.0 if t % 300 < 180 else 2.0), None
        )
    ]
    assert not [c for c in cues if c.kind is CueKind.DRIFT]
    # Heart rate rising from rest over the first ten minutes at a steady pace is the warm-up.
    coach = Coach(PROFILE)
    cues = [
        c
        for t in range(2400)
        for c in coach.update(moving(t, min(100 + t / 10, 150), speed=3.0), None)
    ]
    assert not [c for c in cues if c.kind is CueKind.DRIFT]


def test_milestones_every_ten_minutes_kilometre_and_thousand_steps():
    coach = Coach(PROFILE)
    cues = [c for t in range(1250) for c in coach.update(moving(t, 115, distance=3.0 * t), None)]
    assert all(
        c.kind is CueKind.MILESTONE and c.priority is Priority.MILESTONE and c.action is Action.INFO
        for c in cues
    )
    assert [(c.t, c.facts["measure"]) for c in cues] == [
        (334, "distance"),
        (600, "time"),
        (667, "distance"),
        (1000, "distance"),
        (1200, "time"),
    ]
    first_km, ten_min = cues[0], cues[1]
    assert first_km.template_text == (
        "1 kilometre done, that one in 5 minutes 34 seconds. Heart rate 115, zone 0."
    )
    assert first_km.facts["lap_s"] == 334 and first_km.facts["distance_km"] == 1
    assert ten_min.template_text == "10 minutes done. Heart rate 115, zone 0."
    assert all(guard.check(c.template_text, c).ok for c in cues)
    # Steps only count when the distance is not known (walking with a step counter).
    walker = Coach(PROFILE)
    cues = [c for t in range(400) for c in walker.update(moving(t, 100, steps=2.8 * t), None)]
    assert [(c.t, c.facts["total_steps"]) for c in cues] == [(358, 1000)]
    assert cues[0].template_text == "1000 steps. Heart rate 100, zone 0."
    runner = Coach(PROFILE, CoachSettings(milestone_distance_m=0))
    cues = [
        c
        for t in range(400)
        for c in runner.update(moving(t, 100, distance=3.0 * t, steps=2.8 * t), None)
    ]
    assert cues == []


def test_distance_milestones_count_from_where_the_sensor_was_and_survive_its_reset():
    coach = Coach(PROFILE)
    # A footpod switched on earlier: its total starts at 5.3 km; reset to 0 at second 500.
    total = lambda t: 5300 + 3.0 * t if t < 500 else 3.0 * (t - 500)  # noqa: E731
    cues = [c for t in range(900) for c in coach.update(moving(t, 115, distance=total(t)), None)]
    km = [(c.t, c.facts["distance_km"]) for c in cues if c.facts["measure"] == "distance"]
    # 1497 m before the reset (the reset second itself is lost), then 2 km at 668.
    assert km == [(334, 1), (668, 2)]


def test_a_milestone_waits_for_quiet_and_is_dropped_when_it_cannot_have_it():
    bpms = [130] * 590 + [150] * 20 + [150] * 40  # zone 1 -> 3, announced at 595
    coach = Coach(PROFILE)
    cues = [c for t, bpm in enumerate(bpms) for c in coach.update(moving(t, bpm), None)]
    assert [(c.t, c.kind) for c in cues] == [(595, CueKind.ZONE_CHANGE), (615, CueKind.MILESTONE)]
    hurried = Coach(PROFILE, CoachSettings(milestone_max_delay_s=10))
    cues = [c for t, bpm in enumerate(bpms) for c in hurried.update(moving(t, bpm), None)]
    assert [c.kind for c in cues] == [CueKind.ZONE_CHANGE]


def test_milestones_go_on_through_a_lost_signal_without_a_heart_rate():
    coach = Coach(PROFILE)
    cues = [c for t in range(560) for c in coach.update(moving(t, 115), None)]
    cues += [c for t in range(560, 660) for c in coach.update(moving(t, None), None)]
    assert [(c.t, c.kind) for c in cues] == [(564, CueKind.SENSOR_LOST), (600, CueKind.MILESTONE)]
    assert "hr" not in cues[1].facts and cues[1].template_text == "10 minutes done."


def test_every_new_template_names_only_its_facts():
    """What the guard asks of a model's words, the templates meet too."""
    facts = {
        CueKind.DRIFT: (
            Action.EASE_OFF,
            {"hr": 155, "expected_hr": 141, "excess": 14, "held_s": 120},
        ),
        CueKind.MILESTONE: (
            Action.INFO,
            {
                "measure": "distance",
                "distance_km": 2,
                "lap_s": 301,
                "spoken_min": 5,
                "spoken_s": 1,
                "hr": 150,
                "zone": 3,
            },
        ),
        CueKind.STEP_START: (
            Action.PUSH,
            {
                "step": 4,
                "steps": 10,
                "step_kind": "work",
                "rep": 2,
                "reps": 4,
                "zone": 3,
                "top_zone": 4,
                "target_low": 148,
                "target_high": 174,
                "remaining_s": 90,
                "spoken_min": 1,
                "spoken_s": 30,
                "hr": 139,
            },
        ),
    }
    for kind, (action, f) in facts.items():
        cue = Cue(1, 0, kind, action, Priority.ZONE, f)
        assert guard.check(cue.template_text, cue).ok, (
            cue.template_text,
            guard.check(cue.template_text, cue),
        )
    start = Cue(
        1, 0, CueKind.STEP_START, Action.PUSH, Priority.WORKOUT, facts[CueKind.STEP_START][1]
    )
    assert start.template_text == (
        "Interval 2 of 4: 1 minute 30 seconds at zone 3 to 4. Pick up the pace."
    )


def test_a_cyclist_over_the_maximum_is_told_to_stop_not_to_check_a_strap():
    # 90 rpm is a walking cadence in steps/min, but with power in the sample it is a crank's:
    # the walking rule (a walker's heart is not over its maximum) must not apply.
    coach = Coach(PROFILE)
    cues = []
    for t, bpm in enumerate([*ramp(150, 196, 40), *[196.0] * 10]):
        ridden = dataclasses.replace(sample(t, bpm), cadence_spm=90.0, power_w=320.0)
        cues += coach.update(ridden)
    kinds = {c.kind for c in cues}
    assert CueKind.ABOVE_MAX_HR in kinds and CueKind.IMPLAUSIBLE_READING not in kinds
