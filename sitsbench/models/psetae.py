"""PSE-TAE: a Pixel-Set Encoder followed by a temporal attention encoder, for parcels.

Garnot, Landrieu, Giordano & Chehata (2020), "Satellite Image Time Series Classification with Pixel-Set
Encoders and Temporal Self-Attention", CVPR. A parcel is an unordered *set* of pixels (``S`` of them drawn at
random, not a rectangular image): at each date a shared MLP embeds every pixel, the set is summarised by the
mean and standard deviation of the embeddings (order-invariant pooling, cheap and robust to parcel shape), and
a second MLP mixes them. The resulting sequence of date embeddings goes through a temporal attention
encoder; here the lightweight L-TAE (Garnot & Landrieu 2020), which replaced TAE in the authors' later work.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.ltae import LTAE
from sitsbench.models.registry import register_model


def _mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.ReLU()]
    return nn.Sequential(*layers)


class PixelSetEncoder(nn.Module):
    """``(N, C, S)`` pixel sets -> ``(N, out_dim)``: shared MLP, mean+std pooling over pixels, MLP."""

    def __init__(self, in_channels: int, hidden: tuple[int, ...] = (32, 64), out_dim: int = 64):
        super().__init__()
        self.pixel_mlp = _mlp([in_channels, *hidden])
        self.set_mlp = _mlp([2 * hidden[-1], out_dim])
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_sets, n_channels, n_pixels = x.shape
        pixels = self.pixel_mlp(x.transpose(1, 2).reshape(-1, n_channels)).view(n_sets, n_pixels, -1)
        std = pixels.var(dim=1, unbiased=False).add(1e-6).sqrt()
        return self.set_mlp(torch.cat([pixels.mean(dim=1), std], dim=-1))


class PSETAE(SITSClassifier):
    """``(B, T, C, S)`` -> PSE at each date -> L-TAE over dates -> head."""

    input_kind = "pixelset"

    def __init__(self, in_channels: int, num_classes: int, pse_hidden: tuple[int, ...] = (32, 64),
                 pse_dim: int = 64, **ltae_kwargs):
        super().__init__()
        self.pse = PixelSetEncoder(in_channels, tuple(pse_hidden), pse_dim)
        self.temporal = LTAE(pse_dim, **ltae_kwargs)
        self.init_head(self.temporal.out_dim, num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        batch, n_time = x.shape[:2]
        dates = self.pse(x.flatten(0, 1)).view(batch, n_time, -1)
        return self.temporal(dates, doy, mask)[0]


@register_model("psetae", input_kind="pixelset", reads_doy=True)
def psetae(in_channels: int, num_classes: int, **kwargs) -> PSETAE:
    """PSE (32, 64 -> 64) + L-TAE (8 heads, d_model 64): a CPU-sized PSE-TAE."""
    return PSETAE(in_channels, num_classes, **kwargs)
