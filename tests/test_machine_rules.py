"""The control point rules of the virtual machines under random sequences of requests and faults.

The machine runs with a stand-in for BlueZ's side of the link (it only records what the machine
sends), so hypothesis can try thousands of sequences in seconds; the D-Bus path itself is covered
by tests/test_virtual_machines.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from firmware_bridge.gatt import fitness_machine as fm
from firmware_bridge.gatt.uuids import FITNESS_MACHINE_CONTROL_POINT, FITNESS_MACHINE_STATUS
from firmware_bridge.virtual_band import AttError, VirtualIndoorBike
from firmware_bridge.virtual_band.machines import CENTRAL, OTHER_APP


class RecordingLink:
    """BlueZ's side of a link with every characteristic subscribed: it keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def notify(self, uuid: str, data: bytes) -> bool:
        self.sent.append((uuid, bytes(data)))
        return True

    def subscribed(self, uuid: str) -> bool:
        return True

    def set_value(self, uuid: str, data: bytes) -> None:
        pass

    def disconnect(self, reason: str) -> None:
        pass

    def of(self, uuid: str) -> list[bytes]:
        return [data for u, data in self.sent if u == uuid]


REQUESTS = st.one_of(
    st.just(fm.RequestControl()),
    st.just(fm.Reset()),
    st.just(fm.StartOrResume()),
    st.builds(fm.StopOrPause, st.booleans()),
    st.builds(fm.SetTargetPower, st.integers(-100, 1200)),
    st.builds(fm.SetTargetResistanceLevel, st.integers(0, 255).map(lambda r: r / 10)),
    st.builds(fm.SetTargetSpeed, st.integers(0, 4000).map(lambda r: r / 100)),
    st.builds(fm.SetTargetHeartRate, st.integers(0, 255)),
)


class ControlPointRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.bike = VirtualIndoorBike("C0:FF:EE:61:4B:21", tick_s=3600.0, response_delay_s=0)
        self.link = RecordingLink()
        self.loop.run_until_complete(self._up())
        self.written = 0

    async def _up(self) -> None:
        self.bike.link_up(self.link)  # type: ignore[arg-type]

    def _in_loop(self, action: Any) -> None:
        """Run `action` inside the loop, as everything the machine does runs in one."""

        async def call() -> None:
            action()

        self.loop.run_until_complete(call())

    def _settle(self) -> None:
        async def settle() -> None:
            for _ in range(3):
                await asyncio.sleep(0)

        self.loop.run_until_complete(settle())

    @rule(request=REQUESTS)
    def write(self, request: Any) -> None:
        had_control = self.bike.controller == CENTRAL
        other = self.bike.controller == OTHER_APP
        power_before = self.bike.target_power_w
        payload = fm.encode_fitness_machine_control_point(request)
        responses_before = len(self.link.of(FITNESS_MACHINE_CONTROL_POINT))

        async def write() -> None:
            self.bike.write_value(FITNESS_MACHINE_CONTROL_POINT, payload, True)

        self.loop.run_until_complete(write())
        self._settle()
        responses = self.link.of(FITNESS_MACHINE_CONTROL_POINT)
        # exactly one answer, to this op code
        assert len(responses) == responses_before + 1
        answer = fm.decode_control_point_response(responses[-1])
        assert answer.request_op_code == payload[0]
        if isinstance(request, fm.RequestControl):
            assert answer.ok == (not other and not self.bike.refuse_control)
        elif not had_control:
            assert answer.result_code is fm.ResultCode.CONTROL_NOT_PERMITTED
        elif isinstance(request, fm.SetTargetSpeed | fm.SetTargetHeartRate):
            assert answer.result_code is fm.ResultCode.NOT_SUPPORTED
        elif isinstance(request, fm.SetTargetPower):
            assert answer.ok == (0 <= request.power_w <= self.bike.max_power_w)
        if not answer.ok:
            assert self.bike.target_power_w == power_before
        elif isinstance(request, fm.SetTargetPower):
            assert self.bike.target_power_w == request.power_w
            status = fm.decode_fitness_machine_status(self.link.of(FITNESS_MACHINE_STATUS)[-1])
            assert status.parameter == request
        self.written += 1

    @rule(data=st.binary(min_size=1, max_size=6))
    def write_bytes(self, data: bytes) -> None:
        responses_before = len(self.link.of(FITNESS_MACHINE_CONTROL_POINT))

        async def write() -> None:
            self.bike.write_value(FITNESS_MACHINE_CONTROL_POINT, data, True)

        self.loop.run_until_complete(write())
        self._settle()
        (answer,) = self.link.of(FITNESS_MACHINE_CONTROL_POINT)[responses_before:]
        assert fm.decode_control_point_response(answer).request_op_code == data[0]

    @rule()
    def write_while_a_response_is_owed(self) -> None:
        self.bike.response_delay_s = 0.001

        async def twice() -> None:
            self.bike.write_value(FITNESS_MACHINE_CONTROL_POINT, b"\x00", True)
            try:
                self.bike.write_value(FITNESS_MACHINE_CONTROL_POINT, b"\x00", True)
            except AttError as error:
                assert error.code == AttError.PROCEDURE_ALREADY_IN_PROGRESS
            else:
                raise AssertionError("a second write before the response was accepted")
            await asyncio.sleep(0.01)

        self.loop.run_until_complete(twice())
        self.bike.response_delay_s = 0

    @rule()
    def other_app_takes_control(self) -> None:
        had = self.bike.controller == CENTRAL
        before = len(self.link.of(FITNESS_MACHINE_STATUS))
        self._in_loop(self.bike.take_control_by_other_app)
        lost = self.link.of(FITNESS_MACHINE_STATUS)[before:]
        assert lost == ([b"\xff"] if had else [])

    @precondition(lambda self: self.bike.controller == OTHER_APP)
    @rule()
    def other_app_leaves(self) -> None:
        self.bike.release_other_app()

    @rule(refuse=st.booleans())
    def refuse_control(self, refuse: bool) -> None:
        self.bike.refuse_control = refuse

    @rule()
    def press_stop(self) -> None:
        self._in_loop(self.bike.press_stop)
        assert self.bike.target_power_w is None

    @invariant()
    def erg_needs_a_target(self) -> None:
        if self.bike.erg_active:
            assert self.bike.target_power_w is not None

    def teardown(self) -> None:
        self.loop.run_until_complete(self.bike.close())
        self.loop.close()


ControlPointRules.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None
)
test_control_point_rules = ControlPointRules.TestCase
