"""CSV files (edgecoach's simple format, see the package's docstring) into raw columns, streamed."""

from __future__ import annotations

import csv
import io
import itertools
import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from edge.errors import SourceFileError
from edge.sources.recordings.columns import Columns, Notes, RawRecording, parse_iso, text_number
from edge.sources.recordings.model import MAX_CSV_LINE_CHARS, MAX_RECORDS, POWER_W, RR_INVALID_S
from edge.stream.plausible import (
    CADENCE_SPM,
    DISTANCE_M,
    HR_BPM,
    SPEED_MPS,
)

log = logging.getLogger(__name__)


_CSV_COLUMNS: dict[str, frozenset[str]] = {
    "time": frozenset({"time", "timestamp", "t", "seconds"}),
    "hr": frozenset({"hr", "heart_rate", "bpm", "hr_bpm"}),
    "cadence": frozenset({"cadence", "cadence_spm"}),
    "speed": frozenset({"speed", "speed_mps"}),
    "distance": frozenset({"distance", "distance_m"}),
    "rr": frozenset({"rr", "rr_intervals_s"}),
    "power": frozenset({"power", "power_w", "watts"}),
}
_UNIT_SUFFIX = re.compile(r"\s*[(\[].*$")


def read_csv(path: Path, handle: BinaryIO) -> RawRecording:
    # Streamed a row at a time: memory follows the records kept, not the file's size.
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    try:
        return _read_csv_rows(path, text)
    except UnicodeDecodeError as exc:
        raise SourceFileError(f"{path} is not a CSV text file (not UTF-8 text)", path=path) from exc
    except csv.Error as exc:
        raise SourceFileError(f"{path} is not a readable CSV file: {exc}", path=path) from exc
    finally:
        text.detach()


def _csv_lines(path: Path, text: io.TextIOWrapper) -> Iterator[str]:
    """The file's lines, each at most MAX_CSV_LINE_CHARS: a file of one endless line is not
    read into memory whole."""
    number = 0
    while line := text.readline(MAX_CSV_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_CSV_LINE_CHARS:
            raise SourceFileError(
                f"{path} is not a recording's CSV: line {number} is longer "
                f"than {MAX_CSV_LINE_CHARS} characters",
                path=path,
            )
        yield line


def _read_csv_rows(path: Path, text: io.TextIOWrapper) -> RawRecording:
    lines = _csv_lines(path, text)
    header_line = next((line for line in lines if line.strip()), "")
    if not header_line:
        raise SourceFileError(f"{path} has no header row", path=path)
    delimiter = max(",;\t", key=header_line.count)
    rows = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter)
    first = next((row for row in rows if any(cell.strip() for cell in row)), None)
    if first is None:
        raise SourceFileError(f"{path} has no header row", path=path)
    header = [_UNIT_SUFFIX.sub("", name.strip().lower()) for name in first]
    columns = {
        key: next((i for i, name in enumerate(header) if name in names), None)
        for key, names in _CSV_COLUMNS.items()
    }
    for key, what in (("time", "time"), ("hr", "heart-rate")):
        if columns[key] is None:
            expected = ", ".join(sorted(_CSV_COLUMNS[key]))
            raise SourceFileError(
                f"{path} has no {what} column: its header row needs one of {expected}", path=path
            )

    notes = Notes()
    out = Columns("data row", notes)
    kinds: set[str] = set()
    time_at, hr_at = columns["time"], columns["hr"]
    cadence_at, speed_at = columns["cadence"], columns["speed"]
    distance_at, rr_at = columns["distance"], columns["rr"]
    power_at = columns["power"]
    assert time_at is not None and hr_at is not None

    def cell(row: list[str], i: int | None) -> str | None:
        if i is None or i >= len(row):
            return None
        value = row[i].strip()
        return value or None

    def slow(row: list[str], row_no: int) -> bool:
        """One row the fast path below would not take; False when no more fit."""
        where = f"data row {row_no}"
        stamp = cell(row, time_at)
        time = _seconds(stamp)
        if time is not None:
            kinds.add("seconds")
        elif stamp is not None and (time := parse_iso(stamp)) is not None:
            kinds.add("ISO 8601")
        if len(kinds) > 1:
            raise SourceFileError(
                f"{path} mixes seconds and ISO 8601 times in its time column: use one kind",
                path=path,
            )
        if time is None:
            notes.add("a row without a valid time was left out", where)
            return True
        hr = text_number(cell(row, hr_at), notes, "a heart rate", where)
        rr = cell(row, rr_at)
        return out.add(
            time,
            hr if hr is not None and hr > 0 else None,
            text_number(cell(row, cadence_at), notes, "a cadence", where),
            text_number(cell(row, speed_at), notes, "a speed", where),
            text_number(cell(row, distance_at), notes, "a distance", where),
            _csv_rr(rr, notes, where) if rr else (),
            text_number(cell(row, power_at), notes, "a power", where),
            row=row_no,
        )

    # The fast path: rows a block at a time, parsed and range-checked column by column with
    # numpy; a block with a cell that is not a plain number, and each row with a value out of
    # range or RR intervals, take `slow`, which says why. Almost every row of a real file
    # takes the fast path: 2 million rows in a few seconds, in memory for one block.
    wanted = (time_at, hr_at, cadence_at, speed_at, distance_at, power_at)
    width = max(i for i in (*wanted, rr_at) if i is not None) + 1
    row_no = 0
    while not out.full:
        block = list(itertools.islice(rows, _CSV_BLOCK_ROWS))
        if not block:
            break
        first_no = row_no + 1
        row_no += len(block)
        parsed = _csv_block(block, wanted, rr_at, width)
        if parsed is None or "ISO 8601" in kinds:
            number = first_no - 1
            for row in block:
                if not any(part.strip() for part in row):
                    continue  # blank rows are not counted
                number += 1
                if not slow(row, number):
                    break
            row_no = number
            continue
        good, values = parsed
        kinds.add("seconds")
        room = MAX_RECORDS - len(out)
        if np.count_nonzero(good) > room:  # more rows than may be kept: the slow path says so
            good[np.flatnonzero(good)[room:]] = False
        for column, target in zip(
            values, (out.time, out.hr, out.cadence, out.speed, out.distance, out.power), strict=True
        ):
            target.frombytes(np.ascontiguousarray(column[good], dtype=np.float64).tobytes())
        for index in np.flatnonzero(~good):
            if not slow(block[index], first_no + int(index)):
                break
    return RawRecording(columns=out, clock=kinds == {"ISO 8601"})


