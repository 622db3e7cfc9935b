"""Random bytes from a band never crash the BLE source: counted as malformed, the stream goes on.

One virtual band (heart rate, footpod and cadence services) and one `BleSensorSource` live for
the whole module in an event loop on a background thread, so each hypothesis example costs a
few notifications, not a D-Bus daemon. Every example sends some generated payloads through
`VirtualBand.send_garbage`, then a valid heart-rate notification carrying a marker; the source
must count exactly the payloads the pure decoder rejects as malformed, yield the ones it
accepts, deliver the marker, and never drop or restart the link.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from ble_fixtures import FAST_BACKOFF, Collector, fast_config, fast_radio, needs_dbus
from hypothesis import example, given, settings
from hypothesis import strategies as st

from edge.errors import MalformedPayloadError
from edge.sources.ble import BleSensorSource
from edge.sources.notifications import NotificationDecoder
from edge.stream.readings import HeartRateReading, LinkState, StrideReading
from firmware_bridge.gatt import HeartRateMeasurement, encode_heart_rate_measurement
from firmware_bridge.gatt.uuids import CSC_MEASUREMENT, HEART_RATE_MEASUREMENT, RSC_MEASUREMENT
from firmware_bridge.virtual_band import VirtualBand

T = TypeVar("T")

ADDRESS = "C0:FF:EE:BA:D0:01"
MEASUREMENTS = (HEART_RATE_MEASUREMENT, RSC_MEASUREMENT, CSC_MEASUREMENT)


class Rig:
    """A virtual band and a source streaming from it, hosted by a loop on its own thread."""

    def __init__(self, acquire: bool) -> None:
        self.acquire = acquire
        self.band = VirtualBand(ADDRESS, "Noisy Band", services=("heart_rate", "rsc", "csc"))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ble-rig", daemon=True)
        self.thread.start()
        self.markers = 0
        #: Decodes what the band is sent, as the source should: the expected outcome.
        self.mirror = NotificationDecoder(ADDRESS)
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stop: asyncio.Event | None = None
        self._host = asyncio.run_coroutine_threadsafe(self._run(), self.loop)
        self._ready.result(timeout=20)

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with fast_radio(self.band):
                self.source = BleSensorSource(
                    fast_config(address=ADDRESS, use_acquire_notify=self.acquire),
                    reconnect_backoff=FAST_BACKOFF,
                )
                self.collector = Collector(self.source)
                await self.collector.wait_links(LinkState.CONNECTED, 1)
                await self.band.wait_until(
                    lambda: all(self.band._subscribed(u) for u in MEASUREMENTS)
                )
                self._ready.set_result(None)
                await self._stop.wait()
                await self.collector.stop()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout_s)

    def close(self) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._host.result(timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module", params=[False, True], ids=["StartNotify", "AcquireNotify"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    rig = Rig(acquire=request.param)
    try:
        yield rig
    finally:
        rig.close()


def _expected(rig: Rig, garbage: list[tuple[str, bytes]]) -> tuple[int, int, int]:
    """(malformed, heart-rate readings, stride readings) the pure decoder makes of `garbage`,
    fed through the rig's mirror decoder, which keeps the same per-link state the source does."""
    malformed = hr = stride = 0
    for uuid, data in garbage:
        try:
            reading = rig.mirror.decode(0.0, uuid, data)
        except MalformedPayloadError:
            malformed += 1
            continue
        hr += isinstance(reading, HeartRateReading)
        stride += isinstance(reading, StrideReading)
    return malformed, hr, stride


async def _send_and_wait(rig: Rig, garbage: list[tuple[str, bytes]]) -> tuple[int, int, int]:
    """Send `garbage` and a marker beat; return how far the malformed, heart-rate and stride
    counts are off the decoder's once everything expected has arrived."""
    source, collector, band = rig.source, rig.collector, rig.band
    rig.markers += 1
    marker = rig.markers
    malformed0 = source.stats.malformed
    hr0 = len(collector.of(HeartRateReading))
    stride0 = len(collector.of(StrideReading))
    want_malformed, want_hr, want_stride = _expected(rig, garbage)
    want_hr += 1  # the marker
    for uuid, data in garbage:
        assert band.send_garbage(uuid, data), "not delivered: the link is down"
    assert band.notify(
        HEART_RATE_MEASUREMENT,
        encode_heart_rate_measurement(HeartRateMeasurement(bpm=150, rr_intervals=(marker,))),
    )

    def counts() -> tuple[int, int, int]:
        return (
            source.stats.malformed - malformed0 - want_malformed,
            len(collector.of(HeartRateReading)) - hr0 - want_hr,
            len(collector.of(StrideReading)) - stride0 - want_stride,
        )

    # polled (a malformed packet yields nothing to wake a waiter on), with a short limit: a
    # failing example is run many times while hypothesis shrinks it
    with contextlib.suppress(TimeoutError):
        await band.wait_until(lambda: min(counts()) >= 0, timeout_s=2)
    await asyncio.sleep(0.005)  # anything extra (a doubled count) would show up by now
    last = collector.of(HeartRateReading)[-1]
    assert last.bpm == 150 and round(last.rr_intervals_s[0] * 1024) == marker
    return counts()


@needs_dbus
@settings(max_examples=20, deadline=None)
@given(
    garbage=st.lists(
        st.tuples(st.sampled_from(MEASUREMENTS), st.binary(max_size=20)), min_size=1, max_size=6
    )
)
@example(garbage=[(HEART_RATE_MEASUREMENT, b"")])
@example(garbage=[(HEART_RATE_MEASUREMENT, b"\x01\x50")])  # uint16 bpm cut short
@example(garbage=[(RSC_MEASUREMENT, b"\xff" * 20), (CSC_MEASUREMENT, b"\x03\x01")])
def test_random_notifications_are_counted_and_never_stop_the_stream(
    rig: Rig, garbage: list[tuple[str, bytes]]
) -> None:
    off = rig.call(_send_and_wait(rig, garbage))
    assert off == (0, 0, 0), "malformed, heart-rate, stride counts differ from the decoder's"
    assert not rig.collector.task.done()
    assert rig.collector.links(LinkState.DISCONNECTED) == 0
    assert rig.source.stats.connects == 1 and rig.source.stats.connect_failures == 0
