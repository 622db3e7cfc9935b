"""A small FIT writer for the tests: FIT parsing is tested without the shared recordings, and
damaged files (wrong CRCs, flipped bits) are made, not committed."""

from __future__ import annotations

import struct
from collections.abc import Iterable

from fitdecode.utils import compute_crc

FIT_EPOCH_S = 631065600  # 1989-12-31T00:00:00Z
#: FIT base types the tests write.
ENUM, UINT8, UINT16, UINT32 = 0x00, 0x02, 0x84, 0x86
_FORMATS = {ENUM: "B", UINT8: "B", UINT16: "H", UINT32: "I"}

Field = tuple[int, int, "int | tuple[int, ...]"]


def encode_fit(
    messages: Iterable[tuple[int, list[Field]]],
    *,
    protocol: int = 0x10,
    header_crc: bool = True,
    file_crc: bool = True,
) -> bytes:
    """A FIT file with one local definition per distinct message layout; `header_crc` or
    `file_crc` False writes a wrong CRC there."""
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
            assert layouts[layout] < 16
            body += bytes([0x40 | layouts[layout], 0, 0]) + struct.pack(
                "<HB", global_num, len(fields)
            )
            for num, base, count in sizes:
                body += bytes([num, struct.calcsize("<" + _FORMATS[base]) * count, base])
        body.append(layouts[layout])
        for _num, base, value in fields:
            values = value if isinstance(value, tuple) else (value,)
            body += struct.pack(f"<{len(values)}{_FORMATS[base]}", *values)
    header = struct.pack("<BBHI4s", 14, protocol, 2100, len(body), b".FIT")
    header += struct.pack("<H", compute_crc(header) ^ (0 if header_crc else 0x1234))
    data = header + bytes(body)
    crc = compute_crc(data) if file_crc else (compute_crc(data) ^ 0x5A5A)
    return data + struct.pack("<H", crc)
