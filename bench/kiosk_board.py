"""Measure the zone board: members updating at 1 Hz, several browsers on the SSE stream.

This process runs the `KioskBoard` and feeds it session events as the daemon would (each member
its own 1 Hz sample stream, staggered across the second, plus a cue and its words now and then);
a child process holds the SSE connections (asyncio streams reading `/events`, as EventSource
does), so the CPU figures are the board's own. Latency is from the `emit()` call to the moment a
client has read the whole event, on `time.monotonic` (one clock for every process on the
machine); updates are paired by (member, seq). A cue and its words can come in one go and then
reach a browser as one update (coalesced), which is what the board is meant to do.

Usage: python bench/kiosk_board.py [--members 10] [--rate 1] [--seconds 30] [--clients 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.core.cues import Action, Cue, CueKind, Priority  # noqa: E402
from edge.core.events import CueDecided, CueSpoken, SampleTaken, SessionEvent  # noqa: E402
from edge.core.forecast import Forecast  # noqa: E402
from edge.core.narration import Narration  # noqa: E402
from edge.kiosk import KioskBoard  # noqa: E402
from edge.stream.readings import AlignedSample  # noqa: E402


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- the browsers (child process) ---------------------------------------------------------------


async def sse_client(port: int, index: int, until: float, received: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        event = None
        loop = asyncio.get_running_loop()
        while (remaining := until - loop.time()) > 0:
            try:
                line = await asyncio.wait_for(reader.readline(), remaining)
            except TimeoutError:
                break
            if not line:
                break
            if line.startswith(b"event: "):
                event = line[7:].strip().decode()
            elif line.startswith(b"data: ") and event == "member":
                member = json.loads(line[6:])
                received.append((index, member["name"], member["seq"], time.monotonic()))
    finally:
        writer.close()
        await writer.wait_closed()


async def clients_main(port: int, clients: int, seconds: float) -> None:
    received: list = []
    until = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(*(sse_client(port, i, until, received) for i in range(clients)))
    json.dump({"received": received, "cpu_s": cpu_s()}, sys.stdout)


# -- the board (this process) -------------------------------------------------------------------


def sample_event(person: str, t: int, hr: int) -> SampleTaken:
    zone = min(5, max(0, (hr - 90) // 18))
    sample = AlignedSample(
        t=t,
        hr_bpm=hr,
        rr_intervals_s=(),
        cadence_spm=168,
        speed_mps=2.9,
        distance_m=t * 2.9,
        steps=t * 3,
        contact=True,
        hr_gap=False,
    )
    return SampleTaken(
        sample,
        zone,
        hrr_fraction=round((hr - 56) / 125, 3),
        forecast=Forecast(hr + 1.0, hr + 2.0, hr + 3.0, hr + 0.5),
        person=person,
    )


async def feed(
    board: KioskBoard,
    members: list[str],
    rate: float,
    seconds: float,
    emitted: dict,
    emit_cost: list[float],
) -> None:
    """Each member's 1 Hz stream, staggered across the period; every 10 s someone gets a cue."""
    loop = asyncio.get_running_loop()
    period = 1.0 / rate
    start = loop.time()
    ticks = int(seconds * rate)
    schedule = sorted(
        (start + k * period + i * period / len(members), k, i)
        for k in range(ticks)
        for i in range(len(members))
    )
    cue_id = 0

    def emit(event: SessionEvent) -> None:
        name = event.person
        seq = board.state.members[name].seq
        sent = time.monotonic()
        before = time.perf_counter()
        board.emit(event)
        emit_cost.append(time.perf_counter() - before)
        if board.state.members[name].seq != seq:  # the tile changed: browsers are told
            emitted[(name, board.state.members[name].seq)] = sent

    for at, k, i in schedule:
        await asyncio.sleep(max(0.0, at - loop.time()))
        name = members[i]
        emit(sample_event(name, k, 100 + (k * 3 + i * 7) % 90))
        if k % 10 == 5 and i == k // 10 % len(members):
            cue_id += 1
            cue = Cue(
                cue_id,
                k,
                CueKind.ZONE_CHANGE,
                Action.HOLD,
                Priority.ZONE,
                {"hr": 150, "zone": 3, "previous_zone": 2},
            )
            emit(CueDecided(cue, person=name))
            emit(
                CueSpoken(
                    cue,
                    Narration(cue_id, "Nice work: zone 3 at 150, hold it.", "llm"),
                    seconds_to_text=0.5,
                    seconds_to_first_words=None,
                    speech=None,
                    person=name,
                )
            )


