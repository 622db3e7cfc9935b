"""Stage 2, finetune: teach the base model the coaching corpus; write a LoRA adapter (peft) or
an HF model folder.

What is trained. By default (`method="lora"`) low-rank adapters (peft) on every linear layer
named in `lora_targets` of the top `train_layers` decoder layers; every base weight stays as it
was, so the adapter is a few MB that llama.cpp applies on top of the very GGUF the device already
has. `method="full"` is the older full fine-tune of the same top layers and the final norm.
Either way the layers below are frozen, their output for an example never changes, so it is
computed once (`_bottom_states`) and the training passes run only the top layers: on two CPU
cores that is what makes a fine-tune of the 135M model take minutes instead of hours (measured:
~25 tokens/s for a full fine-tune step, several times that for 8 of 30 layers on cached states).
`train_layers` at or above the model's depth trains every layer (the tiny test model).

Outputs: ``adapter/`` (peft's adapter_config.json and adapter_model.safetensors) with
``base-config/`` (the base's config and tokenizer, what llama.cpp's `convert_lora_to_gguf.py`
needs), and, for `method="full"` or with `merged=True`, ``finetuned/`` (the whole model, the
adapter merged in) for the quantised full-model path.

The loss is the reply's tokens only (and the end-of-turn token), never the prompt's. The
held-out split's teacher-forced loss is measured before and after, and recorded.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.errors import ExportError
from export.llm._stage import stopwatch, write_meta
from export.llm.base import END_OF_TURN_TOKENS, BaseModel, load_base
from export.llm.corpus import HELDOUT_FILE, corpus_sha256, read_lines

log = logging.getLogger(__name__)

MODEL_DIR = "finetuned"
ADAPTER_DIR = "adapter"
BASE_CONFIG_DIR = "base-config"
#: Every linear layer of a Llama decoder layer: attention and MLP.
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
METHODS = ("lora", "full")


@dataclass(frozen=True, slots=True)
class FinetuneSettings:
    #: "lora": low-rank adapters on the top layers' linear layers; "full": the top layers' own
    #: weights (the pre-adapter export).
    method: str = "lora"
    #: Decoder layers trained, counted from the top (the rest stay frozen).
    train_layers: int = 10
    #: LoRA rank and scale (alpha / rank multiplies the adapter's output), the linear layers
    #: adapted, and dropout on the adapter's input. Chosen with `bench/lora_sweep.py` (400
    #: examples, 2 epochs, held-out loss): rank 32 beat 16 (0.91 vs 1.03 at lr 1e-3), the MLP
    #: matters (attention only: 1.63), 10 top layers beat 6 (1.30), lr 2e-3 beat 1e-3 (0.85 vs
    #: 1.03 at rank 16). The model card has the table.
    lora_rank: int = 32
    lora_alpha: int = 64
    lora_targets: tuple[str, ...] = ALL_LINEAR
    lora_dropout: float = 0.0
    #: Also write the whole model with the adapter merged in (``finetuned/``), for the
    #: quantised full-model option.
    merged: bool = False
    epochs: int = 3
    batch_size: int = 8
    learning_rate: float = 2e-3
    warmup_steps: int = 10
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    #: Training examples used (0: all), held-out examples scored (0: all).
    max_examples: int = 0
    max_heldout: int = 0
    #: torch threads (0: all cores). One by default: on a machine shared with other work
    #: (here: 2 cores, other tests running) one thread trained 2-4x faster than two, because
    #: every small op waits for the descheduled second thread (measured 135-267 tokens/s with 2
    #: threads against 490-550 with 1, 6 layers, batch 4-16).
    threads: int = 1
    #: "auto": a CUDA GPU when torch sees one (a lent GPU box), else the CPU; or "cpu", "cuda".
    device: str = "auto"


def pick_device(wanted: str) -> str:
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ExportError(
            "--device cuda: torch sees no CUDA GPU here (a CPU build of torch, "
            "or no driver); use --device auto or cpu"
        )
    return wanted


QUICK = FinetuneSettings(
    train_layers=99,
    epochs=1,
    batch_size=4,
    learning_rate=1e-3,
    warmup_steps=0,
    max_examples=12,
    max_heldout=4,
)
#: The pre-adapter export: a full fine-tune of the top 10 layers (its figures are in the card).
FULL = FinetuneSettings(method="full", learning_rate=3e-4)


class _Stop(Exception):
    pass


def encode(tokenizer: Any, line: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one corpus line: prompt as the chat template renders it for
    generation, then the reply and the end-of-turn token; labels -100 on the prompt."""
    prompt = tokenizer.apply_chat_template(
        line["messages"][:-1], add_generation_prompt=True, tokenize=True, return_dict=False
    )
    vocab = tokenizer.get_vocab()
    end = next((vocab[t] for t in END_OF_TURN_TOKENS if t in vocab), tokenizer.eos_token_id)
    reply = tokenizer.encode(line["reference"], add_special_tokens=False) + [end]
    return list(prompt) + reply, [-100] * len(prompt) + reply


