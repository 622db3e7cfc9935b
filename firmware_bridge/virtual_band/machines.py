"""Virtual fitness machines behind the fake BlueZ: an indoor bike with ERG and a treadmill.

Each is a `VirtualBand` (so it shares the sent log, the faults of a band and the waiting helpers)
that serves the Fitness Machine Service (0x1826): Fitness Machine Feature, its data record
(Indoor Bike Data or Treadmill Data), Training Status, the supported ranges, the Control Point
(write with response + indicate) and Fitness Machine Status (notify). The bike serves the Cycling
Power Service (0x1818) too, as most smart trainers do.

The control point behaves as the FTMS 1.0 specification says, so a client that works here has
met every rule a real machine enforces:

- a write needs indications enabled on the control point first, else the ATT error 0xFD (CCC
  improperly configured); a write while the previous response is still owed is 0xFE (procedure
  already in progress): a client waits for each response before the next write;
- every request is answered by an indication ``0x80, op code, result``; anything but Request
  Control before control was granted is "control not permitted"; an op code the machine does not
  support is "not supported"; a parameter of the wrong size or outside the supported range is
  "invalid parameter";
- successful target changes are followed by a status notification (target power changed, ...),
  Reset by the Reset status; control is released by Reset and by losing the link.

Faults on demand: `refuse_control`, `take_control_by_other_app` (status 0xFF, control
permission lost), `press_stop` / `press_start` (the machine's own buttons: status "stopped or
paused by the user", "started or resumed by the user"), the person changing the target at the
machine (`user_sets_*`, a target-changed status), `fail_next_request`, and the band's own
`drop_link` / `out_of_range` for a link lost mid-workout.

The models are physics-free on purpose: the bike's power moves towards the ERG target at
`ramp_w_per_s` while the rider pedals, the treadmill's belt and deck move towards their targets
at fixed rates. Time is model time: every `tick_s` of wall time the model advances
`model_step_s`, so a test can run a ten-minute workout in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from firmware_bridge.errors import MalformedPayloadError
from firmware_bridge.gatt.cycling_power import (
    CyclingPowerFeature,
    CyclingPowerFeatureBits,
    CyclingPowerMeasurement,
    SensorLocation,
    encode_cycling_power_feature,
    encode_cycling_power_measurement,
    encode_sensor_location,
)
from firmware_bridge.gatt.fitness_machine import (
    ControlOpCode,
    ControlPointResponse,
    FitnessMachineFeature,
    FitnessMachineStatus,
    IndoorBikeData,
    MachineFeature,
    RequestControl,
    Reset,
    ResultCode,
    SetTargetInclination,
    SetTargetPower,
    SetTargetResistanceLevel,
    SetTargetSpeed,
    StartOrResume,
    StatusCode,
    StopOrPause,
    SupportedInclinationRange,
    SupportedPowerRange,
    SupportedResistanceLevelRange,
    SupportedSpeedRange,
    TargetSettingFeature,
    TrainingStatus,
    TrainingStatusCode,
    TreadmillData,
    decode_fitness_machine_control_point,
    encode_fitness_machine_control_point,
    encode_fitness_machine_feature,
    encode_fitness_machine_status,
    encode_indoor_bike_data,
    encode_supported_inclination_range,
    encode_supported_power_range,
    encode_supported_resistance_level_range,
    encode_supported_speed_range,
    encode_training_status,
    encode_treadmill_data,
    response_to,
    split_fitness_machine_record,
)
from firmware_bridge.gatt.uuids import (
    CYCLING_POWER_FEATURE,
    CYCLING_POWER_MEASUREMENT,
    CYCLING_POWER_SERVICE,
    FITNESS_MACHINE_CONTROL_POINT,
    FITNESS_MACHINE_FEATURE,
    FITNESS_MACHINE_SERVICE,
    FITNESS_MACHINE_STATUS,
    INDOOR_BIKE_DATA,
    SENSOR_LOCATION,
    SUPPORTED_INCLINATION_RANGE,
    SUPPORTED_POWER_RANGE,
    SUPPORTED_RESISTANCE_LEVEL_RANGE,
    SUPPORTED_SPEED_RANGE,
    TRAINING_STATUS,
    TREADMILL_DATA,
)

from .band import VirtualBand, cycling_power_script
from .bluez import DEFAULT_MTU, AttError, CharacteristicSpec, DeviceLink, ServiceSpec

_LOGGER = logging.getLogger(__name__)

#: Who holds control of the machine: nobody, the central behind the fake BlueZ, or another app
#: (a phone at the gym) that the fault `take_control_by_other_app` stands for.
CENTRAL = "central"
OTHER_APP = "other app"


class MachineState(Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A control point write as the machine saw it, and what it answered."""

    #: Model time of the write.
    t: float
    payload: bytes
    #: The decoded request, or None when the machine could not decode it.
    request: object | None
    result: ResultCode | None
    #: The ATT error the write got instead of a response, if any.
    att_error: int | None = None


