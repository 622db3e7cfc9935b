"""Fitness Machine Control Point (0x2AD9) and Fitness Machine Status (0x2ADA), per the Fitness
Machine Service 1.0.

Control point: a client writes (with response) an op code and its parameter; the machine
answers with an indication ``0x80, request op code, result code[, response parameter]``. A
client must win Request Control first; anything else before that is refused with "control not
permitted".

Requests (op code, parameter, little-endian)::

    0x00 request control           -
    0x01 reset                     -
    0x02 set target speed          uint16 0.01 km/h
    0x03 set target inclination    sint16 0.1 %
    0x04 set target resistance     uint8 0.1 (unitless; uint8 in FTMS 1.0, some trainers
                                   want sint16: a codec choice made once, here)
    0x05 set target power          sint16 W
    0x06 set target heart rate     uint8 bpm
    0x07 start or resume           -
    0x08 stop or pause             uint8: 0x01 stop, 0x02 pause
    0x09 targeted expended energy  uint16 kcal
    0x0A targeted number of steps  uint16
    0x0B targeted number of strides uint16
    0x0C targeted distance         uint24 m
    0x0D targeted training time    uint16 s
    0x0E time in 2 heart rate zones  uint16 s x 2 (fat burn, fitness)
    0x0F time in 3 heart rate zones  uint16 s x 3 (light, moderate, hard)
    0x10 time in 5 heart rate zones  uint16 s x 5 (very light, light, moderate, hard, maximum)
    0x11 indoor bike simulation    wind speed sint16 0.001 m/s, grade sint16 0.01 %,
                                   rolling resistance uint8 0.0001, wind resistance uint8
                                   0.01 kg/m
    0x12 wheel circumference       uint16 0.1 mm
    0x13 spin down control         uint8: 0x01 start, 0x02 ignore
    0x14 targeted cadence          uint16 0.5 /min
    0x80 response code             request op code uint8, result code uint8, parameter

Result codes: 0x01 success, 0x02 op code not supported, 0x03 invalid parameter, 0x04 operation
failed, 0x05 control not permitted.

Status notifications: op code and parameter. The parameters of "target ... changed" are laid out
as the matching request's, so they decode to the same dataclasses::

    0x01 reset                              -
    0x02 stopped or paused by the user      uint8: 0x01 stop, 0x02 pause
    0x03 stopped by safety key              -
    0x04 started or resumed by the user     -
    0x05-0x09 target speed / incline / resistance / power / heart rate changed
    0x0A-0x11 targeted energy / steps / strides / distance / time / zone times / simulation
    0x13 wheel circumference changed, 0x14 spin down status (uint8), 0x15 targeted cadence
    0xFF control permission lost (another client took control, or the machine was reset)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from firmware_bridge.errors import MalformedPayloadError
from firmware_bridge.gatt._wire import FixedLayout, as_payload, wire
from firmware_bridge.gatt.uuids import (
    CHARACTERISTIC_NAMES,
    FITNESS_MACHINE_CONTROL_POINT,
    FITNESS_MACHINE_STATUS,
)

_CP_NAME = CHARACTERISTIC_NAMES[FITNESS_MACHINE_CONTROL_POINT]
_STATUS_NAME = CHARACTERISTIC_NAMES[FITNESS_MACHINE_STATUS]


class ControlOpCode(IntEnum):
    REQUEST_CONTROL = 0x00
    RESET = 0x01
    SET_TARGET_SPEED = 0x02
    SET_TARGET_INCLINATION = 0x03
    SET_TARGET_RESISTANCE_LEVEL = 0x04
    SET_TARGET_POWER = 0x05
    SET_TARGET_HEART_RATE = 0x06
    START_OR_RESUME = 0x07
    STOP_OR_PAUSE = 0x08
    SET_TARGETED_EXPENDED_ENERGY = 0x09
    SET_TARGETED_STEPS = 0x0A
    SET_TARGETED_STRIDES = 0x0B
    SET_TARGETED_DISTANCE = 0x0C
    SET_TARGETED_TRAINING_TIME = 0x0D
    SET_TARGETED_TIME_IN_TWO_ZONES = 0x0E
    SET_TARGETED_TIME_IN_THREE_ZONES = 0x0F
    SET_TARGETED_TIME_IN_FIVE_ZONES = 0x10
    SET_INDOOR_BIKE_SIMULATION = 0x11
    SET_WHEEL_CIRCUMFERENCE = 0x12
    SPIN_DOWN_CONTROL = 0x13
    SET_TARGETED_CADENCE = 0x14
    RESPONSE = 0x80


class ResultCode(IntEnum):
    SUCCESS = 0x01
    NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    OPERATION_FAILED = 0x04
    CONTROL_NOT_PERMITTED = 0x05


# --- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestControl:
    """0x00: ask for control; every other request needs it first."""


@dataclass(frozen=True, slots=True)
class Reset:
    """0x01: targets and session data back to their defaults; control is released."""


@dataclass(frozen=True, slots=True)
class SetTargetSpeed:
    speed_kmh: float = field(metadata=wire("H", 100))


@dataclass(frozen=True, slots=True)
class SetTargetInclination:
    inclination_percent: float = field(metadata=wire("h", 10))


@dataclass(frozen=True, slots=True)
class SetTargetResistanceLevel:
    level: float = field(metadata=wire("B", 10))


@dataclass(frozen=True, slots=True)
class SetTargetPower:
    """0x05: hold this power whatever the cadence (ERG)."""

    power_w: int = field(metadata=wire("h"))


@dataclass(frozen=True, slots=True)
class SetTargetHeartRate:
    bpm: int = field(metadata=wire("B"))


@dataclass(frozen=True, slots=True)
class StartOrResume:
    """0x07."""


@dataclass(frozen=True, slots=True)
class StopOrPause:
    """0x08: stop (the session ends, targets are dropped) or pause (they are kept)."""

    pause: bool = False


@dataclass(frozen=True, slots=True)
class SetTargetedExpendedEnergy:
    energy_kcal: int = field(metadata=wire("H"))


@dataclass(frozen=True, slots=True)
class SetTargetedSteps:
    steps: int = field(metadata=wire("H"))


@dataclass(frozen=True, slots=True)
class SetTargetedStrides:
    strides: int = field(metadata=wire("H"))


@dataclass(frozen=True, slots=True)
class SetTargetedDistance:
    distance_m: int = field(metadata=wire("u24"))


@dataclass(frozen=True, slots=True)
class SetTargetedTrainingTime:
    time_s: int = field(metadata=wire("H"))


@dataclass(frozen=True, slots=True)
class SetTargetedTimeInTwoZones:
    fat_burn_s: int = field(metadata=wire("H"))
    fitness_s: int = field(metadata=wire("H"))


@dataclass(frozen=True, slots=True)
class SetTargetedTimeInThreeZones:
    light_s: int = field(metadata=wire("H"))
    moderate_s: int = field(metadata=wire("H"))
    hard_s: int = field(metadata=wire("H"))


@dataclass(frozen=True, slots=True)
class SetTargetedTimeInFiveZones:
    very_light_s: int = field(metadata=wire("H"))
    light_s: int = field(metadata=wire("H"))
    moderate_s: int = field(metadata=wire("H"))
    hard_s: int = field(metadata=wire("H"))
    maximum_s: int = field(metadata=wire("H"))


@dataclass(frozen=True, slots=True)
class SetIndoorBikeSimulation:
    """0x11: the bike computes resistance from these (SIM mode), not from a power target."""

    wind_speed_mps: float = field(metadata=wire("h", 1000))
    grade_percent: float = field(metadata=wire("h", 100))
    rolling_resistance: float = field(metadata=wire("B", 10000))
    wind_resistance_kg_per_m: float = field(metadata=wire("B", 100))


@dataclass(frozen=True, slots=True)
class SetWheelCircumference:
    circumference_mm: float = field(metadata=wire("H", 10))


@dataclass(frozen=True, slots=True)
class SpinDownControl:
    """0x13: start a spin down calibration, or ignore the machine's request for one."""

    start: bool = True


