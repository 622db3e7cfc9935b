"""The one interface every sensor backend implements.

The daemon never knows whether readings come from a band over BLE, from a recorded file or from
the simulator: it iterates `readings()` and gets `Reading`s stamped on the session clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from edge.stream.readings import Reading


@runtime_checkable
class SensorSource(Protocol):
    #: A short human name for logs and screens ("simulator", "Polar H10 A1B2C3", "run.fit").
    name: str

    def readings(self) -> AsyncIterator[Reading]:
        """Yield readings until the source ends or the task is cancelled."""
        ...
