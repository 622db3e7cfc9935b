"""The post-session report: one self-contained HTML file with its plots inline.

The page holds everything it shows: CSS in a <style> element, each plot as inline SVG made by
matplotlib (its object API, no pyplot and no GUI backend, so it is safe in any thread), no
script, no font, image or style sheet fetched from anywhere. It opens from a USB stick or an
e-mail attachment on a phone as well as on a desktop.

What it shows:

* heart rate over time on the person's Karvonen zone bands (from the profile stored with the
  session), the health model's expected heart rate for the effort (`hr_expected` of the stored
  forecasts) against it, and the cues as numbered marks;
* cadence over time;
* time in each zone as a bar chart and a table that adds up to the session's duration (seconds
  without heart rate are their own row);
* Banister's TRIMP, with the formula it was computed with (`edge.reports.metrics`);
* every cue: its time, the words spoken and the measurements it rests on;
* the summary paragraph (`SummaryWords`: the language model's words through the narrator, or
  the coach's template when there is no model or the guard refused its words), saying which
  one wrote it; without one, the summary lines that `SessionSummary.lines()` prints at the end
  of a session.

Gaps are gaps: a stretch without heart rate (or cadence) breaks the line and is shaded; nothing
is drawn across it.
"""

from __future__ import annotations

import html
import io
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.core.zones import ZONE_NAMES, ZoneModel
from edge.narrator.advice import summary_advice, summary_facts
from edge.reports.exchange import write_private
from edge.reports.fitness import ef_unit, session_markers
from edge.reports.metrics import (
    BANISTER_A,
    BANISTER_B,
    ReportError,
    SessionData,
    load_session,
)
from edge.store import SessionStore

if TYPE_CHECKING:
    from edge.narrator.narrator import Narrator

__all__ = ["SummaryWords", "render_report", "summary_words", "write_report"]

log = logging.getLogger(__name__)

#: Colours of zones 0..5 (light grey, then blue to red) and of seconds without heart rate.
ZONE_COLOURS = ("#b8c0c8", "#7fa7d9", "#4c9bd6", "#59b36b", "#f0a030", "#e0483c")
GAP_COLOUR = "#8a8a8a"
HR_COLOUR = "#c0262d"
POWER_COLOUR = "#6a3d9a"
EXPECTED_COLOUR = "#243447"
CADENCE_COLOUR = "#2f6db3"

