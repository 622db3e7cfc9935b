"""Each member's live tile state on the Pi, built from session events. Pure: no I/O, no clock.

`LiveTracker.apply(event, at)` returns the person whose state changed (None when nothing on
their tile did); `payload(person)` is what the publisher sends. Only the fields a tile shows
go out, plus those the config lists in `share`; raw samples, RR intervals and the store stay.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.fleet.events import FleetEvent
from edge.fleet.schema import MAX_MEMBER_CHARS, SUMMARY_FIELDS, CueLine, MemberLive
from edge.kiosk.state import SAFETY_KINDS

_SENSOR_LOST, _SENSOR_BACK = "sensor_lost", "sensor_back"


def pseudonym(secret: bytes, name: str) -> str:
    """A stable stand-in for `name` ("Member 3F9A"), keyed by the Pi's secret so the name cannot
    be found by trying names."""
    digest = hmac.new(secret, name.encode(), hashlib.sha256).hexdigest()
    return f"Member {digest[:4].upper()}"


@dataclass(slots=True)
class _Member:
    shown_as: str
    seq: int = 0
    t: int | None = None
    hr: int | None = None
    zone: int | None = None
    effort_pct: int | None = None
    gap: bool = True
    sensor_lost: bool = False
    ended: bool = False
    cue: CueLine | None = None
    cue_id: int | None = None
    at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class LiveTracker:
    def __init__(
        self, *, share: Iterable[str] = (), names: str = "name", secret: bytes = b""
    ) -> None:
        self.share = frozenset(share)
        self.names = names
        self.secret = secret
        self._members: dict[str, _Member] = {}

    def shown_as(self, person: str) -> str:
        """The person's name on the board: their name, or a pseudonym."""
        name = pseudonym(self.secret, person) if self.names == "pseudonym" else person
        return name[:MAX_MEMBER_CHARS]

    def member(self, person: str) -> _Member:
        if person not in self._members:
            self._members[person] = _Member(self.shown_as(person))
        return self._members[person]

    @property
    def people(self) -> tuple[str, ...]:
        return tuple(self._members)

    def apply(self, event: FleetEvent, at: float) -> str | None:
        """Take one event seen at wall time `at`; the person whose tile changed, or None."""
        member = self.member(event.person)
        if event.kind == "sample":
            member.t = event.t
            member.gap = event.gap or event.hr is None
            member.hr = None if event.hr is None else round(event.hr)
            member.zone = event.zone if event.zone in range(6) else None
            member.effort_pct = (
                None
                if event.hrr_fraction is None or member.hr is None
                else max(0, round(100 * event.hrr_fraction))
            )
            if not member.gap:
                member.sensor_lost = False
            member.ended = False
            member.at = at
            member.extra = self._shared_live(event.raw)
        elif event.kind in ("cue", "spoken"):
            if (
                event.kind == "spoken"
                and member.cue_id is not None
                and event.cue_id is not None
                and event.cue_id < member.cue_id
            ):
                return None  # the words of an older cue than the one shown
            member.cue_id = event.cue_id
            member.cue = CueLine(event.cue_kind, event.text, event.cue_kind in SAFETY_KINDS)
            if event.cue_kind == _SENSOR_LOST:
                member.sensor_lost = True
            elif event.cue_kind == _SENSOR_BACK:
                member.sensor_lost = False
        elif event.kind == "summary":
            member.ended = True
        else:
            return None
        member.seq += 1
        return event.person

    def payload(self, person: str) -> MemberLive:
        member = self._members[person]
        signal = (
            "ended"
            if member.ended
            else "sensor_lost"
            if member.sensor_lost
            else "no_signal"
            if member.gap
            else "ok"
        )
        return MemberLive(
            member=member.shown_as,
            seq=member.seq,
            t=member.t,
            hr=member.hr,
            zone=member.zone,
            effort_pct=member.effort_pct,
            signal=signal,
            cue=member.cue,
            at=member.at,
            extra=dict(member.extra),
        )

    def _shared_live(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        extra = {}
        for key in ("rr", "cadence", "speed", "distance", "forecast"):
            if key in self.share and raw.get(key) is not None:
                extra[key] = raw[key]
        return extra

    def summary_fields(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """The summary figures that leave the Pi: the defaults, and what `share` adds."""
        out = {key: summary.get(key) for key in SUMMARY_FIELDS}
        if "distance" in self.share:
            out["distance_m"] = summary.get("distance_m")
            out["steps"] = summary.get("steps")
        if "gaps" in self.share:
            out["gaps"] = summary.get("gaps")
        return out
