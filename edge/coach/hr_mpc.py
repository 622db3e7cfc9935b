"""Holding a heart rate in a zone by model-predictive control with the person's own kinetics.

The PID (`edge.coach.hr_control`) learns a person's heart only through its error; a controller
that knows how this heart answers power (`edge.health.kinetics`, calibrated from their own
sessions by `edge.health.personal_kinetics`) can look ahead: every `decide_every_s` it tries
each power sequence of a small family over the next `horizon_s`, predicts the heart rate each
would give, and starts the one that costs least, then decides again with the new heart rate
(receding horizon). The family is two levels, piecewise constant: ramp to `first` (at most
`max_step_w` every `decide_every_s`, as it will be sent), hold it for `switch_s`, then go to
`second` and hold. That is enough to push a heart up quickly and settle it without the
overshoot a lagging heart invites, and few enough sequences to try them all in a millisecond.

The cost, per predicted second: squared distance from the set point in the zone's middle (more
above it than below), much more above the zone's top (overshoot is what hurts), plus a
price on each change of power and on its size (a person feels every change). The model is kept
honest as dynamic matrix control keeps its models: it runs open loop on the powers felt, and the
measured heart rate minus the model's, smoothed over `offset_time_s`, is an offset added to
every prediction (the output disturbance: sleep, heat, a cold, a calibration a few beats off).
That offset is seen directly each second, so a model that is off settles where the heart is
within a minute or so; an observer that corrects the model's state instead sees an error in the
steady state only through the slow time constant, and left the MPC holding a heart 2-3 bpm
under its set point (on the zone's floor) for ten minutes.

It is a `PowerController`: pure, one `ControlInput` a second in, a power out, always within the
cap, the floor and its own step limits. The machine coach wraps it in the safety layer as it
does the PID.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.coach.hr_control import ControlInput, PidPowerController, PowerController
from edge.health.kinetics import KineticsParams
from edge.settings import MachineSettings

log = logging.getLogger(__name__)

__all__ = ["MpcPowerController", "MpcSettings", "controller_for", "population_kinetics"]


@dataclass(frozen=True, slots=True)
class MpcSettings:
    """Tuned on `bench/hr_mpc.py`'s simulated riders: the PID's step (20 W), decided twice as
    often (every 5 s, not 10 s), with a price on each change that keeps changes fewer."""

    #: Seconds between two decisions (and so between two changes of power).
    decide_every_s: int = 5
    #: Seconds of heart rate each candidate is judged on.
    horizon_s: int = 180
    #: Seconds the first level is held before the second one.
    switch_s: int = 40
    #: Watts between the power levels tried.
    level_step_w: float = 10.0
    #: Largest change of power in one decision.
    max_step_w: float = 20.0
    #: Changes smaller than this are not made.
    deadband_w: float = 5.0
    #: Where in the zone the set point sits: 0 = its floor, 1 = its top. The middle: a strap's
    #: beat-to-beat noise (a few bpm) then leaves the zone neither way, and the weights above
    #: keep a rise from overshooting (lower set points traded seconds under the zone for none
    #: above it in `bench/hr_mpc.py`).
    set_point_fraction: float = 0.5
    #: Weights of a squared beat/min below the set point, above it, and above the zone.
    weight_below: float = 1.0
    weight_above: float = 1.5
    weight_over_zone: float = 25.0
    #: Cost of each change of power, and per watt changed (in squared beats/min-seconds).
    change_cost: float = 120.0
    change_cost_per_w: float = 2.0
    #: Seconds over which the measured heart rate minus the model's is averaged into the offset
    #: (long enough to average a strap's beat-to-beat noise, short next to a heart's minutes).
    offset_time_s: float = 20.0
    #: Largest offset the measurements may add to the calibrated model, beats/min.
    offset_limit_bpm: float = 25.0

    def __post_init__(self) -> None:
        if self.decide_every_s < 1 or self.horizon_s < 30 or self.switch_s < 1:
            raise ValueError("MPC needs decide_every_s >= 1, horizon_s >= 30, switch_s >= 1")
        if self.max_step_w <= 0 or self.level_step_w <= 0 or self.deadband_w < 0:
            raise ValueError("MPC max_step_w and level_step_w must be > 0, deadband_w >= 0")
        if not 0.0 <= self.set_point_fraction <= 1.0:
            raise ValueError("MPC set_point_fraction must be within 0..1")
        if self.offset_time_s < 1 or self.offset_limit_bpm < 0:
            raise ValueError("MPC offset_time_s must be >= 1 s and offset_limit_bpm >= 0")


def population_kinetics(resting_hr: float) -> KineticsParams:
    """Kinetics of an average rider (shared/notes/effort.md): for a person not yet calibrated
    whose config asks for the MPC anyway. The observer's offset fits the level to them."""
    return KineticsParams(
        rest_bpm=resting_hr + 12.0, gain=0.33, tau_s=45.0, delay_s=6, drift_bpm_per_min=0.2
    )


