"""Import and replay of recordings too large to hold carelessly: wall time and peak RSS.

Two files are made in a temporary folder (tests/hostile_files.py; nothing is committed): a CSV of
2 million rows (20 rows a second, 27.8 hours, about 59 MB) and a 10-hour FIT activity (one record
a second). Each is then, in its own child process so the peak RSS is that process's alone:

* imported through the library (`import_recordings` into a new store): the reader, the 1 Hz
  alignment, the store and the summary, without the command line's own imports;
* imported through `edgecoach import` (what a person runs: its parser's imports included);
* replayed through `edgecoach replay --speed 0 --json --no-llm --mute` (the health model and the
  coach on every second; the JSON lines are counted and checked to be JSON, not kept).

Peak RSS is the child's `ru_maxrss` (from wait4). The aim (issue 16): import under 20 s and
under 300 MB on the development machine.

Usage: python bench/hostile_import.py [--rows 2000000] [--fit-hours 10] [--no-replay]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hostile_files import fit_bytes, write_csv  # noqa: E402

_LIBRARY_IMPORT = """
import sys
from pathlib import Path
from edge.profile import Profile
from edge.reports.exchange import import_recordings
from edge.store import SessionStore
with SessionStore.open(Path(sys.argv[1])) as store:
    (result,) = import_recordings(store, [Path(sys.argv[2])], "bench", Profile(name="bench"))
print(result.status, result.duration_s, *result.warnings, sep="\\n")
"""

_JSON_LINES = """
import json, sys
def refuse(constant):
    raise SystemExit(f"not JSON: {constant}")
count = 0
for line in sys.stdin:
    json.loads(line, parse_constant=refuse)
    count += 1
print(count)
"""


def measured(
    command: list[str], *, env: dict[str, str], stdout: int | None = None, timeout_s: float
) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS MiB, exit status, output) of `command` in a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command,
        env=env,
        stdout=stdout or subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = started + timeout_s
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            child.kill()
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.05)
    wall = time.perf_counter() - started
    out = child.stdout.read() if child.stdout else ""
    err = child.stderr.read() if child.stderr else ""
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, child.returncode, (out + err).strip()


def replay(
    edgecoach: list[str], config: Path, path: Path, env: dict[str, str], timeout_s: float
) -> tuple[float, float, int, str]:
    """Replay through the CLI, its JSON lines piped into a checker that counts them."""
    checker = subprocess.Popen(
        [sys.executable, "-c", _JSON_LINES],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert checker.stdin is not None
    try:
        wall, rss, status, out = measured(
            [
                *edgecoach,
                "--config",
                str(config),
                "replay",
                str(path),
                "--speed",
                "0",
                "--json",
                "--no-llm",
                "--mute",
            ],
            env=env,
            stdout=checker.stdin.fileno(),
            timeout_s=timeout_s,
        )
    finally:
        checker.stdin.close()
    assert checker.stdout is not None
    lines = checker.stdout.read().strip()
    checker.wait()
    return wall, rss, status, f"{lines} JSON lines; {out[-300:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="CSV rows (20 a second)")
    parser.add_argument("--fit-hours", type=float, default=10.0, help="FIT length in hours")
    parser.add_argument("--no-replay", action="store_true", help="imports only")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="stop any one run after this many seconds"
    )
    args = parser.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    script = Path(sys.executable).with_name("edgecoach")
    edgecoach = [str(script)] if script.exists() else [sys.executable, "-m", "edge"]

    with tempfile.TemporaryDirectory(prefix="edgecoach-hostile-") as folder:
        work = Path(folder)
        config = work / "config.toml"
        config.write_text(
            f'[daemon]\nstate_dir = "{work / "state"}"\n'
            "[llm]\nenabled = false\n[speech]\nenabled = false\n"
        )
        made = time.perf_counter()
        csv_path = write_csv(work / "rows.csv", args.rows, hz=20)
        fit_path = work / "long.fit"
        fit_path.write_bytes(fit_bytes(round(args.fit_hours * 3600)))
        print(
            f"files made in {time.perf_counter() - made:.1f} s: {csv_path.name} "
            f"{csv_path.stat().st_size / 2**20:.1f} MiB ({args.rows} rows), {fit_path.name} "
            f"{fit_path.stat().st_size / 2**20:.1f} MiB ({args.fit_hours:g} h)"
        )
        print(f"{'file':10} {'run':22} {'wall s':>8} {'peak RSS MiB':>13}  status")
        for path in (csv_path, fit_path):
            runs = [
                (
                    "import (library)",
                    lambda p=path: measured(
                        [
                            sys.executable,
                            "-c",
                            _LIBRARY_IMPORT,
                            str(work / f"lib-{p.stem}.db"),
                            str(p),
                        ],
                        env=env,
                        timeout_s=args.timeout,
                    ),
                ),
                (
                    "import (edgecoach)",
                    lambda p=path: measured(
                        [
                            *edgecoach,
                            "--config",
                            str(config),
                            "import",
                            str(p),
                            "--person",
                            f"cli-{p.stem}",
                        ],
                        env=env,
                        timeout_s=args.timeout,
                    ),
                ),
            ]
            if not args.no_replay:
                runs.append(
                    (
                        "replay --json (edgecoach)",
                        lambda p=path: replay(edgecoach, config, p, env, args.timeout),
                    )
                )
            for name, run in runs:
                wall, rss, status, out = run()
                first = out.splitlines()[0] if out else ""
                print(
                    f"{path.suffix:10} {name:22} {wall:8.1f} {rss:13.0f}  "
                    f"exit {status}: {first[:90]}"
                )
        baseline = measured([*edgecoach, "--help"], env=env, timeout_s=120)
        print(
            f"{'':10} {'edgecoach --help':22} {baseline[0]:8.1f} {baseline[1]:13.0f}  "
            "(what the command line costs before any work)"
        )
        print(json.dumps({"rows": args.rows, "fit_hours": args.fit_hours}))


if __name__ == "__main__":
    main()
