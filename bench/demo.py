"""Measure `edgecoach demo`: wall time, peak RSS, and per cue the time from its triggering sample
to its text being ready.

Runs the real command line in a child process (default speed, speech into a temporary WAV file)
and reads its JSON events. Usage: python bench/demo.py [--speed N] [--runs K]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(speed: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "edge",
            "demo",
            "--json",
            "--speed",
            str(speed),
            "--speak-to",
            str(Path(tmp) / "demo.wav"),
        ]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"demo failed ({result.returncode}): {result.stderr.strip()}")
    events = [json.loads(line) for line in result.stdout.splitlines()]
    cues = {e["id"]: e for e in events if e["event"] == "cue"}
    spoken = [e for e in events if e["event"] == "spoken"]
    return {
        "wall_s": wall,
        "cues": cues,
        "spoken": spoken,
        "summary": next(e for e in events if e["event"] == "summary"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    walls = []
    for index in range(args.runs):
        run = run_once(args.speed)
        walls.append(run["wall_s"])
        print(f"run {index + 1}: wall {run['wall_s']:.2f} s at {args.speed:g}x")
        for spoken in run["spoken"]:
            cue = run["cues"][spoken["cue_id"]]
            print(
                f"  cue {cue['id']:2d} t={cue['t']:4d}s {cue['kind']:<20} "
                f"sample->text {spoken['seconds_to_text'] * 1000:7.1f} ms  ({spoken['source']})"
            )
    # ru_maxrss of children is the largest peak of any child, in KiB on Linux.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"wall time: median {statistics.median(walls):.2f} s over {len(walls)} run(s)")
    print(f"peak RSS: {peak_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
