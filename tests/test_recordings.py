import csv
import math
import random
from datetime import UTC, datetime
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest
from fit_files import ENUM, FIT_EPOCH_S, UINT8, UINT16, UINT32, encode_fit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.errors import SourceFileError
from edge.sources.recordings import Recording, iter_recordings, read_recording

WORKOUTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "workouts"
needs_workouts = pytest.mark.skipif(
    not (WORKOUTS / "MANIFEST.tsv").is_file(), reason=f"{WORKOUTS} is not beside the checkout"
)

# --- a small FIT writer, so FIT parsing is tested without the shared files -------------------

START = datetime(2024, 5, 1, 7, 30, tzinfo=UTC)


def fit_timestamp(seconds_after_start: float) -> int:
    return int(START.timestamp()) - FIT_EPOCH_S + int(seconds_after_start)


def file_id(manufacturer: int = 1, product: int = 1) -> tuple:
    return 0, [(0, ENUM, 4), (1, UINT16, manufacturer), (2, UINT16, product)]


def sport(value: int) -> tuple:
    return 12, [(0, ENUM, value)]


def record(
    t: float,
    hr: int = 0xFF,
    cadence: int = 0xFF,
    fraction: int = 0xFF,
    speed_mps: float | None = None,
    distance_m: float | None = None,
) -> tuple:
    return 20, [
        (253, UINT32, fit_timestamp(t)),
        (3, UINT8, hr),
        (4, UINT8, cadence),
        (53, UINT8, fraction),
        (6, UINT16, 0xFFFF if speed_mps is None else round(speed_mps * 1000)),
        (5, UINT32, 0xFFFFFFFF if distance_m is None else round(distance_m * 100)),
    ]


def hrv(*rr_s: float) -> tuple:
    return 78, [(0, UINT16, tuple(round(rr * 1000) for rr in rr_s))]


def fit_bytes(*messages: tuple) -> bytes:
    """A FIT file (protocol 1.0) with one local definition per distinct message layout."""
    return encode_fit(messages)


def running_fit() -> bytes:
    return fit_bytes(
        file_id(),
        sport(1),
        record(0, hr=120, cadence=80, fraction=64, speed_mps=3.0, distance_m=0.0),
        record(1, hr=122, cadence=81, fraction=0, speed_mps=3.1, distance_m=3.1),
        hrv(0.49, 0.5),
        record(1, distance_m=3.2),  # same second again: merged into the point above
        record(2, cadence=82, speed_mps=3.2, distance_m=6.3),  # no heart rate this second
        record(30, hr=130, cadence=84, speed_mps=3.3, distance_m=9.5),  # a 28 s pause
    )


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# --- FIT -------------------------------------------------------------------------------------


def test_fit_records_become_points_in_edgecoach_units(tmp_path):
    recording = read_recording(write(tmp_path, "run.fit", running_fit()))
    assert recording.sport == "running"
    assert recording.device is not None and recording.device.startswith("garmin:")
    assert recording.warnings == ()
    assert [p.t for p in recording.points] == [0.0, 1.0, 2.0, 30.0]
    first, second, third, last = recording.points
    # FIT running cadence is per leg: (80 + 64/128) strides/min is 161 steps/min.
    assert first.hr_bpm == 120 and first.cadence_spm == pytest.approx(161.0)
    assert first.speed_mps == pytest.approx(3.0) and first.distance_m == 0.0
    assert second.hr_bpm == 122 and second.distance_m == pytest.approx(3.1)  # first value wins
    assert second.rr_intervals_s == pytest.approx((0.49, 0.5))
    assert third.hr_bpm is None and third.cadence_spm == 164.0
    assert last.hr_bpm == 130 and last.rr_intervals_s == ()
    assert recording.points_with_hr == 3 and recording.duration_s == 30.0


def test_fit_cycling_cadence_is_crank_rpm_as_recorded(tmp_path):
    data = fit_bytes(
        file_id(), sport(2), record(0, hr=110, cadence=90), record(1, hr=111, cadence=91)
    )
    recording = read_recording(write(tmp_path, "ride.FIT", data))
    assert recording.sport == "cycling"
    assert [p.cadence_spm for p in recording.points] == [90.0, 91.0]


