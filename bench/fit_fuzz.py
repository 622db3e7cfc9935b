"""Bounded fuzzing of the FIT reader with mutated real files: no hang, no untyped exception.

Each case takes a real FIT file (../shared/data/workouts when it is beside the checkout, else
generated activities from tests/hostile_files.py), damages it one way (flipped bits, bytes
overwritten, a chunk cut out or repeated, random bytes inserted, the file cut short, the header's
sizes or CRCs changed) and reads it with `read_recording`. What may happen: it is read (within
the readers' bounds: at most `MAX_DURATION_S` long), or it is refused with `SourceFileError`.
What must not: a case over 5 s (a SIGALRM stops it and it counts as a hang), any other
exception, or a recording longer than the bound. Peak RSS of this process is printed.

Usage: python bench/fit_fuzz.py [--cases 300] [--seconds 300] [--seed 1]
Exit status 1 when any case hung, raised another exception or broke a bound.
"""

from __future__ import annotations

import argparse
import random
import resource
import signal
import statistics
import struct
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from hostile_files import fit_bytes  # noqa: E402

from edge.errors import SourceFileError  # noqa: E402
from edge.sources.recordings import MAX_DURATION_S, read_recording  # noqa: E402
from edge.stream.plausible import HR_BPM  # noqa: E402

#: The shared recordings beside the checkout (a worktree one level deeper finds them too).
SHARED = next(
    (
        folder / "shared" / "data" / "workouts"
        for folder in ROOT.parents[:2]
        if (folder / "shared" / "data" / "workouts").is_dir()
    ),
    ROOT.parent / "shared" / "data" / "workouts",
)
HANG_S = 5


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def originals() -> list[tuple[str, bytes]]:
    files = sorted(SHARED.glob("*.fit")) if SHARED.is_dir() else []
    if files:
        return [(p.name, p.read_bytes()) for p in files]
    return [
        (f"generated-{seconds}s.fit", fit_bytes(seconds, sport=sport))
        for seconds, sport in ((600, 1), (3600, 2), (7200, 1))
    ]


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One kind of damage, named."""
    body = bytearray(data)
    kind = rng.choice(
        [
            "flip bits",
            "overwrite bytes",
            "cut a chunk",
            "repeat a chunk",
            "insert bytes",
            "cut short",
            "header sizes",
            "header crc",
            "file crc",
            "timestamps",
        ]
    )
    if kind == "flip bits":
        for _ in range(rng.choice([1, 4, 40, 400])):
            at = rng.randrange(len(body))
            body[at] ^= 1 << rng.randrange(8)
    elif kind == "overwrite bytes":
        at = rng.randrange(len(body))
        body[at : at + 16] = bytes(rng.randrange(256) for _ in range(16))
    elif kind == "cut a chunk":
        at = rng.randrange(len(body))
        del body[at : at + rng.randrange(1, 4096)]
    elif kind == "repeat a chunk":
        at = rng.randrange(len(body))
        body[at:at] = body[at : at + rng.randrange(1, 4096)] * rng.randrange(2, 50)
    elif kind == "insert bytes":
        at = rng.randrange(len(body))
        body[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    elif kind == "cut short":
        del body[rng.randrange(12, len(body)) :]
    elif kind == "header sizes":
        size = rng.choice([0, 1, 12, 255, 0x7FFFFFFF, 0xFFFFFFFF, len(body) * 3])
        struct.pack_into("<I", body, 4, size)
        if rng.random() < 0.5:
            body[0] = rng.choice([0, 1, 12, 14, 255])
    elif kind == "header crc":
        body[12] ^= 0xFF
    elif kind == "file crc":
        body[-1] ^= 0xFF
    else:  # a record timestamp field's high byte, somewhere: a clock that jumps
        for _ in range(rng.randrange(1, 10)):
            at = rng.randrange(14, len(body) - 4)
            body[at + 3] = rng.randrange(256)
    return kind, bytes(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument(
        "--seconds", type=float, default=300.0, help="stop starting new cases after this long"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sources = originals()
    print(
        f"{len(sources)} original FIT files ({'shared' if SHARED.is_dir() else 'generated'}),"
        f" up to {args.cases} cases, seed {args.seed}"
    )
    signal.signal(signal.SIGALRM, _alarm)
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    times: list[float] = []
    failures: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgecoach-fuzz-") as folder:
        path = Path(folder) / "case.fit"
        for case in range(args.cases):
            if time.perf_counter() - started > args.seconds:
                break
            name, original = rng.choice(sources)
            kind, damaged = mutate(original, rng)
            kinds[kind] += 1
            path.write_bytes(damaged)
            began = time.perf_counter()
            signal.alarm(HANG_S)
            try:
                recording = read_recording(path)
            except SourceFileError:
                outcomes["refused (SourceFileError)"] += 1
            except Hang:
                outcomes["HANG"] += 1
                failures.append(f"case {case}: {kind} of {name} ran over {HANG_S} s")
            except Exception as exc:  # noqa: BLE001  # what the fuzzing is looking for
                outcomes["OTHER EXCEPTION"] += 1
                failures.append(
                    f"case {case}: {kind} of {name}: {type(exc).__name__}: {exc}\n"
                    + "".join(traceback.format_exc(limit=3))
                )
            else:
                bad = [
                    p
                    for p in recording.points
                    if p.hr_bpm is not None and not HR_BPM[0] <= p.hr_bpm <= HR_BPM[1]
                ]
                if recording.duration_s > MAX_DURATION_S or bad:
                    outcomes["BOUND BROKEN"] += 1
                    failures.append(
                        f"case {case}: {kind} of {name}: "
                        f"{recording.duration_s} s, {len(bad)} bad heart rates"
                    )
                else:
                    outcomes["read" + (" with warnings" if recording.warnings else "")] += 1
            finally:
                signal.alarm(0)
            times.append(time.perf_counter() - began)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(times)} cases in {time.perf_counter() - started:.0f} s; per case: median "
        f"{statistics.median(times):.2f} s, max {max(times):.2f} s; peak RSS {peak:.0f} MiB"
    )
    print("damage:  " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print("outcome: " + ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items())))
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
