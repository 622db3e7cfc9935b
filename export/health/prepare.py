"""Stage 1: simulate workouts, read real recordings, and cut both into training windows.

Output: ``windows.npz`` with, per simulated split (train / val / test, split by workout so no
workout leaks across), ``x_<split>`` (N, WINDOW_S, n_features) raw windows from
`edge.health.features`, ``target_<split>`` (N, 4) heart rate in bpm at +10/+30/+60 s (as the
band reported it) and the simulator's steady-state heart rate for the current effort,
``mask_<split>`` (N, 4) false where a target is unknown (a dropout at that second), and
``workout_<split>`` (N,) workout ids.

With a folder of real recordings (``--data DIR``: the shared validation files, or a person's own
history) the same file also holds split ``real``: windows every `PrepareSettings.real_stride_s`
seconds cut by `edge.health.samples.recording_windows` from recordings read by
`edge.sources.recordings` (the profile is the default one: the files carry none), targets at
+10/+30/+60 s (``hr_expected`` is unknown: masked), ``file_real`` (N,) the index of each window's
file in ``real_files``, and ``real_skipped`` the files that could not be used, with the reason.
Later stages split the real windows by file, never by window.

Variety on purpose, so that the network does not learn the simulator's tidiness: random
athletes and plans; hills and pacing (the effort wanders while speed does the opposite); speed
scaled 0.6-1.5x and cadence shifted per workout (other people, bikes, wind); sensor noise
0.2-1.5 bpm; dropouts in 40 % of workouts; 45 % without a full stride sensor (heart rate only,
speed only, cadence only, or a cadence that reads 0); GPS-like speed wobble and spikes, cadence
jitter and drops to 0 (in 35 % of workouts often and for up to 40 s: coasting, as real rides
have, with no change of effort); 15 % recorded "smart" (a reading every
1-6 s, gaps between, as FIT files from watches); and profiles as people fill them in: 45 %
roughly right, 30 % age and a guessed resting HR (max from age), 25 % left at the defaults.

Effort and plans (health model v2): `POWER_SHARE` of the simulated workouts carry power, the
effort of each second times a personal threshold power (120-330 W) with meter noise, as a power
meter or a machine would report it; and `PLAN_SHARE` of all windows, simulated and real, are
given the effort that actually followed them as their plan (`edge.health.features.future_plan`:
power where the workout has it, most of the time, else speed), as an ERG bike or a treadmill
program would have enforced it. The rest have no plan, so one model learns both cases.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from edge.errors import SourceFileError
from edge.health.features import (
    FEATURE_NAMES,
    HORIZONS_S,
    OUTPUT_NAMES,
    WINDOW_S,
    PlannedEffort,
    build_windows,
    first_hr_index,
    future_plan,
)
from edge.health.samples import recording_windows
from edge.profile import Profile
from edge.sources.simulator import to_aligned
from edge.stream.readings import AlignedSample
from export.health._stage import WINDOWS_FILE, as_folders, iter_folders, stopwatch, write_meta
from firmware_bridge.simulator import Athlete, random_athlete, random_plan, simulate, target_hr

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, slots=True)
class PrepareSettings:
    #: Workouts to simulate, all splits together.
    n_workouts: int = 200
    #: Seconds between the ends of consecutive windows cut from one workout.
    stride_s: int = 12
    #: Workouts longer than this are cut short (seconds).
    max_duration_s: int = 2700
    #: Seconds between the ends of consecutive windows cut from a real recording.
    real_stride_s: int = 5


#: Share of simulated workouts whose cadence often reads 0 while the effort goes on.
COASTING_SHARE = 0.35

#: Share of simulated workouts with a power meter (or a machine that reports watts).
POWER_SHARE = 0.5
#: Share of windows given the effort that followed them as their plan.
PLAN_SHARE = 0.5
#: Of the planned windows that could have either, the share planned in power (else speed).
PLAN_POWER_SHARE = 0.75

QUICK = PrepareSettings(n_workouts=20, stride_s=20, max_duration_s=600, real_stride_s=20)


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
    if rng.random() < COASTING_SHARE:
        # Coasting, freewheeling, a cadence sensor that drops out: cadence reads 0 for
        # stretches of up to 40 s while the effort (and the heart) go on as before. Real rides
        # are full of it; without it a model takes every 0 for a stop.
        rate = float(rng.uniform(0.005, 0.04))
        for start in np.flatnonzero(rng.random(n) < rate):
            zero[start : start + int(rng.integers(2, 41))] = True
    out = []
    for i, s in enumerate(samples):
        cadence = s.cadence_spm
        if cadence is not None and cadence > 0:
            cadence = 0.0 if zero[i] else max(round(cadence + jitter[i], 1), 0.0)
        speed = None if s.speed_mps is None else round(s.speed_mps * float(factor[i]), 3)
        out.append(replace(s, cadence_spm=cadence, speed_mps=speed))
    return out


def _with_power(
    samples: list[AlignedSample], seconds: list[Any], rng: np.random.Generator
) -> list[AlignedSample]:
    """Power as a meter would report the simulated effort: threshold power x intensity, noisy,
    0 while the person stands still."""
    threshold = float(rng.uniform(120.0, 330.0))
    noise = float(rng.uniform(0.02, 0.12))
    out = []
    for s, sec in zip(samples, seconds, strict=True):
        still = sec.speed_mps < 0.3 and sec.cadence_spm <= 0
        watts = 0.0 if still else threshold * sec.intensity * (1.0 + rng.normal(0.0, noise))
        out.append(replace(s, power_w=round(max(watts, 0.0), 1)))
    return out


def _plans(
    samples: Sequence[AlignedSample], ends: np.ndarray, rng: np.random.Generator
) -> list[PlannedEffort | None]:
    """For `PLAN_SHARE` of the windows, the effort that followed as their plan; None for the
    rest (and where that effort is unknown ahead)."""
    has_power = any(s.power_w is not None for s in samples)
    plans: list[PlannedEffort | None] = []
    for e in ends:
        plan = None
        if rng.random() < PLAN_SHARE:
            kinds = (
                ("power", "speed")
                if has_power and rng.random() < PLAN_POWER_SHARE
                else (
                    "speed",
                    "power",
                )
            )
            for kind in kinds:
                plan = future_plan(samples, int(e), kind)
                if plan is not None:
                    break
        plans.append(plan)
    return plans


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
    if rng.random() < POWER_SHARE and variant != "hr_only":
        samples = _with_power(samples, seconds, rng)
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
        "plan_seed": int(rng.integers(0, 1 << 31)),
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
    plans = _plans(samples, ends, np.random.default_rng(workout.get("plan_seed", 0)))
    x = build_windows(samples, workout["profile"], ends.tolist(), plans)
    hr, expected = workout["hr"], workout["expected"]
    target = np.stack([hr[ends + h] for h in HORIZONS_S] + [expected[ends]], axis=1)
    mask = ~np.isnan(target)
    return x, np.nan_to_num(target).astype(np.float32), mask


def real_windows(
    data_dir: Path | Sequence[Path], stride_s: int
) -> tuple[dict[str, np.ndarray], list[str], list[dict[str, str]]]:
    """Windows of every usable recording in `data_dir` (one folder or several): arrays, file
    names, skipped files."""
    xs, targets, files = [], [], []
    names: list[str] = []
    skipped: list[dict[str, str]] = []
    for path, rec in iter_folders(data_dir):
        if isinstance(rec, SourceFileError):
            skipped.append({"file": path.name, "reason": str(rec)})
            continue
        rng = np.random.default_rng([len(names), 11])
        rw = recording_windows(
            rec, Profile(), stride_s=stride_s, plans_for=partial(_plans, rng=rng)
        )
        if len(rw) == 0:
            skipped.append({"file": path.name, "reason": "not enough heart rate for a window"})
            continue
        xs.append(rw.x)
        target = np.concatenate([rw.target, np.full((len(rw), 1), np.nan)], axis=1)
        targets.append(target)
        files.append(np.full(len(rw), len(names), dtype=np.int32))
        names.append(path.name)
    if not xs:
        x = np.zeros((0, WINDOW_S, len(FEATURE_NAMES)), np.float32)
        target = np.zeros((0, len(OUTPUT_NAMES)))
        file_ids = np.zeros(0, np.int32)
    else:
        x, target, file_ids = np.concatenate(xs), np.concatenate(targets), np.concatenate(files)
    mask = ~np.isnan(target)
    arrays = {
        "x_real": x.astype(np.float32),
        "target_real": np.nan_to_num(target).astype(np.float32),
        "mask_real": mask,
        "file_real": file_ids,
    }
    return arrays, names, skipped


def prepare(
    out_dir: Path,
    *,
    seed: int = 0,
    settings: PrepareSettings | None = None,
    data_dir: Path | Sequence[Path] | None = None,
) -> Path:
    """Simulate, read `data_dir` (if any), cut windows, write ``out_dir/windows.npz`` and its
    meta; return its path."""
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
        for i in tqdm(
            range(settings.n_workouts), desc="simulate", unit="workout", disable=None, leave=False
        ):
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
        real_names: list[str] = []
        skipped: list[dict[str, str]] = []
        if as_folders(data_dir):
            real, real_names, skipped = real_windows(as_folders(data_dir), settings.real_stride_s)
            arrays.update(real)
        else:
            real, _, _ = real_windows_empty()
            arrays.update(real)
        arrays["real_files"] = np.array(real_names, dtype=str)
        arrays["real_skipped"] = np.array(
            [f"{s['file']}: {s['reason']}" for s in skipped], dtype=str
        )
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
        windows_real=len(arrays["x_real"]),
        real_files=len(real_names),
    )
    inputs: dict[str, Any] = {
        "simulator": "firmware_bridge.simulator",
        "features": "edge.health.features",
    }
    if as_folders(data_dir):
        inputs["real_data"] = {
            "dir": [str(d) for d in as_folders(data_dir)],
            "files": real_names,
            "skipped": skipped,
        }
    write_meta(
        output,
        stage="prepare",
        inputs=inputs,
        seed=seed,
        settings={
            "n_workouts": settings.n_workouts,
            "stride_s": settings.stride_s,
            "max_duration_s": settings.max_duration_s,
            "real_stride_s": settings.real_stride_s,
        },
        sizes=sizes,
        metrics={"workout_kinds": kinds, "sensor_variants": variants},
        wall_s=took[0],
    )
    log.info("prepare: %s windows in %.1f s -> %s", sizes, took[0], output)
    return output


def real_windows_empty() -> tuple[dict[str, np.ndarray], list[str], list[dict[str, str]]]:
    return (
        {
            "x_real": np.zeros((0, WINDOW_S, len(FEATURE_NAMES)), np.float32),
            "target_real": np.zeros((0, len(OUTPUT_NAMES)), np.float32),
            "mask_real": np.zeros((0, len(OUTPUT_NAMES)), bool),
            "file_real": np.zeros(0, np.int32),
        },
        [],
        [],
    )


def load_windows(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, target, mask) of one split ("train", "val", "test" or "real") from a windows.npz."""
    with np.load(path) as data:
        names = tuple(str(n) for n in data["feature_names"])
        if names != FEATURE_NAMES:
            raise ValueError(f"{path} was made for features {names}; re-run prepare")
        return data[f"x_{split}"], data[f"target_{split}"], data[f"mask_{split}"]


def load_real(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(x, target, mask, file index, file names) of the real windows in a windows.npz."""
    x, target, mask = load_windows(path, "real")
    with np.load(path) as data:
        return x, target, mask, data["file_real"], [str(n) for n in data["real_files"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--data", type=Path, action="append", help="folder of real recordings to add (repeatable)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    prepare(
        args.out_dir, seed=args.seed, settings=QUICK if args.quick else None, data_dir=args.data
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
