"""Reports, history, export and import, on a real store filled with a simulated session.

The session runs the simulator through the real coach (cues and their words stored as the
daemon stores them) with forecasts whose expected heart rate is the simulator's own target, so
the report has every part to show: zone bands, expected against actual, cues, gaps.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import html
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fitdecode
import pytest

from edge.coach.coach import Coach
from edge.coach.summary import summarise
from edge.commands import export_session as export_session_command
from edge.commands import history as history_command
from edge.commands import import_recordings as import_command
from edge.commands import report as report_command
from edge.core.forecast import Forecast
from edge.core.narration import Narration
from edge.core.zones import ZoneModel
from edge.profile import Profile
from edge.reports import ReportError
from edge.reports.exchange import (
    CSV_COLUMNS,
    align_points,
    export_csv,
    export_fit,
    hold_for,
    import_recordings,
)
from edge.reports.history import format_history, history
from edge.reports.metrics import gaps_of, load_session, time_in_zones, trimp
from edge.reports.report import HR_COLOUR, write_report
from edge.settings import Person, Settings
from edge.sources.recordings import RecordPoint, read_recording
from edge.sources.simulator import to_aligned
from edge.store import SessionStore
from firmware_bridge.simulator import DEMO_ATHLETE, Segment, WorkoutPlan, simulate, target_hr

PROFILE = Profile(name="ana", age=35, resting_hr=58.0, max_hr=187.0)
STARTED = datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
PLAN = WorkoutPlan(
    "test intervals",
    (
        Segment("warm-up", 90, "walk", 0.4),
        Segment("steady", 120, "run", 0.7),
        Segment("hard", 120, "run", 1.05),
        Segment("cool-down", 150, "walk", 0.3),
    ),
)
#: The strap slips off for these seconds: a gap longer than anything the aligner would hold.
LOST = range(250, 262)
#: Two small recordings from the shared data, and a third cut short inside its first message.
REAL_FITS = ("2013-02-06-12-11-14.fit", "compressed-speed-distance.fit")


@dataclasses.dataclass
class Filled:
    store: SessionStore
    session_id: int
    samples: list
    cues: list
    narrations: list


def _fill(path: Path) -> Filled:
    store = SessionStore.open(path)
    seconds = simulate(PLAN, DEMO_ATHLETE, seed=3, dropout_rate=0.01)
    samples = to_aligned(seconds)
    for t in LOST:
        samples[t] = dataclasses.replace(
            samples[t], hr_bpm=None, rr_intervals_s=(), contact=False, hr_gap=True
        )
    session_id = store.start_session("ana", "simulator", PROFILE, STARTED)
    coach = Coach(PROFILE)
    hr_at = {s.t: s.hr_bpm for s in samples}
    forecasts, cues, narrations = {}, [], []
    for second, sample in zip(seconds, samples, strict=True):
        forecast = None
        if sample.t >= 20 and sample.hr_bpm is not None:
            later = hr_at.get(sample.t + 30) or sample.hr_bpm
            forecast = Forecast(
                hr_10s=sample.hr_bpm,
                hr_30s=later + 2.0,
                hr_60s=later,
                hr_expected=target_hr(DEMO_ATHLETE, second.intensity),
            )
            forecasts[sample.t] = forecast
        store.add_sample(
            session_id, sample, None if forecast is None else dataclasses.asdict(forecast)
        )
        for cue in coach.update(sample, forecast):
            store.add_cue(session_id, cue)
            narration = Narration(
                cue.id, cue.template_text, "llm" if cue.id % 2 else "template", "", 0.4, 1
            )
            store.add_narration(session_id, narration)
            cues.append(cue)
            narrations.append(narration)
    summary = summarise(
        samples, forecasts, cues, narrations, ZoneModel.for_profile(PROFILE), gaps_of(samples)
    )
    store.end_session(session_id, STARTED + timedelta(seconds=len(samples)), summary.as_dict())
    store.add_feedback(session_id, 7, "legs heavy on the last rep")
    return Filled(store, session_id, samples, cues, narrations)


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    filled = _fill(tmp_path_factory.mktemp("store") / "edgecoach.db")
    yield filled
    filled.store.close()


@pytest.fixture(scope="module")
def page(filled, tmp_path_factory) -> str:
    out = write_report(
        filled.store, filled.session_id, tmp_path_factory.mktemp("report") / "report.html"
    )
    return out.read_text(encoding="utf-8")


def _section(page: str, section_id: str) -> str:
    start = page.index(f'<section id="{section_id}">')
    return page[start : page.index("</section>", start)]


# -- the figures -------------------------------------------------------------------------------


def test_trimp_is_banisters_formula_over_seconds_with_heart_rate():
    zones = ZoneModel(resting_hr=60.0, max_hr=180.0)
    hour_at_half = [_sample(t, 120.0) for t in range(3600)]  # x = 0.5 for 60 min
    expected = 60 * 0.5 * 0.64 * 2.718281828459045 ** (1.92 * 0.5)
    assert trimp(hour_at_half, zones) == pytest.approx(expected)
    with_gaps = hour_at_half + [_sample(t, None) for t in range(3600, 4200)]
    assert trimp(with_gaps, zones) == pytest.approx(expected)  # gaps add nothing
    assert trimp([_sample(0, 40.0), _sample(1, 250.0)], zones) == pytest.approx(
        0.64 * 2.718281828459045**1.92 / 60
    )  # x clamped to 0..1


def test_gaps_are_the_runs_without_heart_rate():
    samples = [_sample(t, None if t in (0, 5, 6, 7, 9) else 100.0) for t in range(10)]
    assert [(g.start_t, g.end_t) for g in gaps_of(samples)] == [(0, 1), (5, 8), (9, 10)]
    assert sum(time_in_zones(samples, ZoneModel(60.0, 180.0)).values()) == 5


# -- the report --------------------------------------------------------------------------------


def test_the_report_has_a_plot_for_heart_rate_cadence_and_zones(page):
    for plot in ("plot-heart-rate", "plot-cadence", "plot-zones"):
        start = page.index(f'<figure id="{plot}">')
        figure = page[start : page.index("</figure>", start)]
        assert figure.count("<svg ") == 2  # wide and narrow: the page picks one by its width
    assert '<meta name="viewport" content="width=device-width' in page


def test_the_zone_table_adds_up_to_the_session(page, filled):
    table = _section(page, "zones")
    rows = [int(s) for s in re.findall(r'<tr data-seconds="(\d+)"', table)]
    assert len(rows) == 7  # zones 5..0 and "no heart rate"
    assert sum(rows) == len(filled.samples)
    assert int(re.search(r'data-total="(\d+)"', table).group(1)) == len(filled.samples)
    gap_row = re.search(r'<tr data-seconds="(\d+)"><td><span[^>]*></span>no heart rate', table)
    assert int(gap_row.group(1)) == sum(1 for s in filled.samples if s.hr_bpm is None)


def test_the_report_lists_every_cue_with_its_words_time_and_facts(page, filled):
    cues = _section(page, "cues")
    assert filled.cues, "the simulated session should have made the coach speak"
    for cue, narration in zip(filled.cues, filled.narrations, strict=True):
        item = cues[cues.index(f'<li id="cue-{cue.id}">') :]
        item = item[: item.index("</li>")]
        assert html.escape(narration.text) in item
        assert f"{cue.t // 60}:{cue.t % 60:02d}" in item
        if "hr" in cue.facts:
            assert f"heart rate {cue.facts['hr']} bpm" in item


def test_the_report_shows_the_templated_summary_lines_without_a_model_paragraph(page, filled):
    data = load_session(filled.store, filled.session_id)
    for line in data.summary.lines():
        assert html.escape(line) in page
    assert "TRIMP" in page and "0.64" in page and "1.92" in page
    assert "7<small> /10</small>" in page  # the RPE given


def test_the_report_fetches_nothing(page):
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert "url(" not in page.replace("url(#", "")  # only references inside the page


def test_a_gap_breaks_the_heart_rate_line(page, filled):
    figure = page[page.index('<figure id="plot-heart-rate">') :]
    wide = figure[: figure.index("</svg>")]
    lines = [
        d
        for d, style in re.findall(r'<path d="([^"]+)"[^>]*style="([^"]*)"', wide)
        if f"stroke: {HR_COLOUR}" in style and "fill: none" in style
    ]
    assert len(lines) == 2  # the line, then its sample in the legend
    runs = sum(
        1
        for i, s in enumerate(filled.samples)
        if s.hr_bpm is not None and (i == 0 or filled.samples[i - 1].hr_bpm is None)
    )
    assert lines[0].count("M ") == runs  # one stroke per stretch with heart rate


def test_a_model_paragraph_replaces_the_summary_lines(filled, tmp_path):
    paragraph = "A strong session: <steady> work, then a hard finish & a calm cool-down."
    out = write_report(filled.store, filled.session_id, tmp_path / "r.html", llm_summary=paragraph)
    page = out.read_text(encoding="utf-8")
    assert html.escape(paragraph) in page
    assert "Cues: " not in _section(page, "heart-rate").split("Summary")[0]
    assert not (tmp_path / ".r.html.partial").exists()
    assert out.stat().st_mode & 0o777 == 0o600  # health data: the owner's only


def test_an_unknown_session_is_a_report_error(filled, tmp_path):
    with pytest.raises(ReportError, match="no session 99.*edgecoach history"):
        write_report(filled.store, 99, tmp_path / "r.html")


def test_a_session_without_samples_still_has_a_report_but_no_export(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        session_id = store.start_session("ana", "ble", PROFILE, STARTED)
        store.end_session(session_id, STARTED, {"ended_by": "recovery after an unclean stop"})
        page = write_report(store, session_id, tmp_path / "r.html").read_text(encoding="utf-8")
        assert "nothing to plot" in page and "<svg" not in page
        with pytest.raises(ReportError, match="no samples"):
            export_fit(store, session_id, tmp_path / "s.fit")
        assert history(store)[0]["duration_s"] == 0


# -- export ------------------------------------------------------------------------------------


def test_the_fit_export_reads_back_with_the_same_heart_rate(filled, tmp_path):
    out = export_fit(filled.store, filled.session_id, tmp_path / "s.fit")
    assert out.stat().st_mode & 0o777 == 0o600
    records, names = [], set()
    with fitdecode.FitReader(out, check_crc=fitdecode.CrcCheck.RAISE) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage):
                names.add(frame.name)
                if frame.name == "record":
                    records.append(frame)
    assert {"file_id", "record", "hrv", "lap", "session", "activity"} <= names
    assert [r.get_value("timestamp") for r in records] == [
        STARTED + timedelta(seconds=s.t) for s in filled.samples
    ]
    assert [r.get_value("heart_rate", fallback=None) for r in records] == [
        None if s.hr_bpm is None else round(s.hr_bpm) for s in filled.samples
    ]

    recording = read_recording(out)
    assert recording.sport == "running"
    assert [p.hr_bpm for p in recording.points] == [s.hr_bpm for s in filled.samples]
    for point, sample in zip(recording.points, filled.samples, strict=True):
        assert point.t == sample.t
        assert point.cadence_spm == pytest.approx(sample.cadence_spm, abs=0.01)
        assert point.speed_mps == pytest.approx(sample.speed_mps, abs=0.001)
        assert point.distance_m == pytest.approx(sample.distance_m, abs=0.01)
        assert point.rr_intervals_s == pytest.approx(sample.rr_intervals_s, abs=0.001)


def test_the_csv_export_round_trips(filled, tmp_path):
    out = export_csv(filled.store, filled.session_id, tmp_path / "s.csv")
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(filled.samples)
    assert datetime.fromisoformat(rows[1]["timestamp"]) == STARTED + timedelta(seconds=1)
    assert [r["gap"] for r in rows] == ["1" if s.hr_gap else "0" for s in filled.samples]

    # As a recording: what replay and `edgecoach eval` would read.
    recording = read_recording(out)
    assert [p.hr_bpm for p in recording.points] == [s.hr_bpm for s in filled.samples]
    assert [p.rr_intervals_s for p in recording.points] == [
        s.rr_intervals_s for s in filled.samples
    ]

    # Imported: the same seconds, every field, as a new session.
    with SessionStore.open(tmp_path / "other.db") as other:
        (result,) = import_recordings(other, [out], "ana", PROFILE)
        assert result.imported, result.reason
        assert other.samples(result.session_id) == filled.samples
        (row,) = other.sessions("ana")
        assert row.started_at == STARTED and row.source == "import:s.csv"


def test_importing_the_same_file_twice_is_skipped_as_a_duplicate(filled, tmp_path):
    out = export_csv(filled.store, filled.session_id, tmp_path / "s.csv")
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(out.read_bytes())
    with SessionStore.open(tmp_path / "other.db") as other:
        first, again, renamed = import_recordings(other, [out, out, copy], "ana", PROFILE)
        assert first.imported
        assert again.status == renamed.status == "duplicate"
        assert f"already imported as session {first.session_id}" in renamed.reason
        assert len(other.sessions()) == 1
        (later,) = import_recordings(other, [out], "ben", PROFILE)  # another run, too
        assert later.duplicate and "of ana" in later.reason


# -- import ------------------------------------------------------------------------------------


def test_alignment_holds_a_few_seconds_and_never_fills_a_longer_gap():
    points = [RecordPoint(t, 120.0, 160.0, 3.0, 3.0 * t) for t in range(10)]
    points += [RecordPoint(t, 130.0, 160.0, 3.0, 3.0 * t) for t in range(30, 40)]
    samples = align_points(points, foot=True)
    assert [s.t for s in samples] == list(range(40))
    held = [s.t for s in samples if s.hr_bpm == 120.0]
    assert held == list(range(12))  # the last reading, carried 2 s more (3 s in all)
    assert all(s.hr_bpm is None and s.hr_gap for s in samples[12:30])
    assert samples[-1].steps == pytest.approx(160.0 / 60 * (9 + 3 + 9), abs=0.2)


def test_a_point_without_heart_rate_ends_the_hold_and_smart_recording_is_not_a_gap():
    points = [
        RecordPoint(0.0, 120.0, None, None, None),
        RecordPoint(1.0, None, None, 2.0, 5.0),
        RecordPoint(2.0, 121.0, None, None, None),
    ]
    assert [s.hr_bpm for s in align_points(points, foot=False)] == [120.0, None, 121.0]
    every_5s = [RecordPoint(float(t), 120.0, None, None, None) for t in range(0, 60, 5)]
    assert hold_for(every_5s) == 5.0
    assert all(s.hr_bpm == 120.0 for s in align_points(every_5s, foot=False))


def test_a_tcx_file_starts_at_its_first_trackpoint(tmp_path):
    points = "".join(
        f"<Trackpoint><Time>2023-09-10T06:0{t // 60}:{t % 60:02d}Z</Time>"
        f"<HeartRateBpm><Value>{100 + t}</Value></HeartRateBpm></Trackpoint>"
        for t in range(5, 20)
    )
    path = tmp_path / "walk.tcx"
    path.write_text(
        '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/'
        'TrainingCenterDatabase/v2"><Activities><Activity Sport="Running"><Lap>'
        f"<Track>{points}</Track></Lap></Activity></Activities>"
        "</TrainingCenterDatabase>",
        encoding="utf-8",
    )
    with SessionStore.open(tmp_path / "s.db") as store:
        (result,) = import_recordings(store, [path], "ana", PROFILE)
        assert result.imported, result.reason
        (row,) = store.sessions()
        assert row.started_at == datetime(2023, 9, 10, 6, 0, 5, tzinfo=UTC)
        assert row.ended and row.summary["duration_s"] == 15
        assert [s.hr_bpm for s in store.samples(row.id)] == [100.0 + t for t in range(5, 20)]


@pytest.mark.shared_data
def test_real_fit_files_are_imported_and_a_corrupt_one_skipped(shared_workouts, tmp_path):
    paths = [shared_workouts / name for name in REAL_FITS]
    corrupt = tmp_path / "cut-short.fit"
    corrupt.write_bytes(paths[0].read_bytes()[:200])
    with SessionStore.open(tmp_path / "s.db") as store:
        results = import_recordings(store, [paths[0], corrupt, paths[1]], "ana", PROFILE)
        assert [r.status for r in results] == ["imported", "skipped", "imported"]
        assert "cut-short.fit" in results[1].reason and "damaged" in results[1].reason

        for path, result in zip(paths, (results[0], results[2]), strict=True):
            row = next(r for r in store.sessions() if r.id == result.session_id)
            assert row.source == f"import:{path.name}" and row.ended
            assert row.started_at == _first_record_time(path)
            assert row.started_at.tzinfo is not None
            assert row.summary["import"]["sha256"] == result.sha256
            recording = read_recording(path)
            samples = store.samples(row.id)
            assert len(samples) == int(recording.duration_s) + 1
            assert row.summary["duration_s"] == len(samples)
            assert row.summary["mean_hr"] is not None
            # Every heart rate stored is one the file holds, at most a few seconds earlier.
            readings = [(p.t, p.hr_bpm) for p in recording.points if p.hr_bpm is not None]
            for sample in samples[::7]:
                if sample.hr_bpm is not None:
                    assert any(
                        sample.t - 8 < t <= sample.t + 1 and hr == sample.hr_bpm
                        for t, hr in readings
                    )

        # compressed-speed-distance.fit pauses for 115 s: that stays a gap.
        long_gaps = [g for g in gaps_of(store.samples(results[2].session_id)) if g.seconds > 60]
        assert len(long_gaps) == 1

        again = import_recordings(store, [*paths, corrupt], "ana", PROFILE)
        assert [r.status for r in again] == ["duplicate", "duplicate", "skipped"]
        listed = history(store, "ana")
        assert [row["source"] for row in listed] == [f"import:{p.name}" for p in paths]
        assert all(row["trimp"] > 0 and row["avg_hr"] for row in listed)


def _first_record_time(path: Path) -> datetime:
    with fitdecode.FitReader(path) as reader:
        frames = [f for f in reader if isinstance(f, fitdecode.FitDataMessage)]
    first = min(f.get_value("timestamp") for f in frames if f.name == "record")
    if isinstance(first, datetime):
        return first
    # The FR70 counts from power-on; its activity message holds the local time of its end.
    (activity,) = (f for f in frames if f.name == "activity")
    local = activity.get_value("local_timestamp").replace(tzinfo=None)
    return (local - timedelta(seconds=activity.get_value("timestamp") - first)).astimezone(UTC)


# -- history -----------------------------------------------------------------------------------


def test_history_lists_each_session_with_its_figures(filled):
    (row,) = history(filled.store, "ana")
    data = load_session(filled.store, filled.session_id)
    assert row["id"] == filled.session_id and row["rpe"] == 7
    assert row["duration_s"] == len(filled.samples)
    assert row["cues"] == len(filled.cues)
    assert row["zones_4_5_s"] == data.time_in_zone_s[4] + data.time_in_zone_s[5] > 0
    assert row["trimp"] == round(data.trimp, 1) > 0
    assert row["max_hr"] == max(s.hr_bpm for s in filled.samples if s.hr_bpm is not None)
    json.dumps(row)  # JSON-ready
    table = format_history([row]).splitlines()
    assert table[0].split() == [
        "id",
        "date",
        "person",
        "duration",
        "avg/max",
        "HR",
        "z4-5",
        "TRIMP",
        "EF",
        "Pa:HR",
        "cues",
        "RPE",
        "source",
    ]
    assert "8:00" in table[1] and f"{row['avg_hr']:.0f}/{row['max_hr']:.0f}" in table[1]
    assert history(filled.store, "nobody") == []
    assert format_history([]) == "no sessions yet"


# -- the commands ------------------------------------------------------------------------------


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edgecoach")
    commands = parser.add_subparsers(dest="command")
    for command in STORE_COMMANDS.values():
        command.configure(commands.add_parser(command.NAME, help=command.HELP))
    return parser.parse_args(argv)


#: The commands of reports, run on a store the test holds open.
STORE_COMMANDS = {
    c.NAME: c for c in (report_command, history_command, export_session_command, import_command)
}


def _run(store: SessionStore, settings: Settings, *argv: str) -> int:
    args = _parse(*argv)
    return STORE_COMMANDS[args.command].run_with_store(args, settings, store)


def test_the_commands_report_list_export_and_import(filled, tmp_path, capsys):
    settings = Settings(people=(Person(PROFILE),))
    html_out = tmp_path / "last.html"
    assert _run(filled.store, settings, "report", "last", "--out", str(html_out), "--no-llm") == 0
    assert html_out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert _run(filled.store, settings, "history", "--json") == 0
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("[") :])[0]["rpe"] == 7

    csv_out = tmp_path / "s.csv"
    assert (
        _run(
            filled.store,
            settings,
            "export-session",
            str(filled.session_id),
            "--format",
            "csv",
            "--out",
            str(csv_out),
        )
        == 0
    )
    assert capsys.readouterr().out == f"{csv_out}\n"
    bad = tmp_path / "bad.gpx"
    bad.write_text("<gpx><trk>", encoding="utf-8")
    with SessionStore.open(tmp_path / "other.db") as other:
        assert _run(other, settings, "import", str(csv_out), "--person", "ana") == 0
        assert _run(other, settings, "import", str(csv_out), str(bad), "--person", "ana") == 1
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith(f"imported {csv_out} as session 1 (8 min 00 s)")
        assert out[1].startswith(f"skipped {csv_out}: already imported")
        assert out[2].startswith(f"skipped {bad}: ") and "GPX" in out[2]
    with pytest.raises(SystemExit):
        _parse("export-session", "1", "--format", "tcx")


def _sample(t: int, hr: float | None):
    from edge.stream.readings import AlignedSample

    return AlignedSample(
        t=t,
        hr_bpm=hr,
        rr_intervals_s=(),
        cadence_spm=None,
        speed_mps=None,
        distance_m=None,
        steps=None,
        contact=None,
        hr_gap=hr is None,
    )


# -- the summary's words ------------------------------------------------------------------------


def test_report_no_llm_writes_the_template_summary_and_says_so(filled, tmp_path, capsys):
    from edge.narrator.advice import summary_advice, summary_facts

    out = tmp_path / "r.html"
    settings = Settings(people=(Person(PROFILE),))
    assert (
        _run(
            filled.store,
            settings,
            "report",
            str(filled.session_id),
            "--out",
            str(out),
            "--no-llm",
            "--json",
        )
        == 0
    )
    answer = json.loads(capsys.readouterr().out)
    template = summary_advice(
        summary_facts(load_session(filled.store, filled.session_id).summary.as_dict())
    ).template
    assert answer == {
        "path": str(out),
        "session": filled.session_id,
        "summary": {"text": template, "source": "template", "reason": "asked for with --no-llm"},
    }
    page = out.read_text(encoding="utf-8")
    summary = page[
        page.index("<h2>Summary</h2>") : page.index("</section>", page.index("<h2>Summary</h2>"))
    ]
    assert html.escape(template) in summary and 'data-source="template"' in summary
    assert "not by the language model (asked for with --no-llm)" in html.unescape(summary)


def test_a_disabled_model_is_a_template_summary_too(filled, tmp_path, capsys):
    settings = Settings(llm=dataclasses.replace(Settings().llm, enabled=False))
    assert (
        _run(filled.store, settings, "report", "last", "--out", str(tmp_path / "r.html"), "--json")
        == 0
    )
    assert json.loads(capsys.readouterr().out)["summary"]["reason"] == "language model turned off"


def test_the_language_model_words_the_summary_through_the_narrator(filled, tmp_path, capsys):
    """The real SmolLM2 GGUF through the narrator (the guard checks every number it writes);
    on a loaded machine it may be too slow or refused, and then the page says so."""
    from edge.narrator.llm import packaged_gguf_path

    try:
        packaged_gguf_path()
    except Exception as exc:  # noqa: BLE001 - no model installed: nothing to test here
        pytest.skip(f"no language model: {exc}")
    out = tmp_path / "r.html"
    assert _run(filled.store, Settings(), "report", "last", "--out", str(out), "--json") == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    page = html.unescape(out.read_text(encoding="utf-8"))
    assert summary["text"].strip() and summary["text"].strip() in page
    if summary["source"] == "llm":
        assert "Written by the on-device language model" in page
    else:
        assert summary["source"] == "template" and summary["reason"]
        assert f"not by the language model ({summary['reason']})" in page
