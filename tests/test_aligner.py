from edge.stream.aligner import Gap, StreamAligner
from edge.stream.readings import HeartRateReading, LinkEvent, LinkState, StrideReading


def hr(t: float, bpm: int, rr=()) -> HeartRateReading:
    return HeartRateReading("band", t, bpm, tuple(rr), True)


def feed(aligner: StreamAligner, readings) -> list:
    out = []
    for reading in readings:
        out += aligner.push(reading)
    return out + aligner.flush()


def test_one_sample_per_second_with_latest_values_and_rr_of_that_second():
    samples = feed(StreamAligner(), [
        hr(0.1, 100, [0.6]), StrideReading("pod", 0.4, 160.0, 3.0, 10.0, 2.0),
        hr(0.9, 102, [0.59]), hr(1.2, 104, [0.58, 0.57]), hr(2.1, 106),
    ])
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
    assert [by_t[t].hr_bpm for t in range(0, 3)] == [120, 120, 120]
    assert all(by_t[t].hr_bpm is None and by_t[t].hr_gap for t in range(3, 10))
    assert by_t[10].hr_bpm == 130
    assert aligner.gaps == (Gap(3, 10),)


def test_disconnect_ends_the_held_value_at_once():
    samples = feed(StreamAligner(), [
        hr(0.5, 120), hr(1.5, 121),
        LinkEvent("band", 1.8, LinkState.DISCONNECTED), hr(4.5, 125),
    ])
    by_t = {s.t: s for s in samples}
    assert by_t[1].hr_bpm is None and by_t[1].hr_gap  # the second the band went away
    assert by_t[2].hr_bpm is None and by_t[3].hr_bpm is None
    assert by_t[4].hr_bpm == 125


def test_contact_is_carried_with_the_reading():
    samples = feed(StreamAligner(), [HeartRateReading("band", 0.2, 80, (), False)])
    assert samples[0].contact is False