@dataclass(frozen=True, slots=True)
class SetTargetedCadence:
    cadence_rpm: float = field(metadata=wire("H", 2))


ControlPointRequest = (
    RequestControl
    | Reset
    | SetTargetSpeed
    | SetTargetInclination
    | SetTargetResistanceLevel
    | SetTargetPower
    | SetTargetHeartRate
    | StartOrResume
    | StopOrPause
    | SetTargetedExpendedEnergy
    | SetTargetedSteps
    | SetTargetedStrides
    | SetTargetedDistance
    | SetTargetedTrainingTime
    | SetTargetedTimeInTwoZones
    | SetTargetedTimeInThreeZones
    | SetTargetedTimeInFiveZones
    | SetIndoorBikeSimulation
    | SetWheelCircumference
    | SpinDownControl
    | SetTargetedCadence
)


class _Choice:
    """A one-byte parameter of two named values, decoded to a bool field (stop/pause)."""

    def __init__(self, cls: type, attribute: str, false: int, true: int, meaning: str) -> None:
        self.cls = cls
        self.attribute = attribute
        self.false = false
        self.true = true
        self.meaning = meaning
        self.size = 1

    def decode(self, data: bytes, what: str, offset: int, characteristic: str) -> Any:
        body = data[offset:]
        if len(body) != 1:
            raise MalformedPayloadError(
                characteristic, data, f"{what} carries one uint8 ({self.meaning}), got {len(body)}"
            )
        if body[0] not in (self.false, self.true):
            raise MalformedPayloadError(
                characteristic, data, f"{what}: {body[0]:#04x} is not {self.meaning}"
            )
        return self.cls(**{self.attribute: body[0] == self.true})

    def encode(self, value: Any) -> bytes:
        flag = getattr(value, self.attribute)
        if not isinstance(flag, bool):
            raise TypeError(f"{self.attribute} must be a bool, got {type(flag).__name__}")
        return bytes([self.true if flag else self.false])