#: Each plot is drawn twice, as one SVG scaled to the page's width cannot be readable on a
#: desktop and on a phone: wide for screens over 600 CSS px, narrow (about a phone's width at
#: 96 dpi, so its text keeps its size) below that; CSS shows one.
WIDE_IN = 8.0
NARROW_IN = 3.9
_RC = {
    "svg.fonttype": "path",  # text as shapes: the page needs no font
    "svg.hashsalt": "edgecoach",  # stable ids: the same session gives the same plots
    "font.size": 10.5,
    "axes.titlesize": 11,
    "axes.labelsize": 10.5,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_MAX_NUMBERED_CUES = 40

_FACT_LABELS = {
    "hr": ("heart rate", "bpm"),
    "forecast_hr": ("forecast", "bpm"),
    "horizon_s": ("in", "s"),
    "zone": ("zone", ""),
    "previous_zone": ("from zone", ""),
    "zone_low": ("zone from", "bpm"),
    "zone_high": ("zone to", "bpm"),
    "zone5_lower": ("zone 5 from", "bpm"),
    "max_hr": ("maximum", "bpm"),
    "held_s": ("held", "s"),
    "gap_s": ("no signal for", "s"),
}


@dataclass(frozen=True, slots=True)
class SummaryWords:
    """The report's summary paragraph and who wrote it."""

    text: str
    #: "llm" (the on-device language model) or "template" (the coach's own words).
    source: str
    #: Why the template was used, when it was ("language model turned off", "timed out", ...).
    reason: str = ""

    def note(self) -> str:
        """One line for the page saying where the words came from."""
        if self.source == "llm":
            return (
                "Written by the on-device language model from the figures below; every "
                "number in it was checked against them."
            )
        why = f" ({self.reason})" if self.reason else ""
        return f"Written from the coach's template, not by the language model{why}."

    def as_dict(self) -> dict[str, str]:
        return {"text": self.text, "source": self.source, "reason": self.reason}


def summary_words(data: SessionData, narrator: Narrator) -> SummaryWords:
    """The session's summary paragraph through `narrator` (blocking: the model runs in this
    thread): `summary_advice(summary_facts(...))`, the language model's words when it is there
    and the guard passes them, the template otherwise."""
    advice = summary_advice(summary_facts(data.summary.as_dict()))
    narration = narrator.narrate_sync(advice)
    return SummaryWords(narration.text, narration.source, narration.reason)


def write_report(
    store: SessionStore,
    session_id: int,
    out_path: Path,
    *,
    llm_summary: str | None = None,
    words: SummaryWords | None = None,
    narrator: Narrator | None = None,
) -> Path:
    """Write the HTML report of session `session_id` to `out_path` and return that path.

    The summary paragraph: `words` when given, else `narrator`'s words for the session
    (`summary_words`), else `llm_summary` (a paragraph from the language model); with none of
    them the page shows the templated summary lines. The file is written next to `out_path` first and then renamed,
    so a reader never sees half a report; like the store, it is readable by its owner only.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ReportError(
            "the report's plots need matplotlib: pip install 'matplotlib>=3.7'"
        ) from exc
    data = load_session(store, session_id)
    if words is None and narrator is not None:
        words = summary_words(data, narrator)
    if words is None and llm_summary and llm_summary.strip():
        words = SummaryWords(llm_summary, "llm")
    page = render_report(data, words=words)
    out_path = Path(out_path)
    write_private(out_path, page.encode("utf-8"))
    log.debug("report of session %d written", session_id)
    return out_path


def render_report(
    data: SessionData, *, llm_summary: str | None = None, words: SummaryWords | None = None
) -> str:
    """The report page of one session, as a string of HTML."""
    if words is None and llm_summary and llm_summary.strip():
        words = SummaryWords(llm_summary, "llm")
    row, summary = data.row, data.summary
    esc = html.escape
    started = row.started_at.astimezone() if row.started_at.tzinfo else row.started_at
    title = f"Session {row.id} · {row.person} · {started:%Y-%m-%d %H:%M}"
    with_hr = summary.seconds_with_hr
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<header><h1>{esc(row.person)} · {started:%A %d %B %Y, %H:%M}</h1>",
        f'<p class="sub">Session {row.id} · {esc(_source_label(row.source))}'
        f"{'' if row.ended else ' · never ended (the recording stopped early)'}</p></header>",
        _cards(data),
        "<section><h2>Summary</h2>",
        (
            f'<p class="{"llm" if words.source == "llm" else "template"}" '
            f'data-source="{esc(words.source)}">{esc(words.text.strip())}</p>'
            f'<p class="note summary-source">{esc(words.note())}</p>'
            if words is not None and words.text.strip()
            else '<ul class="lines">'
            + "".join(f"<li>{esc(line)}</li>" for line in summary.lines())
            + "</ul>"
        ),
        "</section>",
    ]
    if not data.samples:
        parts.append(
            '<section><p class="note">This session has no samples: nothing was '
            "recorded, so there is nothing to plot.</p></section>"
        )
    else:
        parts += [
            '<section id="heart-rate"><h2>Heart rate</h2>',
            _figure(data, _plot_heart_rate, "Heart rate over time on the zone bands"),
            f'<p class="note">{_zone_basis(data)} '
            + (
                "The dashed line is the health model's expected heart rate for the effort. "
                if data.forecasts
                else ""
            )
            + (
                "Grey stretches had no heart-rate signal; nothing is drawn across them. "
                if data.gap_s
                else ""
            )
            + ("Numbered marks are the cues listed below." if data.cues else "")
            + "</p></section>",
            '<section id="cadence"><h2>Cadence</h2>',
            (
                _figure(data, _plot_cadence, "Cadence over time")
                if any(s.cadence_spm is not None for s in data.samples)
                else '<p class="note">No cadence was recorded.</p>'
            ),
            "</section>",
            *_power_section(data),
            *_fitness_section(data),
            '<section id="zones"><h2>Time in zones</h2>',
            _figure(data, _plot_zones, "Time in each heart-rate zone"),
            _zone_table(data),
            "</section>",
        ]
    parts += [
        '<section id="load"><h2>Training load</h2>',
        f'<p class="big">TRIMP {data.trimp:.0f}</p>',
        '<p class="note">Banister\'s training impulse, from the '
        f"{with_hr // 60} min {with_hr % 60:02d} s with heart rate: each minute counts "
        f"x &times; {BANISTER_A} &times; e<sup>{BANISTER_B}&thinsp;x</sup>, where x = (heart "
        "rate &minus; resting) / (maximum &minus; resting), between 0 and 1, so hard minutes "
        f"count for more. {BANISTER_A} and {BANISTER_B} are Banister's coefficients for men "
        "(0.86 and 1.67 for women); the profile does not record sex, so they are used for "
        "everyone. Seconds without heart rate add nothing.</p></section>",
        _cue_list(data),
        f"<footer>Made by edgecoach on this device at {datetime.now().astimezone():%Y-%m-%d %H:%M}."
        " This page fetches nothing: everything it shows is in the file.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


# -- the page's parts ------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; --ink: #1d232a; --muted: #5b6672; --line: #e3e7eb; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f6f8; color: var(--ink);
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 860px; margin: 0 auto; padding: 12px; }
header h1 { font-size: 1.35rem; margin: 8px 0 2px; }
.sub, .note, footer { color: var(--muted); font-size: 0.9rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 14px; margin: 12px 0; }
h2 { font-size: 1.1rem; margin: 0 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(118px, 1fr)); gap: 8px;
  margin: 12px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 8px 10px; }
.card b { display: block; font-size: 1.25rem; }
.card small { font-size: 0.8rem; font-weight: 400; }
.card span { color: var(--muted); font-size: 0.8rem; }
figure { margin: 0; }
figure svg { display: block; width: 100%; height: auto; }
.narrow { display: none; }
@media (max-width: 600px) {
  main { padding: 8px; }
  section { padding: 10px; }
  .wide { display: none; }
  .narrow { display: block; }
}
.lines { margin: 0; padding-left: 1.1rem; }
.llm, .template { font-size: 1.02rem; margin: 0 0 4px; }
.big { font-size: 1.5rem; font-weight: 600; margin: 0 0 4px; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; margin-top: 8px; }
th, td { text-align: left; padding: 5px 6px; border-bottom: 1px solid var(--line); }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: 600; border-bottom: none; }
.sw { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px;
  margin-right: 6px; vertical-align: -0.05em; }
ol.cues { list-style: none; margin: 0; padding: 0; }
ol.cues li { border-top: 1px solid var(--line); padding: 8px 0; }
ol.cues li:first-child { border-top: none; }
.cue-head { font-size: 0.9rem; color: var(--muted); }
.cue-head b { color: var(--ink); }
.said { margin: 2px 0; }
.facts { font-size: 0.85rem; color: var(--muted); }
.tag { font-size: 0.75rem; border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; }
footer { margin: 16px 2px 24px; }
"""


def _cards(data: SessionData) -> str:
    summary = data.summary
    cards = [("duration", _clock(summary.duration_s), "")]
    if summary.mean_hr is not None and summary.max_hr is not None:
        cards += [
            ("average heart rate", f"{summary.mean_hr:.0f}", "bpm"),
            ("peak heart rate", f"{summary.max_hr:.0f}", "bpm"),
        ]
    cards.append(("TRIMP", f"{data.trimp:.0f}", ""))
    z45 = data.time_in_zone_s.get(4, 0) + data.time_in_zone_s.get(5, 0)
    cards.append(("in zones 4-5", _clock(z45), ""))
    if summary.distance_m is not None:
        cards.append(("distance", f"{summary.distance_m / 1000:.2f}", "km"))
    cards.append(("cues", str(summary.cues), ""))
    if data.rpe is not None:
        cards.append(("how it felt (RPE)", str(data.rpe), "/10"))
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><b>{html.escape(value)}<small> {html.escape(unit)}</small></b>'
            f"<span>{html.escape(label)}</span></div>"
            for label, value, unit in cards
        )
        + "</div>"
    )