#: Rows parsed at once by the CSV fast path.
_CSV_BLOCK_ROWS = 1 << 15


def _csv_block(
    block: list[list[str]], wanted: tuple[int | None, ...], rr_at: int | None, width: int
) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """(rows the fast path takes, each wanted column as floats), or None for a block with a
    row of another length, a blank row or a cell that is not a number (all rows go slow)."""
    lengths = set(map(len, block))
    if len(lengths) != 1 or lengths.pop() < width:
        return None
    transposed = list(zip(*block, strict=True))
    size = len(block)
    columns: list[np.ndarray] = []
    try:
        for i in wanted:
            if i is None:
                columns.append(np.full(size, np.nan))
                continue
            cells = transposed[i]
            columns.append(
                np.fromiter(map(float, [c or "nan" for c in cells]), dtype=np.float64, count=size)
            )
    except ValueError:
        return None
    time, hr, cadence, speed, distance, power = columns
    with np.errstate(invalid="ignore"):
        good = np.isfinite(time)
        hr[hr <= 0] = np.nan  # 0 is how many devices write "no reading"
        for values, (low, high) in (
            (hr, HR_BPM),
            (cadence, CADENCE_SPM),
            (speed, SPEED_MPS),
            (distance, DISTANCE_M),
            (power, POWER_W),
        ):
            good &= np.isnan(values) | ((values >= low) & (values <= high))
    # A cell written "nan" is not an empty cell: the slow path says it is not a number.
    for i in wanted:
        if i is not None and "n" in "".join(transposed[i]).lower():
            good &= np.fromiter(
                (c.strip().lower() not in ("nan", "-nan", "+nan") for c in transposed[i]),
                dtype=bool,
                count=size,
            )
    if rr_at is not None:
        good &= np.fromiter((not c.strip() for c in transposed[rr_at]), dtype=bool, count=size)
    return good, columns


def _seconds(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _csv_rr(text: str | None, notes: Notes, where: str) -> list[float]:
    if text is None:
        return []
    values = [text_number(part, notes, "an RR interval", where) for part in text.split()]
    return [v for v in values if v is not None and 0 < v < RR_INVALID_S]
