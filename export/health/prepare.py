"""Stage 1: simulate workouts and cut them into training windows.

Output: ``windows.npz`` with, per split (train / val / test, split by workout so no workout leaks
across), ``x_<split>`` (N, WINDOW_S, n_features) raw windows from `edge.health.features`,
``target_<split>`` (N, 4) heart rate in bpm at +10/+30/+60 s (as the band reported it) and the
simulator's steady-state heart rate for the current effort, ``mask_<split>`` (N, 4) false where a
target is unknown (a dropout at that second), and ``workout_<split>`` (N,) workout ids.

Variety on purpose, so that the network does not learn the simulator's tidiness: random
athletes and plans; hills and pacing (the effort wanders while speed does the opposite); speed
scaled 0.6-1.5x and cadence shifted per workout (other people, bikes, wind); sensor noise
0.2-1.5 bpm; dropouts in 40 % of workouts; 45 % without a full stride sensor (heart rate only,
speed only, cadence only, or a cadence that reads 0); GPS-like speed wobble and spikes, cadence
jitter and drops to 0; 15 % recorded "smart" (a reading every
1-6 s, gaps between, as FIT files from watches); and profiles as people fill them in: 45 %
roughly right, 30 % age and a guessed resting HR (max from age), 25 % left at the defaults.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.health.features import (
    FEATURE_NAMES,
    HORIZONS_S,
    OUTPUT_NAMES,
    WINDOW_S,
    build_windows,
    first_hr_index,
)
from edge.profile import Profile
from edge.stream.readings import AlignedSample
from export.health._stage import WINDOWS_FILE, stopwatch, write_meta
from firmware_bridge.simulator import (
    Athlete,
    random_athlete,
    random_plan,
    simulate,
    target_hr,
    to_aligned,
)

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, slots=True)
class PrepareSettings:
    #: Workouts to simulate, all splits together.
    n_workouts: int = 320
    #: Seconds between the ends of consecutive windows cut from one workout.
    stride_s: int = 12
    #: Workouts longer than this are cut short (seconds).
    max_duration_s: int = 2700


QUICK = PrepareSettings(n_workouts=24, stride_s=20, max_duration_s=900)


def split_of(workout: int) -> str:
    """Deterministic split by workout: 75 % train, 10 % val, 15 % test."""
    r = workout % 20
    return "train" if r < 15 else ("val" if r < 17 else "test")


def _stride_noise(samples: list[AlignedSample], rng: np.random.Generator) -> list[AlignedSample]:
    """Real stride data is messy: GPS speed wobbles and spikes, cadence jitters and drops to 0."""
    n = len(samples)
    speed_sd, cadence_sd = float(rng.uniform(0.0, 0.3)), float(rng.uniform(0.0, 10.0))
    a = float(np.exp(-1.0 / 8.0))
    wobble = np.zeros(n)
    draws = rng.normal(size=n) * speed_sd * np.sqrt(1.0 - a * a)
    for i in range(1, n):
        wobble[i] = a * wobble[i - 1] + draws[i]
    factor = np.exp(wobble)
    spikes = rng.random(n) < 0.005
    factor[spikes] *= rng.uniform(0.0, 3.0, size=int(spikes.sum()))
    jitter = rng.normal(size=n) * cadence_sd
    zero = np.zeros(n, dtype=bool)
    for start in np.flatnonzero(rng.random(n) < 0.01):
        zero[start : start + int(rng.integers(2, 11))] = True
    out = []
    for i, s in enumerate(samples):
        cadence = s.cadence_spm
        if cadence is not None and cadence > 0:
            cadence = 0.0 if zero[i] else max(round(cadence + jitter[i], 1), 0.0)
        speed = None if s.speed_mps is None else round(s.speed_mps * float(factor[i]), 3)
        out.append(replace(s, cadence_spm=cadence, speed_mps=speed))
    return out


def _sensor_variant(samples: list[AlignedSample], variant: str) -> list[AlignedSample]:
    if variant == "full":
        return samples
    drop_cadence = variant in ("hr_only", "speed_only")
    drop_speed = variant in ("hr_only", "cadence_only", "cadence_zero")
    return [
        replace(
            s,
            cadence_spm=None
            if drop_cadence
            else (0.0 if variant == "cadence_zero" else s.cadence_spm),
            steps=None if drop_cadence else s.steps,
            speed_mps=None if drop_speed else s.speed_mps,
            distance_m=None if drop_speed else s.distance_m,
        )
        for s in samples
    ]


def _rescale_stride(
    samples: list[AlignedSample], speed_scale: float, cadence_shift: float
) -> list[AlignedSample]:
    """Other people, bikes, hills and wind: the same effort at other speeds and cadences."""
    return [
        replace(
            s,
            speed_mps=None if s.speed_mps is None else round(s.speed_mps * speed_scale, 3),
            cadence_spm=(
                None
                if s.cadence_spm is None
                else (max(s.cadence_spm + cadence_shift, 0.0) if s.cadence_spm > 0 else 0.0)
            ),
        )
        for s in samples
    ]


def _smart_recording(samples: list[AlignedSample], rng: np.random.Generator) -> list[AlignedSample]:
    """Keep a reading every 1-6 s, as watches that record "smart" do; the rest become gaps."""
    keep = np.zeros(len(samples), dtype=bool)
    t = 0
    while t < len(samples):
        keep[t] = True
        t += int(rng.integers(1, 7))
    return [
        s
        if keep[i]
        else AlignedSample(
            t=s.t,
            hr_bpm=None,
            rr_intervals_s=(),
            cadence_spm=None,
            speed_mps=None,
            distance_m=None,
            steps=None,
            contact=None,
            hr_gap=True,
        )
        for i, s in enumerate(samples)
    ]


def _profile(rng: np.random.Generator, index: int, athlete: Athlete) -> Profile:
    """What the person typed in: sometimes exact, often rough, sometimes nothing at all."""
    kind = rng.choice(["known", "age_only", "default"], p=[0.45, 0.3, 0.25])
    if kind == "default":
        return Profile(name=f"sim{index}")
    if kind == "age_only":
        return Profile(
            name=f"sim{index}",
            age=athlete.age,
            resting_hr=round(athlete.resting_hr + float(rng.normal(0.0, 6.0))),
        )
    return Profile(
        name=f"sim{index}",
        age=athlete.age,
        resting_hr=round(athlete.resting_hr + float(rng.normal(0.0, 3.0))),
        max_hr=round(athlete.max_hr + float(rng.normal(0.0, 3.0))),
    )


def simulate_workout(seed: int, index: int, max_duration_s: int) -> dict[str, Any]:
    """One training workout: aligned samples, the profile the person entered, the targets."""
    rng = np.random.default_rng([seed, index])
    athlete = random_athlete(rng)
    plan = random_plan(rng)
    noise = float(rng.uniform(0.2, 1.5))
    dropout = float(rng.uniform(0.01, 0.08)) if rng.random() < 0.4 else 0.0
    variability = float(rng.uniform(0.02, 0.16)) if rng.random() < 0.8 else 0.0
    seconds = simulate(
        plan,
        athlete,
        seed=int(rng.integers(2**31)),
        noise_bpm=noise,
        dropout_rate=dropout,
        variability=variability,
    )[:max_duration_s]
    variant = str(
        rng.choice(
            ["full", "hr_only", "speed_only", "cadence_only", "cadence_zero"],
            p=[0.55, 0.2, 0.1, 0.05, 0.1],
        )
    )
    samples = _rescale_stride(
        to_aligned(seconds), float(np.exp(rng.uniform(-0.5, 0.4))), float(rng.normal(0.0, 6.0))
    )
    samples = _sensor_variant(_stride_noise(samples, rng), variant)
    smart = bool(rng.random() < 0.15)
    if smart:
        samples = _smart_recording(samples, rng)
    profile = _profile(rng, index, athlete)
    hr = np.array([np.nan if s.hr_bpm is None else s.hr_bpm for s in samples])
    expected = np.array([target_hr(athlete, s.intensity) for s in seconds])
    return {
        "samples": samples,
        "profile": profile,
        "hr": hr,
        "expected": expected,
        "kind": plan.name,
        "variant": variant + (" smart" if smart else ""),
        "offset": int(rng.integers(0, 1 << 16)),
    }


def workout_windows(workout: dict[str, Any], stride_s: int) -> tuple[np.ndarray, ...]:
    """(x, target, mask) for one simulated workout, windows every `stride_s` seconds."""
    samples = workout["samples"]
    first = first_hr_index(samples)
    last_end = len(samples) - 1 - max(HORIZONS_S)
    if first is None or last_end < first:
        empty = np.zeros((0, WINDOW_S, len(FEATURE_NAMES)), np.float32)
        return (
            empty,
            np.zeros((0, len(OUTPUT_NAMES)), np.float32),
            np.zeros((0, len(OUTPUT_NAMES)), bool),
        )
    start = first + workout["offset"] % stride_s
    ends = np.arange(start, last_end + 1, stride_s)
    x = build_windows(samples, workout["profile"], ends.tolist())
    hr, expected = workout["hr"], workout["expected"]
    target = np.stack([hr[ends + h] for h in HORIZONS_S] + [expected[ends]], axis=1)
    mask = ~np.isnan(target)
    return x, np.nan_to_num(target).astype(np.float32), mask


def prepare(out_dir: Path, *, seed: int = 0, settings: PrepareSettings | None = None) -> Path:
    """Simulate, cut windows, write ``out_dir/windows.npz`` and its meta; return its path."""
    settings = settings or PrepareSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / WINDOWS_FILE
    with stopwatch() as took:
        parts: dict[str, dict[str, list[np.ndarray]]] = {
            s: {"x": [], "target": [], "mask": [], "workout": []} for s in SPLITS
        }
        kinds: dict[str, int] = {}
        variants: dict[str, int] = {}
        seconds = 0
        for i in range(settings.n_workouts):
            workout = simulate_workout(seed, i, settings.max_duration_s)
            seconds += len(workout["samples"])
            kinds[workout["kind"]] = kinds.get(workout["kind"], 0) + 1
            variants[workout["variant"]] = variants.get(workout["variant"], 0) + 1
            x, target, mask = workout_windows(workout, settings.stride_s)
            part = parts[split_of(i)]
            part["x"].append(x)
            part["target"].append(target)
            part["mask"].append(mask)
            part["workout"].append(np.full(len(x), i, dtype=np.int32))
        arrays: dict[str, np.ndarray] = {}
        for split, part in parts.items():
            arrays[f"x_{split}"] = np.concatenate(part["x"]).astype(np.float32)
            arrays[f"target_{split}"] = np.concatenate(part["target"]).astype(np.float32)
            arrays[f"mask_{split}"] = np.concatenate(part["mask"]).astype(bool)
            arrays[f"workout_{split}"] = np.concatenate(part["workout"])
        arrays["feature_names"] = np.array(FEATURE_NAMES)
        arrays["output_names"] = np.array(OUTPUT_NAMES)
        tmp = out_dir / (WINDOWS_FILE + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(output)
    sizes = {f"windows_{s}": len(arrays[f"x_{s}"]) for s in SPLITS}
    sizes.update(
        workouts=settings.n_workouts,
        simulated_seconds=seconds,
        window_s=WINDOW_S,
        n_features=len(FEATURE_NAMES),
    )
    write_meta(
        output,
        stage="prepare",
        inputs={"simulator": "firmware_bridge.simulator", "features": "edge.health.features"},
        seed=seed,
        settings={
            "n_workouts": settings.n_workouts,
            "stride_s": settings.stride_s,
            "max_duration_s": settings.max_duration_s,
        },
        sizes=sizes,
        metrics={"workout_kinds": kinds, "sensor_variants": variants},
        wall_s=took[0],
    )
    log.info("prepare: %s windows in %.1f s -> %s", sizes, took[0], output)
    return output


def load_windows(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, target, mask) of one split from a ``windows.npz``."""
    with np.load(path) as data:
        names = tuple(str(n) for n in data["feature_names"])
        if names != FEATURE_NAMES:
            raise ValueError(f"{path} was made for features {names}; re-run prepare")
        return data[f"x_{split}"], data[f"target_{split}"], data[f"mask_{split}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    prepare(args.out_dir, seed=args.seed, settings=QUICK if args.quick else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