def test_truncated_fit_keeps_what_was_read_with_a_warning(tmp_path):
    data = running_fit()
    recording = read_recording(write(tmp_path, "cut.fit", data[:-12]))
    assert recording.points_with_hr >= 2
    assert len(recording.warnings) == 1
    assert recording.warnings[0].startswith("truncated after record")
    assert "read what was there" in recording.warnings[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (random.Random(1).randbytes(2048), "is not a FIT file (bad header)"),
        (b"", "is empty"),
        (b"\x0e\x10", "is not a FIT file (bad header)"),
        (running_fit()[:20], "damaged before its first record"),
        (fit_bytes(file_id(), sport(1)), "has no timed records"),
        (
            fit_bytes(file_id(), record(0, cadence=80), record(1, cadence=80)),
            "no heart-rate records",
        ),
    ],
)
def test_unreadable_fit_files_raise_source_file_error(tmp_path, data, message):
    path = write(tmp_path, "bad.fit", data)
    with pytest.raises(
        SourceFileError, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as caught:
        read_recording(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_fit_bytes_give_a_recording_or_source_file_error_only(tmp_path_factory, data):
    original = bytearray(running_fit())
    for _ in range(data.draw(st.integers(1, 8))):
        original[data.draw(st.integers(0, len(original) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(original)))
    path = tmp_path_factory.mktemp("fuzz") / "damaged.fit"
    path.write_bytes(bytes(original[:cut]))
    try:
        recording = read_recording(path)
    except SourceFileError:
        return
    assert isinstance(recording, Recording)
    assert [p.t for p in recording.points] == sorted(p.t for p in recording.points)


# --- TCX -------------------------------------------------------------------------------------

TCX = """<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
    xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2">
  <Activities>
    <Activity Sport="{sport}">
      <Id>2024-05-01T07:30:00Z</Id>
      <Lap StartTime="2024-05-01T07:30:00Z">
        <Track>
          <Trackpoint>
            <Time>2024-05-01T07:30:00Z</Time>
            <DistanceMeters>0.0</DistanceMeters>
            <HeartRateBpm><Value>101</Value></HeartRateBpm>
            <Cadence>{cadence}</Cadence>
            <Extensions><ns3:TPX><ns3:Speed>2.5</ns3:Speed>{run_cadence}</ns3:TPX></Extensions>
          </Trackpoint>
          <Trackpoint>
            <Time>2024-05-01T07:30:01.500Z</Time>
            <DistanceMeters>3.75</DistanceMeters>
            <HeartRateBpm><Value>103</Value></HeartRateBpm>
          </Trackpoint>
          <Trackpoint>
            <Time>2024-05-01T07:30:01.500Z</Time>
            <Cadence>86</Cadence>
          </Trackpoint>
          <Trackpoint>
            <Time>2024-05-01T08:30:05+01:00</Time>
            <HeartRateBpm><Value>not a number</Value></HeartRateBpm>
          </Trackpoint>
          <Trackpoint><DistanceMeters>9</DistanceMeters></Trackpoint>
        </Track>
      </Lap>
      <Creator xsi:type="Device_t" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <Name>Forerunner 255</Name>
      </Creator>
    </Activity>
  </Activities>
</TrainingCenterDatabase>
"""


def test_tcx_trackpoints_with_namespaced_extensions(tmp_path):
    text = TCX.format(
        sport="Running", cadence="", run_cadence="<ns3:RunCadence>85</ns3:RunCadence>"
    )
    recording = read_recording(write(tmp_path, "run.TCX", text))
    assert recording.sport == "running" and recording.device == "Forerunner 255"
    assert [p.t for p in recording.points] == [0.0, 1.5, 5.0]
    first, second, third = recording.points
    assert first.hr_bpm == 101 and first.cadence_spm == 170.0  # RunCadence is per leg
    assert first.speed_mps == 2.5 and first.distance_m == 0.0
    assert second.hr_bpm == 103 and second.distance_m == 3.75
    assert second.cadence_spm == 172.0  # from the duplicate trackpoint, merged
    assert third.hr_bpm is None  # "not a number" is left out, with a warning
    assert any("heart rate that is not a number" in w for w in recording.warnings)
    assert any("without a valid Time" in w for w in recording.warnings)


def test_tcx_biking_cadence_is_rpm(tmp_path):
    recording = read_recording(
        write(tmp_path, "ride.tcx", TCX.format(sport="Biking", cadence="92", run_cadence=""))
    )
    assert recording.sport == "cycling"
    assert recording.points[0].cadence_spm == 92.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TCX.format(sport="Running", cadence="", run_cadence="")[:700], "XML is broken at line"),
        ("<gpx xmlns='http://www.topografix.com/GPX/1/1'/>", "root element is <gpx>"),
        ("this is not xml at all", "is not a valid TCX file"),
        ("<?xml version='1.0'?>\n<TrainingCenterDatabase/>", "has no timed records"),
    ],
)
def test_broken_tcx_raises_source_file_error(tmp_path, text, message):
    with pytest.raises(SourceFileError, match=message):
        read_recording(write(tmp_path, "bad.tcx", text))


