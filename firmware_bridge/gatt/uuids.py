"""Bluetooth SIG assigned numbers for the services and characteristics edgecoach reads.

Everything is kept as full 128-bit lowercase UUID strings because that is the form bleak hands
back for characteristics, so a plain ``==`` or dict lookup works without normalising first.
"""

from __future__ import annotations

import re

# Every SIG-assigned 16-bit UUID is shorthand for this 128-bit Base UUID with the 16 bits in
# place of the first group's low half (Core Specification, Vol 3, Part B, 2.5.1).
_BASE_UUID_TEMPLATE = "0000{:04x}-0000-1000-8000-00805f9b34fb"

_FULL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SHORT_UUID = re.compile(r"^(?:0x)?([0-9a-f]{4}|[0-9a-f]{8})$")


def uuid16(short: int) -> str:
    """Return the full 128-bit UUID string for a SIG-assigned 16-bit UUID (e.g. ``0x2A37``)."""
    # bool is an int subclass; uuid16(True) is a bug, not UUID 0x0001.
    if not isinstance(short, int) or isinstance(short, bool):
        raise TypeError(f"uuid16() needs an int, got {type(short).__name__}")
    if not 0 <= short <= 0xFFFF:
        raise ValueError(f"a 16-bit UUID is 0x0000..0xFFFF, got {short:#x}")
    return _BASE_UUID_TEMPLATE.format(short)


def normalize_uuid(uuid: str) -> str:
    """Return ``uuid`` as a full 128-bit lowercase string.

    Accepts the full form in any case and the short forms people type from the spec
    ("2A37", "0x2a37", or a 32-bit "00002a37"), so callers need not care which they hold.
    Anything else is returned lowercased and stripped, so it simply matches nothing.
    """
    text = uuid.strip().lower()
    if _FULL_UUID.match(text):
        return text
    short = _SHORT_UUID.match(text)
    if short:
        value = int(short.group(1), 16)
        if value <= 0xFFFF:
            return uuid16(value)
        return f"{value:08x}-0000-1000-8000-00805f9b34fb"
    return text


HEART_RATE_SERVICE = uuid16(0x180D)
HEART_RATE_MEASUREMENT = uuid16(0x2A37)
BODY_SENSOR_LOCATION = uuid16(0x2A38)

RSC_SERVICE = uuid16(0x1814)
RSC_MEASUREMENT = uuid16(0x2A53)

CSC_SERVICE = uuid16(0x1816)
CSC_MEASUREMENT = uuid16(0x2A5B)

CYCLING_POWER_SERVICE = uuid16(0x1818)
CYCLING_POWER_MEASUREMENT = uuid16(0x2A63)
CYCLING_POWER_FEATURE = uuid16(0x2A65)
SENSOR_LOCATION = uuid16(0x2A5D)

FITNESS_MACHINE_SERVICE = uuid16(0x1826)
FITNESS_MACHINE_FEATURE = uuid16(0x2ACC)
TREADMILL_DATA = uuid16(0x2ACD)
CROSS_TRAINER_DATA = uuid16(0x2ACE)
ROWER_DATA = uuid16(0x2AD1)
INDOOR_BIKE_DATA = uuid16(0x2AD2)
TRAINING_STATUS = uuid16(0x2AD3)
SUPPORTED_SPEED_RANGE = uuid16(0x2AD4)
SUPPORTED_INCLINATION_RANGE = uuid16(0x2AD5)
SUPPORTED_RESISTANCE_LEVEL_RANGE = uuid16(0x2AD6)
SUPPORTED_HEART_RATE_RANGE = uuid16(0x2AD7)
SUPPORTED_POWER_RANGE = uuid16(0x2AD8)
FITNESS_MACHINE_CONTROL_POINT = uuid16(0x2AD9)
FITNESS_MACHINE_STATUS = uuid16(0x2ADA)

BATTERY_SERVICE = uuid16(0x180F)
BATTERY_LEVEL = uuid16(0x2A19)

DEVICE_INFORMATION_SERVICE = uuid16(0x180A)
MANUFACTURER_NAME = uuid16(0x2A29)
MODEL_NUMBER = uuid16(0x2A24)
SERIAL_NUMBER = uuid16(0x2A25)
HARDWARE_REVISION = uuid16(0x2A27)
FIRMWARE_REVISION = uuid16(0x2A26)
SOFTWARE_REVISION = uuid16(0x2A28)

