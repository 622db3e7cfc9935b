"""The health networks: an LSTM over the window and a small head on its last state.

One class for both roles: the teacher (2 layers, hidden 96) and the student distilled from it
(1 layer, hidden 24). The head sees the LSTM's last hidden state and the last row of the window
itself, so the current values reach the output without passing through the recurrence. Its
last layer starts at zero: an untrained network forecasts persistence, and training learns a
correction to it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

TEACHER = {"hidden": 96, "layers": 2}
STUDENT = {"hidden": 24, "layers": 1}


class HealthLSTM(nn.Module):
    """(batch, time, features), normalised -> (batch, outputs), normalised changes from last HR."""

    def __init__(self, n_features: int, n_outputs: int, hidden: int = 24, layers: int = 1) -> None:
        super().__init__()
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.hidden = hidden
        self.layers = layers
        self.lstm = nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden + n_features, hidden),
            nn.Tanh(),
            nn.Linear(hidden, n_outputs),
        )
        nn.init.zeros_(self.head[2].weight)
        nn.init.zeros_(self.head[2].bias)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(window)
        return self.head(torch.cat([out[:, -1], window[:, -1]], dim=1))

    def config(self) -> dict[str, Any]:
        return {
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "hidden": self.hidden,
            "layers": self.layers,
        }

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def load_checkpoint(path: Any) -> tuple[HealthLSTM, dict[str, Any]]:
    """The network (in eval mode) and the whole checkpoint dict saved by train or distil."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    net = HealthLSTM(**ckpt["config"])
    net.load_state_dict(ckpt["state_dict"])
    net.eval()
    return net, ckpt
