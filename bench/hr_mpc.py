"""Heart-rate mode: the model-predictive controller against the PID, on the same people.

50 simulated riders (`firmware_bridge.simulator.random_athlete` + `power_kinetics.random_rider`):
the first `--typical` have the kinetics the PID was tuned on (gain 0.2-0.5 bpm/W, time constant
25-75 s, delay 3-10 s); the rest are unlike them (gain x1.4-1.8, or a time constant x1.4-1.8,
and 4 s more delay): a person with a slow or strong heart. Each rider first rides a 30-minute
calibration session of ERG blocks (another day: other noise, resting heart rate up to 4 bpm
off), from which their kinetics are learnt exactly as the daemon learns them after a session
(`edge.health.personal_kinetics`); the MPC gets those, never the true ones. Then each rider
rides `--minutes` in heart-rate mode with a zone-3 target twice, once with each controller,
with the same seed (the same heart, the same noise), both through the machine coach's safety
layer (`MachineCoach`: cap, floor, step limit), starting from the floor.

With `--ble`, also riders on the virtual bike through the real BLE path (bleak on the fake
BlueZ, the FTMS control point), once per controller: every 7th of the 50 (0, 7, ..., 49: five
typical, three unusual), picked by that rule before any was run (`--ble-riders` to choose).

Figures per controller, and MPC / PID ratios from the same run:
- time in the target zone after the first 3 minutes (share of seconds);
- overshoot above the zone: bpm-seconds above its top, per rider (mean and worst);
- power changes per minute; the largest step sent; riders whose power ever exceeded the cap.

Usage: python bench/hr_mpc.py [--riders 50] [--typical 35] [--minutes 20] [--seed 7] [--ble]
       [--ble-riders 0,7,14,21,28,35,42,49] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from edge.coach.hr_control import PidPowerController, PowerController
from edge.coach.hr_mpc import MpcPowerController
from edge.coach.machine_coach import MachineCoach
from edge.core.zones import ZoneModel
from edge.health.kinetics import KineticsParams
from edge.health.personal_kinetics import PersonalKinetics, update_personal_kinetics
from edge.profile import Profile
from edge.settings import MachineSettings
from edge.stream.machine import MachineEvent, MachineEventKind, RequestControl, SetTargetPower
from edge.stream.readings import AlignedSample
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider, random_rider
from firmware_bridge.simulator import random_athlete

SETTLE_S = 180
ZONE = 3


def sample(t: int, hr: float, power: float | None) -> AlignedSample:
    return AlignedSample(t, hr, (), None, None, None, None, True, False, power_w=power)


def person(index: int, seed: int, typical: int) -> tuple[PowerResponse, Profile, int]:
    """A rider's kinetics, their profile and their cap; riders past `typical` are unusual."""
    rng = np.random.default_rng(seed)
    athlete = random_athlete(rng)
    response = random_rider(rng, athlete)
    if index >= typical:
        if index % 2:
            gain = response.gain_bpm_per_w * rng.uniform(1.5, 2.0)
            response = replace(response, gain_bpm_per_w=gain)
        else:
            tau = response.time_constant_s * rng.uniform(1.6, 2.2)
            response = replace(response, time_constant_s=tau)
        response = replace(response, delay_s=response.delay_s + 6)
    profile = Profile(
        name=f"rider{index}", age=athlete.age, resting_hr=athlete.resting_hr, max_hr=athlete.max_hr
    )
    cap = max(round(response.power_for(athlete.max_hr - 5) / 10) * 10, 80)
    return response, profile, cap


def calibrate(response: PowerResponse, cap: int, seed: int) -> KineticsParams:
    """A 30-minute ERG ride of random blocks on another day; its kinetics as the daemon learns
    them."""
    rng = np.random.default_rng(seed + 99991)
    day = replace(
        response,
        athlete=replace(
            response.athlete, resting_hr=response.athlete.resting_hr + rng.uniform(-4, 4)
        ),
    )
    rider = SimulatedRider(day, seed=seed + 99991)
    samples: list[AlignedSample] = []
    t = 0
    while t < 1800:
        power = float(rng.uniform(0.3, 0.85) * cap)
        for _ in range(int(rng.integers(90, 240))):
            samples.append(sample(t, rider.step(power), power))
            t += 1
    known, _ = update_personal_kinetics(PersonalKinetics(f"rider{seed}"), samples)
    params = known.for_kind("power")
    assert params is not None, "a calibration ride always has enough effort"
    return params


