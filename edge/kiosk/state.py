"""What the zone board shows for each member, updated from session events. No I/O here.

`BoardState.apply(event)` takes the events a session emits (with the daemon's `person`) and
returns the member whose tile changed, or None when the event changes nothing on the board. Times
are the caller's monotonic clock, passed in, so tests can drive them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edge.core.cues import DETERMINISTIC_KINDS, Cue, CueKind
from edge.core.events import (
    CueDecided,
    CueSpoken,
    LinkChanged,
    MachineUpdate,
    SampleTaken,
    SessionEnded,
    SessionEvent,
    SessionStarted,
)
from edge.core.zones import ZONE_NAMES, ZoneModel

#: The person of events that carry none (a single-person `edgecoach demo`).
DEFAULT_PERSON = "you"
#: With no sample for this long the tile shows "no signal", as it does for a gap.
NO_SIGNAL_AFTER_S = 10.0
#: Cue kinds shown as alerts: stop now, or the reading cannot be right.
SAFETY_KINDS = frozenset(kind.value for kind in DETERMINISTIC_KINDS)


def zone_label(zone: int) -> str:
    """The zone's short name for a tile: "maximum" for zone 5 ("zone 5, maximum")."""
    return ZONE_NAMES[zone].split(", ", 1)[-1]


@dataclass(slots=True)
class CueState:
    id: int | None
    kind: str
    action: str
    text: str
    #: "template" until the words are ready, then the narration's source ("llm" or "template").
    source: str
    at: float

    @property
    def safety(self) -> bool:
        return self.kind in SAFETY_KINDS


@dataclass(slots=True)
class MemberState:
    name: str
    #: Bumped on every change, so a client can tell a new update from a repeated one.
    seq: int = 0
    #: Session second of the last sample.
    t: int | None = None
    hr: int | None = None
    zone: int | None = None
    effort_pct: int | None = None
    #: Watts from the person's power meter or machine this second; None when none reports.
    power_w: int | None = None
    #: True while the coach drives a machine for the person (the tile offers "Stop machine").
    machine_driving: bool = False
    #: The gym machine bound to the member from the board (its label), if any.
    machine: str | None = None
    gap: bool = False
    last_sample_at: float | None = None
    cue: CueState | None = None
    sensor_lost: bool = False
    link: str | None = None
    ended: bool = False

    def as_dict(self, now: float) -> dict[str, object]:
        """The tile's state as JSON, with ages measured at `now` (the browser counts on)."""
        age = None if self.last_sample_at is None else round(max(0.0, now - self.last_sample_at), 1)
        cue = None
        if self.cue is not None:
            cue = {
                "id": self.cue.id,
                "kind": self.cue.kind,
                "action": self.cue.action,
                "text": self.cue.text,
                "source": self.cue.source,
                "safety": self.cue.safety,
                "age_s": round(max(0.0, now - self.cue.at), 1),
            }
        return {
            "name": self.name,
            "seq": self.seq,
            "t": self.t,
            "hr": self.hr,
            "zone": self.zone,
            "zone_name": None if self.zone is None else zone_label(self.zone),
            "effort_pct": self.effort_pct,
            "power_w": self.power_w,
            "machine_driving": self.machine_driving,
            "machine": self.machine,
            "gap": self.gap,
            "sample_age_s": age,
            "no_signal": self.gap or age is None or age > NO_SIGNAL_AFTER_S,
            "cue": cue,
            "sensor_lost": self.sensor_lost,
            "link": self.link,
            "ended": self.ended,
        }


