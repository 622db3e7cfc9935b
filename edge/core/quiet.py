"""Quiet hours: spans of the day when only safety is spoken aloud.

A gym's screen or a flat at night still shows and stores every cue; only the voice is held back,
and never for a safety cue ("stop and rest now" is said at any hour). Spans are local wall-clock
times, "HH:MM-HH:MM", and may run past midnight ("22:00-07:00").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time

from edge.errors import ConfigError

_SPAN = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


@dataclass(frozen=True, slots=True)
class QuietSpan:
    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # runs past midnight


@dataclass(frozen=True, slots=True)
class QuietHours:
    spans: tuple[QuietSpan, ...] = ()

    @classmethod
    def parse(cls, spans: Sequence[str], where: str = "[speech] quiet_hours") -> QuietHours:
        parsed = []
        for text in spans:
            match = _SPAN.match(str(text))
            if match is None:
                raise ConfigError(
                    f"{where}: {text!r} is not a span of the day; write it as "
                    '"HH:MM-HH:MM", e.g. "22:00-07:00"'
                )
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if (h1, m1) == (h2, m2):
                raise ConfigError(
                    f"{where}: {text!r} starts and ends at the same minute; "
                    "leave it out for no quiet hours"
                )
            parsed.append(QuietSpan(time(h1, m1), time(h2, m2)))
        return cls(tuple(parsed))

    def active(self, moment: time) -> bool:
        return any(span.contains(moment) for span in self.spans)

    def checker(self, now: Callable[[], datetime] = datetime.now) -> Callable[[], bool] | None:
        """A no-argument test for the speech queue (None when there are no quiet hours)."""
        if not self.spans:
            return None
        return lambda: self.active(now().time())
