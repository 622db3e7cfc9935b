"""Stage 2: train the health LSTM on the prepared windows (torch, seeded, CPU).

Input: ``windows.npz`` from prepare. Output: ``health_lstm.pt`` (weights, network config and the
normalisation as JSON; loads with ``torch.load(weights_only=True)``) and its meta. The
normalisation is fitted on the training split; the network learns the change from the window's
last heart rate, in normalised units, with a masked Huber loss. The epoch with the best
validation MAE is kept.
"""

from __future__ import annotations

import argparse
import copy
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from edge.health.features import FEATURE_NAMES, HR_INDEX, OUTPUT_NAMES, Normalisation
from export.health._stage import (
    CHECKPOINT_FILE,
    describe_input,
    mae_report,
    stopwatch,
    write_meta,
)
from export.health.net import DEFAULT_HIDDEN, HealthLSTM
from export.health.prepare import load_windows

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainSettings:
    epochs: int = 24
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    hidden: int = DEFAULT_HIDDEN
    #: torch intra-op threads; the export machine here has 2 cores.
    threads: int = 2


QUICK = TrainSettings(epochs=3)


def _deltas(x: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    delta = target - x[:, -1, HR_INDEX][:, None]
    return np.where(mask, delta, 0.0).astype(np.float32)


def predict_bpm(
    net: HealthLSTM, norm: Normalisation, x: np.ndarray, batch_size: int = 2048
) -> np.ndarray:
    """The torch network's forecasts in bpm for raw windows (N, W, F)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(norm.inputs(x[i : i + batch_size]))
            out.append(net(xb).numpy())
    z = np.concatenate(out) if out else np.zeros((0, len(OUTPUT_NAMES)), np.float32)
    return norm.outputs_to_bpm(z, x)


def train(
    windows_path: Path, out_dir: Path, *, seed: int = 0, settings: TrainSettings | None = None
) -> Path:
    """Train, write ``out_dir/health_lstm.pt`` and its meta; return the checkpoint path."""
    settings = settings or TrainSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / CHECKPOINT_FILE
    with stopwatch() as took:
        torch.manual_seed(seed)
        torch.set_num_threads(settings.threads)
        x_tr, t_tr, m_tr = load_windows(windows_path, "train")
        x_va, t_va, m_va = load_windows(windows_path, "val")
        d_tr = _deltas(x_tr, t_tr, m_tr)
        norm = Normalisation.fit(x_tr, d_tr, m_tr)
        xs = torch.from_numpy(norm.inputs(x_tr))
        ys = torch.from_numpy(norm.targets(d_tr))
        ms = torch.from_numpy(m_tr.astype(np.float32))

        net = HealthLSTM(len(FEATURE_NAMES), len(OUTPUT_NAMES), settings.hidden)
        opt = torch.optim.AdamW(
            net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        steps_per_epoch = max(1, -(-len(xs) // settings.batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=settings.learning_rate,
            total_steps=settings.epochs * steps_per_epoch,
            pct_start=0.15,
        )
        loss_fn = torch.nn.SmoothL1Loss(reduction="none", beta=1.0)
        gen = torch.Generator().manual_seed(seed)
        history: list[dict[str, float]] = []
        best: tuple[float, int, dict[str, torch.Tensor]] | None = None
        bar = tqdm(
            range(settings.epochs), desc="train health", unit="epoch", disable=None, leave=False
        )
        for epoch in bar:
            net.train()
            order = torch.randperm(len(xs), generator=gen)
            total, count = 0.0, 0.0
            for i in range(0, len(xs), settings.batch_size):
                idx = order[i : i + settings.batch_size]
                pred = net(xs[idx])
                w = ms[idx]
                loss = (loss_fn(pred, ys[idx]) * w).sum() / w.sum().clamp(min=1.0)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                sched.step()
                total += loss.item() * float(w.sum())
                count += float(w.sum())
            net.eval()
            val = mae_report(predict_bpm(net, norm, x_va), t_va, m_va, x_va)
            val_mae = float(np.mean([v["model_mae_bpm"] for v in val.values()]))
            history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": round(total / max(count, 1), 5),
                    "val_mean_mae_bpm": round(val_mae, 3),
                }
            )
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}", val_mae=f"{val_mae:.2f}")
            log.debug("epoch %d: %s", epoch + 1, history[-1])
            if best is None or val_mae < best[0]:
                best = (val_mae, epoch + 1, copy.deepcopy(net.state_dict()))
        bar.close()
        assert best is not None
        net.load_state_dict(best[2])
        net.eval()
        val = mae_report(predict_bpm(net, norm, x_va), t_va, m_va, x_va)
        torch.save(
            {
                "state_dict": net.state_dict(),
                "config": net.config(),
                "normalisation": norm.to_json(),
                "seed": seed,
                "best_epoch": best[1],
            },
            output,
        )
    n_params = sum(p.numel() for p in net.parameters())
    write_meta(
        output,
        stage="train",
        inputs={"windows": describe_input(windows_path)},
        seed=seed,
        settings=asdict(settings),
        sizes={"windows_train": len(x_tr), "windows_val": len(x_va), "parameters": n_params},
        metrics={"best_epoch": best[1], "val": val, "history": history},
        wall_s=took[0],
    )
    log.info("train: best epoch %d, val %s, %.1f s -> %s", best[1], val, took[0], output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=Path, required=True, help="windows.npz from prepare")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train(args.windows, args.out_dir, seed=args.seed, settings=QUICK if args.quick else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
