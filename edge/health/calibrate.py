"""Personalisation on the device, without torch: what `edgecoach calibrate DIR` fits.

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

The result is a `Calibration` (`edge.health.calibration`: a small JSON in the person's state
folder) that `HealthModel.load(..., calibration=PATH)` applies. Sessions in
a folder are taken in the order of their file names (what watches and exports name by date).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.errors import ConfigError, SourceFileError
from edge.health.calibration import Calibration, head_inputs, identity_head
from edge.health.features import HORIZONS_S, HR_INDEX
from edge.profile import Profile
from edge.stream.readings import AlignedSample

if TYPE_CHECKING:
    from edge.health.model import HealthModel

__all__ = [
    "CalibrationResult",
    "calibrate_folder",
    "calibrate_sessions",
    "estimate_profile",
    "fit_head",
    "format_report",
]

log = logging.getLogger(__name__)

#: The ridge pulls towards the identity with the weight of this many windows. Firmer since the
#: model reads the person's own kinetics (health model v2): with 300 the head overfitted at
#: +30 s on the simulated person of tests/test_health_calibrate.py (held out 3.77 vs 3.75 bpm
#: uncalibrated); with 3000 it improves every horizon there (3.71 at +30 s, 4.93 vs 5.20 at +60).
RIDGE_WINDOWS = 3000.0
#: Windows are cut every this many seconds for fitting and evaluating.
STRIDE_S = 5
#: Resting rate from still seconds needs this many of them, each this far into its stretch.
MIN_STILL_S = 120
STILL_SETTLE_S = 30
#: Max heart rate is the highest mean over this many seconds.
MAX_HR_SPAN_S = 10
#: A measured max needs at least this many seconds with heart rate in all.
MIN_HR_S = 600


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
    w0 = identity_head()
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