class _Fixed:
    def __init__(self, cls: Callable[..., Any], characteristic: str) -> None:
        self.layout = FixedLayout(cls, characteristic)

    def decode(self, data: bytes, what: str, offset: int, characteristic: str) -> Any:
        try:
            return self.layout.decode(data, what, offset)
        except MalformedPayloadError as error:
            # the same parameter layouts serve the status characteristic: name the right one
            raise MalformedPayloadError(characteristic, data, error.reason) from None

    def encode(self, value: Any) -> bytes:
        return self.layout.encode(value)


_STOP_OR_PAUSE = _Choice(StopOrPause, "pause", 0x01, 0x02, "0x01 stop or 0x02 pause")

_REQUESTS: dict[ControlOpCode, tuple[type, _Fixed | _Choice]] = {
    ControlOpCode.REQUEST_CONTROL: (RequestControl, _Fixed(RequestControl, _CP_NAME)),
    ControlOpCode.RESET: (Reset, _Fixed(Reset, _CP_NAME)),
    ControlOpCode.SET_TARGET_SPEED: (SetTargetSpeed, _Fixed(SetTargetSpeed, _CP_NAME)),
    ControlOpCode.SET_TARGET_INCLINATION: (
        SetTargetInclination,
        _Fixed(SetTargetInclination, _CP_NAME),
    ),
    ControlOpCode.SET_TARGET_RESISTANCE_LEVEL: (
        SetTargetResistanceLevel,
        _Fixed(SetTargetResistanceLevel, _CP_NAME),
    ),
    ControlOpCode.SET_TARGET_POWER: (SetTargetPower, _Fixed(SetTargetPower, _CP_NAME)),
    ControlOpCode.SET_TARGET_HEART_RATE: (SetTargetHeartRate, _Fixed(SetTargetHeartRate, _CP_NAME)),
    ControlOpCode.START_OR_RESUME: (StartOrResume, _Fixed(StartOrResume, _CP_NAME)),
    ControlOpCode.STOP_OR_PAUSE: (StopOrPause, _STOP_OR_PAUSE),
    ControlOpCode.SET_TARGETED_EXPENDED_ENERGY: (
        SetTargetedExpendedEnergy,
        _Fixed(SetTargetedExpendedEnergy, _CP_NAME),
    ),
    ControlOpCode.SET_TARGETED_STEPS: (SetTargetedSteps, _Fixed(SetTargetedSteps, _CP_NAME)),
    ControlOpCode.SET_TARGETED_STRIDES: (SetTargetedStrides, _Fixed(SetTargetedStrides, _CP_NAME)),
    ControlOpCode.SET_TARGETED_DISTANCE: (
        SetTargetedDistance,
        _Fixed(SetTargetedDistance, _CP_NAME),
    ),
    ControlOpCode.SET_TARGETED_TRAINING_TIME: (
        SetTargetedTrainingTime,
        _Fixed(SetTargetedTrainingTime, _CP_NAME),
    ),
    ControlOpCode.SET_TARGETED_TIME_IN_TWO_ZONES: (
        SetTargetedTimeInTwoZones,
        _Fixed(SetTargetedTimeInTwoZones, _CP_NAME),
    ),
    ControlOpCode.SET_TARGETED_TIME_IN_THREE_ZONES: (
        SetTargetedTimeInThreeZones,
        _Fixed(SetTargetedTimeInThreeZones, _CP_NAME),
    ),
    ControlOpCode.SET_TARGETED_TIME_IN_FIVE_ZONES: (
        SetTargetedTimeInFiveZones,
        _Fixed(SetTargetedTimeInFiveZones, _CP_NAME),
    ),
    ControlOpCode.SET_INDOOR_BIKE_SIMULATION: (
        SetIndoorBikeSimulation,
        _Fixed(SetIndoorBikeSimulation, _CP_NAME),
    ),
    ControlOpCode.SET_WHEEL_CIRCUMFERENCE: (
        SetWheelCircumference,
        _Fixed(SetWheelCircumference, _CP_NAME),
    ),
    ControlOpCode.SPIN_DOWN_CONTROL: (
        SpinDownControl,
        _Choice(SpinDownControl, "start", 0x02, 0x01, "0x01 start or 0x02 ignore"),
    ),
    ControlOpCode.SET_TARGETED_CADENCE: (SetTargetedCadence, _Fixed(SetTargetedCadence, _CP_NAME)),
}
_OP_CODE_OF: dict[type, ControlOpCode] = {cls: op for op, (cls, _) in _REQUESTS.items()}


