"""End to end at the real pace: how many plan, ask, morning and summary texts the language model
words within their time limits, while the daemon coaches a live session.

A fresh store gets three weeks of runs every other day and a week of morning readings; then
`edgecoach run` coaches one person from the simulated band at real time (`speed = 1`, the demo
workout: live cues worded by the same model), and meanwhile, one after the other, the way a
person would type them:

* `edgecoach plan --json` (the suggestion in the model's words; `[llm] timeout_s`);
* `edgecoach ask --json QUESTION` for a few questions (at least 8 s);
* `edgecoach report last --json` (the session summary; the report's patient limit);
* after the live session, `edgecoach morning --json` (a resting reading from the simulated band
  at real time, then the day in the model's words: one daemon per store at a time).

Each command loads the language model itself (as on the device). Printed: per kind, how many
texts came from the model and why the others did not, with each command's wall time.

Usage: python bench/advice_e2e.py [--rounds 2] [--model PATH] [--daemon-seconds 240]
The daemon's seconds bound the run; it takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = """
[profile]
name = "sam"
age = 40
resting_hr = 55
max_hr = 185
[daemon]
source = "simulator"
speed = 1
state_dir = "{state}"
[speech]
enabled = false
[llm]
enabled = true
model_path = "{model}"
"""

QUESTIONS = (
    "How did my run go?",
    "Am I ready to train today?",
    "What should I do today?",
    "Can I train 200 minutes next week?",
    "Am I getting fitter?",
    "What is my zone 2?",
)


def seed_store(state: Path) -> None:
    from edge.profile import Profile
    from edge.store import DATABASE_NAME, SessionStore
    from edge.stream.readings import AlignedSample

    now = datetime.now().astimezone()
    with SessionStore.open(state / DATABASE_NAME) as store:

        def record(started, samples, source):
            session = store.start_session("sam", source, Profile(name="sam"), started)
            for sample in samples:
                store.add_sample(session, sample)
            rates = [s.hr_bpm for s in samples]
            store.end_session(
                session,
                started + timedelta(seconds=len(samples)),
                {
                    "duration_s": len(samples),
                    "mean_hr": sum(rates) / len(rates),
                    "max_hr": max(rates),
                    "time_in_zone_s": {"2": len(samples)},
                    "gaps": [],
                },
            )

        for days_ago in range(21, 1, -2):
            record(
                now - timedelta(days=days_ago),
                [
                    AlignedSample(
                        t, 140.0 + (t % 600) / 60, (0.43,), 170.0, 3.0, 3.0 * t, None, True, False
                    )
                    for t in range(2700)
                ],
                "replay",
            )
        for days_ago in range(7, 0, -1):
            record(
                now - timedelta(days=days_ago, hours=3),
                [
                    AlignedSample(
                        t, 56.0, (1.07, 1.09 - 0.04 * (t % 2)), None, None, None, None, None, False
                    )
                    for t in range(150)
                ],
                "morning/ble",
            )
        store.commit()


def command(config: Path, *args: str, env: dict[str, str]) -> tuple[dict, float]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "edge", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"edgecoach {' '.join(args)} failed: {result.stderr.strip()[-400:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="times each text is asked for")
    parser.add_argument(
        "--model",
        type=Path,
        help="a GGUF to use alone (default: what the "
        "device loads: the tuned model or adapter in models/, else the base)",
    )
    parser.add_argument("--daemon-seconds", type=float, default=200.0)
    args = parser.parse_args()
    from edge.narrator.llm import choose_gguf

    # No path given: what the device loads (the tuned model, or the coaching adapter on the base).
    model = args.model or ""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    with tempfile.TemporaryDirectory(prefix="edgecoach-advice-e2e-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        config = Path(tmp) / "edgecoach.toml"
        config.write_text(CONFIG.format(state=state, model=model))
        seed_store(state)
        choice = choose_gguf()
        print(f"model: {model or choice.path} ({'given' if model else choice.reason})")
        events = (Path(tmp) / "daemon.jsonl").open("w")  # a file: a full pipe would stall it
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
                str(args.daemon_seconds),
            ],
            stdout=events,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        time.sleep(20)  # the daemon's models load, its session starts coaching
        got: dict[str, Counter] = defaultdict(Counter)
        walls: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.rounds):
            out, wall = command(config, "plan", "--json", env=env)
            got["plan"][out["words"]["source"] + _why(out["words"])] += 1
            walls["plan"].append(wall)
            for question in QUESTIONS:
                out, wall = command(config, "ask", "--json", question, env=env)
                got["ask"][out["source"] + _why(out)] += 1
                walls["ask"].append(wall)
        for _ in range(args.rounds):
            out, wall = command(
                config, "report", "last", "--json", "--out", str(Path(tmp) / "report.html"), env=env
            )
            got["summary"][out["summary"]["source"] + _why(out["summary"])] += 1
            walls["summary"].append(wall)
        live = Counter()
        daemon.wait(timeout=args.daemon_seconds + 120)
        events.close()
        # A resting reading records through the daemon's own path, which one store allows
        # once at a time: it follows the live session (its simulated band plays at real time).
        out, wall = command(config, "morning", "--json", env=env)
        got["morning"][out["words"]["source"] + _why(out["words"])] += 1
        walls["morning"].append(wall)
        for line in (Path(tmp) / "daemon.jsonl").read_text().splitlines():
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "spoken":
                live[event["source"]] += 1
    print(f"{'text':<8} {'model':>5} {'all':>4}  share  wall s (each)   not the model because")
    total = worded = 0
    for kind in ("plan", "ask", "morning", "summary"):
        counts = got[kind]
        n = sum(counts.values())
        llm = sum(v for k, v in counts.items() if k.startswith("llm"))
        total, worded = total + n, worded + llm
        why = (
            "; ".join(
                f"{v}x {k.split(':', 1)[1]}" for k, v in counts.items() if not k.startswith("llm")
            )
            or "-"
        )
        print(
            f"{kind:<8} {llm:>5} {n:>4}  {llm / n:5.0%}  "
            f"{' '.join(f'{w:.1f}' for w in walls[kind]):<14}  {why}"
        )
    print(f"all      {worded:>5} {total:>4}  {worded / total:5.0%}")
    print(f"live cues meanwhile: {live['llm']} by the model, {live['template']} by templates")
    return 0


def _why(words: dict) -> str:
    return "" if words.get("source") == "llm" else ":" + str(words.get("reason") or "template")


if __name__ == "__main__":
    raise SystemExit(main())
