"""Table-driven codecs for the flagged GATT records (Cycling Power, Fitness Machine).

Those characteristics are long lists of optional little-endian fields, each group switched on
by one flag bit. Writing each decoder by hand repeats the same offset arithmetic twenty times,
and a slip in one of them is a wrong number, not an error. Here each field is declared once, on
its frozen dataclass, with ``wire(...)`` metadata: its format, its resolution, and the flag bit
that announces it. ``FlaggedLayout`` and ``FixedLayout`` read that table to decode and encode,
and their error messages name the field that is missing.

Formats: ``B b H h I`` as in `struct`, ``u24`` (uint24, FTMS distances) and ``u12`` (two
consecutive ``u12`` fields are packed into three bytes, first field in the low 12 bits, as the
Cycling Power extreme angles are).
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from firmware_bridge.errors import MalformedPayloadError

T = TypeVar("T")

#: Bytes and value range of each wire format.
_FORMATS: dict[str, tuple[int, int, int]] = {
    "B": (1, 0, 0xFF),
    "b": (1, -0x80, 0x7F),
    "H": (2, 0, 0xFFFF),
    "h": (2, -0x8000, 0x7FFF),
    "I": (4, 0, 0xFFFF_FFFF),
    "u24": (3, 0, 0xFF_FFFF),
    "u12": (0, 0, 0xFFF),  # size counted per pair (3 bytes), see _Group
}

_TYPE_NAMES = {
    "B": "uint8",
    "b": "sint8",
    "H": "uint16",
    "h": "sint16",
    "I": "uint32",
    "u24": "uint24",
    "u12": "uint12",
}


def wire(
    fmt: str, per_unit: int = 1, *, bit: int | None = None, inverted: bool = False
) -> Mapping[str, Any]:
    """Metadata for a value field: wire format `fmt`, `per_unit` wire counts per unit of the
    field (100 for 0.01 km/h), and the flag `bit` that announces it (None: always present).
    `inverted`: the bit *clears* to announce the field (FTMS "More Data")."""
    if fmt not in _FORMATS:
        raise ValueError(f"unknown wire format {fmt!r}")
    return {"wire": fmt, "per_unit": per_unit, "bit": bit, "inverted": inverted}


def flag_bit(bit: int) -> Mapping[str, Any]:
    """Metadata for a bool field that is one flag bit and no bytes (e.g. torque source)."""
    return {"flag": bit}


def as_payload(data: object) -> bytes:
    # bytes(5) would quietly make five zero bytes; only accept real byte buffers.
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected a bytes-like payload, got {type(data).__name__}")
    return bytes(data)


def _label(name: str) -> str:
    return name.replace("_", " ")


def to_raw(name: str, value: object, fmt: str, per_unit: int) -> int:
    """The wire integer for `value`; TypeError/ValueError naming the field when it cannot be."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if per_unit == 1 and not isinstance(value, int):
        raise TypeError(f"{name} must be an int (resolution 1), got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    raw = round(value * per_unit)
    _, low, high = _FORMATS[fmt]
    if not low <= raw <= high:
        raise ValueError(
            f"{name} {value!r} does not fit the wire's {_TYPE_NAMES[fmt]} "
            f"({low / per_unit:g}..{high / per_unit:g})"
        )
    return raw


def from_raw(raw: int, per_unit: int) -> int | float:
    return raw if per_unit == 1 else raw / per_unit


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    fmt: str
    per_unit: int


@dataclass(frozen=True, slots=True)
class _Group:
    """Fields announced together by one flag bit (or always present when `bit` is None)."""

    bit: int | None
    inverted: bool
    fields: tuple[_Field, ...]

    @property
    def size(self) -> int:
        size = 0
        u12 = 0
        for f in self.fields:
            if f.fmt == "u12":
                u12 += 1
            else:
                size += _FORMATS[f.fmt][0]
        return size + 3 * (u12 // 2)

    def describe(self) -> str:
        return " + ".join(f"{_label(f.name)} ({_TYPE_NAMES[f.fmt]})" for f in self.fields)

    def read(self, payload: bytes, offset: int) -> dict[str, int | float]:
        out: dict[str, int | float] = {}
        fields = self.fields
        i = 0
        while i < len(fields):
            f = fields[i]
            if f.fmt == "u12":
                packed = int.from_bytes(payload[offset : offset + 3], "little")
                out[f.name] = from_raw(packed & 0xFFF, f.per_unit)
                g = fields[i + 1]
                out[g.name] = from_raw(packed >> 12, g.per_unit)
                offset += 3
                i += 2
                continue
            if f.fmt == "u24":
                raw = int.from_bytes(payload[offset : offset + 3], "little")
            else:
                (raw,) = struct.unpack_from("<" + f.fmt, payload, offset)
            out[f.name] = from_raw(raw, f.per_unit)
            offset += _FORMATS[f.fmt][0]
            i += 1
        return out

    def write(self, values: list[object]) -> bytes:
        parts: list[bytes] = []
        fields = self.fields
        i = 0
        while i < len(fields):
            f = fields[i]
            raw = to_raw(f.name, values[i], f.fmt, f.per_unit)
            if f.fmt == "u12":
                g = fields[i + 1]
                high = to_raw(g.name, values[i + 1], g.fmt, g.per_unit)
                parts.append((raw | high << 12).to_bytes(3, "little"))
                i += 2
                continue
            if f.fmt == "u24":
                parts.append(raw.to_bytes(3, "little"))
            else:
                parts.append(struct.pack("<" + f.fmt, raw))
            i += 1
        return b"".join(parts)


def _groups(cls: type) -> tuple[tuple[_Group, ...], tuple[tuple[str, int], ...]]:
    """The value groups (in field order, which is wire order) and the flag-only bool fields."""
    groups: list[_Group] = []
    flags: list[tuple[str, int]] = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "flag" in meta:
            flags.append((f.name, meta["flag"]))
            continue
        if "wire" not in meta:
            raise TypeError(f"{cls.__name__}.{f.name} has no wire metadata")
        spec = _Field(f.name, meta["wire"], meta["per_unit"])
        last = groups[-1] if groups else None
        if last is not None and last.bit is not None and last.bit == meta["bit"]:
            groups[-1] = _Group(last.bit, last.inverted, (*last.fields, spec))
        else:
            groups.append(_Group(meta["bit"], meta["inverted"], (spec,)))
    return tuple(groups), tuple(flags)


class FlaggedLayout(Generic[T]):
    """A flags field of `flags_size` bytes followed by the groups its bits announce."""

    def __init__(self, cls: Callable[..., T], characteristic: str, flags_size: int) -> None:
        self.cls = cls
        self.characteristic = characteristic
        self.flags_size = flags_size
        self.groups, self.flag_fields = _groups(cls)  # type: ignore[arg-type]
        self.defined_bits = 0
        for group in self.groups:
            if group.bit is not None:
                self.defined_bits |= 1 << group.bit
        for _, bit in self.flag_fields:
            self.defined_bits |= 1 << bit

    def _malformed(self, payload: bytes, reason: str) -> MalformedPayloadError:
        return MalformedPayloadError(self.characteristic, payload, reason)

    def flags_of(self, payload: bytes) -> int:
        return int.from_bytes(payload[: self.flags_size], "little")

    def decode(self, data: object) -> T:
        """Decode; MalformedPayloadError when a field the flags announce is cut short or bytes
        are left over. Reserved flag bits are ignored: they announce no field we know."""
        payload = as_payload(data)
        if len(payload) < self.flags_size:
            raise self._malformed(
                payload,
                f"too short: the flags field alone is {self.flags_size} bytes, got {len(payload)}",
            )
        flags = self.flags_of(payload)
        offset = self.flags_size
        values: dict[str, object] = {}
        for group in self.groups:
            if group.bit is not None and bool(flags >> group.bit & 1) == group.inverted:
                continue
            need = group.size
            left = len(payload) - offset
            if left < need:
                announced = "is required" if group.bit is None else "is announced by the flags"
                raise self._malformed(
                    payload,
                    f"too short: {group.describe()} {announced} ({need} bytes at byte {offset})"
                    f" but only {left} byte{' remains' if left == 1 else 's remain'}",
                )
            values.update(group.read(payload, offset))
            offset += need
        if offset != len(payload):
            extra = len(payload) - offset
            raise self._malformed(
                payload,
                f"too long: {extra} byte{'' if extra == 1 else 's'} left after the last field "
                f"the flags announce (flags {flags:#0{2 + 2 * self.flags_size}x})",
            )
        for name, bit in self.flag_fields:
            values[name] = bool(flags >> bit & 1)
        return self.cls(**values)

    def encode(self, m: T) -> bytes:
        """Encode; ValueError (TypeError for a wrong type) when a value does not fit its field
        or only part of a group that travels together is set."""
        flags = 0
        body: list[bytes] = []
        for group in self.groups:
            values = [getattr(m, f.name) for f in group.fields]
            missing = [f.name for f, v in zip(group.fields, values, strict=True) if v is None]
            if group.bit is None:
                if missing:
                    raise ValueError(f"{', '.join(missing)} is required on the wire")
                present = True
            elif len(missing) == len(values):
                present = False
            elif missing:
                names = ", ".join(f.name for f in group.fields)
                raise ValueError(
                    f"{names} travel together on the wire: set all or none (unset: "
                    f"{', '.join(missing)})"
                )
            else:
                present = True
            if group.bit is not None and present != group.inverted:
                flags |= 1 << group.bit
            if present:
                body.append(group.write(values))
        for name, bit in self.flag_fields:
            value = getattr(m, name)
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
            if value:
                flags |= 1 << bit
        return flags.to_bytes(self.flags_size, "little") + b"".join(body)


class FixedLayout(Generic[T]):
    """Every field always present, in order: the supported ranges, control point parameters."""

    def __init__(self, cls: Callable[..., T], characteristic: str) -> None:
        self.cls = cls
        self.characteristic = characteristic
        groups, flags = _groups(cls)  # type: ignore[arg-type]
        if flags or any(g.bit is not None for g in groups):
            raise TypeError("a fixed layout has no flag bits")
        self.fields = tuple(f for g in groups for f in g.fields)
        self.group = _Group(None, False, self.fields)
        self.size = self.group.size if self.fields else 0

    def decode(self, data: object, what: str | None = None, offset: int = 0) -> T:
        """Decode `data[offset:]`, which must be exactly `size` bytes."""
        payload = as_payload(data)
        body = len(payload) - offset
        if body != self.size:
            problem = "too short" if body < self.size else "too long"
            layout = self.group.describe() if self.fields else "no parameter"
            raise MalformedPayloadError(
                self.characteristic,
                payload,
                f"{problem}: {what or self.characteristic} carries {layout} = {self.size} "
                f"byte{'' if self.size == 1 else 's'}, got {body}",
            )
        return self.cls(**self.group.read(payload, offset))

    def encode(self, m: T) -> bytes:
        values = [getattr(m, f.name) for f in self.fields]
        for f, v in zip(self.fields, values, strict=True):
            if v is None:
                raise ValueError(f"{f.name} is required on the wire")
        return self.group.write(values)
