"""Daemon load: CPU and RSS of `edgecoach run` coaching ten people at 1 Hz, both models loaded,
and per cue the time from its triggering sample to its words and to its first spoken word.

Each person's simulated band sends real GATT bytes (heart rate with RR intervals, RSC) once a
simulated second, played at real time (`speed = 1`), so the daemon decodes ten bands at 1 Hz;
everyone plays the built-in "climb" workout (a walk, then a hard run: zone cues from about a
minute in), each with their own seed and profile. The health model (ONNX) and the language model
(SmolLM2 through llama.cpp, one worker shared by everyone) are loaded as the daemon loads them;
speech goes through espeak-ng into a WAV file, as on a box without speakers.

Figures, for the daemon process alone (from /proc), over the seconds after the first sample:

* CPU as a share of one core, and peak RSS (VmHWM);
* sample -> words ready: the session's `seconds_to_text` of each cue (narrator included);
* sample -> first words: when the cue's first guard-passed sentence (or its template) was
  handed to the speech queue (`seconds_to_first_words`; the model streams sentence by sentence);
* sample -> speech starts: the speech queue's wait of each spoken sentence (the queue and the
  speaker's turn included);
* espeak-ng's own time to its first audio byte, measured here on a typical cue, added to the
  first words for sample -> first spoken word.

Usage: python bench/daemon_load.py [--people 10] [--seconds 150] [--no-llm]
It takes about --seconds plus the models' loading (under three minutes by default).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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

CUE_TEXT = "Zone 4 now, heart rate 165. Hold this effort."


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def espeak_first_audio_s(runs: int = 5) -> float | None:
    """Median seconds from starting espeak-ng to the first byte of its audio (WAV on stdout)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return None
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(
            [espeak, "-v", "en-gb", "-s", "165", "--stdout", "--", CUE_TEXT], stdout=subprocess.PIPE
        )
        assert process.stdout is not None
        header = process.stdout.read(44)  # the WAV header comes first, then audio
        process.stdout.read(1)
        times.append(time.perf_counter() - started)
        process.stdout.read()
        process.wait()
        assert header[:4] == b"RIFF"
    return statistics.median(times)


def spread(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return (
        f"median {statistics.median(values) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, "
        f"max {values[-1] * 1000:.0f} ms over {len(values)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument(
        "--seconds",
        type=float,
        default=150.0,
        help="how long the daemon coaches (the first cues come after ~80 s)",
    )
    parser.add_argument("--no-llm", action="store_true", help="templates only")
    args = parser.parse_args()
    speech = shutil.which("espeak-ng") is not None
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(
            f'[daemon]\nstate_dir = "{tmp}/state"\nsource = "simulator"\nspeed = 1\n'
            'workout = "climb"\n'
            + (
                f'[speech]\nwav_file = "{tmp}/speech.wav"\n'
                if speech
                else "[speech]\nenabled = false\n"
            )
            + ("[llm]\nenabled = false\n" if args.no_llm else "")
            + "".join(
                PERSON.format(n=n, age=25 + 3 * n, rest=50 + n, max=195 - 2 * n)
                for n in range(args.people)
            )
        )
        launched = time.monotonic()
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge",
                "--config",
                str(config),
                "run",
                "--json",
                "--max-runtime",
                str(args.seconds),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        events = []
        started = ended = None
        cpu_start = cpu_end = 0.0
        peak = 0.0
        assert daemon.stdout is not None
        for line in daemon.stdout:
            event = json.loads(line)
            events.append(event)
            if event["event"] != "sample":
                continue
            if started is None:
                started, cpu_start = time.monotonic(), cpu_seconds(daemon.pid)
                print(
                    f"models loaded and first sample after {started - launched:.1f} s", flush=True
                )
            if event["person"] == "member0":
                try:
                    peak = max(peak, rss_mib(daemon.pid, "VmHWM"))
                    cpu_end, ended = cpu_seconds(daemon.pid), time.monotonic()
                except FileNotFoundError:
                    break
        daemon.wait()
    if started is None or ended is None or ended <= started:
        sys.exit(f"the daemon printed no samples (exit status {daemon.returncode})")
    samples = sum(e["event"] == "sample" for e in events)
    to_text = [e["seconds_to_text"] for e in events if e["event"] == "spoken"]
    by_model = sum(e["event"] == "spoken" and e["source"] == "llm" for e in events)
    first_words = [
        e["seconds_to_first_words"]
        for e in events
        if e["event"] == "spoken" and e.get("seconds_to_first_words") is not None
    ]
    waits = [w for e in events if e["event"] == "speech" for w in e.get("waits_s") or []]
    wall = ended - started
    cpu = cpu_end - cpu_start
    print(
        f"{args.people} people at 1 Hz for {wall:.0f} s: {samples} samples "
        f"({samples / wall:.1f} a second)"
    )
    print(
        f"daemon CPU: {100 * cpu / wall:.1f} % of one core "
        f"({100 * cpu / wall / args.people:.2f} % per band), on {os.cpu_count()} cores"
    )
    print(
        f"daemon peak RSS: {peak:.0f} MiB (health model"
        f"{'' if args.no_llm else ' and language model'} loaded)"
    )
    if to_text:
        print(f"sample -> words ready: {spread(to_text)} ({by_model} worded by the model)")
    else:
        print("no cue in this run: give more --seconds")
    first_audio = espeak_first_audio_s() if speech else None
    if first_words:
        print(f"sample -> first words handed to speech: {spread(first_words)}")
    if waits:
        print(f"sample -> speech starts, per spoken sentence: {spread(waits)}")
    if first_words and first_audio is not None:
        print(f"espeak-ng start -> first audio byte: {first_audio * 1000:.0f} ms (median of 5)")
        print(
            "sample -> first spoken word (first words + espeak-ng's first audio): "
            f"{spread([w + first_audio for w in first_words])}"
        )
    elif not speech:
        print("espeak-ng is not installed: no speech figures")


if __name__ == "__main__":
    main()
