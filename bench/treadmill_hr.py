"""Heart-rate mode on a treadmill: the real machine coach on simulated runners.

50 runners (`firmware_bridge.simulator.random_athlete`), each with a heart that answers the belt's
speed as a rider's answers power (`power_kinetics`, km/h for watts): a gain of 6-10 bpm per km/h
(fitter people lower), a time constant of 25-75 s, a delay of 3-10 s, cardiac drift and noise.
Each walks onto a standing belt; the coach (`MachineCoach`, heart-rate mode, zone 3, the
default treadmill settings with `treadmill_may_speed_up`) may not start it, so the runner starts
it at 5 km/h after 30 s, and from then on the coach holds the zone by the belt's speed: each
speed-up at most `max_speed_step_kmh`, announced `announce_lead_s` before it is made.

Figures, over all runners:
- time in the zone from 3 minutes after the belt started (share of seconds), over everyone and
  over the runners whose zone can be reached below the coach's top speed (`max_speed_kmh`, 12
  km/h by default: a fit runner's zone 3 may be faster, and the coach never goes past it);
- overshoot above the zone: bpm-seconds above its top, per runner (mean and worst);
- speed changes per minute; the largest speed-up; the top speed asked;
- every speed-up announced at least the lead before it (checked), the belt never started by the
  coach (checked).

Usage: python bench/treadmill_hr.py [--runners 50] [--minutes 20] [--seed 11] [--zone 3] [--json]
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

from edge.coach.machine_coach import MachineCoach
from edge.core.zones import ZoneModel
from edge.profile import Profile
from edge.settings import MachineSettings
from edge.stream.machine import (
    MachineEvent,
    MachineEventKind,
    RequestControl,
    SetTargetSpeed,
    StartMachine,
)
from edge.stream.readings import AlignedSample
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider
from firmware_bridge.simulator import random_athlete

BELT_STARTS_S = 30
START_KMH = 5.0
SETTLE_S = 180


def run_one(seed: int, minutes: int, zone: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    athlete = random_athlete(rng)
    gain = float(np.clip(9.5 - 3.5 * athlete.fitness + rng.normal(0.0, 0.6), 6.0, 10.0))
    tau = float(np.clip(65.0 - 30.0 * athlete.fitness + rng.normal(0.0, 8.0), 25.0, 75.0))
    response = PowerResponse(
        athlete,
        gain,
        tau,
        int(rng.integers(3, 11)),
        drift_bpm_per_min=float(np.clip(rng.normal(0.3, 0.08), 0.05, 0.6)),
        noise_bpm=float(rng.uniform(0.6, 1.6)),
        seated_bpm=5.0,
    )
    runner = SimulatedRider(response, seed=seed)
    zones = ZoneModel.for_profile(
        Profile(
            name="runner", age=athlete.age, resting_hr=athlete.resting_hr, max_hr=athlete.max_hr
        )
    )
    settings = MachineSettings(
        kind="treadmill", drive=True, hold_zone=zone, treadmill_may_speed_up=True
    )
    coach = MachineCoach(settings, zones)
    low, high = zones.bounds_bpm(zone)
    belt, hr = 0.0, runner.step(0.0)
    announced: dict[float, int] = {}
    changes = inside = counted = 0
    overshoot = largest_up = top = 0.0
    for t in range(minutes * 60):
        if t == BELT_STARTS_S:
            belt = START_KMH
            coach.on_event(MachineEvent("belt", t, MachineEventKind.TARGET_SPEED_CHANGED, belt))
        sample = AlignedSample(
            t, hr, (), None, None, None, None, True, False, machine_speed_mps=belt / 3.6
        )
        decision = coach.tick(sample)
        for text in decision.say:
            if text.startswith("Speeding up to "):
                announced[float(text.split()[3])] = t
        for command in decision.commands:
            if isinstance(command, StartMachine):
                raise AssertionError("the coach started the belt")
            if isinstance(command, RequestControl):
                coach.on_event(MachineEvent("belt", t + 0.2, MachineEventKind.CONTROL_GRANTED))
            elif isinstance(command, SetTargetSpeed):
                if command.kmh > belt:
                    said = announced.get(command.kmh)
                    if said is None or t - said < settings.announce_lead_s:
                        raise AssertionError(f"a speed-up to {command.kmh} was not announced")
                    largest_up = max(largest_up, command.kmh - belt)
                coach.on_event(
                    MachineEvent(
                        "belt", t + 0.5, MachineEventKind.TARGET_SPEED_CHANGED, command.kmh
                    )
                )
                belt = command.kmh
                top = max(top, belt)
                changes += 1
        hr = runner.step(belt)
        if t >= BELT_STARTS_S + SETTLE_S:
            counted += 1
            inside += low <= hr < high
            overshoot += max(0.0, hr - high)
    driven_minutes = (minutes * 60 - BELT_STARTS_S) / 60
    # Can the zone be reached at all within the coach's top speed (before drift)?
    reachable = response.power_for(low + 2) <= settings.max_speed_kmh
    return {
        "reachable": float(reachable),
        "in_zone": inside / counted,
        "overshoot_bpm_s": overshoot,
        "changes_per_min": changes / driven_minutes,
        "largest_up_kmh": largest_up,
        "top_kmh": top,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runners", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--zone", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [run_one(args.seed + n, args.minutes, args.zone) for n in range(args.runners)]
    shares = [r["in_zone"] for r in runs]
    reachable = [r["in_zone"] for r in runs if r["reachable"]]
    figures = {
        "runners": args.runners,
        "minutes": args.minutes,
        "zone": args.zone,
        "in_zone_mean": round(statistics.mean(shares), 3),
        "in_zone_median": round(statistics.median(shares), 3),
        "in_zone_worst": round(min(shares), 3),
        "zone_reachable_below_top_speed": len(reachable),
        "in_zone_mean_where_reachable": round(statistics.mean(reachable), 3),
        "in_zone_worst_where_reachable": round(min(reachable), 3),
        "overshoot_bpm_s_mean": round(statistics.mean(r["overshoot_bpm_s"] for r in runs), 1),
        "overshoot_bpm_s_worst": round(max(r["overshoot_bpm_s"] for r in runs), 1),
        "speed_changes_per_min": round(statistics.mean(r["changes_per_min"] for r in runs), 2),
        "largest_speed_up_kmh": round(max(r["largest_up_kmh"] for r in runs), 2),
        "top_speed_kmh": round(max(r["top_kmh"] for r in runs), 1),
        "every_speed_up_announced_first": True,
        "belt_started_by_the_coach": False,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"heart-rate mode on a treadmill: {args.runners} runners, {args.minutes} min, zone {args.zone}"
    )
    for key, value in figures.items():
        print(f"  {key:32} {value}")


if __name__ == "__main__":
    main()
