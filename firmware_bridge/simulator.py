"""A physiological workout simulator: what a heart-rate band and a stride sensor would report.

Used by the demo, by tests and by the export stage to make training data. Pure and deterministic:
the same plan, athlete and seed give the same seconds, bit for bit.

The model, per simulated second:

* **Target.** Each segment asks for a fraction of heart-rate reserve (Karvonen); the steady-state
  target is ``resting + intensity x (max - resting)``, capped just under max (`target_hr`). This
  is what the export stage uses as "expected heart rate for the current effort".
* **Kinetics.** Heart rate follows the target with a first-order response: a time constant of
  about 60 s for an unfit athlete and 30 s for a fit one on the way up, and a slower one (x1.4 to
  x1.8) on the way down. Efforts above ~80 % of reserve add a slow component (a few bpm over
  minutes), as real hearts do above threshold.
* **Drift.** Long efforts above ~45 % of reserve accumulate cardiac drift (~10-20 bpm an hour at
  moderate to hard efforts, less when fit), which fades slowly at rest.
* **Variability.** A physiological wander (AR(1) over ~30 s, ~1.5 bpm, more with
  ``variability``), beat-to-beat RR intervals with
  HRV that shrinks as heart rate climbs (RMSSD ~40 ms at rest, a few ms near max) and a
  respiratory rhythm; each beat lands in the second it falls in, so a second carries 0 to 4 RR
  values (usually 1 to 3) whose mean agrees with the heart rate.
* **Sensor.** The reported bpm is the true value plus an error of standard deviation
  ``noise_bpm`` that is correlated over a few seconds (bands average over several beats), rounded
  to a whole beat as bands report it. ``dropout_rate`` is the average fraction of seconds lost,
  lost in bursts of 1 to ~10 s: ``hr_bpm`` is None, no RR values, and ``contact`` is False.
* **Stride.** Walking 100-120 spm at 1.1-1.9 m/s, running 150-180 spm at 2.2-5.5 m/s, cycling
  70-95 rpm (reported in ``cadence_spm``) at 5-11 m/s; rest and strength report zero cadence
  and speed. Cadence and speed follow the effort within a few seconds and carry small noise.

Strength segments alternate sets (40 s at the segment's intensity) with 60 s rests at a third of
it; ``SimulatedSecond.intensity`` is always the effort of that second (with ``variability``,
including hills and pacing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ACTIVITIES",
    "CLIMB_WORKOUT",
    "DEMO_ATHLETE",
    "DEMO_WORKOUT",
    "MORNING_REST",
    "WORKOUTS",
    "Athlete",
    "Segment",
    "SimulatedSecond",
    "WorkoutPlan",
    "random_athlete",
    "random_plan",
    "simulate",
    "target_hr",
]

ACTIVITIES = ("rest", "walk", "run", "cycle", "strength")

#: Strength training: seconds of work, then seconds of rest, repeated through the segment.
_SET_WORK_S = 40
_SET_REST_S = 60


@dataclass(frozen=True, slots=True)
class Athlete:
    age: int
    resting_hr: float
    max_hr: float
    #: 0..1: fitter means faster heart-rate kinetics and less cardiac drift.
    fitness: float

    @property
    def heart_rate_reserve(self) -> float:
        return self.max_hr - self.resting_hr


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    duration_s: int
    #: One of ACTIVITIES: "rest", "walk", "run", "cycle", "strength".
    activity: str
    #: Target fraction of heart-rate reserve, 0..1.1 (above 1 drives heart rate to max quickly).
    intensity: float

    def __post_init__(self) -> None:
        if self.activity not in ACTIVITIES:
            raise ValueError(f"unknown activity {self.activity!r}; use one of {ACTIVITIES}")
        if self.duration_s <= 0:
            raise ValueError(f"segment {self.name!r}: duration_s must be positive")
        if not 0.0 <= self.intensity <= 1.1:
            raise ValueError(f"segment {self.name!r}: intensity must be within 0..1.1")


@dataclass(frozen=True, slots=True)
class WorkoutPlan:
    name: str
    segments: tuple[Segment, ...]

    @property
    def duration_s(self) -> int:
        return sum(s.duration_s for s in self.segments)


@dataclass(frozen=True, slots=True)
class SimulatedSecond:
    t: int
    #: None when the sensor lost the signal this second (dropout).
    hr_bpm: float | None
    rr_intervals_s: tuple[float, ...]
    #: Steps per minute for walking and running, crank rpm for cycling, 0 otherwise.
    cadence_spm: float
    speed_mps: float
    distance_m: float
    contact: bool
    segment: str
    #: The effort asked for in this second, as a fraction of heart-rate reserve.
    intensity: float


def target_hr(athlete: Athlete, intensity: float) -> float:
    """Steady-state heart rate for an effort, without noise, drift or kinetics (Karvonen)."""
    hr = athlete.resting_hr + intensity * athlete.heart_rate_reserve
    return float(min(hr, athlete.max_hr - 1.0))


def _stride_targets(activity: str, intensity: float, fitness: float) -> tuple[float, float]:
    """(cadence, speed) a person settles at for this activity and effort."""
    x = min(max(intensity, 0.0), 1.1)
    if activity == "walk":
        u = min(max((x - 0.1) / 0.45, 0.0), 1.0)
        return 100.0 + 20.0 * u, 1.1 + 0.8 * u
    if activity == "run":
        u = min(max((x - 0.45) / 0.6, 0.0), 1.0)
        return 150.0 + 30.0 * u, (2.2 + 2.6 * u) * (0.85 + 0.3 * fitness)
    if activity == "cycle":
        u = min(max((x - 0.2) / 0.85, 0.0), 1.0)
        return 70.0 + 25.0 * u, (5.0 + 5.0 * u) * (0.9 + 0.2 * fitness)
    return 0.0, 0.0


def _segment_intensity(segment: Segment, t_in_segment: int) -> float:
    if segment.activity != "strength":
        return segment.intensity
    in_set = (t_in_segment % (_SET_WORK_S + _SET_REST_S)) < _SET_WORK_S
    return segment.intensity if in_set else segment.intensity / 3.0


def simulate(
    plan: WorkoutPlan,
    athlete: Athlete,
    *,
    seed: int = 0,
    noise_bpm: float = 1.0,
    dropout_rate: float = 0.0,
    variability: float = 0.0,
) -> list[SimulatedSecond]:
    """Simulate `plan` for `athlete`, one `SimulatedSecond` per second, deterministic in `seed`.

    `variability` (0 = the plan exactly) adds terrain and pacing: the effort wanders around the
    segment's intensity with that standard deviation (fraction of reserve; 70 % of the variance
    changing over ~20 s, 30 % over ~2.5 min), and uphill (more effort) is slower, as outdoors;
    heart rate also wanders more (by 25 x `variability` bpm) without any change in effort.
    """
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError("dropout_rate must be within 0..1 (exclusive)")
    if noise_bpm < 0 or variability < 0:
        raise ValueError("noise_bpm and variability must not be negative")
    rng = np.random.default_rng(seed)
    rest, hr_max, fit = athlete.resting_hr, athlete.max_hr, min(max(athlete.fitness, 0.0), 1.0)
    reserve = hr_max - rest

    tau_up = 60.0 - 30.0 * fit
    tau_down = tau_up * (1.8 - 0.4 * fit)
    drift_per_s = (15.0 - 8.0 * fit) / 3600.0  # bpm per second of sustained effort
    drift_max = 20.0 - 8.0 * fit

    hr = rest + rng.normal(0.0, 2.0)
    slow = 0.0  # slow component above threshold, bpm
    drift = 0.0  # cardiac drift, bpm
    wander = 0.0  # AR(1) physiological wander, bpm: breathing, posture, heat, stride
    wander_a = math.exp(-1.0 / 30.0)
    wander_sd = (1.5 + 25.0 * variability) * math.sqrt(1.0 - wander_a**2)
    # Effort changes from hills and pacing (fraction of reserve): a quick and a slow AR(1).
    hills = [0.0, 0.0]
    hills_a = (math.exp(-1.0 / 20.0), math.exp(-1.0 / 150.0))
    hills_sd = tuple(
        variability * math.sqrt((1.0 - a**2) * w) for a, w in zip(hills_a, (0.7, 0.3), strict=True)
    )
    sensor = 0.0  # AR(1) sensor error: bands average over a few beats
    sensor_a = 0.6
    sensor_sd = noise_bpm * math.sqrt(1.0 - sensor_a**2)
    cadence = speed = distance = 0.0
    resp_phase = rng.uniform(0.0, 2.0 * math.pi)
    last_beat = -rng.uniform(0.0, 60.0 / hr)
    next_beat = last_beat + 60.0 / hr
    dropout_left = 0
    mean_burst = 4.0
    p_start = dropout_rate / (mean_burst * (1.0 - dropout_rate)) if dropout_rate > 0 else 0.0

    out: list[SimulatedSecond] = []
    t = 0
    for segment in plan.segments:
        for k in range(segment.duration_s):
            planned = _segment_intensity(segment, k)
            draws = rng.normal(size=2)
            for j in range(2):
                hills[j] = hills_a[j] * hills[j] + hills_sd[j] * draws[j]
            terrain = hills[0] + hills[1]
            hill = terrain if segment.activity != "rest" else 0.3 * terrain
            intensity = float(min(max(planned + hill, 0.0), 1.1))
            target = target_hr(athlete, intensity)
            # Supra-maximal efforts drive heart rate towards max faster.
            overdrive = max(intensity - 1.0, 0.0) * reserve
            slow_target = max(intensity - 0.8, 0.0) * 0.25 * reserve * (1.0 - 0.5 * fit)
            slow += (slow_target - slow) / 120.0
            if intensity > 0.45:
                drift += drift_per_s * min((intensity - 0.4) / 0.3, 1.5)
            else:
                drift -= drift / 300.0
            drift = min(drift, drift_max)
            goal = min(target + slow + drift + overdrive, hr_max)
            tau = tau_up if goal > hr else tau_down
            hr += (goal - hr) * (1.0 - math.exp(-1.0 / tau))
            wander = wander_a * wander + wander_sd * rng.normal()
            hr_true = min(max(hr + wander, rest - 4.0), hr_max)

            # Beats of this second, with HRV shrinking as the heart works harder.
            frac = min(max((hr_true - rest) / reserve, 0.0), 1.0)
            rr_sd = 0.004 + 0.035 * (1.0 - frac) ** 2
            # Each beat reports the interval since the previous one.
            rr_list: list[float] = []
            while next_beat < t + 1:
                rr_list.append(round(float(next_beat - last_beat), 4))
                last_beat = next_beat
                resp_phase += 2.0 * math.pi * (0.25 + 0.25 * frac) * (60.0 / hr_true)
                rr = 60.0 / hr_true * (1.0 + 0.5 * rr_sd * math.sin(resp_phase))
                rr += rng.normal(0.0, rr_sd * 0.6)
                next_beat += min(max(rr, 0.25), 2.0)

            # Stride, with a few seconds of response and small noise.
            cad_goal, speed_goal = _stride_targets(segment.activity, planned, fit)
            cad_goal *= 1.0 - 0.3 * hill
            speed_goal *= min(max(1.0 - 1.5 * hill, 0.3), 1.7)
            cadence += (cad_goal - cadence) * 0.3
            speed += (speed_goal - speed) * 0.25
            cad_out = max(cadence + rng.normal(0.0, 1.5), 0.0) if cad_goal > 0 else 0.0
            speed_out = max(speed + rng.normal(0.0, 0.05), 0.0) if speed_goal > 0 else 0.0
            if cad_goal == 0.0:
                cadence = cadence * 0.5 if cadence > 1.0 else 0.0
            if speed_goal == 0.0:
                speed = speed * 0.6 if speed > 0.05 else 0.0
            distance += speed_out

            # The sensor: noise, rounding, and dropouts in bursts.
            sensor = sensor_a * sensor + sensor_sd * rng.normal()
            measured = hr_true + sensor
            lost_draw = rng.random()
            burst_draw = rng.geometric(1.0 / mean_burst)
            if dropout_left == 0 and p_start > 0 and lost_draw < p_start:
                dropout_left = int(min(burst_draw, 12))
            lost = dropout_left > 0
            if lost:
                dropout_left -= 1
            out.append(
                SimulatedSecond(
                    t=t,
                    hr_bpm=None if lost else float(round(measured)),
                    rr_intervals_s=() if lost else tuple(rr_list),
                    cadence_spm=round(float(cad_out), 1),
                    speed_mps=round(float(speed_out), 3),
                    distance_m=round(float(distance), 2),
                    contact=not lost,
                    segment=segment.name,
                    intensity=intensity,
                )
            )
            t += 1
    return out


def random_athlete(rng: np.random.Generator) -> Athlete:
    """A plausible adult: age 18-70, max HR around Tanaka's estimate, fitter means lower rest."""
    age = int(rng.integers(18, 71))
    fitness = float(rng.beta(2.0, 2.0))
    max_hr = float(np.clip(208.0 - 0.7 * age + rng.normal(0.0, 7.0), 150.0, 210.0))
    resting = float(np.clip(72.0 - 22.0 * fitness + rng.normal(0.0, 5.0), 42.0, 85.0))
    return Athlete(age=age, resting_hr=round(resting, 1), max_hr=round(max_hr, 1), fitness=fitness)