def _zone_basis(data: SessionData) -> str:
    profile = data.row.profile
    how = (
        f"estimated from age {profile.age} (208 &minus; 0.7 &times; age)"
        if profile.max_hr_is_estimated
        else "from the profile"
    )
    return (
        f"Zones are Karvonen bands of the heart-rate reserve, from a resting heart rate of "
        f"{profile.resting_hr:.0f} and a maximum of {profile.effective_max_hr:.0f} bpm "
        f"({how}), as the profile was when the session started."
    )


def _zone_table(data: SessionData) -> str:
    duration = data.summary.duration_s
    rows = []
    for zone in range(5, -1, -1):
        seconds = data.time_in_zone_s.get(zone, 0)
        low, high = data.zones.bounds_bpm(zone) if zone else (0, round(data.zones.lower_bpm(1)))
        bounds = f"{low}-{high}" if zone else f"below {high}"
        rows.append(_zone_row(ZONE_COLOURS[zone], _zone_label(zone), bounds, seconds, duration))
    rows.append(_zone_row(GAP_COLOUR, "no heart rate", "gap", data.gap_s, duration))
    total = sum(data.time_in_zone_s.values()) + data.gap_s
    return (
        '<table class="zones"><thead><tr><th>zone</th><th>bpm</th><th class="n">time</th>'
        '<th class="n">share</th></tr></thead><tbody>' + "".join(rows) + "</tbody>"
        f'<tfoot><tr data-total="{total}"><td>total</td><td></td>'
        f'<td class="n">{_clock(total)}</td><td class="n">{_share(total, duration)}</td>'
        "</tr></tfoot></table>"
    )


