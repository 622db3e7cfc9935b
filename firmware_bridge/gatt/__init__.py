"""GATT codecs: pure functions from characteristic bytes to frozen values and back.

Nothing here touches a BLE client. The BLE backend hands ``decode`` the UUID and bytes it got
from a notification or read; tests and the virtual band feed it bytes written out by hand.
Every malformed payload raises ``firmware_bridge.errors.MalformedPayloadError``, never anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from firmware_bridge.errors import MalformedPayloadError

from .cycling_power import (
    CyclingPowerFeature,
    CyclingPowerFeatureBits,
    CyclingPowerMeasurement,
    CyclingPowerRates,
    CyclingPowerTracker,
    SensorLocation,
    cycling_power_rates,
    decode_cycling_power_feature,
    decode_cycling_power_measurement,
    decode_sensor_location,
    encode_cycling_power_feature,
    encode_cycling_power_measurement,
    encode_sensor_location,
)
from .cycling_speed import (
    CSCMeasurement,
    CSCRates,
    CSCTracker,
    csc_rates,
    decode_csc_measurement,
    encode_csc_measurement,
)
from .device import (
    BodySensorLocation,
    decode_battery_level,
    decode_body_sensor_location,
    decode_device_information_string,
    encode_battery_level,
    encode_body_sensor_location,
    encode_device_information_string,
)
from .fitness_machine import (
    ControlPointRequest,
    ControlPointResponse,
    CrossTrainerData,
    FitnessMachineFeature,
    FitnessMachineRecordAssembler,
    FitnessMachineStatus,
    IndoorBikeData,
    RowerData,
    SupportedHeartRateRange,
    SupportedInclinationRange,
    SupportedPowerRange,
    SupportedResistanceLevelRange,
    SupportedSpeedRange,
    TrainingStatus,
    TreadmillData,
    decode_cross_trainer_data,
    decode_fitness_machine_control_point,
    decode_fitness_machine_feature,
    decode_fitness_machine_status,
    decode_indoor_bike_data,
    decode_rower_data,
    decode_supported_heart_rate_range,
    decode_supported_inclination_range,
    decode_supported_power_range,
    decode_supported_resistance_level_range,
    decode_supported_speed_range,
    decode_training_status,
    decode_treadmill_data,
    encode_cross_trainer_data,
    encode_fitness_machine_control_point,
    encode_fitness_machine_feature,
    encode_fitness_machine_status,
    encode_indoor_bike_data,
    encode_rower_data,
    encode_supported_heart_rate_range,
    encode_supported_inclination_range,
    encode_supported_power_range,
    encode_supported_resistance_level_range,
    encode_supported_speed_range,
    encode_training_status,
    encode_treadmill_data,
)
from .heart_rate import (
    HeartRateMeasurement,
    decode_heart_rate_measurement,
    encode_heart_rate_measurement,
    rr_seconds_to_raw,
)
from .running_speed import (
    RSCMeasurement,
    decode_rsc_measurement,
    encode_rsc_measurement,
    steps_from_cadence,
)
from .uuids import (
    BATTERY_LEVEL,
    BODY_SENSOR_LOCATION,
    CHARACTERISTIC_NAMES,
    CROSS_TRAINER_DATA,
    CSC_MEASUREMENT,
    CYCLING_POWER_FEATURE,
    CYCLING_POWER_MEASUREMENT,
    DEVICE_INFORMATION_STRINGS,
    FITNESS_MACHINE_CONTROL_POINT,
    FITNESS_MACHINE_FEATURE,
    FITNESS_MACHINE_STATUS,
    HEART_RATE_MEASUREMENT,
    INDOOR_BIKE_DATA,
    ROWER_DATA,
    RSC_MEASUREMENT,
    SENSOR_LOCATION,
    SUPPORTED_HEART_RATE_RANGE,
    SUPPORTED_INCLINATION_RANGE,
    SUPPORTED_POWER_RANGE,
    SUPPORTED_RESISTANCE_LEVEL_RANGE,
    SUPPORTED_SPEED_RANGE,
    TRAINING_STATUS,
    TREADMILL_DATA,
    characteristic_name,
    normalize_uuid,
    uuid16,
)

#: What ``decode`` can return, by characteristic.
Decoded = (
    HeartRateMeasurement
    | RSCMeasurement
    | CSCMeasurement
    | BodySensorLocation
    | CyclingPowerMeasurement
    | CyclingPowerFeature
    | SensorLocation
    | IndoorBikeData
    | TreadmillData
    | CrossTrainerData
    | RowerData
    | FitnessMachineFeature
    | TrainingStatus
    | SupportedSpeedRange
    | SupportedInclinationRange
    | SupportedResistanceLevelRange
    | SupportedHeartRateRange
    | SupportedPowerRange
    | ControlPointRequest
    | ControlPointResponse
    | FitnessMachineStatus
    | int
    | str
)

_DECODERS: dict[str, Callable[[bytes], Decoded]] = {
    HEART_RATE_MEASUREMENT: decode_heart_rate_measurement,
    BODY_SENSOR_LOCATION: decode_body_sensor_location,
    RSC_MEASUREMENT: decode_rsc_measurement,
    CSC_MEASUREMENT: decode_csc_measurement,
    BATTERY_LEVEL: decode_battery_level,
    CYCLING_POWER_MEASUREMENT: decode_cycling_power_measurement,
    CYCLING_POWER_FEATURE: decode_cycling_power_feature,
    SENSOR_LOCATION: decode_sensor_location,
    FITNESS_MACHINE_FEATURE: decode_fitness_machine_feature,
    TREADMILL_DATA: decode_treadmill_data,
    CROSS_TRAINER_DATA: decode_cross_trainer_data,
    ROWER_DATA: decode_rower_data,
    INDOOR_BIKE_DATA: decode_indoor_bike_data,
    TRAINING_STATUS: decode_training_status,
    SUPPORTED_SPEED_RANGE: decode_supported_speed_range,
    SUPPORTED_INCLINATION_RANGE: decode_supported_inclination_range,
    SUPPORTED_RESISTANCE_LEVEL_RANGE: decode_supported_resistance_level_range,
    SUPPORTED_HEART_RATE_RANGE: decode_supported_heart_rate_range,
    SUPPORTED_POWER_RANGE: decode_supported_power_range,
    FITNESS_MACHINE_CONTROL_POINT: decode_fitness_machine_control_point,
    FITNESS_MACHINE_STATUS: decode_fitness_machine_status,
    **{
        uuid: partial(decode_device_information_string, uuid) for uuid in DEVICE_INFORMATION_STRINGS
    },
}

# Any: each encoder checks its own argument, and says so in its error.
_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    HEART_RATE_MEASUREMENT: encode_heart_rate_measurement,
    BODY_SENSOR_LOCATION: encode_body_sensor_location,
    RSC_MEASUREMENT: encode_rsc_measurement,
    CSC_MEASUREMENT: encode_csc_measurement,
    BATTERY_LEVEL: encode_battery_level,
    CYCLING_POWER_MEASUREMENT: encode_cycling_power_measurement,
    CYCLING_POWER_FEATURE: encode_cycling_power_feature,
    SENSOR_LOCATION: encode_sensor_location,
    FITNESS_MACHINE_FEATURE: encode_fitness_machine_feature,
    TREADMILL_DATA: encode_treadmill_data,
    CROSS_TRAINER_DATA: encode_cross_trainer_data,
    ROWER_DATA: encode_rower_data,
    INDOOR_BIKE_DATA: encode_indoor_bike_data,
    TRAINING_STATUS: encode_training_status,
    SUPPORTED_SPEED_RANGE: encode_supported_speed_range,
    SUPPORTED_INCLINATION_RANGE: encode_supported_inclination_range,
    SUPPORTED_RESISTANCE_LEVEL_RANGE: encode_supported_resistance_level_range,
    SUPPORTED_HEART_RATE_RANGE: encode_supported_heart_rate_range,
    SUPPORTED_POWER_RANGE: encode_supported_power_range,
    FITNESS_MACHINE_CONTROL_POINT: encode_fitness_machine_control_point,
    FITNESS_MACHINE_STATUS: encode_fitness_machine_status,
    **{uuid: encode_device_information_string for uuid in DEVICE_INFORMATION_STRINGS},
}


def decode(characteristic_uuid: str, data: bytes) -> Decoded:
    """Decode ``data`` read or notified from ``characteristic_uuid``.

    The UUID may be the full 128-bit form in any case or a 16-bit short form ("2A37").
    A characteristic we have no decoder for raises MalformedPayloadError too, so a caller
    handling one exception type handles everything a sensor can send.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected a bytes-like payload, got {type(data).__name__}")
    decoder = _DECODERS.get(normalize_uuid(characteristic_uuid))
    if decoder is None:
        raise MalformedPayloadError(
            characteristic_uuid, bytes(data), "no decoder for this characteristic"
        )
    return decoder(data)


