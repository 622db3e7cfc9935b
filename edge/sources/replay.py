"""The replay backend: a recorded workout (FIT, TCX, GPX, CSV) played back as sensor readings.

Each `RecordPoint` of the recording becomes a `HeartRateReading` (when it has heart rate) and a
`StrideReading` (when it has cadence, speed or distance) and a `PowerReading` (when it has
power), and each of its gym machine's moments (`Recording.machine`: speed, incline, resistance,
stroke rate, distance) a `MachineReading`, stamped with the point's own `t`: the
session clock of a replay is the recording's clock. `speed` recorded seconds pass per wall
second (1 = real time, 0 = as fast as possible). A stretch of the file without points is a
stretch without readings; nothing is interpolated, so the aligner reports the gap as it would for
a band that lost contact.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from pathlib import Path

from edge.errors import ConfigError
from edge.sources.recordings import FOOT_SPORTS, Recording, read_recording
from edge.stream.readings import (
    HeartRateReading,
    LinkEvent,
    LinkState,
    MachineReading,
    PowerReading,
    Reading,
    StrideReading,
)
from firmware_bridge import gatt

log = logging.getLogger(__name__)

#: Steps are derived from cadence only across intervals this short; a longer gap adds none.
MAX_STEP_INTERVAL_S = 5.0


class ReplaySource:
    """Plays one recording; the file is read (in a worker thread) when `readings()` starts."""

    def __init__(self, path: Path, *, speed: float = 1.0, device: str | None = None) -> None:
        if not (isinstance(speed, int | float) and math.isfinite(speed) and speed >= 0):
            raise ConfigError(
                f"replay speed must be 0 (as fast as possible) or a positive number, got {speed!r}"
            )
        self.path = Path(path)
        self.name = self.path.name
        self.speed = float(speed)
        #: The device name stamped on readings; None means the recording's device or file name.
        self.device = device
        self._recording: Recording | None = None

    @classmethod
    def from_recording(
        cls, recording: Recording, *, speed: float = 1.0, device: str | None = None
    ) -> ReplaySource:
        """A source for a recording already read (by `read_recording` or `iter_recordings`)."""
        source = cls(recording.path, speed=speed, device=device)
        source._recording = recording
        return source

    @property
    def recording(self) -> Recording | None:
        """The recording being played, once it has been read."""
        return self._recording

    async def readings(self) -> AsyncIterator[Reading]:
        recording = self._recording
        if recording is None:
            # Parsing a large FIT file takes seconds: keep it off the event loop.
            recording = await asyncio.to_thread(read_recording, self.path)
            self._recording = recording
        for warning in recording.warnings:
            log.warning("%s: %s", self.name, warning)
        device = self.device or recording.device or self.name
        counts_steps = recording.sport in FOOT_SPORTS
        steps = 0.0
        last_stride_t: float | None = None

        loop = asyncio.get_running_loop()
        started = loop.time()
        yield LinkEvent(device, 0.0, LinkState.CONNECTED, f"replay of {self.name}")
        machine = iter(recording.machine)
        moment = next(machine, None)
        for point in recording.points:
            await self._wait_until(loop, started, point.t)
            while moment is not None and moment.t <= point.t:  # the machine's, up to now
                yield MachineReading(
                    f"{device} machine",
                    moment.t,
                    speed_mps=moment.speed_mps,
                    incline_pct=moment.incline_pct,
                    resistance=moment.resistance,
                    stroke_rate_spm=moment.stroke_rate_spm,
                    distance_m=moment.distance_m,
                )
                moment = next(machine, None)
            if point.hr_bpm is not None:
                yield HeartRateReading(
                    device, point.t, round(point.hr_bpm), point.rr_intervals_s, None
                )
            if point.power_w is not None:
                yield PowerReading(device, point.t, point.power_w)
            if point.cadence_spm is None and point.speed_mps is None and point.distance_m is None:
                continue
            total_steps = None
            if counts_steps:
                # Like a footpod without a step count: steps from cadence, none across a gap.
                if (
                    last_stride_t is not None
                    and point.cadence_spm is not None
                    and 0 < point.t - last_stride_t <= MAX_STEP_INTERVAL_S
                ):
                    steps += gatt.steps_from_cadence(point.cadence_spm, point.t - last_stride_t)
                last_stride_t = point.t
                total_steps = steps
            yield StrideReading(
                device, point.t, point.cadence_spm, point.speed_mps, point.distance_m, total_steps
            )

    async def _wait_until(self, loop: asyncio.AbstractEventLoop, started: float, t: float) -> None:
        if self.speed <= 0:
            await asyncio.sleep(0)  # let the rest of the daemon run between points
            return
        delay = started + t / self.speed - loop.time()
        await asyncio.sleep(max(0.0, delay))