def _zone_row(colour: str, name: str, bounds: str, seconds: int, duration: int) -> str:
    return (
        f'<tr data-seconds="{seconds}"><td><span class="sw" style="background:{colour}">'
        f"</span>{html.escape(name)}</td><td>{html.escape(bounds)}</td>"
        f'<td class="n">{_clock(seconds)}</td><td class="n">{_share(seconds, duration)}</td>'
        "</tr>"
    )


def _zone_label(zone: int) -> str:
    return "zone 0, very light" if zone == 0 else ZONE_NAMES[zone]


def _cue_list(data: SessionData) -> str:
    if not data.cues:
        return (
            '<section id="cues"><h2>Cues</h2><p class="note">The coach gave no cues.</p></section>'
        )
    items = []
    for cue in data.cues:
        text = cue.get("text")
        said = (
            f'<p class="said">&ldquo;{html.escape(text)}&rdquo; '
            f'<span class="tag">{html.escape(_words_by(cue))}</span></p>'
            if text
            else '<p class="said note">(not spoken: no words were recorded)</p>'
        )
        items.append(
            f'<li id="cue-{cue["id"]}"><div class="cue-head">#{cue["id"]} at '
            f"<b>{_clock(int(cue['t']))}</b> · {html.escape(_kind_label(cue))}</div>{said}"
            f'<div class="facts">{html.escape(_facts(cue.get("facts") or {}))}</div></li>'
        )
    return (
        '<section id="cues"><h2>Cues</h2><p class="note">What the coach said, when, and '
        'the measurements each cue rests on.</p><ol class="cues">'
        + "".join(items)
        + "</ol></section>"
    )


def _kind_label(cue: Mapping[str, Any]) -> str:
    kind = str(cue.get("kind", "")).replace("_", " ")
    action = str(cue.get("action", "")).replace("_", " ")
    return f"{kind} → {action}" if action and action != "info" else kind


def _words_by(cue: Mapping[str, Any]) -> str:
    return "language model" if cue.get("source") == "llm" else "template"


def _facts(facts: Mapping[str, Any]) -> str:
    out = []
    facts = dict(facts)
    bounds = None
    if "zone_low" in facts and "zone_high" in facts:  # one range, not two facts
        bounds = f"zone range {facts.pop('zone_low')}-{facts.pop('zone_high')} bpm"
    for key, value in facts.items():
        label, unit = _FACT_LABELS.get(key, (key.replace("_", " "), ""))
        out.append(f"{label} {value}{' ' + unit if unit else ''}")
    if bounds:
        out.append(bounds)
    return " · ".join(out) if out else "no measurements"


