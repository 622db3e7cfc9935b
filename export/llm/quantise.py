"""Stage 4, quantise: the F16 GGUF to the quantisation types compared, with llama.cpp's quantiser.

`llama_model_quantize` from llama-cpp-python's low-level API, the same code as llama.cpp's
``llama-quantize``. Q8_0 and Q4_K_M, plus Q4_0 and Q5_0 for comparison: SmolLM2's width (576) is
not a multiple of 256, so most tensors of a K-quant fall back to other types, and Q4_K_M buys
little on this model (see verify's table for size, speed and quality).
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

from edge.errors import ExportError
from edge.narrator.llm import check_gguf
from export.llm._stage import describe, stopwatch, write_meta

log = logging.getLogger(__name__)

#: llama.cpp's `llama_ftype` numbers of the types compared.
FTYPES = {"Q8_0": 7, "Q5_0": 8, "Q4_0": 2, "Q4_K_M": 15}
DEFAULT_QUANTS = ("Q8_0", "Q4_K_M", "Q5_0", "Q4_0")


def quant_path(f16: Path, quant: str) -> Path:
    return Path(f16).with_name(Path(f16).name.replace("-f16", f"-{quant}"))


def quantise(f16: Path, quant: str, *, threads: int = 0, seed: int = 0) -> Path:
    """Quantise `f16` to `quant` (a key of `FTYPES`) beside it; return the new file."""
    import llama_cpp

    if quant not in FTYPES:
        raise ExportError(f"unknown quantisation {quant!r}; known: {', '.join(FTYPES)}")
    check_gguf(f16)
    out = quant_path(f16, quant)
    # llama.cpp logs every tensor it quantises; keep its warnings and errors only.
    llama_log = logging.getLogger("llama-cpp-python")
    level = llama_log.level
    llama_log.setLevel(logging.WARNING)
    with stopwatch() as t:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = FTYPES[quant]
        params.nthread = threads or os.cpu_count() or 1
        params.allow_requantize = False
        try:
            status = llama_cpp.llama_model_quantize(
                str(f16).encode(), str(out).encode(), ctypes.byref(params)
            )
        finally:
            llama_log.setLevel(level)
    if status != 0 or not out.is_file():
        raise ExportError(f"llama.cpp could not quantise {f16} to {quant} (status {status})")
    write_meta(
        out,
        stage="quantise",
        inputs={"f16": describe(f16)},
        seed=seed,
        settings={"quant": quant, "ftype": FTYPES[quant]},
        sizes={"bytes": out.stat().st_size, "f16_bytes": f16.stat().st_size},
        metrics={"quantise_s": round(t[0], 2)},
        wall_s=t[0],
    )
    log.info("quantised to %s: %.1f MB in %.1f s", quant, out.stat().st_size / 1e6, t[0])
    return out
