from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge.health.features import FEATURE_NAMES, HORIZONS_S, WINDOW_S, build_window
from edge.health.samples import (
    MAX_PAUSE_S,
    hr_array,
    recording_to_samples,
    recording_windows,
    split_at_pauses,
)
from edge.profile import Profile
from edge.sources.recordings import Recording, RecordPoint, read_recording
from edge.stream.aligner import StreamAligner
from edge.stream.readings import HeartRateReading, StrideReading


def recording(points) -> Recording:
    return Recording(Path("x.csv"), "running", None, tuple(points), ())


def point(t, hr, cadence=None, speed=None):
    return RecordPoint(t=t, hr_bpm=hr, cadence_spm=cadence, speed_mps=speed, distance_m=None)


def through_the_aligner(rec: Recording):
    """What the live path makes of the same points: readings into the StreamAligner."""
    aligner = StreamAligner()
    out = []
    for p in rec.points:
        if p.hr_bpm is not None:
            out += aligner.push(HeartRateReading("band", p.t, round(p.hr_bpm)))
        if p.cadence_spm is not None or p.speed_mps is not None or p.distance_m is not None:
            out += aligner.push(StrideReading("pod", p.t, p.cadence_spm, p.speed_mps, p.distance_m))
    return out + aligner.flush()


def test_seconds_agree_with_the_live_aligner():
    rng = np.random.default_rng(0)
    t, points = 0.0, []
    for _ in range(400):
        t += float(rng.choice([1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 7.0, 0.5]))
        hr = None if rng.random() < 0.1 else float(rng.integers(90, 170))
        cad = None if rng.random() < 0.2 else float(rng.integers(150, 180))
        points.append(point(round(t, 1), hr, cad, None if cad is None else 3.0))
    rec = recording(points)
    ours = recording_to_samples(rec)
    live = through_the_aligner(rec)
    n = min(len(ours), len(live))
    assert n >= len(ours) - 1
    for a, b in zip(ours[:n], live[:n], strict=True):
        assert (a.t, a.hr_bpm, a.hr_gap, a.cadence_spm, a.speed_mps) == (
            b.t,
            b.hr_bpm,
            b.hr_gap,
            b.cadence_spm,
            b.speed_mps,
        )


def test_short_gaps_are_bridged_long_ones_stay_gaps():
    rec = recording([point(0, 100.0), point(3, 103.0), point(10, 110.0)])
    samples = recording_to_samples(rec)
    assert [s.hr_bpm for s in samples] == [
        100.0,
        100.0,
        100.0,
        103.0,
        103.0,
        103.0,
        None,
        None,
        None,
        None,
        110.0,
    ]
    assert [s.hr_gap for s in samples][6:10] == [True] * 4


def test_long_pauses_split_the_recording():
    points = [point(t, 120.0) for t in range(100)]
    points += [point(100 + MAX_PAUSE_S + 50 + t, 130.0) for t in range(100)]
    segments = split_at_pauses(recording_to_samples(recording(points)))
    # A reading is held 3 s in all, never past the recording's end.
    assert [len(s) for s in segments] == [102, 100]
    assert segments[1][0].hr_bpm == 130.0


def test_recording_windows_target_the_stream_later():
    points = [point(t, 100.0 + t // 10, 160.0, 3.0) for t in range(400)]
    rw = recording_windows(recording(points), Profile(), stride_s=5)
    assert rw.x.shape[1:] == (WINDOW_S, len(FEATURE_NAMES))
    assert len(rw.target) == len(rw) == len(rw.end)
    assert rw.end[0] == 0 and rw.end[-1] <= 400 - 1 - max(HORIZONS_S)
    hr = 100.0 + np.arange(400) // 10
    for j, h in enumerate(HORIZONS_S):
        np.testing.assert_array_equal(rw.target[:, j], hr[rw.end + h])
    samples = recording_to_samples(recording(points))
    np.testing.assert_array_equal(rw.x[7], build_window(samples[: rw.end[7] + 1], Profile()))


def test_a_recording_too_short_gives_no_windows():
    rw = recording_windows(recording([point(t, 100.0) for t in range(50)]))
    assert len(rw) == 0 and rw.x.shape == (0, WINDOW_S, len(FEATURE_NAMES))


@pytest.mark.shared_data
def test_a_real_run_through_the_shared_reader(shared_workouts):
    rec = read_recording(shared_workouts / "activity-small-fenix2-run.fit")
    samples = recording_to_samples(rec)
    hr = hr_array(samples)
    assert np.sum(~np.isnan(hr)) > 2500
    cadence = np.median([s.cadence_spm for s in samples if s.cadence_spm])
    assert 140 < cadence < 200  # strides per minute doubled into steps per minute
    rw = recording_windows(rec)
    assert len(rw) > 400 and not np.isnan(rw.x).any()


def test_a_power_channel_that_never_reads_above_zero_is_no_power():
    """A head unit without a power meter writes 0 W throughout: that is not a rider at rest."""
    no_meter = [
        RecordPoint(t=t, hr_bpm=140.0, cadence_spm=85.0, speed_mps=8.0, distance_m=None, power_w=0)
        for t in range(30)
    ]
    assert all(s.power_w is None for s in recording_to_samples(recording(no_meter)))
    coasting = [replace(p, power_w=0 if p.t < 20 else 180) for p in no_meter]
    assert [s.power_w for s in recording_to_samples(recording(coasting))][18:22] == [0, 0, 180, 180]
