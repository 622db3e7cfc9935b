"""A health-model forecast: where heart rate is heading, as every layer passes it on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Forecast:
    """Heart rate expected 10, 30 and 60 s from now, and the steady rate for the current effort."""

    hr_10s: float
    hr_30s: float
    hr_60s: float
    hr_expected: float

    def as_dict(self) -> dict[str, float]:
        """Rounded to 0.1 bpm, as events, the store and the report write it."""
        return {
            "hr_10s": round(self.hr_10s, 1),
            "hr_30s": round(self.hr_30s, 1),
            "hr_60s": round(self.hr_60s, 1),
            "hr_expected": round(self.hr_expected, 1),
        }
