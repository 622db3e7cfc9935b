"""The health network: one small LSTM over the window, a small head on its last state."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

DEFAULT_HIDDEN = 32


class HealthLSTM(nn.Module):
    """(batch, time, features), normalised -> (batch, outputs), normalised changes from last HR.

    The head sees the LSTM's last hidden state and the last row of the window itself, so the
    current values reach the output without having to pass through the recurrence.
    """

    def __init__(self, n_features: int, n_outputs: int, hidden: int = DEFAULT_HIDDEN) -> None:
        super().__init__()
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.hidden = hidden
        self.lstm = nn.LSTM(n_features, hidden, num_layers=1, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden + n_features, hidden),
            nn.Tanh(),
            nn.Linear(hidden, n_outputs),
        )

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(window)
        return self.head(torch.cat([out[:, -1], window[:, -1]], dim=1))

    def config(self) -> dict[str, Any]:
        return {"n_features": self.n_features, "n_outputs": self.n_outputs, "hidden": self.hidden}


def load_checkpoint(path: Any) -> tuple[HealthLSTM, dict[str, Any]]:
    """The network (in eval mode) and the whole checkpoint dict saved by the train stage."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    net = HealthLSTM(**ckpt["config"])
    net.load_state_dict(ckpt["state_dict"])
    net.eval()
    return net, ckpt
