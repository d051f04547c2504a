"""A spatio-temporal convolutional auto-encoder of image patches ``(T, C, H, W)`` with factorised convolutions.

Each block is a (2+1)D convolution: a 2D spatial convolution applied to every date followed by a 1D temporal
convolution applied to every pixel (Tran et al. 2018, "A Closer Look at Spatiotemporal Convolutions for Action
Recognition", CVPR), cheaper than a full 3D kernel and with a non-linearity between space and time. 3D
convolutional auto-encoders of SITS patches: Kalinicheva et al. (2020), "Unsupervised Satellite Image Time
Series Clustering Using Object-Based Approaches and 3D Convolutional Autoencoder", Remote Sensing 12:1816.

The encoder pools its features over each pixel's clear dates into a code map ``(B, latent_dim, H, W)`` (one
code per pixel that also sees its neighbourhood, the input of a per-pixel segmentation head); the decoder
broadcasts the code map to every date, adds the date encoding as extra channels and reconstructs
``(B, T, C, H, W)`` with (2+1)D blocks, cloudy dates included.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.autoencoders.base import SITSAutoEncoder, date_features, masked_mean, observed_inputs


def factorised_block(in_channels: int, out_channels: int, kernel_size: int = 3, temporal_kernel: int = 3):
    """(2+1)D block on ``(B, C, T, H, W)``: spatial ``1 x k x k`` then temporal ``k_t x 1 x 1`` convolution."""
    pad, pad_t = kernel_size // 2, temporal_kernel // 2
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, (1, kernel_size, kernel_size), padding=(0, pad, pad)),
        nn.GroupNorm(min(8, out_channels), out_channels),
        nn.ReLU(),
        nn.Conv3d(out_channels, out_channels, (temporal_kernel, 1, 1), padding=(pad_t, 0, 0)),
        nn.GroupNorm(min(8, out_channels), out_channels),
        nn.ReLU(),
    )


def _with_dates(values: torch.Tensor, dates: torch.Tensor) -> torch.Tensor:
    """``(B, T, K, H, W)`` + ``(B, T, E)`` date encodings broadcast over space -> ``(B, K + E, T, H, W)``."""
    height, width = values.shape[-2:]
    dates = dates[..., None, None].expand(-1, -1, -1, height, width)
    return torch.cat([values, dates], dim=2).transpose(1, 2)


class SpatioTemporalEncoder(nn.Module):
    """``(B, T, C, H, W)`` -> (2+1)D blocks -> mean over each pixel's clear dates -> ``(B, latent_dim, H, W)``."""

    def __init__(self, in_channels: int, latent_dim: int = 32, width: int = 32, depth: int = 2,
                 doy_dim: int = 8):
        super().__init__()
        self.doy_dim = doy_dim
        channels = [2 * in_channels + doy_dim] + [width] * depth
        self.blocks = nn.Sequential(*(factorised_block(a, b) for a, b in zip(channels[:-1], channels[1:])))
        self.project = nn.Conv2d(width, latent_dim, 1)
        self.num_features = latent_dim

    def forward(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        inputs, valid = observed_inputs(x, mask)
        features = self.blocks(_with_dates(inputs, date_features(x, doy, self.doy_dim)))  # (B, K, T, H, W)
        return self.project(masked_mean(features.transpose(1, 2), valid.any(dim=2)))


class SpatioTemporalDecoder(nn.Module):
    """Code map ``(B, D, H, W)`` broadcast to the dates of ``like`` + date encodings -> ``(B, T, C, H, W)``."""

    def __init__(self, latent_dim: int, out_channels: int, width: int = 32, depth: int = 2, doy_dim: int = 8):
        super().__init__()
        self.doy_dim = doy_dim
        channels = [latent_dim + doy_dim] + [width] * depth
        self.blocks = nn.Sequential(*(factorised_block(a, b) for a, b in zip(channels[:-1], channels[1:])))
        self.out = nn.Conv3d(width, out_channels, 1)

    def forward(self, code: torch.Tensor, like: torch.Tensor, doy: torch.Tensor | None) -> torch.Tensor:
        dates = date_features(like, doy, self.doy_dim)
        repeated = code[:, None].expand(-1, dates.shape[1], -1, -1, -1)
        return self.out(self.blocks(_with_dates(repeated, dates))).transpose(1, 2)


class SpatioTemporalAutoEncoder(SITSAutoEncoder):
    """Patch auto-encoder with a ``latent_dim`` code per pixel."""

    input_kind = "patch"

    def __init__(self, in_channels: int, latent_dim: int = 32, width: int = 32, depth: int = 2, doy_dim: int = 8):
        super().__init__()
        self.num_features = latent_dim
        self.encoder = SpatioTemporalEncoder(in_channels, latent_dim, width, depth, doy_dim)
        self.decoder = SpatioTemporalDecoder(latent_dim, in_channels, width, depth, doy_dim)

    def forward(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        return self.decoder(self.encoder(x, doy, mask), x, doy)
