"""The gym's machines (`[[machines]]`), each bound to at most one member at a time.

A gym machine belongs to nobody until a member taps their tile on the zone board and picks it
(`bind`); from then on it is read into that member's session and, with `drive = true`, driven
for them by a `MachineDriver` with every safety rule of a machine of their own (the person's
zones, the machine's caps). It is let go of (`release`: control given back at a safe load, the
link closed) when the member releases it, when their session ends and when edgecoach stops.

Binding is explicit and deterministic: a member binds one machine at a time, a machine is bound
to one member at a time, and a machine that is still being let go of cannot be bound until its
link has closed (two links to one machine would fight for its control point). Nothing is ever
bound by guess (the nearest band, the only band active): a person on the wrong bike would be
driven by somebody else's heart.

Each member's session is given a `MachineSeat` when it is made: a source (their place for a
machine's readings) and an observer (the driver's seconds and cues, when a machine is bound).
Everything runs on the daemon's event loop, so a bind is checked and made in one step.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from edge.coach.machine_driver import MachineDriver, driver_for
from edge.core.cues import Cue
from edge.core.events import MachineUpdate
from edge.core.zones import ZoneModel
from edge.health.kinetics import KineticsParams
from edge.settings import MachineSettings
from edge.sources.machine import MachineLink
from edge.sources.machine_slot import SwappableSource
from edge.stream.readings import AlignedSample, Reading

log = logging.getLogger(__name__)

__all__ = ["BindingError", "MachineRoster", "MachineSeat"]


#: Zones for checking plans at start-up (a plan's targets do not depend on them).
_ANY_ZONES = ZoneModel(resting_hr=60.0, max_hr=180.0)


class BindingError(ValueError):
    """A bind or release the board refuses; the message is shown on the member's tile."""


class MachineSeat:
    """A member's place for a gym machine: a source for their session and its observer."""

    def __init__(
        self,
        person: str,
        zones: ZoneModel,
        kinetics: KineticsParams | None = None,
        resting_hr: float = 60.0,
    ) -> None:
        self.person = person
        self.zones = zones
        #: The member's learnt power kinetics (heart-rate mode's MPC), as their session started.
        self.kinetics = kinetics
        self.resting_hr = resting_hr
        self.slot = SwappableSource(f"gym machine of {person}")
        self.name = self.slot.name
        #: The machine bound now (its label) and its driver, when the coach drives it.
        self.machine: str | None = None
        self.driver: MachineDriver | None = None
        #: Whether the member's session is running (a machine is bound only then).
        self.live = False
        self.say: Callable[[str], None] = lambda text: None
        self.emit: Callable[[MachineUpdate], None] = lambda event: None
        self._t = 0.0

    def readings(self) -> AsyncIterator[Reading]:
        return self.slot.readings()

    def on_sample(self, sample: AlignedSample) -> None:
        self._t = sample.t
        if self.driver is not None:
            self.driver.on_sample(sample)

    def on_cue(self, cue: Cue) -> None:
        if self.driver is not None:
            self.driver.on_cue(cue)

    def tell(self, machine: str, detail: dict[str, object]) -> None:
        self.emit(MachineUpdate(machine, self._t, detail))


class MachineRoster:
    """The gym's machines and who is on which; `seat` one per member before their session."""

    def __init__(
        self,
        machines: Sequence[MachineSettings],
        *,
        clock: Callable[[], float],
        link_options: dict[str, Any] | None = None,
    ) -> None:
        self.machines = {m.shown_as: m for m in machines}
        #: The session clock the machines' readings are stamped with (the daemon's, for "ble").
        self.clock = clock
        self.link_options = dict(link_options or {})
        self._seats: dict[str, MachineSeat] = {}
        #: Machine label -> the member it is bound to (or is being let go of by).
        self._bound: dict[str, str] = {}
        self._releasing: set[str] = set()
        # A plan that does not parse is refused at start-up, not when someone binds.
        for settings in machines:
            driver_for(MachineLink(settings, clock=clock), _ANY_ZONES, "[[machines]]")

    def seat(
        self,
        person: str,
        zones: ZoneModel,
        kinetics: KineticsParams | None = None,
        resting_hr: float = 60.0,
    ) -> MachineSeat:
        """The member's seat (made once): give it to their session as source and observer."""
        if person not in self._seats:
            self._seats[person] = MachineSeat(person, zones, kinetics, resting_hr)
        return self._seats[person]

    def listing(self) -> list[dict[str, object]]:
        """Every machine, in the config's order, with whom it is bound to (None: free)."""
        return [
            {
                "machine": label,
                "kind": settings.kind,
                "drive": settings.drive,
                "person": self._bound.get(label),
                "releasing": label in self._releasing,
            }
            for label, settings in self.machines.items()
        ]

    def bound_to(self, person: str) -> str | None:
        seat = self._seats.get(person)
        return None if seat is None else seat.machine

    def bind(self, person: str, machine: str) -> dict[str, object]:
        """Bind the free `machine` to `person`; BindingError says why not."""
        settings = self.machines.get(machine)
        if settings is None:
            names = ", ".join(self.machines) or "none"
            raise BindingError(f"there is no machine called {machine!r} here (machines: {names})")
        seat = self._seats.get(person)
        if seat is None or not seat.live:
            raise BindingError(
                f"{person} has no session running on this device: start moving with your band "
                "on, then pick the machine"
            )
        if seat.machine is not None:
            raise BindingError(f"{person} is on {seat.machine}: release it before taking another")
        if machine in self._releasing:
            raise BindingError(f"{machine} is being let go of: try again in a few seconds")
        if machine in self._bound:
            raise BindingError(f"{machine} is in use by {self._bound[machine]}")
        link = MachineLink(settings, clock=self.clock, **self.link_options)
        driver = driver_for(link, seat.zones, "[[machines]]", seat.kinetics, seat.resting_hr)
        if driver is not None:
            driver.say, driver.emit = seat.say, seat.emit
        self._bound[machine] = person
        seat.machine, seat.driver = machine, driver
        seat.slot.plug(link)
        seat.tell(machine, {"bound": machine, "kind": settings.kind, "drive": driver is not None})
        log.info("%s: %s bound from the zone board", person, machine)
        return {"machine": machine, "kind": settings.kind, "drive": driver is not None}

    def stop(self, person: str) -> bool:
        """The member's "Stop machine": the coach lets go of control; the machine stays theirs
        (still read) until they release it."""
        seat = self._seats.get(person)
        return bool(seat and seat.driver and seat.driver.person_stop())

    async def release(self, person: str, reason: str) -> bool:
        """Let go of the member's machine: control given back at a safe load, then the link
        closed; the machine is free once that is done. False when none was bound."""
        seat = self._seats.get(person)
        if seat is None or seat.machine is None:
            return False
        machine, driver = seat.machine, seat.driver
        self._releasing.add(machine)
        try:
            if driver is not None:
                driver.let_go(reason)
            seat.driver = None
            await seat.slot.unplug()  # the link's clean-up writes the release, then closes
        finally:
            seat.machine = None
            self._releasing.discard(machine)
            self._bound.pop(machine, None)
        seat.tell(machine, {"unbound": machine, "reason": reason})
        log.info("%s: %s released (%s)", person, machine, reason)
        return True

    async def session_ended(self, person: str) -> None:
        """The member's session is over: their machine goes back, nothing more is bound."""
        seat = self._seats.get(person)
        if seat is not None:
            seat.live = False
            await self.release(person, "the session ended")
