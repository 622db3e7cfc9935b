"""Recordings made on the spot for the hostile-input tests and benches: no committed blobs.

`write_csv` streams rows to disk (2 million rows without holding them); `fit_bytes` builds a FIT
activity (protocol 2.0 header, header and file CRCs as a watch writes them) of any length;
`flip_bits` damages bytes the way a bad card or a careless copy does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from fit_files import ENUM, FIT_EPOCH_S, UINT8, UINT16, UINT32, encode_fit

START = datetime(2024, 5, 1, 7, 30, tzinfo=UTC)


def heart_rate_at(t: float) -> int:
    """A plausible workout: warm up, steady, intervals every 10 minutes."""
    warm = min(1.0, t / 600.0)
    interval = 15 if int(t // 300) % 2 else 0
    return round(95 + 55 * warm + interval + 3 * math.sin(t / 7.0))


def write_csv(path: Path, rows: int, *, hz: float = 1.0, start: float = 0.0) -> Path:
    """`rows` rows of time,hr,cadence,speed,distance at `hz` rows a second, streamed."""
    step = 1.0 / hz
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("time,hr,cadence,speed,distance\n")
        chunk: list[str] = []
        for i in range(rows):
            t = start + i * step
            chunk.append(
                f"{t:.2f},{heart_rate_at(t)},{170 + i % 5},3.{i % 10},{3.05 * i * step:.1f}\n"
            )
            if len(chunk) >= 10_000:
                out.writelines(chunk)
                chunk.clear()
        out.writelines(chunk)
    return path


def fit_bytes(
    seconds: int,
    *,
    start: datetime = START,
    sport: int = 1,
    file_crc: bool = True,
    header_crc: bool = True,
    jump: tuple[int, int] | None = None,
) -> bytes:
    """A FIT activity of `seconds` one-second records (running by default) with a session.

    `file_crc` / `header_crc` False write a wrong CRC; `jump` (record, seconds) moves the clock
    of every record from that one on forward by that much, as a flipped bit in a timestamp."""
    start_ts = int(start.timestamp()) - FIT_EPOCH_S

    def stamp(t: int) -> int:
        return start_ts + t + (jump[1] if jump is not None and t >= jump[0] else 0)

    messages: list[tuple[int, list[tuple[int, int, int | tuple[int, ...]]]]] = [
        (0, [(0, ENUM, 4), (1, UINT16, 1), (2, UINT16, 1)]),  # file_id: activity
        (12, [(0, ENUM, sport)]),  # sport
    ]
    messages.extend(
        (
            20,
            [
                (253, UINT32, stamp(t)),
                (3, UINT8, heart_rate_at(t)),
                (4, UINT8, 85),
                (6, UINT16, 3000 + (t % 100)),
                (5, UINT32, 300 * t),
            ],
        )
        for t in range(seconds)
    )
    messages.append(
        (18, [(253, UINT32, start_ts + seconds), (2, UINT32, start_ts), (5, ENUM, sport)])
    )  # session: timestamp, start_time, sport
    return _fit(messages, file_crc=file_crc, header_crc=header_crc)


def _fit(
    messages: Iterable[tuple[int, list[tuple[int, int, int | tuple[int, ...]]]]],
    *,
    file_crc: bool,
    header_crc: bool = True,
) -> bytes:
    return encode_fit(messages, protocol=0x20, header_crc=header_crc, file_crc=file_crc)


def flip_bits(data: bytes, count: int, *, seed: int, skip: int = 14) -> bytes:
    """`data` with `count` random bits flipped past the first `skip` bytes (the header)."""
    rng = random.Random(seed)
    damaged = bytearray(data)
    for _ in range(count):
        at = rng.randrange(skip, len(damaged))
        damaged[at] ^= 1 << rng.randrange(8)
    return bytes(damaged)
