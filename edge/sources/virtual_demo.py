"""The hardware-free BLE demo: a simulated workout played by virtual bands over the real BLE path.

`virtual_demo_bands` starts a private D-Bus with the fake BlueZ (`firmware_bridge.virtual_band`)
serving two virtual bands, a heart-rate strap and a footpod, whose scripts play the simulated
workout as GATT notification bytes (`encode_second`, the same bytes `SimulatorSource` decodes).
It yields one `BleSensorSource` per band, connected by address, as the daemon would use real
ones; everything but the radio is real: bleak, its BlueZ backend, D-Bus, decoding, reconnects.

Time. The bands send each simulated second at ``start + t / speed`` on the monotonic clock, and
the sources stamp readings with a `SimulatedClock`, ``(monotonic() - start) * speed``, so the
aligner's 1 Hz grid lines up with the simulated seconds (a reading arrives a few milliseconds of
BLE round trip, times `speed`, after its second starts). The clock starts when both bands are
connected and subscribed. `speed` 0 ("as fast as possible") means nothing over a link with a
real round trip, so speeds of 0 or above `MAX_BLE_SPEED` (50x: 20 ms per simulated second, a
few times the round trip) are clamped to it.

Several wearers. `virtual_bands` serves a strap and a footpod per `VirtualWearer` (the daemon's
"virtual" source: one per person, addresses from `band_addresses`) on one fake BlueZ and one
clock, and can take a strap out of range at given simulated seconds (`link_losses`): the link
drops, the band is neither visible nor connectable for that long, and what it sends meanwhile
is lost, so the session sees a real gap and a real reconnect.

End. A `BleSensorSource` reconnects for ever; each one is wrapped in a `ScriptedBandSource`
that ends once its band has played the whole script and what it delivered has arrived (or
`grace_s` has passed), so a session over these sources ends by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from edge.settings import BleBandConfig
from edge.sources.base import SensorSource
from edge.sources.ble import BleSensorSource, ReconnectBackoff
from edge.sources.simulator import encode_second
from edge.stream.readings import BatteryReading, LinkEvent, Reading
from firmware_bridge.gatt.uuids import (
    CSC_MEASUREMENT,
    HEART_RATE_MEASUREMENT,
    RSC_MEASUREMENT,
)
from firmware_bridge.simulator import Athlete, WorkoutPlan, simulate
from firmware_bridge.virtual_band import (
    FakeBluez,
    Notification,
    VirtualBand,
    virtual_radio,
)

_LOGGER = logging.getLogger(__name__)

#: What one band sends: (simulated second, characteristic, payload), in time order.
_Timeline = tuple[tuple[float, str, bytes], ...]

#: The fastest a simulated workout is played over BLE, in simulated seconds per wall second.
MAX_BLE_SPEED = 50.0

HEART_RATE_ADDRESS = "C0:FF:EE:DE:00:01"  # band_addresses(0)
FOOTPOD_ADDRESS = "C0:FF:EE:DE:00:02"
CADENCE_ADDRESS = "C0:FF:EE:DE:00:03"

#: Reconnect quickly: the fake answers in milliseconds.
DEMO_BACKOFF = ReconnectBackoff(first_s=0.05, factor=2.0, max_s=0.5, max_not_found_s=0.5)

#: How long the bands wait for each other before the clock starts anyway.
_START_TIMEOUT_S = 15.0


def ble_speed(speed: float) -> float:
    """`speed` as the BLE demo plays it: 0 (as fast as possible) and anything above
    `MAX_BLE_SPEED` become `MAX_BLE_SPEED`."""
    if speed <= 0 or speed > MAX_BLE_SPEED:
        return MAX_BLE_SPEED
    return float(speed)


class SimulatedClock:
    """Simulated seconds from wall time: ``(monotonic() - start) * speed``; 0 until started.

    Give it to `BleSensorSource(clock=...)` so readings carry simulated time.
    """

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        self.start: float | None = None

    @property
    def started(self) -> bool:
        return self.start is not None

    def start_now(self) -> None:
        """Start the clock (once; later calls keep the first start)."""
        if self.start is None:
            self.start = time.monotonic()

    def wall_at(self, t: float) -> float:
        """The monotonic time at which simulated second `t` happens."""
        if self.start is None:
            raise RuntimeError("the simulated clock has not started")
        return self.start + t / self.speed

    def __call__(self) -> float:
        if self.start is None:
            return 0.0
        return (time.monotonic() - self.start) * self.speed


class ScriptedBandSource:
    """A `SensorSource` over a `BleSensorSource` that ends when its virtual band is done.

    The BLE source runs in its own task, feeding a queue. Iteration stops once the band has
    played its whole script and then either everything it delivered has arrived or `grace_s`
    (wall seconds) has passed.
    """

    def __init__(self, source: BleSensorSource, band: VirtualBand, *, grace_s: float = 1.0) -> None:
        self.source = source
        self.band = band
        self.grace_s = grace_s
        #: Measurement notifications received (decoded or malformed), for the end condition.
        self.received = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def device(self) -> str:
        return self.source.device

    async def readings(self) -> AsyncIterator[Reading]:
        end = object()
        queue: asyncio.Queue[Reading | BaseException | object] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for reading in self.source.readings():
                    if not isinstance(reading, LinkEvent | BatteryReading):
                        self.received += 1
                    queue.put_nowait(reading)
            except Exception as exc:  # handed to the consumer
                queue.put_nowait(exc)

        async def watch() -> None:
            await self.band.wait_script_done(timeout_s=1e9)
            with contextlib.suppress(TimeoutError):
                await self.band.wait_until(self._all_arrived, timeout_s=self.grace_s)
            queue.put_nowait(end)

        tasks = {
            asyncio.create_task(pump(), name=f"virtual-demo-source-{self.band.address}"),
            asyncio.create_task(watch(), name=f"virtual-demo-watch-{self.band.address}"),
        }
        self._tasks |= tasks
        try:
            while (item := await queue.get()) is not end:
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            await self._cancel(tasks)

    async def stop(self) -> None:
        """Stop the BLE source even where an iteration was abandoned without being closed."""
        await self._cancel(set(self._tasks))

    async def _cancel(self, tasks: set[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks -= tasks

    def _all_arrived(self) -> bool:
        delivered = sum(
            1
            for s in self.band.sent
            if s.delivered and s.uuid in (HEART_RATE_MEASUREMENT, RSC_MEASUREMENT, CSC_MEASUREMENT)
        )
        return self.received + self.source.stats.malformed >= delivered


class _DemoStart:
    """Starts the clock once every band is connected and subscribed to its measurement."""

    def __init__(self, clock: SimulatedClock, wanted: Sequence[tuple[VirtualBand, str]]) -> None:
        self.clock = clock
        self.wanted = wanted
        self.bluez: FakeBluez | None = None

    def _ready(self) -> bool:
        if self.bluez is None:
            return False
        links = self.bluez.links
        return all(
            band.address in links and links[band.address].subscribed(uuid)
            for band, uuid in self.wanted
        )

    async def wait(self, band: VirtualBand) -> None:
        if not self.clock.started:
            try:
                await band.wait_until(self._ready, timeout_s=_START_TIMEOUT_S)
            except TimeoutError:
                _LOGGER.warning(
                    "the virtual bands did not all connect within %g s; starting anyway",
                    _START_TIMEOUT_S,
                )
            self.clock.start_now()


async def _timed_script(
    timeline: _Timeline, band: VirtualBand, start: _DemoStart
) -> AsyncIterator[Notification]:
    """Items at absolute times on the simulated clock, so the schedule never drifts."""
    await start.wait(band)
    for t, uuid, payload in timeline:
        yield Notification(max(0.0, start.clock.wall_at(t) - time.monotonic()), uuid, payload)


def _timelines(plan: WorkoutPlan, athlete: Athlete, seed: int) -> tuple[_Timeline, _Timeline]:
    heart: list[tuple[float, str, bytes]] = []
    stride: list[tuple[float, str, bytes]] = []
    for second in simulate(plan, athlete, seed=seed):
        for item in encode_second(second):
            (heart if item[1] == HEART_RATE_MEASUREMENT else stride).append(item)
    return tuple(heart), tuple(stride)


def demo_config(address: str, kind: str) -> BleBandConfig:
    """How the demo's sources find their bands: by address, one kind each, patient enough for
    a loaded machine, quick to retry."""
    return BleBandConfig(
        address=address,
        kinds=(kind,),
        scan_timeout_s=2.0,
        connect_timeout_s=5.0,
        connect_attempts=1,
        disconnect_timeout_s=2.0,
    )


@dataclass(frozen=True, slots=True)
class VirtualWearer:
    """Someone wearing a virtual heart-rate band and footpod: what they do, and band faults."""

    plan: WorkoutPlan
    athlete: Athlete
    seed: int = 1
    #: A name for the bands ("edgecoach Virtual HRM (sam)"); empty for the demo's names.
    label: str = ""
    #: (simulated second, simulated seconds): the heart-rate band goes out of range at that
    #: second (the link drops, the band is neither visible nor connectable) for that long, and
    #: what it would have sent meanwhile is lost, as with a real strap out of reach.
    link_losses: tuple[tuple[float, float], ...] = ()


def band_addresses(index: int) -> tuple[str, str]:
    """Heart-rate band and footpod addresses of the `index`-th wearer (0: the demo's)."""
    if not 0 <= index < 256:
        raise ValueError(f"at most 256 virtual wearers, got index {index}")
    return f"C0:FF:EE:DE:{index:02X}:01", f"C0:FF:EE:DE:{index:02X}:02"


async def _lose_link(
    band: VirtualBand, clock: SimulatedClock, losses: Sequence[tuple[float, float]]
) -> None:
    """Take `band` out of range at each loss's simulated second, for its simulated length."""
    await band.wait_until(lambda: clock.started, timeout_s=1e9)
    for at_s, seconds in sorted(losses):
        await asyncio.sleep(max(0.0, clock.wall_at(at_s) - time.monotonic()))
        _LOGGER.info("%s: out of range for %g simulated seconds", band.address, seconds)
        band.out_of_range(seconds / clock.speed)


@contextlib.asynccontextmanager
async def virtual_bands(
    wearers: Sequence[VirtualWearer],
    *,
    speed: float,
    grace_s: float = 1.0,
) -> AsyncIterator[list[list[SensorSource]]]:
    """One virtual heart-rate band and footpod per wearer on one fake BlueZ, and sources.

    Yields, per wearer, ``[heart rate source, footpod source]``: BLE sources over the real
    bleak backend, on one simulated clock (it starts when every band is connected and
    subscribed), that end by themselves when the wearer's workout is over. `speed` is
    simulated seconds per wall second, clamped to `MAX_BLE_SPEED` (0 included). Iterate the
    sources inside the block; leaving it cancels whatever still runs and stops the fake BlueZ
    and its bus.
    """
    played = ble_speed(speed)
    if played != speed:
        _LOGGER.info(
            "virtual bands: playing at %gx (asked for %gx; %gx is the most)",
            played,
            speed,
            MAX_BLE_SPEED,
        )
    clock = SimulatedClock(played)
    bands: list[VirtualBand] = []
    wanted: list[tuple[VirtualBand, str]] = []
    per_wearer: list[list[ScriptedBandSource]] = []
    scripts = []
    for index, wearer in enumerate(wearers):
        heart_address, pod_address = band_addresses(index)
        suffix = f" ({wearer.label})" if wearer.label else ""
        heart_line, stride_line = _timelines(wearer.plan, wearer.athlete, wearer.seed)
        heart = VirtualBand(
            heart_address,
            f"edgecoach Virtual HRM{suffix}",
            services=("heart_rate", "battery", "device_info"),
            hold_until_subscribed=False,
            battery_percent=87,
        )
        pod = VirtualBand(
            pod_address,
            f"edgecoach Virtual Footpod{suffix}",
            services=("rsc", "battery", "device_info"),
            hold_until_subscribed=False,
            battery_percent=64,
            model="virtual footpod",
        )
        bands += [heart, pod]
        wanted += [(heart, HEART_RATE_MEASUREMENT), (pod, RSC_MEASUREMENT)]
        scripts += [(heart, heart_line), (pod, stride_line)]
        per_wearer.append(
            [
                ScriptedBandSource(
                    BleSensorSource(
                        demo_config(heart_address, "heart_rate"),
                        reconnect_backoff=DEMO_BACKOFF,
                        clock=clock,
                    ),
                    heart,
                    grace_s=grace_s,
                ),
                ScriptedBandSource(
                    BleSensorSource(
                        demo_config(pod_address, "rsc"), reconnect_backoff=DEMO_BACKOFF, clock=clock
                    ),
                    pod,
                    grace_s=grace_s,
                ),
            ]
        )
    start = _DemoStart(clock, wanted)
    for band, line in scripts:
        band.script = _timed_script(line, band, start)
    faults: set[asyncio.Task[None]] = set()
    async with virtual_radio(*bands, advertise_interval_s=0.05) as bluez:
        start.bluez = bluez
        for wearer, (heart, _) in zip(wearers, per_wearer, strict=True):
            if wearer.link_losses:
                faults.add(
                    asyncio.create_task(
                        _lose_link(heart.band, clock, wearer.link_losses),
                        name=f"virtual-demo-faults-{heart.band.address}",
                    )
                )
        try:
            yield [list(sources) for sources in per_wearer]
        finally:
            for task in faults:
                task.cancel()
            await asyncio.gather(*faults, return_exceptions=True)
            # bleak must be done with the fake before it and its bus go away
            for sources in per_wearer:
                for source in sources:
                    await source.stop()


@contextlib.asynccontextmanager
async def virtual_demo_bands(
    plan: WorkoutPlan,
    athlete: Athlete,
    *,
    seed: int,
    speed: float,
    grace_s: float = 1.0,
) -> AsyncIterator[list[SensorSource]]:
    """Virtual heart-rate band and footpod playing `plan` for `athlete`, and sources for them.

    Yields ``[heart rate source, footpod source]`` (see `virtual_bands`, of which this is the
    one-wearer case with the demo's band names and addresses).
    """
    async with virtual_bands(
        [VirtualWearer(plan, athlete, seed)], speed=speed, grace_s=grace_s
    ) as sources:
        yield sources[0]


def demo_scan_bands() -> list[VirtualBand]:
    """Three bands for `edgecoach scan --virtual`: a heart-rate strap, a footpod and a bike
    cadence sensor, each with a battery."""
    return [
        VirtualBand(
            HEART_RATE_ADDRESS,
            "edgecoach Virtual HRM",
            services=("heart_rate", "battery", "device_info"),
            battery_percent=87,
        ),
        VirtualBand(
            FOOTPOD_ADDRESS,
            "edgecoach Virtual Footpod",
            services=("rsc", "battery"),
            battery_percent=64,
        ),
        VirtualBand(
            CADENCE_ADDRESS,
            "edgecoach Virtual Cadence",
            services=("csc", "battery"),
            battery_percent=45,
        ),
    ]


__all__ = [
    "CADENCE_ADDRESS",
    "FOOTPOD_ADDRESS",
    "HEART_RATE_ADDRESS",
    "MAX_BLE_SPEED",
    "ScriptedBandSource",
    "SimulatedClock",
    "VirtualWearer",
    "band_addresses",
    "ble_speed",
    "demo_scan_bands",
    "virtual_bands",
    "virtual_demo_bands",
]
