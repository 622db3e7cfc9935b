"""Recordings made on the spot for the hostile-input tests and benches: no committed blobs.

`write_csv` streams rows to disk (2 million rows without holding them); `fit_bytes` builds a FIT
activity (protocol 2.0 header, header and file CRCs as a watch writes them) of any length;
`flip_bits` damages bytes the way a bad card or a careless copy does.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from fitdecode.utils import compute_crc

FIT_EPOCH_S = 631065600  # 1989-12-31T00:00:00Z
START = datetime(2024, 5, 1, 7, 30, tzinfo=UTC)

_ENUM, _UINT8, _UINT16, _UINT32 = 0x00, 0x02, 0x84, 0x86
_FORMATS = {_ENUM: "B", _UINT8: "B", _UINT16: "H", _UINT32: "I"}


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
        (0, [(0, _ENUM, 4), (1, _UINT16, 1), (2, _UINT16, 1)]),  # file_id: activity
        (12, [(0, _ENUM, sport)]),  # sport
    ]
    messages.extend(
        (
            20,
            [
                (253, _UINT32, stamp(t)),
                (3, _UINT8, heart_rate_at(t)),
                (4, _UINT8, 85),
                (6, _UINT16, 3000 + (t % 100)),
                (5, _UINT32, 300 * t),
            ],
        )
        for t in range(seconds)
    )
    messages.append(
        (18, [(253, _UINT32, start_ts + seconds), (2, _UINT32, start_ts), (5, _ENUM, sport)])
    )  # session: timestamp, start_time, sport
    return _fit(messages, file_crc=file_crc, header_crc=header_crc)


def _fit(
    messages: Iterable[tuple[int, list[tuple[int, int, int | tuple[int, ...]]]]],
    *,
    file_crc: bool,
    header_crc: bool = True,
) -> bytes:
    body = bytearray()
    layouts: dict[tuple, int] = {}
    for global_num, fields in messages:
        sizes = tuple(
            (num, base, len(value) if isinstance(value, tuple) else 1)
            for num, base, value in fields
        )
        layout = (global_num, sizes)
        if layout not in layouts:
            layouts[layout] = len(layouts)
            body += bytes([0x40 | layouts[layout], 0, 0]) + struct.pack(
                "<HB", global_num, len(fields)
            )
            for num, base, count in sizes:
                body += bytes([num, struct.calcsize("<" + _FORMATS[base]) * count, base])
        body.append(layouts[layout])
        for _num, base, value in fields:
            values = value if isinstance(value, tuple) else (value,)
            body += struct.pack(f"<{len(values)}{_FORMATS[base]}", *values)
    header = struct.pack("<BBHI4s", 14, 0x20, 2100, len(body), b".FIT")
    header += struct.pack("<H", compute_crc(header) ^ (0 if header_crc else 0x1234))
    data = header + bytes(body)
    crc = compute_crc(data) if file_crc else (compute_crc(data) ^ 0x5A5A)
    return data + struct.pack("<H", crc)


def flip_bits(data: bytes, count: int, *, seed: int, skip: int = 14) -> bytes:
    """`data` with `count` random bits flipped past the first `skip` bytes (the header)."""
    rng = random.Random(seed)
    damaged = bytearray(data)
    for _ in range(count):
        at = rng.randrange(skip, len(damaged))
        damaged[at] ^= 1 << rng.randrange(8)
    return bytes(damaged)
