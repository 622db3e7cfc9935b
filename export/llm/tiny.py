"""A tiny llama-architecture model, made here from nothing, for tests and `--tiny` runs.

Two layers of width 64 with the SmolLM2 tokenizer (read from the packaged GGUF, no network), so
the whole export (fine-tune, GGUF conversion, quantisation, llama.cpp) runs in seconds on the same
code paths as the real model. Its words are nonsense: it proves the plumbing, not the coaching.
"""

from __future__ import annotations

from pathlib import Path

from export.llm.base import load_tokenizer

TINY_DIR = "tiny-base"


def build_tiny_base(
    work_dir: Path,
    *,
    seed: int = 0,
    tokenizer_source: Path | None = None,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 2,
) -> Path:
    """Write a randomly initialised tiny Llama and its tokenizer into ``work_dir/tiny-base``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(work_dir) / TINY_DIR
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    tokenizer = load_tokenizer(tokenizer_source)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=1024,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id
        if tokenizer.pad_token_id is not None
        else tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out
