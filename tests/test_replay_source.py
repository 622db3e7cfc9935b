import asyncio
import time
from pathlib import Path

import pytest
from blockbuster import blockbuster_ctx

from edge.errors import ConfigError, SourceFileError
from edge.sources.base import SensorSource
from edge.sources.recordings import Recording, RecordPoint, read_recording
from edge.sources.replay import ReplaySource
from edge.stream.aligner import Gap, StreamAligner
from edge.stream.readings import HeartRateReading, LinkEvent, LinkState, StrideReading

WORKOUTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "workouts"

CSV = (
    "t,hr,cadence,speed,distance,rr\n"
    "0,100,160,3.0,0,0.6 0.6\n"
    "1,101,161,3.0,3,0.59\n"
    "2,102.6,,,,\n"
    "10,110,170,3.2,30,\n"  # nothing between 2 s and 10 s: the band was off
    "11,,171,3.3,33.3,\n"
)


def collect(source: ReplaySource) -> list:
    async def main() -> list:
        return [reading async for reading in source.readings()]

    return asyncio.run(main())


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "intervals.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_is_a_sensor_source(csv_file):
    source = ReplaySource(csv_file)
    assert isinstance(source, SensorSource)
    assert source.name == "intervals.csv"


def test_speed_zero_yields_the_file_in_time_order(csv_file):
    readings = collect(ReplaySource(csv_file, speed=0, device="replayed band"))
    assert readings[0] == LinkEvent(
        "replayed band", 0.0, LinkState.CONNECTED, "replay of intervals.csv"
    )
    hr = [r for r in readings if isinstance(r, HeartRateReading)]
    assert [(r.t, r.bpm, r.rr_intervals_s, r.contact) for r in hr] == [
        (0.0, 100, (0.6, 0.6), None),
        (1.0, 101, (0.59,), None),
        (2.0, 103, (), None),
        (10.0, 110, (), None),
    ]
    strides = [r for r in readings if isinstance(r, StrideReading)]
    assert [
        (r.t, r.cadence_spm, r.speed_mps, r.total_distance_m, r.total_steps) for r in strides
    ] == [
        (0.0, 160, 3.0, 0, None),
        (1.0, 161, 3.0, 3, None),
        (10.0, 170, 3.2, 30, None),
        (11.0, 171, 3.3, 33.3, None),
    ]
    times = [r.t for r in readings]
    assert times == sorted(times)
    assert not any(2.0 < t < 10.0 for t in times)  # a gap is an absence, never made up
    assert {r.device for r in readings} == {"replayed band"}


def test_gap_in_the_file_is_a_gap_in_the_aligned_stream(csv_file):
    aligner = StreamAligner(max_hold_s=3.0)
    samples = []
    for reading in collect(ReplaySource(csv_file, speed=0)):
        samples += aligner.push(reading)
    samples += aligner.flush()
    by_t = {s.t: s for s in samples}
    assert by_t[1].hr_bpm == 101 and by_t[1].rr_intervals_s == (0.59,)
    assert by_t[6].hr_bpm is None and by_t[6].hr_gap
    assert by_t[10].hr_bpm == 110
    assert aligner.gaps == (Gap(5, 10),)


def test_device_defaults_to_the_recordings_device_then_the_file_name(csv_file):
    readings = collect(ReplaySource(csv_file, speed=0))
    assert readings[0].device == "intervals.csv"  # a CSV names no device
    recording = Recording(
        csv_file, "running", "garmin:fr970", (RecordPoint(0.0, 120.0, None, None, None),), ()
    )
    readings = collect(ReplaySource.from_recording(recording, speed=0))
    assert [r.device for r in readings] == ["garmin:fr970", "garmin:fr970"]


def test_from_recording_does_not_read_the_file_again(csv_file):
    recording = read_recording(csv_file)
    csv_file.unlink()
    source = ReplaySource.from_recording(recording, speed=0)
    assert source.recording is recording
    assert sum(isinstance(r, HeartRateReading) for r in collect(source)) == 4


def test_running_steps_come_from_cadence_but_not_across_a_gap(tmp_path):
    points = (
        RecordPoint(0.0, 120.0, 180.0, 3.0, 0.0),
        RecordPoint(1.0, 121.0, 180.0, 3.0, 3.0),
        RecordPoint(2.0, 122.0, 180.0, 3.0, 6.0),
        RecordPoint(60.0, 130.0, 120.0, 2.0, 9.0),
        RecordPoint(61.0, 131.0, 120.0, 2.0, 11.0),
    )
    recording = Recording(tmp_path / "run.fit", "running", None, points, ())
    strides = [
        r
        for r in collect(ReplaySource.from_recording(recording, speed=0))
        if isinstance(r, StrideReading)
    ]
    assert [r.total_steps for r in strides] == pytest.approx([0.0, 3.0, 6.0, 6.0, 8.0])


def test_speed_100_plays_a_minute_in_about_six_tenths_of_a_second(tmp_path):
    path = tmp_path / "minute.csv"
    path.write_text("t,hr\n" + "".join(f"{t},{120 + t % 5}\n" for t in range(61)), encoding="utf-8")
    recording = read_recording(path)
    started = time.perf_counter()
    readings = collect(ReplaySource.from_recording(recording, speed=100))
    elapsed = time.perf_counter() - started
    assert sum(isinstance(r, HeartRateReading) for r in readings) == 61
    assert 0.3 < elapsed < 3.0


def test_speed_zero_lets_other_tasks_run(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("t,hr\n" + "".join(f"{t},120\n" for t in range(2000)), encoding="utf-8")
    source = ReplaySource.from_recording(read_recording(path), speed=0)

    async def main() -> int:
        ticks = 0

        async def other() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other())
        async for _ in source.readings():
            pass
        task.cancel()
        return ticks

    assert asyncio.run(main()) > 1000


def test_reading_the_file_does_not_block_the_event_loop(csv_file):
    with blockbuster_ctx():
        readings = collect(ReplaySource(csv_file, speed=0))
    assert len(readings) == 1 + 4 + 4


def test_a_bad_file_raises_source_file_error_when_replay_starts(tmp_path):
    path = tmp_path / "no_hr.csv"
    path.write_text("t,cadence\n0,160\n", encoding="utf-8")
    source = ReplaySource(path, speed=0)
    with pytest.raises(SourceFileError, match="no heart-rate column"):
        collect(source)


@pytest.mark.parametrize("speed", [-1.0, float("nan"), float("inf")])
def test_speed_must_be_zero_or_positive(csv_file, speed):
    with pytest.raises(ConfigError, match="replay speed"):
        ReplaySource(csv_file, speed=speed)


@pytest.mark.shared_data
@pytest.mark.skipif(not WORKOUTS.is_dir(), reason=f"{WORKOUTS} is not beside the checkout")
def test_replays_a_real_fit_file():
    source = ReplaySource(WORKOUTS / "activity-small-fenix2-run.fit", speed=0)
    readings = collect(source)
    recording = source.recording
    assert recording is not None and recording.sport == "running"
    assert readings[0].device == "garmin:fenix2"
    hr = [r for r in readings if isinstance(r, HeartRateReading)]
    assert len(hr) == recording.points_with_hr == 2808
    assert [r.t for r in readings] == sorted(r.t for r in readings)
    steps = [r.total_steps for r in readings if isinstance(r, StrideReading)]
    assert 6000 < steps[-1] < 9000  # 47 minutes at about 166 steps/min, less the pauses
