"""Stage 5: quantise the float student to int8 (dynamic quantisation, ARM64 settings).

Input: ``health_forecast.float.onnx`` (the float student). Output: ``health_forecast.onnx`` and
its meta. Its LSTM becomes ``com.microsoft::DynamicQuantizeLSTM`` (int8 weights, activations
quantised to uint8 on the fly); the small head (``Gemm``) is not in ONNX Runtime's dynamic
quantisation registry and stays float. Same normalisation as the float student.

The settings are optimum's ``AutoQuantizationConfig.arm64(is_static=False, per_channel=False)``:
QOperator format, dynamic mode, activations uint8 asymmetric, weights int8 symmetric, one scale
per tensor, no reduced range, every operator ONNX Runtime can quantise dynamically. optimum is
tried first (`optimum.onnxruntime.ORTQuantizer`); where it cannot run, ONNX Runtime's
``quantize_dynamic`` is called directly with exactly those settings, and the meta records why.
With the versions pinned here optimum cannot run: optimum 2.x moved ``optimum.onnxruntime`` into
the separate ``optimum-onnx`` package, whose only release (0.1.0) requires optimum~=2.1 and
transformers<4.58 and fails to import beside optimum 2.3 and transformers 5.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import onnx

from edge.errors import ExportError
from edge.health.model import MODEL_FILE
from export.health._stage import describe_input, stopwatch, write_meta

log = logging.getLogger(__name__)

#: What optimum's ARM64 dynamic configuration asks for (per_channel=False).
ARM64_DYNAMIC: dict[str, Any] = {
    "format": "QOperator",
    "mode": "dynamic",
    "activations": "uint8, asymmetric",
    "weights": "int8, symmetric",
    "per_channel": False,
    "reduce_range": False,
    "operators": [
        "Conv",
        "MatMul",
        "Attention",
        "LSTM",
        "Gather",
        "Transpose",
        "EmbedLayerNormalization",
    ],
}


def optimum_quantizer() -> tuple[Any, Any] | str:
    """(ORTQuantizer, AutoQuantizationConfig) when optimum can quantise here, else why not."""
    try:
        from optimum.onnxruntime import ORTQuantizer
        from optimum.onnxruntime.configuration import AutoQuantizationConfig
    except Exception as exc:  # ImportError, or a version clash inside optimum's imports
        try:
            from importlib.metadata import version

            have = f"optimum {version('optimum')}"
        except Exception:
            have = "no optimum"
        return (
            f"optimum.onnxruntime is not importable ({type(exc).__name__}: {exc}); {have}: "
            "optimum 2.x ships it in the separate optimum-onnx package, whose 0.1.0 release "
            "needs optimum~=2.1 and transformers<4.58"
        )
    return ORTQuantizer, AutoQuantizationConfig


def _with_optimum(tools: tuple[Any, Any], float_onnx: Path, tmp: Path) -> Path:
    quantizer_cls, config_cls = tools
    config = config_cls.arm64(is_static=False, per_channel=False)
    work = Path(tempfile.mkdtemp(prefix="optimum-", dir=tmp.parent))
    try:
        shutil.copyfile(float_onnx, work / "model.onnx")
        quantizer = quantizer_cls.from_pretrained(work, file_name="model.onnx")
        quantizer.quantize(save_dir=work / "out", quantization_config=config)
        produced = sorted((work / "out").glob("*.onnx"))
        if not produced:
            raise ExportError("optimum wrote no model")
        shutil.copyfile(produced[0], tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tmp


class _QuietQuantiser(logging.Filter):
    """ONNX Runtime's quantiser logs advice for image models on the root logger ("consider
    pre-processing", "quantization parameters ... not specified" for the float head): expected
    here, so kept at debug level instead of shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.WARNING and "uantiz" in record.getMessage():
            log.debug("onnxruntime: %s", record.getMessage())
            return False
        return True


def _with_onnxruntime(float_onnx: Path, tmp: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = _QuietQuantiser()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        quantize_dynamic(
            str(float_onnx),
            str(tmp),
            op_types_to_quantize=list(ARM64_DYNAMIC["operators"]),
            per_channel=False,
            reduce_range=False,
            weight_type=QuantType.QInt8,
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        )
    finally:
        root.removeFilter(quiet)
    return tmp


def quantise(float_onnx: Path, out_dir: Path, *, seed: int = 0, name: str = MODEL_FILE) -> Path:
    """Write ``out_dir/<name>`` (int8) from the float model; return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / name
    tmp = out_dir / (name + ".tmp")
    with stopwatch() as took:
        tools = optimum_quantizer()
        tool = "onnxruntime.quantization.quantize_dynamic"
        why = ""
        if isinstance(tools, str):
            why = tools
            _with_onnxruntime(float_onnx, tmp)
        else:
            try:
                _with_optimum(tools, float_onnx, tmp)
                tool = "optimum.onnxruntime.ORTQuantizer (arm64, dynamic, per-tensor)"
            except Exception as exc:  # optimum's own errors on a non-transformers graph
                why = f"optimum failed on this model ({type(exc).__name__}: {exc})"
                _with_onnxruntime(float_onnx, tmp)
        model = onnx.load(str(tmp))
        ops = sorted({n.op_type for n in model.graph.node})
        if "DynamicQuantizeLSTM" not in ops:
            tmp.unlink(missing_ok=True)
            raise ExportError(f"quantisation left the LSTM float (operators: {ops})")
        model.producer_name = "edgecoach export health (int8)"
        model.doc_string = (
            "edgecoach health forecast LSTM (student, int8 dynamic quantisation); see "
            "health_forecast.norm.json"
        )
        onnx.save(model, str(tmp))
        tmp.replace(output)
    if why:
        log.info("quantise: %s; used %s", why, tool)
    write_meta(
        output,
        stage="quantise",
        inputs={"float_model": describe_input(float_onnx)},
        seed=seed,
        settings={"config": ARM64_DYNAMIC, "tool": tool, "why_not_optimum": why},
        sizes={
            "onnx_bytes": output.stat().st_size,
            "float_bytes": Path(float_onnx).stat().st_size,
        },
        metrics={"operators": ops},
        wall_s=took[0],
    )
    log.info(
        "quantise: %d -> %d bytes -> %s",
        Path(float_onnx).stat().st_size,
        output.stat().st_size,
        output,
    )
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--float-model", type=Path, required=True, help="health_forecast.float.onnx"
    )
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    quantise(args.float_model, args.out_dir, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
