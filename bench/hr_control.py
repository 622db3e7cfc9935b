"""The heart-rate controller on simulated riders: does it hold a zone for everyone?

50 riders (`firmware_bridge.simulator.random_athlete` + `power_kinetics.random_rider`: heart-rate
gain 0.2-0.5 bpm/W, time constant 25-75 s, delay 3-10 s, cardiac drift and noise, each their
own) ride `--minutes` in heart-rate mode with a zone-3 target (the zone from each rider's own
heart-rate reserve, as the coach computes it). The controller sees what the coach would see:
one heart rate a second, the machine safety layer around it (the cap, the step limit); it starts
from a warm-up power of 40 % of the rider's cap.

Figures, over all riders:
- time in the target zone after the first 3 minutes (share of seconds);
- overshoot above the zone: bpm-seconds above its top, per rider (mean and worst);
- power changes per minute (how often the rider feels the resistance change);
- the largest step taken, and whether the cap was ever exceeded (it must not be).

Usage: python bench/hr_control.py [--riders 50] [--minutes 20] [--seed 7] [--zone 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from edge.coach.hr_control import ControlInput, PidPowerController, PidSettings
from edge.core.zones import ZoneModel
from edge.profile import Profile
from firmware_bridge.power_kinetics import SimulatedRider, random_rider
from firmware_bridge.simulator import random_athlete

SETTLE_S = 180


def ride(seed: int, minutes: int, zone: int, settings: PidSettings) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    athlete = random_athlete(rng)
    response = random_rider(rng, athlete)
    rider = SimulatedRider(response, seed=seed)
    zones = ZoneModel.for_profile(
        Profile(
            name=f"rider{seed}",
            age=athlete.age,
            resting_hr=athlete.resting_hr,
            max_hr=athlete.max_hr,
        )
    )
    low, high = zones.bounds_bpm(zone)
    # The person's configured cap: what an integrator would set, about their zone-5 power.
    cap = round(response.power_for(athlete.max_hr - 5) / 10) * 10
    controller = PidPowerController(settings, start_power_w=0.4 * cap)
    power = controller.power_w
    inside = counted = 0
    overshoot = 0.0
    changes = 0
    largest_step = 0.0
    over_cap = False
    hr = rider.step(power)
    for t in range(minutes * 60):
        new = controller.update(
            ControlInput(t, hr, low, high, max_power_w=cap, min_power_w=min(40.0, cap))
        )
        if new != power:
            changes += 1
            largest_step = max(largest_step, abs(new - power))
        power = new
        over_cap |= power > cap
        hr = rider.step(power)
        if t >= SETTLE_S:
            counted += 1
            inside += low <= hr < high
            overshoot += max(0.0, hr - high)
    return {
        "in_zone": inside / counted,
        "overshoot_bpm_s": overshoot,
        "changes_per_min": changes / minutes,
        "largest_step_w": largest_step,
        "over_cap": float(over_cap),
        "gain": response.gain_bpm_per_w,
        "tau_s": response.time_constant_s,
        "delay_s": response.delay_s,
        "cap_w": cap,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--riders", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--zone", type=int, default=3, choices=range(1, 6))
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = parser.parse_args(argv)
    settings = PidSettings()
    results = [
        ride(args.seed * 1000 + i, args.minutes, args.zone, settings) for i in range(args.riders)
    ]
    in_zone = [r["in_zone"] for r in results]
    overshoot = [r["overshoot_bpm_s"] for r in results]
    changes = [r["changes_per_min"] for r in results]
    figures = {
        "riders": args.riders,
        "minutes": args.minutes,
        "zone": args.zone,
        "in_zone_mean": round(statistics.fmean(in_zone), 3),
        "in_zone_median": round(statistics.median(in_zone), 3),
        "in_zone_worst": round(min(in_zone), 3),
        "overshoot_bpm_s_mean": round(statistics.fmean(overshoot), 1),
        "overshoot_bpm_s_worst": round(max(overshoot), 1),
        "power_changes_per_min_mean": round(statistics.fmean(changes), 2),
        "power_changes_per_min_worst": round(max(changes), 2),
        "largest_step_w": max(r["largest_step_w"] for r in results),
        "riders_over_cap": int(sum(r["over_cap"] for r in results)),
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    print(
        f"{args.riders} riders, {args.minutes} min each, zone {args.zone} "
        f"(after the first {SETTLE_S // 60} min):"
    )
    print(
        f"  time in zone        mean {figures['in_zone_mean']:.1%}, median "
        f"{figures['in_zone_median']:.1%}, worst {figures['in_zone_worst']:.1%}"
    )
    print(
        f"  overshoot above     mean {figures['overshoot_bpm_s_mean']} bpm-s, worst "
        f"{figures['overshoot_bpm_s_worst']} bpm-s"
    )
    print(
        f"  power changes       mean {figures['power_changes_per_min_mean']}/min, worst "
        f"{figures['power_changes_per_min_worst']}/min; largest step "
        f"{figures['largest_step_w']:.0f} W"
    )
    print(f"  riders over cap     {figures['riders_over_cap']}")
    worst = sorted(results, key=lambda r: r["in_zone"])[:3]
    for r in worst:
        print(
            f"  hardest: gain {r['gain']:.2f} bpm/W, tau {r['tau_s']:.0f} s, delay "
            f"{r['delay_s']} s, cap {r['cap_w']} W: {r['in_zone']:.1%} in zone"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
