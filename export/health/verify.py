"""Stage 6: check every exported model against its source, and measure them side by side.

Inputs: ``teacher.pt`` / ``teacher.onnx``, ``student.pt`` / ``health_forecast.float.onnx`` /
``health_forecast.onnx`` (int8), their normalisation JSONs and ``windows.npz``. Output:
``verify.json`` (the report) and its meta.

* **Parity (float).** ONNX Runtime and torch must agree within `TOLERANCE_BPM` (0.001 bpm, in
  bpm as the device computes them) for the student and for the teacher, on every held-out
  simulated window, on a single window (batch 1) and on windows of other lengths (30 and 90 s:
  the ``time`` axis is dynamic). Anything larger raises `edge.errors.ExportError`.
* **int8 against float.** Per horizon, the int8 student's MAE may differ from the float
  student's by at most `INT8_TOLERANCE` (3 %) of the float MAE, on the held-out simulated
  windows and on the real windows (all of them: this compares two encodings of one network, not
  the network against the world). Larger raises `ExportError`.
* **Figures.** MAE per output on the held-out simulated windows for the teacher (torch), the
  float and the int8 student (ONNX Runtime) and persistence; parameters, file sizes and the
  per-step latency (one window, batch 1, one thread: p50 and p99 over `LATENCY_CALLS` calls).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edge.errors import ExportError
from edge.health.features import HORIZONS_S, OUTPUT_NAMES, Normalisation
from edge.health.model import INPUT_NAME, OUTPUT_NAME
from export.health._stage import (
    VERIFY_FILE,
    describe_input,
    mae_report,
    stopwatch,
    write_json,
    write_meta,
)
from export.health.net import HealthLSTM, load_checkpoint
from export.health.onnx_export import norm_path_for
from export.health.prepare import load_real, load_windows
from export.health.train import predict_bpm

log = logging.getLogger(__name__)

#: Largest difference in bpm allowed between ONNX Runtime and torch on any output.
TOLERANCE_BPM = 1e-3
#: The int8 student's MAE may differ from the float student's by this fraction, per horizon.
INT8_TOLERANCE = 0.03
#: Calls timed per model for the latency figures.
LATENCY_CALLS = 500


def session_for(path: Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ONNX Runtime's own error types
        raise ExportError(f"ONNX Runtime cannot load {path}: {exc}") from exc


def ort_bpm(
    session: ort.InferenceSession, norm: Normalisation, x: np.ndarray, batch_size: int = 2048
) -> np.ndarray:
    out = [
        session.run([OUTPUT_NAME], {INPUT_NAME: norm.inputs(x[i : i + batch_size])})[0]
        for i in range(0, len(x), batch_size)
    ]
    if not out:
        return np.zeros((0, len(OUTPUT_NAMES)))
    return norm.outputs_to_bpm(np.concatenate(out), x)


def latency(
    session: ort.InferenceSession, norm: Normalisation, window: np.ndarray, calls: int
) -> dict[str, float]:
    """Per-call milliseconds for one window (batch 1), normalisation included."""
    x = window[None]
    for _ in range(min(20, calls)):
        session.run([OUTPUT_NAME], {INPUT_NAME: norm.inputs(x)})
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        session.run([OUTPUT_NAME], {INPUT_NAME: norm.inputs(x)})
        times[i] = time.perf_counter() - start
    return {
        "p50_ms": round(float(np.percentile(times, 50)) * 1e3, 4),
        "p99_ms": round(float(np.percentile(times, 99)) * 1e3, 4),
        "calls": calls,
    }


def _parity(
    name: str,
    net: HealthLSTM,
    norm: Normalisation,
    session: ort.InferenceSession,
    x: np.ndarray,
    seed: int,
    path: Path,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=min(64, len(x)), replace=False)
    cases = {
        "held_out": x,
        "batch_1": x[pick[:1]],
        "time_30s": x[pick, -30:],
        "time_90s": np.concatenate([x[pick, :30], x[pick]], axis=1),
    }
    checks: dict[str, Any] = {}
    for case, xs in cases.items():
        a = ort_bpm(session, norm, xs)
        b = predict_bpm(net, norm, xs)
        diff = float(np.max(np.abs(a - b))) if len(xs) else 0.0
        checks[case] = {"windows": len(xs), "time": int(xs.shape[1]), "max_abs_diff_bpm": diff}
        if not np.isfinite(a).all() or diff > TOLERANCE_BPM:
            raise ExportError(
                f"ONNX model drifts from torch ({name}) on {case}: max |diff| {diff:.3g} bpm > "
                f"{TOLERANCE_BPM} bpm ({path})"
            )
    return checks


def compare_int8(
    float_bpm: np.ndarray,
    int8_bpm: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    x: np.ndarray,
    what: str,
) -> dict[str, Any]:
    """Per horizon MAE of both and their relative difference; raises ExportError past 3 %."""
    out: dict[str, Any] = {}
    for j, h in enumerate(HORIZONS_S):
        ok = mask[:, j]
        if not ok.any():
            continue
        f = float(np.abs(float_bpm[ok, j] - target[ok, j]).mean())
        q = float(np.abs(int8_bpm[ok, j] - target[ok, j]).mean())
        rel = abs(q - f) / max(f, 1e-6)
        out[str(h)] = {
            "float_mae_bpm": round(f, 4),
            "int8_mae_bpm": round(q, 4),
            "relative_difference": round(rel, 5),
            "max_abs_diff_bpm": round(float(np.abs(float_bpm[ok, j] - int8_bpm[ok, j]).max()), 4),
            "n": int(ok.sum()),
        }
        if rel > INT8_TOLERANCE:
            raise ExportError(
                f"the int8 student's MAE at +{h} s on {what} is {q:.3f} bpm, {100 * rel:.1f} % "
                f"from the float student's {f:.3f} (tolerance {100 * INT8_TOLERANCE:.0f} %)"
            )
    return out


def verify(
    teacher: Path,
    teacher_onnx: Path,
    student: Path,
    float_onnx: Path,
    int8_onnx: Path,
    windows_path: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    latency_calls: int = LATENCY_CALLS,
) -> Path:
    """Compare, measure, write ``out_dir/verify.json`` and its meta; raise ExportError on drift."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / VERIFY_FILE
    with stopwatch() as took:
        x, target, mask = load_windows(windows_path, "test")
        if len(x) == 0:
            raise ExportError(f"{windows_path} has no held-out windows to verify on")
        xr, tr, mr, _, _ = load_real(windows_path)
        models: dict[str, Any] = {}
        parity: dict[str, Any] = {}
        preds: dict[str, np.ndarray] = {}
        real_preds: dict[str, np.ndarray] = {}
        sessions: dict[str, tuple[ort.InferenceSession, Normalisation]] = {}
        for role, ckpt_path, onnx_path in (
            ("teacher", teacher, teacher_onnx),
            ("student_float", student, float_onnx),
        ):
            net, ckpt = load_checkpoint(ckpt_path)
            norm_file = norm_path_for(onnx_path)
            norm = Normalisation.from_json(norm_file.read_text(encoding="utf-8"))
            if norm != Normalisation.from_json(ckpt["normalisation"]):
                raise ExportError(f"{norm_file} differs from the normalisation in {ckpt_path}")
            session = session_for(onnx_path)
            parity[role] = _parity(role, net, norm, session, x, seed, onnx_path)
            preds[role] = (
                predict_bpm(net, norm, x) if role == "teacher" else ort_bpm(session, norm, x)
            )
            real_preds[role] = ort_bpm(session, norm, xr)
            sessions[role] = (session, norm)
            models[role] = {
                "parameters": net.n_parameters,
                "hidden": net.hidden,
                "layers": net.layers,
                "members": len(net.members),
                "onnx_bytes": Path(onnx_path).stat().st_size,
            }
        s_norm = sessions["student_float"][1]
        q_session = session_for(int8_onnx)
        sessions["student_int8"] = (q_session, s_norm)
        preds["student_int8"] = ort_bpm(q_session, s_norm, x)
        real_preds["student_int8"] = ort_bpm(q_session, s_norm, xr)
        models["student_int8"] = {
            **models["student_float"],
            "onnx_bytes": Path(int8_onnx).stat().st_size,
        }
        int8 = {
            "tolerance": INT8_TOLERANCE,
            "held_out_sim": compare_int8(
                preds["student_float"],
                preds["student_int8"],
                target,
                mask,
                x,
                "the held-out simulated windows",
            ),
        }
        if len(xr):
            int8["real"] = compare_int8(
                real_preds["student_float"],
                real_preds["student_int8"],
                tr,
                mr,
                xr,
                "the real windows",
            )
        for role, (session, norm) in sessions.items():
            models[role]["latency_batch1"] = latency(session, norm, x[0], latency_calls)
        held_out = {role: mae_report(p, target, mask, x) for role, p in preds.items()}
        report = {
            "tolerance_bpm": TOLERANCE_BPM,
            "parity": parity,
            "int8_vs_float": int8,
            "models": models,
            "held_out_mae": held_out,
            "held_out_windows": len(x),
        }
        if len(xr):
            report["real_in_sample_mae"] = {
                role: mae_report(p, tr, mr, xr) for role, p in real_preds.items()
            }
        write_json(output, report)
    write_meta(
        output,
        stage="verify",
        inputs={
            "teacher": describe_input(teacher),
            "teacher_onnx": describe_input(teacher_onnx),
            "student": describe_input(student),
            "float_onnx": describe_input(float_onnx),
            "int8_onnx": describe_input(int8_onnx),
            "windows": describe_input(windows_path),
        },
        seed=seed,
        settings={
            "tolerance_bpm": TOLERANCE_BPM,
            "int8_tolerance": INT8_TOLERANCE,
            "latency_calls": latency_calls,
        },
        sizes={"held_out_windows": len(x), "real_windows": len(xr)},
        metrics=report,
        wall_s=took[0],
    )
    log.info("verify: parity ok; int8 vs float %s", int8)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="the export's work folder")
    parser.add_argument("--out-dir", type=Path, help="where to write verify.json (default: it)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from edge.health.model import FLOAT_MODEL_FILE, MODEL_FILE
    from export.health._stage import STUDENT_FILE, TEACHER_FILE, TEACHER_ONNX_FILE, WINDOWS_FILE

    w = args.work_dir
    verify(
        w / TEACHER_FILE,
        w / TEACHER_ONNX_FILE,
        w / STUDENT_FILE,
        w / FLOAT_MODEL_FILE,
        w / MODEL_FILE,
        w / WINDOWS_FILE,
        args.out_dir or w,
        seed=args.seed,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
