"""The FTMS data records: Treadmill Data (0x2ACD), Cross Trainer Data (0x2ACE), Rower Data
(0x2AD1) and Indoor Bike Data (0x2AD2), per the Bluetooth SIG Fitness Machine Service 1.0.

Each is a flags field (uint16; 24 bits for the cross trainer) and the fields its bits announce,
in bit order, little-endian. Bit 0 is "More Data", and reads backwards: when it is *clear*, the
first field (instantaneous speed; for the rower stroke rate + stroke count) is present. A machine
whose record does not fit one notification splits it: every part but the last has More Data
set, and the last carries the first field. `FitnessMachineRecordAssembler` joins the parts.

Indoor Bike Data::

    bit 0  More Data: clear = instantaneous speed  uint16 0.01 km/h
    bit 1  average speed                           uint16 0.01 km/h
    bit 2  instantaneous cadence                   uint16 0.5 /min
    bit 3  average cadence                         uint16 0.5 /min
    bit 4  total distance                          uint24 m
    bit 5  resistance level                        sint16 unitless, resolution 1
    bit 6  instantaneous power                     sint16 W
    bit 7  average power                           sint16 W
    bit 8  expended energy: total uint16 kcal, per hour uint16 kcal, per minute uint8 kcal
    bit 9  heart rate                              uint8 bpm
    bit 10 metabolic equivalent                    uint8 0.1
    bit 11 elapsed time                            uint16 s
    bit 12 remaining time                          uint16 s

Treadmill Data::

    bit 0  More Data: clear = instantaneous speed  uint16 0.01 km/h
    bit 1  average speed                           uint16 0.01 km/h
    bit 2  total distance                          uint24 m
    bit 3  inclination sint16 0.1 %, ramp angle setting sint16 0.1 degree
    bit 4  positive, negative elevation gain       uint16 0.1 m each
    bit 5  instantaneous pace                      uint8 0.1 km/min
    bit 6  average pace                            uint8 0.1 km/min
    bit 7  expended energy (as above)
    bit 8  heart rate, bit 9 metabolic equivalent, bit 10 elapsed, bit 11 remaining (as above)
    bit 12 force on belt sint16 N, power output sint16 W

Cross Trainer Data (24-bit flags)::

    bit 0  More Data: clear = instantaneous speed  uint16 0.01 km/h
    bit 1  average speed                           uint16 0.01 km/h
    bit 2  total distance                          uint24 m
    bit 3  step per minute uint16 /min, average step rate uint16 /min
    bit 4  stride count                            uint16
    bit 5  positive, negative elevation gain       uint16 m each
    bit 6  inclination sint16 0.1 %, ramp angle setting sint16 0.1 degree
    bit 7  resistance level                        sint16 0.1
    bit 8  instantaneous power                     sint16 W
    bit 9  average power                           sint16 W
    bit 10 expended energy, bit 11 heart rate, bit 12 metabolic equivalent, bit 13 elapsed time,
    bit 14 remaining time (as above)
    bit 15 movement direction: 0 forward, 1 backward (a flag, no field)

Rower Data::

    bit 0  More Data: clear = stroke rate uint8 0.5 /min, stroke count uint16
    bit 1  average stroke rate                     uint8 0.5 /min
    bit 2  total distance                          uint24 m
    bit 3  instantaneous pace                      uint16 s per 500 m
    bit 4  average pace                            uint16 s per 500 m
    bit 5  instantaneous power                     sint16 W
    bit 6  average power                           sint16 W
    bit 7  resistance level                        sint16 unitless, resolution 1
    bit 8  expended energy, bit 9 heart rate, bit 10 metabolic equivalent, bit 11 elapsed time,
    bit 12 remaining time (as above)

Machines send 0xFFFF (0xFF for per-minute energy) in an energy field they do not measure, and
0x7FFF in inclination and ramp angle when unknown ("data not available"): those values are
decoded as sent; `ENERGY_NOT_AVAILABLE` and friends name them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Generic, TypeVar

from firmware_bridge.gatt._wire import FlaggedLayout, flag_bit, wire
from firmware_bridge.gatt.uuids import (
    CHARACTERISTIC_NAMES,
    CROSS_TRAINER_DATA,
    INDOOR_BIKE_DATA,
    ROWER_DATA,
    TREADMILL_DATA,
)

#: What a machine sends in the energy fields it does not measure.
ENERGY_NOT_AVAILABLE = 0xFFFF
ENERGY_PER_MINUTE_NOT_AVAILABLE = 0xFF
#: What a machine sends for an unknown inclination or ramp angle (0x7FFF x 0.1).
INCLINATION_NOT_AVAILABLE = 0x7FFF / 10


def _speed(bit: int, *, inverted: bool = False) -> Any:
    return field(default=None, metadata=wire("H", 100, bit=bit, inverted=inverted))


def _opt(fmt: str, bit: int, per_unit: int = 1) -> Any:
    return field(default=None, metadata=wire(fmt, per_unit, bit=bit))


@dataclass(frozen=True, slots=True)
class IndoorBikeData:
    """One Indoor Bike Data notification (or part of a record; see `more_data`)."""

    instantaneous_speed_kmh: float | None = _speed(0, inverted=True)
    average_speed_kmh: float | None = _speed(1)
    instantaneous_cadence_rpm: float | None = _opt("H", 2, 2)
    average_cadence_rpm: float | None = _opt("H", 3, 2)
    total_distance_m: int | None = _opt("u24", 4)
    resistance_level: int | None = _opt("h", 5)
    instantaneous_power_w: int | None = _opt("h", 6)
    average_power_w: int | None = _opt("h", 7)
    total_energy_kcal: int | None = _opt("H", 8)
    energy_per_hour_kcal: int | None = _opt("H", 8)
    energy_per_minute_kcal: int | None = _opt("B", 8)
    heart_rate_bpm: int | None = _opt("B", 9)
    metabolic_equivalent: float | None = _opt("B", 10, 10)
    elapsed_time_s: int | None = _opt("H", 11)
    remaining_time_s: int | None = _opt("H", 12)

    @property
    def more_data(self) -> bool:
        """More parts of this record follow (the More Data bit: no instantaneous speed here)."""
        return self.instantaneous_speed_kmh is None


@dataclass(frozen=True, slots=True)
class TreadmillData:
    """One Treadmill Data notification (or part of a record; see `more_data`)."""

    instantaneous_speed_kmh: float | None = _speed(0, inverted=True)
    average_speed_kmh: float | None = _speed(1)
    total_distance_m: int | None = _opt("u24", 2)
    inclination_percent: float | None = _opt("h", 3, 10)
    ramp_angle_deg: float | None = _opt("h", 3, 10)
    positive_elevation_gain_m: float | None = _opt("H", 4, 10)
    negative_elevation_gain_m: float | None = _opt("H", 4, 10)
    instantaneous_pace_km_per_min: float | None = _opt("B", 5, 10)
    average_pace_km_per_min: float | None = _opt("B", 6, 10)
    total_energy_kcal: int | None = _opt("H", 7)
    energy_per_hour_kcal: int | None = _opt("H", 7)
    energy_per_minute_kcal: int | None = _opt("B", 7)
    heart_rate_bpm: int | None = _opt("B", 8)
    metabolic_equivalent: float | None = _opt("B", 9, 10)
    elapsed_time_s: int | None = _opt("H", 10)
    remaining_time_s: int | None = _opt("H", 11)
    force_on_belt_n: int | None = _opt("h", 12)
    power_output_w: int | None = _opt("h", 12)

    @property
    def more_data(self) -> bool:
        """More parts of this record follow (the More Data bit: no instantaneous speed here)."""
        return self.instantaneous_speed_kmh is None


@dataclass(frozen=True, slots=True)
class CrossTrainerData:
    """One Cross Trainer Data notification (or part of a record; see `more_data`)."""

    instantaneous_speed_kmh: float | None = _speed(0, inverted=True)
    average_speed_kmh: float | None = _speed(1)
    total_distance_m: int | None = _opt("u24", 2)
    steps_per_minute: int | None = _opt("H", 3)
    average_step_rate: int | None = _opt("H", 3)
    stride_count: int | None = _opt("H", 4)
    positive_elevation_gain_m: int | None = _opt("H", 5)
    negative_elevation_gain_m: int | None = _opt("H", 5)
    inclination_percent: float | None = _opt("h", 6, 10)
    ramp_angle_deg: float | None = _opt("h", 6, 10)
    resistance_level: float | None = _opt("h", 7, 10)
    instantaneous_power_w: int | None = _opt("h", 8)
    average_power_w: int | None = _opt("h", 9)
    total_energy_kcal: int | None = _opt("H", 10)
    energy_per_hour_kcal: int | None = _opt("H", 10)
    energy_per_minute_kcal: int | None = _opt("B", 10)
    heart_rate_bpm: int | None = _opt("B", 11)
    metabolic_equivalent: float | None = _opt("B", 12, 10)
    elapsed_time_s: int | None = _opt("H", 13)
    remaining_time_s: int | None = _opt("H", 14)
    #: Flag bit 15: the user moves backwards.
    moving_backward: bool = field(default=False, metadata=flag_bit(15))

    @property
    def more_data(self) -> bool:
        """More parts of this record follow (the More Data bit: no instantaneous speed here)."""
        return self.instantaneous_speed_kmh is None


@dataclass(frozen=True, slots=True)
class RowerData:
    """One Rower Data notification (or part of a record; see `more_data`)."""

    stroke_rate_spm: float | None = field(default=None, metadata=wire("B", 2, bit=0, inverted=True))
    stroke_count: int | None = field(default=None, metadata=wire("H", bit=0, inverted=True))
    average_stroke_rate_spm: float | None = _opt("B", 1, 2)
    total_distance_m: int | None = _opt("u24", 2)
    instantaneous_pace_s_per_500m: int | None = _opt("H", 3)
    average_pace_s_per_500m: int | None = _opt("H", 4)
    instantaneous_power_w: int | None = _opt("h", 5)
    average_power_w: int | None = _opt("h", 6)
    resistance_level: int | None = _opt("h", 7)
    total_energy_kcal: int | None = _opt("H", 8)
    energy_per_hour_kcal: int | None = _opt("H", 8)
    energy_per_minute_kcal: int | None = _opt("B", 8)
    heart_rate_bpm: int | None = _opt("B", 9)
    metabolic_equivalent: float | None = _opt("B", 10, 10)
    elapsed_time_s: int | None = _opt("H", 11)
    remaining_time_s: int | None = _opt("H", 12)

    @property
    def more_data(self) -> bool:
        """More parts of this record follow (the More Data bit: no stroke rate and count here)."""
        return self.stroke_rate_spm is None


_INDOOR_BIKE = FlaggedLayout(IndoorBikeData, CHARACTERISTIC_NAMES[INDOOR_BIKE_DATA], 2)
_TREADMILL = FlaggedLayout(TreadmillData, CHARACTERISTIC_NAMES[TREADMILL_DATA], 2)
_CROSS_TRAINER = FlaggedLayout(CrossTrainerData, CHARACTERISTIC_NAMES[CROSS_TRAINER_DATA], 3)
_ROWER = FlaggedLayout(RowerData, CHARACTERISTIC_NAMES[ROWER_DATA], 2)


def decode_indoor_bike_data(data: bytes) -> IndoorBikeData:
    """Decode an Indoor Bike Data value; MalformedPayloadError when the flags and length
    disagree. Reserved flag bits 13-15 are ignored."""
    return _INDOOR_BIKE.decode(data)


def encode_indoor_bike_data(m: IndoorBikeData) -> bytes:
    """Encode ``m``; ValueError when a value does not fit or a group is half set."""
    return _INDOOR_BIKE.encode(m)


def decode_treadmill_data(data: bytes) -> TreadmillData:
    """Decode a Treadmill Data value; reserved flag bits 13-15 are ignored."""
    return _TREADMILL.decode(data)


def encode_treadmill_data(m: TreadmillData) -> bytes:
    return _TREADMILL.encode(m)


def decode_cross_trainer_data(data: bytes) -> CrossTrainerData:
    """Decode a Cross Trainer Data value (3-byte flags); reserved bits 16-23 are ignored."""
    return _CROSS_TRAINER.decode(data)


def encode_cross_trainer_data(m: CrossTrainerData) -> bytes:
    return _CROSS_TRAINER.encode(m)


def decode_rower_data(data: bytes) -> RowerData:
    """Decode a Rower Data value; reserved flag bits 13-15 are ignored."""
    return _ROWER.decode(data)


def encode_rower_data(m: RowerData) -> bytes:
    return _ROWER.encode(m)


# --- "More Data": records split over several notifications --------------------------------------

FitnessMachineData = IndoorBikeData | TreadmillData | CrossTrainerData | RowerData
R = TypeVar("R", IndoorBikeData, TreadmillData, CrossTrainerData, RowerData)


def _set_fields(record: FitnessMachineData) -> set[str]:
    return {
        f.name
        for f in fields(record)
        if not isinstance(getattr(record, f.name), bool) and getattr(record, f.name) is not None
    }


def merge_fitness_machine_records(parts: Sequence[R]) -> R:
    """One record from its parts, in the order they came: each field from the last part that
    carries it (a flag such as the cross trainer's direction from the last part)."""
    if not parts:
        raise ValueError("no parts to merge")
    kind = type(parts[0])
    if any(type(p) is not kind for p in parts):
        raise ValueError("parts of one record are all of one machine type")
    merged = parts[0]
    for part in parts[1:]:
        changes = {name: getattr(part, name) for name in _set_fields(part)}
        changes.update(
            {f.name: getattr(part, f.name) for f in fields(part) if f.metadata.get("flag")}
        )
        merged = replace(merged, **changes)
    return merged


_LAYOUTS: dict[type, FlaggedLayout[Any]] = {
    IndoorBikeData: _INDOOR_BIKE,
    TreadmillData: _TREADMILL,
    CrossTrainerData: _CROSS_TRAINER,
    RowerData: _ROWER,
}


def split_fitness_machine_record(record: R, max_payload: int = 20) -> tuple[R, ...]:
    """Split ``record`` into notifications of at most `max_payload` bytes, as a machine must
    when a record outgrows the ATT MTU (20 bytes of value at the default MTU of 23): every part
    but the last has More Data set, the last carries the first field. The inverse of
    `merge_fitness_machine_records`. A record that fits is returned whole."""
    layout = _LAYOUTS[type(record)]
    if len(layout.encode(record)) <= max_payload:
        return (record,)
    first, *rest = layout.groups
    room = max_payload - layout.flags_size
    if first.size > room or any(g.size > room for g in rest):
        raise ValueError(f"a field group does not fit {max_payload} bytes")
    chunks: list[list[str]] = [[]]
    used = 0
    for group in rest:
        if all(getattr(record, f.name) is None for f in group.fields):
            continue
        if used + group.size > room:
            chunks.append([])
            used = 0
        chunks[-1].extend(f.name for f in group.fields)
        used += group.size
    if used + first.size > room:
        chunks.append([])
    empty = {f.name: None for g in layout.groups for f in g.fields}
    parts: list[R] = [
        replace(record, **{**empty, **{n: getattr(record, n) for n in names}})
        for names in chunks[:-1]
    ]
    last = chunks[-1] + [f.name for f in first.fields]
    parts.append(replace(record, **{**empty, **{n: getattr(record, n) for n in last}}))
    return tuple(parts)


class FitnessMachineRecordAssembler(Generic[R]):
    """Joins the notifications of split records, one ``feed`` per notification.

    A part with More Data clear ends a record: ``feed`` returns the merged record. Machines are
    not all careful, so a record is also closed early, and returned with ``more_data`` still
    True, when a part repeats a field the pending parts already hold (a new record began without
    the old one ending, as on a machine that never sends the terminating field), or when
    `max_parts` parts are pending. Nothing is dropped.
    """

    def __init__(self, max_parts: int = 4) -> None:
        if max_parts < 1:
            raise ValueError("max_parts must be at least 1")
        self.max_parts = max_parts
        self._pending: list[R] = []

    @property
    def pending(self) -> tuple[R, ...]:
        return tuple(self._pending)

    def reset(self) -> None:
        """Drop pending parts, e.g. after a reconnect (a half record does not span links)."""
        self._pending.clear()

    def flush(self) -> R | None:
        """The pending parts as one (incomplete) record, or None when nothing is pending."""
        if not self._pending:
            return None
        record = merge_fitness_machine_records(self._pending)
        self._pending.clear()
        return record

    def feed(self, part: R) -> tuple[R, ...]:
        """Add one notification; return the records it completes (usually zero or one)."""
        out: list[R] = []
        if self._pending:
            held = set().union(*(_set_fields(p) for p in self._pending))
            if type(part) is not type(self._pending[0]) or held & _set_fields(part):
                flushed = self.flush()
                if flushed is not None:
                    out.append(flushed)
        self._pending.append(part)
        if not part.more_data or len(self._pending) >= self.max_parts:
            flushed = self.flush()
            if flushed is not None:
                out.append(flushed)
        return tuple(out)


__all__ = [
    "ENERGY_NOT_AVAILABLE",
    "ENERGY_PER_MINUTE_NOT_AVAILABLE",
    "INCLINATION_NOT_AVAILABLE",
    "CrossTrainerData",
    "FitnessMachineData",
    "FitnessMachineRecordAssembler",
    "IndoorBikeData",
    "RowerData",
    "TreadmillData",
    "decode_cross_trainer_data",
    "decode_indoor_bike_data",
    "decode_rower_data",
    "decode_treadmill_data",
    "encode_cross_trainer_data",
    "encode_indoor_bike_data",
    "encode_rower_data",
    "encode_treadmill_data",
    "merge_fitness_machine_records",
    "split_fitness_machine_record",
]