def _source_label(source: str) -> str:
    if source.startswith("import:"):
        return f"imported from {source.removeprefix('import:')}"
    return {
        "ble": "recorded from the bands",
        "simulator": "simulated",
        "virtual": "virtual bands (demo)",
        "replay": "replayed recording",
    }.get(source, source)


def _clock(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _share(seconds: int, duration: int) -> str:
    return f"{100 * seconds / duration:.0f}\u00a0%" if duration else "-"  # no break before %


# -- plots -----------------------------------------------------------------------------------


def _series(data: SessionData, value: Any) -> tuple[np.ndarray, np.ndarray]:
    """(minutes, values) on a whole-second grid, NaN wherever there is no value or no sample."""
    first, last = data.samples[0].t, data.samples[-1].t
    minutes = np.arange(first, last + 1, dtype=float) / 60.0
    values = np.full(last - first + 1, np.nan)
    for sample in data.samples:
        v = value(sample)
        if v is not None:
            values[sample.t - first] = v
    return minutes, values


def _new_figure(narrow: bool, height_in: float) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(NARROW_IN if narrow else WIDE_IN, height_in), layout="constrained")
    return figure, figure.add_subplot()


def _minutes_axis(ax: Any, data: SessionData) -> None:
    first, last = data.samples[0].t / 60.0, (data.samples[-1].t + 1) / 60.0
    ax.set_xlim(first, max(last, first + 1 / 60.0))
    ax.set_xlabel("minutes")
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)


def _shade_gaps(ax: Any, data: SessionData) -> None:
    for index, gap in enumerate(data.summary.gaps):
        ax.axvspan(
            gap.start_t / 60.0,
            gap.end_t / 60.0,
            color=GAP_COLOUR,
            alpha=0.25,
            linewidth=0,
            label="no heart rate" if index == 0 else None,
        )


def _plot_heart_rate(data: SessionData, narrow: bool) -> Any:
    from matplotlib.transforms import blended_transform_factory

    zones: ZoneModel = data.zones
    minutes, hr = _series(data, lambda s: s.hr_bpm)
    _, expected = _series(data, lambda s: _expected(data.forecasts.get(s.t)))
    height_in = 3.4 if narrow else 3.6
    figure, ax = _new_figure(narrow, height_in)
    seen = hr[~np.isnan(hr)]
    low = min(zones.resting_hr, float(seen.min()) if seen.size else zones.resting_hr) - 5
    high = max(zones.max_hr, float(seen.max()) if seen.size else zones.max_hr) + 6
    right = blended_transform_factory(ax.transAxes, ax.transData)
    for zone in range(1, 6):
        bottom = zones.lower_bpm(zone)
        top = zones.lower_bpm(zone + 1) if zone < 5 else zones.max_hr
        ax.axhspan(bottom, top, color=ZONE_COLOURS[zone], alpha=0.16, linewidth=0)
        ax.text(
            1.008,
            (bottom + top) / 2,
            f"Z{zone}",
            transform=right,
            va="center",
            ha="left",
            fontsize=8.5,
            color="#4a4a4a",
            clip_on=False,
        )
    ax.axhline(zones.max_hr, color="#7a1c1c", linewidth=0.8, linestyle=":")
    _shade_gaps(ax, data)
    ax.plot(minutes, hr, color=HR_COLOUR, linewidth=1.3, label="heart rate")
    if not np.all(np.isnan(expected)):
        ax.plot(
            minutes,
            expected,
            color=EXPECTED_COLOUR,
            linewidth=1.1,
            linestyle="--",
            label="expected for the effort",
        )
    top = high
    if data.cues:
        # Room above the marks for three rows of numbers (about 34 pt of the axes' height).
        share = 34.0 / (height_in * 72 * 0.62)
        top = (high - low * share) / (1 - share)
        _mark_cues(ax, data, high, narrow)
    ax.set_ylim(low, top)
    ax.set_yticks([tick for tick in ax.get_yticks() if low <= tick <= high])  # none by the marks
    ax.set_ylabel("bpm")
    _minutes_axis(ax, data)
    ax.legend(
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=2 if narrow else 4,
        frameon=False,
        handlelength=1.6,
        columnspacing=1.2,
        borderaxespad=0.2,
    )
    return figure