def op_code_of(request: ControlPointRequest) -> ControlOpCode:
    """The op code a request goes out with (what its response names)."""
    try:
        return _OP_CODE_OF[type(request)]
    except KeyError:
        raise TypeError(f"not a control point request: {type(request).__name__}") from None


@dataclass(frozen=True, slots=True)
class ControlPointResponse:
    """The machine's answer (op code 0x80), sent as an indication. Codes are kept as numbers:
    a machine may answer an op code or with a result code this module does not name."""

    request_op_code: int
    result: int
    #: Response parameter, for the few requests that have one (spin down).
    parameter: bytes = b""

    @property
    def ok(self) -> bool:
        return self.result == ResultCode.SUCCESS

    @property
    def result_code(self) -> ResultCode | None:
        try:
            return ResultCode(self.result)
        except ValueError:
            return None

    @property
    def request(self) -> ControlOpCode | None:
        try:
            return ControlOpCode(self.request_op_code)
        except ValueError:
            return None


def _op_name(op: int) -> str:
    try:
        return ControlOpCode(op).name.lower().replace("_", " ")
    except ValueError:
        return f"op code {op:#04x}"


def decode_fitness_machine_control_point(data: bytes) -> ControlPointRequest | ControlPointResponse:
    """Decode a control point value: a request (what a client writes) or a response (what the
    machine indicates). An op code the specification does not define, or a parameter of the
    wrong length or value, raises MalformedPayloadError (a machine answers those with "not
    supported" and "invalid parameter")."""
    payload = as_payload(data)
    if not payload:
        raise MalformedPayloadError(_CP_NAME, payload, "empty value; an op code is required")
    op = payload[0]
    if op == ControlOpCode.RESPONSE:
        if len(payload) < 3:
            raise MalformedPayloadError(
                _CP_NAME,
                payload,
                "too short: a response carries the request op code and a result code",
            )
        return ControlPointResponse(
            request_op_code=payload[1], result=payload[2], parameter=payload[3:]
        )
    try:
        code = ControlOpCode(op)
    except ValueError:
        raise MalformedPayloadError(
            _CP_NAME, payload, f"op code {op:#04x} is not defined by the Fitness Machine Service"
        ) from None
    _, codec = _REQUESTS[code]
    return codec.decode(payload, _op_name(op), 1, _CP_NAME)  # type: ignore[no-any-return]


def decode_control_point_response(data: bytes) -> ControlPointResponse:
    """Decode what a machine indicates on its control point: a response, nothing else."""
    value = decode_fitness_machine_control_point(data)
    if not isinstance(value, ControlPointResponse):
        raise MalformedPayloadError(
            _CP_NAME,
            bytes(data),
            f"expected a response (0x80), got a request ({_op_name(data[0])})",
        )
    return value


def encode_fitness_machine_control_point(
    value: ControlPointRequest | ControlPointResponse,
) -> bytes:
    """Encode a request or a response; ValueError when a parameter does not fit its field."""
    if isinstance(value, ControlPointResponse):
        for name in ("request_op_code", "result"):
            number = getattr(value, name)
            if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 0xFF:
                raise ValueError(f"{name} must be an int 0..255, got {number!r}")
        if not isinstance(value.parameter, bytes):
            raise TypeError("parameter must be bytes")
        return (
            bytes([ControlOpCode.RESPONSE, value.request_op_code, value.result]) + value.parameter
        )
    op = op_code_of(value)
    _, codec = _REQUESTS[op]
    return bytes([op]) + codec.encode(value)