def ride(
    response: PowerResponse,
    zones: ZoneModel,
    cap: int,
    controller: PowerController,
    settings: MachineSettings,
    seed: int,
    minutes: int,
) -> dict[str, float]:
    rider = SimulatedRider(response, seed=seed)
    coach = MachineCoach(settings, zones, controller=controller)
    low, high = zones.bounds_bpm(ZONE)
    power = 0.0
    hr = rider.step(power)
    inside = counted = changes = 0
    overshoot = largest = 0.0
    over_cap = False
    for t in range(minutes * 60):
        decision = coach.tick(sample(t, hr, power))
        for command in decision.commands:
            if isinstance(command, RequestControl):
                coach.on_event(MachineEvent("bike", t + 0.2, MachineEventKind.CONTROL_GRANTED))
            elif isinstance(command, SetTargetPower):
                if power > 0:
                    changes += 1
                    largest = max(largest, abs(command.watts - power))
                power = float(command.watts)
                over_cap |= power > cap
        hr = rider.step(power)
        overshoot += max(0.0, hr - high)  # the whole ride: a rise that overshoots counts
        if t >= SETTLE_S:
            counted += 1
            inside += low <= hr < high
    return {
        "in_zone": inside / counted,
        "overshoot_bpm_s": overshoot,
        "changes_per_min": changes / minutes,
        "largest_step_w": largest,
        "over_cap": float(over_cap),
    }


def summary(results: list[dict[str, float]]) -> dict[str, float]:
    in_zone = [r["in_zone"] for r in results]
    overshoot = [r["overshoot_bpm_s"] for r in results]
    changes = [r["changes_per_min"] for r in results]
    return {
        "in_zone_mean": round(statistics.fmean(in_zone), 3),
        "in_zone_median": round(statistics.median(in_zone), 3),
        "in_zone_worst": round(min(in_zone), 3),
        "overshoot_bpm_s_mean": round(statistics.fmean(overshoot), 1),
        "overshoot_bpm_s_worst": round(max(overshoot), 1),
        "power_changes_per_min_mean": round(statistics.fmean(changes), 2),
        "largest_step_w": max(r["largest_step_w"] for r in results),
        "riders_over_cap": int(sum(r["over_cap"] for r in results)),
    }


def simulated(args: argparse.Namespace) -> dict[str, object]:
    by: dict[str, list[dict[str, float]]] = {"pid": [], "mpc": []}
    groups: dict[str, dict[str, list[dict[str, float]]]] = {
        "typical": {"pid": [], "mpc": []},
        "unusual": {"pid": [], "mpc": []},
    }
    for i in range(args.riders):
        seed = args.seed * 1000 + i
        response, profile, cap = person(i, seed, args.typical)
        zones = ZoneModel.for_profile(profile)
        settings = MachineSettings(kind="bike", drive=True, hold_zone=ZONE, max_power_w=cap)
        floor = min(settings.min_power_w, cap)
        params = calibrate(response, cap, seed)
        for name, controller in (
            ("pid", PidPowerController(start_power_w=floor)),
            ("mpc", MpcPowerController(params, start_power_w=floor)),
        ):
            result = ride(response, zones, cap, controller, settings, seed, args.minutes)
            by[name].append(result)
            groups["typical" if i < args.typical else "unusual"][name].append(result)
    out: dict[str, object] = {name: summary(results) for name, results in by.items()}
    for group, results in groups.items():
        if results["pid"]:
            out[group] = {name: summary(r) for name, r in results.items()}
    return out


