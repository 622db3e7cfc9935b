"""A short run of bench/ble_soak.py: forced reconnects leak nothing and lose nothing delivered."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from ble_fixtures import needs_dbus, run

BENCH = Path(__file__).resolve().parents[1] / "bench" / "ble_soak.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("edgecoach_bench_ble_soak", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


ble_soak = _load_bench()


@needs_dbus
@pytest.mark.parametrize(
    ("acquire", "cycles"), [(False, 50), (True, 30)], ids=["StartNotify", "AcquireNotify"]
)
def test_forced_reconnects_keep_fds_and_tasks_flat_and_lose_nothing(
    acquire: bool, cycles: int
) -> None:
    report = run(ble_soak.soak(cycles, acquire_notify=acquire), timeout_s=60)
    assert report.fds_after == report.fds_before, "\n".join(report.lines())
    assert report.tasks_after == report.tasks_before, "\n".join(report.lines())
    assert report.connects == cycles + 1 and report.disconnects == cycles
    assert report.delivered >= cycles * 3
    assert report.lost == 0 and report.duplicated == 0 and report.out_of_order == 0
    assert report.received == report.delivered
    assert report.ok


def test_the_sequence_number_survives_the_codec() -> None:
    for sequence in (0, 1, 1023, 40000, 65535):
        payload = ble_soak.beat(sequence)
        decoded = ble_soak.decode(ble_soak.HEART_RATE_MEASUREMENT, payload)
        assert decoded.rr_intervals == (sequence,)