def response_to(
    request: ControlPointRequest | int, result: ResultCode, parameter: bytes = b""
) -> ControlPointResponse:
    """The response a machine sends to `request` (a request or its raw op code)."""
    op = request if isinstance(request, int) else op_code_of(request)
    return ControlPointResponse(request_op_code=int(op), result=int(result), parameter=parameter)


# --- Fitness Machine Status ---------------------------------------------------------------------


class StatusCode(IntEnum):
    RESET = 0x01
    STOPPED_OR_PAUSED_BY_USER = 0x02
    STOPPED_BY_SAFETY_KEY = 0x03
    STARTED_OR_RESUMED_BY_USER = 0x04
    TARGET_SPEED_CHANGED = 0x05
    TARGET_INCLINE_CHANGED = 0x06
    TARGET_RESISTANCE_LEVEL_CHANGED = 0x07
    TARGET_POWER_CHANGED = 0x08
    TARGET_HEART_RATE_CHANGED = 0x09
    TARGETED_EXPENDED_ENERGY_CHANGED = 0x0A
    TARGETED_STEPS_CHANGED = 0x0B
    TARGETED_STRIDES_CHANGED = 0x0C
    TARGETED_DISTANCE_CHANGED = 0x0D
    TARGETED_TRAINING_TIME_CHANGED = 0x0E
    TARGETED_TIME_IN_TWO_ZONES_CHANGED = 0x0F
    TARGETED_TIME_IN_THREE_ZONES_CHANGED = 0x10
    TARGETED_TIME_IN_FIVE_ZONES_CHANGED = 0x11
    INDOOR_BIKE_SIMULATION_CHANGED = 0x12
    WHEEL_CIRCUMFERENCE_CHANGED = 0x13
    SPIN_DOWN_STATUS = 0x14
    TARGETED_CADENCE_CHANGED = 0x15
    CONTROL_PERMISSION_LOST = 0xFF


@dataclass(frozen=True, slots=True)
class SpinDownStatus:
    """The parameter of status 0x14: 1 spin down requested, 2 success, 3 error, 4 stop pedalling."""

    status: int = field(metadata=wire("B"))


StatusParameter = ControlPointRequest | SpinDownStatus

_STATUS_PARAMETERS: dict[StatusCode, tuple[type, _Fixed | _Choice] | None] = {
    StatusCode.RESET: None,
    StatusCode.STOPPED_OR_PAUSED_BY_USER: (StopOrPause, _STOP_OR_PAUSE),
    StatusCode.STOPPED_BY_SAFETY_KEY: None,
    StatusCode.STARTED_OR_RESUMED_BY_USER: None,
    StatusCode.TARGET_SPEED_CHANGED: _REQUESTS[ControlOpCode.SET_TARGET_SPEED],
    StatusCode.TARGET_INCLINE_CHANGED: _REQUESTS[ControlOpCode.SET_TARGET_INCLINATION],
    StatusCode.TARGET_RESISTANCE_LEVEL_CHANGED: _REQUESTS[
        ControlOpCode.SET_TARGET_RESISTANCE_LEVEL
    ],
    StatusCode.TARGET_POWER_CHANGED: _REQUESTS[ControlOpCode.SET_TARGET_POWER],
    StatusCode.TARGET_HEART_RATE_CHANGED: _REQUESTS[ControlOpCode.SET_TARGET_HEART_RATE],
    StatusCode.TARGETED_EXPENDED_ENERGY_CHANGED: _REQUESTS[
        ControlOpCode.SET_TARGETED_EXPENDED_ENERGY
    ],
    StatusCode.TARGETED_STEPS_CHANGED: _REQUESTS[ControlOpCode.SET_TARGETED_STEPS],
    StatusCode.TARGETED_STRIDES_CHANGED: _REQUESTS[ControlOpCode.SET_TARGETED_STRIDES],
    StatusCode.TARGETED_DISTANCE_CHANGED: _REQUESTS[ControlOpCode.SET_TARGETED_DISTANCE],
    StatusCode.TARGETED_TRAINING_TIME_CHANGED: _REQUESTS[ControlOpCode.SET_TARGETED_TRAINING_TIME],
    StatusCode.TARGETED_TIME_IN_TWO_ZONES_CHANGED: _REQUESTS[
        ControlOpCode.SET_TARGETED_TIME_IN_TWO_ZONES
    ],
    StatusCode.TARGETED_TIME_IN_THREE_ZONES_CHANGED: _REQUESTS[
        ControlOpCode.SET_TARGETED_TIME_IN_THREE_ZONES
    ],
    StatusCode.TARGETED_TIME_IN_FIVE_ZONES_CHANGED: _REQUESTS[
        ControlOpCode.SET_TARGETED_TIME_IN_FIVE_ZONES
    ],
    StatusCode.INDOOR_BIKE_SIMULATION_CHANGED: _REQUESTS[ControlOpCode.SET_INDOOR_BIKE_SIMULATION],
    StatusCode.WHEEL_CIRCUMFERENCE_CHANGED: _REQUESTS[ControlOpCode.SET_WHEEL_CIRCUMFERENCE],
    StatusCode.SPIN_DOWN_STATUS: (SpinDownStatus, _Fixed(SpinDownStatus, _STATUS_NAME)),
    StatusCode.TARGETED_CADENCE_CHANGED: _REQUESTS[ControlOpCode.SET_TARGETED_CADENCE],
    StatusCode.CONTROL_PERMISSION_LOST: None,
}


