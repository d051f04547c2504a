"""Projection heads put on top of a pretrained encoder during self-supervised training only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sitsbench.models.layers import default_doy, doy_encoding


class ProjectionHead(nn.Module):
    """SimCLR's MLP ``Linear -> BatchNorm -> ReLU -> Linear`` (Chen et al. 2020): the loss is computed on its
    output, the encoder features below it are the representation kept afterwards. It is also BYOL's projector and
    predictor (Grill et al. 2020); ``layers=3`` (two ``Linear -> BatchNorm -> ReLU`` blocks) is the projector of
    Barlow Twins (Zbontar et al. 2021) and the expander of VICReg (Bardes et al. 2022)."""

    def __init__(self, in_features: int, hidden_dim: int = 128, out_dim: int = 64, layers: int = 2):
        super().__init__()
        if layers < 2:
            raise ValueError(f"a projection head has at least 2 layers, got layers={layers}")
        blocks: list[nn.Module] = []
        for n_in in [in_features] + [hidden_dim] * (layers - 2):
            blocks += [nn.Linear(n_in, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU()]
        self.mlp = nn.Sequential(*blocks, nn.Linear(hidden_dim, out_dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)


class DINOHead(nn.Module):
    """DINO's head (Caron et al. 2021): MLP to a bottleneck, L2 normalisation, then a weight-normalised
    linear layer to ``out_dim`` prototypes whose softmax is the distribution the student and teacher match.

    ``use_bn`` puts batch normalisation in the MLP, as DINO's reference code does for convolutional backbones.
    It is the default here: the pooled features of small temporal encoders share a large common component
    (mean pairwise cosine about 0.93 at initialisation on the synthetic cube), so without it the bottleneck
    vectors barely differ between inputs, the centred teacher logits spread by about 0.02, and the sharpened
    teacher distribution stays near uniform (measured: loss rising to ln K, linear probe no better than a random
    encoder; with it the loss falls and the probe beats the random encoder).

    ``norm_last_layer`` fixes the gain of the weight-normalised layer at 1 (not trained), as the reference code
    does by default: the logits are then cosines between the bottleneck vector and the prototypes. Otherwise the
    gain starts at each prototype's initial norm (about 0.57 here) and is trained, which scales the logits and
    thus the effective temperatures.
    """

    def __init__(self, in_features: int, hidden_dim: int = 128, bottleneck_dim: int = 32, out_dim: int = 256,
                 use_bn: bool = True, norm_last_layer: bool = True):
        super().__init__()

        def block(n_in: int) -> list[nn.Module]:
            return [nn.Linear(n_in, hidden_dim), *([nn.BatchNorm1d(hidden_dim)] if use_bn else []), nn.GELU()]

        self.mlp = nn.Sequential(*block(in_features), *block(hidden_dim), nn.Linear(hidden_dim, bottleneck_dim))
        self.prototypes = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        if norm_last_layer:
            gain = self.prototypes.parametrizations.weight.original0
            with torch.no_grad():
                gain.fill_(1.0)
            gain.requires_grad_(False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.prototypes(F.normalize(self.mlp(features), dim=-1))


class DateDecoder(nn.Module):
    """The decoder of masked-series modelling: the values of ``out_channels`` bands at any date from the series
    embedding ``(B, D)`` and the date's sinusoidal day-of-year encoding (:func:`~sitsbench.models.layers.doy_encoding`,
    ``period`` 1000 as in the L-TAE), by an MLP shared over the dates. It reads a pooled embedding, so it fits every
    encoder (the L-TAE has no per-date output)."""

    def __init__(self, in_features: int, out_channels: int, hidden_dim: int = 128, date_dim: int = 32,
                 period: float = 1000.0):
        super().__init__()
        self.date_dim, self.period = date_dim, period
        self.mlp = nn.Sequential(nn.Linear(in_features + date_dim, hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_channels))

    def forward(self, features: torch.Tensor, like: torch.Tensor, doy: torch.Tensor | None) -> torch.Tensor:
        """Values ``(B, T, out_channels)`` at the dates of ``like`` ``(B, T, C)`` (days of year ``doy``)."""
        dates = doy_encoding(default_doy(like, doy), self.date_dim, self.period)
        features = features[:, None, :].expand(-1, dates.shape[1], -1)
        return self.mlp(torch.cat([features, dates], dim=-1))
