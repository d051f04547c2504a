"""L-TAE: the Lightweight Temporal Attention Encoder.

Garnot & Landrieu (2020), "Lightweight Temporal Self-Attention for Classifying Satellite Images Time
Series", AALTD workshop (ECML-PKDD), arXiv:2007.00586; :class:`LTAE` is faithful to the authors' code,
``VSainteuf/lightweight-temporal-attention-pytorch`` ``models/ltae.py`` (commit d8f99bd). Compared with a
Transformer, L-TAE

* replaces the per-date queries by one learned *master query* per head: each head produces a single
  attention distribution over the dates ("which dates matter"), not a ``T x T`` map;
* splits the channels into groups, one per head: each head averages only its own channel group over time
  with its attention weights, so heads specialise on different features with few parameters;
* adds a sinusoidal encoding of each date (period 1000, one table of width ``d_model / num_heads`` repeated
  for every group) to the inputs. The official training feeds the number of days since the first date of the
  dataset (``positions="bespoke"``, ``dataset.py`` ``date_positions``).

Layer by layer: a LayerNorm of the input channels, a 1x1 convolution to ``d_model`` channels followed by a
LayerNorm, the positional encoding, the keys (one linear layer) scored against the master queries (scale
``1/sqrt(d_k)``, softmax over dates, dropout 0.1 on the attention), the attention-weighted channel groups
concatenated, an MLP (linear + BatchNorm + ReLU per layer), dropout and a final LayerNorm. The official
LayerNorm after the 1x1 convolution normalises every channel of every date jointly, with weights per channel
and date, so the official model is built for series of one length (``len_max_seq``, 24 in its ``train.py``):
``seq_len=T`` reproduces it; ``seq_len=None`` normalises each date over its channels (any number of dates).
The official code has no date mask; ``use_mask=True`` (an addition) hides masked dates from the attention.

:class:`LTAEClassifier` classifies pixel series with it: L-TAE, then the hidden layers of the official decoder
(``models/decoder.py``, the MLP ``128-64-32-n`` that follows the temporal encoder in ``PseLTae``) and a linear
head. PSE-TAE and PSE + L-TAE are in :mod:`sitsbench.models.psetae`, TAE in :mod:`sitsbench.models.tae`.
:class:`LTAE2d` is the later variant of utae-paps that U-TAE runs on every pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.layers import attention_mask, default_doy, doy_encoding
from sitsbench.models.registry import TrainingRecipe, register_model

OFFICIAL_SEQ_LEN = 24
"""``len_max_seq`` of the official L-TAE ``train.py`` (``--lms``): the 24 dates of S2-Agri."""


def linear_bn_relu(dims: Sequence[int], last_relu: bool = True) -> nn.Sequential:
    """``Linear -> BatchNorm1d -> ReLU`` for each pair of successive widths in ``dims`` (the MLP block of the
    PSE-TAE / L-TAE code); ``last_relu=False`` leaves the last block without its ReLU."""
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers += [nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out)]
        if last_relu or i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class LTAE(nn.Module):
    """``(B, T, C)`` -> ``(B, out_dim)`` features and ``(B, num_heads, T)`` attention weights.

    Defaults are those of the official ``LTAE`` class (16 heads, keys of 8, ``d_model`` 256, MLP ``256-128``,
    dropout 0.2, period 1000). ``d_model=None`` skips the input convolution (``d_model`` = ``in_channels``);
    ``hidden`` are the MLP widths between ``d_model`` and ``out_dim``. ``in_norm=False`` drops the input LayerNorm
    (not in the official code: on pixel series of a few bands it erases most of the signal, e.g. with two bands
    only the sign of their difference is left at each date)."""

    def __init__(
        self,
        in_channels: int,
        d_model: int | None = 256,
        num_heads: int = 16,
        d_k: int = 8,
        out_dim: int = 128,
        hidden: Sequence[int] = (),
        dropout: float = 0.2,
        attention_dropout: float = 0.1,
        period: float = 1000.0,
        seq_len: int | None = None,
        use_mask: bool = False,
        in_norm: bool = True,
    ):
        super().__init__()
        width = in_channels if d_model is None else d_model
        if width % num_heads:
            raise ValueError(f"d_model ({width}) must be a multiple of num_heads ({num_heads})")
        self.d_model, self.num_heads, self.d_k = width, num_heads, d_k
        self.seq_len = None if d_model is None else seq_len  # only the input convolution's norm is tied to it
        self.use_mask, self.period = use_mask, period
        self.in_norm = nn.LayerNorm(in_channels) if in_norm else nn.Identity()
        self.in_conv = None if d_model is None else nn.Conv1d(in_channels, d_model, 1)
        self.in_conv_norm = None
        if d_model is not None:
            self.in_conv_norm = nn.LayerNorm(d_model if seq_len is None else (d_model, seq_len))
        self.keys = nn.Linear(width, num_heads * d_k)
        nn.init.normal_(self.keys.weight, std=math.sqrt(2.0 / d_k))
        self.query = nn.Parameter(torch.randn(num_heads, d_k) * math.sqrt(2.0 / d_k))
        self.attention_dropout = nn.Dropout(attention_dropout)
        self.mlp = linear_bn_relu([width, *hidden, out_dim])
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(out_dim)
        self.out_dim = out_dim

    def forward(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, n_time, _ = x.shape
        if self.seq_len is not None and n_time != self.seq_len:
            raise ValueError(f"this L-TAE normalises over {self.seq_len} dates (seq_len={self.seq_len}, as the "
                             f"official len_max_seq), got {n_time}: build it with seq_len={n_time} or seq_len=None")
        values = self.in_norm(x)
        if self.in_conv is not None:
            values = self.in_conv(values.transpose(1, 2))  # (B, d_model, T)
            if self.seq_len is None:
                values = self.in_conv_norm(values.transpose(1, 2))
            else:
                values = self.in_conv_norm(values).transpose(1, 2)
        group = self.d_model // self.num_heads
        position = doy_encoding(default_doy(x, doy), group, self.period)
        values = values + position.repeat(1, 1, self.num_heads)
        keys = self.keys(values).view(batch, n_time, self.num_heads, self.d_k)
        scores = torch.einsum("bthk,hk->bht", keys, self.query) / math.sqrt(self.d_k)
        visible = attention_mask(mask, self.use_mask)
        if visible is not None:
            scores = scores.masked_fill(~visible[:, None, :], float("-inf"))
        attention = torch.softmax(scores, dim=-1)
        groups = values.view(batch, n_time, self.num_heads, group)
        pooled = torch.einsum("bht,bthc->bhc", self.attention_dropout(attention), groups).reshape(batch, -1)
        return self.out_norm(self.dropout(self.mlp(pooled))), attention


def official_ltae_names(state: dict[str, torch.Tensor], prefix: str = "", to: str = "") -> dict[str, torch.Tensor]:
    """The tensors of an official ``LTAE`` state_dict (keys under ``prefix``) under :class:`LTAE`'s names (under
    ``to``); the fixed positional table ``position_enc.weight`` has no counterpart (computed from the dates) and
    is left out. Keys outside ``prefix`` are ignored."""
    renamed = {"inlayernorm": "in_norm", "inconv.0": "in_conv", "inconv.1": "in_conv_norm",
               "attention_heads.Q": "query", "attention_heads.fc1_k": "keys", "mlp": "mlp",
               "outlayernorm": "out_norm"}
    return rename_official(state, prefix, to, renamed, skip=("position_enc.weight",))


def rename_official(state: dict[str, torch.Tensor], prefix: str, to: str, renamed: dict[str, str],
                    skip: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """``state``'s keys under ``prefix`` with their leading part renamed by ``renamed`` (an unknown key raises)."""
    out = {}
    for key, value in state.items():
        if not key.startswith(prefix) or key[len(prefix):] in skip:
            continue
        name = key[len(prefix):]
        for old, new in renamed.items():
            if name == old or name.startswith(old + "."):
                out[to + new + name[len(old):]] = value
                break
        else:
            raise KeyError(f"official tensor {key!r} has no counterpart")
    return out