@dataclass(frozen=True, slots=True)
class MachineSample:
    """The machine's state after one model step, for tests and demos."""

    t: float
    state: MachineState
    controller: str | None
    power_w: float = 0.0
    cadence_rpm: float = 0.0
    speed_kmh: float = 0.0
    inclination_percent: float = 0.0
    target_power_w: int | None = None
    target_speed_kmh: float | None = None
    target_inclination_percent: float | None = None


class VirtualFitnessMachine(VirtualBand):
    """The FTMS server common to both machines; subclasses add the model and the data record."""

    #: The data characteristic this machine notifies.
    data_uuid: str = INDOOR_BIKE_DATA

    def __init__(
        self,
        address: str,
        name: str,
        *,
        tick_s: float = 1.0,
        model_step_s: float | None = None,
        response_delay_s: float = 0.01,
        mtu: int = DEFAULT_MTU,
        battery: bool = False,
        manufacturer: str = "edgecoach",
        model: str = "virtual machine",
    ) -> None:
        super().__init__(
            address,
            name,
            services=("device_info", "battery") if battery else ("device_info",),
            manufacturer=manufacturer,
            model=model,
        )
        if tick_s <= 0:
            raise ValueError("tick_s must be positive")
        self.tick_s = tick_s
        self.model_step_s = tick_s if model_step_s is None else model_step_s
        self.response_delay_s = response_delay_s
        #: The most a notification can carry: ATT MTU less the 3-byte header.
        self.max_payload = mtu - 3
        #: Model seconds since the first connection.
        self.t = 0.0
        self.state = MachineState.IDLE
        self.controller: str | None = None
        #: Fault: Request Control is answered "control not permitted".
        self.refuse_control = False
        #: Every control point write, in order.
        self.requests: list[ReceivedRequest] = []
        #: One sample per model step.
        self.samples: list[MachineSample] = []
        #: Called with each new sample (a person model driven by the machine, say).
        self.on_sample: Callable[[MachineSample], None] | None = None
        self.elapsed_s = 0.0
        self.distance_m = 0.0
        self.energy_kcal = 0.0
        self._energy_per_hour = 0.0
        self._fail_next: ResultCode | None = None
        self._response_owed = False
        self._model_task: asyncio.Task[None] | None = None

    # --- the GATT database --------------------------------------------------------------------

    def machine_feature(self) -> FitnessMachineFeature:
        raise NotImplementedError

    def range_characteristics(self) -> tuple[CharacteristicSpec, ...]:
        raise NotImplementedError

    def extra_services(self) -> list[ServiceSpec]:
        return []

    def advertised_uuids(self) -> list[str]:
        return [FITNESS_MACHINE_SERVICE, *(s.uuid for s in self.extra_services())]

    def gatt_services(self) -> list[ServiceSpec]:
        ftms = ServiceSpec(
            FITNESS_MACHINE_SERVICE,
            (
                CharacteristicSpec(
                    FITNESS_MACHINE_FEATURE,
                    ("read",),
                    encode_fitness_machine_feature(self.machine_feature()),
                ),
                CharacteristicSpec(self.data_uuid, ("notify",), acquire_notify=self.acquire_notify),
                CharacteristicSpec(
                    TRAINING_STATUS,
                    ("read", "notify"),
                    self._training_status_bytes(),
                    acquire_notify=self.acquire_notify,
                ),
                *self.range_characteristics(),
                CharacteristicSpec(FITNESS_MACHINE_CONTROL_POINT, ("write", "indicate")),
                CharacteristicSpec(
                    FITNESS_MACHINE_STATUS, ("notify",), acquire_notify=self.acquire_notify
                ),
            ),
        )
        return [ftms, *self.extra_services(), *super().gatt_services()]

    def read_value(self, uuid: str) -> bytes | None:
        if uuid == TRAINING_STATUS:
            return self._training_status_bytes()
        return super().read_value(uuid)

    # --- link ---------------------------------------------------------------------------------

    def link_up(self, link: DeviceLink) -> None:
        super().link_up(link)
        if self._model_task is None:
            self._model_task = self._spawn(self._run_model(), "model")

    def link_down(self, reason: str) -> None:
        super().link_down(reason)
        # FTMS: control belongs to a connection and ends with it. A machine left running keeps
        # running (the person is on it), but a target the lost client set is not held blind.
        if self.controller == CENTRAL:
            self.controller = None
            self.on_control_lost()
        self._response_owed = False

    def on_control_lost(self) -> None:
        """The controlling client is gone: drop what only it could watch over."""

    # --- control point ------------------------------------------------------------------------

    def write_value(self, uuid: str, value: bytes, with_response: bool) -> None:
        if uuid != FITNESS_MACHINE_CONTROL_POINT:
            raise AttError(AttError.WRITE_NOT_PERMITTED)
        if not self._subscribed(FITNESS_MACHINE_CONTROL_POINT):
            self._log_request(value, None, None, AttError.CCCD_IMPROPERLY_CONFIGURED)
            raise AttError(AttError.CCCD_IMPROPERLY_CONFIGURED)
        if self._response_owed:
            self._log_request(value, None, None, AttError.PROCEDURE_ALREADY_IN_PROGRESS)
            raise AttError(AttError.PROCEDURE_ALREADY_IN_PROGRESS)
        if not value:
            self._log_request(value, None, None, AttError.INVALID_ATTRIBUTE_VALUE_LENGTH)
            raise AttError(AttError.INVALID_ATTRIBUTE_VALUE_LENGTH)
        request: object | None
        statuses: list[FitnessMachineStatus] = []
        try:
            request = decode_fitness_machine_control_point(value)
        except MalformedPayloadError:
            request = None
            known = value[0] in {int(op) for op in ControlOpCode} - {ControlOpCode.RESPONSE}
            result = ResultCode.INVALID_PARAMETER if known else ResultCode.NOT_SUPPORTED
        else:
            if isinstance(request, ControlPointResponse):
                result = ResultCode.NOT_SUPPORTED
            else:
                result = self._handle(request, statuses)
        self._log_request(value, request, result, None)
        self._response_owed = True
        response = response_to(value[0], result)
        self._spawn(self._respond(response, statuses), "control-point")

    def _handle(self, request: Any, statuses: list[FitnessMachineStatus]) -> ResultCode:
        if isinstance(request, RequestControl):
            if self.refuse_control or self.controller == OTHER_APP:
                return ResultCode.CONTROL_NOT_PERMITTED
            self.controller = CENTRAL
            return ResultCode.SUCCESS
        if self.controller != CENTRAL:
            return ResultCode.CONTROL_NOT_PERMITTED
        if not self.supports(request):
            return ResultCode.NOT_SUPPORTED
        if self._fail_next is not None:
            result, self._fail_next = self._fail_next, None
            return result
        if isinstance(request, Reset):
            self.reset_session()
            self.controller = None
            statuses.append(FitnessMachineStatus(StatusCode.RESET))
            return ResultCode.SUCCESS
        if isinstance(request, StartOrResume):
            self.state = MachineState.RUNNING
            self._training_status_changed()
            return ResultCode.SUCCESS
        if isinstance(request, StopOrPause):
            self._stop(pause=request.pause)
            return ResultCode.SUCCESS
        return self.apply_target(request, statuses)

    def supports(self, request: object) -> bool:
        """Whether this machine takes `request` (its target setting features)."""
        return isinstance(request, Reset | StartOrResume | StopOrPause)

    def apply_target(self, request: Any, statuses: list[FitnessMachineStatus]) -> ResultCode:
        """Apply a supported target request; INVALID_PARAMETER when outside the range."""
        return ResultCode.NOT_SUPPORTED

    async def _respond(
        self, response: ControlPointResponse, statuses: list[FitnessMachineStatus]
    ) -> None:
        try:
            if self.response_delay_s > 0:
                await asyncio.sleep(self.response_delay_s)
            # an indication, then the status notifications the change caused
            self.notify(
                FITNESS_MACHINE_CONTROL_POINT, encode_fitness_machine_control_point(response)
            )
        finally:
            self._response_owed = False
        for status in statuses:
            self._send_status(status)

    def _log_request(
        self, value: bytes, request: object | None, result: ResultCode | None, att: int | None
    ) -> None:
        self.requests.append(ReceivedRequest(self.t, bytes(value), request, result, att))
        self._signal()

    # --- faults and the person at the machine -------------------------------------------------

    def fail_next_request(self, result: ResultCode = ResultCode.OPERATION_FAILED) -> None:
        """Answer the next request that would succeed with `result` instead."""
        self._fail_next = result

    def take_control_by_other_app(self) -> None:
        """Another client (a phone app at the gym) takes control: we are told by status 0xFF
        (control permission lost) and are refused until `release_other_app`."""
        had_control = self.controller == CENTRAL
        self.controller = OTHER_APP
        if had_control:
            self._send_status(FitnessMachineStatus(StatusCode.CONTROL_PERMISSION_LOST))

    def release_other_app(self) -> None:
        if self.controller == OTHER_APP:
            self.controller = None

    def press_stop(self, *, pause: bool = False) -> None:
        """The person presses stop (or pause) on the machine."""
        self._stop(pause=pause)
        self._send_status(
            FitnessMachineStatus(StatusCode.STOPPED_OR_PAUSED_BY_USER, StopOrPause(pause=pause))
        )

    def press_start(self) -> None:
        """The person presses start (or resume) on the machine."""
        self.state = MachineState.RUNNING
        self._training_status_changed()
        self._send_status(FitnessMachineStatus(StatusCode.STARTED_OR_RESUMED_BY_USER))

    def _stop(self, *, pause: bool) -> None:
        self.state = MachineState.PAUSED if pause else MachineState.STOPPED
        if not pause:
            self.clear_targets()
        self._training_status_changed()

    def clear_targets(self) -> None:
        """Stop and Reset drop the targets (a pause keeps them)."""

    def reset_session(self) -> None:
        self.clear_targets()
        self.state = MachineState.IDLE
        self.elapsed_s = 0.0
        self.distance_m = 0.0
        self.energy_kcal = 0.0
        self._training_status_changed()

    def _send_status(self, status: FitnessMachineStatus) -> None:
        if self._subscribed(FITNESS_MACHINE_STATUS):
            self.notify(FITNESS_MACHINE_STATUS, encode_fitness_machine_status(status))

    # --- training status ----------------------------------------------------------------------

    def training_status(self) -> TrainingStatus:
        if self.state is MachineState.RUNNING:
            return TrainingStatus(TrainingStatusCode.MANUAL_MODE)
        if self.state is MachineState.IDLE:
            return TrainingStatus(TrainingStatusCode.IDLE)
        return TrainingStatus(TrainingStatusCode.POST_WORKOUT)

    def _training_status_bytes(self) -> bytes:
        return encode_training_status(self.training_status())

    def _training_status_changed(self) -> None:
        value = self._training_status_bytes()
        if self._link is not None:
            self._link.set_value(TRAINING_STATUS, value)
        if self._subscribed(TRAINING_STATUS):
            self.notify(TRAINING_STATUS, value)

    # --- the model ----------------------------------------------------------------------------

    async def _run_model(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            dt = self.model_step_s
            self.t += dt
            self.step(dt)
            sample = self.sample()
            self.samples.append(sample)
            if self.on_sample is not None:
                self.on_sample(sample)
            if self._up:
                self.publish()
            self._signal()

    def step(self, dt: float) -> None:
        raise NotImplementedError

    def sample(self) -> MachineSample:
        raise NotImplementedError

    def publish(self) -> None:
        raise NotImplementedError

    def _notify_record(self, record: IndoorBikeData | TreadmillData, encode: Any) -> None:
        if not self._subscribed(self.data_uuid):
            return
        for part in split_fitness_machine_record(record, self.max_payload):
            self.notify(self.data_uuid, encode(part))

    def _energy(self, kcal_per_s: float, dt: float) -> None:
        self.energy_kcal += kcal_per_s * dt
        self._energy_per_hour = kcal_per_s * 3600

    def _energy_fields(self) -> dict[str, int]:
        return {
            "total_energy_kcal": min(0xFFFE, int(self.energy_kcal)),
            "energy_per_hour_kcal": min(0xFFFE, round(self._energy_per_hour)),
            "energy_per_minute_kcal": min(0xFE, round(self._energy_per_hour / 60)),
        }

    # --- waiting, for tests -------------------------------------------------------------------

    async def wait_model_time(self, seconds: float, timeout_s: float = 30.0) -> None:
        """Wait until the model clock has advanced `seconds` from now."""
        until = self.t + seconds
        await self.wait_until(lambda: self.t >= until, timeout_s)

    def statuses_sent(self) -> list[bytes]:
        return self.delivered(FITNESS_MACHINE_STATUS)

    def responses_sent(self) -> list[bytes]:
        return self.delivered(FITNESS_MACHINE_CONTROL_POINT)


class VirtualIndoorBike(VirtualFitnessMachine):
    """A smart trainer: FTMS Indoor Bike Data with ERG (target power) and resistance levels, and
    the Cycling Power Service. The rider pedals at `rider_cadence_rpm` (set it to 0 to stop)."""

    data_uuid = INDOOR_BIKE_DATA

    def __init__(
        self,
        address: str,
        name: str = "edgecoach Virtual Bike",
        *,
        max_power_w: int = 1000,
        max_resistance: float = 20.0,
        ramp_w_per_s: float = 150.0,
        rider_cadence_rpm: float = 85.0,
        resistance_level: float = 4.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("model", "virtual smart trainer")
        super().__init__(address, name, **kwargs)
        self.max_power_w = max_power_w
        self.max_resistance = max_resistance
        self.ramp_w_per_s = ramp_w_per_s
        self.rider_cadence_rpm = rider_cadence_rpm
        self.resistance_level = resistance_level
        self.target_power_w: int | None = None
        self.power_w = 0.0
        self.crank_revolutions = 0.0
        self._last_crank_event_s = 0.0

    def machine_feature(self) -> FitnessMachineFeature:
        return FitnessMachineFeature(
            MachineFeature.CADENCE
            | MachineFeature.TOTAL_DISTANCE
            | MachineFeature.RESISTANCE_LEVEL
            | MachineFeature.EXPENDED_ENERGY
            | MachineFeature.ELAPSED_TIME
            | MachineFeature.POWER_MEASUREMENT,
            TargetSettingFeature.RESISTANCE | TargetSettingFeature.POWER,
        )

    def power_range(self) -> SupportedPowerRange:
        return SupportedPowerRange(0, self.max_power_w, 1)

    def resistance_range(self) -> SupportedResistanceLevelRange:
        return SupportedResistanceLevelRange(0.0, self.max_resistance, 1.0)

    def range_characteristics(self) -> tuple[CharacteristicSpec, ...]:
        return (
            CharacteristicSpec(
                SUPPORTED_RESISTANCE_LEVEL_RANGE,
                ("read",),
                encode_supported_resistance_level_range(self.resistance_range()),
            ),
            CharacteristicSpec(
                SUPPORTED_POWER_RANGE, ("read",), encode_supported_power_range(self.power_range())
            ),
        )

    def extra_services(self) -> list[ServiceSpec]:
        feature = CyclingPowerFeature(
            CyclingPowerFeatureBits.CRANK_REVOLUTION_DATA
            | CyclingPowerFeatureBits.ACCUMULATED_ENERGY
        )
        return [
            ServiceSpec(
                CYCLING_POWER_SERVICE,
                (
                    CharacteristicSpec(
                        CYCLING_POWER_MEASUREMENT, ("notify",), acquire_notify=self.acquire_notify
                    ),
                    CharacteristicSpec(
                        CYCLING_POWER_FEATURE, ("read",), encode_cycling_power_feature(feature)
                    ),
                    CharacteristicSpec(
                        SENSOR_LOCATION, ("read",), encode_sensor_location(SensorLocation.REAR_HUB)
                    ),
                ),
            )
        ]

    def supports(self, request: object) -> bool:
        return super().supports(request) or isinstance(
            request, SetTargetPower | SetTargetResistanceLevel
        )

    def apply_target(self, request: Any, statuses: list[FitnessMachineStatus]) -> ResultCode:
        if isinstance(request, SetTargetPower):
            r = self.power_range()
            if not r.minimum_w <= request.power_w <= r.maximum_w:
                return ResultCode.INVALID_PARAMETER
            self.target_power_w = request.power_w
            statuses.append(FitnessMachineStatus(StatusCode.TARGET_POWER_CHANGED, request))
            return ResultCode.SUCCESS
        if isinstance(request, SetTargetResistanceLevel):
            r = self.resistance_range()
            if not r.minimum <= request.level <= r.maximum:
                return ResultCode.INVALID_PARAMETER
            # resistance and ERG exclude each other: a level ends ERG
            self.resistance_level = request.level
            self.target_power_w = None
            statuses.append(
                FitnessMachineStatus(StatusCode.TARGET_RESISTANCE_LEVEL_CHANGED, request)
            )
            return ResultCode.SUCCESS
        return ResultCode.NOT_SUPPORTED

    def clear_targets(self) -> None:
        self.target_power_w = None

    def on_control_lost(self) -> None:
        # ERG without its app would hold a power nobody watches: back to the resistance level
        self.target_power_w = None

    def user_sets_resistance(self, level: float) -> None:
        """The rider turns the resistance knob: ERG ends, status target resistance changed."""
        self.resistance_level = level
        self.target_power_w = None
        self._send_status(
            FitnessMachineStatus(
                StatusCode.TARGET_RESISTANCE_LEVEL_CHANGED, SetTargetResistanceLevel(level)
            )
        )

    def user_sets_target_power(self, power_w: int) -> None:
        """The rider sets an ERG power on the trainer's own display."""
        self.target_power_w = power_w
        self._send_status(
            FitnessMachineStatus(StatusCode.TARGET_POWER_CHANGED, SetTargetPower(power_w))
        )

    @property
    def erg_active(self) -> bool:
        return self.target_power_w is not None and self.state in (
            MachineState.IDLE,
            MachineState.RUNNING,
        )

    def step(self, dt: float) -> None:
        cadence = max(0.0, self.rider_cadence_rpm)
        moving = self.state not in (MachineState.PAUSED, MachineState.STOPPED)
        if cadence <= 0:
            wanted = 0.0
        elif self.erg_active:
            assert self.target_power_w is not None
            # the brake holds the power down to a slow cadence, then gives way
            wanted = self.target_power_w * min(1.0, cadence / 40.0)
        else:
            wanted = self.resistance_level * 12.0 * cadence / 90.0
        step = self.ramp_w_per_s * dt
        self.power_w += max(-step, min(step, wanted - self.power_w))
        if cadence > 0:
            before = int(self.crank_revolutions)
            self.crank_revolutions += cadence / 60.0 * dt
            if int(self.crank_revolutions) != before:
                # the last whole revolution ended this long before the end of the step
                over = (self.crank_revolutions - int(self.crank_revolutions)) * 60.0 / cadence
                self._last_crank_event_s = self.t - over
        speed = self.speed_kmh
        self.distance_m += speed / 3.6 * dt
        if moving and cadence > 0:
            self.elapsed_s += dt
        # a rider turns about a quarter of the food energy into work: kcal ~ kJ of work
        self._energy(self.power_w / 1000.0, dt)

    @property
    def speed_kmh(self) -> float:
        """A virtual road speed from the power (flat road, no wind): no physics, just plausible."""
        return 0.0 if self.power_w <= 0 else 3.6 * (self.power_w / 0.4) ** (1 / 3)

    def sample(self) -> MachineSample:
        return MachineSample(
            t=self.t,
            state=self.state,
            controller=self.controller,
            power_w=self.power_w,
            cadence_rpm=self.rider_cadence_rpm,
            speed_kmh=self.speed_kmh,
            target_power_w=self.target_power_w,
        )

    def indoor_bike_data(self) -> IndoorBikeData:
        return IndoorBikeData(
            instantaneous_speed_kmh=round(self.speed_kmh, 2),
            instantaneous_cadence_rpm=round(self.rider_cadence_rpm * 2) / 2,
            total_distance_m=min(0xFF_FFFF, int(self.distance_m)),
            resistance_level=round(self.resistance_level),
            instantaneous_power_w=round(self.power_w),
            elapsed_time_s=min(0xFFFF, int(self.elapsed_s)),
            **self._energy_fields(),
        )

    def cycling_power_measurement(self) -> CyclingPowerMeasurement:
        return CyclingPowerMeasurement(
            instantaneous_power_w=round(self.power_w),
            cumulative_crank_revolutions=int(self.crank_revolutions) & 0xFFFF,
            last_crank_event_time=round(self._last_crank_event_s * 1024) & 0xFFFF,
            accumulated_energy_kj=min(0xFFFF, int(self.energy_kcal)),
        )

    def publish(self) -> None:
        self._notify_record(self.indoor_bike_data(), encode_indoor_bike_data)
        if self._subscribed(CYCLING_POWER_MEASUREMENT):
            self.notify(
                CYCLING_POWER_MEASUREMENT,
                encode_cycling_power_measurement(self.cycling_power_measurement()),
            )


class VirtualTreadmill(VirtualFitnessMachine):
    """A treadmill: FTMS Treadmill Data with speed and inclination targets. The belt moves only
    while running, towards the target speed at `acceleration_kmh_per_s`."""

    data_uuid = TREADMILL_DATA

    def __init__(
        self,
        address: str,
        name: str = "edgecoach Virtual Treadmill",
        *,
        speed_range: SupportedSpeedRange | None = None,
        inclination_range: SupportedInclinationRange | None = None,
        acceleration_kmh_per_s: float = 1.0,
        incline_rate_percent_per_s: float = 0.5,
        body_mass_kg: float = 70.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("model", "virtual treadmill")
        super().__init__(address, name, **kwargs)
        self.speed_range = speed_range or SupportedSpeedRange(1.0, 20.0, 0.1)
        self.inclination_range = inclination_range or SupportedInclinationRange(-3.0, 15.0, 0.5)
        self.acceleration_kmh_per_s = acceleration_kmh_per_s
        self.incline_rate_percent_per_s = incline_rate_percent_per_s
        self.body_mass_kg = body_mass_kg
        self.target_speed_kmh: float | None = None
        self.target_inclination_percent: float | None = None
        self.belt_speed_kmh = 0.0
        self.inclination_percent = 0.0

    def machine_feature(self) -> FitnessMachineFeature:
        return FitnessMachineFeature(
            MachineFeature.TOTAL_DISTANCE
            | MachineFeature.INCLINATION
            | MachineFeature.EXPENDED_ENERGY
            | MachineFeature.ELAPSED_TIME,
            TargetSettingFeature.SPEED | TargetSettingFeature.INCLINATION,
        )

    def range_characteristics(self) -> tuple[CharacteristicSpec, ...]:
        return (
            CharacteristicSpec(
                SUPPORTED_SPEED_RANGE, ("read",), encode_supported_speed_range(self.speed_range)
            ),
            CharacteristicSpec(
                SUPPORTED_INCLINATION_RANGE,
                ("read",),
                encode_supported_inclination_range(self.inclination_range),
            ),
        )

    def supports(self, request: object) -> bool:
        return super().supports(request) or isinstance(
            request, SetTargetSpeed | SetTargetInclination
        )

    def apply_target(self, request: Any, statuses: list[FitnessMachineStatus]) -> ResultCode:
        if isinstance(request, SetTargetSpeed):
            r = self.speed_range
            if not r.minimum_kmh <= request.speed_kmh <= r.maximum_kmh:
                return ResultCode.INVALID_PARAMETER
            self.target_speed_kmh = request.speed_kmh
            statuses.append(FitnessMachineStatus(StatusCode.TARGET_SPEED_CHANGED, request))
            return ResultCode.SUCCESS
        if isinstance(request, SetTargetInclination):
            i = self.inclination_range
            if not i.minimum_percent <= request.inclination_percent <= i.maximum_percent:
                return ResultCode.INVALID_PARAMETER
            self.target_inclination_percent = request.inclination_percent
            statuses.append(FitnessMachineStatus(StatusCode.TARGET_INCLINE_CHANGED, request))
            return ResultCode.SUCCESS
        return ResultCode.NOT_SUPPORTED

    def clear_targets(self) -> None:
        self.target_speed_kmh = None
        self.target_inclination_percent = None

    def user_sets_speed(self, speed_kmh: float) -> None:
        """The person presses the speed keys: status target speed changed."""
        self.target_speed_kmh = speed_kmh
        self._send_status(
            FitnessMachineStatus(StatusCode.TARGET_SPEED_CHANGED, SetTargetSpeed(speed_kmh))
        )

    def user_sets_inclination(self, percent: float) -> None:
        self.target_inclination_percent = percent
        self._send_status(
            FitnessMachineStatus(StatusCode.TARGET_INCLINE_CHANGED, SetTargetInclination(percent))
        )

    def press_safety_key(self) -> None:
        """The safety key is pulled: the belt stops at once, status stopped by safety key."""
        self.belt_speed_kmh = 0.0
        self.state = MachineState.STOPPED
        self.clear_targets()
        self._training_status_changed()
        self._send_status(FitnessMachineStatus(StatusCode.STOPPED_BY_SAFETY_KEY))

    def step(self, dt: float) -> None:
        running = self.state is MachineState.RUNNING
        wanted = 0.0
        if running:
            wanted = (
                self.target_speed_kmh
                if self.target_speed_kmh is not None
                else self.speed_range.minimum_kmh
            )
        move = self.acceleration_kmh_per_s * dt
        self.belt_speed_kmh += max(-move, min(move, wanted - self.belt_speed_kmh))
        if self.target_inclination_percent is not None:
            tilt = self.incline_rate_percent_per_s * dt
            gap = self.target_inclination_percent - self.inclination_percent
            self.inclination_percent += max(-tilt, min(tilt, gap))
        metres = self.belt_speed_kmh / 3.6 * dt
        self.distance_m += metres
        if running:
            self.elapsed_s += dt
        # about 1 kcal per kg per km on the flat, more uphill (a rough rule, not physiology)
        grade = max(0.0, self.inclination_percent) / 100
        per_s = self.body_mass_kg * (self.belt_speed_kmh / 3600) * (1 + 10 * grade)
        self._energy(per_s, dt)

    def sample(self) -> MachineSample:
        return MachineSample(
            t=self.t,
            state=self.state,
            controller=self.controller,
            speed_kmh=self.belt_speed_kmh,
            inclination_percent=self.inclination_percent,
            target_speed_kmh=self.target_speed_kmh,
            target_inclination_percent=self.target_inclination_percent,
        )

    def treadmill_data(self) -> TreadmillData:
        incline = round(self.inclination_percent, 1)
        return TreadmillData(
            instantaneous_speed_kmh=round(self.belt_speed_kmh, 2),
            total_distance_m=min(0xFF_FFFF, int(self.distance_m)),
            inclination_percent=incline,
            ramp_angle_deg=round(math.degrees(math.atan(incline / 100)), 1),
            elapsed_time_s=min(0xFFFF, int(self.elapsed_s)),
            **self._energy_fields(),
        )

    def publish(self) -> None:
        self._notify_record(self.treadmill_data(), encode_treadmill_data)


#: Addresses of the virtual gym machines (`virtual_gym`) and power meter.
BIKE_ADDRESS = "C0:FF:EE:61:4B:01"
TREADMILL_ADDRESS = "C0:FF:EE:61:4B:02"
POWER_METER_ADDRESS = "C0:FF:EE:61:4B:03"


def virtual_gym(**kwargs: Any) -> Sequence[VirtualFitnessMachine]:
    """A bike and a treadmill with batteries off and fixed addresses, for `scan --virtual` and
    demos; `kwargs` (tick_s, model_step_s, ...) go to both."""
    return (
        VirtualIndoorBike(BIKE_ADDRESS, **kwargs),
        VirtualTreadmill(TREADMILL_ADDRESS, **kwargs),
    )


def virtual_power_meter(
    powers_w: Sequence[int] = (), *, address: str = POWER_METER_ADDRESS, **kwargs: Any
) -> VirtualBand:
    """A crank power meter on its own (Cycling Power Service and battery) playing `powers_w`
    through `cycling_power_script`; `kwargs` go to the script (crank_rpm, interval_s, step_s)."""
    return VirtualBand(
        address,
        "edgecoach Virtual Power",
        services=("cycling_power", "battery"),
        script=cycling_power_script(powers_w, **kwargs),
        battery_percent=72,
    )


__all__ = [
    "BIKE_ADDRESS",
    "CENTRAL",
    "OTHER_APP",
    "POWER_METER_ADDRESS",
    "TREADMILL_ADDRESS",
    "MachineSample",
    "MachineState",
    "ReceivedRequest",
    "VirtualFitnessMachine",
    "VirtualIndoorBike",
    "VirtualTreadmill",
    "virtual_gym",
    "virtual_power_meter",
]
