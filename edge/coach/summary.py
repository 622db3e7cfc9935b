"""Making the session summary from what the session saw, heard and said."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edge.core.cues import Cue
from edge.core.forecast import Forecast
from edge.core.narration import Narration
from edge.core.summary import SessionSummary
from edge.core.zones import ZoneModel
from edge.stream.aligner import Gap
from edge.stream.readings import AlignedSample


def summarise(
    samples: Sequence[AlignedSample],
    forecasts: Mapping[int, Forecast],
    cues: Sequence[Cue],
    narrations: Sequence[Narration],
    zones: ZoneModel,
    gaps: Sequence[Gap],
) -> SessionSummary:
    with_hr = [s for s in samples if s.hr_bpm is not None]
    in_zone = {z: 0 for z in range(6)}
    for sample in with_hr:
        in_zone[zones.zone(sample.hr_bpm)] += 1  # type: ignore[arg-type]
    hr_at = {s.t: s.hr_bpm for s in with_hr}
    errors = [abs(f.hr_30s - hr_at[t + 30]) for t, f in forecasts.items() if t + 30 in hr_at]
    distances = [s.distance_m for s in samples if s.distance_m is not None]
    steps = [s.steps for s in samples if s.steps is not None]
    kinds: dict[str, int] = {}
    for cue in cues:
        kinds[cue.kind.value] = kinds.get(cue.kind.value, 0) + 1
    return SessionSummary(
        duration_s=len(samples),
        seconds_with_hr=len(with_hr),
        mean_hr=sum(s.hr_bpm for s in with_hr) / len(with_hr) if with_hr else None,  # type: ignore[misc]
        max_hr=max(s.hr_bpm for s in with_hr) if with_hr else None,  # type: ignore[type-var]
        time_in_zone_s=in_zone,
        distance_m=max(distances) if distances else None,
        steps=round(max(steps)) if steps else None,
        gaps=tuple(gaps),
        cues=len(cues),
        spoken_by_model=sum(1 for n in narrations if n.source == "llm"),
        spoken_by_template=sum(1 for n in narrations if n.source != "llm"),
        forecast_mae_30s=sum(errors) / len(errors) if errors else None,
        forecast_checked=len(errors),
        cue_kinds=kinds,
    )
