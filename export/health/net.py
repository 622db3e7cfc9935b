"""The health networks: an LSTM over the window and a small head on its last state.

One class for both roles: the teacher (2 layers, hidden 96) and the student distilled from it
(1 layer, hidden 24). The head sees the LSTM's last hidden state and the last row of the window
itself, so the current values reach the output without passing through the recurrence. Its
last layer starts at zero: an untrained network forecasts persistence, and training learns a
correction to it. Each role ships as a `HealthEnsemble` of a few such networks, one per seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from edge.health.features import FEATURE_NAMES, HORIZONS_S, Normalisation

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


class HealthEnsemble(nn.Module):
    """Several `HealthLSTM`s, each trained with its own seed, averaged in bpm: what ships.

    With the real recordings few, one network's figures hang on its seed, which also picks the
    real files it validates on (its best epoch and gains): in the effort cross-validation three
    seeds of one recipe scored 0.945, 0.966 and 0.981 x persistence at +60 s live; the mean of
    the three 0.947. Each member keeps its own normalisation; the ensemble takes windows
    normalised with the shared one (`shared_normalisation`: the first member's, gains 1), maps
    them to each member's inputs, applies each member's gains (by the window's plan) and anchor,
    and returns the mean in the shared output units. The runtime sees one graph and one
    normalisation, as with a single network.
    """

    def __init__(self, members: Sequence[tuple[HealthLSTM, Normalisation]]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        nets = [net for net, _ in members]
        norms = [norm for _, norm in members]
        first = nets[0]
        if any(n.config() != first.config() for n in nets):
            raise ValueError("ensemble members must have the same shape")
        self.members = nn.ModuleList(nets)
        self.n_features = first.n_features
        self.n_outputs = first.n_outputs
        self.hidden = first.hidden
        self.layers = first.layers
        shared = shared_normalisation(norms)
        self.normalisation = shared

        def vec(values: Sequence[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float32)

        mean_s, std_s = vec(shared.input_mean), vec(shared.input_std)
        out_mean_s, out_std_s = vec(shared.output_mean), vec(shared.output_std)
        horizons = len(HORIZONS_S)

        def reversion(norm: Normalisation) -> torch.Tensor:
            r = list(norm.reversion)[:horizons]
            return vec(r + [0.0] * (self.n_outputs - len(r)))

        self.register_buffer("in_mean", mean_s)
        self.register_buffer("in_std", std_s)
        self.register_buffer("in_scale", torch.stack([std_s / vec(n.input_std) for n in norms]))
        self.register_buffer(
            "in_shift",
            torch.stack([(mean_s - vec(n.input_mean)) / vec(n.input_std) for n in norms]),
        )
        self.register_buffer(
            "out_scale", torch.stack([vec(n.output_std) / out_std_s for n in norms])
        )
        self.register_buffer(
            "out_shift", torch.stack([(vec(n.output_mean) - out_mean_s) / out_std_s for n in norms])
        )
        self.register_buffer(
            "anchor_shift",
            torch.stack([(reversion(n) - reversion(shared)) / out_std_s for n in norms]),
        )
        self.register_buffer("gain_none", torch.stack([vec(n.output_gain) for n in norms]))
        self.register_buffer("gain_power", torch.stack([vec(n.output_gain_power) for n in norms]))
        self.register_buffer("gain_speed", torch.stack([vec(n.output_gain_speed) for n in norms]))
        col = {name: i for i, name in enumerate(FEATURE_NAMES)}
        self._plan_known = col["plan_known"]
        self._plan_power = col["plan_power"]
        self._kin_known = col["kin_known"]
        self._gap = col["hr_vs_recent"]

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        last = window[:, -1] * self.in_std + self.in_mean
        planned = (last[:, self._plan_known] > 0.5).float()[:, None]
        power = planned * (last[:, self._plan_power] > 0.5).float()[:, None]
        speed = planned - power
        # As `forecast_anchor`: the reversion applies where the anchor is not the kinetics one.
        reverting = 1.0 - power * (last[:, self._kin_known] > 0.5).float()[:, None]
        gap = last[:, self._gap][:, None] * reverting
        terms = []
        for k, net in enumerate(self.members):
            gain = (
                self.gain_none[k] * (1.0 - planned)
                + self.gain_power[k] * power
                + self.gain_speed[k] * speed
            )
            z = net(window * self.in_scale[k] + self.in_shift[k])
            terms.append(
                z * self.out_scale[k] * gain + self.out_shift[k] + self.anchor_shift[k] * gap
            )
        return torch.stack(terms).mean(dim=0)

    def config(self) -> dict[str, Any]:
        return self.members[0].config() | {"members": len(self.members)}

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def load_checkpoint(path: Any) -> tuple[HealthEnsemble, dict[str, Any]]:
    """The ensemble (in eval mode) and the whole checkpoint dict saved by train or distil."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "members" not in ckpt:
        raise ValueError(f"{path} is a checkpoint of an older export: run the export again")
    members = []
    for member in ckpt["members"]:
        net = HealthLSTM(**member["config"])
        net.load_state_dict(member["state_dict"])
        net.eval()
        members.append((net, Normalisation.from_json(member["normalisation"])))
    ensemble = HealthEnsemble(members)
    ensemble.eval()
    return ensemble, ckpt


def shared_normalisation(norms: Sequence[Normalisation]) -> Normalisation:
    """What the runtime applies around an ensemble: the first member's statistics and anchor,
    gains 1 (each member's gains are inside the graph)."""
    return norms[0].with_gain([1.0] * len(norms[0].output_names))
