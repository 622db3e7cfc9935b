"""Holding a heart rate in a zone by setting a bike's power: the controllers.

A controller is pure: one second's heart rate and target in, the power to ask of the machine
out. It never talks to a machine and never decides safety; `edge.coach.machine_coach` wraps it,
clamps what it says to the person's cap and step limits, and releases the machine on a safety
cue. The `PowerController` protocol is what a controller must offer, so that a model-predictive
one (the health model's forecast of where the heart is going) can sit beside the PID.

The PID. Heart rate answers power like a first-order system with a delay (a time constant of
25-75 s, a few seconds' delay, a gain of 0.2-0.5 bpm/W; shared/notes/effort.md): a proportional
term on its own leaves an offset that drifts with cardiac drift, so an integral term removes it,
and the derivative acts on the measured heart rate (not on the error) so a new target does not
kick the power. What makes it fit a person rather than a tank:

* the set point sits in the lower half of the zone: overshooting above a zone costs more than
  sitting near its floor, and the heart keeps rising for a while after power stops rising;
* anti-windup by conditional integration: while the output is held at a limit (the cap, the
  floor, the step limit), the integral does not grow in the direction that pushes further into
  it; and it is bounded;
* a rate limit: at most `max_step_w` per change and a change at most every `min_interval_s`;
  changes smaller than `deadband_w` are not sent (a person feels every change of resistance,
  and an ERG trainer needs a few seconds to settle on a new target);
* a heart rate that is missing holds the last power (the coach releases the machine if the
  signal stays lost); a new zone re-centres the set point without resetting the integral.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ControlInput", "PidPowerController", "PidSettings", "PowerController"]


@dataclass(frozen=True, slots=True)
class ControlInput:
    """One second for a controller: where the heart is and where it should be."""

    t: int
    #: None when the band gave no believable reading this second.
    hr_bpm: float | None
    target_low_bpm: float
    target_high_bpm: float
    #: The power the machine measures now, if it reports one (for a model-based controller;
    #: the PID works from what it asked for).
    power_w: float | None = None
    #: The highest power the controller may ask for (the person's cap, already applied).
    max_power_w: float = 400.0
    min_power_w: float = 40.0


class PowerController(Protocol):
    """What the machine coach needs from a heart-rate controller."""

    def reset(self, power_w: float, t: int) -> None:
        """Start (or restart, after the person overrode) from the power the machine holds."""
        ...

    def update(self, control: ControlInput) -> float:
        """The power to hold from this second on (it may equal the last one)."""
        ...


@dataclass(frozen=True, slots=True)
class PidSettings:
    """Tuned on `bench/hr_control.py`'s 50 simulated riders (gain 0.2-0.5 bpm/W, tau 25-75 s)."""

    #: Watts per beat/min of error.
    kp_w_per_bpm: float = 3.0
    #: Watts per beat/min of error per second (integral time = kp / ki seconds).
    ki_w_per_bpm_s: float = 0.035
    #: Watts per beat/min/s of heart-rate slope (on the measurement, filtered).
    kd_w_per_bpm_per_s: float = 10.0
    #: Seconds of the slope filter (a first-order low-pass on the derivative).
    derivative_filter_s: float = 10.0
    #: Where in the zone the set point sits: 0 = its floor, 1 = its top.
    set_point_fraction: float = 0.4
    #: Largest change of power in one step.
    max_step_w: float = 20.0
    #: Shortest time between two changes of power.
    min_interval_s: int = 10
    #: Changes smaller than this are not made.
    deadband_w: float = 10.0
    #: Bound on the integral term's contribution, watts.
    integral_limit_w: float = 250.0

    def __post_init__(self) -> None:
        for name in (
            "kp_w_per_bpm",
            "ki_w_per_bpm_s",
            "kd_w_per_bpm_per_s",
            "max_step_w",
            "deadband_w",
            "integral_limit_w",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"PID {name} must be a finite number >= 0, got {value!r}")
        if not 0.0 <= self.set_point_fraction <= 1.0:
            raise ValueError("PID set_point_fraction must be within 0..1")
        if self.max_step_w <= 0 or self.min_interval_s < 1:
            raise ValueError("PID max_step_w must be > 0 and min_interval_s >= 1")


class PidPowerController:
    """The PID of the module docstring: `update` once a second."""

    def __init__(
        self, settings: PidSettings | None = None, *, start_power_w: float = 100.0, t: int = 0
    ) -> None:
        self.settings = settings or PidSettings()
        self.reset(start_power_w, t)

    def reset(self, power_w: float, t: int) -> None:
        self.power_w = float(power_w)
        # Bumpless: the integral starts at the power held, so the first output is no jump.
        self._integral_w = float(power_w)
        self._last_change_t = t
        self._last_hr: float | None = None
        self._last_hr_t: int | None = None
        self._slope = 0.0

    def set_point(self, control: ControlInput) -> float:
        low, high = control.target_low_bpm, control.target_high_bpm
        return low + self.settings.set_point_fraction * (high - low)

    def update(self, control: ControlInput) -> float:
        s = self.settings
        if control.hr_bpm is None:
            self._last_hr = None
            return self.power_w
        hr = float(control.hr_bpm)
        error = self.set_point(control) - hr
        if (
            self._last_hr is not None
            and self._last_hr_t is not None
            and control.t > self._last_hr_t
        ):
            raw = (hr - self._last_hr) / (control.t - self._last_hr_t)
            alpha = 1.0 / (1.0 + s.derivative_filter_s)
            self._slope += alpha * (raw - self._slope)
        self._last_hr, self._last_hr_t = hr, control.t

        proportional = s.kp_w_per_bpm * error
        derivative = -s.kd_w_per_bpm_per_s * self._slope
        candidate_integral = self._integral_w + s.ki_w_per_bpm_s * error
        unclamped = proportional + candidate_integral + derivative
        low, high = control.min_power_w, control.max_power_w
        pushing_up = unclamped > high and error > 0
        pushing_down = unclamped < low and error < 0
        if not (pushing_up or pushing_down):  # conditional integration: no windup at a limit
            self._integral_w = min(
                max(candidate_integral, low - s.integral_limit_w), high + s.integral_limit_w
            )
        wanted = min(max(proportional + self._integral_w + derivative, low), high)

        if control.t - self._last_change_t < s.min_interval_s:
            return self.power_w
        change = wanted - self.power_w
        if abs(change) < s.deadband_w and low <= self.power_w <= high:
            return self.power_w
        change = max(-s.max_step_w, min(s.max_step_w, change))
        self.power_w = min(max(self.power_w + change, low), high)
        self._last_change_t = control.t
        return self.power_w
