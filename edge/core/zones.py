"""Heart-rate zones from the heart-rate reserve (Karvonen), the basis of every zone cue.

Zone z covers `resting + reserve x [lower, upper)`. The bounds follow the common five-zone
scheme (50/60/70/80/90 % of reserve); below 50 % is zone 0, "resting or very light".
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.profile import Profile

ZONE_LOWER_BOUNDS = (0.50, 0.60, 0.70, 0.80, 0.90)
ZONE_NAMES = {
    0: "very light",
    1: "zone 1, recovery",
    2: "zone 2, easy endurance",
    3: "zone 3, steady",
    4: "zone 4, threshold",
    5: "zone 5, maximum",
}


@dataclass(frozen=True, slots=True)
class ZoneModel:
    resting_hr: float
    max_hr: float

    @classmethod
    def for_profile(cls, profile: Profile) -> ZoneModel:
        return cls(resting_hr=profile.resting_hr, max_hr=profile.effective_max_hr)

    @property
    def reserve(self) -> float:
        return self.max_hr - self.resting_hr

    def fraction_of_reserve(self, bpm: float) -> float:
        return (bpm - self.resting_hr) / self.reserve

    def zone(self, bpm: float) -> int:
        fraction = self.fraction_of_reserve(bpm)
        zone = 0
        for index, lower in enumerate(ZONE_LOWER_BOUNDS, start=1):
            if fraction >= lower:
                zone = index
        return zone

    def lower_bpm(self, zone: int) -> float:
        """The lowest heart rate of `zone` (1..5)."""
        return self.resting_hr + self.reserve * ZONE_LOWER_BOUNDS[zone - 1]

    def bounds_bpm(self, zone: int) -> tuple[int, int]:
        """Rounded (low, high) heart rates of `zone`, for speech and screens."""
        low = self.lower_bpm(zone) if zone >= 1 else self.resting_hr
        high = self.lower_bpm(zone + 1) if zone < 5 else self.max_hr
        return round(low), round(high)
