"""How well drift by decoupling (`edge.coach.drift`) finds drift, and how often it cries wolf.

Two measures, printed by `bench/drift.py` and checked by the shared-data test:

* **false alarms per hour** on recordings as they are: every alarm over the hours in which the
  tracker was judging a steady stretch (at least `span_s` of steady pace or power). On
  real recordings without known drift an alarm may be real drift, so this is an upper bound;
* **hits**: the same recordings with drift added (heart rate raised linearly by `rise_bpm` over
  the last half hour of each judged stretch, nothing else changed: the issue's "crept up 10-15
  bpm at an unchanged pace over the last half hour"), and simulated long steady runs
  (`firmware_bridge.simulator`, whose heart rates drift 7-15 bpm an hour at a steady effort).

Alarms are counted as the coach gives them: at most one per `interval_s` (its drift cue
interval).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge.coach.drift import DecouplingSettings, DecouplingTracker
from edge.stream.readings import AlignedSample

__all__ = [
    "alarms",
    "evaluate_recordings",
    "evaluate_simulated",
    "inject_drift",
    "judged_stretches",
]

#: The coach's shortest time between two drift cues.
INTERVAL_S = 600


def alarms(
    samples: Sequence[AlignedSample],
    settings: DecouplingSettings | None = None,
    *,
    interval_s: int = INTERVAL_S,
) -> tuple[list[int], int]:
    """Seconds at which the coach would say "drift", and the seconds spent judging."""
    tracker = DecouplingTracker(settings)
    said: list[int] = []
    judging = 0
    for s in samples:
        found = tracker.update(
            s.t, s.hr_bpm, speed_mps=s.speed_mps, power_w=getattr(s, "power_w", None)
        )
        judging += tracker.judging
        if found is not None and (not said or s.t - said[-1] >= interval_s):
            said.append(s.t)
    return said, judging


def judged_stretches(
    samples: Sequence[AlignedSample], settings: DecouplingSettings | None = None
) -> list[tuple[int, int]]:
    """(start, end) seconds of each steady stretch long enough to be judged."""
    tracker = DecouplingTracker(settings)
    found: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    for s in samples:
        tracker.update(s.t, s.hr_bpm, speed_mps=s.speed_mps, power_w=getattr(s, "power_w", None))
        if tracker.judging:
            start = s.t - tracker.settings.span_s
            current = (current[0] if current is not None else start, s.t)
        elif current is not None:
            found.append(current)
            current = None
    if current is not None:
        found.append(current)
    return found


def inject_drift(
    samples: Sequence[AlignedSample], start: int, end: int, rise_bpm: float, over_s: int = 1800
) -> list[AlignedSample]:
    """The samples with heart rate raised linearly from 0 to `rise_bpm` over the last `over_s`
    seconds of [start, end] (its second half when it is shorter), and held after it."""
    middle = max(end - over_s, (start + end) / 2)
    out = []
    for s in samples:
        if s.hr_bpm is None or s.t < middle:
            out.append(s)
            continue
        added = rise_bpm * min((s.t - middle) / max(end - middle, 1), 1.0)
        out.append(replace(s, hr_bpm=s.hr_bpm + added))
    return out


def evaluate_recordings(
    folder: Path, *, rise_bpm: float = 15.0, settings: DecouplingSettings | None = None
) -> dict[str, Any]:
    """Alarms on the recordings as they are (per hour judged), and hits with drift added."""
    from edge.health.samples import recording_to_samples
    from edge.sources.recordings import iter_recordings

    files: list[dict[str, Any]] = []
    total_alarms = judging_s = injected = hits = 0
    for path, recording in iter_recordings(folder):
        if isinstance(recording, Exception):
            continue
        samples = recording_to_samples(recording)
        said, judging = alarms(samples, settings)
        stretches = judged_stretches(samples, settings)
        found = 0
        for start, end in stretches:
            drifted = inject_drift(samples, start, end, rise_bpm)
            after, _ = alarms(drifted, settings)
            found += any(start <= t <= end + 60 for t in after if t not in said)
        files.append(
            {
                "file": path.name,
                "judged_h": round(judging / 3600, 2),
                "alarms": len(said),
                "stretches": len(stretches),
                "hits": found,
            }
        )
        total_alarms += len(said)
        judging_s += judging
        injected += len(stretches)
        hits += found
    hours = judging_s / 3600
    return {
        "files": files,
        "steady_hours": round(hours, 2),
        "false_alarms": total_alarms,
        "false_alarms_per_hour": round(total_alarms / hours, 3) if hours else None,
        "rise_bpm": rise_bpm,
        "injected": injected,
        "hits": hits,
    }


def evaluate_simulated(
    runs: int = 12,
    *,
    minutes: int = 75,
    rise_bpm: float = 12.0,
    seed: int = 0,
    settings: DecouplingSettings | None = None,
) -> dict[str, Any]:
    """Simulated steady runs (`firmware_bridge.simulator`: a heart that drifts 6-12 bpm an
    hour by itself) as they are, and with `rise_bpm` more added over their last half hour (the
    issue's "crept up 10-15 bpm at an unchanged pace over the last half hour"): alarms on the
    first, hits on the second."""
    from firmware_bridge.simulator import Athlete, Segment, WorkoutPlan, simulate

    hits = alarms_as_is = 0
    judged_s = 0
    rows = []
    for run in range(runs):
        fitness = 0.2 + 0.6 * run / max(runs - 1, 1)
        athlete = Athlete(
            age=30 + run, resting_hr=55.0 + run % 5, max_hr=188.0 - run, fitness=fitness
        )
        plan = WorkoutPlan(
            "steady",
            (
                Segment("warm-up", 300, "run", 0.5),
                Segment("steady", (minutes - 5) * 60, "run", 0.65),
            ),
        )
        seconds = simulate(plan, athlete, seed=seed + run, variability=0.02)
        samples = [
            AlignedSample(
                s.t,
                s.hr_bpm,
                (),
                s.cadence_spm,
                s.speed_mps,
                s.distance_m,
                None,
                s.contact,
                s.hr_bpm is None,
            )
            for s in seconds
        ]
        said, judged = alarms(samples, settings)
        end = samples[-1].t
        drifted, _ = alarms(inject_drift(samples, 0, end, rise_bpm), settings)
        found = [t for t in drifted if t >= end - 1800]
        alarms_as_is += len(said)
        judged_s += judged
        hits += bool(found)
        rows.append(
            {
                "fitness": round(fitness, 2),
                "own_rise_bpm": round(_mean_hr(samples[-600:]) - _mean_hr(samples[300:900]), 1),
                "alarms_as_is": len(said),
                "hit_s": found[0] if found else None,
            }
        )
    return {
        "runs": runs,
        "minutes": minutes,
        "rise_bpm": rise_bpm,
        "hits": hits,
        "rows": rows,
        "alarms_as_is": alarms_as_is,
        "judged_h": round(judged_s / 3600, 2),
    }


def _mean_hr(samples: Sequence[AlignedSample]) -> float:
    rates = [s.hr_bpm for s in samples if s.hr_bpm is not None]
    return sum(rates) / len(rates) if rates else 0.0
