"""Measure the gym fleet: N Pis x 10 bands, one broker, one board, on this machine.

For each fleet size (default 1, 3 and 6 Pis) this starts a real Mosquitto with the CA, the
certificates and the ACL `edgecoach fleet init|add-pi` makes, `edgecoach board`, and N
`edgecoach run` daemons in fleet mode, each coaching 10 simulated people in real time (the
simulator's GATT bytes, the ONNX health model; no language model, no speech, so the daemon's own
work is what the fleet adds to). A reader on the board's Server-Sent Events stream, as a browser
holds it, records every tile update.

Figures, over `--seconds` after everyone is on the board:
  latency   sample-to-tile: from the moment a Pi's session emitted the sample (the `at` the Pi
            stamps, wall clock: one machine, one clock) to the update being read off the board's
            SSE stream; p50 and p99 over every update
  broker    Mosquitto's CPU, % of one core
  daemon    each daemon's CPU, % of one core (mean over the Pis); and, from one more run of
            1 Pi with fleet mode off, what publishing adds to it

Usage: python bench/fleet.py [--pis 1,3,6] [--bands 10] [--seconds 120] [--json]
Needs `mosquitto` (Debian: apt-get install mosquitto).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.fleet.pki import add_pi, init_fleet

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
#: Seconds to wait for every member to be on the board before measuring.
WARM_UP_LIMIT_S = 180.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def fleet_toml(folder: Path, port: int, name: str, enabled: bool) -> str:
    cert = folder / ("board.crt" if name == "board" else f"pis/{name}/{name}.crt")
    key = folder / ("board.key" if name == "board" else f"pis/{name}/{name}.key")
    return (
        f'[fleet]\nenabled = {"true" if enabled else "false"}\nsite = "gym"\n'
        + ("" if name == "board" else f'pi = "{name}"\nroom = "room-{name[-1]}"\n')
        + f'broker_host = "127.0.0.1"\nbroker_port = {port}\n'
        f'ca_file = "{folder / "ca.crt"}"\ncert_file = "{cert}"\nkey_file = "{key}"\n'
    )


def daemon_toml(state: Path, fleet: str, bands: int, index: int) -> str:
    people = "".join(
        f'\n[[people]]\nname = "p{index}-{n:02d}"\nage = {25 + n}\nresting_hr = {52 + n}\n'
        f'max_hr = {190 - n}\nworkout = "{"demo" if n % 2 else "climb"}"\n'
        for n in range(bands)
    )
    return (
        f'[daemon]\nstate_dir = "{state}"\nsource = "simulator"\nspeed = 1\n'
        f"seed = {index * 100 + 1}\n[speech]\nenabled = false\n[llm]\nenabled = false\n"
        + fleet
        + people
    )


async def listening(port: int, timeout: float = 60.0) -> None:
    """Wait until the board accepts connections (it listens once it has loaded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        else:
            writer.close()
            return


async def read_board(port: int, updates: list[tuple[float, float, str]], members: set[str]) -> None:
    """Read the board's SSE stream: (received, latency, member) for each live update."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    try:
        writer.write(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        event, last_at = None, {}
        while line := await reader.readline():
            received = time.time()
            if line.startswith(b"event: "):
                event = line[7:].strip().decode()
            elif line.startswith(b"data: ") and event in ("member", "snapshot"):
                data = json.loads(line[6:])
                for tile in data["members"] if event == "snapshot" else [data]:
                    if tile.get("hr") is not None and tile.get("signal") == "ok":
                        members.add(tile["name"])
                    at = tile.get("at")
                    if event == "member" and at is not None and last_at.get(tile["name"]) != at:
                        last_at[tile["name"]] = at
                        updates.append((received, received - at, tile["name"]))
    finally:
        writer.close()


async def run_fleet(
    pis: int, bands: int, seconds: float, fleet_on: bool, work: Path
) -> dict[str, object]:
    folder = work / "fleet"
    port = free_port()
    init_fleet(
        folder,
        "gym",
        ["127.0.0.1"],
        port=port,
        bind_address="127.0.0.1",
        broker_runs_as="root" if os.getuid() == 0 else "",
    )
    names = [f"pi-{n + 1}" for n in range(pis)]
    for name in names:
        add_pi(folder, name, room=f"room-{name[-1]}")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    logs = work / "logs"
    logs.mkdir()
    processes: list[asyncio.subprocess.Process] = []

    async def spawn(*args: str, log: str) -> asyncio.subprocess.Process:
        with (logs / log).open("wb") as out:
            process = await asyncio.create_subprocess_exec(*args, stdout=out, stderr=out, env=env)
        processes.append(process)
        return process

    try:
        broker = await spawn(mosquitto, "-c", str(folder / "mosquitto.conf"), log="broker.log")
        board_port = free_port()
        board_config = work / "board.toml"
        board_config.write_text(
            f'[daemon]\nstate_dir = "{work / "board"}"\n' + fleet_toml(folder, port, "board", False)
        )
        await asyncio.sleep(0.5)
        await spawn(
            sys.executable,
            "-m",
            "edge",
            "--config",
            str(board_config),
            "board",
            "--port",
            str(board_port),
            log="board.log",
        )
        daemons = []
        for index, name in enumerate(names):
            config = work / f"{name}.toml"
            config.write_text(
                daemon_toml(work / name, fleet_toml(folder, port, name, fleet_on), bands, index)
            )
            daemons.append(
                await spawn(
                    sys.executable,
                    "-m",
                    "edge",
                    "--config",
                    str(config),
                    "run",
                    "--max-runtime",
                    str(seconds + WARM_UP_LIMIT_S),
                    log=f"{name}.log",
                )
            )
        updates: list[tuple[float, float, str]] = []
        members: set[str] = set()
        await listening(board_port)
        reader = asyncio.create_task(read_board(board_port, updates, members))
        started = time.monotonic()
        if fleet_on:
            while len(members) < pis * bands:
                if time.monotonic() - started > WARM_UP_LIMIT_S:
                    raise RuntimeError(
                        f"only {len(members)} of {pis * bands} members on the "
                        f"board after {WARM_UP_LIMIT_S:.0f} s; see {logs}"
                    )
                await asyncio.sleep(0.5)
        else:
            await asyncio.sleep(20.0)  # the daemons' start (models loaded, sessions open)
        await asyncio.sleep(5.0)  # the start's CPU settles
        window_start = time.time()
        before = {p.pid: cpu_s(p.pid) for p in (broker, *daemons)}
        await asyncio.sleep(seconds)
        after = {p.pid: cpu_s(p.pid) for p in (broker, *daemons)}
        window_end = time.time()
        reader.cancel()
        latencies = [lat for received, lat, _ in updates if window_start <= received <= window_end]

        def pct(pid: int) -> float:
            return 100 * (after[pid] - before[pid]) / (window_end - window_start)

        daemon_cpu = [pct(d.pid) for d in daemons]
        return {
            "pis": pis,
            "bands_per_pi": bands,
            "members": pis * bands,
            "fleet": fleet_on,
            "seconds": round(window_end - window_start, 1),
            "updates": len(latencies),
            "updates_per_s": round(len(latencies) / (window_end - window_start), 1),
            "latency_p50_ms": round(1000 * percentile(latencies, 50), 1) if latencies else None,
            "latency_p99_ms": round(1000 * percentile(latencies, 99), 1) if latencies else None,
            "latency_max_ms": round(1000 * max(latencies), 1) if latencies else None,
            "broker_cpu_pct": round(pct(broker.pid), 2),
            "daemon_cpu_pct_mean": round(sum(daemon_cpu) / len(daemon_cpu), 2),
            "daemon_cpu_pct_each": [round(c, 2) for c in daemon_cpu],
        }
    finally:
        for process in reversed(processes):
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pis", default="1,3,6", help="fleet sizes, comma-separated")
    parser.add_argument("--bands", type=int, default=10, help="people per Pi (10)")
    parser.add_argument("--seconds", type=float, default=120.0, help="measured seconds (120)")
    parser.add_argument("--json", action="store_true", help="one JSON object per run")
    args = parser.parse_args()
    if shutil.which("mosquitto") is None and not os.access("/usr/sbin/mosquitto", os.X_OK):
        print("bench/fleet.py needs mosquitto: apt-get install -y mosquitto", file=sys.stderr)
        return 2
    sizes = [int(n) for n in args.pis.split(",")]
    results = []
    for pis, fleet_on in [(n, True) for n in sizes] + [(1, False)]:
        with tempfile.TemporaryDirectory(prefix="edgecoach-fleet-bench-") as work:
            result = asyncio.run(run_fleet(pis, args.bands, args.seconds, fleet_on, Path(work)))
        results.append(result)
        if args.json:
            print(json.dumps(result), flush=True)
        elif fleet_on:
            print(
                f"{pis} Pi(s) x {args.bands} bands = {result['members']} members, "
                f"{result['seconds']:.0f} s: sample-to-tile p50 {result['latency_p50_ms']} ms, "
                f"p99 {result['latency_p99_ms']} ms ({result['updates']} updates); broker "
                f"{result['broker_cpu_pct']:.2f} % of a core; daemon "
                f"{result['daemon_cpu_pct_mean']:.2f} % (each: "
                f"{', '.join(f'{c:.1f}' for c in result['daemon_cpu_pct_each'])})",
                flush=True,
            )
    baseline = results[-1]["daemon_cpu_pct_mean"]
    one = next(r for r in results if r["fleet"] and r["pis"] == 1)
    added = round(one["daemon_cpu_pct_mean"] - baseline, 2)
    if args.json:
        print(
            json.dumps({"daemon_cpu_pct_without_fleet": baseline, "publishing_adds_cpu_pct": added})
        )
    else:
        print(
            f"1 Pi x {args.bands} bands without fleet mode: daemon {baseline:.2f} % of a core;"
            f" publishing adds {added:+.2f} % of a core"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