def virtual_bike_figures(
    minutes: int, seed: int, typical: int, riders: list[int]
) -> dict[str, object]:
    """`riders` on the virtual bike through real bleak and the fake BlueZ, once per controller:
    the session, the machine link and the FTMS control point all real, and the two controllers'
    summaries over them. `released_early` says why control was let go early, if it was (a
    machine too loaded to keep the strap's seconds coming counts as a lost heart rate)."""
    out: dict[str, object] = {}
    for index in riders:
        out[f"rider{index}"] = _virtual_bike_rider(index, minutes, seed, typical)
    per_rider = list(out.values())
    for name in ("pid", "mpc"):
        rides = [by[name] for by in per_rider]  # type: ignore[index]
        out[f"all_{name}"] = {
            "in_zone_mean": round(statistics.fmean(r["in_zone"] for r in rides), 4),
            "in_zone_worst": min(r["in_zone"] for r in rides),
            "overshoot_bpm_s_mean": round(statistics.fmean(r["overshoot_bpm_s"] for r in rides), 1),
            "overshoot_bpm_s_worst": max(r["overshoot_bpm_s"] for r in rides),
            "changes_per_min_mean": round(statistics.fmean(r["changes_per_min"] for r in rides), 2),
            "largest_step_w": max(r["largest_step_w"] for r in rides),
            "over_cap": int(sum(r["over_cap"] for r in rides)),
            "released_early": sum(r["released_early"] is not None for r in rides),
        }
    return out


def _virtual_bike_rider(index: int, minutes: int, seed: int, typical: int) -> dict[str, object]:
    import asyncio

    from edge.coach.machine_driver import MachineDriver
    from edge.narrator.narrator import Narrator
    from edge.session import CoachingSession
    from edge.sources.machine import MachineLink
    from edge.stream.readings import HeartRateReading
    from firmware_bridge.gatt import fitness_machine as fm
    from firmware_bridge.virtual_band import VirtualIndoorBike, virtual_radio

    response, profile, cap = person(index, seed * 1000 + index, typical)
    params = calibrate(response, cap, seed * 1000 + index)
    zones = ZoneModel.for_profile(profile)
    low, high = zones.bounds_bpm(ZONE)
    address = "C0:FF:EE:61:4B:31"

    async def one(controller: PowerController) -> dict[str, object]:
        bike = VirtualIndoorBike(address, tick_s=0.02, model_step_s=1.0)
        rider = SimulatedRider(response, seed=seed)
        heart: asyncio.Queue[HeartRateReading] = asyncio.Queue()
        hrs: list[tuple[float, float]] = []

        def on_sample(machine_sample: object) -> None:
            t = machine_sample.t  # type: ignore[attr-defined]
            hr = rider.step(machine_sample.power_w)  # type: ignore[attr-defined]
            hrs.append((t, hr))
            heart.put_nowait(HeartRateReading("strap", t, round(hr), (), True))

        bike.on_sample = on_sample

        class Strap:
            name = "rider's strap"

            async def readings(self):  # type: ignore[no-untyped-def]
                while True:
                    yield await heart.get()

        settings = MachineSettings(
            address=address, kind="bike", drive=True, hold_zone=ZONE, max_power_w=cap
        )
        async with virtual_radio(
            bike, advertise_interval_s=0.02, resolve_delay_s=0.005, connect_fail_s=0.05
        ):
            link = MachineLink(settings, clock=lambda: bike.t, response_timeout_s=2.0)
            driver = MachineDriver(
                MachineCoach(settings, zones, controller=controller),
                send=link.send,
                device=link.name,
            )
            link.on_event = driver.on_event
            session = CoachingSession(
                profile=profile,
                health=None,
                narrator=Narrator(None),
                speaker=None,
                emit=lambda event: None,
                observers=(driver,),
            )
            task = asyncio.create_task(session.run(link, Strap()))  # type: ignore[arg-type]
            early: str | None = None
            try:
                while bike.t < minutes * 60 and not task.done():
                    await asyncio.sleep(0.05)
                # Let go before the ride's end (not by the session closing the link)?
                early = driver.coach.released_reason or None
            finally:
                session.stop()
                await asyncio.gather(task, return_exceptions=True)
        targets = [
            r.request.power_w for r in bike.requests if isinstance(r.request, fm.SetTargetPower)
        ]
        after = [hr for t, hr in hrs if t >= SETTLE_S]
        steps = [abs(b - a) for a, b in zip(targets, targets[1:], strict=False)]
        return {
            "in_zone": round(sum(low <= hr < high for hr in after) / max(len(after), 1), 3),
            "overshoot_bpm_s": round(sum(max(0.0, hr - high) for _, hr in hrs), 1),
            "changes_per_min": round(len(targets) / minutes, 2),
            "largest_step_w": max(steps, default=0),
            "over_cap": float(max(targets, default=0) > cap),
            "refused": sum(r.result is not fm.ResultCode.SUCCESS for r in bike.requests),
            "released_early": early,
        }

    floor = min(40.0, cap)
    return {
        "pid": asyncio.run(one(PidPowerController(start_power_w=floor))),
        "mpc": asyncio.run(one(MpcPowerController(params, start_power_w=floor))),
    }


