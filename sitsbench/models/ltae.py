"""L-TAE: the Lightweight Temporal Attention Encoder.

Garnot & Landrieu (2020), "Lightweight Temporal Self-Attention for Classifying Satellite Images Time
Series", AALTD workshop (ECML-PKDD), arXiv:2007.00586. Compared with a Transformer, L-TAE

* replaces the per-date queries by one learned *master query* per head: each head produces a single
  attention distribution over the dates ("which dates matter"), not a ``T x T`` map;
* splits the channels into groups, one per head: each head averages only its own channel group over time
  with its attention weights, so heads specialise on different features with few parameters;
* adds a sinusoidal encoding of the day of year (period 1000) to the inputs.

The head outputs are concatenated and passed through an MLP. :class:`LTAE` is the encoder (also used by
PSE-TAE and U-TAE); :class:`LTAEClassifier` classifies pixel series with it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.layers import attention_mask, default_doy, doy_encoding
from sitsbench.models.registry import register_model


class LTAE(nn.Module):
    """``(B, T, C)`` -> ``(B, out_dim)`` features and ``(B, num_heads, T)`` attention weights."""

    def __init__(
        self,
        in_channels: int,
        d_model: int = 64,
        num_heads: int = 8,
        d_k: int = 8,
        out_dim: int = 64,
        dropout: float = 0.1,
        use_mask: bool = False,
        period: float = 1000.0,
    ):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of num_heads ({num_heads})")
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_k
        self.use_mask, self.period = use_mask, period
        self.in_proj = nn.Sequential(nn.Linear(in_channels, d_model), nn.LayerNorm(d_model))
        self.keys = nn.Linear(d_model, num_heads * d_k)
        self.query = nn.Parameter(torch.randn(num_heads, d_k) * math.sqrt(2.0 / d_k))
        self.attention_dropout = nn.Dropout(dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU(), nn.Dropout(dropout))
        self.out_norm = nn.LayerNorm(out_dim)
        self.out_dim = out_dim

    def forward(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, n_time, _ = x.shape
        # one encoding of size d_model / num_heads, repeated for every channel group
        position = doy_encoding(default_doy(x, doy), self.d_model // self.num_heads, self.period)
        values = self.in_proj(x) + position.repeat(1, 1, self.num_heads)
        keys = self.keys(values).view(batch, n_time, self.num_heads, self.d_k)
        scores = torch.einsum("bthk,hk->bht", keys, self.query) / math.sqrt(self.d_k)
        visible = attention_mask(mask, self.use_mask)
        if visible is not None:
            scores = scores.masked_fill(~visible[:, None, :], float("-inf"))
        attention = torch.softmax(scores, dim=-1)
        groups = values.view(batch, n_time, self.num_heads, self.d_model // self.num_heads)
        pooled = torch.einsum("bht,bthc->bhc", self.attention_dropout(attention), groups).reshape(batch, -1)
        return self.out_norm(self.mlp(pooled)), attention


class LTAEClassifier(SITSClassifier):
    """Pixel-series classifier: L-TAE features -> linear head."""

    def __init__(self, in_channels: int, num_classes: int, **ltae_kwargs):
        super().__init__()
        self.encoder = LTAE(in_channels, **ltae_kwargs)
        self.init_head(self.encoder.out_dim, num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.encoder(x, doy, mask)[0]

    def attention(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attention weights ``(B, num_heads, T)`` of each head over the dates."""
        return self.encoder(x, doy, mask)[1]


@register_model("ltae", input_kind="series", reads_doy=True)
def ltae(in_channels: int, num_classes: int, **kwargs) -> LTAEClassifier:
    """8 heads with keys of size 8, d_model 64, output 64 (Garnot & Landrieu use 16 heads, d_model 256)."""
    return LTAEClassifier(in_channels, num_classes, **kwargs)


@register_model("ltae_base", input_kind="series", reads_doy=True)
def ltae_base(in_channels: int, num_classes: int, **kwargs) -> LTAEClassifier:
    """The paper's size: 16 heads, keys of size 8, d_model 256, output 128."""
    return LTAEClassifier(in_channels, num_classes, **{"d_model": 256, "num_heads": 16, "out_dim": 128, **kwargs})
