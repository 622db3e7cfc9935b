"""The simulator backend: a simulated workout played as real GATT notification bytes.

Each simulated second becomes a Heart Rate Measurement (0x2A37, with RR intervals) and an RSC
Measurement (0x2A53) encoded by `firmware_bridge.gatt`, then decoded again by the same decoder a
real band's notifications go through. Time is the simulation's: `speed` simulated seconds pass
per wall second (0 means as fast as possible).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import numpy as np

from edge.sources.notifications import NotificationDecoder
from edge.stream.readings import AlignedSample, LinkEvent, LinkState, Reading
from firmware_bridge import gatt
from firmware_bridge.gatt import uuids
from firmware_bridge.simulator import (
    Athlete,
    SimulatedSecond,
    WorkoutPlan,
    random_plan,
    simulate,
)

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
        out.append(
            (
                float(second.t),
                uuids.HEART_RATE_MEASUREMENT,
                gatt.encode_heart_rate_measurement(measurement),
            )
        )
    stride = gatt.RSCMeasurement(
        speed_mps=second.speed_mps,
        cadence_spm=min(255, round(second.cadence_spm)),
        total_distance_m=second.distance_m,
        is_running=second.speed_mps > 2.2,
    )
    out.append(
        (second.t + STRIDE_OFFSET_S, uuids.RSC_MEASUREMENT, gatt.encode_rsc_measurement(stride))
    )
    return out


class SimulatorSource:
    def __init__(
        self,
        plan: WorkoutPlan,
        athlete: Athlete,
        *,
        seed: int = 0,
        speed: float = 0.0,
        device: str = "simulated band",
    ) -> None:
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


def to_aligned(seconds: Sequence[SimulatedSecond]) -> list[AlignedSample]:
    """The simulator's seconds as the aligner would hand them to the daemon.

    Steps are counted from cadence for walking and running (cycling cadence is crank rpm, so no
    steps); a dropout becomes a heart-rate gap with no invented value.
    """
    steps = 0.0
    out: list[AlignedSample] = []
    for s in seconds:
        is_stride = s.cadence_spm >= 100.0  # walk and run cadences; cycling stays below 100 rpm
        if is_stride:
            steps += s.cadence_spm / 60.0
        out.append(
            AlignedSample(
                t=s.t,
                hr_bpm=s.hr_bpm,
                rr_intervals_s=s.rr_intervals_s,
                cadence_spm=s.cadence_spm,
                speed_mps=s.speed_mps,
                distance_m=s.distance_m,
                steps=round(float(steps), 1),
                contact=s.contact,
                hr_gap=s.hr_bpm is None,
            )
        )
    return out


def simulate_sessions(
    athlete: Athlete,
    n_sessions: int,
    *,
    seed: int = 0,
    noise_bpm: float = 1.0,
    max_duration_s: int | None = None,
) -> list[list[AlignedSample]]:
    """One person's history: `n_sessions` random workouts of `athlete`, oldest first.

    Each session is a `random_plan` with some terrain and pacing (`variability` 0.02-0.1),
    simulated and turned into aligned samples (`to_aligned`), cut to `max_duration_s` when
    given. Deterministic in `seed`. For calibration tests and demos.
    """
    rng = np.random.default_rng([seed, 1])
    sessions: list[list[AlignedSample]] = []
    for _ in range(n_sessions):
        plan = random_plan(rng)
        seconds = simulate(
            plan,
            athlete,
            seed=int(rng.integers(2**31)),
            noise_bpm=noise_bpm,
            variability=float(rng.uniform(0.02, 0.1)),
        )
        if max_duration_s is not None:
            seconds = seconds[:max_duration_s]
        sessions.append(to_aligned(seconds))
    return sessions
