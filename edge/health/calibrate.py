"""Personalisation on the device, without torch: `edgecoach calibrate DIR`.

From a person's own recorded sessions (a folder of FIT/TCX/GPX/CSV files read through
`edge.sources.recordings`, or lists of `AlignedSample`, oldest first):

1. **Their own parameters.** Resting heart rate: the 5th percentile of heart rate in still
   seconds (stride known and not moving, at least `STILL_SETTLE_S` into a still stretch) when
   there are at least `MIN_STILL_S` of them; else the 2nd percentile of all heart rate when that
   is below the profile's resting rate (heart rate that low proves the profile's is too high);
   else the profile's. Max heart rate: the highest 10-second mean seen when it is above the
   profile's (effective) max; else the profile's (no effort near max, so no evidence).
2. **A linear correction head** on the ONNX model's outputs: per horizon, the forecast change
   ``y - last`` is refitted as a linear function of the model's four forecast changes and the
   last heart rate's fraction of reserve (see `HEAD_INPUTS`), by least squares with a ridge that
   pulls towards "keep the model's forecast" (the identity) with the weight of `RIDGE_WINDOWS`
   windows, so a little data changes little. ``hr_expected`` cannot be measured and keeps the
   identity.
3. **Honest figures.** The head is fitted on the earlier sessions and evaluated on the latest
   ones held back (a quarter, at least one): MAE per horizon before (the bare model with the
   profile as entered), after (measured parameters and head) and for persistence, over the same
   seconds. The saved calibration is then refitted on all sessions.

The result is a small JSON (`calibration.json` in the person's state folder,
`default_calibration_path`) that `HealthModel.load(..., calibration=PATH)` applies. Sessions in
a folder are taken in the order of their file names (what watches and exports name by date).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.errors import ConfigError, ModelError, SourceFileError
from edge.health.features import HORIZONS_S, HR_INDEX, OUTPUT_NAMES, with_profile
from edge.profile import Profile
from edge.stream.readings import AlignedSample

if TYPE_CHECKING:
    from edge.health.model import HealthModel
    from edge.settings import Settings

__all__ = [
    "CALIBRATION_FILE",
    "HEAD_INPUTS",
    "Calibration",
    "CalibrationResult",
    "calibrate_folder",
    "calibrate_sessions",
    "configure_parser",
    "default_calibration_path",
    "estimate_profile",
    "fit_head",
    "format_report",
    "run",
]

log = logging.getLogger(__name__)

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
#: The ridge pulls towards the identity with the weight of this many windows.
RIDGE_WINDOWS = 300.0
#: Windows are cut every this many seconds for fitting and evaluating.
STRIDE_S = 5
#: Resting rate from still seconds needs this many of them, each this far into its stretch.
MIN_STILL_S = 120
STILL_SETTLE_S = 30
#: Max heart rate is the highest mean over this many seconds.
MAX_HR_SPAN_S = 10
#: A measured max needs at least this many seconds with heart rate in all.
MIN_HR_S = 600


# --- the calibration file ----------------------------------------------------------------


def _identity() -> np.ndarray:
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
        return cls(person, profile, tuple(tuple(r) for r in _identity()))

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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".calibration-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.to_json())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def head_inputs(bpm: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """The head's input rows (N, len(HEAD_INPUTS)) for model forecasts and their windows."""
    last = windows[:, -1, HR_INDEX].astype(np.float64)
    frac = windows[:, -1, 1].astype(np.float64)  # hr_reserve_frac
    delta = np.asarray(bpm, dtype=np.float64) - last[:, None]
    return np.column_stack([np.ones(len(last)), delta, frac])


