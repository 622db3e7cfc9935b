"""The live coach: one aligned second and the health model's forecast in, cues out.

Rules, not the language model, decide what to say and when. Zone changes need the new zone to hold
for a few seconds (hysteresis) and are rate-limited so that the coach is helpful, not chatty;
safety cues skip the rate limits and always win; at most one cue is given per second, the most
important one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from edge.coach.cues import Action, Cue, CueKind, Priority
from edge.coach.zones import ZoneModel
from edge.health.model import Forecast
from edge.profile import Profile
from edge.stream.readings import AlignedSample


class _Due(NamedTuple):
    priority: Priority
    kind: CueKind
    action: Action
    facts: dict


@dataclass(frozen=True, slots=True)
class CoachSettings:
    #: Seconds a new zone must hold before it is announced.
    zone_confirm_s: int = 6
    #: Shortest time between two zone announcements.
    zone_cue_interval_s: int = 20
    #: Shortest time between two forecast warnings.
    forecast_cue_interval_s: int = 60
    #: Heart rate this far above the person's maximum, held `above_max_confirm_s`, means stop.
    above_max_margin_bpm: float = 5.0
    above_max_confirm_s: int = 3
    #: Seconds without heart rate before "signal lost" is said (once per loss).
    sensor_lost_after_s: int = 5
    #: Readings outside this range, or jumping faster than this per second, are not believed.
    plausible_bpm: tuple[float, float] = (30.0, 230.0)
    plausible_jump_bpm_per_s: float = 35.0
    #: Seconds a jumped-to level must hold steady before it is believed.
    new_level_confirm_s: int = 3
    safety_cue_interval_s: int = 60


@dataclass
class Coach:
    profile: Profile
    settings: CoachSettings = field(default_factory=CoachSettings)
    #: Id of the first cue; a resumed session continues after the cues it already has.
    first_cue_id: int = 1

    def __post_init__(self) -> None:
        self.zones = ZoneModel.for_profile(self.profile)
        self._next_id = self.first_cue_id
        self._zone: int | None = None
        self._candidate: tuple[int, int] | None = None  # (zone, since_t)
        self._last_cue_t: dict[CueKind, int] = {}
        self._last_zone_cue_t = -10**9
        self._above_max_since: int | None = None
        self._gap_since: int | None = None
        self._lost_announced = False
        self._seen_hr = False
        self._last_plausible_hr: float | None = None
        self._last_raw_hr: float | None = None
        self._new_level_s = 0

    def update(self, sample: AlignedSample, forecast: Forecast | None = None) -> list[Cue]:
        """Take one second; return at most one cue, the most important one due now."""
        t, hr = sample.t, sample.hr_bpm
        if hr is None:
            self._last_plausible_hr = self._last_raw_hr = None  # no jump spans a gap
            return self._choose(t, self._gap_cues(t))
        self._gap_since = None
        if not self._plausible(hr):
            # A reading nobody should believe drives no zone or forecast rule.
            return self._choose(t, self._implausible_cues(t, hr))
        self._last_plausible_hr = hr
        self._seen_hr = True
        due = self._return_cues(hr)
        due += self._safety_cues(t, hr)
        due += self._forecast_cues(t, hr, forecast)
        due += self._zone_cues(t, hr)
        return self._choose(t, due)

    # -- the rules ------------------------------------------------------------------------------

    def _gap_cues(self, t: int) -> list[_Due]:
        if self._gap_since is None:
            self._gap_since = t
        lost_for = t - self._gap_since + 1
        if not self._seen_hr or self._lost_announced or lost_for < self.settings.sensor_lost_after_s:
            return []
        self._lost_announced = True
        return [_Due(Priority.SENSOR, CueKind.SENSOR_LOST, Action.CHECK_SENSOR, {"gap_s": lost_for})]

    def _plausible(self, hr: float) -> bool:
        low, high = self.settings.plausible_bpm
        limit = self.settings.plausible_jump_bpm_per_s
        previous_raw, self._last_raw_hr = self._last_raw_hr, hr
        if not low <= hr <= high:
            self._new_level_s = 0
            return False
        baseline = self._last_plausible_hr
        if baseline is None or abs(hr - baseline) <= limit:
            self._new_level_s = 0
            return True
        # A jump: a spike if it does not last; a real new level (a strap settling after a
        # loose start) once it holds steady for a few seconds.
        steady = previous_raw is not None and abs(hr - previous_raw) <= limit
        self._new_level_s = self._new_level_s + 1 if steady else 1
        return self._new_level_s >= self.settings.new_level_confirm_s

    def _implausible_cues(self, t: int, hr: float) -> list[_Due]:
        if not self._due(CueKind.IMPLAUSIBLE_READING, t, self.settings.safety_cue_interval_s):
            return []
        return [_Due(Priority.SAFETY, CueKind.IMPLAUSIBLE_READING, Action.CHECK_SENSOR,
                     {"hr": round(hr)})]

    def _return_cues(self, hr: float) -> list[_Due]:
        if not self._lost_announced:
            return []
        self._lost_announced = False
        return [_Due(Priority.SENSOR, CueKind.SENSOR_BACK, Action.INFO, {"hr": round(hr)})]

    def _safety_cues(self, t: int, hr: float) -> list[_Due]:
        limit = self.zones.max_hr + self.settings.above_max_margin_bpm
        if hr < limit:
            self._above_max_since = None
            return []
        if self._above_max_since is None:
            self._above_max_since = t
        held = t - self._above_max_since + 1
        if held >= self.settings.above_max_confirm_s and self._due(
            CueKind.ABOVE_MAX_HR, t, self.settings.safety_cue_interval_s
        ):
            return [_Due(Priority.SAFETY, CueKind.ABOVE_MAX_HR, Action.STOP,
                     {"hr": round(hr), "max_hr": round(self.zones.max_hr), "held_s": held})]
        return []

    def _forecast_cues(self, t: int, hr: float, forecast: Forecast | None) -> list[_Due]:
        if forecast is None:
            return []
        threshold = self.zones.lower_bpm(5)
        if hr >= threshold:
            return []
        for horizon, predicted in ((10, forecast.hr_10s), (30, forecast.hr_30s)):
            if predicted >= threshold:
                if not self._due(CueKind.FORECAST_OVERSHOOT, t, self.settings.forecast_cue_interval_s):
                    return []
                return [_Due(Priority.FORECAST, CueKind.FORECAST_OVERSHOOT, Action.EASE_OFF,
                         {"hr": round(hr), "forecast_hr": round(predicted), "horizon_s": horizon,
                          "zone5_lower": round(threshold)})]
        return []

    def _zone_cues(self, t: int, hr: float) -> list[_Due]:
        zone = self.zones.zone(hr)
        if self._zone is None:
            self._zone = zone  # the first zone of a session is the baseline, not news
            return []
        if zone == self._zone:
            self._candidate = None
            return []
        if self._candidate is None or self._candidate[0] != zone:
            self._candidate = (zone, t)
        held = t - self._candidate[1] + 1
        if held < self.settings.zone_confirm_s:
            return []
        if t - self._last_zone_cue_t < self.settings.zone_cue_interval_s and zone < 5:
            return []
        previous, self._zone, self._candidate = self._zone, zone, None
        self._last_zone_cue_t = t
        facts = {"hr": round(hr), "zone": zone, "previous_zone": previous}
        low, high = self.zones.bounds_bpm(zone) if zone >= 1 else (0, 0)
        if zone >= 1:
            facts |= {"zone_low": low, "zone_high": high}
        if zone == 5:
            facts["zone5_lower"] = round(self.zones.lower_bpm(5))
            return [_Due(Priority.ZONE, CueKind.HIGH_ZONE, Action.EASE_OFF, facts)]
        action = Action.HOLD if zone > previous else Action.INFO
        return [_Due(Priority.ZONE, CueKind.ZONE_CHANGE, action, facts)]

    # -- bookkeeping ----------------------------------------------------------------------------

    def _due(self, kind: CueKind, t: int, interval_s: int) -> bool:
        return t - self._last_cue_t.get(kind, -10**9) >= interval_s

    def _choose(self, t: int, due: list[_Due]) -> list[Cue]:
        if not due:
            return []
        best = min(due, key=lambda d: d.priority)
        self._last_cue_t[best.kind] = t
        cue = Cue(self._next_id, t, best.kind, best.action, best.priority, best.facts)
        self._next_id += 1
        return [cue]
