"""PSE-TAE and PSE + L-TAE: a Pixel-Set Encoder followed by a temporal attention encoder, for parcels.

Garnot, Landrieu, Giordano & Chehata (2020), "Satellite Image Time Series Classification with Pixel-Set
Encoders and Temporal Self-Attention", CVPR; faithful to the authors' code ``VSainteuf/pytorch-psetae``
(commit fbd8ca3: ``models/pse.py``, ``models/tae.py``, ``models/decoder.py``, ``models/stclassifier.py``
``PseTae``). PSE + L-TAE is ``PseLTae`` of ``VSainteuf/lightweight-temporal-attention-pytorch``
``models/stclassifier.py`` (commit d8f99bd; Garnot & Landrieu 2020, arXiv:2007.00586), the same PSE and decoder
around an L-TAE.

A parcel is an unordered *set* of ``S`` pixels drawn from it (the official loader draws 64 without replacement;
a smaller parcel is padded and a pixel mask marks its real pixels). At each date the :class:`PixelSetEncoder`

1. embeds every pixel with a shared MLP (``mlp1``: linear + BatchNorm + ReLU per layer, the BatchNorm statistics
   taken over every pixel of the batch, padded ones included, as in the official code);
2. pools the embeddings of the *real* pixels into their mean and unbiased standard deviation (a set of one
   pixel has standard deviation 0);
3. appends the parcel's extra features, if any (the official model reads 4 standardised geometric features of
   the parcel, ``META/geomfeat.json``: ``extra_size=4``);
4. mixes them with a second MLP (``mlp2``: linear + BatchNorm per layer, ReLU between layers only).

The sequence of date embeddings goes through TAE (:mod:`sitsbench.models.tae`) or L-TAE
(:mod:`sitsbench.models.ltae`), then the official decoder, an MLP ``128-64-32-n`` (linear + BatchNorm + ReLU, a
linear last layer): its hidden layers end :meth:`PSETAE.forward_features` (``num_features`` = 32), its last
layer is the head that :meth:`~sitsbench.models.base.SITSClassifier.reset_classifier` replaces.

Inputs: ``x`` ``(B, T, C, S)``, ``doy`` ``(B, T)`` the dates as the registry's ``date_encoding`` says (the
official training feeds days since the dataset's first date), ``mask`` ``(B, T)`` clear dates (read only with
``use_mask=True``, an addition: the official encoders see every date), and two optional keywords:
``pixel_mask`` ``(B, S)`` or ``(B, T, S)`` (True = a real pixel; absent: every pixel is real) and ``extra``
``(B, E)`` or ``(B, T, E)`` (the parcel's ``E = extra_size`` extra features; absent: zeros, the mean of features
standardised as the official loader does, so the weights that read them stay untrained).

:func:`official_psetae_names` maps an official ``PseTae`` / ``PseLTae`` state_dict onto these models.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.ltae import (
    LTAE,
    OFFICIAL_SEQ_LEN,
    linear_bn_relu,
    official_decoder_names,
    official_ltae_names,
    rename_official,
)
from sitsbench.models.registry import register_model
from sitsbench.models.tae import TAE, official_tae_names

STD_EPS = 1e-31
"""Added to the variance before the square root (the official value, ``10e-32``): a set of identical pixels
has a finite gradient."""
TEMPORAL_ENCODERS = {"tae": TAE, "ltae": LTAE}


class PixelSetEncoder(nn.Module):
    """``(N, C, S)`` pixel sets -> ``(N, out_dim)``: shared MLP, mean + standard deviation of the real pixels,
    extra features, MLP. Defaults: the official ``mlp1=[C, 32, 64]``, ``mlp2=[132, 128]`` with 4 extra features."""

    def __init__(self, in_channels: int, mlp1: Sequence[int] = (32, 64), mlp2: Sequence[int] = (128,),
                 extra_size: int = 4):
        super().__init__()
        self.extra_size = extra_size
        self.mlp1 = linear_bn_relu([in_channels, *mlp1])
        self.mlp2 = linear_bn_relu([2 * mlp1[-1] + extra_size, *mlp2], last_relu=False)
        self.out_dim = mlp2[-1]

    def forward(self, x: torch.Tensor, pixel_mask: torch.Tensor | None = None,
                extra: torch.Tensor | None = None) -> torch.Tensor:
        n_sets, n_channels, n_pixels = x.shape
        pixels = self.mlp1(x.transpose(1, 2).reshape(-1, n_channels)).view(n_sets, n_pixels, -1)
        if pixel_mask is None:
            weights = pixels.new_ones(n_sets, n_pixels, 1)
        else:
            weights = pixel_mask.to(pixels.dtype).reshape(n_sets, n_pixels, 1)
        count = weights.sum(dim=1)
        mean = (pixels * weights).sum(dim=1) / count.clamp(min=1)
        squares = ((pixels - mean[:, None]) * weights).square().sum(dim=1)
        std = (squares / (count - 1).clamp(min=1) + STD_EPS).sqrt()
        pooled = [mean, std]
        if self.extra_size:
            pooled.append(pixels.new_zeros(n_sets, self.extra_size) if extra is None else extra.to(pixels.dtype))
        return self.mlp2(torch.cat(pooled, dim=-1))


class PSETAE(SITSClassifier):
    """``(B, T, C, S)`` -> PSE at each date -> TAE or L-TAE (``temporal``) over the dates -> the decoder's hidden
    layers (``decoder`` widths) -> linear head. ``temporal_kwargs`` configure the temporal encoder."""

    input_kind = "pixelset"

    def __init__(self, in_channels: int, num_classes: int, mlp1: Sequence[int] = (32, 64),
                 mlp2: Sequence[int] = (128,), extra_size: int = 4, temporal: str = "tae",
                 decoder: Sequence[int] = (64, 32), **temporal_kwargs):
        super().__init__()
        if temporal not in TEMPORAL_ENCODERS:
            raise ValueError(f"temporal must be one of {sorted(TEMPORAL_ENCODERS)}, got {temporal!r}")
        self.pse = PixelSetEncoder(in_channels, mlp1, mlp2, extra_size)
        self.temporal = TEMPORAL_ENCODERS[temporal](self.pse.out_dim, **temporal_kwargs)
        self.decoder = linear_bn_relu([self.temporal.out_dim, *decoder])
        self.init_head([self.temporal.out_dim, *decoder][-1], num_classes)

    def date_embeddings(self, x: torch.Tensor, pixel_mask: torch.Tensor | None = None,
                        extra: torch.Tensor | None = None) -> torch.Tensor:
        """The PSE output of every date, ``(B, T, pse.out_dim)``."""
        batch, n_time, _, n_pixels = x.shape
        if pixel_mask is not None:
            pixel_mask = pixel_mask.reshape(batch, -1, n_pixels).expand(batch, n_time, n_pixels).flatten(0, 1)
        if extra is not None:
            extra = extra.reshape(batch, -1, extra.shape[-1]).expand(batch, n_time, -1).flatten(0, 1)
        return self.pse(x.flatten(0, 1), pixel_mask, extra).view(batch, n_time, -1)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None,
        pixel_mask: torch.Tensor | None = None, extra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.decoder(self.temporal(self.date_embeddings(x, pixel_mask, extra), doy, mask)[0])

    def forward(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None,
        pixel_mask: torch.Tensor | None = None, extra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, doy, mask, pixel_mask, extra))


def official_psetae_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An official ``PseTae`` (pytorch-psetae) or ``PseLTae`` (lightweight-temporal-attention-pytorch) state_dict
    under :class:`PSETAE`'s names, ready for ``load_state_dict``; the temporal encoder's fixed positional table
    (computed here from the dates) is left out."""
    n_mlp1 = sum(1 for key in state if key.startswith("spatial_encoder.mlp1.") and key.endswith(".lin.weight"))
    pse = {"mlp2": "mlp2"}
    for i in range(n_mlp1):
        pse |= {f"mlp1.{i}.lin": f"mlp1.{3 * i}", f"mlp1.{i}.bn": f"mlp1.{3 * i + 1}"}
    temporal = official_ltae_names if "temporal_encoder.attention_heads.Q" in state else official_tae_names
    return {**rename_official(state, "spatial_encoder.", "pse.", pse),
            **temporal(state, "temporal_encoder.", "temporal."),
            **official_decoder_names(state)}


