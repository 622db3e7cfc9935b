"""Cardiac drift by aerobic decoupling: heart rate creeping up while the effort stays the same.

During a long steady effort heart rate rises slowly at an unchanged pace or power (heat,
dehydration, fatigue: Coyle & Gonzalez-Alonso 2001). The usual measure is aerobic decoupling
(Friel, "Pa:HR"): the efficiency factor EF = effort / heart rate (speed or power per beat) of
the stretch's first part against its latest part,

    decoupling % = (EF_first - EF_last) / EF_first x 100,

where above 5 % counts as marked drift. It needs no model of what the effort "should" cost,
so it cannot follow heart rate up the way an expectation learnt from the same heart rate does.

`DecouplingTracker` is pure: one second in (heart rate and effort, either may be missing), a
finding out when the last `span_s` seconds have decoupled. They are judged only when they were
a steady effort: moving (pace or power above a floor, heart rate known) for most of the span,
the same mean effort in the first and the last `window_s` (within `effort_tolerance`), and no
intervals inside either window (the effort's coefficient of variation under `max_effort_cv`).
Running sums keep each second's work constant, however long the span.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["DecouplingSettings", "DecouplingTracker", "DriftFinding", "decoupling_pct"]


def decoupling_pct(
    first_hr: float, first_effort: float, last_hr: float, last_effort: float
) -> float:
    """Aerobic decoupling (Pa:HR), percent: how much less effort per beat the last part gives
    than the first, ``(EF_first - EF_last) / EF_first x 100`` with EF = effort / heart rate.
    Positive: heart rate rose against the effort. The one formula for the live drift cue and
    the per-session fitness markers (`edge.reports.fitness`)."""
    first, last = first_effort / first_hr, last_effort / last_hr
    return (first - last) / first * 100.0


@dataclass(frozen=True, slots=True)
class DecouplingSettings:
    #: No span that starts in the session's first this many seconds: heart rate is still
    #: settling from rest (the warm-up), which is not drift (Friel leaves the warm-up out).
    warmup_s: int = 600
    #: The span judged: the last this many seconds...
    span_s: int = 1800
    #: ...its first and its last this many seconds compared.
    window_s: int = 600
    #: Seconds of the span that must have heart rate and a moving effort.
    min_coverage: float = 0.8
    #: The mean effort of the last window within this fraction of the first's: the same pace.
    effort_tolerance: float = 0.05
    #: And inside each window, the effort's coefficient of variation under this: no intervals.
    max_effort_cv: float = 0.25
    #: Decoupling at or above this many percent, with heart rate up at least `min_rise_bpm`
    #: between the windows, is drift (Friel: above 5 %).
    threshold_pct: float = 5.0
    min_rise_bpm: float = 6.0
    #: Below these the person is standing, not working.
    min_speed_mps: float = 1.0
    min_power_w: float = 30.0


@dataclass(frozen=True, slots=True)
class DriftFinding:
    #: Mean heart rate of the first and of the last window, bpm.
    start_hr: float
    recent_hr: float
    #: Aerobic decoupling, percent.
    decoupling_pct: float
    #: The span judged, seconds.
    steady_s: int
    #: "speed" or "power": what the effort was measured by.
    measure: str


#: Running sums per second: count, heart rate, effort, effort squared.
_Sums = tuple[int, float, float, float]


class DecouplingTracker:
    def __init__(self, settings: DecouplingSettings | None = None) -> None:
        self.settings = settings or DecouplingSettings()
        self._measure: str | None = None
        self._last_t: int | None = None
        self._first_t: int | None = None
        #: Cumulative sums after each second, the oldest `span_s + 1` kept.
        self._sums: deque[_Sums] = deque(maxlen=self.settings.span_s + 1)
        #: Whether the last second's span was a steady effort (judged), for evaluations.
        self.judging = False

    def reset(self) -> None:
        self._sums.clear()
        self._last_t = self._first_t = None
        self.judging = False

    def update(
        self,
        t: int,
        hr: float | None,
        *,
        speed_mps: float | None = None,
        power_w: float | None = None,
    ) -> DriftFinding | None:
        """Take one second; a finding when the last `span_s` seconds have decoupled."""
        s = self.settings
        measure, effort = ("power", power_w) if power_w is not None else ("speed", speed_mps)
        if measure != self._measure:
            self.reset()
            self._measure = measure
        floor = s.min_power_w if measure == "power" else s.min_speed_mps
        if self._last_t is not None:
            for _ in range(min(t - self._last_t - 1, s.span_s + 1)):
                self._append(None, None)  # seconds not seen are seconds without a value
        self._last_t = t
        if self._first_t is None:
            self._first_t = t
        moving = hr is not None and effort is not None and effort >= floor
        self._append(hr if moving else None, effort if moving else None)
        self.judging = False
        if len(self._sums) <= s.span_s or t - s.span_s < self._first_t + s.warmup_s:
            return None
        sums = self._sums
        first = _window(sums[0], sums[s.window_s])
        last = _window(sums[-1 - s.window_s], sums[-1])
        covered = sums[-1][0] - sums[0][0]
        if covered < s.min_coverage * s.span_s or first is None or last is None:
            return None
        (hr1, e1, cv1), (hr2, e2, cv2) = first, last
        if abs(e2 / e1 - 1.0) > s.effort_tolerance or max(cv1, cv2) > s.max_effort_cv:
            return None
        self.judging = True
        decoupling = decoupling_pct(hr1, e1, hr2, e2)
        if decoupling < s.threshold_pct or hr2 - hr1 < s.min_rise_bpm:
            return None
        return DriftFinding(hr1, hr2, decoupling, s.span_s, measure)

    def _append(self, hr: float | None, effort: float | None) -> None:
        n, h, e, e2 = self._sums[-1] if self._sums else (0, 0.0, 0.0, 0.0)
        if hr is not None and effort is not None:
            n, h, e, e2 = n + 1, h + hr, e + effort, e2 + effort * effort
        self._sums.append((n, h, e, e2))


def _window(before: _Sums, after: _Sums) -> tuple[float, float, float] | None:
    """Mean heart rate, mean effort and the effort's coefficient of variation between two
    running sums; None with too few seconds to say."""
    n = after[0] - before[0]
    if n < 60:
        return None
    hr, effort = (after[1] - before[1]) / n, (after[2] - before[2]) / n
    variance = max((after[3] - before[3]) / n - effort * effort, 0.0)
    return hr, effort, math.sqrt(variance) / effort
