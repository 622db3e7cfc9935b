"""The simulator backend: a simulated workout played as real GATT notification bytes.

Each simulated second becomes a Heart Rate Measurement (0x2A37, with RR intervals) and an RSC
Measurement (0x2A53) encoded by `firmware_bridge.gatt`, then decoded again by the same decoder a
real band's notifications go through. Time is the simulation's: `speed` simulated seconds pass
per wall second (0 means as fast as possible).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from edge.sources.notifications import NotificationDecoder
from edge.stream.readings import LinkEvent, LinkState, Reading
from firmware_bridge import gatt
from firmware_bridge.gatt import uuids
from firmware_bridge.simulator import Athlete, SimulatedSecond, WorkoutPlan, simulate

#: Footpods notify a little after the heart-rate band; the offset keeps the two interleaved.
STRIDE_OFFSET_S = 0.5


def encode_second(second: SimulatedSecond) -> list[tuple[float, str, bytes]]:
    """The notifications a heart-rate band and a footpod send for one simulated second."""
    out: list[tuple[float, str, bytes]] = []
    if second.hr_bpm is not None:
        measurement = gatt.HeartRateMeasurement(
            bpm=round(second.hr_bpm),
            contact_supported=True,
            contact_detected=second.contact,
            rr_intervals=tuple(gatt.rr_seconds_to_raw(rr) for rr in second.rr_intervals_s),
        )
        out.append((float(second.t), uuids.HEART_RATE_MEASUREMENT,
                    gatt.encode_heart_rate_measurement(measurement)))
    stride = gatt.RSCMeasurement(
        speed_mps=second.speed_mps,
        cadence_spm=min(255, round(second.cadence_spm)),
        total_distance_m=second.distance_m,
        is_running=second.speed_mps > 2.2,
    )
    out.append((second.t + STRIDE_OFFSET_S, uuids.RSC_MEASUREMENT,
                gatt.encode_rsc_measurement(stride)))
    return out


class SimulatorSource:
    def __init__(self, plan: WorkoutPlan, athlete: Athlete, *, seed: int = 0,
                 speed: float = 0.0, device: str = "simulated band") -> None:
        self.name = f"simulator ({plan.name})"
        self.plan = plan
        self.athlete = athlete
        self.seed = seed
        self.speed = speed
        self.device = device
        self.notifications = 0

    async def readings(self) -> AsyncIterator[Reading]:
        decoder = NotificationDecoder(self.device)
        loop = asyncio.get_running_loop()
        started = loop.time()
        yield LinkEvent(self.device, 0.0, LinkState.CONNECTED, "simulated")
        for second in simulate(self.plan, self.athlete, seed=self.seed):
            for t, characteristic, payload in encode_second(second):
                await self._wait_until(loop, started, t)
                self.notifications += 1
                reading = decoder.decode(t, characteristic, payload)
                if reading is not None:
                    yield reading

    async def _wait_until(self, loop: asyncio.AbstractEventLoop, started: float, t: float) -> None:
        if self.speed <= 0:
            await asyncio.sleep(0)  # let the rest of the daemon run between notifications
            return
        delay = started + t / self.speed - loop.time()
        await asyncio.sleep(max(0.0, delay))
