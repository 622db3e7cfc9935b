"""`edgecoach demo --machine`: a bike in ERG, driven by the coach, over real bleak.

Two virtual peripherals behind the fake BlueZ on a private D-Bus: an indoor bike (FTMS with ERG,
`firmware_bridge.virtual_band.VirtualIndoorBike`) and the rider's heart-rate strap. The rider's
heart answers the power the bike's brake holds, second by second (`power_kinetics`), and the strap
sends it as Heart Rate Measurement notifications. The coach runs `DEMO_MACHINE_PLAN` on the bike
through the real path: the machine link requests control, writes each target power in bounded
steps, checks every indication's result code, reads the bike's Indoor Bike Data into the stream,
and hands control back at the end. Model time is the session clock; `speed` model seconds pass per
wall second (at most 50, as the BLE demo).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from edge.coach.machine_coach import DriveState, MachineCoach
from edge.coach.machine_driver import MachineDriver
from edge.coach.workouts import parse_workout
from edge.core.zones import ZoneModel
from edge.profile import Profile
from edge.session import CoachingSession, SessionResult
from edge.settings import BleBandConfig, MachineSettings
from edge.sources.ble import BleSensorSource, ReconnectBackoff
from edge.sources.machine import MachineLink
from firmware_bridge.gatt import HeartRateMeasurement, encode_heart_rate_measurement
from firmware_bridge.gatt.uuids import HEART_RATE_MEASUREMENT
from firmware_bridge.power_kinetics import PowerResponse, SimulatedRider
from firmware_bridge.simulator import DEMO_ATHLETE
from firmware_bridge.virtual_band import (
    MachineSample,
    Notification,
    VirtualBand,
    VirtualIndoorBike,
    virtual_radio,
)

#: Twelve minutes on the bike: a warm-up, three hard two-minute efforts, a spin out.
DEMO_MACHINE_PLAN = "2m 120W, 3x(2m 250W, 1m 130W), 1m 90W"
BIKE_ADDRESS = "C0:FF:EE:B1:4E:01"
STRAP_ADDRESS = "C0:FF:EE:B1:4E:02"
#: The demo rider's heart: 0.3 bpm per watt, a 40 s time constant, 5 s of delay.
DEMO_RESPONSE = PowerResponse(DEMO_ATHLETE, 0.3, 40.0, 5)
_FAST_RETRY = ReconnectBackoff(first_s=0.05, max_s=0.5, max_not_found_s=0.5)


class MachineDemo:
    """The bike, the strap, the link and the driver of one `demo --machine` run."""

    def __init__(
        self, profile: Profile, *, speed: float, seed: int = 1, plan: str = DEMO_MACHINE_PLAN
    ) -> None:
        self.speed = speed
        self.plan = parse_workout(plan, "demo machine plan")
        self.bike = VirtualIndoorBike(BIKE_ADDRESS, tick_s=1.0 / speed, model_step_s=1.0)
        self.rider = SimulatedRider(DEMO_RESPONSE, seed=seed)
        self._beats: asyncio.Queue[Notification] = asyncio.Queue()
        self.strap = VirtualBand(
            STRAP_ADDRESS,
            "edgecoach Virtual HRM (rider)",
            services=("heart_rate",),
            script=self._heart_script(),
        )
        self.bike.on_sample = self._on_bike_sample
        settings = MachineSettings(
            address=BIKE_ADDRESS, kind="bike", drive=True, plan=plan, max_power_w=300.0
        )
        self.link = MachineLink(settings, clock=self._clock, reconnect_backoff=_FAST_RETRY)
        self.driver = MachineDriver(
            MachineCoach(settings, ZoneModel.for_profile(profile), self.plan),
            send=self.link.send,
            device=self.link.name,
        )
        self.link.on_event = self.driver.on_event

    @property
    def duration_s(self) -> int:
        return self.plan.duration_s

    def _clock(self) -> float:
        return self.bike.t

    def _on_bike_sample(self, sample: MachineSample) -> None:
        bpm = round(self.rider.step(sample.power_w))
        payload = encode_heart_rate_measurement(
            HeartRateMeasurement(bpm=bpm, contact_supported=True, contact_detected=True)
        )
        self._beats.put_nowait(Notification(0.0, HEART_RATE_MEASUREMENT, payload))

    async def _heart_script(self) -> AsyncIterator[Notification]:
        while True:
            yield await self._beats.get()

    async def run(self, session: CoachingSession) -> SessionResult:
        """Play the plan through `session` (made with this demo's driver as its observer)."""
        self.driver.say, self.driver.emit = session.announce, session.emit
        strap = BleSensorSource(
            BleBandConfig(
                address=STRAP_ADDRESS,
                kinds=("heart_rate",),
                scan_timeout_s=2.0,
                connect_timeout_s=5.0,
                connect_attempts=1,
            ),
            clock=self._clock,
            reconnect_backoff=_FAST_RETRY,
        )
        async with virtual_radio(
            self.bike, self.strap, advertise_interval_s=0.02, resolve_delay_s=0.005
        ):
            task = asyncio.create_task(session.run(strap, self.link), name="machine-demo")
            try:
                # The plan ends with control handed back; a few more seconds show the spin out.
                while (
                    not (
                        self.driver.coach.state in (DriveState.DONE, DriveState.RELEASED)
                        and not self.link.in_control
                    )
                    and not task.done()
                ):
                    await asyncio.sleep(0.05)
                if not task.done():
                    await self.bike.wait_model_time(5, timeout_s=30)
            finally:
                session.stop()
                with contextlib.suppress(asyncio.CancelledError):
                    result = await task
        return result
