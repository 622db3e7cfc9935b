"""A planned step that would take the person past their zone, said before it starts.

A plan with effort targets (`4x(3m 250W, 2m 120W)`, `10m 9.5kmh`) says what the body will be
asked to do; the person's learnt kinetics (`edge.health.kinetics`, calibrated from their own
sessions) say what their heart will do about it. A little before each step with a power (or
speed) target starts, the heart rate is stepped through the rest of the current step and the
next one's first minutes; if it would pass the limit (the step's own target zone top, or for a
step with only an effort target the zone-5 line), the coach says so, with the effort that
would keep it under: "the next interval at 250 watts would take you to 178 within 90 seconds;
start it at 230 watts". Once per step, never during it (then the zone rules speak).

Today's level of the heart differs from the calibration's (sleep, heat), so the model's resting
level is refitted on this session's own last minutes (`fit_rest`) before each look ahead; gain
and time constant are the person's. Pure: one second in, facts for a cue (or None) out.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edge.coach.workouts import PlannedStep, StepStatus
from edge.core.zones import ZoneModel
from edge.health.kinetics import KineticsParams, fit_rest, predict
from edge.stream.readings import AlignedSample

__all__ = ["LookaheadSettings", "StepLookahead"]


@dataclass(frozen=True, slots=True)
class LookaheadSettings:
    #: The warning comes this many seconds before the step starts at the earliest...
    lead_s: int = 40
    #: ...and no later than this: words said as the step starts come too late to change it.
    last_s: int = 8
    #: Seconds of the step judged (at most its length): where a warning still helps.
    horizon_s: int = 180
    #: The suggested effort keeps the predicted heart rate this far under the limit.
    margin_bpm: float = 2.0
    #: Suggestions are rounded down to these steps.
    power_step_w: int = 5
    speed_step_kmh: float = 0.5
    #: Seconds of this session the resting level is refitted on (the last ones).
    history_s: int = 600


@dataclass
class StepLookahead:
    """Looks ahead at a plan's effort steps with a person's kinetics, a second at a time."""

    steps: tuple[PlannedStep, ...]
    zones: ZoneModel
    #: By effort kind ("power", "speed"): the person's learnt kinetics.
    kinetics: Mapping[str, KineticsParams]
    settings: LookaheadSettings = LookaheadSettings()
    #: Sessions the kinetics were learnt from (a fact the cue names).
    sessions: int = 0

    def __post_init__(self) -> None:
        n = self.settings.history_s
        self._hr: deque[float] = deque(maxlen=n)
        self._effort: dict[str, deque[float]] = {k: deque(maxlen=n) for k in ("power", "speed")}
        self._work_s = {"power": 0, "speed": 0}
        #: Per next step: the judgement (facts of a warning, or None: no warning needed).
        self._judged: dict[int, dict[str, float | int | str] | None] = {}
        self._given: set[int] = set()

    def update(
        self, sample: AlignedSample, hr: float | None, status: StepStatus | None
    ) -> dict[str, float | int | str] | None:
        """Facts for a warning about the next step, once, before it starts; else None.

        `hr` is the believed heart rate (None when not believed); `status` the step now.
        """
        self._record(sample, hr)
        if hr is None or status is None or status.index + 1 >= len(self.steps):
            return None
        next_index = status.index + 1
        if next_index in self._given:
            return None
        if not self.settings.last_s <= status.remaining_s <= self.settings.lead_s:
            return None
        if next_index not in self._judged:  # judged once; offered until said or too late
            self._judged[next_index] = self._judge(next_index, hr, status)
        return self._judged[next_index]

    def given(self, step: int) -> None:
        """The coach said the warning for step number `step` (1-based, its fact): once only."""
        self._given.add(step - 1)

    # -- inside ---------------------------------------------------------------------------------

    def _judge(
        self, next_index: int, hr: float, status: StepStatus
    ) -> dict[str, float | int | str] | None:
        step = self.steps[next_index]
        kind = _effort_kind(step)
        params = self.kinetics.get(kind) if kind else None
        if kind is None or params is None:
            return None
        limit = self._limit(step)
        if limit is None:
            return None
        today = self._today(params, kind)
        target = _target(step, kind)
        now_effort = self._effort_now(status.step, kind)
        if target <= now_effort:
            return None  # an easier step: a heart above its zone is on its way down
        horizon = min(self.settings.horizon_s, step.duration_s)
        ahead = self._ahead(today, kind, hr, now_effort, status.remaining_s, target, horizon)
        peak = float(ahead.max())
        if peak < limit or peak <= hr:
            return None
        facts: dict[str, float | int | str] = {
            "hr": round(hr),
            "step": next_index + 1,
            "step_kind": step.kind,
            "forecast_hr": round(peak),
            "within_s": _round_seconds(int(np.argmax(ahead)) + 1),
            "limit_hr": round(limit),
            "effort": kind,
            "kinetics_sessions": self.sessions,
        }
        if kind == "power":
            facts["next_power_w"] = int(round(target))
        else:
            facts["next_speed_kmh"] = round(target * 3.6, 1)
        suggestion = self._suggest(
            today, kind, hr, now_effort, status.remaining_s, target, horizon, limit
        )
        if suggestion is not None:
            facts["suggested_power_w" if kind == "power" else "suggested_speed_kmh"] = suggestion
        return facts

    def _record(self, sample: AlignedSample, hr: float | None) -> None:
        self._hr.append(math.nan if hr is None else hr)
        speed = sample.machine_speed_mps if sample.machine_speed_mps is not None else None
        if speed is None:
            speed = sample.speed_mps
        for kind, value in (("power", sample.power_w), ("speed", speed)):
            self._effort[kind].append(math.nan if value is None else float(value))
            if value is not None and value > 0:
                self._work_s[kind] += 1

    def _limit(self, step: PlannedStep) -> float | None:
        """The step's target top, or for an effort-only step the zone-5 line; None for a step
        that means to reach zone 5 (the safety rules watch the maximum)."""
        if step.target_zone is None:
            return float(self.zones.lower_bpm(5))
        low, high = step.zone_range
        if high >= 5:
            return None
        return float(step.target_bpm(self.zones)[1])

    def _today(self, params: KineticsParams, kind: str) -> KineticsParams:
        """The learnt kinetics with today's resting level, from this session's last minutes."""
        hr = np.array(self._hr)
        effort = np.array(self._effort[kind])
        if np.isfinite(effort).sum() < 60:
            return params
        start_min = (self._work_s[kind] - np.nansum(effort > 0)) / 60.0
        return fit_rest(params, hr, effort, start_working_min=max(start_min, 0.0)) or params

    def _effort_now(self, step: PlannedStep, kind: str) -> float:
        """The effort held until the step ends: measured, else the step's own target."""
        last = self._effort[kind][-1] if self._effort[kind] else math.nan
        if math.isfinite(last):
            return last
        planned = _target(step, kind) if _effort_kind(step) == kind else None
        return planned if planned is not None else 0.0

    def _ahead(
        self,
        params: KineticsParams,
        kind: str,
        hr: float,
        now_effort: float,
        remaining_s: int,
        target: float,
        horizon: int,
    ) -> np.ndarray:
        """Predicted heart rate over the next step's first `horizon` seconds."""
        plan = np.concatenate([np.full(remaining_s, now_effort), np.full(horizon, target)])
        hr_path = predict(
            params,
            hr,
            plan,
            past_effort=np.array(self._effort[kind]),
            working_min=self._work_s[kind] / 60.0,
        )
        return hr_path[remaining_s:]

    def _suggest(
        self,
        params: KineticsParams,
        kind: str,
        hr: float,
        now_effort: float,
        remaining_s: int,
        target: float,
        horizon: int,
        limit: float,
    ) -> int | float | None:
        """The largest effort, in round steps below the target, whose heart rate stays under
        the limit (less the margin); None when even a much easier start does not."""
        unit = self.settings.power_step_w if kind == "power" else self.settings.speed_step_kmh / 3.6
        candidate = math.floor(target / unit) * unit
        if candidate >= target - 1e-9:
            candidate -= unit
        while candidate >= 0.4 * target:
            ahead = self._ahead(params, kind, hr, now_effort, remaining_s, candidate, horizon)
            if float(ahead.max()) < limit - self.settings.margin_bpm:
                return int(round(candidate)) if kind == "power" else round(candidate * 3.6, 1)
            candidate -= unit
        return None


def _effort_kind(step: PlannedStep) -> str | None:
    if step.power_w is not None:
        return "power"
    if step.speed_kmh is not None:
        return "speed"
    return None


def _target(step: PlannedStep, kind: str) -> float:
    """The step's effort target in the kinetics' units (W, m/s)."""
    if kind == "power":
        assert step.power_w is not None
        return float(step.power_w)
    assert step.speed_kmh is not None
    return step.speed_kmh / 3.6


def _round_seconds(seconds: int) -> int:
    """A time as it is said: to 5 s under a minute, to 10 s beyond."""
    step = 5 if seconds < 60 else 10
    return max(step, int(math.ceil(seconds / step) * step))
