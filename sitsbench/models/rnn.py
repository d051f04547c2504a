"""Recurrent baselines: LSTM and GRU over the dates of a series.

Rußwurm & Körner (2017), "Temporal Vegetation Modelling Using Long Short-Term Memory Networks for Crop
Identification from Medium-Resolution Multi-Spectral Satellite Images", CVPR workshops; GRU: Cho et al.
(2014). The series is read date by date; the features are the last hidden state of the top layer (both
directions concatenated when bidirectional), a summary of the whole season.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import register_model

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentClassifier(SITSClassifier):
    """``(B, T, C)`` -> LayerNorm -> LSTM/GRU -> last hidden state(s) -> head."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        cell: str = "lstm",
        hidden_dim: int = 64,
        num_layers: int = 2,
        bidirectional: bool = False,
        dropout: float = 0.2,
    ):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
        self.norm = nn.LayerNorm(in_channels)
        self.rnn = _CELLS[cell](
            in_channels,
            hidden_dim,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.directions = 2 if bidirectional else 1
        self.init_head(hidden_dim * self.directions, num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        _, hidden = self.rnn(self.norm(x))
        if isinstance(hidden, tuple):  # LSTM returns (h, c)
            hidden = hidden[0]
        return torch.cat(list(hidden[-self.directions :]), dim=-1)


@register_model("lstm", input_kind="series")
def lstm(in_channels: int, num_classes: int, **kwargs) -> RecurrentClassifier:
    """Two-layer LSTM, 64 hidden units."""
    return RecurrentClassifier(in_channels, num_classes, **{"cell": "lstm", **kwargs})


@register_model("gru", input_kind="series")
def gru(in_channels: int, num_classes: int, **kwargs) -> RecurrentClassifier:
    """Two-layer GRU, 64 hidden units."""
    return RecurrentClassifier(in_channels, num_classes, **{"cell": "gru", **kwargs})


@register_model("bilstm", input_kind="series")
def bilstm(in_channels: int, num_classes: int, **kwargs) -> RecurrentClassifier:
    """Two-layer bidirectional LSTM, 64 hidden units per direction."""
    return RecurrentClassifier(in_channels, num_classes, **{"cell": "lstm", "bidirectional": True, **kwargs})
