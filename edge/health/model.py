"""The health model on the device: heart-rate forecasts from a window of the stream.

The models folder holds two exports of the same distilled student (a few small LSTMs averaged
in one graph): the int8 one
(`MODEL_FILE`, dynamic int8 quantisation of its LSTMs; the default) and the float one
(`FLOAT_MODEL_FILE`), with one normalisation JSON. `HealthModel.load` checks the chosen ONNX
file and the normalisation against the models manifest before ONNX Runtime sees a byte of them,
then hands ONNX Runtime exactly the bytes it checked. A person's calibration
(`edge.health.calibrate.Calibration`, from `edgecoach calibrate`) can be applied on top: their
measured resting and max heart rate replace the profile's in every window, and a small linear
head corrects the forecasts.

The int8 export scales the LSTM's activations per call (dynamic quantisation), so a window's
int8 forecast moves slightly (under 0.1 bpm on the demo) with the other windows of its batch; the
float export gives the same forecast whatever the batch.

Calls are blocking (tens of microseconds per window, see `bench/health_inference.py` and the
model card; a Pi will be slower): the daemon runs them in a worker thread, never on the event
loop.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Self

import numpy as np

from edge.artifacts import Manifest, default_models_dir, sha256_of
from edge.core.forecast import Forecast
from edge.errors import ModelError
from edge.health.calibration import Calibration
from edge.health.features import FEATURE_NAMES, OUTPUT_NAMES, Normalisation

__all__ = [
    "FLOAT_MODEL_FILE",
    "INPUT_NAME",
    "MODEL_FILE",
    "MODEL_FILES",
    "MODEL_KINDS",
    "NORMALISATION_FILE",
    "OUTPUT_NAME",
    "VARIANTS",
    "HealthModel",
]

log = logging.getLogger(__name__)

#: File names inside the models folder, as the manifest lists them.
MODEL_FILE = "health_forecast.onnx"
FLOAT_MODEL_FILE = "health_forecast.float.onnx"
NORMALISATION_FILE = "health_forecast.norm.json"
#: The exports a device can choose between; "int8" is the default.
VARIANTS = ("int8", "float")
MODEL_FILES = {"int8": MODEL_FILE, "float": FLOAT_MODEL_FILE}
#: Manifest kinds of the two exports.
MODEL_KINDS = {"int8": "health-model", "float": "health-model-float"}
#: Graph input (batch, time, features), normalised; graph output (batch, outputs), normalised.
INPUT_NAME = "window"
OUTPUT_NAME = "forecast"


class HealthModel:
    """An ONNX Runtime session over the health LSTM, with its normalisation."""

    def __init__(
        self,
        session: Any,
        normalisation: Normalisation,
        source: Path,
        *,
        variant: str = "int8",
        model_sha256: str = "",
        calibration: Calibration | None = None,
    ) -> None:
        self._session: Any = session
        self._norm = normalisation
        self.source = source
        #: "int8" or "float".
        self.variant = variant
        #: sha256 of the ONNX bytes loaded (a calibration names the model it was fitted on).
        self.model_sha256 = model_sha256
        self.calibration = calibration
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        models_dir: Path | None = None,
        *,
        threads: int = 1,
        variant: str = "int8",
        calibration: Path | Calibration | None = None,
    ) -> HealthModel:
        """Load the health model from `models_dir` (default: `default_models_dir()`).

        `variant` picks the int8 (default) or the float export; `calibration` is a person's
        ``calibration.json`` (or a `Calibration`) to apply, or None. Raises ModelMissingError,
        ModelIntegrityError or ModelError with a message saying what to do.
        """
        import onnxruntime as ort

        if variant not in MODEL_FILES:
            raise ModelError(
                f"no health model variant {variant!r}: choose one of {', '.join(VARIANTS)}"
            )
        models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
        manifest = Manifest.load(models_dir)
        model_file = MODEL_FILES[variant]
        model_bytes = manifest.verified_bytes(model_file)
        norm_bytes = manifest.verified_bytes(NORMALISATION_FILE)
        model_path = models_dir / model_file
        norm_path = models_dir / NORMALISATION_FILE
        try:
            norm = Normalisation.from_json(norm_bytes.decode("utf-8"))
            norm.check_compatible()
        except (UnicodeDecodeError, ValueError) as exc:
            raise ModelError(
                f"{norm_path} does not fit this edgecoach ({exc}); run `edgecoach export health`",
                path=norm_path,
            ) from exc

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except (
            Exception
        ) as exc:  # ONNX Runtime raises its own untyped errors (Fail, InvalidProtobuf...)
            raise ModelError(
                f"ONNX Runtime cannot load {model_path}: the file matches the manifest but is not "
                f"a usable model ({type(exc).__name__}: {str(exc).strip()[:200]}); run "
                f"`edgecoach export health`",
                path=model_path,
            ) from exc
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
            raise ModelError(
                f"{model_path} has inputs {inputs} and outputs {outputs}; expected "
                f"[{INPUT_NAME!r}] and [{OUTPUT_NAME!r}]: run `edgecoach export health`",
                path=model_path,
            )
        digest = sha256_of(model_bytes)
        calib: Calibration | None = None
        if calibration is not None:
            calib = (
                calibration
                if isinstance(calibration, Calibration)
                else Calibration.load(Path(calibration))
            )
            calib.check_model(digest, model_path)
        log.info(
            "health model loaded from %s (%d threads%s)",
            model_path,
            options.intra_op_num_threads,
            f", calibration for {calib.person}" if calib else "",
        )
        return cls(
            session, norm, model_path, variant=variant, model_sha256=digest, calibration=calib
        )

    @property
    def normalisation(self) -> Normalisation:
        return self._norm

    def predict(self, window: np.ndarray) -> Forecast:
        """Forecast for one window from `build_window`: shape (time, n_features)."""
        window = np.asarray(window)
        if window.ndim != 2:
            raise ValueError(f"a window has shape (time, {len(FEATURE_NAMES)}), got {window.shape}")
        return self.predict_batch(window[None])[0]

    def predict_batch(self, windows: np.ndarray) -> list[Forecast]:
        """Forecasts for windows stacked as (batch, time, n_features)."""
        bpm = self.predict_array(windows)
        return [Forecast(*(float(v) for v in row)) for row in bpm]

    def predict_array(self, windows: np.ndarray, *, calibrated: bool = True) -> np.ndarray:
        """Like `predict_batch`, as a (batch, len(OUTPUT_NAMES)) float64 array in bpm.

        With a calibration loaded, `calibrated` false gives the bare model's forecasts.
        """
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim != 3 or windows.shape[2] != len(FEATURE_NAMES) or windows.shape[1] < 1:
            raise ValueError(
                f"windows have shape (batch, time, {len(FEATURE_NAMES)}), got {windows.shape}"
            )
        if windows.shape[0] == 0:
            return np.zeros((0, len(OUTPUT_NAMES)))
        calib = self.calibration if calibrated else None
        if calib is not None:
            windows = calib.windows(windows)
        with self._lock:
            if self._session is None:
                raise ModelError("the health model was closed", path=self.source)
            (z,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: self._norm.inputs(windows)})
        bpm = self._norm.outputs_to_bpm(np.asarray(z), windows)
        return bpm if calib is None else calib.correct(bpm, windows)

    def close(self) -> None:
        """Release the ONNX Runtime session; later predictions raise ModelError."""
        with self._lock:
            self._session = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