def _mark_cues(ax: Any, data: SessionData, top: float, narrow: bool) -> None:
    """A mark at the top of the plot for each cue, numbered; close numbers are staggered."""
    if not data.cues:
        return
    span = (data.samples[-1].t - data.samples[0].t + 1) / 60.0
    closest = span * (0.05 if narrow else 0.022)  # about one number's width
    numbered = len(data.cues) <= (_MAX_NUMBERED_CUES // 2 if narrow else _MAX_NUMBERED_CUES)
    last_x = [-math.inf, -math.inf, -math.inf]
    for index, cue in enumerate(data.cues):
        x = int(cue["t"]) / 60.0
        ax.plot(
            [x],
            [top],
            marker="v",
            markersize=5,
            color="#333333",
            linestyle="none",
            label="cue" if index == 0 else None,
        )
        if not numbered:
            continue
        free = [level for level, before in enumerate(last_x) if x - before >= closest]
        level = free[0] if free else min(range(len(last_x)), key=last_x.__getitem__)
        last_x[level] = x
        ax.annotate(
            str(cue["id"]),
            (x, top),
            xytext=(0, 4 + 9 * level),
            textcoords="offset points",
            ha="center",
            fontsize=7.5,
            color="#333333",
        )


def _expected(forecast: Mapping[str, Any] | None) -> float | None:
    value = None if forecast is None else forecast.get("hr_expected")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _plot_cadence(data: SessionData, narrow: bool) -> Any:
    minutes, cadence = _series(data, lambda s: s.cadence_spm)
    figure, ax = _new_figure(narrow, 2.4)
    _shade_gaps(ax, data)
    ax.plot(minutes, cadence, color=CADENCE_COLOUR, linewidth=1.1, label="cadence")
    seen = cadence[~np.isnan(cadence)]
    ax.set_ylim(0, max(float(seen.max()) * 1.1 if seen.size else 1.0, 10.0))
    stepping = any(s.steps for s in data.samples)
    ax.set_ylabel("steps/min" if stepping else "per min")
    _minutes_axis(ax, data)
    return figure


def _power_section(data: SessionData) -> list[str]:
    """Power over time, only for a session that recorded some (a power meter or a machine)."""
    watts = [s.power_w for s in data.samples if s.power_w is not None]
    if not watts:
        return []
    average = sum(watts) / len(watts)
    note = (
        f'<p class="note">Average {average:.0f} W over the {len(watts)} seconds with power, '
        f"highest {max(watts):.0f} W. Nothing is drawn where no power was reported.</p>"
    )
    return [
        '<section id="power"><h2>Power</h2>',
        _figure(data, _plot_power, "Power over time"),
        note,
        "</section>",
    ]


def _fitness_section(data: SessionData) -> list[str]:
    """Efficiency factor, aerobic decoupling and heart rate at the reference effort, for a
    session with enough effort (`edge.reports.fitness`); nothing otherwise."""
    markers = session_markers(data.samples)
    if markers is None:
        return []
    ride = markers.measure == "power"
    effort = (
        f"normalized power {markers.normalized_power_w:.0f} W"
        if ride
        else f"mean speed {markers.mean_effort * 3.6:.1f} km/h"
    )
    rows = [
        (
            "Efficiency factor",
            f"{markers.efficiency_factor:.2f} {ef_unit(markers.measure)}",
            f"{effort} over mean heart rate {markers.mean_hr:.0f}"
            + ("" if ride else " (speed per beat; no grade is recorded)"),
        ),
        (
            "Aerobic decoupling (Pa:HR)",
            "-" if markers.decoupling_pct is None else f"{markers.decoupling_pct:.1f} %",
            "effort per beat, first half against second, after the first 10 minutes"
            if markers.decoupling_pct is not None
            else "needs 20 minutes moving after the first 10",
        ),
        (
            f"Heart rate at {markers.reference_words}",
            "-" if markers.hr_at_reference is None else f"{markers.hr_at_reference:.0f} bpm",
            "the steady heart rate this session's own kinetics give at that effort"
            if markers.hr_at_reference is not None
            else "the session did not come near that effort",
        ),
    ]
    esc = html.escape
    table = (
        '<table class="fitness"><tbody>'
        + "".join(
            f'<tr><th>{esc(name)}</th><td>{esc(value)}</td><td class="note">{esc(how)}</td></tr>'
            for name, value, how in rows
        )
        + "</tbody></table>"
    )
    return [
        '<section id="fitness"><h2>Fitness markers</h2>',
        table,
        '<p class="note">As GoldenCheetah and TrainingPeaks define them. A higher efficiency '
        "factor, or a lower heart rate at the same effort, over weeks of similar sessions is a "
        "sign of better aerobic fitness; decoupling under 5 % on a long steady effort is the "
        "usual sign of a sound aerobic base, and means little after intervals. Training "
        "markers only: they say nothing about health.</p>",
        "</section>",
    ]


def _plot_power(data: SessionData, narrow: bool) -> Any:
    minutes, watts = _series(data, lambda s: s.power_w)
    figure, ax = _new_figure(narrow, 2.4)
    _shade_gaps(ax, data)
    ax.plot(minutes, watts, color=POWER_COLOUR, linewidth=1.1, label="power")
    seen = watts[~np.isnan(watts)]
    ax.set_ylim(0, max(float(seen.max()) * 1.1 if seen.size else 1.0, 50.0))
    ax.set_ylabel("watts")
    _minutes_axis(ax, data)
    return figure


def _plot_zones(data: SessionData, narrow: bool) -> Any:
    labels = ["no HR", *(f"Z{zone}" for zone in range(6))]
    seconds = [data.gap_s, *(data.time_in_zone_s.get(zone, 0) for zone in range(6))]
    colours = [GAP_COLOUR, *ZONE_COLOURS]
    figure, ax = _new_figure(narrow, 2.7 if narrow else 2.5)
    positions = np.arange(len(labels))
    ax.barh(positions, [s / 60.0 for s in seconds], color=colours, height=0.68)
    ax.set_yticks(positions, labels)
    longest = max(seconds) / 60.0 if any(seconds) else 1.0
    for y, value in zip(positions, seconds, strict=True):
        if value:
            ax.text(
                value / 60.0 + longest * 0.01,
                y,
                _clock(value),
                va="center",
                fontsize=8.5,
                color="#333333",
            )
    ax.set_xlim(0, longest * 1.15)
    ax.set_xlabel("minutes")
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)
    return figure


