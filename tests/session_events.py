"""Session events built the way a session emits them, for the tests of its sinks (zone board,
OLED, e-paper, terminal display)."""

from __future__ import annotations

from edge.coach.summary import summarise
from edge.core.cues import CUE_SPECS, Action, Cue, CueKind, Priority
from edge.core.events import CueDecided, CueSpoken, SampleTaken, SessionEnded, StepProgress
from edge.core.narration import Narration
from edge.core.summary import SessionSummary
from edge.core.zones import ZoneModel
from edge.profile import Profile
from edge.stream.readings import AlignedSample

#: Facts enough for each kind's template, unless a test gives its own.
_FACTS: dict[CueKind, dict[str, float | int | str]] = {
    CueKind.ZONE_CHANGE: {"hr": 150, "zone": 3, "previous_zone": 2},
    CueKind.HIGH_ZONE: {"hr": 184, "zone": 5, "zone5_lower": 174},
    CueKind.ABOVE_MAX_HR: {"hr": 190, "max_hr": 181},
    CueKind.SENSOR_BACK: {"hr": 150},
    CueKind.SENSOR_LOST: {"gap_s": 5},
}


def sample_event(
    t: int,
    hr: float | None,
    zone: int | None,
    *,
    person: str | None = None,
    hrr_fraction: float | None = None,
    workout: StepProgress | None = None,
) -> SampleTaken:
    return SampleTaken(
        AlignedSample(
            t=t,
            hr_bpm=hr,
            rr_intervals_s=(),
            cadence_spm=None,
            speed_mps=None,
            distance_m=None,
            steps=None,
            contact=True,
            hr_gap=hr is None,
        ),
        zone,
        hrr_fraction=hrr_fraction,
        forecast=None,
        workout=workout,
        person=person,
    )


def cue_event(
    cue_id: int,
    kind: CueKind = CueKind.ZONE_CHANGE,
    *,
    t: int = 0,
    action: Action = Action.HOLD,
    person: str | None = None,
    **facts: float | int | str,
) -> CueDecided:
    cue = Cue(cue_id, t, kind, action, CUE_SPECS[kind].priority, facts or _FACTS.get(kind, {}))
    return CueDecided(cue, person=person)


def spoken_event(
    cue_id: int,
    text: str,
    *,
    kind: CueKind = CueKind.ZONE_CHANGE,
    source: str = "llm",
    person: str | None = None,
) -> CueSpoken:
    cue = Cue(cue_id, 0, kind, Action.HOLD, Priority.ZONE, _FACTS.get(kind, {}))
    return CueSpoken(
        cue,
        Narration(cue_id, text, source, seconds=0.4, attempts=1),
        seconds_to_text=0.5,
        seconds_to_first_words=None,
        speech=None,
        person=person,
    )


def summary_event(
    duration_s: int, mean_hr: float | None, *, person: str | None = None
) -> SessionEnded:
    empty = summarise([], {}, [], [], ZoneModel.for_profile(Profile()), [])
    summary = SessionSummary(
        **{
            **{f: getattr(empty, f) for f in empty.__slots__},
            "duration_s": duration_s,
            "mean_hr": mean_hr,
        }
    )
    return SessionEnded(summary, person=person)
