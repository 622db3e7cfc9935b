"""Stage 4: check the ONNX model against the torch network it came from, and measure it.

Inputs: ``health_lstm.pt``, ``health_forecast.onnx`` with its normalisation JSON, and the
held-out test split of ``windows.npz`` (workouts the network never trained on). Output:
``verify.json`` (the report) and its meta.

Parity: ONNX Runtime and torch must agree within `TOLERANCE_BPM` (0.001 bpm, after turning both
into bpm the way the device does) on every held-out window, on a single window (batch 1) and on
windows of other lengths (30 and 90 s: the ``time`` axis is dynamic). Anything larger raises
`edge.errors.ExportError`. The report also gives MAE per output on the held-out windows against
persistence ("heart rate stays as it is").
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edge.errors import ExportError
from edge.health.features import Normalisation
from edge.health.model import INPUT_NAME, NORMALISATION_FILE, OUTPUT_NAME
from export.health._stage import (
    VERIFY_FILE,
    describe_input,
    mae_report,
    stopwatch,
    write_json,
    write_meta,
)
from export.health.net import load_checkpoint
from export.health.prepare import load_windows
from export.health.train import predict_bpm

log = logging.getLogger(__name__)

#: Largest difference in bpm allowed between ONNX Runtime and torch on any output.
TOLERANCE_BPM = 1e-3


def _ort_bpm(
    session: ort.InferenceSession, norm: Normalisation, x: np.ndarray, batch_size: int = 2048
) -> np.ndarray:
    out = [
        session.run([OUTPUT_NAME], {INPUT_NAME: norm.inputs(x[i : i + batch_size])})[0]
        for i in range(0, len(x), batch_size)
    ]
    return norm.outputs_to_bpm(np.concatenate(out), x)


def verify(
    checkpoint: Path, onnx_path: Path, windows_path: Path, out_dir: Path, *, seed: int = 0
) -> Path:
    """Compare, measure, write ``out_dir/verify.json`` and its meta; raise ExportError on drift."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / VERIFY_FILE
    norm_path = Path(onnx_path).with_name(NORMALISATION_FILE)
    with stopwatch() as took:
        net, ckpt = load_checkpoint(checkpoint)
        norm = Normalisation.from_json(norm_path.read_text(encoding="utf-8"))
        if norm != Normalisation.from_json(ckpt["normalisation"]):
            raise ExportError(f"{norm_path} differs from the normalisation in {checkpoint}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            session = ort.InferenceSession(
                str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ONNX Runtime's own error types
            raise ExportError(f"ONNX Runtime cannot load {onnx_path}: {exc}") from exc
        x, target, mask = load_windows(windows_path, "test")
        if len(x) == 0:
            raise ExportError(f"{windows_path} has no held-out windows to verify on")
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(x), size=min(64, len(x)), replace=False)
        checks: dict[str, Any] = {}
        cases = {
            "held_out": x,
            "batch_1": x[pick[:1]],
            "time_30s": x[pick, -30:],
            "time_90s": np.concatenate([x[pick, :30], x[pick]], axis=1),
        }
        ort_test = None
        for name, xs in cases.items():
            a = _ort_bpm(session, norm, xs)
            b = predict_bpm(net, norm, xs)
            diff = float(np.max(np.abs(a - b)))
            checks[name] = {"windows": len(xs), "time": int(xs.shape[1]), "max_abs_diff_bpm": diff}
            if not np.isfinite(a).all() or diff > TOLERANCE_BPM:
                raise ExportError(
                    f"ONNX model drifts from torch on {name}: max |diff| {diff:.3g} bpm > "
                    f"{TOLERANCE_BPM} bpm ({onnx_path})"
                )
            if name == "held_out":
                ort_test = a
        assert ort_test is not None
        metrics = mae_report(ort_test, target, mask, x)
        report = {
            "tolerance_bpm": TOLERANCE_BPM,
            "parity": checks,
            "held_out_mae": metrics,
            "held_out_windows": len(x),
        }
        write_json(output, report)
    write_meta(
        output,
        stage="verify",
        inputs={
            "checkpoint": describe_input(checkpoint),
            "onnx": describe_input(onnx_path),
            "normalisation": describe_input(norm_path),
            "windows": describe_input(windows_path),
        },
        seed=seed,
        settings={"tolerance_bpm": TOLERANCE_BPM},
        sizes={"held_out_windows": len(x)},
        metrics=report,
        wall_s=took[0],
    )
    log.info(
        "verify: parity ok (max %.2g bpm); held-out MAE %s",
        max(c["max_abs_diff_bpm"] for c in checks.values()),
        metrics,
    )
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--windows", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    verify(args.checkpoint, args.onnx, args.windows, args.out_dir, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
