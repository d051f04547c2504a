"""Recurrent baselines: LSTM and GRU over the dates of a series.

Rußwurm & Körner (2017), "Temporal Vegetation Modelling Using Long Short-Term Memory Networks for Crop
Identification from Medium-Resolution Multi-Spectral Satellite Images", CVPR workshops; GRU: Cho et al.
(2014). The series is layer-normalised band-wise and read date by date; the features summarise the whole
season, read in one of two ways (``readout``):

* ``"last"``: the last hidden state of the top layer (both directions concatenated when bidirectional);
* ``"cells"``: the final cell states of every layer and direction, concatenated and layer-normalised, as the
  LSTM of BreizhCrops does (Rußwurm et al. 2020, "BreizhCrops: a time series dataset for crop type mapping",
  ISPRS Archives XLIII-B2; ``breizhcrops/models/LongShortTermMemory.py`` of ``breizhcrops`` 0.0.4.1,
  github.com/dl4sits/BreizhCrops). With that readout and ``bias=False`` each tensor of the official state_dict
  has one counterpart here, of the same shape (``tests/test_official_series_models.py``); the official model
  returns log-probabilities, this one logits.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import register_model

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
READOUTS = ("last", "cells")
BREIZHCROPS_DROPOUT = 0.5713020228087161
"""Dropout between the layers of the BreizhCrops LSTM (its default, found by its hyper-parameter search)."""


class RecurrentClassifier(SITSClassifier):
    """``(B, T, C)`` -> LayerNorm -> LSTM/GRU -> last hidden state(s) or all cell states -> head."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        cell: str = "lstm",
        hidden_dim: int = 64,
        num_layers: int = 2,
        bidirectional: bool = False,
        dropout: float = 0.2,
        bias: bool = True,
        readout: str = "last",
    ):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if readout == "cells" and cell != "lstm":
            raise ValueError("readout='cells' reads the cell states of an LSTM; a GRU has none")
        self.norm = nn.LayerNorm(in_channels)
        self.rnn = _CELLS[cell](
            in_channels,
            hidden_dim,
            num_layers=num_layers,
            bias=bias,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.directions = 2 if bidirectional else 1
        self.readout = readout
        if readout == "cells":
            self.state_norm = nn.LayerNorm(hidden_dim * self.directions * num_layers)
            self.init_head(hidden_dim * self.directions * num_layers, num_classes)
        else:
            self.init_head(hidden_dim * self.directions, num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        _, hidden = self.rnn(self.norm(x))
        if self.readout == "cells":  # (layers x directions, B, H), layer-major -> (B, layers x directions x H)
            cells = hidden[1]
            return self.state_norm(cells.transpose(0, 1).reshape(x.shape[0], -1))
        if isinstance(hidden, tuple):  # LSTM returns (h, c)
            hidden = hidden[0]
        return torch.cat(list(hidden[-self.directions :]), dim=-1)


@register_model("lstm", input_kind="series")
def lstm(in_channels: int, num_classes: int, **kwargs) -> RecurrentClassifier:
    """The reference configuration: the defaults of BreizhCrops' LSTM (``breizhcrops/models/LongShortTermMemory.py``,
    0.0.4.1, the configuration of its pretrained model): 4 bidirectional layers of 128 units without biases,
    dropout 0.571 between layers, the cell states of all layers read out (1,024 features). 1,335,331 parameters at
    BreizhCrops' 13 bands and 9 classes, as the official model; 1,343,528 at 10 bands and 20 classes. BreizhCrops
    has no GRU and its LSTM is bidirectional, so there is no reference ``gru`` or ``bilstm`` entry: see
    ``lstm_small``, ``bilstm_small``, ``gru_small``."""
    return RecurrentClassifier(in_channels, num_classes, **{"cell": "lstm", "hidden_dim": 128, "num_layers": 4,
                                                            "bidirectional": True, "dropout": BREIZHCROPS_DROPOUT,
                                                            "bias": False, "readout": "cells", **kwargs})


@register_model("lstm_small", input_kind="series")
def lstm_small(in_channels: int, num_classes: int, **kwargs) -> RecurrentClassifier:
    """A small LSTM for quick runs (sitsbench's own size, no published configuration): two unidirectional layers
    of 64 units, dropout 0.2, the last hidden state read out (54,056 parameters at 10 bands and 20 classes)."""
    return RecurrentClassifier(in_channels, num_classes, **{"cell": "lstm", **kwargs})


@register_model("bilstm_small", input_kind="series")
def bilstm_small(in_channels: int, num_classes: int, **kwargs) -> RecurrentClassifier:
    """``lstm_small`` read in both directions, for quick runs: two bidirectional layers of 64 units per direction
    (140,840 parameters at 10 bands and 20 classes)."""
    return RecurrentClassifier(in_channels, num_classes, **{"cell": "lstm", "bidirectional": True, **kwargs})


@register_model("gru_small", input_kind="series")
def gru_small(in_channels: int, num_classes: int, **kwargs) -> RecurrentClassifier:
    """``lstm_small`` with GRU cells (Cho et al. 2014), for quick runs: two layers of 64 units (40,872 parameters
    at 10 bands and 20 classes). No reference configuration exists for a GRU crop classifier in BreizhCrops."""
    return RecurrentClassifier(in_channels, num_classes, **{"cell": "gru", **kwargs})
