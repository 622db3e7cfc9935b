"""Health model inference latency, through `HealthModel` as the coaching session calls it.

    python bench/health_inference.py [--models-dir DIR] [--calls 2000] [--threads 1] [--json]

For the int8 and the float student: per-step latency of one band (`HealthModel.predict` on one
window from `build_window`, normalisation and conversion to bpm included: p50 and p99 over
`--calls` calls), and the batched path for ten bands (`predict_array` on ten windows at once:
ms per batch and per band). The target is under 1 ms per step for one band on the export
machine (2 x86 cores); a Raspberry Pi will be several times slower.

Also the features: `build_window` on the session's history, second after second of the demo
(p50, p99 and the slowest: the seconds where the kinetics columns refit, once a minute).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.health.baseline import baseline_bounds  # noqa: E402
from edge.health.features import HISTORY_S, build_window, build_windows  # noqa: E402
from edge.health.kinetics import fit_kinetics  # noqa: E402
from edge.health.model import VARIANTS, HealthModel  # noqa: E402
from edge.profile import Profile  # noqa: E402
from edge.sources.simulator import to_aligned  # noqa: E402
from firmware_bridge.power_kinetics import SimulatedRider, random_rider  # noqa: E402
from firmware_bridge.simulator import DEMO_ATHLETE, DEMO_WORKOUT, simulate  # noqa: E402

TARGET_MS = 1.0
BANDS = 10


def _percentiles(times: np.ndarray) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(times, 50)) * 1e3, 4),
        "p99_ms": round(float(np.percentile(times, 99)) * 1e3, 4),
    }


def bench(models_dir: Path | None, calls: int, threads: int) -> dict[str, object]:
    history = to_aligned(simulate(DEMO_WORKOUT, DEMO_ATHLETE, seed=0))
    profile = Profile(age=DEMO_ATHLETE.age, resting_hr=DEMO_ATHLETE.resting_hr)
    window = build_window(history[:200], profile)
    ends = [150 + 17 * i for i in range(BANDS)]
    batch = build_windows(history, profile, ends)
    results: dict[str, object] = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "threads": threads,
        "calls": calls,
        "target_ms": TARGET_MS,
        "variants": {},
    }
    first = min(200, len(history) // 2)  # past two minutes: the kinetics columns are in play
    features = np.empty(min(calls, len(history) - first))
    for i in range(len(features)):
        tail = history[max(0, first + i - HISTORY_S) : first + i + 1]
        start = time.perf_counter()
        build_window(tail, profile)
        features[i] = time.perf_counter() - start
    results["features"] = _percentiles(features) | {
        "max_ms": round(float(features.max()) * 1e3, 3),
        "seconds": len(features),
    }
    # One kinetics refit (what a window pays once a minute when the past can support a fit):
    # ten minutes of a simulated rider on power steps.
    rng = np.random.default_rng(0)
    rider = SimulatedRider(random_rider(rng, DEMO_ATHLETE), seed=0)
    watts = np.repeat(rng.uniform(90, 260, 10), 60)
    hr = np.array([rider.step(w) for w in watts])
    refits = np.empty(10)
    for i in range(len(refits)):
        start = time.perf_counter()
        fit = fit_kinetics(
            hr, watts + i * 1e-9, effort_kind="power", bounds=baseline_bounds("power")
        )
        refits[i] = time.perf_counter() - start
    results["kinetics_refit_ms"] = round(float(np.median(refits)) * 1e3, 2)
    results["kinetics_refit_fitted"] = fit is not None
    for variant in VARIANTS:
        with HealthModel.load(models_dir, threads=threads, variant=variant) as model:
            for _ in range(50):
                model.predict(window)
            one = np.empty(calls)
            for i in range(calls):
                start = time.perf_counter()
                model.predict(window)
                one[i] = time.perf_counter() - start
            batched = np.empty(max(1, calls // 4))
            for i in range(len(batched)):
                start = time.perf_counter()
                model.predict_array(batch)
                batched[i] = time.perf_counter() - start
            size = model.source.stat().st_size
        per_batch = _percentiles(batched)
        results["variants"][variant] = {  # type: ignore[index]
            "file": model.source.name,
            "bytes": size,
            "one_band": _percentiles(one),
            "ten_bands_per_batch": per_batch,
            "ten_bands_per_band_p50_ms": round(per_batch["p50_ms"] / BANDS, 4),
            "under_target": bool(np.percentile(one, 50) * 1e3 < TARGET_MS),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = bench(args.models_dir, args.calls, args.threads)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"health model inference, {result['calls']} calls, {result['threads']} thread(s), "
        f"{result['machine']}"
    )
    print(
        "  variant  file                         bytes   one band p50 / p99   "
        "ten bands: per batch p50 / p99, per band"
    )
    for variant, row in result["variants"].items():  # type: ignore[union-attr]
        one, ten = row["one_band"], row["ten_bands_per_batch"]
        print(
            f"  {variant:7s}  {row['file']:27s} {row['bytes']:6d}   "
            f"{one['p50_ms']:.3f} / {one['p99_ms']:.3f} ms    "
            f"{ten['p50_ms']:.3f} / {ten['p99_ms']:.3f} ms, "
            f"{row['ten_bands_per_band_p50_ms']:.3f} ms"
        )
    feat = result["features"]
    print(
        f"  features (build_window, {feat['seconds']} consecutive seconds): "  # type: ignore[index]
        f"p50 {feat['p50_ms']:.3f} / p99 {feat['p99_ms']:.3f} / max {feat['max_ms']:.1f} ms "  # type: ignore[index]
        "(on the demo, whose speed rarely supports a fit)"
    )
    print(
        f"  one kinetics refit (10 min of a rider on power steps, once a minute per band): "
        f"{result['kinetics_refit_ms']:.1f} ms"
    )
    ok = all(r["under_target"] for r in result["variants"].values())  # type: ignore[union-attr]
    print(f"  target: under {TARGET_MS} ms per step for one band: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
