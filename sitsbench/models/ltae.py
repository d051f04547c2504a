"""L-TAE: the Lightweight Temporal Attention Encoder.

Garnot & Landrieu (2020), "Lightweight Temporal Self-Attention for Classifying Satellite Images Time
Series", AALTD workshop (ECML-PKDD), arXiv:2007.00586. Compared with a Transformer, L-TAE

* replaces the per-date queries by one learned *master query* per head: each head produces a single
  attention distribution over the dates ("which dates matter"), not a ``T x T`` map;
* splits the channels into groups, one per head: each head averages only its own channel group over time
  with its attention weights, so heads specialise on different features with few parameters;
* adds a sinusoidal encoding of the day of year (period 1000) to the inputs.

The head outputs are concatenated and passed through an MLP. :class:`LTAE` is the encoder (also used by
PSE-TAE); :class:`LTAEClassifier` classifies pixel series with it. :class:`LTAE2d` is the later variant of
utae-paps that U-TAE runs on every pixel.
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


@register_model("ltae", input_kind="series", date_encoding="doy")
def ltae(in_channels: int, num_classes: int, **kwargs) -> LTAEClassifier:
    """8 heads with keys of size 8, d_model 64, output 64 (Garnot & Landrieu use 16 heads, d_model 256)."""
    return LTAEClassifier(in_channels, num_classes, **kwargs)


@register_model("ltae_base", input_kind="series", date_encoding="doy")
def ltae_base(in_channels: int, num_classes: int, **kwargs) -> LTAEClassifier:
    """The paper's size: 16 heads, keys of size 8, d_model 256, output 128."""
    return LTAEClassifier(in_channels, num_classes, **{"d_model": 256, "num_heads": 16, "out_dim": 128, **kwargs})


class LTAE2d(nn.Module):
    """The L-TAE of U-TAE: ``(N, T, C)`` -> ``(N, out_dim)`` features and ``(N, num_heads, T)`` attention weights.

    Faithful to ``LTAE2d`` of utae-paps (``src/backbones/ltae.py``; Garnot & Landrieu 2021, ICCV), which U-TAE
    runs on every pixel of its lowest-resolution maps. It differs from :class:`LTAE`:

    * the input is normalised by a GroupNorm with one group per head, whose statistics run over the group's
      channels *and all the dates of the sequence* (padded dates included), then projected to ``d_model`` by a
      1x1 temporal convolution (no LayerNorm);
    * the output is normalised by a GroupNorm with one group per head;
    * the attention weights are dropped out (``attention_dropout``) before they average the values, and those
      dropped-out weights are also the ones returned (U-TAE's skip connections use them);
    * dates where ``keep`` is False (padding) get the score ``-1000`` instead of minus infinity, so a sequence
      with no kept date still has finite (uniform) weights.

    ``days`` ``(N, T)`` are the date positions fed to the sinusoidal encoding (period ``period``).
    """

    def __init__(
        self,
        in_channels: int = 128,
        d_model: int = 256,
        num_heads: int = 16,
        d_k: int = 4,
        out_dim: int = 128,
        dropout: float = 0.2,
        attention_dropout: float = 0.1,
        period: float = 1000.0,
    ):
        super().__init__()
        if d_model % num_heads or in_channels % num_heads or out_dim % num_heads:
            raise ValueError(f"in_channels ({in_channels}), d_model ({d_model}) and out_dim ({out_dim}) must be "
                             f"multiples of num_heads ({num_heads})")
        self.d_model, self.num_heads, self.d_k, self.period, self.out_dim = d_model, num_heads, d_k, period, out_dim
        self.in_norm = nn.GroupNorm(num_heads, in_channels)
        self.in_proj = nn.Conv1d(in_channels, d_model, 1)
        self.keys = nn.Linear(d_model, num_heads * d_k)
        nn.init.normal_(self.keys.weight, std=math.sqrt(2.0 / d_k))
        self.query = nn.Parameter(torch.randn(num_heads, d_k) * math.sqrt(2.0 / d_k))
        self.attention_dropout = nn.Dropout(attention_dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU(), nn.Dropout(dropout))
        self.out_norm = nn.GroupNorm(num_heads, out_dim)

    def forward(
        self, x: torch.Tensor, days: torch.Tensor | None = None, keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, n_time, _ = x.shape
        values = self.in_proj(self.in_norm(x.transpose(1, 2))).transpose(1, 2)
        position = doy_encoding(default_doy(x, days), self.d_model // self.num_heads, self.period)
        values = values + position.repeat(1, 1, self.num_heads)
        keys = self.keys(values).view(batch, n_time, self.num_heads, self.d_k)
        scores = torch.einsum("bthk,hk->bht", keys, self.query) / math.sqrt(self.d_k)
        if keep is not None:
            scores = scores.masked_fill(~keep[:, None, :], -1000.0)
        attention = self.attention_dropout(torch.softmax(scores, dim=-1))
        groups = values.view(batch, n_time, self.num_heads, self.d_model // self.num_heads)
        pooled = torch.einsum("bht,bthc->bhc", attention, groups).reshape(batch, -1)
        return self.out_norm(self.mlp(pooled)), attention
