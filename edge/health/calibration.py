"""A person's health-model calibration as a file: their measured parameters and a linear
correction head on the model's outputs, saved as JSON and applied by `HealthModel`.

`edge.health.calibrate` fits one from recorded sessions; this module only reads, writes and
applies it, so the model can load a calibration without the fitting code.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.core.files import write_text_atomic
from edge.errors import ModelError
from edge.health.features import HR_INDEX, OUTPUT_NAMES, with_profile
from edge.profile import Profile, person_state_dir

CALIBRATION_FILE = "calibration.json"
FORMAT = "edgecoach-health-calibration"
VERSION = 1
#: Columns of the correction head, in the order of each weight row.
HEAD_INPUTS: tuple[str, ...] = (
    "bias",
    "delta_10s",
    "delta_30s",
    "delta_60s",
    "delta_expected",
    "hr_reserve_frac",
)


def identity_head() -> np.ndarray:
    """The head's weights that keep the model's forecasts as they are."""
    w = np.zeros((len(OUTPUT_NAMES), len(HEAD_INPUTS)))
    for j in range(len(OUTPUT_NAMES)):
        w[j, 1 + j] = 1.0
    return w


@dataclass(frozen=True, slots=True)
class Calibration:
    """A person's measured parameters and correction head for one health model."""

    person: str
    #: The profile the model's windows are rebuilt with (measured resting/max where known).
    profile: Profile
    #: (len(OUTPUT_NAMES), len(HEAD_INPUTS)) weights; the identity leaves forecasts alone.
    weights: tuple[tuple[float, ...], ...]
    #: sha256 of the ONNX file the head was fitted on ("" accepts any).
    model_sha256: str = ""
    created: str = ""
    #: How it was made: sessions, estimates and before/after figures (informational).
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def identity(cls, person: str, profile: Profile) -> Calibration:
        return cls(person, profile, tuple(tuple(r) for r in identity_head()))

    @property
    def weight_array(self) -> np.ndarray:
        return np.asarray(self.weights, dtype=np.float64)

    def windows(self, windows: np.ndarray) -> np.ndarray:
        """Raw windows rebuilt with this person's profile (see `with_profile`)."""
        return with_profile(windows, self.profile)

    def correct(self, bpm: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """Corrected forecasts (N, O) from the model's (N, O) for the windows it was given."""
        last = windows[:, -1, HR_INDEX].astype(np.float64)
        return last[:, None] + head_inputs(bpm, windows) @ self.weight_array.T

    def check_model(self, digest: str, path: Path) -> None:
        if self.model_sha256 and self.model_sha256 != digest:
            raise ModelError(
                f"the calibration for {self.person} was fitted on another health model than "
                f"{path} (sha256 {self.model_sha256[:12]}, this one {digest[:12]}): run "
                "`edgecoach calibrate` again",
                path=path,
            )

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "version": VERSION,
            "person": self.person,
            "created": self.created,
            "model_sha256": self.model_sha256,
            "profile": {
                "age": self.profile.age,
                "resting_hr": self.profile.resting_hr,
                "max_hr": self.profile.max_hr,
            },
            "head": {
                "inputs": list(HEAD_INPUTS),
                "outputs": list(OUTPUT_NAMES),
                "weights": [list(r) for r in self.weights],
                "means": "forecast = last hr + weights . inputs; delta_* = model forecast - last",
            },
            "report": self.report,
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, *, path: Path | None = None) -> Calibration:
        """Parse `to_json`'s output; raises ModelError when it is not a usable calibration."""
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError(f"not format {FORMAT} version {VERSION}")
            head = data["head"]
            if tuple(head["inputs"]) != HEAD_INPUTS or tuple(head["outputs"]) != OUTPUT_NAMES:
                raise ValueError("its head was made for other inputs or outputs")
            weights = tuple(tuple(float(v) for v in row) for row in head["weights"])
            if len(weights) != len(OUTPUT_NAMES) or any(
                len(r) != len(HEAD_INPUTS) for r in weights
            ):
                raise ValueError("its weights have the wrong shape")
            if not all(math.isfinite(v) for r in weights for v in r):
                raise ValueError("its weights are not finite")
            p = data["profile"]
            max_hr = p.get("max_hr")
            profile = Profile(
                name=str(data.get("person", "you")),
                age=int(p["age"]),
                resting_hr=float(p["resting_hr"]),
                max_hr=None if max_hr is None else float(max_hr),
            )
            if not 20 <= profile.resting_hr < profile.effective_max_hr <= 250:
                raise ValueError("its resting and max heart rate are not plausible")
            return cls(
                person=profile.name,
                profile=profile,
                weights=weights,
                model_sha256=str(data.get("model_sha256", "")),
                created=str(data.get("created", "")),
                report=dict(data.get("report") or {}),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            where = f"{path} " if path else ""
            raise ModelError(
                f"the calibration {where}is not usable ({exc}): run `edgecoach calibrate` again",
                path=path,
            ) from exc

    @classmethod
    def load(cls, path: Path) -> Calibration:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelError(
                f"no calibration at {path}: run `edgecoach calibrate DIR` first", path=path
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read the calibration {path}: {exc}", path=path) from exc
        return cls.from_json(text, path=path)

    def save(self, path: Path) -> Path:
        """Write atomically (temporary file, then rename); return `path`."""
        return write_text_atomic(path, self.to_json())


def head_inputs(bpm: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """The head's input rows (N, len(HEAD_INPUTS)) for model forecasts and their windows."""
    last = windows[:, -1, HR_INDEX].astype(np.float64)
    frac = windows[:, -1, 1].astype(np.float64)  # hr_reserve_frac
    delta = np.asarray(bpm, dtype=np.float64) - last[:, None]
    return np.column_stack([np.ones(len(last)), delta, frac])


def default_calibration_path(person: str) -> Path:
    """``$XDG_STATE_HOME/edgecoach/<person>/calibration.json`` (default ``~/.local/state``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return person_state_dir(Path(base) / "edgecoach", person) / CALIBRATION_FILE
