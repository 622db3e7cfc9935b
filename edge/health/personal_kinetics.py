"""A person's heart-rate kinetics, learnt from their own sessions and kept with their state.

After each recorded session with effort (power from a meter or a bike; speed from a footpod or
a belt) the session's own kinetics are fitted (`edge.health.kinetics`) and blended into what
was known of the person: gain and time constant geometrically, drift and resting level
linearly, each session weighing 1/(n + 1) of n sessions before (at least `MIN_WEIGHT`, so the
parameters still follow a person who gets fitter), less when the session was short, and never
moving gain or time constant by more than `MAX_CHANGE` at once: one odd session (a strap that
slipped, a hot day) moves little. They are saved as ``kinetics.json`` in the person's state
folder (`edge.profile.person_state_dir`); the daemon reads them when a session starts, never
in the middle of one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.core.files import write_text_atomic
from edge.errors import ModelError
from edge.health.kinetics import EFFORT_KINDS, KineticsFit, KineticsParams, fit_kinetics
from edge.profile import person_state_dir
from edge.stream.readings import AlignedSample

__all__ = [
    "KINETICS_FILE",
    "PEOPLE_DIR",
    "PersonalKinetics",
    "effort_series",
    "kinetics_path",
    "learn_from_session",
    "load_personal_kinetics",
    "session_fits",
    "update_personal_kinetics",
]

KINETICS_FILE = "kinetics.json"
#: The folder under `[daemon] state_dir` that holds one folder per person.
PEOPLE_DIR = "people"
FORMAT = "edgecoach-heart-kinetics"
VERSION = 1
#: The least weight a new session gets, however many came before.
MIN_WEIGHT = 0.2
#: The most a session may move gain or time constant, as a factor (1.25: +25 % / -20 %).
MAX_CHANGE = 1.25
#: Seconds of heart rate with effort a session needs before it says anything about the heart.
MIN_SESSION_S = 600
#: A session this long or longer counts fully; a shorter one proportionally less.
FULL_SESSION_S = 1800


@dataclass(frozen=True, slots=True)
class PersonalKinetics:
    """What is known of one person's heart: kinetics per kind of effort, and from how much."""

    person: str
    #: By effort kind ("power", "speed").
    params: dict[str, KineticsParams] = field(default_factory=dict)
    #: Sessions each kind's parameters rest on.
    sessions: dict[str, int] = field(default_factory=dict)
    updated: str = ""

    def for_kind(self, effort_kind: str) -> KineticsParams | None:
        return self.params.get(effort_kind)

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "version": VERSION,
            "person": self.person,
            "updated": self.updated,
            "kinetics": {
                kind: {
                    "rest_bpm": round(p.rest_bpm, 2),
                    "gain": round(p.gain, 5),
                    "tau_s": round(p.tau_s, 2),
                    "delay_s": p.delay_s,
                    "drift_bpm_per_min": round(p.drift_bpm_per_min, 4),
                    "sessions": self.sessions.get(kind, 0),
                }
                for kind, p in sorted(self.params.items())
            },
            "means": (
                "steady heart rate = rest_bpm + gain x effort (W or m/s) + drift x minutes of "
                "work, reached with time constant tau_s after delay_s"
            ),
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, *, path: Path | None = None) -> PersonalKinetics:
        """Parse `to_json`'s output; a file that is not one raises ModelError."""
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError(f"not format {FORMAT} version {VERSION}")
            params: dict[str, KineticsParams] = {}
            sessions: dict[str, int] = {}
            for kind, values in dict(data["kinetics"]).items():
                if kind not in EFFORT_KINDS:
                    raise ValueError(f"unknown effort kind {kind!r}")
                params[kind] = KineticsParams(
                    rest_bpm=float(values["rest_bpm"]),
                    gain=float(values["gain"]),
                    tau_s=float(values["tau_s"]),
                    delay_s=int(values["delay_s"]),
                    drift_bpm_per_min=float(values["drift_bpm_per_min"]),
                    effort_kind=kind,
                )
                sessions[kind] = int(values.get("sessions", 1))
            return cls(str(data["person"]), params, sessions, str(data.get("updated", "")))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            where = f"{path} " if path else ""
            raise ModelError(
                f"the heart kinetics {where}are not usable ({exc}): delete the file and they "
                "are learnt again from the next sessions",
                path=path,
            ) from exc

    def save(self, path: Path) -> Path:
        """Write atomically (temporary file, then rename); return `path`."""
        return write_text_atomic(path, self.to_json())


def kinetics_path(state_dir: Path, person: str) -> Path:
    """``<state_dir>/people/<person>/kinetics.json``: in the person's own state folder."""
    return person_state_dir(Path(state_dir) / PEOPLE_DIR, person) / KINETICS_FILE


