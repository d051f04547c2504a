"""Transformer encoder over the dates of a series (Vaswani et al. 2017, "Attention is all you need").

Each date is embedded by a linear layer, a stack of self-attention layers lets every date look at every other,
a LayerNorm follows the stack, and the dates are max-pooled into one feature vector. Two layouts:

* the reference (``transformer``), the TransformerModel of BreizhCrops (Rußwurm et al. 2020, "BreizhCrops: a
  time series dataset for crop type mapping", ISPRS Archives XLIII-B2; ``breizhcrops/models/TransformerModel.py``
  of ``breizhcrops`` 0.0.4.1, github.com/dl4sits/BreizhCrops; self-attention on raw Sentinel-2 series is
  studied in Rußwurm & Körner 2020, ISPRS J. 169:421-435): a ReLU after the embedding and after the pooling,
  post-norm layers (``norm_first=False``) and no positional encoding (``encode_dates=False``): the model sees the
  set of observations, not their order or dates. Each tensor of the official state_dict has one counterpart here,
  of the same shape (``tests/test_official_series_models.py``); the official model returns log-probabilities,
  this one logits;
* the small variants (sitsbench's own layout): pre-norm layers, and the sinusoidal encoding of each date's day of
  year added to its embedding (as L-TAE encodes dates), so that irregular series share one time axis.

With ``use_mask=True`` cloudy dates are hidden from attention and pooling (key padding), otherwise the
gap-filled values are used.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.layers import attention_mask, default_doy, doy_encoding
from sitsbench.models.registry import register_model

BREIZHCROPS_DROPOUT = 0.017998950510888446
"""Dropout of the BreizhCrops TransformerModel (its default, found by its hyper-parameter search)."""


class TransformerClassifier(SITSClassifier):
    """``(B, T, C)`` -> Linear (+ ReLU) (+ DOY encoding) -> Transformer layers -> LayerNorm -> max over dates
    (+ ReLU) -> head."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        d_model: int = 64,
        num_heads: int = 4,
        num_layers: int = 3,
        ff_dim: int = 128,
        dropout: float = 0.1,
        use_mask: bool = False,
        norm_first: bool = True,
        encode_dates: bool = True,
        relu: bool = False,
    ):
        super().__init__()
        self.d_model, self.use_mask, self.encode_dates, self.relu = d_model, use_mask, encode_dates, relu
        self.embed = nn.Linear(in_channels, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, ff_dim, dropout=dropout, batch_first=True, norm_first=norm_first
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.init_head(d_model, num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        tokens = self.embed(x)
        if self.relu:
            tokens = tokens.relu()
        if self.encode_dates:
            tokens = tokens + doy_encoding(default_doy(x, doy), self.d_model)
        visible = attention_mask(mask, self.use_mask)
        padding = None if visible is None else ~visible
        tokens = self.norm(self.encoder(tokens, src_key_padding_mask=padding))
        if visible is not None:
            tokens = tokens.masked_fill(~visible[..., None], float("-inf"))
        pooled = tokens.max(dim=1).values
        return pooled.relu() if self.relu else pooled


@register_model("transformer", input_kind="series", date_encoding="position")
def transformer(in_channels: int, num_classes: int, **kwargs) -> TransformerClassifier:
    """The reference configuration: the defaults of BreizhCrops' TransformerModel (the configuration of its
    pretrained model): 5 post-norm layers, 2 heads, d_model 64, feed-forward 128, dropout 0.018, ReLUs after the
    embedding and the pooling, no positional encoding (so no dates are read). 168,969 parameters at BreizhCrops'
    13 bands and 9 classes, as the official model; 169,492 at 10 bands and 20 classes."""
    return TransformerClassifier(in_channels, num_classes, **{"d_model": 64, "num_heads": 2, "num_layers": 5,
                                                              "ff_dim": 128, "dropout": BREIZHCROPS_DROPOUT,
                                                              "norm_first": False, "encode_dates": False,
                                                              "relu": True, **kwargs})


@register_model("transformer_small", input_kind="series", date_encoding="doy")
def transformer_small(in_channels: int, num_classes: int, **kwargs) -> TransformerClassifier:
    """A smaller transformer for quick runs, in sitsbench's layout (pre-norm, day-of-year encoding): 3 layers,
    4 heads, d_model 64, feed-forward 128, dropout 0.1 (102,548 parameters at 10 bands and 20 classes)."""
    return TransformerClassifier(in_channels, num_classes, **kwargs)


@register_model("transformer_tiny", input_kind="series", date_encoding="doy")
def transformer_tiny(in_channels: int, num_classes: int, **kwargs) -> TransformerClassifier:
    """A tiny transformer for fast CPU runs, in sitsbench's layout: 1 layer, 2 heads, d_model 32, feed-forward 64
    (9,620 parameters at 10 bands and 20 classes)."""
    return TransformerClassifier(in_channels, num_classes, **{"d_model": 32, "num_heads": 2, "num_layers": 1,
                                                              "ff_dim": 64, **kwargs})