SITS_LIGHTTAE_RECIPE = TrainingRecipe(epochs=150, patience=20, lr=5e-4, batch_size=128, weight_decay=7e-4,
                                      source="sits_lighttae defaults (e-sensing/sits R/sits_lighttae.R): 150 epochs, "
                                             "batch 128, AdamW lr 5e-4, weight decay 7e-4, patience 20")


class LTAEClassifier(SITSClassifier):
    """Pixel-series classifier: L-TAE features -> the decoder's hidden layers (``decoder`` widths, each linear +
    BatchNorm + ReLU; none: a linear head on the L-TAE features) -> linear head."""

    options_from = LTAE
    """The class that receives ``**ltae_kwargs`` (:func:`sitsbench.models.registry.model_options` lists its options)."""

    def __init__(self, in_channels: int, num_classes: int, decoder: Sequence[int] = (), **ltae_kwargs):
        super().__init__()
        self.encoder = LTAE(in_channels, **ltae_kwargs)
        self.decoder = linear_bn_relu([self.encoder.out_dim, *decoder])
        self.init_head([self.encoder.out_dim, *decoder][-1], num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.decoder(self.encoder(x, doy, mask)[0])

    def attention(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attention weights ``(B, num_heads, T)`` of each head over the dates."""
        return self.encoder(x, doy, mask)[1]


def official_decoder_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of an official ``get_decoder`` MLP (``decoder.*`` keys of ``state``) under our names: its hidden
    layers stay ``decoder.*``, its last linear layer is the ``head``."""
    last = max(int(key.split(".")[1]) for key in state if key.startswith("decoder."))
    renamed = {str(last): "head", **{str(i): f"decoder.{i}" for i in range(last)}}
    return rename_official(state, "decoder.", "", renamed)


@register_model("ltae", input_kind="series", date_encoding="days", fixed_length=True, recipe=SITS_LIGHTTAE_RECIPE)
def ltae(in_channels: int, num_classes: int, **kwargs) -> LTAEClassifier:
    """The official L-TAE configuration (``train.py`` defaults of ``lightweight-temporal-attention-pytorch``: 16
    heads, keys of 8, ``d_model`` 256, MLP ``256-128``, dropout 0.2, period 1000, 24 dates) on pixel series,
    followed by the official decoder ``128-64-32-n``: 92,744 parameters at 10 bands and 20 classes. Positions are
    days since the first date (the official ``positions="bespoke"``). Built for ``seq_len=24`` dates: pass
    ``seq_len=T`` for series of ``T`` dates (the parameter count then changes by ``2 x 256`` per date)."""
    config = {"d_model": 256, "num_heads": 16, "d_k": 8, "out_dim": 128, "dropout": 0.2,
              "seq_len": OFFICIAL_SEQ_LEN, "decoder": (64, 32)}
    return LTAEClassifier(in_channels, num_classes, **{**config, **kwargs})


@register_model("ltae_small", input_kind="series", date_encoding="doy", recipe=SITS_LIGHTTAE_RECIPE)
def ltae_small(in_channels: int, num_classes: int, **kwargs) -> LTAEClassifier:
    """A small L-TAE for quick runs (CPU), the model the quick runs have used: 8 heads, keys of 8, ``d_model`` 64,
    MLP ``64-64``, a linear head; no input LayerNorm (``in_norm=False``), each date normalised on its own after
    the input convolution (any number of dates), one ``dropout`` (0.1) on the attention and the MLP output: 10,772
    parameters at 10 bands and 20 classes. Fed days of year."""
    config = {"d_model": 64, "num_heads": 8, "d_k": 8, "out_dim": 64, "dropout": 0.1, "seq_len": None,
              "in_norm": False, **kwargs}
    config.setdefault("attention_dropout", config["dropout"])
    return LTAEClassifier(in_channels, num_classes, **config)


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
