"""Stage 2, finetune: teach the base model the coaching corpus; write an HF model folder.

What is trained. A full fine-tune of the top `train_layers` decoder layers and the final norm;
the embeddings (tied to the output layer) and the layers below stay as they were. Because the
lower layers are frozen, their output for an example never changes, so it is computed once
(`_bottom_states`) and the training passes run only the top layers: on two CPU cores that is
what makes a fine-tune of the 135M model take minutes instead of hours (measured: ~25 tokens/s
for a full fine-tune step, several times that for 8 of 30 layers on cached states). Merging is
copying the trained layers back into the full model. `train_layers` at or above the model's
depth is an ordinary full fine-tune (the tiny test model).

The loss is the reply's tokens only (and the end-of-turn token), never the prompt's. The
held-out split's teacher-forced loss is measured before and after, and recorded.
"""

from __future__ import annotations

import logging
import math
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.errors import ExportError
from export.llm._stage import stopwatch, write_meta
from export.llm.base import END_OF_TURN_TOKENS, BaseModel, load_base
from export.llm.corpus import HELDOUT_FILE, corpus_sha256, read_lines

log = logging.getLogger(__name__)

MODEL_DIR = "finetuned"


@dataclass(frozen=True, slots=True)
class FinetuneSettings:
    #: Decoder layers trained, counted from the top (the rest stay frozen).
    train_layers: int = 10
    epochs: int = 3
    batch_size: int = 8
    learning_rate: float = 3e-4
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
        raise ExportError("--device cuda: torch sees no CUDA GPU here (a CPU build of torch, "
                          "or no driver); use --device auto or cpu")
    return wanted


QUICK = FinetuneSettings(train_layers=99, epochs=1, batch_size=4, learning_rate=1e-3,
                         warmup_steps=0, max_examples=12, max_heldout=4)


class _Stop(Exception):
    pass


