"""The person being coached: the facts their zones and forecasts rest on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The values `sex` takes; HR-max formulas and Banister's TRIMP factor differ by sex.
SEXES = ("female", "male")


@dataclass(frozen=True, slots=True)
class Profile:
    name: str = "you"
    age: int = 40
    resting_hr: float = 60.0
    #: None means "estimate from age": Tanaka (208 - 0.7 x age), or for a woman Gulati
    #: (206 - 0.88 x age, Gulati et al. 2010, measured on 5437 women).
    max_hr: float | None = None
    #: "female" or "male"; None (unsaid) uses the formulas made on mixed or male groups.
    sex: str | None = None

    def __post_init__(self) -> None:
        if self.sex is not None:
            sex = self.sex.strip().lower()
            if sex not in SEXES:
                raise ValueError(f'sex must be "female" or "male" (or left out), not {self.sex!r}')
            object.__setattr__(self, "sex", sex)

    @property
    def effective_max_hr(self) -> float:
        if self.max_hr is not None:
            return self.max_hr
        if self.sex == "female":
            return 206.0 - 0.88 * self.age
        return 208.0 - 0.7 * self.age

    @property
    def max_hr_is_estimated(self) -> bool:
        return self.max_hr is None

    @property
    def heart_rate_reserve(self) -> float:
        return self.effective_max_hr - self.resting_hr


def normalise_name(name: str) -> str:
    """A person's name as it is stored: no spaces around it, single spaces inside, so "sam" and
    "sam " are one name everywhere (config, store, command line)."""
    return " ".join(name.split())


def name_key(name: str) -> str:
    """What two names must differ in to be two people: more than case and spaces."""
    return normalise_name(name).casefold()


def person_state_dir(root: Path, person: str) -> Path:
    """The one folder under `root` where a person's own state lives (their calibration, their
    heart's kinetics): the name made safe for a file system, so every module finds the same one.
    """
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in normalise_name(person))
    return Path(root) / (safe.strip(".") or "you")