# --- GPX -------------------------------------------------------------------------------------

GPX_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="Garmin Connect" xmlns="http://www.topografix.com/GPX/1/1"
    xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v{version}">
  <trk><type>running</type><trkseg>
"""
GPX_TAIL = "  </trkseg></trk>\n</gpx>\n"


def trkpt(
    t: int, lat: float, hr: int | None = None, cad: int | None = None, speed: float | None = None
) -> str:
    ext = "".join(
        [
            f"<gpxtpx:hr>{hr}</gpxtpx:hr>" if hr is not None else "",
            f"<gpxtpx:cad>{cad}</gpxtpx:cad>" if cad is not None else "",
            f"<gpxtpx:speed>{speed}</gpxtpx:speed>" if speed is not None else "",
        ]
    )
    return (
        f'<trkpt lat="{lat}" lon="8.5"><ele>400</ele>'
        f"<time>2024-05-01T07:30:{t:02d}Z</time>"
        f"<extensions><gpxtpx:TrackPointExtension>{ext}</gpxtpx:TrackPointExtension>"
        "</extensions></trkpt>\n"
    )


def test_gpx_hr_and_cadence_with_speed_from_positions(tmp_path):
    step = 0.0001  # degrees of latitude: about 11.1 m
    text = (
        GPX_HEAD.format(version=1)
        + "".join(
            [
                trkpt(2, 47.0 + 2 * step, hr=142, cad=88),
                trkpt(0, 47.0, hr=140, cad=87),  # out of order in the file: sorted by time
                trkpt(1, 47.0 + step, hr=141),
                trkpt(40, 47.0 + 3 * step, hr=150),  # after a 38 s gap: no speed is made up
            ]
        )
        + GPX_TAIL
    )
    recording = read_recording(write(tmp_path, "run.gpx", text))
    assert recording.sport == "running" and recording.device == "Garmin Connect"
    assert [p.t for p in recording.points] == [0.0, 1.0, 2.0, 40.0]
    assert [p.hr_bpm for p in recording.points] == [140, 141, 142, 150]
    assert [p.cadence_spm for p in recording.points] == [174.0, None, 176.0, None]
    metres = 2 * math.pi * 6_371_008.8 * step / 360
    assert recording.points[0].speed_mps is None
    assert recording.points[1].speed_mps == pytest.approx(metres, rel=1e-3)
    assert recording.points[2].speed_mps == pytest.approx(metres, rel=1e-3)
    assert recording.points[3].speed_mps is None
    assert recording.points[3].distance_m == pytest.approx(3 * metres, rel=1e-3)


def test_gpx_speed_extension_wins_over_positions(tmp_path):
    text = (
        GPX_HEAD.format(version=2)
        + trkpt(0, 47.0, hr=120, speed=2.0)
        + trkpt(1, 47.001, hr=121, speed=2.5)
        + GPX_TAIL
    )
    recording = read_recording(write(tmp_path, "run.gpx", text))
    assert [p.speed_mps for p in recording.points] == [2.0, 2.5]


def test_gpx_without_heart_rate_is_refused(tmp_path):
    text = GPX_HEAD.format(version=1) + trkpt(0, 47.0) + trkpt(1, 47.0001) + GPX_TAIL
    with pytest.raises(SourceFileError, match="has no heart-rate records"):
        read_recording(write(tmp_path, "walk.gpx", text))


# --- CSV -------------------------------------------------------------------------------------


def test_csv_in_seconds_with_optional_columns(tmp_path):
    text = (
        "Time,HR (bpm),cadence,speed [m/s],distance,rr,notes\n"
        "0,100,160,3.0,0,0.60 0.61,start\n"
        "2,,162,3.1,6.1,,\n"
        "1,101,,,3.0,0.59,\n"
        "1,,161,3.05,,,duplicate second\n"
        "\n"
        "60,120,170,3.5,180,,\n"
    )
    recording = read_recording(write(tmp_path, "run.csv", text))
    assert recording.sport is None and recording.device is None and recording.warnings == ()
    assert [p.t for p in recording.points] == [0.0, 1.0, 2.0, 60.0]
    assert [p.hr_bpm for p in recording.points] == [100, 101, None, 120]
    assert [p.cadence_spm for p in recording.points] == [160, 161, 162, 170]  # as written
    assert recording.points[1].speed_mps == 3.05 and recording.points[1].distance_m == 3.0
    assert recording.points[0].rr_intervals_s == (0.6, 0.61)
    assert recording.points[1].rr_intervals_s == (0.59,)


def test_csv_with_iso_times_semicolons_and_bad_cells(tmp_path):
    text = (
        "timestamp;heart_rate\n"
        "2024-05-01T07:30:00Z;90\n"
        "2024-05-01T07:30:00.5+00:00;oops\n"
        "yesterday;95\n"
        "2024-05-01T07:30:03Z;93\n"
    )
    recording = read_recording(write(tmp_path, "walk.csv", text))
    assert [(p.t, p.hr_bpm) for p in recording.points] == [(0.0, 90), (0.5, None), (3.0, 93)]
    assert len(recording.warnings) == 2
    assert any("without a valid time" in w and "data row 3" in w for w in recording.warnings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,cadence,speed\n0,160,3.0\n1,161,3.1\n", "has no heart-rate column"),
        ("hr,cadence\n120,160\n", "has no time column"),
        ("t,hr\n0,\n1,0\n", "has no heart-rate records"),
        ("t,hr\n", "has no timed records"),
        (",,,\n", "has no header row"),
        ("time,hr\n0,100\n2024-05-01T07:30:00Z,101\n", "mixes seconds and ISO 8601"),
    ],
)
def test_unusable_csv_raises_source_file_error(tmp_path, text, message):
    with pytest.raises(SourceFileError, match=message):
        read_recording(write(tmp_path, "bad.csv", text))


def test_binary_csv_raises_source_file_error(tmp_path):
    with pytest.raises(SourceFileError, match="not UTF-8"):
        read_recording(write(tmp_path, "bad.csv", b"\xff\xfe\x00\x81" * 64))


@settings(max_examples=100, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list('0123456789,;\t\n .-:TZe+xhrtime<>/"')), max_size=300),
    st.sampled_from([".csv", ".tcx", ".gpx"]),
)
def test_arbitrary_text_gives_a_recording_or_source_file_error_only(tmp_path_factory, text, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"random{suffix}"
    path.write_text(text, encoding="utf-8")
    try:
        read_recording(path)
    except SourceFileError:
        pass


# --- any format --------------------------------------------------------------------------------


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(SourceFileError, match="use a .fit, .tcx, .gpx or .csv file"):
        read_recording(write(tmp_path, "run.json", "{}"))
    with pytest.raises(SourceFileError, match="cannot read"):
        read_recording(tmp_path / "missing.fit")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(SourceFileError, match="cannot read"):
        read_recording(tmp_path / "folder.csv")


def test_iter_recordings_yields_good_files_and_reasons_for_bad_ones(tmp_path):
    write(tmp_path, "b_run.csv", "t,hr\n0,100\n1,101\n")
    write(tmp_path, "a_noise.fit", random.Random(2).randbytes(512))
    write(tmp_path, "c_empty.GPX", b"")
    write(tmp_path, "notes.txt", "not a recording")
    (tmp_path / "2024").mkdir()
    write(tmp_path / "2024", "run.fit", running_fit())
    found = list(iter_recordings(tmp_path))
    assert [path.relative_to(tmp_path).as_posix() for path, _ in found] == [
        "2024/run.fit",
        "a_noise.fit",
        "b_run.csv",
        "c_empty.GPX",
    ]
    kinds = [type(result) for _, result in found]
    assert kinds == [Recording, SourceFileError, Recording, SourceFileError]
    assert "bad header" in str(found[1][1]) and "is empty" in str(found[3][1])
    with pytest.raises(SourceFileError, match="is not a folder"):
        list(iter_recordings(tmp_path / "nowhere"))


# --- the real recordings in ../shared/data/workouts --------------------------------------------


def _manifest() -> list[dict[str, str]]:
    path = WORKOUTS / "MANIFEST.tsv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


MANIFEST = _manifest()


@cache
def real(name: str) -> Recording:
    return read_recording(WORKOUTS / name)


def close_to(found: int, expected: int) -> bool:
    """Counts of points after same-second records are merged: within 1% or 10 points."""
    return abs(found - expected) <= max(10, 0.01 * expected)


@pytest.mark.shared_data
@needs_workouts
@pytest.mark.parametrize(
    "row",
    [pytest.param(row, id=row["file"]) for row in MANIFEST]
    or [pytest.param(None, id="no-workouts")],
)
def test_real_fit_files_match_the_manifest(row):
    recording = real(row["file"])
    assert close_to(recording.points_with_hr, int(row["samples_with_hr"]))
    # The manifest counts non-zero cadence and speed.
    assert close_to(
        sum(1 for p in recording.points if p.cadence_spm), int(row["samples_with_cadence"])
    )
    assert close_to(sum(1 for p in recording.points if p.speed_mps), int(row["samples_with_speed"]))
    assert recording.device == row["device"].rstrip(":")
    if recording.sport != "multisport":
        assert recording.sport == row["sport"]
    times = [p.t for p in recording.points]
    assert times[0] == 0.0 and all(a < b for a, b in pairwise(times))
    hr = [p.hr_bpm for p in recording.points if p.hr_bpm is not None]
    assert 30 <= min(hr) and max(hr) <= 230


@pytest.mark.shared_data
@needs_workouts
def test_real_truncated_file_and_swim():
    nick = real("nick.fit")
    assert any(w.startswith("truncated after record") for w in nick.warnings)
    swim = real("garmin-fr935-cr.fit")
    assert swim.sport == "swimming" and swim.points_with_hr > 5000


@pytest.mark.shared_data
@needs_workouts
def test_truncated_copy_of_a_real_file_reads_the_first_part(tmp_path):
    data = (WORKOUTS / "activity-small-fenix2-run.fit").read_bytes()
    whole = real("activity-small-fenix2-run.fit")
    cut = read_recording(write(tmp_path, "cut.fit", data[: len(data) // 2]))
    assert 0.3 * whole.points_with_hr < cut.points_with_hr < 0.7 * whole.points_with_hr
    assert cut.warnings[0].startswith("truncated after record")
    same = [(p.t, p.hr_bpm, p.speed_mps, p.distance_m) for p in cut.points[:-1]]
    assert same == [
        (p.t, p.hr_bpm, p.speed_mps, p.distance_m) for p in whole.points[: len(cut.points) - 1]
    ]
    # This watch writes its sport in the session at the very end, so the first half cannot say
    # the workout was a run: its cadence stays per leg, and the recording says so.
    assert whole.sport == "running" and cut.sport is None
    assert any("names no sport" in w for w in cut.warnings)
    assert cut.points[1].cadence_spm == whole.points[1].cadence_spm / 2


def test_fit_followed_by_junk_keeps_the_records(tmp_path):
    recording = read_recording(write(tmp_path, "run.fit", running_fit() + b"\x0e" + b"junk" * 8))
    assert recording.points_with_hr == 3
    assert recording.warnings[0].startswith("ignored what follows record 5")
