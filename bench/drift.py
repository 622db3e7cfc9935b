"""Drift by aerobic decoupling: hits and false alarms per hour (`edge.coach.drift_eval`).

    python bench/drift.py [WORKOUTS_DIR]      # default ../shared/data/workouts

Prints, for the real recordings: the hours of steady pace or power the rule judged, its alarms
on them as recorded (false alarms per hour, an upper bound: a real recording may hold real
drift), and how many of the judged stretches it finds once 15 bpm of drift is added over
their last half hour; then, for simulated steady runs, its alarms on them as simulated and how
many it finds with 12 bpm added over their last half hour.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.coach.drift_eval import evaluate_recordings, evaluate_simulated  # noqa: E402


def main() -> int:
    folder = Path(
        sys.argv[1]
        if len(sys.argv) > 1
        else os.environ.get("EDGECOACH_SHARED_WORKOUTS")
        or ROOT.parent / "shared" / "data" / "workouts"
    )
    started = time.perf_counter()
    real = evaluate_recordings(folder) if folder.is_dir() else None
    simulated = evaluate_simulated()
    if real is not None:
        print(f"real recordings ({folder}):")
        for row in real["files"]:
            if row["judged_h"]:
                print(
                    f"  {row['file']:<45} judged {row['judged_h']:5.2f} h  "
                    f"alarms {row['alarms']}  drift added: {row['hits']}/{row['stretches']}"
                )
        print(
            f"  steady hours judged: {real['steady_hours']}; alarms as recorded: "
            f"{real['false_alarms']} ({real['false_alarms_per_hour']} per hour)"
        )
        print(
            f"  drift added (+{real['rise_bpm']:g} bpm over a stretch's last half hour): "
            f"{real['hits']} of {real['injected']} found"
        )
    else:
        print(f"no recordings at {folder}: simulated runs only")
    print(
        f"simulated {simulated['minutes']}-minute steady runs ({simulated['runs']}): "
        f"alarms as simulated (the simulator's own slow drift): "
        f"{simulated['alarms_as_is']} in {simulated['judged_h']} h judged; with "
        f"+{simulated['rise_bpm']:g} bpm over the last half hour: {simulated['hits']} of "
        f"{simulated['runs']} found"
    )
    for row in simulated["rows"]:
        print(
            f"  fitness {row['fitness']:.2f}: its own drift +{row['own_rise_bpm']:.1f} bpm, "
            f"alarms {row['alarms_as_is']}; drift added found at {row['hit_s']} s"
        )
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