OFFICIAL_PSE = {"mlp1": (32, 64), "mlp2": (128,), "extra_size": 4, "decoder": (64, 32)}
"""The PSE and decoder of the official ``train.py`` defaults (both repositories): ``mlp1=[10, 32, 64]``,
``mlp2=[132, 128]`` with the 4 geometric features, ``mlp4=[128, 64, 32, 20]``."""


@register_model("psetae", input_kind="pixelset", date_encoding="days")
def psetae(in_channels: int, num_classes: int, **kwargs) -> PSETAE:
    """PSE-TAE as pytorch-psetae's ``train.py`` builds it by default: PSE ``mlp1`` 32-64, ``mlp2`` 132-128 (4 extra
    features), TAE with 4 heads, keys of 32, MLP ``512-128-128``, dropout 0.2, period 1000, decoder
    ``128-64-32-n``: 164,116 parameters at 10 bands and 20 classes (the official count). Positions are days
    since the first date (the official ``positions="bespoke"``); 64 pixels per set in the official training."""
    config = {**OFFICIAL_PSE, "temporal": "tae", "num_heads": 4, "d_k": 32, "hidden": (128,), "dropout": 0.2}
    return PSETAE(in_channels, num_classes, **{**config, **kwargs})


@register_model("pseltae", input_kind="pixelset", date_encoding="days", fixed_length=True)
def pseltae(in_channels: int, num_classes: int, **kwargs) -> PSETAE:
    """PSE + L-TAE as lightweight-temporal-attention-pytorch's ``train.py`` builds it by default (``PseLTae``):
    the PSE and decoder of :func:`psetae` around an L-TAE with 16 heads, keys of 8, ``d_model`` 256, MLP
    ``256-128``, dropout 0.2, period 1000, 24 dates: 143,124 parameters at 10 bands and 20 classes (the official
    count). Positions are days since the first date. Built for ``seq_len=24`` dates (pass ``seq_len=T``, or
    ``None`` to normalise each date on its own; see :mod:`sitsbench.models.ltae`)."""
    config = {**OFFICIAL_PSE, "temporal": "ltae", "d_model": 256, "num_heads": 16, "d_k": 8, "out_dim": 128,
              "dropout": 0.2, "seq_len": OFFICIAL_SEQ_LEN}
    return PSETAE(in_channels, num_classes, **{**config, **kwargs})


@register_model("psetae_small", input_kind="pixelset", date_encoding="doy")
def psetae_small(in_channels: int, num_classes: int, **kwargs) -> PSETAE:
    """A small PSE-TAE for quick runs (CPU): the official layers, narrower after the pixel MLP: PSE ``mlp1`` 32-64,
    ``mlp2`` 132-48 (4 extra features), TAE with 4 heads, keys of 8, MLP ``192-48``, decoder ``48-32-n``: 25,236
    parameters at 10 bands and 20 classes. Fed days of year, as the quick runs have been."""
    config = {"mlp1": (32, 64), "mlp2": (48,), "extra_size": 4, "decoder": (32,), "temporal": "tae",
              "num_heads": 4, "d_k": 8, "hidden": (), "dropout": 0.2}
    return PSETAE(in_channels, num_classes, **{**config, **kwargs})