_XML_PROLOGUE = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*|<!--.*?-->\s*", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')


def _svg(figure: Any, prefix: str) -> str:
    """The figure as an <svg> element for inline use in HTML, its ids unique to this figure."""
    buffer = io.StringIO()
    figure.savefig(
        buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None}
    )
    text = _METADATA.sub("", _XML_PROLOGUE.sub("", buffer.getvalue()))
    # Inline SVG in HTML needs no namespace declarations, and SVG 2 takes a plain href.
    text = _XMLNS.sub("", text).replace("xlink:href=", "href=")
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = text.replace('href="#', f'href="#{prefix}-').replace("url(#", f"url(#{prefix}-")
    return text.strip()


def _figure(data: SessionData, plot: Callable[[SessionData, bool], Any], label: str) -> str:
    """The plot, wide and narrow, as one <figure> of inline SVG."""
    name = plot.__name__.removeprefix("_plot_").replace("_", "-")
    shown = []
    for variant, narrow in (("wide", False), ("narrow", True)):
        with _matplotlib_settings():
            svg = _svg(plot(data, narrow), f"{name}-{variant}")
        svg = svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label)}" ', 1)
        shown.append(f'<div class="{variant}">{svg}</div>')
    return f'<figure id="plot-{name}">{"".join(shown)}</figure>'


def _matplotlib_settings() -> Any:
    """The rc settings every plot of the report is drawn with."""
    import matplotlib

    return matplotlib.rc_context(_RC)