def _seg(rng: np.random.Generator, name: str, activity: str, lo: int, hi: int, x: float) -> Segment:
    duration = int(rng.integers(lo, hi + 1))
    return Segment(name, duration, activity, float(np.clip(x, 0.0, 1.1)))


def random_plan(rng: np.random.Generator) -> WorkoutPlan:
    """A varied workout for training data: walks, runs, rides, intervals, races, strength..."""
    kind = str(
        rng.choice(
            [
                "walk",
                "run",
                "cycle",
                "run_intervals",
                "cycle_intervals",
                "strength",
                "mixed",
                "race",
            ],
            p=[0.11, 0.18, 0.16, 0.14, 0.11, 0.1, 0.1, 0.1],
        )
    )
    u = rng.uniform
    segs: list[Segment] = []
    if rng.random() < 0.5:
        segs.append(_seg(rng, "settle", "rest", 20, 120, u(0.0, 0.08)))
    if kind == "walk":
        for i in range(int(rng.integers(1, 4))):
            segs.append(_seg(rng, f"walk {i + 1}", "walk", 180, 900, u(0.2, 0.5)))
    elif kind in ("run", "cycle"):
        act = kind
        segs.append(
            _seg(rng, "warm-up", act if rng.random() < 0.6 else "walk", 120, 480, u(0.3, 0.55))
        )
        for i in range(int(rng.integers(1, 4))):
            segs.append(_seg(rng, f"steady {i + 1}", act, 300, 1500, u(0.5, 0.9)))
        segs.append(_seg(rng, "cool-down", "walk" if act == "run" else act, 120, 420, u(0.2, 0.4)))
    elif kind == "race":
        act = str(rng.choice(["run", "cycle"]))
        segs.append(_seg(rng, "warm-up", act, 300, 900, u(0.35, 0.6)))
        segs.append(_seg(rng, "race", act, 900, 3600, u(0.78, 0.97)))
        segs.append(
            _seg(rng, "cool-down", "walk" if act == "run" else act, 120, 600, u(0.15, 0.35))
        )
    elif kind in ("run_intervals", "cycle_intervals"):
        act = "run" if kind == "run_intervals" else "cycle"
        segs.append(_seg(rng, "warm-up", act, 180, 480, u(0.35, 0.6)))
        reps = int(rng.integers(3, 9))
        on_s = (int(rng.integers(20, 60)), int(rng.integers(60, 300)))
        off_s = (int(rng.integers(30, 90)), int(rng.integers(90, 240)))
        hard, easy = u(0.8, 1.1), u(0.15, 0.45)
        for i in range(reps):
            segs.append(_seg(rng, f"rep {i + 1}", act, *on_s, hard + rng.normal(0, 0.03)))
            recover = "walk" if act == "run" and rng.random() < 0.5 else act
            segs.append(_seg(rng, f"recover {i + 1}", recover, *off_s, easy))
        segs.append(_seg(rng, "cool-down", "walk" if act == "run" else act, 120, 360, u(0.2, 0.4)))
    elif kind == "strength":
        segs.append(_seg(rng, "warm-up", str(rng.choice(["walk", "cycle"])), 180, 420, u(0.3, 0.5)))
        for i in range(int(rng.integers(2, 5))):
            segs.append(_seg(rng, f"block {i + 1}", "strength", 300, 700, u(0.45, 0.85)))
            if rng.random() < 0.4:
                segs.append(_seg(rng, f"break {i + 1}", "rest", 30, 180, u(0.0, 0.1)))
    else:  # mixed: a random walk through activities and efforts
        for i in range(int(rng.integers(4, 10))):
            act = str(
                rng.choice(
                    ["walk", "run", "cycle", "rest", "strength"], p=[0.3, 0.3, 0.2, 0.1, 0.1]
                )
            )
            x = {
                "walk": u(0.15, 0.5),
                "run": u(0.45, 1.05),
                "cycle": u(0.3, 1.05),
                "rest": u(0.0, 0.1),
                "strength": u(0.4, 0.85),
            }[act]
            segs.append(_seg(rng, f"{act} {i + 1}", act, 45, 600, x))
    if rng.random() < 0.4:
        segs.append(_seg(rng, "recover", "rest", 60, 240, u(0.0, 0.08)))
    return WorkoutPlan(name=kind, segments=tuple(segs))