@dataclass
class BoardState:
    """Every member's tile. Members keep the order they were first seen in (or were listed)."""

    #: Zone models by person, to show effort as % of heart-rate reserve when a sample has no
    #: "hrr_fraction" of its own.
    zones: Mapping[str, ZoneModel] = field(default_factory=dict)
    members: dict[str, MemberState] = field(default_factory=dict)

    @classmethod
    def listing(
        cls,
        names: Sequence[str] = (),
        zones: Mapping[str, ZoneModel] | None = None,
    ) -> BoardState:
        board = cls(zones=dict(zones or {}))
        for name in names:
            board.member(name)
        return board

    def member(self, name: str) -> MemberState:
        if name not in self.members:
            self.members[name] = MemberState(name)
        return self.members[name]

    def apply(self, event: SessionEvent, now: float) -> MemberState | None:
        name = event.person or DEFAULT_PERSON
        known = name in self.members
        member = self.member(name)
        match event:
            case SampleTaken():
                self._sample(member, event, now)
            case CueDecided(cue=cue):
                self._cue(member, cue, now)
            case CueSpoken():
                if not self._spoken(member, event, now) and known:
                    return None
            case LinkChanged(link=link):
                member.link = link.state.value
            case SessionStarted():
                self.members[name] = member = MemberState(name, seq=member.seq)
            case SessionEnded():
                member.ended = True
                member.machine_driving = False
                member.machine = None
            case MachineUpdate(detail=detail):
                driving = _machine_driving(member.machine_driving, detail)
                bound = _bound_machine(member.machine, detail)
                if driving == member.machine_driving and bound == member.machine and known:
                    return None  # a target changed: nothing on the tile
                member.machine_driving, member.machine = driving, bound
            case _ if known:
                return None  # warnings and anything new: nothing on the tile
        member.seq += 1
        return member

    def _sample(self, member: MemberState, event: SampleTaken, now: float) -> None:
        hr = event.sample.hr_bpm
        zone = event.zone
        member.t = event.sample.t
        member.last_sample_at = now
        member.gap = event.sample.hr_gap or hr is None
        member.hr = None if hr is None else round(hr)
        member.zone = zone if zone in ZONE_NAMES else None
        member.ended = False
        fraction = event.hrr_fraction
        if fraction is None and hr is not None and member.name in self.zones:
            fraction = self.zones[member.name].fraction_of_reserve(hr)
        member.effort_pct = (
            None if fraction is None or member.hr is None else max(0, round(100 * fraction))
        )
        watts = event.sample.power_w
        member.power_w = None if watts is None else round(watts)
        if not member.gap:
            # A heart rate again: the band is back even if the "sensor back" cue is not due.
            member.sensor_lost = False

    def _cue(self, member: MemberState, cue: Cue, now: float) -> None:
        member.cue = CueState(
            id=cue.id,
            kind=cue.kind.value,
            action=cue.action.value,
            text=cue.template_text,
            source="template",
            at=now,
        )
        if cue.kind is CueKind.SENSOR_LOST:
            member.sensor_lost = True
        elif cue.kind is CueKind.SENSOR_BACK:
            member.sensor_lost = False

    def _spoken(self, member: MemberState, event: CueSpoken, now: float) -> bool:
        """The words of a cue. Words of a cue older than the one shown are not shown."""
        words = event.narration
        cue_id, text = words.cue_id, words.text
        current = member.cue
        if current is not None and current.id is not None:
            if cue_id < current.id:
                return False
            if cue_id == current.id:
                if current.text == text and current.source == words.source:
                    return False
                current.text = text or current.text
                current.source = words.source or "template"
                return True
        # Words with no cue event before them (a sink that joined late): they are the cue.
        member.cue = CueState(
            id=cue_id,
            kind=event.cue.kind.value,
            action=event.cue.action.value,
            text=text,
            source=words.source or "template",
            at=now,
        )
        if event.cue.kind is CueKind.SENSOR_LOST:
            member.sensor_lost = True
        return True


def _machine_driving(was: bool, detail: Mapping[str, object]) -> bool:
    """Whether the coach drives the member's machine after this update."""
    if detail.get("status") == "control_granted":
        return True
    if "unbound" in detail:
        return False
    if detail.get("command") == "release" or detail.get("status") in (
        "control_lost",
        "stopped_by_user",
        "reset",
    ):
        return False
    return was


def _bound_machine(was: str | None, detail: Mapping[str, object]) -> str | None:
    """The gym machine bound to the member after this update (`MachineRoster`'s events)."""
    if isinstance(bound := detail.get("bound"), str):
        return bound
    if "unbound" in detail:
        return None
    return was
