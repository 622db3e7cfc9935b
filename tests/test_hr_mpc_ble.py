"""Heart-rate mode by MPC on the virtual bike through real bleak on the fake BlueZ: the same
ride as the PID's test in test_machine_ble, with the rider's learnt kinetics."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from ble_fixtures import fast_radio, needs_dbus, run
from test_hr_mpc import calibrated
from test_machine_ble import ATHLETE, BIKE, FAST, ZONES, Ride, RiderHeart, bike_settings, written

from edge.coach.hr_mpc import MpcPowerController
from firmware_bridge.gatt import fitness_machine as fm
from firmware_bridge.power_kinetics import PowerResponse
from firmware_bridge.virtual_band import VirtualIndoorBike

pytestmark = needs_dbus


def test_the_mpc_holds_a_simulated_rider_in_the_zone_on_the_virtual_bike() -> None:
    bike = VirtualIndoorBike(BIKE, **FAST)
    rng = np.random.default_rng(4)
    response = PowerResponse(ATHLETE, float(rng.uniform(0.25, 0.4)), 45.0, 5)

    async def body() -> Ride:
        async with fast_radio(bike):
            ride = Ride(
                bike,
                bike_settings(hold_zone=3, max_power_w=320.0),
                heart=RiderHeart(bike, seed=4, response=response),
            )
            ride.coach.controller = MpcPowerController(calibrated(response, 4), start_power_w=40)
            await ride.run_until(lambda: bike.t >= 900, timeout_s=60)
        return ride

    ride = run(body(), timeout_s=70)
    low, high = ZONES.bounds_bpm(3)
    hrs = [s["hr"] for s in ride.samples() if s["t"] >= 180 and s["hr"] is not None]
    inside = sum(low <= hr < high for hr in hrs) / len(hrs)
    assert inside > 0.9, inside
    targets = [r.power_w for r in written(bike, fm.SetTargetPower)]
    assert max(targets) <= 320 and all(abs(b - a) <= 25 for a, b in pairwise(targets))
    assert all(r.result is fm.ResultCode.SUCCESS for r in bike.requests)
