"""Stage 4: export the student (and the teacher, for comparison) to ONNX, normalisation beside.

Inputs: ``student.pt`` from distil (and ``teacher.pt``). Output: ``health_forecast.float.onnx`` (the
float student: input ``window`` (batch, time, features), output ``forecast`` (batch, outputs),
both normalised; named dynamic axes ``batch`` and ``time``; opset 17) plus
``health_forecast.norm.json`` and the meta; ``teacher.onnx`` with ``teacher.norm.json`` the
same way (never installed: it is measured beside the student in the model card).

The normalisation is applied by the runtime (`edge.health.model`), not baked into the graph, so
the graph is the bare network and the JSON says exactly which features it was made for; the
runtime refuses a JSON whose features differ from the code's.

This uses the TorchScript exporter (``dynamo=False``): it writes the native ONNX ``LSTM``
operator, which ONNX Runtime runs fast and can quantise to int8, and needs no onnxscript. Its
known deprecation, LSTM batch-size and tracer warnings are silenced around the call only: the
exported graph makes its initial state from the input's batch size, and verify checks other
batch sizes.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

import onnx
import torch

from edge.errors import ExportError
from edge.health.features import WINDOW_S, Normalisation
from edge.health.model import FLOAT_MODEL_FILE, INPUT_NAME, NORMALISATION_FILE, OUTPUT_NAME
from export.health._stage import describe_input, stopwatch, write_meta
from export.health.net import load_checkpoint

log = logging.getLogger(__name__)

OPSET = 17


def norm_path_for(onnx_path: Path) -> Path:
    """The normalisation JSON beside an exported model."""
    onnx_path = Path(onnx_path)
    if onnx_path.name == FLOAT_MODEL_FILE:
        return onnx_path.with_name(NORMALISATION_FILE)
    return onnx_path.with_name(onnx_path.name.split(".")[0] + ".norm.json")


def export_onnx(
    checkpoint: Path, out_dir: Path, *, seed: int = 0, name: str = FLOAT_MODEL_FILE
) -> Path:
    """Write ``out_dir/<name>`` and its normalisation JSON; return the ONNX path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / name
    norm_path = norm_path_for(output)
    with stopwatch() as took:
        net, ckpt = load_checkpoint(checkpoint)
        norm = Normalisation.from_json(ckpt["normalisation"])
        dummy = torch.zeros(1, WINDOW_S, net.n_features)
        tmp = out_dir / (name + ".tmp")
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message=r".*legacy TorchScript-based ONNX export",
                category=DeprecationWarning,
            )
            warnings.filterwarnings(
                "ignore", message=r"The feature will be removed", category=DeprecationWarning
            )
            warnings.filterwarnings(
                "ignore",
                message=r"Exporting a model to ONNX with a batch_size",
                category=UserWarning,
            )
            # nn.LSTM's own input-size check, traced: harmless, the size is fixed.
            warnings.filterwarnings(
                "ignore",
                message=r"Converting a tensor to a Python boolean",
                category=torch.jit.TracerWarning,
            )
            torch.onnx.export(
                net,
                (dummy,),
                str(tmp),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch", 1: "time"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
                do_constant_folding=True,
            )
        model = onnx.load(str(tmp))
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"the exported health model is not valid ONNX: {exc}") from exc
        model.producer_name = "edgecoach export health"
        model.doc_string = (
            f"edgecoach health forecast LSTM ({ckpt.get('role', '?')}): normalised window "
            "(batch, time, features) -> normalised corrections to persistence; see "
            f"{norm_path.name}"
        )
        onnx.save(model, str(tmp))
        tmp.replace(output)
        norm_path.write_text(norm.to_json(), encoding="utf-8")
    ops = sorted({n.op_type for n in model.graph.node})
    write_meta(
        output,
        stage="onnx_export",
        inputs={"checkpoint": describe_input(checkpoint)},
        seed=seed,
        settings={
            "opset": OPSET,
            "exporter": "torchscript (dynamo=False)",
            "dynamic_axes": {"batch": 0, "time": 1},
            "role": ckpt.get("role", "?"),
        },
        sizes={
            "onnx_bytes": output.stat().st_size,
            "normalisation_bytes": norm_path.stat().st_size,
            "parameters": net.n_parameters,
        },
        metrics={"operators": ops},
        wall_s=took[0],
    )
    log.info("onnx_export: %d bytes, %.1f s -> %s", output.stat().st_size, took[0], output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="student.pt")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--name", default=FLOAT_MODEL_FILE, help="file name of the ONNX model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    export_onnx(args.checkpoint, args.out_dir, seed=args.seed, name=args.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