def encode(tokenizer: Any, line: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one corpus line: prompt as the chat template renders it for
    generation, then the reply and the end-of-turn token; labels -100 on the prompt."""
    prompt = tokenizer.apply_chat_template(line["messages"][:-1], add_generation_prompt=True,
                                           tokenize=True, return_dict=False)
    vocab = tokenizer.get_vocab()
    end = next((vocab[t] for t in END_OF_TURN_TOKENS if t in vocab), tokenizer.eos_token_id)
    reply = tokenizer.encode(line["reference"], add_special_tokens=False) + [end]
    return list(prompt) + reply, [-100] * len(prompt) + reply


def _bottom_states(model: Any, ids: list[list[int]], first_trained: int, batch: int,
                   desc: str, device: str = "cpu") -> list[Any]:
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
            for start in tqdm(range(0, len(order), batch), desc=desc, unit="batch",
                              leave=False):
                chunk = order[start:start + batch]
                width = max(len(ids[i]) for i in chunk)
                input_ids = torch.zeros((len(chunk), width), dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
                    mask[row, :len(ids[i])] = 1
                captured.clear()
                try:
                    model.model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                use_cache=False)
                except _Stop:
                    pass
                hidden = captured[0]
                for row, i in enumerate(chunk):
                    states[i] = hidden[row, :len(ids[i])].clone()
    finally:
        handle.remove()
    return states


def _top_model(model: Any, first_trained: int) -> Any:
    """A model of the top layers only, sharing their (trainable) parameters with `model`.

    Built on the meta device (no weights allocated), then given `model`'s own modules, so
    training it trains `model`: there is nothing to merge afterwards.
    """
    import copy

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
    left = [n for n, t in list(top.named_parameters()) + list(top.named_buffers())
            if t.device.type == "meta"]
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


def finetune(corpus_path: Path, work_dir: Path, *, base: Path | None = None, seed: int = 0,
             settings: FinetuneSettings | None = None, loaded: BaseModel | None = None) -> Path:
    """Fine-tune `base` (None: the packaged SmolLM2 GGUF) on the corpus; return the HF folder."""
    import torch
    from tqdm import tqdm

    settings = settings or FinetuneSettings()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    torch.set_num_threads(settings.threads or os.cpu_count() or 1)
    out = Path(work_dir) / MODEL_DIR
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
            train_lines = train_lines[:settings.max_examples]
        if settings.max_heldout:
            heldout_lines = heldout_lines[:settings.max_heldout]
        if not train_lines:
            raise ExportError(f"the corpus {corpus_path} is empty")
        train = [encode(tokenizer, x) for x in train_lines]
        held = [encode(tokenizer, x) for x in heldout_lines]
        depth = model.config.num_hidden_layers
        trained = min(settings.train_layers, depth)
        first = depth - trained
        for p in model.parameters():
            p.requires_grad_(False)
        params = [p for layer in list(model.model.layers)[first:] for p in layer.parameters()]
        params += list(model.model.norm.parameters())
        for p in params:
            p.requires_grad_(True)
        with stopwatch() as t_cache:
            train_states = _bottom_states(model, [x[0] for x in train], first, 16,
                                          "frozen layers (train)", device)
            held_states = _bottom_states(model, [x[0] for x in held], first, 16,
                                         "frozen layers (held-out)", device) if held else []
        top = _top_model(model, first)
        train_labels = [x[1] for x in train]
        held_labels = [x[1] for x in held]
        top.eval()
        held_before = _mean_loss(top, held_states, held_labels, 16)
        optimiser = torch.optim.AdamW(params, lr=settings.learning_rate,
                                      weight_decay=settings.weight_decay)
        order = sorted(range(len(train)), key=lambda i: len(train[i][0]))
        batches = [order[i:i + settings.batch_size]
                   for i in range(0, len(order), settings.batch_size)]
        steps = len(batches) * settings.epochs
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: _lr_factor(
            s, settings.warmup_steps, steps))
        losses: list[float] = []
        tokens = 0
        top.train()
        with stopwatch() as t_train:
            progress = tqdm(total=steps, desc="fine-tune", unit="step", leave=False)
            for _epoch in range(settings.epochs):
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
            progress.close()
        top.eval()
        held_after = _mean_loss(top, held_states, held_labels, 16)
        for p in model.parameters():
            p.requires_grad_(False)
        # The trained layers are the full model's own (shared), so it is merged already.
        model.to("cpu")
        model.config.use_cache = True
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
    digest = corpus_sha256(corpus_path, heldout_path) if heldout_path.exists() else ""
    record = {
        "base": loaded.info, "corpus": str(corpus_path), "corpus_sha256": digest,
    }
    sizes = {"train_examples": len(train), "heldout_examples": len(held),
             "train_tokens": sum(len(x[0]) for x in train),
             "reply_tokens": sum(sum(1 for y in x[1] if y != -100) for x in train),
             "layers": depth, "layers_trained": trained,
             "trained_parameters": sum(p.numel() for p in params), "steps": steps}
    metrics = {
        "heldout_loss_before": round(held_before, 4), "heldout_loss_after": round(held_after, 4),
        "first_losses": losses[:5], "last_losses": losses[-5:],
        "loss_curve": losses[:: max(1, len(losses) // 50)],
        "train_s": round(t_train[0], 1), "frozen_pass_s": round(t_cache[0], 1),
        "load_s": round(t_load[0], 1), "device": device,
        "train_tokens_per_s": round(tokens / max(t_train[0], 1e-9), 1),
    }
    write_meta(out / "config.json", stage="finetune", inputs=record, seed=seed,
               settings=asdict(settings), sizes=sizes, metrics=metrics, wall_s=total[0])
    log.info("fine-tune: %d steps in %.0f s, held-out loss %.3f -> %.3f", steps, t_train[0],
             held_before, held_after)
    return out


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.05, 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