def default_calibration_path(person: str) -> Path:
    """``$XDG_STATE_HOME/edgecoach/<person>/calibration.json`` (default ``~/.local/state``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in person) or "you"
    return Path(base) / "edgecoach" / safe / CALIBRATION_FILE


# --- estimating the person's parameters -----------------------------------------------------


def _still_hr(session: Sequence[AlignedSample]) -> np.ndarray:
    """Heart rate of the still seconds of a session, each STILL_SETTLE_S into its stretch."""
    out: list[float] = []
    run = 0
    for s in session:
        known = s.cadence_spm is not None or s.speed_mps is not None
        moving = (s.cadence_spm or 0.0) > 0 or (s.speed_mps or 0.0) > 0.5
        run = run + 1 if known and not moving else 0
        if run > STILL_SETTLE_S and s.hr_bpm is not None:
            out.append(float(s.hr_bpm))
    return np.asarray(out)


def _sustained_max(session: Sequence[AlignedSample]) -> float | None:
    hr = np.array([np.nan if s.hr_bpm is None else s.hr_bpm for s in session], dtype=np.float64)
    if len(hr) < MAX_HR_SPAN_S:
        return None
    view = np.lib.stride_tricks.sliding_window_view(hr, MAX_HR_SPAN_S)
    full = ~np.isnan(view).any(axis=1)
    if not full.any():
        return None
    return float(view[full].mean(axis=1).max())


def estimate_profile(
    sessions: Sequence[Sequence[AlignedSample]], profile: Profile
) -> tuple[Profile, dict[str, Any]]:
    """The person's profile with measured resting and max heart rate where the data allow.

    Returns the new profile and, per parameter, what it was, what it is and why.
    """
    hr = np.array(
        [s.hr_bpm for session in sessions for s in session if s.hr_bpm is not None], dtype=float
    )
    still = np.concatenate([_still_hr(s) for s in sessions]) if sessions else np.zeros(0)
    resting, rest_why = (
        profile.resting_hr,
        "kept the profile's: no still seconds nor low heart rate",
    )
    if still.size >= MIN_STILL_S:
        resting = round(float(np.percentile(still, 5)), 1)
        rest_why = f"5th percentile of {still.size} still seconds"
    elif hr.size and float(np.percentile(hr, 2)) < profile.resting_hr:
        resting = round(float(np.percentile(hr, 2)), 1)
        rest_why = "2nd percentile of all heart rate, below the profile's resting rate"
    max_hr, max_why = profile.max_hr, "kept the profile's: no effort above it"
    peaks = [m for m in (_sustained_max(s) for s in sessions) if m is not None]
    if hr.size >= MIN_HR_S and peaks and max(peaks) > profile.effective_max_hr:
        max_hr = round(max(peaks), 1)
        max_why = f"highest {MAX_HR_SPAN_S} s mean seen, above the profile's max"
    elif hr.size < MIN_HR_S:
        max_why = f"kept the profile's: fewer than {MIN_HR_S} s of heart rate"
    new = replace(profile, resting_hr=float(resting), max_hr=max_hr)
    if new.effective_max_hr - new.resting_hr < 40:  # nonsense data: keep what was entered
        return profile, {
            "resting_hr": {
                "before": profile.resting_hr,
                "after": profile.resting_hr,
                "how": "kept: the estimates leave no plausible reserve",
            },
            "max_hr": {
                "before": profile.effective_max_hr,
                "after": profile.effective_max_hr,
                "how": "kept: the estimates leave no plausible reserve",
            },
        }
    return new, {
        "resting_hr": {"before": profile.resting_hr, "after": new.resting_hr, "how": rest_why},
        "max_hr": {
            "before": profile.effective_max_hr,
            "after": new.effective_max_hr,
            "how": max_why,
        },
    }


# --- the head -------------------------------------------------------------------------------


def _windows(
    sessions: Sequence[Sequence[AlignedSample]], profile: Profile
) -> tuple[np.ndarray, np.ndarray]:
    from edge.health.samples import samples_windows, split_at_pauses

    xs, ts = [], []
    for session in sessions:
        for segment in split_at_pauses(session):
            x, target, _ = samples_windows(segment, profile, stride_s=STRIDE_S)
            if len(x):
                xs.append(x)
                ts.append(target)
    if not xs:
        from edge.health.features import FEATURE_NAMES, WINDOW_S

        return np.zeros((0, WINDOW_S, len(FEATURE_NAMES)), np.float32), np.zeros((0, 3))
    return np.concatenate(xs), np.concatenate(ts)


def fit_head(
    bpm: np.ndarray,
    windows: np.ndarray,
    target: np.ndarray,
    *,
    ridge_windows: float = RIDGE_WINDOWS,
) -> np.ndarray:
    """Head weights (O, len(HEAD_INPUTS)) by ridge least squares towards the identity.

    `bpm` are the model's forecasts (N, O) for `windows`, `target` the heart rate (N, H) seen at
    each horizon (NaN where unknown). Each column is scaled by its spread for the penalty, so
    the ridge weighs every input alike.
    """
    a = head_inputs(bpm, windows)
    last = windows[:, -1, HR_INDEX].astype(np.float64)
    w0 = _identity()
    w = w0.copy()
    scale = a.std(axis=0)
    scale[0] = 1.0
    scale = np.where(scale < 1e-6, 1.0, scale)
    for j in range(len(HORIZONS_S)):
        ok = ~np.isnan(target[:, j])
        if not ok.any():
            continue
        aj, yj = a[ok], target[ok, j] - last[ok]
        penalty = ridge_windows * np.diag(scale**2)
        lhs = aj.T @ aj + penalty
        rhs = aj.T @ yj + penalty @ w0[j]
        w[j] = np.linalg.solve(lhs, rhs)
    return w


def _mae(pred: np.ndarray, target: np.ndarray, last: np.ndarray) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for j, h in enumerate(HORIZONS_S):
        ok = ~np.isnan(target[:, j])
        out[str(h)] = {
            "model": float(np.abs(pred[ok, j] - target[ok, j]).mean()) if ok.any() else None,
            "persistence": float(np.abs(last[ok] - target[ok, j]).mean()) if ok.any() else None,
            "n": int(ok.sum()),
        }
    return out


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    calibration: Calibration
    #: JSON-ready: sessions used, parameter estimates, held-out MAE before/after per horizon.
    report: dict[str, Any]


def _fit(
    sessions: Sequence[Sequence[AlignedSample]], model: HealthModel, profile: Profile, person: str
) -> tuple[Calibration, dict[str, Any], int]:
    measured, how = estimate_profile(sessions, profile)
    x, target = _windows(sessions, measured)
    if len(x) == 0:
        calib = Calibration.identity(person, measured)
        return replace(calib, model_sha256=model.model_sha256), how, 0
    bpm = model.predict_array(x, calibrated=False)
    weights = fit_head(bpm, x, target)
    calib = Calibration(
        person=person,
        profile=replace(measured, name=person),
        weights=tuple(tuple(float(v) for v in r) for r in weights),
        model_sha256=model.model_sha256,
    )
    return calib, how, len(x)


def calibrate_sessions(
    sessions: Sequence[Sequence[AlignedSample]],
    model: HealthModel,
    profile: Profile,
    *,
    person: str | None = None,
    names: Sequence[str] | None = None,
    hold_out: int | None = None,
) -> CalibrationResult:
    """Calibrate from `sessions` (oldest first); see the module doc for what is done.

    `hold_out` is how many of the latest sessions are kept back for the before/after figures
    (default: a quarter, at least one; none when there is only one session).
    """
    person = person or profile.name
    names = list(names) if names is not None else [f"session {i + 1}" for i in range(len(sessions))]
    if not sessions:
        raise ConfigError("calibration needs at least one recorded session with heart rate")
    n_hold = (
        hold_out
        if hold_out is not None
        else (max(1, len(sessions) // 4) if len(sessions) > 1 else 0)
    )
    n_hold = min(max(0, n_hold), len(sessions) - 1)
    fit_part, held = (
        list(sessions[: len(sessions) - n_hold]),
        list(sessions[len(sessions) - n_hold :]),
    )
    report: dict[str, Any] = {
        "person": person,
        "sessions": {"fit": names[: len(fit_part)], "held_out": names[len(fit_part) :]},
    }
    horizons: dict[str, Any] | None = None
    if held:
        early, how_early, n_early = _fit(fit_part, model, profile, person)
        xb, target = _windows(held, profile)
        if len(xb):
            last = xb[:, -1, HR_INDEX].astype(np.float64)
            before = model.predict_array(xb, calibrated=False)
            xa = early.windows(xb)
            after = early.correct(model.predict_array(xa, calibrated=False), xa)
            b, a = _mae(before, target, last), _mae(after, target, last)
            horizons = {
                h: {
                    "before": b[h]["model"],
                    "after": a[h]["model"],
                    "persistence": b[h]["persistence"],
                    "n": b[h]["n"],
                }
                for h in b
            }
        report["held_out_fit"] = {"windows": n_early, "profile": how_early}
    report["horizons"] = horizons
    final, how, n_all = _fit(sessions, model, profile, person)
    report["profile"] = how
    report["windows"] = n_all
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    final = replace(final, created=created, report=report)
    return CalibrationResult(final, report)


def calibrate_folder(
    folder: Path, model: HealthModel, profile: Profile, *, person: str | None = None
) -> CalibrationResult:
    """`calibrate_sessions` on every recording in `folder` (in file-name order); bad files are
    skipped and listed in the report's ``skipped``."""
    from edge.health.samples import recording_to_samples
    from edge.sources.recordings import iter_recordings

    sessions: list[list[AlignedSample]] = []
    names: list[str] = []
    skipped: list[dict[str, str]] = []
    for path, rec in sorted(iter_recordings(Path(folder)), key=lambda item: item[0].name):
        if isinstance(rec, SourceFileError):
            skipped.append({"file": path.name, "reason": str(rec)})
            continue
        samples = recording_to_samples(rec)
        if sum(s.hr_bpm is not None for s in samples) < 2 * max(HORIZONS_S):
            skipped.append({"file": path.name, "reason": "not enough heart rate (under 2 min)"})
            continue
        sessions.append(samples)
        names.append(path.name)
    if not sessions:
        raise SourceFileError(
            f"no recording in {folder} has enough heart rate to calibrate on", path=Path(folder)
        )
    result = calibrate_sessions(sessions, model, profile, person=person, names=names)
    result.report["skipped"] = skipped
    return result