#: A 35-year-old recreational runner.
DEMO_ATHLETE = Athlete(age=35, resting_hr=58.0, max_hr=187.0, fitness=0.6)

#: Six minutes: warm-up in zones 1-2, a hard section through zone 4 into zone 5 (briefly above
#: 90 % of heart-rate reserve), then a cool-down walk.
DEMO_WORKOUT = WorkoutPlan(
    name="demo intervals",
    segments=(
        Segment("warm-up walk", 45, "walk", 0.5),
        Segment("warm-up jog", 60, "run", 0.7),
        Segment("tempo", 75, "run", 0.88),
        Segment("sprint", 60, "run", 1.1),
        Segment("cool-down", 120, "walk", 0.3),
    ),
)

#: Six minutes: a warm-up walk, then straight into a hard run (above 100 % of reserve asked,
#: as a sprint up a long hill) held for over two minutes, then a cool-down walk. The climb is
#: sharp and sustained, so heart rate crosses into zone 5 about a minute and a half into it:
#: what the coach's forecast-overshoot warning is for (the end-to-end daemon test plays it).
CLIMB_WORKOUT = WorkoutPlan(
    name="sharp climb",
    segments=(
        Segment("warm-up walk", 60, "walk", 0.35),
        Segment("hard climb", 130, "run", 1.1),
        Segment("cool-down walk", 170, "walk", 0.3),
    ),
)

#: A morning resting reading (`edgecoach morning` on a simulated or virtual band): lying still.
MORNING_REST = WorkoutPlan(
    name="morning rest",
    segments=(Segment("lying still", 150, "rest", 0.0),),
)

#: The built-in workouts by the names settings use (`[daemon] workout`).
WORKOUTS: dict[str, WorkoutPlan] = {
    "demo": DEMO_WORKOUT,
    "climb": CLIMB_WORKOUT,
    "morning": MORNING_REST,
}
