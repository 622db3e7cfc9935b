"""Heart rate answering power: a person on a bike whose heart follows the watts asked of it.

The simulator in `firmware_bridge.simulator` drives heart rate from an effort plan; a machine
that the coach drives needs the other direction: power in, heart rate out, one second at a time,
so a controller can be run in a closed loop against it. The model is the first-order kinetics
measured on real rides (see shared/notes/effort.md): a steady state that rises linearly with
power, reached with a time constant after a short delay, plus slow cardiac drift while working
and a little beat-to-beat noise. Each person gets their own gain, time constant, delay and drift
(`random_rider`), because a controller tuned for one heart must hold all of them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from firmware_bridge.simulator import Athlete


@dataclass(frozen=True, slots=True)
class PowerResponse:
    """How one person's heart answers power on a bike."""

    athlete: Athlete
    #: Steady-state beats/min added per watt.
    gain_bpm_per_w: float
    #: Seconds for 63 % of a rise in heart rate; falls are faster (`recovery_factor`).
    time_constant_s: float
    #: Seconds before a change in power starts to move the heart.
    delay_s: int = 5
    #: Beats/min added per minute of work above 40 % of the person's cap (cardiac drift).
    drift_bpm_per_min: float = 0.3
    #: Standard deviation of the beat-to-beat noise, beats/min.
    noise_bpm: float = 1.0
    #: Falls run with time_constant_s * recovery_factor.
    recovery_factor: float = 0.8
    #: Heart rate seated on the bike, not pedalling, above resting.
    seated_bpm: float = 12.0

    def steady_hr(self, power_w: float) -> float:
        """Heart rate this power settles at (before drift), at most max_hr - 1."""
        hr = self.athlete.resting_hr + self.seated_bpm + self.gain_bpm_per_w * max(power_w, 0.0)
        return min(hr, self.athlete.max_hr - 1.0)

    def power_for(self, hr: float) -> float:
        """The power whose steady state is `hr` (before drift)."""
        return max(0.0, (hr - self.athlete.resting_hr - self.seated_bpm) / self.gain_bpm_per_w)


@dataclass
class SimulatedRider:
    """One person on a bike: `step(power_w)` advances a second and returns the heart rate."""

    response: PowerResponse
    seed: int = 0
    hr: float = field(init=False)
    _drift: float = field(init=False, default=0.0)
    _noise: float = field(init=False, default=0.0)
    _pending: deque[float] = field(init=False)
    _rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.hr = self.response.athlete.resting_hr + self.response.seated_bpm
        self._pending = deque([0.0] * max(self.response.delay_s, 0))
        self._rng = np.random.default_rng(self.seed)

    def step(self, power_w: float, dt: float = 1.0) -> float:
        """Pedal at `power_w` for `dt` seconds; the heart rate measured at the end of it."""
        response = self.response
        self._pending.append(float(power_w))
        felt = self._pending.popleft()
        target = response.steady_hr(felt) + self._drift
        tau = response.time_constant_s * (1.0 if target > self.hr else response.recovery_factor)
        self.hr += (target - self.hr) * (1.0 - math.exp(-dt / tau))
        working = felt - 0.4 * response.power_for(response.athlete.max_hr)
        if working > 0:
            self._drift += response.drift_bpm_per_min * dt / 60.0
        else:
            self._drift = max(0.0, self._drift - response.drift_bpm_per_min * dt / 60.0)
        # AR(1) noise: beat-to-beat wander, not white noise on every second.
        self._noise = 0.8 * self._noise + self._rng.normal(0.0, response.noise_bpm * 0.6)
        measured = self.hr + self._noise
        return float(min(max(measured, response.athlete.resting_hr - 5.0), response.athlete.max_hr))


def random_rider(rng: np.random.Generator, athlete: Athlete) -> PowerResponse:
    """A plausible person's kinetics: gain 0.2-0.5 bpm/W, time constant 25-75 s, delay 3-10 s.

    Fitter people get a lower gain (more watts per beat) and a faster heart.
    """
    fitness = athlete.fitness
    gain = float(np.clip(0.45 - 0.22 * fitness + rng.normal(0.0, 0.04), 0.18, 0.55))
    tau = float(np.clip(65.0 - 30.0 * fitness + rng.normal(0.0, 8.0), 25.0, 80.0))
    delay = int(rng.integers(3, 11))
    drift = float(np.clip(rng.normal(0.35 - 0.2 * fitness, 0.08), 0.05, 0.6))
    noise = float(rng.uniform(0.6, 1.6))
    return PowerResponse(athlete, gain, tau, delay, drift, noise)
