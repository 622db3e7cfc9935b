"""Where session events go: a live terminal display for people, JSON lines for machines."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from edge.core.events import (
    CueDecided,
    CueSpoken,
    LinkChanged,
    MachineUpdate,
    SampleTaken,
    SessionEvent,
    SessionPlanned,
    SessionStarted,
    WarningRaised,
    event_json,
)
from edge.core.zones import ZONE_NAMES
from edge.stream.plausible import finite_json
from edge.stream.readings import LinkState

_KIND_LABELS = {
    "zone_change": "ZONE",
    "high_zone": "HIGH",
    "forecast_overshoot": "AHEAD",
    "above_max_hr": "STOP",
    "implausible_reading": "SENSOR",
    "sensor_lost": "SENSOR",
    "sensor_back": "SENSOR",
    "drift": "DRIFT",
    "step_start": "STEP",
    "step_halfway": "STEP",
    "step_end": "STEP",
    "workout_done": "PLAN",
    "off_target": "TARGET",
    "milestone": "MILE",
    "on_target": "ON",
    "hard_step_ahead": "AHEAD",
}


class JsonLines:
    """One JSON object per event on one line, flushed at once so a pipe sees it live."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream

    def __call__(self, event: SessionEvent) -> None:
        # JSON has no NaN or Infinity: a value that is not a number is written as null.
        line = json.dumps(finite_json(event_json(event)), separators=(",", ":"), allow_nan=False)
        self.stream.write(line + "\n")
        self.stream.flush()


class TerminalDisplay:
    """A status line rewritten each second on a terminal; cues and words printed above it."""

    def __init__(self, stream: TextIO = sys.stdout, *, status_every_s: int = 30) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.status_every_s = status_every_s
        self._status_shown = False

    def __call__(self, event: SessionEvent) -> None:
        match event:
            case SessionStarted():
                speed = f"{event.speed:g}x" if event.speed else "full speed"
                length = (
                    f"{int(event.duration_s) // 60} min of workout"
                    if event.duration_s
                    else "workout"
                )
                self._line(f"{event.source}: {length} at {speed}")
                self._line(f"  health model   {event.health_model}")
                self._line(f"  language model {event.language_model or 'none: templates only'}")
                self._line(f"  speech         {event.speech or 'muted'}")
            case SessionPlanned():
                self._line(f"  session        {event.description}")
            case SampleTaken():
                self._status(event)
            case CueDecided(cue=cue):
                self._line(
                    f"{_clock(cue.t)}  {_KIND_LABELS.get(cue.kind.value, 'CUE'):6}"
                    f" {cue.template_text}"
                )
            case CueSpoken(narration=words):
                by = "model" if words.source == "llm" else f"template: {words.reason}"
                self._line(
                    f"{'':5}  \u21b3 \u201c{words.text}\u201d  ({by}, "
                    f"{event.seconds_to_text:.2f} s)"
                )
            case WarningRaised():
                self._line(f"warning: {event.message}")
            case MachineUpdate(detail=detail) if "say" in detail:
                self._line(f"{_clock(event.t)}  {'MACHINE':6} {detail['say']}")
            case LinkChanged(link=link) if link.state is LinkState.DISCONNECTED:
                self._line(f"{_clock(link.t)}  {link.device} disconnected {link.detail}")

    def _status(self, event: SampleTaken) -> None:
        sample = event.sample
        if sample.hr_bpm is None or event.zone is None:
            text = f"{_clock(sample.t)}  HR  ---  no signal"
        else:
            forecast = event.forecast
            ahead = f"  in 30 s: {forecast.hr_30s:.0f}" if forecast else ""
            cadence = f"  cadence {sample.cadence_spm:.0f}" if sample.cadence_spm else ""
            watts = f"  {sample.power_w:.0f} W" if sample.power_w is not None else ""
            text = (
                f"{_clock(sample.t)}  HR {sample.hr_bpm:3.0f}  "
                f"{ZONE_NAMES[event.zone]:<22}{cadence}{watts}{ahead}"
            )
        if self.live:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()
            self._status_shown = True
        elif sample.t % self.status_every_s == 0:
            self.stream.write(text + "\n")

    def _line(self, text: str) -> None:
        if self.live and self._status_shown:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, lines: list[str]) -> None:
        self._line("")
        for line in lines:
            self._line(line)


def _clock(t: object) -> str:
    minutes, seconds = divmod(int(t), 60)  # type: ignore[call-overload]
    return f"{minutes:02d}:{seconds:02d}"
