"""The session summary: what happened, in figures a person can check against their own feel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from edge.stream.aligner import Gap


@dataclass(frozen=True, slots=True)
class SessionSummary:
    duration_s: int
    seconds_with_hr: int
    mean_hr: float | None
    max_hr: float | None
    time_in_zone_s: Mapping[int, int]
    distance_m: float | None
    steps: int | None
    gaps: tuple[Gap, ...]
    cues: int
    spoken_by_model: int
    spoken_by_template: int
    #: Mean absolute error of the health model's +30 s forecast against what then happened.
    forecast_mae_30s: float | None
    forecast_checked: int = 0
    cue_kinds: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "duration_s": self.duration_s,
            "seconds_with_hr": self.seconds_with_hr,
            "mean_hr": None if self.mean_hr is None else round(self.mean_hr, 1),
            "max_hr": self.max_hr,
            "time_in_zone_s": {str(z): s for z, s in self.time_in_zone_s.items()},
            "distance_m": None if self.distance_m is None else round(self.distance_m, 1),
            "steps": self.steps,
            "gaps": [{"start_t": g.start_t, "seconds": g.seconds} for g in self.gaps],
            "cues": self.cues,
            "cue_kinds": dict(self.cue_kinds),
            "spoken_by_model": self.spoken_by_model,
            "spoken_by_template": self.spoken_by_template,
            "forecast_mae_30s": None
            if self.forecast_mae_30s is None
            else round(self.forecast_mae_30s, 2),
            "forecast_checked": self.forecast_checked,
        }

    def lines(self) -> list[str]:
        """The summary as a few lines for the terminal."""
        minutes, seconds = divmod(self.duration_s, 60)
        out = [f"Session: {minutes} min {seconds:02d} s"]
        if self.mean_hr is not None:
            out.append(f"Heart rate: average {self.mean_hr:.0f}, peak {self.max_hr:.0f} bpm")
            zones = ", ".join(
                f"z{z} {s // 60}:{s % 60:02d}" for z, s in self.time_in_zone_s.items() if s
            )
            out.append(f"Time in zones: {zones}")
        if self.distance_m is not None:
            out.append(
                f"Distance: {self.distance_m / 1000:.2f} km"
                + (f", {self.steps} steps" if self.steps else "")
            )
        if self.gaps:
            out.append(
                f"No heart rate for {sum(g.seconds for g in self.gaps)} s "
                f"in {len(self.gaps)} gap(s); nothing was filled in"
            )
        out.append(
            f"Cues: {self.cues} ({self.spoken_by_model} worded by the language model, "
            f"{self.spoken_by_template} by templates)"
        )
        if self.forecast_mae_30s is not None:
            out.append(
                f"Health model: +30 s forecast off by {self.forecast_mae_30s:.1f} bpm on "
                f"average over {self.forecast_checked} s"
            )
        return out