async def main(args: argparse.Namespace) -> dict:
    members = [f"member{i + 1:02d}" for i in range(args.members)]
    emitted: dict = {}
    emit_cost: list[float] = []
    async with KioskBoard(port=0, members=members) as board:
        clients = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve-clients",
            str(board.port),
            "--clients",
            str(args.clients),
            "--seconds",
            str(args.seconds + 1.5),
            stdout=subprocess.PIPE,
        )
        for _ in range(200):  # the clients connected: the run starts
            if board.clients == args.clients:
                break
            await asyncio.sleep(0.02)
        cpu_before, wall_before = cpu_s(), time.monotonic()
        await feed(board, members, args.rate, args.seconds, emitted, emit_cost)
        wall = time.monotonic() - wall_before
        board_cpu = cpu_s() - cpu_before
        out, _ = await clients.communicate()
        sent, coalesced = board.updates_sent, board.updates_coalesced
        dropped = board.clients_dropped
    report = json.loads(out)
    latencies = [
        at - emitted[(name, seq)]
        for _, name, seq, at in report["received"]
        if (name, seq) in emitted
    ]
    expected = len(emitted) * args.clients
    return {
        "members": args.members,
        "rate_hz": args.rate,
        "seconds": args.seconds,
        "clients": args.clients,
        "events_emitted": len(emitted),
        "updates_delivered": len(latencies),
        "updates_expected": expected,
        "updates_per_s_delivered": round(len(latencies) / wall, 1),
        "latency_ms_p50": round(1000 * statistics.median(latencies), 2),
        "latency_ms_p99": round(1000 * percentile(latencies, 99), 2),
        "latency_ms_max": round(1000 * max(latencies), 2),
        "emit_us_p50": round(1e6 * statistics.median(emit_cost), 1),
        "emit_us_p99": round(1e6 * percentile(emit_cost, 99), 1),
        "board_cpu_percent_of_one_core": round(100 * board_cpu / wall, 2),
        "board_cpu_ms_per_update_delivered": round(1000 * board_cpu / max(1, len(latencies)), 3),
        "clients_cpu_s": round(report["cpu_s"], 2),
        "updates_sent_with_pings": sent,
        "updates_coalesced": coalesced,
        "clients_dropped": dropped,
        "cpu_count": os.cpu_count(),
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1.0, help="samples per second per member")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=3, help="SSE connections")
    parser.add_argument("--serve-clients", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="one JSON object, nothing else")
    args = parser.parse_args()
    if args.serve_clients is not None:
        asyncio.run(clients_main(args.serve_clients, args.clients, args.seconds))
        return
    result = asyncio.run(main(args))
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"zone board: {result['members']} members at {result['rate_hz']:g} Hz for "
        f"{result['seconds']:g} s, {result['clients']} SSE clients, {result['cpu_count']} CPUs"
    )
    print(
        f"  updates delivered   {result['updates_delivered']} of {result['updates_expected']}"
        f" ({result['updates_per_s_delivered']}/s over all clients), "
        f"{result['updates_coalesced']} coalesced, {result['clients_dropped']} clients dropped"
    )
    print(
        f"  emit -> client      p50 {result['latency_ms_p50']} ms, p99 "
        f"{result['latency_ms_p99']} ms, max {result['latency_ms_max']} ms"
    )
    print(f"  emit() call         p50 {result['emit_us_p50']} us, p99 {result['emit_us_p99']} us")
    print(
        f"  board CPU           {result['board_cpu_percent_of_one_core']} % of one core "
        f"({result['board_cpu_ms_per_update_delivered']} ms per update delivered)"
    )
    print(f"  clients CPU         {result['clients_cpu_s']} s (child process, not the board)")


if __name__ == "__main__":
    cli()
