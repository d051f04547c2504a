"""Transformer encoder over the dates of a series, positions given by the day of year.

Rußwurm & Körner (2020), "Self-attention for raw optical Satellite Time Series Classification", ISPRS J.
169:421-435, after Vaswani et al. (2017), "Attention is all you need". Each date is embedded by a linear
layer, the sinusoidal encoding of its day of year is added, a stack of self-attention layers lets every date
look at every other, and the dates are max-pooled into one feature vector. With ``use_mask=True`` cloudy
dates are hidden from attention and pooling (key padding), otherwise the gap-filled values are used.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.layers import attention_mask, default_doy, doy_encoding
from sitsbench.models.registry import register_model


class TransformerClassifier(SITSClassifier):
    """``(B, T, C)`` -> Linear + DOY encoding -> pre-norm Transformer layers -> max over dates -> head."""

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
    ):
        super().__init__()
        self.d_model, self.use_mask = d_model, use_mask
        self.embed = nn.Linear(in_channels, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, ff_dim, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.init_head(d_model, num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        tokens = self.embed(x) + doy_encoding(default_doy(x, doy), self.d_model)
        visible = attention_mask(mask, self.use_mask)
        padding = None if visible is None else ~visible
        tokens = self.norm(self.encoder(tokens, src_key_padding_mask=padding))
        if visible is not None:
            tokens = tokens.masked_fill(~visible[..., None], float("-inf"))
        return tokens.max(dim=1).values


@register_model("transformer_small", input_kind="series", reads_doy=True)
def transformer_small(in_channels: int, num_classes: int, **kwargs) -> TransformerClassifier:
    """3 layers, 4 heads, d_model 64."""
    return TransformerClassifier(in_channels, num_classes, **kwargs)


@register_model("transformer_tiny", input_kind="series", reads_doy=True)
def transformer_tiny(in_channels: int, num_classes: int, **kwargs) -> TransformerClassifier:
    """1 layer, 2 heads, d_model 32: fast CPU runs."""
    return TransformerClassifier(in_channels, num_classes, **{"d_model": 32, "num_heads": 2, "num_layers": 1,
                                                              "ff_dim": 64, **kwargs})
