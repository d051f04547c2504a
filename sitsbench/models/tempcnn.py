"""TempCNN: a 1D convolutional network over the time axis of a pixel series.

Pelletier, Webb & Petitjean (2019), "Temporal Convolutional Neural Network for the Classification of
Satellite Image Time Series", Remote Sensing 11(5):523. Three blocks ``Conv1d(kernel 5) + BatchNorm + ReLU +
Dropout`` keep the temporal resolution; their output is flattened (so the position of each feature in time
is kept: the network learns *when* things happen) and passed to a fully connected layer, then the
classifier. Flattening ties the network to one series length ``seq_len``.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import register_model


def _conv_block(in_channels: int, out_channels: int, kernel_size: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(),
        nn.Dropout(dropout),
    )


class TempCNN(SITSClassifier):
    """``(B, T, C)`` -> conv blocks -> flatten -> FC (``num_features``) -> head. ``T`` must equal ``seq_len``."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        seq_len: int = 36,
        width: int = 64,
        kernel_size: int = 5,
        fc_dim: int = 256,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.seq_len = seq_len
        self.convs = nn.Sequential(
            _conv_block(in_channels, width, kernel_size, dropout),
            _conv_block(width, width, kernel_size, dropout),
            _conv_block(width, width, kernel_size, dropout),
        )
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(width * seq_len, fc_dim), nn.BatchNorm1d(fc_dim), nn.ReLU(), nn.Dropout(dropout)
        )
        self.init_head(fc_dim, num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if x.shape[1] != self.seq_len:
            raise ValueError(f"TempCNN was built for series of {self.seq_len} dates, got {x.shape[1]} (seq_len=...)")
        return self.fc(self.convs(x.transpose(1, 2)))


@register_model("tempcnn", input_kind="series")
def tempcnn(in_channels: int, num_classes: int, **kwargs) -> TempCNN:
    """TempCNN as in Pelletier et al. (2019): 64 filters of size 5, FC 256, dropout 0.2."""
    return TempCNN(in_channels, num_classes, **kwargs)


@register_model("tempcnn_small", input_kind="series")
def tempcnn_small(in_channels: int, num_classes: int, **kwargs) -> TempCNN:
    """A narrower TempCNN for CPU runs: 32 filters, FC 64."""
    return TempCNN(in_channels, num_classes, **{"width": 32, "fc_dim": 64, **kwargs})