def _bottom_states(
    model: Any, ids: list[list[int]], first_trained: int, batch: int, desc: str, device: str = "cpu"
) -> list[Any]:
    """The input of layer `first_trained` for every example (frozen layers run once)."""
    import torch
    from tqdm import tqdm

    layers = model.model.layers
    captured: list[Any] = []

    def grab(module: Any, args: tuple, kwargs: dict) -> None:
        captured.append(args[0] if args else kwargs["hidden_states"])
        raise _Stop

    if first_trained >= len(layers):
        raise ExportError("train_layers must be at least 1")
    handle = layers[first_trained].register_forward_pre_hook(grab, with_kwargs=True)
    states: list[Any] = [None] * len(ids)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    try:
        with torch.inference_mode():
            for start in tqdm(range(0, len(order), batch), desc=desc, unit="batch", leave=False):
                chunk = order[start : start + batch]
                width = max(len(ids[i]) for i in chunk)
                input_ids = torch.zeros((len(chunk), width), dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                captured.clear()
                try:
                    model.model(
                        input_ids=input_ids.to(device),
                        attention_mask=mask.to(device),
                        use_cache=False,
                    )
                except _Stop:
                    pass
                hidden = captured[0]
                for row, i in enumerate(chunk):
                    states[i] = hidden[row, : len(ids[i])].clone()
    finally:
        handle.remove()
    return states


def _top_model(model: Any, first_trained: int) -> Any:
    """A model of the top layers only, sharing their (trainable) parameters with `model`.

    Built on the meta device (no weights allocated), then given `model`'s own modules, so
    training it trains `model`: there is nothing to merge afterwards.
    """
    import torch

    config = copy.deepcopy(model.config)
    config.num_hidden_layers = model.config.num_hidden_layers - first_trained
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = config.layer_types[first_trained:]
    with torch.device("meta"):
        top = type(model)(config)
    top.model.embed_tokens = model.model.embed_tokens
    top.model.layers = torch.nn.ModuleList(list(model.model.layers)[first_trained:])
    top.model.norm = model.model.norm
    top.model.rotary_emb = model.model.rotary_emb
    top.lm_head = model.lm_head
    left = [
        n
        for n, t in list(top.named_parameters()) + list(top.named_buffers())
        if t.device.type == "meta"
    ]
    if left:
        raise ExportError(f"cannot train the top layers of this architecture alone: {left[:3]}")
    return top


def _batch_loss(top: Any, states: list[Any], labels: list[list[int]], chunk: list[int]) -> Any:
    import torch

    width = max(states[i].shape[0] for i in chunk)
    device = states[chunk[0]].device
    hidden = torch.zeros((len(chunk), width, states[chunk[0]].shape[1]), device=device)
    mask = torch.zeros((len(chunk), width), dtype=torch.long, device=device)
    target = torch.full((len(chunk), width), -100, dtype=torch.long, device=device)
    for row, i in enumerate(chunk):
        n = states[i].shape[0]
        hidden[row, :n] = states[i]
        mask[row, :n] = 1
        target[row, :n] = torch.tensor(labels[i], device=device)
    out = top.model(inputs_embeds=hidden, attention_mask=mask, use_cache=False)
    last = out.last_hidden_state[:, :-1]
    wanted = target[:, 1:]
    keep = wanted != -100
    logits = top.lm_head(last[keep])  # only where a reply token is predicted
    return torch.nn.functional.cross_entropy(logits.float(), wanted[keep])


def _mean_loss(top: Any, states: list[Any], labels: list[list[int]], batch: int) -> float:
    import torch

    if not states:
        return float("nan")
    total = count = 0.0
    with torch.inference_mode():
        for start in range(0, len(states), batch):
            chunk = list(range(start, min(len(states), start + batch)))
            n = sum(sum(1 for x in labels[i][1:] if x != -100) for i in chunk)
            total += float(_batch_loss(top, states, labels, chunk)) * n
            count += n
    return total / max(count, 1)


def finetune(
    corpus_path: Path,
    work_dir: Path,
    *,
    base: Path | None = None,
    seed: int = 0,
    settings: FinetuneSettings | None = None,
    loaded: BaseModel | None = None,
    states_cache: dict[tuple[int, str], list[Any]] | None = None,
) -> Path:
    """Fine-tune `base` (None: the packaged SmolLM2 GGUF) on the corpus.

    `states_cache` keeps the frozen layers' outputs between runs on the same base and corpus
    (`bench/lora_sweep.py` compares settings that way).

    Returns the adapter folder (``adapter/``) for `method="lora"`, the HF model folder
    (``finetuned/``) for `method="full"`; `finetune_output` names the file whose metadata
    records the run.
    """
    import torch
    from tqdm import tqdm

    settings = settings or FinetuneSettings()
    if settings.method not in METHODS:
        raise ExportError(
            f"unknown fine-tune method {settings.method!r}; known: {', '.join(METHODS)}"
        )
    torch.manual_seed(seed)
    rng = random.Random(seed)
    torch.set_num_threads(settings.threads or os.cpu_count() or 1)
    work_dir = Path(work_dir)
    heldout_path = Path(corpus_path).with_name(HELDOUT_FILE)
    with stopwatch() as total:
        with stopwatch() as t_load:
            loaded = loaded or load_base(base)
        model, tokenizer = loaded.model, loaded.tokenizer
        device = pick_device(settings.device)
        model.to(device)
        train_lines = read_lines(corpus_path)
        heldout_lines = read_lines(heldout_path) if heldout_path.exists() else []
        if settings.max_examples:
            train_lines = train_lines[: settings.max_examples]
        if settings.max_heldout:
            heldout_lines = heldout_lines[: settings.max_heldout]
        if not train_lines:
            raise ExportError(f"the corpus {corpus_path} is empty")
        train = [encode(tokenizer, x) for x in train_lines]
        held = [encode(tokenizer, x) for x in heldout_lines]
        depth = model.config.num_hidden_layers
        trained = min(settings.train_layers, depth)
        first = depth - trained
        for p in model.parameters():
            p.requires_grad_(False)
        cache = states_cache if states_cache is not None else {}
        with stopwatch() as t_cache:
            if (first, "train") not in cache:
                cache[first, "train"] = _bottom_states(
                    model, [x[0] for x in train], first, 16, "frozen layers (train)", device
                )
                cache[first, "held"] = (
                    _bottom_states(
                        model, [x[0] for x in held], first, 16, "frozen layers (held-out)", device
                    )
                    if held
                    else []
                )
            train_states, held_states = cache[first, "train"], cache[first, "held"]
        peft_model = None
        if settings.method == "lora":
            # Injected in place: `model`'s own top layers now hold the adapters.
            peft_model = add_adapters(model, settings, list(range(first, depth)))
            params = [p for p in model.parameters() if p.requires_grad]
        else:
            params = [p for layer in list(model.model.layers)[first:] for p in layer.parameters()]
            params += list(model.model.norm.parameters())
            for p in params:
                p.requires_grad_(True)
        top = _top_model(model, first)
        train_labels = [x[1] for x in train]
        held_labels = [x[1] for x in held]
        top.eval()
        held_before = _mean_loss(top, held_states, held_labels, 16)
        optimiser = torch.optim.AdamW(
            params, lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        order = sorted(range(len(train)), key=lambda i: len(train[i][0]))
        batches = [
            order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)
        ]
        steps = len(batches) * settings.epochs
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda s: _lr_factor(s, settings.warmup_steps, steps)
        )
        losses: list[float] = []
        held_by_epoch: list[float] = []
        tokens = 0
        with stopwatch() as t_train:
            progress = tqdm(
                total=steps, desc=f"fine-tune ({settings.method})", unit="step", leave=False
            )
            for _epoch in range(settings.epochs):
                top.train()
                rng.shuffle(batches)
                for chunk in batches:
                    loss = _batch_loss(top, train_states, train_labels, chunk)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
                    optimiser.step()
                    schedule.step()
                    optimiser.zero_grad(set_to_none=True)
                    losses.append(round(float(loss.detach()), 4))
                    tokens += sum(train_states[i].shape[0] for i in chunk)
                    progress.update(1)
                    progress.set_postfix(loss=f"{losses[-1]:.3f}")
                if settings.epochs > 1 and _epoch < settings.epochs - 1:
                    top.eval()
                    held_by_epoch.append(round(_mean_loss(top, held_states, held_labels, 16), 4))
            progress.close()
        top.eval()
        held_after = _mean_loss(top, held_states, held_labels, 16)
        held_by_epoch.append(round(held_after, 4))
        for p in model.parameters():
            p.requires_grad_(False)
        model.to("cpu")
        model.config.use_cache = True
        outputs: dict[str, str] = {}
        if peft_model is not None:
            adapter = work_dir / ADAPTER_DIR
            adapter.mkdir(parents=True, exist_ok=True)
            peft_model.save_pretrained(str(adapter), safe_serialization=True)
            base_config = work_dir / BASE_CONFIG_DIR
            base_config.mkdir(parents=True, exist_ok=True)
            # The base's own hyper-parameters, all llama.cpp's converter reads (no weights);
            # it picks its model class by `architectures`, which a model made from a GGUF's
            # config does not have.
            base_model = peft_model.get_base_model()
            config = copy.deepcopy(base_model.config)
            config.architectures = [type(base_model).__name__]
            config.save_pretrained(str(base_config))
            tokenizer.save_pretrained(str(base_config))
            outputs |= {"adapter": str(adapter), "base_config": str(base_config)}
            if settings.merged:
                model = peft_model.merge_and_unload()
        if peft_model is None or settings.merged:
            # The trained layers are the full model's own (shared), or merged just above.
            merged_dir = work_dir / MODEL_DIR
            merged_dir.mkdir(parents=True, exist_ok=True)
            model.save_pretrained(str(merged_dir), safe_serialization=True)
            tokenizer.save_pretrained(str(merged_dir))
            outputs["merged"] = str(merged_dir)
    digest = corpus_sha256(corpus_path, heldout_path) if heldout_path.exists() else ""
    record = {
        "base": loaded.info,
        "corpus": str(corpus_path),
        "corpus_sha256": digest,
    }
    sizes = {
        "train_examples": len(train),
        "heldout_examples": len(held),
        "train_tokens": sum(len(x[0]) for x in train),
        "reply_tokens": sum(sum(1 for y in x[1] if y != -100) for x in train),
        "layers": depth,
        "layers_trained": trained,
        "trained_parameters": sum(p.numel() for p in params),
        "steps": steps,
    }
    metrics = {
        "heldout_loss_before": round(held_before, 4),
        "heldout_loss_after": round(held_after, 4),
        "heldout_loss_by_epoch": held_by_epoch,
        "first_losses": losses[:5],
        "last_losses": losses[-5:],
        "loss_curve": losses[:: max(1, len(losses) // 50)],
        "train_s": round(t_train[0], 1),
        "frozen_pass_s": round(t_cache[0], 1),
        "load_s": round(t_load[0], 1),
        "device": device,
        "train_tokens_per_s": round(tokens / max(t_train[0], 1e-9), 1),
    }
    meta_settings = asdict(settings)
    meta_settings["lora_targets"] = list(settings.lora_targets)
    main = Path(outputs.get("adapter") or outputs["merged"])
    for key in ("adapter", "merged"):
        if key in outputs:
            write_meta(
                finetune_output(Path(outputs[key])),
                stage="finetune",
                inputs=record,
                seed=seed,
                settings=meta_settings,
                sizes=sizes,
                metrics=metrics,
                wall_s=total[0],
            )
    log.info(
        "fine-tune (%s): %d steps in %.0f s, held-out loss %.3f -> %.3f",
        settings.method,
        steps,
        t_train[0],
        held_before,
        held_after,
    )
    return main


def finetune_output(folder: Path) -> Path:
    """The file of a fine-tune's output folder that its metadata is written beside."""
    adapter = Path(folder) / "adapter_config.json"
    return adapter if adapter.exists() else Path(folder) / "config.json"


def add_adapters(model: Any, settings: FinetuneSettings, layers: list[int]) -> Any:
    """Wrap `model` with peft LoRA adapters on `settings.lora_targets` of `layers` only."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ExportError("the LoRA fine-tune needs peft: pip install -e '.[export]'") from exc
    config = LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        bias="none",
        target_modules=list(settings.lora_targets),
        layers_to_transform=layers,
        layers_pattern="layers",
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft asks transformers a deprecated question (`is_gradient_checkpointing`).
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
        return get_peft_model(model, config)


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.05, 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
