"""TempCNN: a 1D convolutional network over the time axis of a pixel series.

Pelletier, Webb & Petitjean (2019), "Temporal Convolutional Neural Network for the Classification of
Satellite Image Time Series", Remote Sensing 11(5):523. Three blocks ``Conv1d + BatchNorm + ReLU + Dropout``
keep the temporal resolution; their output is flattened (so the position of each feature in time is kept: the
network learns *when* things happen) and passed to a fully connected block ``Linear + BatchNorm + ReLU +
Dropout``, then the classifier. Flattening ties the network to one series length ``seq_len``.

The layers are those of the PyTorch re-implementation in BreizhCrops (Rußwurm et al. 2020, "BreizhCrops: a
time series dataset for crop type mapping", ISPRS Archives XLIII-B2; ``breizhcrops/models/TempCNN.py`` of
``breizhcrops`` 0.0.4.1, github.com/dl4sits/BreizhCrops): each tensor of its state_dict has one counterpart
here, of the same shape (``tests/test_official_series_models.py``). The official model returns
log-probabilities, this one logits (their ``log_softmax`` is the official output).
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import TrainingRecipe, register_model

BREIZHCROPS_DROPOUT = 0.18203942949809093
"""Dropout of the BreizhCrops TempCNN (its default, found by its hyper-parameter search)."""
SITS_TEMPCNN_RECIPE = TrainingRecipe(epochs=150, patience=20, lr=5e-4, batch_size=64, weight_decay=1e-6,
                                     source="sits_tempcnn defaults (e-sensing/sits R/sits_tempcnn.R): 150 epochs, "
                                            "batch 64, AdamW lr 5e-4, weight decay 1e-6, patience 20")


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


@register_model("tempcnn", input_kind="series", fixed_length=True, recipe=SITS_TEMPCNN_RECIPE)
def tempcnn(in_channels: int, num_classes: int, **kwargs) -> TempCNN:
    """The reference configuration: the defaults of BreizhCrops' TempCNN (``breizhcrops/models/TempCNN.py``,
    0.0.4.1, the configuration of its pretrained model): 128 filters of size 7, a fully connected layer of
    4 x 128 = 512 units, dropout 0.182. At BreizhCrops' 13 bands, 45 dates (``seq_len=45``) and 9 classes it has
    3,197,449 parameters, as the official model; 2,610,580 at 10 bands, 36 dates (the default ``seq_len``) and
    20 classes."""
    return TempCNN(in_channels, num_classes, **{"width": 128, "kernel_size": 7, "fc_dim": 512,
                                                "dropout": BREIZHCROPS_DROPOUT, **kwargs})


@register_model("tempcnn_small", input_kind="series", fixed_length=True, recipe=SITS_TEMPCNN_RECIPE)
def tempcnn_small(in_channels: int, num_classes: int, **kwargs) -> TempCNN:
    """A smaller TempCNN for quick runs, with the layer sizes of Pelletier et al. (2019): 64 filters of size 5,
    FC 256, dropout 0.2 (640,468 parameters at 10 bands, 36 dates, 20 classes)."""
    return TempCNN(in_channels, num_classes, **kwargs)


@register_model("tempcnn_tiny", input_kind="series", fixed_length=True, recipe=SITS_TEMPCNN_RECIPE)
def tempcnn_tiny(in_channels: int, num_classes: int, **kwargs) -> TempCNN:
    """A narrow TempCNN for fast CPU runs: 32 filters of size 5, FC 64, dropout 0.2 (87,348 parameters at 10 bands,
    36 dates, 20 classes)."""
    return TempCNN(in_channels, num_classes, **{"width": 32, "fc_dim": 64, **kwargs})
