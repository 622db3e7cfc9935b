from edge.stream.aligner import Gap, StreamAligner
from edge.stream.readings import (
    HeartRateReading,
    LinkEvent,
    LinkState,
    MachineReading,
    PowerReading,
    StrideReading,
)


def hr(t: float, bpm: int, rr=()) -> HeartRateReading:
    return HeartRateReading("band", t, bpm, tuple(rr), True)


def feed(aligner: StreamAligner, readings) -> list:
    out = []
    for reading in readings:
        out += aligner.push(reading)
    return out + aligner.flush()


def test_one_sample_per_second_with_latest_values_and_rr_of_that_second():
    samples = feed(
        StreamAligner(),
        [
            hr(0.1, 100, [0.6]),
            StrideReading("pod", 0.4, 160.0, 3.0, 10.0, 2.0),
            hr(0.9, 102, [0.59]),
            hr(1.2, 104, [0.58, 0.57]),
            hr(2.1, 106),
        ],
    )
    assert [s.t for s in samples] == [0, 1, 2]
    assert samples[0].hr_bpm == 102 and samples[0].rr_intervals_s == (0.6, 0.59)
    assert samples[0].cadence_spm == 160.0 and samples[0].distance_m == 10.0
    assert samples[1].hr_bpm == 104 and samples[1].rr_intervals_s == (0.58, 0.57)
    assert samples[2].hr_bpm == 106 and samples[2].rr_intervals_s == ()
    assert not any(s.hr_gap for s in samples)


def test_holds_a_value_a_few_seconds_then_reports_a_gap_instead_of_inventing():
    aligner = StreamAligner(max_hold_s=3.0)
    samples = feed(aligner, [hr(0.5, 120), hr(10.5, 130)])
    by_t = {s.t: s for s in samples}
    assert [by_t[t].hr_bpm for t in range(3)] == [120, 120, 120]
    assert all(by_t[t].hr_bpm is None and by_t[t].hr_gap for t in range(3, 10))
    assert by_t[10].hr_bpm == 130
    assert aligner.gaps == (Gap(3, 10),)


def test_disconnect_ends_the_held_value_at_once():
    samples = feed(
        StreamAligner(),
        [
            hr(0.5, 120),
            hr(1.5, 121),
            LinkEvent("band", 1.8, LinkState.DISCONNECTED),
            hr(4.5, 125),
        ],
    )
    by_t = {s.t: s for s in samples}
    assert by_t[1].hr_bpm is None and by_t[1].hr_gap  # the second the band went away
    assert by_t[2].hr_bpm is None and by_t[3].hr_bpm is None
    assert by_t[4].hr_bpm == 125


def test_contact_is_carried_with_the_reading():
    samples = feed(StreamAligner(), [HeartRateReading("band", 0.2, 80, (), False)])
    assert samples[0].contact is False


# -- effort: power meters and fitness machines ------------------------------------------------


def test_power_and_machine_values_join_the_sample_and_the_meter_wins_over_the_machine():
    samples = feed(
        StreamAligner(),
        [
            hr(0.1, 120),
            MachineReading(
                "bike",
                0.2,
                power_w=180.0,
                speed_mps=8.0,
                resistance=12.0,
                distance_m=40.0,
                cadence_rpm=85.0,
            ),
            PowerReading("meter", 0.3, 200.0, cadence_rpm=88.0),
            hr(1.1, 121),
            MachineReading(
                "bike",
                1.2,
                power_w=185.0,
                speed_mps=8.1,
                resistance=12.0,
                distance_m=48.0,
                cadence_rpm=86.0,
            ),
        ],
    )
    assert samples[0].power_w == 200.0 and samples[0].cadence_spm == 88.0
    assert samples[0].machine_speed_mps == 8.0 and samples[0].machine_distance_m == 40.0
    assert samples[0].speed_mps is None  # a footpod's speed, not the machine's
    assert samples[1].power_w == 200.0 and samples[1].machine_distance_m == 48.0
    assert samples[0].has_effort and samples[1].resistance == 12.0


def test_treadmill_incline_and_rower_strokes():
    samples = feed(
        StreamAligner(),
        [
            MachineReading("treadmill", 0.5, speed_mps=2.6, incline_pct=2.0, distance_m=10.0),
            MachineReading("rower", 1.5, power_w=150.0, stroke_rate_spm=26.0),
        ],
    )
    assert samples[0].incline_pct == 2.0 and samples[0].stroke_rate_spm is None
    assert samples[1].stroke_rate_spm == 26.0 and samples[1].incline_pct is None


def test_stale_effort_becomes_none_never_invented():
    samples = feed(
        StreamAligner(max_hold_s=3.0),
        [
            hr(0.5, 120),
            PowerReading("meter", 0.5, 220.0),
            *[hr(t + 0.5, 120) for t in range(1, 8)],
        ],
    )
    by_t = {s.t: s for s in samples}
    assert [by_t[t].power_w for t in range(3)] == [220.0] * 3
    assert all(by_t[t].power_w is None and not by_t[t].has_effort for t in range(3, 8))
    assert not any(s.hr_gap for s in samples)


def test_a_machine_going_away_ends_its_values_but_not_heart_rate():
    samples = feed(
        StreamAligner(),
        [
            hr(0.5, 120),
            MachineReading("bike", 0.6, power_w=150.0),
            hr(1.5, 121),
            LinkEvent("bike", 1.7, LinkState.DISCONNECTED),
            hr(2.5, 122),
        ],
    )
    by_t = {s.t: s for s in samples}
    assert by_t[0].power_w == 150.0
    assert by_t[1].power_w is None and by_t[1].hr_bpm == 121 and not by_t[1].hr_gap


def test_plain_heart_rate_samples_carry_no_effort():
    samples = feed(StreamAligner(), [hr(0.5, 120)])
    assert not samples[0].has_effort and samples[0].power_w is None