#: The Device Information characteristics that hold a UTF-8 string, in the order a band's
#: "about" screen usually lists them.
DEVICE_INFORMATION_STRINGS: tuple[str, ...] = (
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    SERIAL_NUMBER,
    HARDWARE_REVISION,
    FIRMWARE_REVISION,
    SOFTWARE_REVISION,
)

#: Human names used in error messages and logs: the SIG name plus the 16-bit number, because
#: the number is what people search the spec and the band's documentation for.
CHARACTERISTIC_NAMES: dict[str, str] = {
    HEART_RATE_MEASUREMENT: "Heart Rate Measurement (0x2A37)",
    BODY_SENSOR_LOCATION: "Body Sensor Location (0x2A38)",
    RSC_MEASUREMENT: "RSC Measurement (0x2A53)",
    CSC_MEASUREMENT: "CSC Measurement (0x2A5B)",
    CYCLING_POWER_MEASUREMENT: "Cycling Power Measurement (0x2A63)",
    CYCLING_POWER_FEATURE: "Cycling Power Feature (0x2A65)",
    SENSOR_LOCATION: "Sensor Location (0x2A5D)",
    FITNESS_MACHINE_FEATURE: "Fitness Machine Feature (0x2ACC)",
    TREADMILL_DATA: "Treadmill Data (0x2ACD)",
    CROSS_TRAINER_DATA: "Cross Trainer Data (0x2ACE)",
    ROWER_DATA: "Rower Data (0x2AD1)",
    INDOOR_BIKE_DATA: "Indoor Bike Data (0x2AD2)",
    TRAINING_STATUS: "Training Status (0x2AD3)",
    SUPPORTED_SPEED_RANGE: "Supported Speed Range (0x2AD4)",
    SUPPORTED_INCLINATION_RANGE: "Supported Inclination Range (0x2AD5)",
    SUPPORTED_RESISTANCE_LEVEL_RANGE: "Supported Resistance Level Range (0x2AD6)",
    SUPPORTED_HEART_RATE_RANGE: "Supported Heart Rate Range (0x2AD7)",
    SUPPORTED_POWER_RANGE: "Supported Power Range (0x2AD8)",
    FITNESS_MACHINE_CONTROL_POINT: "Fitness Machine Control Point (0x2AD9)",
    FITNESS_MACHINE_STATUS: "Fitness Machine Status (0x2ADA)",
    BATTERY_LEVEL: "Battery Level (0x2A19)",
    MANUFACTURER_NAME: "Manufacturer Name String (0x2A29)",
    MODEL_NUMBER: "Model Number String (0x2A24)",
    SERIAL_NUMBER: "Serial Number String (0x2A25)",
    HARDWARE_REVISION: "Hardware Revision String (0x2A27)",
    FIRMWARE_REVISION: "Firmware Revision String (0x2A26)",
    SOFTWARE_REVISION: "Software Revision String (0x2A28)",
}


def characteristic_name(uuid: str) -> str:
    """Return the human name for ``uuid``, or the UUID itself when it is not one we know."""
    return CHARACTERISTIC_NAMES.get(normalize_uuid(uuid), uuid)


#: The sensor kinds edgecoach reads, by the service a band advertises for each.
SENSOR_SERVICES: dict[str, str] = {
    "heart_rate": HEART_RATE_SERVICE,
    "rsc": RSC_SERVICE,
    "csc": CSC_SERVICE,
}
#: The measurement characteristic each sensor kind notifies.
SENSOR_MEASUREMENTS: dict[str, str] = {
    "heart_rate": HEART_RATE_MEASUREMENT,
    "rsc": RSC_MEASUREMENT,
    "csc": CSC_MEASUREMENT,
}

#: Effort sources: power meters and fitness machines, by the service each advertises. Kept apart
#: from SENSOR_SERVICES so the band sources' kinds do not change under them.
EFFORT_SERVICES: dict[str, str] = {
    "cycling_power": CYCLING_POWER_SERVICE,
    "fitness_machine": FITNESS_MACHINE_SERVICE,
}
#: The data characteristics a fitness machine may notify, by machine type.
FITNESS_MACHINE_DATA: dict[str, str] = {
    "treadmill": TREADMILL_DATA,
    "cross_trainer": CROSS_TRAINER_DATA,
    "rower": ROWER_DATA,
    "indoor_bike": INDOOR_BIKE_DATA,
}
