"""Stage 3: export the trained LSTM to ONNX, with its normalisation JSON beside it.

Input: ``health_lstm.pt`` from train. Output: ``health_forecast.onnx`` (input ``window``
(batch, time, features), output ``forecast`` (batch, outputs), both normalised; named dynamic axes
``batch`` and ``time``; opset 17) plus ``health_forecast.norm.json`` and the meta.

The normalisation is applied by the runtime (`edge.health.model`), not baked into the graph, so
the graph is the bare network and the JSON says exactly which features it was made for; the
runtime refuses a JSON whose features differ from the code's.

This uses the TorchScript exporter (``dynamo=False``): it writes the native ONNX ``LSTM``
operator, which ONNX Runtime runs fast and can quantise to int8, and needs no onnxscript. Its
known deprecation, LSTM batch-size and tracer warnings are silenced around the call only: the exported
graph makes its initial state from the input's batch size, and verify checks other batch sizes.
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
from edge.health.model import INPUT_NAME, MODEL_FILE, NORMALISATION_FILE, OUTPUT_NAME
from export.health._stage import describe_input, stopwatch, write_meta
from export.health.net import load_checkpoint

log = logging.getLogger(__name__)

OPSET = 17


def export_onnx(checkpoint: Path, out_dir: Path, *, seed: int = 0) -> Path:
    """Write ``out_dir/health_forecast.onnx`` and its normalisation JSON; return the ONNX path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / MODEL_FILE
    norm_path = out_dir / NORMALISATION_FILE
    with stopwatch() as took:
        net, ckpt = load_checkpoint(checkpoint)
        norm = Normalisation.from_json(ckpt["normalisation"])
        dummy = torch.zeros(1, WINDOW_S, net.n_features)
        tmp = out_dir / (MODEL_FILE + ".tmp")
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
            "edgecoach health forecast LSTM: normalised window (batch, time, features) -> "
            "normalised changes from the last heart rate; see health_forecast.norm.json"
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
        },
        sizes={
            "onnx_bytes": output.stat().st_size,
            "normalisation_bytes": norm_path.stat().st_size,
        },
        metrics={"operators": ops},
        wall_s=took[0],
    )
    log.info("onnx_export: %d bytes, %.1f s -> %s", output.stat().st_size, took[0], output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="health_lstm.pt")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    export_onnx(args.checkpoint, args.out_dir, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
