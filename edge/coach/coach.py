"""The live coach: one aligned second and the health model's forecast in, cues out.

Rules, not the language model, decide what to say and when. Zone changes need the new zone to hold
for a few seconds (hysteresis) and are rate-limited so that the coach is helpful, not chatty;
safety cues skip the rate limits and always win; at most one cue is given per second, the most
important one (safety > sensor > forecast > drift > workout > zone > milestone).

Besides the zones, the coach watches for drift (heart rate creeping up at a steady pace or power:
aerobic decoupling, `edge.coach.drift`; heat, fatigue, dehydration), follows a planned workout when
it has one (`edge.coach.workouts`; by default today's session from the planner), and marks
milestones (every 10 minutes, kilometre, 1000 steps). Milestones and the "on target" word are the
least important: they wait until no other cue has been given for a while; a milestone is dropped
if it cannot be given within a minute, "on target" comes at most every five minutes.

A reading is believed by its value, its rate of change and the stride: a jump no heart makes
(per second, or over a few seconds), or a walking person over their maximum, is the sensor's,
and gets "check the strap" before any safety rule sees it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from edge.coach.drift import DecouplingSettings, DecouplingTracker
from edge.coach.step_lookahead import LookaheadSettings, StepLookahead
from edge.coach.workouts import PlannedWorkout, WorkoutSettings, WorkoutTracker
from edge.core.cues import CUE_SPECS, Action, Cue, CueKind, Priority, duration_facts
from edge.core.forecast import Forecast
from edge.core.zones import ZoneModel
from edge.health.personal_kinetics import PersonalKinetics
from edge.profile import Profile
from edge.stream.plausible import HR_BPM
from edge.stream.readings import AlignedSample


class _Due(NamedTuple):
    priority: Priority
    kind: CueKind
    action: Action
    facts: dict
    #: Handed back to the workout tracker when this cue is chosen.
    workout_key: tuple[object, ...] | None = None


def _due_cue(kind: CueKind, facts: dict) -> _Due:
    """A cue the rules want to give, with its priority and action from `CUE_SPECS`."""
    spec = CUE_SPECS[kind]
    return _Due(spec.priority, kind, spec.action_for(facts), facts)


@dataclass(frozen=True, slots=True)
class CoachSettings:
    #: Seconds a new zone must hold before it is announced.
    zone_confirm_s: int = 6
    #: Shortest time between two zone announcements.
    zone_cue_interval_s: int = 20
    #: Shortest time between two forecast warnings.
    forecast_cue_interval_s: int = 60
    #: The climb seen over this many seconds (a least-squares slope of believed heart rate)...
    forecast_climb_window_s: int = 12
    #: ...at least this steep (bpm per second), projected towards the health model's steady
    #: rate for the effort, also warns of an overshoot (see `_forecast_cues`).
    forecast_min_climb_bpm_per_s: float = 0.25
    #: Heart rate this far above the person's maximum, held `above_max_confirm_s`, means stop.
    above_max_margin_bpm: float = 5.0
    above_max_confirm_s: int = 3
    #: Seconds without heart rate before "signal lost" is said (once per loss).
    sensor_lost_after_s: int = 5
    #: Readings outside this range, or jumping faster than this per second, are not believed.
    plausible_bpm: tuple[float, float] = HR_BPM
    plausible_jump_bpm_per_s: float = 35.0
    #: Nor a change of more than this over `plausible_window_s` seconds (a 100 bpm jump spread
    #: over a few seconds is no heart either: hearts climb a few beats per minute a second).
    plausible_window_s: int = 5
    plausible_window_change_bpm: float = 40.0
    #: Seconds a jumped-to level must hold steady before it is believed; a jumped-to level at or
    #: over the maximum (+ `above_max_margin_bpm`) is never believed: no heart gets there by a
    #: jump, a strap that slipped or locked on to the stride does.
    new_level_confirm_s: int = 3
    #: Walking (cadence in this range, steps per minute, and speed, where known, under
    #: `walking_max_speed_mps`) does not take a heart over its maximum: such a reading is the
    #: sensor's, and gets "check the strap" (with "if you feel unwell, stop"), not "stop".
    walking_cadence_spm: tuple[float, float] = (60.0, 140.0)
    walking_max_speed_mps: float = 2.2
    safety_cue_interval_s: int = 60
    #: Drift: aerobic decoupling at a steady pace or power (`edge.coach.drift`).
    drift: DecouplingSettings = field(default_factory=DecouplingSettings)
    #: Shortest time between two drift cues.
    drift_cue_interval_s: int = 600
    #: Milestones every this many seconds, metres and steps; 0 turns one off.
    milestone_time_s: int = 600
    milestone_distance_m: float = 1000.0
    milestone_steps: int = 1000
    #: Step milestones only when no distance is known (a footpod knows both: km are enough).
    step_milestones_with_distance: bool = False
    #: A milestone waits until no more important cue has been given for this long...
    milestone_quiet_s: int = 20
    #: ...and is dropped if it has waited this long.
    milestone_max_delay_s: int = 60
    #: How a planned workout is followed.
    workout: WorkoutSettings = field(default_factory=WorkoutSettings)
    #: "On target" (`CueKind.ON_TARGET`): after this long inside the step's target...
    on_target_hold_s: int = 120
    #: ...with no other cue for this long, and at most one this often.
    on_target_quiet_s: int = 120
    on_target_interval_s: int = 300
    #: A planned effort step that the person's kinetics say is too hard, said before it starts.
    lookahead: LookaheadSettings = field(default_factory=LookaheadSettings)


@dataclass
class Coach:
    profile: Profile
    settings: CoachSettings = field(default_factory=CoachSettings)
    #: Id of the first cue; a resumed session continues after the cues it already has.
    first_cue_id: int = 1
    #: A planned workout to coach, or None for free training.
    plan: PlannedWorkout | None = None
    #: Session second the plan started (a resumed session keeps its place); None: the first
    #: sample's second.
    plan_start_t: int | None = None
    #: The person's learnt heart kinetics, as the session started: with a plan of power or
    #: speed targets, a step they say is too hard is announced before it starts.
    kinetics: PersonalKinetics | None = None

    def __post_init__(self) -> None:
        self.zones = ZoneModel.for_profile(self.profile)
        #: Follows `plan`; None without one.
        self.workout: WorkoutTracker | None = (
            None
            if self.plan is None
            else WorkoutTracker(
                self.plan, self.zones, self.settings.workout, start_t=self.plan_start_t
            )
        )
        self._lookahead: StepLookahead | None = None
        if self.plan is not None and self.kinetics is not None and self.kinetics.params:
            self._lookahead = StepLookahead(
                self.plan.steps,
                self.zones,
                self.kinetics.params,
                self.settings.lookahead,
                sessions=max(self.kinetics.sessions.values(), default=0),
            )
        self._next_id = self.first_cue_id
        self._zone: int | None = None
        self._candidate: tuple[int, int] | None = None  # (zone, since_t)
        self._last_cue_t: dict[CueKind, int] = {}
        self._last_zone_cue_t = -(10**9)
        self._above_max_since: int | None = None
        self._gap_since: int | None = None
        self._lost_announced = False
        self._seen_hr = False
        #: Believed heart rates of the last seconds, (t, bpm), for the climb rate.
        self._recent: deque[tuple[int, float]] = deque(maxlen=self.settings.forecast_climb_window_s)
        self._last_plausible_hr: float | None = None
        self._last_raw_hr: float | None = None
        self._new_level_s = 0
        self._drift = DecouplingTracker(self.settings.drift)
        #: Believed heart rates of the last `plausible_window_s` seconds, (t, bpm).
        self._believed: deque[tuple[int, float]] = deque()
        self._on_target_since: int | None = None
        self._implausible_over_max = False
        self._last_any_cue_t = -(10**9)
        # Milestones: the next of each measure, those waiting, the last more important cue.
        self._next_time_milestone: int | None = None
        self._km_done = 0
        self._km_done_t: int | None = None
        self._steps_done = 0
        # Sensors report totals since they were switched on: milestones count from the first
        # value this coach sees (and go on counting across a sensor's reset).
        self._distance_base: float | None = None
        self._steps_base: float | None = None
        self._distance = 0.0
        self._steps = 0.0
        self._waiting_milestones: list[tuple[int, _Due]] = []
        self._last_important_t = -(10**9)

    def update(self, sample: AlignedSample, forecast: Forecast | None = None) -> list[Cue]:
        """Take one second; return at most one cue, the most important one due now."""
        t, hr = sample.t, sample.hr_bpm
        believed: float | None = None
        if hr is None and sample.rejected_hr_bpm is not None:
            # The stream refused a reading no heart can give (edge.stream.plausible): the
            # same "check the strap" as an implausible one, and no zone, forecast or workout.
            self._gap_since = None
            self._last_plausible_hr = self._last_raw_hr = None
            self._believed.clear()
            self._recent.clear()
            self._implausible_over_max = False
            due = self._implausible_cues(t, sample.rejected_hr_bpm)
        elif hr is None:
            self._last_plausible_hr = self._last_raw_hr = None  # no jump spans a gap
            self._believed.clear()
            self._recent.clear()
            due = self._gap_cues(t)
        else:
            self._gap_since = None
            if not self._plausible(hr, sample):
                # A reading nobody should believe drives no zone, forecast or workout rule.
                self._recent.clear()
                due = self._implausible_cues(t, hr)
            else:
                believed = hr
                self._last_plausible_hr = hr
                self._believed.append((t, hr))
                if self._recent and self._recent[-1][0] != t - 1:
                    self._recent.clear()  # a climb rate is measured over contiguous seconds
                self._recent.append((t, hr))
                self._seen_hr = True
                due = self._return_cues(hr)
                due += self._safety_cues(t, hr)
                due += self._forecast_cues(t, hr, forecast)
                due += self._zone_cues(t, hr)
        due += self._drift_cues(t, sample, believed)
        # A plan and the clock go on through gaps: the step changes are still announced.
        due += self._workout_cues(t, believed, forecast)
        due += self._lookahead_cues(t, sample, believed)
        due += self._milestone_cues(t, sample, believed)
        due += self._on_target_cues(t, believed)
        return self._choose(t, due)

    # -- the rules ------------------------------------------------------------------------------

    def _gap_cues(self, t: int) -> list[_Due]:
        if self._gap_since is None:
            self._gap_since = t
        lost_for = t - self._gap_since + 1
        if (
            not self._seen_hr
            or self._lost_announced
            or lost_for < self.settings.sensor_lost_after_s
        ):
            return []
        self._lost_announced = True
        return [_due_cue(CueKind.SENSOR_LOST, {"gap_s": lost_for})]

    def _plausible(self, hr: float, sample: AlignedSample) -> bool:
        """Whether to believe a reading: by its value, its rate of change (per second and over
        a few seconds), and what the stride says (a walking heart is not over its maximum)."""
        settings = self.settings
        low, high = settings.plausible_bpm
        limit = settings.plausible_jump_bpm_per_s
        previous_raw, self._last_raw_hr = self._last_raw_hr, hr
        while self._believed and sample.t - self._believed[0][0] > settings.plausible_window_s:
            self._believed.popleft()
        over_max = hr >= self.zones.max_hr + settings.above_max_margin_bpm
        self._implausible_over_max = over_max
        if not low <= hr <= high or (over_max and self._walking(sample)):
            self._new_level_s = 0
            return False
        baseline = self._last_plausible_hr
        jumped = baseline is not None and (
            abs(hr - baseline) > limit
            or any(abs(hr - v) > settings.plausible_window_change_bpm for _, v in self._believed)
        )
        if not jumped:
            self._new_level_s = 0
            return True
        # A jump: a spike if it does not last; a real new level (a strap settling after a
        # loose start) once it holds steady for a few seconds, unless it is over the maximum.
        steady = previous_raw is not None and abs(hr - previous_raw) <= limit
        self._new_level_s = self._new_level_s + 1 if steady else 1
        return self._new_level_s >= settings.new_level_confirm_s and not over_max

    def _walking(self, sample: AlignedSample) -> bool:
        if sample.has_effort:  # on a bike or a machine, cadence is crank rpm or strokes, not steps
            return False
        low, high = self.settings.walking_cadence_spm
        cadence, speed = sample.cadence_spm, sample.speed_mps
        return (
            cadence is not None
            and low <= cadence < high
            and (speed is None or speed < self.settings.walking_max_speed_mps)
        )

    def _implausible_cues(self, t: int, hr: float) -> list[_Due]:
        if not self._due(CueKind.IMPLAUSIBLE_READING, t, self.settings.safety_cue_interval_s):
            return []
        facts: dict[str, float | int | str] = {"hr": round(hr)}
        if self._implausible_over_max:
            facts["max_hr"] = round(self.zones.max_hr)
        return [_due_cue(CueKind.IMPLAUSIBLE_READING, facts)]

    def _return_cues(self, hr: float) -> list[_Due]:
        if not self._lost_announced:
            return []
        self._lost_announced = False
        return [_due_cue(CueKind.SENSOR_BACK, {"hr": round(hr)})]

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
            return [
                _due_cue(
                    CueKind.ABOVE_MAX_HR,
                    {"hr": round(hr), "max_hr": round(self.zones.max_hr), "held_s": held},
                )
            ]
        return []

    def _forecast_cues(self, t: int, hr: float, forecast: Forecast | None) -> list[_Due]:
        """Warn before heart rate crosses into zone 5, from the health model's forecast.

        Two ways to see it coming, both resting on the model:

        * the forecast itself: heart rate in 10 or 30 s at or above the zone-5 line;
        * the model's steady rate for the effort (`hr_expected`) at or above the line while
          heart rate is climbing: heart rate approaching the steady rate as hearts do (first
          order, `_approach`), starting at the climb rate seen over the last
          `forecast_climb_window_s` seconds, reaches the line within 10 or 30 s.

        The second exists because the horizon forecasts are corrections to persistence learnt
        from recordings where a high heart rate mostly holds or falls: during a sustained climb
        they stay near the current rate (see the model card), so on their own they only warn
        once the line is already crossed. The steady rate says where the effort leads, the
        observed climb how soon; the facts name the projected rate and its horizon.
        """
        if forecast is None or self._step_targets(t, 5):
            return []  # a planned zone-5 step means to get there
        threshold = self.zones.lower_bpm(5)
        if hr >= threshold:
            return []
        found = next(
            ((h, p) for h, p in ((10, forecast.hr_10s), (30, forecast.hr_30s)) if p >= threshold),
            None,
        )
        if found is None and forecast.hr_expected >= threshold:
            rate = self._climb_rate()
            if rate is not None and rate >= self.settings.forecast_min_climb_bpm_per_s:
                found = next(
                    (
                        (h, p)
                        for h in (10, 30)
                        if (p := _approach(hr, forecast.hr_expected, rate, h)) >= threshold
                    ),
                    None,
                )
        if found is None or not self._due(
            CueKind.FORECAST_OVERSHOOT, t, self.settings.forecast_cue_interval_s
        ):
            return []
        horizon, predicted = found
        return [
            _due_cue(
                CueKind.FORECAST_OVERSHOOT,
                {
                    "hr": round(hr),
                    "forecast_hr": round(predicted),
                    "horizon_s": horizon,
                    "zone5_lower": round(threshold),
                },
            )
        ]

    def _climb_rate(self) -> float | None:
        """Least-squares slope (bpm/s) of the believed heart rate over the last seconds, once a
        full window of contiguous seconds is known."""
        points = self._recent
        if len(points) < self.settings.forecast_climb_window_s or len(points) < 2:
            return None
        n = len(points)
        mean_t = sum(p[0] for p in points) / n
        mean_hr = sum(p[1] for p in points) / n
        spread = sum((p[0] - mean_t) ** 2 for p in points)
        return sum((p[0] - mean_t) * (p[1] - mean_hr) for p in points) / spread

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
        status = self.workout.status(t) if self.workout is not None else None
        if status is not None:
            # During a planned step the step's own cues lead: a zone is news only when it is
            # the target (and zone 5 needs no warning when the plan asks for it).
            low, high = status.step.zone_range
            if (high >= 5) if zone == 5 else not low <= zone <= high:
                return []
        self._last_zone_cue_t = t
        facts = {"hr": round(hr), "zone": zone, "previous_zone": previous}
        low, high = self.zones.bounds_bpm(zone) if zone >= 1 else (0, 0)
        if zone >= 1:
            facts |= {"zone_low": low, "zone_high": high}
        if zone == 5:
            facts["zone5_lower"] = round(self.zones.lower_bpm(5))
            return [_due_cue(CueKind.HIGH_ZONE, facts)]
        return [_due_cue(CueKind.ZONE_CHANGE, facts)]

    def _drift_cues(self, t: int, sample: AlignedSample, hr: float | None) -> list[_Due]:
        """Heart rate creeping up at a steady pace or power: aerobic decoupling
        (`edge.coach.drift`), not an excess over the health model's expectation, which follows
        heart rate up during a long effort and so never saw drift."""
        finding = self._drift.update(t, hr, speed_mps=sample.speed_mps, power_w=sample.power_w)
        if (
            finding is None
            or hr is None
            or not self._due(CueKind.DRIFT, t, self.settings.drift_cue_interval_s)
        ):
            return []
        return [
            _due_cue(
                CueKind.DRIFT,
                {
                    "hr": round(hr),
                    "start_hr": round(finding.start_hr),
                    "decoupling_pct": round(finding.decoupling_pct),
                    "steady_min": round(finding.steady_s / 60),
                    "measure": "pace" if finding.measure == "speed" else "power",
                },
            )
        ]

    def _on_target_cues(self, t: int, hr: float | None) -> list[_Due]:
        """A short "on target" every few minutes at most, while heart rate has held inside the
        planned step's target and nothing else has been said for a while; quiet without a
        target, and quiet when anything more useful is due."""
        settings = self.settings
        status = self.workout.status(t) if self.workout is not None else None
        if hr is None or status is None or not (status.target_low <= hr <= status.target_high):
            self._on_target_since = None
            return []
        if self._on_target_since is None:
            self._on_target_since = t
        if (
            t - self._on_target_since < settings.on_target_hold_s
            or t - self._last_any_cue_t < settings.on_target_quiet_s
            or not self._due(CueKind.ON_TARGET, t, settings.on_target_interval_s)
            or status.remaining_s < settings.on_target_quiet_s
        ):
            return []
        low, high = status.step.zone_range
        facts: dict[str, float | int | str] = {
            "hr": round(hr),
            "zone": low,
            "target_low": status.target_low,
            "target_high": status.target_high,
        }
        if high != low:
            facts["top_zone"] = high
        return [_due_cue(CueKind.ON_TARGET, facts)]

    def _workout_cues(self, t: int, hr: float | None, forecast: Forecast | None) -> list[_Due]:
        if self.workout is None:
            return []
        return [
            _Due(CUE_SPECS[c.kind].priority, c.kind, c.action, c.facts, c.key)
            for c in self.workout.update(t, hr, forecast)
        ]

    def _lookahead_cues(self, t: int, sample: AlignedSample, hr: float | None) -> list[_Due]:
        if self._lookahead is None or self.workout is None:
            return []
        facts = self._lookahead.update(sample, hr, self.workout.status(t))
        return [] if facts is None else [_due_cue(CueKind.HARD_STEP_AHEAD, facts)]

    def _milestone_cues(self, t: int, sample: AlignedSample, hr: float | None) -> list[_Due]:
        settings = self.settings
        if self._next_time_milestone is None:
            # Counted from the first second this coach sees (0 in a fresh session).
            self._next_time_milestone = (
                t - t % settings.milestone_time_s + settings.milestone_time_s
                if settings.milestone_time_s
                else 0
            )
            self._km_done_t = t
        base: dict[str, float | int | str] = {}
        if hr is not None:
            base = {"hr": round(hr), "zone": self.zones.zone(hr)}
        if settings.milestone_time_s and t >= self._next_time_milestone:
            minutes = self._next_time_milestone // 60
            while self._next_time_milestone <= t:
                self._next_time_milestone += settings.milestone_time_s
            self._wait(t, {"measure": "time", "elapsed_min": minutes, **base})
        distance = steps = None
        if sample.distance_m is not None:
            self._distance_base = _base(self._distance_base, sample.distance_m, self._distance)
            distance = self._distance = sample.distance_m - self._distance_base
        if sample.steps is not None:
            self._steps_base = _base(self._steps_base, sample.steps, self._steps)
            steps = self._steps = sample.steps - self._steps_base
        if settings.milestone_distance_m and distance is not None:
            done = int(distance // settings.milestone_distance_m)
            if done > self._km_done:
                lap_s = t - (self._km_done_t if self._km_done_t is not None else t)
                lap = duration_facts(lap_s) if done == self._km_done + 1 and lap_s > 0 else {}
                self._km_done, self._km_done_t = done, t
                km = done * settings.milestone_distance_m / 1000
                self._wait(
                    t,
                    {
                        "measure": "distance",
                        "distance_km": int(km) if km == int(km) else round(km, 1),
                        "lap_s": lap_s,
                        **lap,
                        **base,
                    },
                )
        steps_wanted = settings.milestone_steps and (
            sample.distance_m is None or settings.step_milestones_with_distance
        )
        if steps is not None:
            done = int(steps // settings.milestone_steps) if settings.milestone_steps else 0
            if done > self._steps_done:
                self._steps_done = done
                if steps_wanted:
                    self._wait(
                        t,
                        {
                            "measure": "steps",
                            "total_steps": done * settings.milestone_steps,
                            **base,
                        },
                    )
        self._waiting_milestones = [
            (since, d)
            for since, d in self._waiting_milestones
            if t - since <= settings.milestone_max_delay_s
        ]
        if not self._waiting_milestones or t - self._last_important_t < settings.milestone_quiet_s:
            return []
        return [self._waiting_milestones[0][1]]

    def _wait(self, t: int, facts: dict[str, float | int | str]) -> None:
        self._waiting_milestones.append((t, _due_cue(CueKind.MILESTONE, facts)))

    # -- bookkeeping ----------------------------------------------------------------------------

    def _step_targets(self, t: int, zone: int) -> bool:
        status = self.workout.status(t) if self.workout is not None else None
        return status is not None and status.step.zone_range[1] >= zone

    def _due(self, kind: CueKind, t: int, interval_s: int) -> bool:
        return t - self._last_cue_t.get(kind, -(10**9)) >= interval_s

    def _choose(self, t: int, due: list[_Due]) -> list[Cue]:
        if not due:
            return []
        best = min(due, key=lambda d: d.priority)
        self._last_cue_t[best.kind] = t
        self._last_any_cue_t = t
        if best.priority < Priority.MILESTONE:
            self._last_important_t = t
        else:
            self._waiting_milestones = [w for w in self._waiting_milestones if w[1] is not best]
        if best.workout_key is not None and self.workout is not None:
            self.workout.given(best.workout_key)
        if best.kind is CueKind.HARD_STEP_AHEAD and self._lookahead is not None:
            self._lookahead.given(int(best.facts["step"]))
        cue = Cue(self._next_id, t, best.kind, best.action, best.priority, best.facts)
        self._next_id += 1
        return [cue]


def _approach(hr: float, steady: float, rate: float, horizon_s: float) -> float:
    """Heart rate `horizon_s` from now, approaching `steady` at first order from `hr`, climbing
    at `rate` bpm/s now: ``steady - (steady - hr) * exp(-rate * h / (steady - hr))``.

    It never passes `steady`, and a fast climb far from it is not projected as a straight
    line: the closer heart rate gets to the steady rate, the slower it climbs.
    """
    gap = steady - hr
    if gap <= 0 or rate <= 0:
        return hr
    return steady - gap * math.exp(-rate * horizon_s / gap)


def _base(base: float | None, total: float, counted: float) -> float:
    """Where a sensor total is counted from: its first value, moved when the total goes back
    (a sensor reset) so that the `counted` so far stays counted."""
    if base is None:
        return total
    return total - counted if total < base + counted - 1.0 else base