def load_personal_kinetics(path: Path, person: str) -> PersonalKinetics:
    """The saved kinetics, or an empty record when none were learnt yet."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return PersonalKinetics(person)
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read the heart kinetics {path}: {exc}", path=path) from exc
    return PersonalKinetics.from_json(text, path=path)


def effort_series(
    samples: Sequence[AlignedSample], effort_kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """(heart rate, effort) per second: NaN where a gap is. Power from a meter or the machine;
    speed from the machine's belt, else the footpod."""
    n = len(samples)
    hr = np.full(n, np.nan)
    effort = np.full(n, np.nan)
    for i, s in enumerate(samples):
        if s.hr_bpm is not None and not s.hr_gap:
            hr[i] = s.hr_bpm
        if effort_kind == "power":
            value = s.power_w
        else:
            value = s.machine_speed_mps if s.machine_speed_mps is not None else s.speed_mps
        if value is not None:
            effort[i] = value
    return hr, effort


def session_fits(samples: Sequence[AlignedSample]) -> dict[str, KineticsFit]:
    """The session's own kinetics for each kind of effort it has enough of."""
    fits: dict[str, KineticsFit] = {}
    for kind in EFFORT_KINDS:
        hr, effort = effort_series(samples, kind)
        known = np.isfinite(effort) & np.isfinite(hr)
        if known.sum() < MIN_SESSION_S:
            continue
        # Only the stretch with effort: from its first to its last second.
        where = np.flatnonzero(np.isfinite(effort))
        window = slice(int(where[0]), int(where[-1]) + 1)
        fit = fit_kinetics(hr[window], effort[window], effort_kind=kind)
        if fit is not None:
            fits[kind] = fit
    return fits


def _blend(old: KineticsParams, new: KineticsParams, weight: float) -> KineticsParams:
    def geometric(a: float, b: float) -> float:
        moved = math.exp(math.log(a) + weight * (math.log(b) - math.log(a)))
        return min(max(moved, a / MAX_CHANGE), a * MAX_CHANGE)

    return replace(
        old,
        rest_bpm=old.rest_bpm + weight * (new.rest_bpm - old.rest_bpm),
        gain=geometric(old.gain, new.gain),
        tau_s=geometric(old.tau_s, new.tau_s),
        delay_s=round(old.delay_s + weight * (new.delay_s - old.delay_s)),
        drift_bpm_per_min=old.drift_bpm_per_min
        + weight * (new.drift_bpm_per_min - old.drift_bpm_per_min),
    )


def update_personal_kinetics(
    known: PersonalKinetics,
    samples: Sequence[AlignedSample],
    *,
    now: str = "",
) -> tuple[PersonalKinetics, dict[str, Any]]:
    """`known` with one more session blended in, and what changed (for the log).

    A session without enough effort changes nothing and says why.
    """
    fits = session_fits(samples)
    if not fits:
        return known, {"updated": False, "why": "not enough heart rate with effort to learn from"}
    params = dict(known.params)
    sessions = dict(known.sessions)
    report: dict[str, Any] = {"updated": True, "kinds": {}}
    for kind, fit in fits.items():
        before = params.get(kind)
        count = sessions.get(kind, 0)
        length = min(1.0, fit.samples / FULL_SESSION_S)
        if before is None:
            params[kind] = fit.params
        else:
            weight = max(1.0 / (count + 1), MIN_WEIGHT) * length
            params[kind] = _blend(before, fit.params, weight)
        sessions[kind] = count + 1
        report["kinds"][kind] = {
            "session": {"gain": fit.params.gain, "tau_s": fit.params.tau_s},
            "saved": {"gain": params[kind].gain, "tau_s": params[kind].tau_s},
            "sessions": sessions[kind],
            "rmse_bpm": round(fit.rmse_bpm, 2),
        }
    return PersonalKinetics(known.person, params, sessions, now or known.updated), report


def learn_from_session(
    path: Path, person: str, samples: Sequence[AlignedSample], *, now: str = ""
) -> dict[str, Any]:
    """Blend one recorded session into the person's saved kinetics (read, update, write).

    Blocking file I/O: the daemon runs it in a worker thread once the session has ended. A
    saved file that cannot be read is left as it is and nothing is learnt (it says why).
    """
    try:
        known = load_personal_kinetics(path, person)
    except ModelError as exc:
        return {"updated": False, "why": str(exc)}
    updated, report = update_personal_kinetics(known, samples, now=now)
    if report["updated"]:
        updated.save(path)
        report["saved"] = str(path)
    return report
