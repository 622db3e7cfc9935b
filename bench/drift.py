"""Drift by aerobic decoupling: hits and false alarms per hour (`edge.coach.drift_eval`).

    python bench/drift.py [WORKOUTS_DIR]      # default ../shared/data/workouts

Prints, for the real recordings: the hours of steady pace or power the rule judged, its alarms
on them as recorded (false alarms per hour, an upper bound: a real recording may hold real
drift), and how many of the judged stretches it finds once 15 bpm of drift is added over
their last half hour; then, for simulated hour-long steady runs, how many it finds and its alarms on
their first half hour.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.coach.drift_eval import evaluate_recordings, evaluate_simulated  # noqa: E402


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / \
        "workouts"
    started = time.perf_counter()
    real = evaluate_recordings(folder) if folder.is_dir() else None
    simulated = evaluate_simulated()
    if real is not None:
        print(f"real recordings ({folder}):")
        for row in real["files"]:
            if row["judged_h"]:
                print(f"  {row['file']:<45} judged {row['judged_h']:5.2f} h  "
                      f"alarms {row['alarms']}  drift added: {row['hits']}/{row['stretches']}")
        print(f"  steady hours judged: {real['steady_hours']}; alarms as recorded: "
              f"{real['false_alarms']} ({real['false_alarms_per_hour']} per hour)")
        print(f"  drift added (+{real['rise_bpm']:g} bpm over a stretch's last half hour): "
              f"{real['hits']} of {real['injected']} found")
    else:
        print(f"no recordings at {folder}: simulated runs only")
    print(f"simulated hour-long steady runs: {simulated['hits']} of {simulated['runs']} "
          f"with drift found; alarms in their first half hour: {simulated['early_alarms']} "
          f"in {simulated['early_judged_h']} h judged")
    for row in simulated["rows"]:
        print(f"  fitness {row['fitness']:.2f}: heart rate +{row['rise_bpm']:.1f} bpm over the "
              f"hour, alarm at {row['alarm_s']} s")
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
