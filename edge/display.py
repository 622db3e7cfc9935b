"""Where session events go: a live terminal display for people, JSON lines for machines."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from edge.coach.zones import ZONE_NAMES
from edge.stream.plausible import finite_json

_KIND_LABELS = {
    "zone_change": "ZONE", "high_zone": "HIGH", "forecast_overshoot": "AHEAD",
    "above_max_hr": "STOP", "implausible_reading": "SENSOR", "sensor_lost": "SENSOR",
    "sensor_back": "SENSOR", "drift": "DRIFT", "step_start": "STEP", "step_halfway": "STEP",
    "step_end": "STEP", "workout_done": "PLAN", "off_target": "TARGET", "milestone": "MILE",
}


class JsonLines:
    """One JSON object per event on one line, flushed at once so a pipe sees it live."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream

    def __call__(self, event: dict[str, object]) -> None:
        # JSON has no NaN or Infinity: a value that is not a number is written as null.
        line = json.dumps(finite_json(event), separators=(",", ":"), allow_nan=False)
        self.stream.write(line + "\n")
        self.stream.flush()


class TerminalDisplay:
    """A status line rewritten each second on a terminal; cues and words printed above it."""

    def __init__(self, stream: TextIO = sys.stdout, *, status_every_s: int = 30) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.status_every_s = status_every_s
        self._status_shown = False

    def __call__(self, event: dict[str, object]) -> None:
        kind = event["event"]
        if kind == "start":
            speed = f"{event['speed']:g}x" if event["speed"] else "full speed"
            length = f"{int(event['duration_s']) // 60} min of workout" if event["duration_s"] \
                else "workout"
            self._line(f"{event['source']}: {length} at {speed}")
            self._line(f"  health model   {event['health_model']}")
            self._line(f"  language model {event['language_model'] or 'none: templates only'}")
            self._line(f"  speech         {event['speech'] or 'muted'}")
        elif kind == "sample":
            self._status(event)
        elif kind == "cue":
            self._line(f"{_clock(event['t'])}  {_KIND_LABELS.get(event['kind'], 'CUE'):6}"
                       f" {event['template']}")
        elif kind == "spoken":
            by = "model" if event["source"] == "llm" else f"template: {event['reason']}"
            self._line(f"{'':5}  \u21b3 \u201c{event['text']}\u201d  ({by}, "
                       f"{event['seconds_to_text']:.2f} s)")
        elif kind == "warning":
            self._line(f"warning: {event['message']}")
        elif kind == "link" and event["state"] == "disconnected":
            self._line(f"{_clock(event['t'])}  {event['device']} disconnected {event['detail']}")

    def _status(self, event: dict[str, object]) -> None:
        hr = event["hr"]
        if hr is None:
            text = f"{_clock(event['t'])}  HR  ---  no signal"
        else:
            zone = event["zone"]
            forecast = event["forecast"]
            ahead = f"  in 30 s: {forecast['hr_30s']:.0f}" if forecast else ""
            cadence = f"  cadence {event['cadence']:.0f}" if event["cadence"] else ""
            text = (f"{_clock(event['t'])}  HR {hr:3.0f}  {ZONE_NAMES[zone]:<22}{cadence}{ahead}")
        if self.live:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()
            self._status_shown = True
        elif event["t"] % self.status_every_s == 0:
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
