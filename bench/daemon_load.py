"""Daemon load: CPU and RSS of `edgecoach run` coaching ten people at 1 Hz, both models loaded,
and per cue the time from its triggering sample to its words being ready.

Each person's simulated band sends real GATT bytes once a simulated second, played at real time
(`--speed 1`), so the daemon sees ten bands at 1 Hz. The figures are read from /proc for the
daemon process alone. Usage: python bench/daemon_load.py [--people 10] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PERSON = """
[[people]]
name = "member{n}"
age = {age}
resting_hr = {rest}
max_hr = {max}
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(
            f'[daemon]\nstate_dir = "{tmp}/state"\nsource = "simulator"\nspeed = 1\n'
            "[speech]\nenabled = false\n"
            + "".join(PERSON.format(n=n, age=25 + 3 * n, rest=50 + n, max=195 - 2 * n)
                      for n in range(args.people)))
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edge", "--config", str(config), "run", "--json",
             "--max-runtime", str(args.seconds)], stdout=subprocess.PIPE, text=True)
        events = []
        started = None
        cpu_start = 0.0
        peak = 0.0
        assert daemon.stdout is not None
        for line in daemon.stdout:
            event = json.loads(line)
            events.append(event)
            if started is None and event["event"] == "sample":
                started, cpu_start = time.monotonic(), cpu_seconds(daemon.pid)
            if event["event"] == "sample" and event["t"] % 5 == 0:
                try:
                    peak = max(peak, rss_mib(daemon.pid, "VmHWM"))
                    cpu_end, ended = cpu_seconds(daemon.pid), time.monotonic()
                except FileNotFoundError:
                    break
        daemon.wait()
    samples = sum(e["event"] == "sample" for e in events)
    spoken = [e["seconds_to_text"] for e in events if e["event"] == "spoken"]
    wall = ended - started
    print(f"{args.people} people at 1 Hz for {wall:.0f} s: {samples} samples")
    print(f"daemon CPU: {100 * (cpu_end - cpu_start) / wall:.1f} % of one core "
          f"({100 * (cpu_end - cpu_start) / wall / args.people:.2f} % per band)")
    print(f"daemon peak RSS: {peak:.0f} MiB (health model and language model loaded)")
    if spoken:
        print(f"sample -> words ready over {len(spoken)} cues: median "
              f"{statistics.median(spoken) * 1000:.0f} ms, max {max(spoken) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