@dataclass(frozen=True, slots=True)
class FitnessMachineStatus:
    """One status notification. `parameter` is laid out as the matching request: status
    TARGET_POWER_CHANGED carries a `SetTargetPower`, STOPPED_OR_PAUSED_BY_USER a `StopOrPause`,
    and so on; None for the codes that carry nothing."""

    code: StatusCode
    parameter: StatusParameter | None = None


def decode_fitness_machine_status(data: bytes) -> FitnessMachineStatus:
    """Decode a status notification; MalformedPayloadError for an op code the specification
    does not define or a parameter of the wrong length."""
    payload = as_payload(data)
    if not payload:
        raise MalformedPayloadError(_STATUS_NAME, payload, "empty value; an op code is required")
    try:
        code = StatusCode(payload[0])
    except ValueError:
        raise MalformedPayloadError(
            _STATUS_NAME,
            payload,
            f"status op code {payload[0]:#04x} is not defined by the Fitness Machine Service",
        ) from None
    what = code.name.lower().replace("_", " ")
    entry = _STATUS_PARAMETERS[code]
    if entry is None:
        if len(payload) != 1:
            raise MalformedPayloadError(
                _STATUS_NAME,
                payload,
                f"too long: {what} carries no parameter, got {len(payload) - 1} more byte(s)",
            )
        return FitnessMachineStatus(code)
    _, codec = entry
    return FitnessMachineStatus(code, codec.decode(payload, what, 1, _STATUS_NAME))


def encode_fitness_machine_status(status: FitnessMachineStatus) -> bytes:
    """Encode a status; ValueError when the parameter is not the one its code carries."""
    code = StatusCode(status.code)
    entry = _STATUS_PARAMETERS[code]
    if entry is None:
        if status.parameter is not None:
            raise ValueError(f"status {code.name} carries no parameter")
        return bytes([code])
    cls, codec = entry
    if type(status.parameter) is not cls:
        raise ValueError(
            f"status {code.name} carries a {cls.__name__}, got {type(status.parameter).__name__}"
        )
    return bytes([code]) + codec.encode(status.parameter)


__all__ = [
    "ControlOpCode",
    "ControlPointRequest",
    "ControlPointResponse",
    "FitnessMachineStatus",
    "RequestControl",
    "Reset",
    "ResultCode",
    "SetIndoorBikeSimulation",
    "SetTargetHeartRate",
    "SetTargetInclination",
    "SetTargetPower",
    "SetTargetResistanceLevel",
    "SetTargetSpeed",
    "SetTargetedCadence",
    "SetTargetedDistance",
    "SetTargetedExpendedEnergy",
    "SetTargetedSteps",
    "SetTargetedStrides",
    "SetTargetedTimeInFiveZones",
    "SetTargetedTimeInThreeZones",
    "SetTargetedTimeInTwoZones",
    "SetTargetedTrainingTime",
    "SetWheelCircumference",
    "SpinDownControl",
    "SpinDownStatus",
    "StartOrResume",
    "StatusCode",
    "StatusParameter",
    "StopOrPause",
    "decode_control_point_response",
    "decode_fitness_machine_control_point",
    "decode_fitness_machine_status",
    "encode_fitness_machine_control_point",
    "encode_fitness_machine_status",
    "op_code_of",
    "response_to",
]
