"""MLP: the fully connected baseline of time-series classification, on a pixel series flattened.

Wang, Yan & Oates (2017), "Time series classification from scratch with deep neural networks: a strong
baseline", IJCNN; the layers follow the Keras code of Ismail Fawaz et al. (2019), "Deep learning for time series
classification: a review", Data Mining and Knowledge Discovery 33 (``hfawaz/dl-4-tsc`` ``classifiers/mlp.py``,
commit e0233ef), which reproduces it: the series ``(T, C)`` is flattened (date-major), then three blocks
``Dropout -> Linear(500) -> ReLU`` (dropout 0.1, 0.2, 0.2) and a last dropout (0.3) before the classifier. The
``sits`` package ships the same baseline (``sits_mlp``, three layers of 512). Flattening ties the network to one
series length ``seq_len``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import TrainingRecipe, register_model

SITS_MLP_RECIPE = TrainingRecipe(epochs=100, patience=20, lr=1e-3, batch_size=64, weight_decay=1e-6,
                                 source="sits_mlp defaults (e-sensing/sits R/sits_mlp.R): 100 epochs, batch 64, "
                                        "AdamW lr 1e-3, weight decay 1e-6, patience 20")
"""Wang et al. train 5000 epochs with Adadelta; ``sits`` trains its MLP as here."""


class MLP(SITSClassifier):
    """``(B, T, C)`` -> flatten -> ``Dropout -> Linear -> ReLU`` per width of ``hidden`` (``dropout[i]`` before the
    ``i``-th linear layer) -> ``Dropout(dropout[-1])`` (``num_features = hidden[-1]``) -> head."""

    def __init__(self, in_channels: int, num_classes: int, seq_len: int = 36, hidden: Sequence[int] = (500, 500, 500),
                 dropout: Sequence[float] = (0.1, 0.2, 0.2, 0.3)):
        super().__init__()
        if len(dropout) != len(hidden) + 1:
            raise ValueError(f"dropout needs one rate per hidden layer plus one before the head ({len(hidden) + 1}), "
                             f"got {len(dropout)}")
        self.seq_len = seq_len
        widths = [in_channels * seq_len, *hidden]
        layers: list[nn.Module] = []
        for d_in, d_out, rate in zip(widths[:-1], widths[1:], dropout):
            layers += [nn.Dropout(rate), nn.Linear(d_in, d_out), nn.ReLU()]
        self.layers = nn.Sequential(*layers, nn.Dropout(dropout[-1]))
        self.init_head(widths[-1], num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if x.shape[1] != self.seq_len:
            raise ValueError(f"the MLP was built for series of {self.seq_len} dates, got {x.shape[1]} (seq_len=...)")
        return self.layers(x.flatten(1))


@register_model("mlp", input_kind="series", fixed_length=True, recipe=SITS_MLP_RECIPE)
def mlp(in_channels: int, num_classes: int, **kwargs) -> MLP:
    """The reference configuration of Wang et al. (2017) (dl-4-tsc ``mlp.py``): three layers of 500 units, dropout
    0.1, 0.2, 0.2 and 0.3: 691,520 parameters at 10 bands, 36 dates and 20 classes, the count of the official Keras
    model (dense layers with biases)."""
    return MLP(in_channels, num_classes, **kwargs)


@register_model("mlp_small", input_kind="series", fixed_length=True, recipe=SITS_MLP_RECIPE)
def mlp_small(in_channels: int, num_classes: int, **kwargs) -> MLP:
    """A narrow MLP for CPU runs: two layers of 128 units, dropout 0.1, 0.2 and 0.3 (65,300 parameters at 10 bands,
    36 dates and 20 classes)."""
    return MLP(in_channels, num_classes, **{"hidden": (128, 128), "dropout": (0.1, 0.2, 0.3), **kwargs})