class MpcPowerController:
    """The receding-horizon controller of the module docstring: `update` once a second."""

    def __init__(
        self,
        kinetics: KineticsParams,
        settings: MpcSettings | None = None,
        *,
        start_power_w: float = 100.0,
        t: int = 0,
    ) -> None:
        if kinetics.effort_kind != "power":
            raise ValueError("the MPC sets a bike's power: it needs power kinetics")
        self.kinetics = kinetics
        self.settings = settings or MpcSettings()
        self._k = 1.0 - math.exp(-1.0 / kinetics.tau_s)
        self._offset = 0.0
        self._model: float | None = None  # the model's heart rate, open loop, without offset
        self._work_s = 0
        self.reset(start_power_w, t)

    def reset(self, power_w: float, t: int) -> None:
        self.power_w = float(power_w)
        self._last_change_t = t
        self._last_decision_t = t
        # What the heart feels `delay_s` from now: the powers held before (assumed steady).
        self._felt: deque[float] = deque(
            [self.power_w] * (self.kinetics.delay_s + 1), maxlen=self.kinetics.delay_s + 1
        )
        # The model's heart rate and the offset carry over: the same heart, the same day.

    def set_point(self, control: ControlInput) -> float:
        low, high = control.target_low_bpm, control.target_high_bpm
        return low + self.settings.set_point_fraction * (high - low)

    def _steady(self, felt: float | np.ndarray) -> float | np.ndarray:
        p = self.kinetics
        return (
            p.rest_bpm + p.gain * np.maximum(felt, 0.0) + p.drift_bpm_per_min * self._work_s / 60.0
        )

    @property
    def _estimate(self) -> float | None:
        """The heart rate now as the controller believes it: the model's plus the offset."""
        return None if self._model is None else self._model + self._offset

    def _observe(self, hr: float | None, power_now: float) -> None:
        """Step the model one second on the power felt; average its error into the offset."""
        self._felt.append(power_now)
        felt = self._felt[0]
        if power_now > 0:
            self._work_s += 1
        if self._model is None:
            self._model = hr  # a model met at this heart rate starts from it, offset 0
            return
        self._model += self._k * (float(self._steady(felt)) - self._model)
        if hr is None:
            return
        s = self.settings
        self._offset += (hr - self._model - self._offset) / s.offset_time_s
        self._offset = min(max(self._offset, -s.offset_limit_bpm), s.offset_limit_bpm)

    def update(self, control: ControlInput) -> float:
        s = self.settings
        applied = control.power_w if control.power_w is not None else self.power_w
        self._observe(control.hr_bpm, float(applied))
        if control.hr_bpm is None or self._estimate is None:
            return self.power_w  # no heart rate: hold (the coach lets go if it stays lost)
        low, high = control.min_power_w, control.max_power_w
        if control.t - self._last_decision_t < s.decide_every_s:
            return min(max(self.power_w, low), high)
        self._last_decision_t = control.t
        wanted = self._plan(control)
        change = wanted - self.power_w
        if abs(change) < s.deadband_w and low <= self.power_w <= high:
            return self.power_w
        change = max(-s.max_step_w, min(s.max_step_w, change))
        new = min(max(self.power_w + change, low), high)
        if new != self.power_w:
            self.power_w = new
            self._last_change_t = control.t
        return self.power_w

    def _plan(self, control: ControlInput) -> float:
        """The first level of the cheapest two-level sequence."""
        s = self.settings
        low_w, high_w = control.min_power_w, control.max_power_w
        levels = np.arange(
            math.floor(low_w / s.level_step_w) * s.level_step_w,
            high_w + s.level_step_w / 2,
            s.level_step_w,
        )
        near = self.power_w + np.array([-5.0, 0.0, 5.0])  # fine steps where the power is now
        levels = np.unique(np.clip(np.concatenate([levels, near, [low_w, high_w]]), low_w, high_w))
        first, second = np.meshgrid(levels, levels, indexing="ij")
        first, second = first.ravel(), second.ravel()
        powers = self._sequences(first, second)  # (candidates, horizon)
        hr = self._predict(powers)
        ref = self.set_point(control)
        err = hr - ref
        cost = np.where(err < 0, s.weight_below, s.weight_above) * err**2
        over = np.maximum(hr - control.target_high_bpm, 0.0)
        cost = cost.sum(axis=1) + s.weight_over_zone * (over**2).sum(axis=1)
        moves = np.abs(first - self.power_w) + np.abs(second - first)
        n_moves = (np.abs(first - self.power_w) >= s.deadband_w).astype(float) + (
            np.abs(second - first) >= s.deadband_w
        ).astype(float)
        cost += s.change_cost * n_moves + s.change_cost_per_w * moves
        # The level the heart settles at with the second power: judged beyond the horizon too.
        settle = np.asarray(self._steady(second), dtype=float) + self._offset - ref
        cost += (
            s.horizon_s * 0.25 * np.where(settle < 0, s.weight_below, s.weight_above) * settle**2
        )
        return float(first[int(np.argmin(cost))])

    def _sequences(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Each candidate's power per second, ramped by `max_step_w` per decision as sent."""
        s = self.settings
        horizon = s.horizon_s
        out = np.empty((len(first), horizon))
        level = np.full(len(first), self.power_w)
        for t in range(horizon):
            if t % s.decide_every_s == 0:
                goal = first if t < s.switch_s else second
                level = level + np.clip(goal - level, -s.max_step_w, s.max_step_w)
            out[:, t] = level
        return out

    def _predict(self, powers: np.ndarray) -> np.ndarray:
        """Heart rate per candidate and second: the felt powers first, then each plan's; the
        model's from where it is now, plus the offset."""
        assert self._model is not None
        past = np.array(list(self._felt)[1:], dtype=float)
        n, horizon = powers.shape
        felt = np.concatenate([np.tile(past, (n, 1)), powers], axis=1)[:, :horizon]
        steady = np.asarray(self._steady(felt), dtype=float)
        hr = np.empty((n, horizon))
        x = np.full(n, self._model)
        for t in range(horizon):
            x = x + self._k * (steady[:, t] - x)
            hr[:, t] = x
        return hr + self._offset


def controller_for(
    settings: MachineSettings, kinetics: KineticsParams | None, resting_hr: float
) -> PowerController:
    """Heart-rate mode's controller for this machine and person (`hr_controller`): the MPC
    with their learnt kinetics, or the PID while none are learnt; "mpc" without learnt
    kinetics uses an average rider's, "pid" always the PID."""
    start = min(settings.min_power_w, settings.max_power_w)
    choice = settings.hr_controller or ("mpc" if kinetics is not None else "pid")
    if choice == "pid":
        return PidPowerController(start_power_w=start)
    if kinetics is None:
        log.info("heart-rate mode: no learnt kinetics yet; the MPC starts from an average heart")
        kinetics = population_kinetics(resting_hr)
    return MpcPowerController(kinetics, start_power_w=start)
