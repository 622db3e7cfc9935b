"""Training load: Banister's TRIMP per session, weekly load and the acute:chronic ratio.

TRIMP (Banister 1991; Morton, Fitz-Clarke & Banister 1990) weighs each minute by the fraction of
heart-rate reserve it was done at, exponentially, so that a minute near maximum counts several
times a minute of easy work:

    TRIMP = sum over minutes of  HRr x 0.64 x e^(k x HRr),   HRr = (HR - resting) / (max - resting)

with k = 1.92 for men and 1.67 for women (Banister's sex factors; `BANISTER_K_MALE`,
`BANISTER_K_FEMALE`). Banister's TRIMP was chosen over Edwards' zone TRIMP because it is
continuous (no jump at a zone border) and rests on the same heart-rate reserve (Karvonen) as
the zones. Seconds without a heart rate count nothing: no value is invented.

The acute:chronic workload ratio (Gabbett 2016; Hulin et al. 2016) is the last 7 days' load
over the average weekly load of the last 28 days; above about 1.3 the load is rising faster
than the person is used to, and the plan stops ramping.

Intensity categories follow ACSM's Guidelines (11th ed.): moderate is 40-59 % of heart-rate
reserve, vigorous 60-89 %; WHO 2020 counts a vigorous minute as two moderate ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from edge.core.zones import ZoneModel
from edge.profile import Profile
from edge.stream.readings import AlignedSample

__all__ = [
    "BANISTER_K_FEMALE",
    "BANISTER_K_MALE",
    "SessionKind",
    "SessionLoad",
    "acute_chronic_ratio",
    "banister_trimp_per_minute",
    "classify",
    "load_between",
    "session_load",
    "session_trimp",
    "weekly_load",
]

BANISTER_K_MALE = 1.92
BANISTER_K_FEMALE = 1.67

#: ACSM: moderate from 40 % of heart-rate reserve, vigorous from 60 %.
MODERATE_HRR = 0.40
VIGOROUS_HRR = 0.60
#: A session is "hard" with 10 min or more in zones 4-5 (80 %+ of reserve), "moderate" with
#: 15 min or more in zone 3 or above (70 %+), "long" when it lasted 60 min or more without being
#: hard, "easy" otherwise.
HARD_MIN_Z4 = 10.0
MODERATE_MIN_Z3 = 15.0
LONG_MIN = 60.0

SessionKind = Literal["easy", "moderate", "hard", "long"]


def banister_trimp_per_minute(hrr_fraction: float, k: float = BANISTER_K_MALE) -> float:
    """TRIMP of one minute at `hrr_fraction` of heart-rate reserve (clipped to 0..1)."""
    x = min(max(hrr_fraction, 0.0), 1.0)
    return x * 0.64 * math.exp(k * x)


def session_trimp(
    samples: Iterable[AlignedSample], profile: Profile, k: float = BANISTER_K_MALE
) -> float:
    """Banister TRIMP of a session: one term per second with a heart rate (1/60 min each)."""
    zones = ZoneModel.for_profile(profile)
    total = 0.0
    for sample in samples:
        if sample.hr_bpm is not None and not sample.hr_gap:
            total += banister_trimp_per_minute(zones.fraction_of_reserve(sample.hr_bpm), k) / 60
    return total


@dataclass(frozen=True, slots=True)
class SessionLoad:
    """One session reduced to what planning needs."""

    session_id: int | None
    #: The local day the session started on.
    day: date
    trimp: float
    #: Duration (s) from the samples, with or without a heart rate.
    duration_s: int
    seconds_with_hr: int
    kind: SessionKind
    #: Minutes in each Karvonen zone 0..5.
    zone_minutes: dict[int, float] = field(default_factory=dict)
    #: ACSM moderate (40-59 % HRR) and vigorous (60 %+) minutes.
    moderate_min: float = 0.0
    vigorous_min: float = 0.0
    started_at: datetime | None = None

    @property
    def minutes(self) -> float:
        return self.duration_s / 60.0

    @property
    def moderate_equivalent_min(self) -> float:
        """WHO 2020: a vigorous minute counts as two moderate ones."""
        return self.moderate_min + 2.0 * self.vigorous_min

    def as_dict(self) -> dict[str, object]:
        return {
            "session_id": self.session_id,
            "day": self.day.isoformat(),
            "trimp": round(self.trimp, 1),
            "minutes": round(self.minutes, 1),
            "kind": self.kind,
            "zone_minutes": {str(z): round(m, 1) for z, m in self.zone_minutes.items()},
            "moderate_min": round(self.moderate_min, 1),
            "vigorous_min": round(self.vigorous_min, 1),
        }


def classify(zone_minutes: dict[int, float], minutes: float) -> SessionKind:
    """ "hard", "moderate", "long" or "easy", by the thresholds above."""
    if zone_minutes.get(4, 0.0) + zone_minutes.get(5, 0.0) >= HARD_MIN_Z4:
        return "hard"
    if minutes >= LONG_MIN:
        return "long"
    if sum(zone_minutes.get(z, 0.0) for z in (3, 4, 5)) >= MODERATE_MIN_Z3:
        return "moderate"
    return "easy"


def session_load(
    samples: Sequence[AlignedSample],
    profile: Profile,
    *,
    day: date,
    session_id: int | None = None,
    started_at: datetime | None = None,
    k: float = BANISTER_K_MALE,
) -> SessionLoad:
    """TRIMP, zone minutes, ACSM minutes and kind of one session, for `profile`'s zones."""
    zones = ZoneModel.for_profile(profile)
    in_zone = {z: 0.0 for z in range(6)}
    moderate = vigorous = 0.0
    with_hr = 0
    for sample in samples:
        if sample.hr_bpm is None or sample.hr_gap:
            continue
        with_hr += 1
        in_zone[zones.zone(sample.hr_bpm)] += 1 / 60
        fraction = zones.fraction_of_reserve(sample.hr_bpm)
        if fraction >= VIGOROUS_HRR:
            vigorous += 1 / 60
        elif fraction >= MODERATE_HRR:
            moderate += 1 / 60
    duration_s = (samples[-1].t - samples[0].t + 1) if samples else 0
    return SessionLoad(
        session_id=session_id,
        day=day,
        trimp=session_trimp(samples, profile, k),
        duration_s=duration_s,
        seconds_with_hr=with_hr,
        kind=classify(in_zone, duration_s / 60),
        zone_minutes=in_zone,
        moderate_min=moderate,
        vigorous_min=vigorous,
        started_at=started_at,
    )