# --- output and CLI ------------------------------------------------------------------------


def format_report(report: dict[str, Any]) -> str:
    """The report as a few lines for a person."""
    lines = [f"calibration for {report['person']}: {report['windows']} windows"]
    for name, row in report["profile"].items():
        lines.append(f"  {name}: {row['before']:.0f} -> {row['after']:.0f} bpm ({row['how']})")
    horizons = report.get("horizons")
    sessions = report["sessions"]
    if horizons:
        lines.append(
            f"  held back {len(sessions['held_out'])} latest session(s), fitted on "
            f"{len(sessions['fit'])}: MAE before -> after (persistence)"
        )
        for h, row in horizons.items():
            if row["before"] is None:
                continue
            lines.append(
                f"    +{h} s: {row['before']:.2f} -> {row['after']:.2f} bpm "
                f"({row['persistence']:.2f}) over {row['n']} windows"
            )
    else:
        lines.append("  only one session: nothing held back to measure the change on")
    for item in report.get("skipped", []):
        lines.append(f"  skipped {item['file']}: {item['reason']}")
    return "\n".join(lines)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edgecoach calibrate DIR [--person NAME] [--out PATH] [--json]``."""
    parser.description = (
        "Personalise the heart-rate model from your own recordings (FIT, TCX, GPX, CSV): "
        "measure resting and max heart rate where the data allow, fit a small correction "
        "head, and report the change on your latest sessions."
    )
    parser.add_argument("folder", type=Path, help="folder with your recorded sessions")
    parser.add_argument("--person", help="whose calibration this is (default: the profile name)")
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write it (default: $XDG_STATE_HOME/edgecoach/PERSON/calibration.json)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--models-dir", type=Path, help="models folder (default: the installed)")
    parser.add_argument("--variant", choices=("int8", "float"), default="int8")


def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Run ``edgecoach calibrate``; EdgecoachError subclasses reach the caller."""
    from edge.health.model import HealthModel

    profile = settings.profile if settings is not None else Profile()
    person = args.person or profile.name
    models_dir = args.models_dir
    if models_dir is None and settings is not None:
        models_dir = settings.health.models_dir
    threads = settings.health.threads if settings is not None else 1
    with HealthModel.load(models_dir, threads=threads, variant=args.variant) as model:
        result = calibrate_folder(args.folder, model, replace(profile, name=person), person=person)
    out = args.out or default_calibration_path(person)
    result.calibration.save(out)
    if args.json:
        print(json.dumps({**result.report, "saved": str(out)}, indent=2))
    else:
        print(format_report(result.report))
        print(f"saved {out}")
    return 0
