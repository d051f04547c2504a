"""TAE: the Temporal Attention Encoder of PSE-TAE.

Garnot, Landrieu, Giordano & Chehata (2020), "Satellite Image Time Series Classification with Pixel-Set
Encoders and Temporal Self-Attention", CVPR; faithful to the authors' code, ``VSainteuf/pytorch-psetae``
``models/tae.py`` (commit fbd8ca3). A Transformer encoder reduced to what a classifier needs:

* the input embeddings are layer-normalised and given a sinusoidal encoding of each date (period 1000, as wide
  as the embeddings). The official training feeds the number of days since the first date of the dataset
  (``positions="bespoke"``: ``dataset.py`` ``date_positions``);
* each head computes queries and keys with linear layers; the queries are averaged over the dates into one
  *mean query* per head (then BatchNorm + a linear layer), which scores the keys (scale ``1/sqrt(d_k)``,
  softmax over dates, dropout 0.1): one attention distribution over the dates per head;
* each head averages the whole embedding over the dates with its attention; the heads' outputs are
  concatenated (``num_heads x in_channels``) and go through an MLP (linear + BatchNorm + ReLU per layer) back to
  ``in_channels``, dropout and a final LayerNorm.

The official code has no date mask; ``use_mask=True`` (an addition) averages the queries over the clear dates only
and hides the masked dates from the attention. L-TAE (:mod:`sitsbench.models.ltae`) is the lighter successor.

:class:`PixelTAE` (registered as ``tae``, ``tae_small``) applies the TAE to *pixel* series, as the R package
``sits`` does for its TAE (``sits_tae``; ``e-sensing/sits`` ``R/api_torch_psetae.R``
``.torch_pixel_spatial_encoder``, commit 60e3733): a pixel has no set of pixels to pool, so in place of the
Pixel-Set Encoder each date's bands are embedded by an MLP ``C-32-64-128`` (linear + BatchNorm + ReLU per layer,
shared by the dates), then the official TAE and the official PSE-TAE decoder ``128-64-32-n``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.layers import attention_mask, default_doy, doy_encoding
from sitsbench.models.ltae import linear_bn_relu, rename_official
from sitsbench.models.registry import TrainingRecipe, register_model

SITS_TAE_RECIPE = TrainingRecipe(epochs=150, patience=20, lr=1e-3, batch_size=64, weight_decay=1e-6,
                                 source="sits_tae defaults (e-sensing/sits R/sits_tae.R): 150 epochs, batch 64, AdamW "
                                        "lr 1e-3, weight decay 1e-6, patience 20")


class TAE(nn.Module):
    """``(B, T, C)`` -> ``(B, C)`` features and ``(B, num_heads, T)`` attention weights.

    Defaults are those of pytorch-psetae's ``train.py`` (4 heads, keys of 32, MLP ``512-128-128`` at 128 input
    channels: ``hidden=(128,)`` between the concatenated heads and the output, dropout 0.2, period 1000)."""

    def __init__(
        self,
        in_channels: int = 128,
        num_heads: int = 4,
        d_k: int = 32,
        hidden: Sequence[int] = (128,),
        dropout: float = 0.2,
        attention_dropout: float = 0.1,
        period: float = 1000.0,
        use_mask: bool = False,
    ):
        super().__init__()
        self.num_heads, self.d_k, self.period, self.use_mask = num_heads, d_k, period, use_mask
        self.in_norm = nn.LayerNorm(in_channels)
        self.queries = nn.Linear(in_channels, num_heads * d_k)
        self.keys = nn.Linear(in_channels, num_heads * d_k)
        for layer in (self.queries, self.keys):
            nn.init.normal_(layer.weight, std=math.sqrt(2.0 / d_k))
        self.query_norm = nn.BatchNorm1d(num_heads * d_k)
        self.query_proj = nn.Linear(num_heads * d_k, num_heads * d_k)
        self.attention_dropout = nn.Dropout(attention_dropout)
        self.mlp = linear_bn_relu([num_heads * in_channels, *hidden, in_channels])
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(in_channels)
        self.out_dim = in_channels

    def forward(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, n_time, channels = x.shape
        values = self.in_norm(x) + doy_encoding(default_doy(x, doy), channels, self.period)
        visible = attention_mask(mask, self.use_mask)
        queries = self.queries(values)
        if visible is None:
            query = queries.mean(dim=1)
        else:
            weights = visible.to(queries.dtype)[..., None]
            query = (queries * weights).sum(dim=1) / weights.sum(dim=1)
        query = self.query_proj(self.query_norm(query)).view(batch, self.num_heads, self.d_k)
        keys = self.keys(values).view(batch, n_time, self.num_heads, self.d_k)
        scores = torch.einsum("bthk,bhk->bht", keys, query) / math.sqrt(self.d_k)
        if visible is not None:
            scores = scores.masked_fill(~visible[:, None, :], float("-inf"))
        attention = torch.softmax(scores, dim=-1)
        pooled = torch.einsum("bht,btc->bhc", self.attention_dropout(attention), values).reshape(batch, -1)
        return self.out_norm(self.dropout(self.mlp(pooled))), attention


def official_tae_names(state: dict[str, torch.Tensor], prefix: str = "", to: str = "") -> dict[str, torch.Tensor]:
    """The tensors of an official ``TemporalAttentionEncoder`` state_dict (keys under ``prefix``) under
    :class:`TAE`'s names (under ``to``); the fixed positional table ``position_enc.weight`` has no counterpart
    (computed from the dates) and is left out."""
    renamed = {"inlayernorm": "in_norm", "attention_heads.fc1_q": "queries", "attention_heads.fc1_k": "keys",
               "attention_heads.fc2.0": "query_norm", "attention_heads.fc2.1": "query_proj", "mlp": "mlp",
               "outlayernorm": "out_norm"}
    return rename_official(state, prefix, to, renamed, skip=("position_enc.weight",))


class PixelTAE(SITSClassifier):
    """``(B, T, C)`` -> per-date MLP ``embedding`` (linear + BatchNorm + ReLU per width) -> :class:`TAE` -> the
    decoder's hidden layers (``decoder`` widths; ``num_features = decoder[-1]``) -> linear head. ``tae_kwargs``
    configure the TAE."""

    def __init__(self, in_channels: int, num_classes: int, embedding: Sequence[int] = (32, 64, 128),
                 decoder: Sequence[int] = (64, 32), **tae_kwargs):
        super().__init__()
        self.embedding = linear_bn_relu([in_channels, *embedding])
        self.temporal = TAE(embedding[-1], **tae_kwargs)
        self.decoder = linear_bn_relu([self.temporal.out_dim, *decoder])
        self.init_head([self.temporal.out_dim, *decoder][-1], num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        batch, n_time, channels = x.shape
        embedded = self.embedding(x.reshape(batch * n_time, channels)).view(batch, n_time, -1)
        return self.decoder(self.temporal(embedded, doy, mask)[0])


@register_model("tae", input_kind="series", date_encoding="days", recipe=SITS_TAE_RECIPE)
def tae(in_channels: int, num_classes: int, **kwargs) -> PixelTAE:
    """The TAE of PSE-TAE on pixel series: the embedding ``C-32-64-128`` of ``sits``, the official TAE (4 heads,
    keys of 32, MLP ``512-128-128``, dropout 0.2, period 1000) and decoder ``128-64-32-n``: 155,412 parameters at 10
    bands and 20 classes, of which the TAE, decoder and head (144,180) are those of the official ``PseTae``.
    Positions are days since the first date (the official ``positions="bespoke"``, as ``sits``)."""
    return PixelTAE(in_channels, num_classes, **kwargs)


@register_model("tae_small", input_kind="series", date_encoding="doy", recipe=SITS_TAE_RECIPE)
def tae_small(in_channels: int, num_classes: int, **kwargs) -> PixelTAE:
    """A small pixel TAE for CPU runs: embedding ``C-32-64``, TAE with 4 heads, keys of 8, MLP ``256-64``, decoder
    ``64-32-n``: 27,572 parameters at 10 bands and 20 classes. Fed days of year."""
    return PixelTAE(in_channels, num_classes, **{"embedding": (32, 64), "decoder": (32,), "num_heads": 4, "d_k": 8,
                                                 "hidden": (), **kwargs})