def encode(characteristic_uuid: str, value: object) -> bytes:
    """Encode ``value`` for ``characteristic_uuid``: the inverse of ``decode``, for the virtual band.

    Raises ValueError for a characteristic we have no encoder for or a value it cannot carry.
    """
    encoder = _ENCODERS.get(normalize_uuid(characteristic_uuid))
    if encoder is None:
        raise ValueError(f"no encoder for characteristic {characteristic_uuid}")
    return encoder(value)


__all__ = [
    "CHARACTERISTIC_NAMES",
    "BodySensorLocation",
    "CSCMeasurement",
    "CSCRates",
    "CSCTracker",
    "ControlPointRequest",
    "ControlPointResponse",
    "CrossTrainerData",
    "CyclingPowerFeature",
    "CyclingPowerFeatureBits",
    "CyclingPowerMeasurement",
    "CyclingPowerRates",
    "CyclingPowerTracker",
    "Decoded",
    "FitnessMachineFeature",
    "FitnessMachineRecordAssembler",
    "FitnessMachineStatus",
    "HeartRateMeasurement",
    "IndoorBikeData",
    "RSCMeasurement",
    "RowerData",
    "SensorLocation",
    "SupportedHeartRateRange",
    "SupportedInclinationRange",
    "SupportedPowerRange",
    "SupportedResistanceLevelRange",
    "SupportedSpeedRange",
    "TrainingStatus",
    "TreadmillData",
    "characteristic_name",
    "csc_rates",
    "cycling_power_rates",
    "decode",
    "decode_battery_level",
    "decode_body_sensor_location",
    "decode_cross_trainer_data",
    "decode_csc_measurement",
    "decode_cycling_power_feature",
    "decode_cycling_power_measurement",
    "decode_device_information_string",
    "decode_fitness_machine_control_point",
    "decode_fitness_machine_feature",
    "decode_fitness_machine_status",
    "decode_heart_rate_measurement",
    "decode_indoor_bike_data",
    "decode_rower_data",
    "decode_rsc_measurement",
    "decode_sensor_location",
    "decode_supported_heart_rate_range",
    "decode_supported_inclination_range",
    "decode_supported_power_range",
    "decode_supported_resistance_level_range",
    "decode_supported_speed_range",
    "decode_training_status",
    "decode_treadmill_data",
    "encode",
    "encode_battery_level",
    "encode_body_sensor_location",
    "encode_cross_trainer_data",
    "encode_csc_measurement",
    "encode_cycling_power_feature",
    "encode_cycling_power_measurement",
    "encode_device_information_string",
    "encode_fitness_machine_control_point",
    "encode_fitness_machine_feature",
    "encode_fitness_machine_status",
    "encode_heart_rate_measurement",
    "encode_indoor_bike_data",
    "encode_rower_data",
    "encode_rsc_measurement",
    "encode_sensor_location",
    "encode_supported_heart_rate_range",
    "encode_supported_inclination_range",
    "encode_supported_power_range",
    "encode_supported_resistance_level_range",
    "encode_supported_speed_range",
    "encode_training_status",
    "encode_treadmill_data",
    "normalize_uuid",
    "rr_seconds_to_raw",
    "steps_from_cadence",
    "uuid16",
]