def load_between(history: Iterable[SessionLoad], start: date, end: date) -> float:
    """Total TRIMP of the sessions on days `start` <= day < `end`."""
    return sum(s.trimp for s in history if start <= s.day < end)


def weekly_load(history: Iterable[SessionLoad], week_start: date) -> float:
    """Total TRIMP of the 7 days from `week_start`."""
    return load_between(history, week_start, week_start + timedelta(days=7))


def acute_chronic_ratio(
    history: Sequence[SessionLoad], as_of: date, *, acute_days: int = 7, chronic_days: int = 28
) -> float | None:
    """Load of the `acute_days` before `as_of` over the weekly average of the `chronic_days`.

    Both windows end the day before `as_of` (the coupled rolling-average model of Gabbett 2016).
    None when there is no chronic load, or when the history does not reach back three quarters
    of the chronic window (21 days): days before a person's first session are not rest days.
    """
    if not history:
        return None
    first = min(s.day for s in history)
    if first > as_of - timedelta(days=chronic_days * 3 // 4):
        return None
    acute = load_between(history, as_of - timedelta(days=acute_days), as_of)
    chronic = load_between(history, as_of - timedelta(days=chronic_days), as_of)
    chronic_per_acute = chronic * acute_days / chronic_days
    if chronic_per_acute <= 0:
        return None
    return acute / chronic_per_acute
