"""A multi-sensor auto-encoder: Sentinel-2 and Sentinel-1 series of a pixel encoded into one fused code.

Optical (S2) series have cloud gaps, radar (S1) series do not but are speckled and see structure and moisture
rather than colour; each sensor has its own dates. Following the two-branch design of Ienco et al. (2019),
"Combining Sentinel-1 and Sentinel-2 Satellite Image Time Series for land cover mapping via a multi-source deep
learning architecture", ISPRS J. Photogramm. Remote Sens. 158:11-22 (TWINNS), each sensor has its own temporal
encoder on its own day-of-year axis; the two codes are fused by a linear layer into one code, and one decoder
per sensor reconstructs that sensor's series from the fused code (the multimodal auto-encoder of Ngiam et al.
2011, "Multimodal Deep Learning", ICML). Cloudy S2 dates are reconstructed from the S1 evidence too, since the
fused code is all the S2 decoder sees.

Batches hold ``x``/``doy``/``mask`` for S2 and ``x_s1``/``doy_s1`` (and optionally ``mask_s1``) for S1;
:func:`pixel_backscatter` builds the S1 arrays from a cube and :class:`MultiSensorPixelDataset` serves both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import xarray as xr
from torch import nn
from torch.utils.data import Dataset

from sitsbench.autoencoders.base import SITSAutoEncoder
from sitsbench.autoencoders.temporal import TemporalConvDecoder, TemporalConvEncoder
from sitsbench.data import cube as cube_format
from sitsbench.data.datasets import PixelSeriesDataset
from sitsbench.data.timeops import day_of_year
from sitsbench.training.losses import expand_mask, masked_mse


def pixel_backscatter(cube: xr.Dataset, rows: np.ndarray, cols: np.ndarray,
                      stats: tuple[np.ndarray, np.ndarray] | None = None):
    """S1 series of the pixels ``(rows, cols)``: ``(N, T_s1, 2)`` standardised dB, their day of year, and the
    ``(mean, std)`` per band used (computed on these pixels when ``stats`` is None: pass the training ones)."""
    values = np.asarray(cube[cube_format.BACKSCATTER].values[:, :, rows, cols], dtype=np.float32).transpose(2, 0, 1)
    if stats is None:
        stats = values.mean(axis=(0, 1)), values.std(axis=(0, 1)) + 1e-6
    series = ((values - stats[0]) / stats[1]).astype(np.float32)
    return series, day_of_year(cube[cube_format.TIME_S1].values), stats


class MultiSensorPixelDataset(Dataset):
    """The items of a :class:`PixelSeriesDataset` plus the pixel's S1 series ``x_s1`` ``(T_s1, 2)``/``doy_s1``.

    ``s1_stats`` standardises the backscatter (None: computed on this dataset's pixels; pass the training
    dataset's :attr:`s1_stats` to the validation and test ones).
    """

    def __init__(self, pixels: PixelSeriesDataset, cube: xr.Dataset,
                 s1_stats: tuple[np.ndarray, np.ndarray] | None = None):
        if cube_format.BACKSCATTER not in cube:
            raise ValueError(f"the cube has no {cube_format.BACKSCATTER!r} variable: generate it with with_s1=True")
        self.pixels = pixels
        self.x_s1, doy_s1, self.s1_stats = pixel_backscatter(cube, pixels.rows, pixels.cols, s1_stats)
        self.doy_s1 = torch.from_numpy(doy_s1)

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {**self.pixels[index], "x_s1": torch.from_numpy(self.x_s1[index]), "doy_s1": self.doy_s1}


class MultiSensorEncoder(nn.Module):
    """Two temporal convolutional branches (S2 with its clear mask, S1) -> concatenated codes -> fused code."""

    def __init__(self, s2_channels: int, s1_channels: int = 2, latent_dim: int = 32, width: int = 64,
                 depth: int = 3, doy_dim: int = 16):
        super().__init__()
        self.s2 = TemporalConvEncoder(s2_channels, latent_dim, width, depth, doy_dim=doy_dim)
        self.s1 = TemporalConvEncoder(s1_channels, latent_dim, width, depth, doy_dim=doy_dim)
        self.fuse = nn.Linear(2 * latent_dim, latent_dim)
        self.num_features = latent_dim

    def forward(self, x, doy=None, mask=None, x_s1=None, doy_s1=None, mask_s1=None) -> torch.Tensor:
        codes = torch.cat([self.s2(x, doy, mask), self.s1(x_s1, doy_s1, mask_s1)], dim=-1)
        return self.fuse(codes)


class MultiSensorAutoEncoder(SITSAutoEncoder):
    """S2 + S1 pixel auto-encoder; ``forward`` returns the reconstructions ``(S2, S1)``."""

    input_kind = "multisensor"

    def __init__(self, s2_channels: int, s1_channels: int = 2, latent_dim: int = 32, width: int = 64,
                 depth: int = 3, doy_dim: int = 16):
        super().__init__()
        self.num_features = latent_dim
        self.encoder = MultiSensorEncoder(s2_channels, s1_channels, latent_dim, width, depth, doy_dim)
        self.decoder_s2 = TemporalConvDecoder(latent_dim, s2_channels, width, depth, doy_dim=doy_dim)
        self.decoder_s1 = TemporalConvDecoder(latent_dim, s1_channels, width, depth, doy_dim=doy_dim)

    def encode(self, x, doy=None, mask=None, x_s1=None, doy_s1=None, mask_s1=None) -> torch.Tensor:
        return self.encoder(x, doy, mask, x_s1, doy_s1, mask_s1)

    def forward(self, x, doy=None, mask=None, x_s1=None, doy_s1=None, mask_s1=None):
        code = self.encoder(x, doy, mask, x_s1, doy_s1, mask_s1)
        return self.decoder_s2(code, x, doy), self.decoder_s1(code, x_s1, doy_s1)

    def reconstruction_loss(self, batch: dict[str, torch.Tensor], hide: Callable) -> torch.Tensor:
        """Sum of the masked MSE of both sensors, each with entries withheld by ``hide``."""
        clear = expand_mask(batch.get("mask"), batch["x"])
        clear_s1 = expand_mask(batch.get("mask_s1"), batch["x_s1"])
        s2, s1 = self(batch["x"], batch.get("doy"), clear & ~hide(clear),
                      batch["x_s1"], batch.get("doy_s1"), clear_s1 & ~hide(clear_s1))
        return masked_mse(s2, batch["x"], clear) + masked_mse(s1, batch["x_s1"], clear_s1)