def ratios(pid: dict[str, float], mpc: dict[str, float]) -> dict[str, float | None]:
    def ratio(key: str) -> float | None:
        return None if not pid[key] else round(mpc[key] / pid[key], 3)

    return {
        "in_zone_mean": ratio("in_zone_mean"),
        "overshoot_bpm_s_mean": ratio("overshoot_bpm_s_mean"),
        "power_changes_per_min_mean": ratio("power_changes_per_min_mean"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--riders", type=int, default=50)
    parser.add_argument("--typical", type=int, default=35, help="riders of the PID's tuning")
    parser.add_argument("--minutes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ble", action="store_true", help="also riders on the virtual bike")
    parser.add_argument(
        "--ble-riders",
        default="0,7,14,21,28,35,42,49",
        help="which of the riders ride the virtual bike (comma-separated indices)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = parser.parse_args(argv)
    figures = simulated(args)
    figures["mpc_over_pid"] = ratios(figures["pid"], figures["mpc"])  # type: ignore[arg-type]
    if args.ble:
        riders = [int(i) for i in args.ble_riders.split(",") if i.strip()]
        figures["virtual_bike"] = virtual_bike_figures(
            args.minutes, args.seed, args.typical, riders
        )
    if args.json:
        print(json.dumps(figures))
        return 0
    if "virtual_bike" in figures:
        for rider, by in figures["virtual_bike"].items():  # type: ignore[union-attr]
            if rider.startswith("all_"):
                print(f" virtual bike over BLE, all riders, {rider[4:]}: {by}")
                continue
            for name, f in by.items():
                print(f" virtual bike over BLE, {rider}, {name}: {f}")
    print(
        f"{args.riders} riders ({args.typical} of the PID's tuning, the rest unusual), "
        f"{args.minutes} min each, zone {ZONE}, after the first {SETTLE_S // 60} min:"
    )
    for group in ("all", "typical", "unusual"):
        block = figures if group == "all" else figures.get(group)
        if not isinstance(block, dict):
            continue
        print(f" {group}:")
        for name in ("pid", "mpc"):
            f = block[name]
            print(
                f"  {name}: in zone mean {f['in_zone_mean']:.1%} (median {f['in_zone_median']:.1%},"
                f" worst {f['in_zone_worst']:.1%}); overshoot mean {f['overshoot_bpm_s_mean']}"
                f" bpm-s (worst {f['overshoot_bpm_s_worst']}); changes "
                f"{f['power_changes_per_min_mean']}/min; largest step {f['largest_step_w']:.0f} W;"
                f" over cap {f['riders_over_cap']}"
            )
    r = figures["mpc_over_pid"]
    print(
        f" MPC / PID: time in zone x{r['in_zone_mean']}, overshoot x{r['overshoot_bpm_s_mean']},"  # type: ignore[index]
        f" power changes x{r['power_changes_per_min_mean']}"  # type: ignore[index]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
