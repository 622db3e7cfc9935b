"""What the zone board shows for each member, updated from session events. No I/O here.

`BoardState.apply(event)` takes the events a session emits (with the daemon's "person" key) and
returns the member whose tile changed, or None when the event changes nothing on the board. Times
are the caller's monotonic clock, passed in, so tests can drive them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edge.coach.cues import DETERMINISTIC_KINDS, CueKind
from edge.coach.zones import ZONE_NAMES, ZoneModel

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
            cue = {"id": self.cue.id, "kind": self.cue.kind, "action": self.cue.action,
                   "text": self.cue.text, "source": self.cue.source, "safety": self.cue.safety,
                   "age_s": round(max(0.0, now - self.cue.at), 1)}
        return {
            "name": self.name,
            "seq": self.seq,
            "t": self.t,
            "hr": self.hr,
            "zone": self.zone,
            "zone_name": None if self.zone is None else zone_label(self.zone),
            "effort_pct": self.effort_pct,
            "power_w": self.power_w,
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
    def listing(cls, names: Sequence[str] = (), zones: Mapping[str, ZoneModel] | None = None,
                ) -> BoardState:
        board = cls(zones=dict(zones or {}))
        for name in names:
            board.member(name)
        return board

    def member(self, name: str) -> MemberState:
        if name not in self.members:
            self.members[name] = MemberState(name)
        return self.members[name]

    def apply(self, event: Mapping[str, object], now: float) -> MemberState | None:
        name = str(event.get("person") or DEFAULT_PERSON)
        kind = event.get("event")
        known = name in self.members
        member = self.member(name)
        if kind == "sample":
            self._sample(member, event, now)
        elif kind == "cue":
            self._cue(member, event, now)
        elif kind == "spoken":
            if not self._spoken(member, event, now) and known:
                return None
        elif kind == "link":
            member.link = str(event.get("state") or "") or None
        elif kind == "start":
            self.members[name] = member = MemberState(name, seq=member.seq)
        elif kind == "summary":
            member.ended = True
        elif known:
            return None  # warnings and anything new: nothing on the tile
        member.seq += 1
        return member

    def _sample(self, member: MemberState, event: Mapping[str, object], now: float) -> None:
        hr = _number(event.get("hr"))
        zone = event.get("zone")
        member.t = _int(event.get("t"))
        member.last_sample_at = now
        member.gap = bool(event.get("gap")) or hr is None
        member.hr = None if hr is None else round(hr)
        member.zone = zone if isinstance(zone, int) and zone in ZONE_NAMES else None
        member.ended = False
        fraction = _number(event.get("hrr_fraction"))
        if fraction is None and hr is not None and member.name in self.zones:
            fraction = self.zones[member.name].fraction_of_reserve(hr)
        member.effort_pct = None if fraction is None or member.hr is None \
            else max(0, round(100 * fraction))
        effort = event.get("effort")
        watts = _number(effort.get("power")) if isinstance(effort, Mapping) else None
        member.power_w = None if watts is None else round(watts)
        if not member.gap:
            # A heart rate again: the band is back even if the "sensor back" cue is not due.
            member.sensor_lost = False

    def _cue(self, member: MemberState, event: Mapping[str, object], now: float) -> None:
        kind = str(event.get("kind") or "")
        member.cue = CueState(id=_int(event.get("id")), kind=kind,
                              action=str(event.get("action") or ""),
                              text=str(event.get("template") or ""), source="template", at=now)
        if kind == CueKind.SENSOR_LOST:
            member.sensor_lost = True
        elif kind == CueKind.SENSOR_BACK:
            member.sensor_lost = False

    def _spoken(self, member: MemberState, event: Mapping[str, object], now: float) -> bool:
        """The words of a cue. Words of a cue older than the one shown are not shown."""
        cue_id = _int(event.get("cue_id"))
        text = str(event.get("text") or "")
        current = member.cue
        if current is not None and current.id is not None and cue_id is not None:
            if cue_id < current.id:
                return False
            if cue_id == current.id:
                if current.text == text and current.source == event.get("source"):
                    return False
                current.text = text or current.text
                current.source = str(event.get("source") or "template")
                return True
        # Words with no cue event before them (a sink that joined late): they are the cue.
        member.cue = CueState(id=cue_id, kind=str(event.get("kind") or ""),
                              action=str(event.get("action") or ""), text=text,
                              source=str(event.get("source") or "template"), at=now)
        if member.cue.kind == CueKind.SENSOR_LOST:
            member.sensor_lost = True
        return True


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: object) -> int | None:
    number = _number(value)
    return None if number is None else int(number)
