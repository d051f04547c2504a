"""A small U-TAE: U-Net with temporal attention for the semantic segmentation of image time series.

Garnot & Landrieu (2021), "Panoptic Segmentation of Satellite Image Time Series with Convolutional Temporal
Attention Networks", ICCV. The network

1. encodes every date separately with a shared 2D convolutional encoder (a U-Net's contracting path), giving
   feature maps at several resolutions for each date;
2. runs L-TAE (:mod:`sitsbench.models.ltae`) on every pixel of the lowest-resolution maps: each head yields
   attention weights over the dates, i.e. ``num_heads`` *attention masks* of shape ``(T, h, w)``;
3. upsamples these masks (bilinearly, so the weights of each pixel still sum to 1) to every skip resolution
   and uses them to collapse the time axis of the skip features, channel group by channel group;
4. decodes the collapsed maps with a U-Net expanding path into per-pixel features, classified by a 1x1
   convolution.

This version keeps the structure with small widths (16-32-64 by default) and GroupNorm everywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.ltae import LTAE
from sitsbench.models.registry import register_model


def _conv_block(in_channels: int, out_channels: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(),
    )


def aggregate(features: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Collapse time: ``features`` ``(B, T, D, H, W)`` weighted by ``attention`` ``(B, G, T, h, w)``.

    The attention is resized to ``(H, W)``; channel group ``g`` (``D / G`` channels) uses head ``g``'s weights.
    """
    batch, n_time, depth, height, width = features.shape
    n_heads = attention.shape[1]
    if attention.shape[-2:] != (height, width):
        flat = attention.flatten(0, 1)
        flat = F.interpolate(flat, size=(height, width), mode="bilinear", align_corners=False)
        attention = flat.view(batch, n_heads, n_time, height, width)
    groups = features.view(batch, n_time, n_heads, depth // n_heads, height, width)
    return torch.einsum("bgtyx,btgcyx->bgcyx", attention, groups).reshape(batch, depth, height, width)


class UTAE(SITSClassifier):
    """``(B, T, C, H, W)`` -> ``(B, widths[0], H, W)`` features -> per-pixel logits ``(B, K, H, W)``.

    ``H`` and ``W`` must be multiples of ``2 ** (len(widths) - 1)``.
    """

    input_kind = "patch"

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: tuple[int, ...] = (16, 32, 64),
        num_heads: int = 4,
        d_k: int = 4,
        groups: int = 4,
        use_mask: bool = False,
        dropout: float = 0.1,
    ):
        super().__init__()
        widths = tuple(widths)
        if any(w % num_heads for w in widths):
            raise ValueError(f"every width in {widths} must be a multiple of num_heads={num_heads}")
        self.widths = widths
        self.inconv = _conv_block(in_channels, widths[0], groups)
        self.down = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(w_in, w_in, 4, stride=2, padding=1), nn.GroupNorm(groups, w_in), nn.ReLU(),
                _conv_block(w_in, w_out, groups),
            )
            for w_in, w_out in zip(widths[:-1], widths[1:])
        )
        self.temporal = LTAE(
            widths[-1], d_model=widths[-1], num_heads=num_heads, d_k=d_k, out_dim=widths[-1], dropout=dropout,
            use_mask=use_mask,
        )
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(w_out, w_in, 2, stride=2) for w_in, w_out in zip(widths[:-1], widths[1:])
        )
        self.decode = nn.ModuleList(_conv_block(2 * w, w, groups) for w in widths[:-1])
        self.init_head(widths[0], num_classes)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-date feature maps at every level: list of ``(B, T, D_l, H_l, W_l)``."""
        batch, n_time = x.shape[:2]
        maps = [self.inconv(x.flatten(0, 1))]
        for down in self.down:
            maps.append(down(maps[-1]))
        return [m.view(batch, n_time, *m.shape[1:]) for m in maps]

    def temporal_attention(
        self, bottom: torch.Tensor, doy: torch.Tensor | None, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """L-TAE on each pixel of ``bottom`` ``(B, T, D, h, w)``: features ``(B, D, h, w)``, masks ``(B, G, T, h, w)``."""
        batch, n_time, depth, height, width = bottom.shape
        pixels = bottom.permute(0, 3, 4, 1, 2).reshape(-1, n_time, depth)
        pixel_doy = None if doy is None else doy.repeat_interleave(height * width, dim=0)
        pixel_mask = None
        if mask is not None:
            low = F.adaptive_max_pool2d(mask.float(), (height, width)) > 0  # clear somewhere in the cell
            pixel_mask = low.permute(0, 2, 3, 1).reshape(-1, n_time)
        features, attention = self.temporal(pixels, pixel_doy, pixel_mask)
        features = features.view(batch, height, width, -1).permute(0, 3, 1, 2)
        attention = attention.view(batch, height, width, -1, n_time).permute(0, 3, 4, 1, 2)
        return features, attention

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        factor = 2 ** (len(self.widths) - 1)
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"patch size {tuple(x.shape[-2:])} must be a multiple of {factor}")
        maps = self.encode(x)
        out, attention = self.temporal_attention(maps[-1], doy, mask)
        for level in reversed(range(len(self.widths) - 1)):
            skip = aggregate(maps[level], attention)
            out = self.decode[level](torch.cat([self.up[level](out), skip], dim=1))
        return out


@register_model("utae_small", input_kind="patch")
def utae_small(in_channels: int, num_classes: int, **kwargs) -> UTAE:
    """Widths 16-32-64, L-TAE with 4 heads at 1/4 resolution."""
    return UTAE(in_channels, num_classes, **kwargs)


@register_model("utae_tiny", input_kind="patch")
def utae_tiny(in_channels: int, num_classes: int, **kwargs) -> UTAE:
    """Widths 8-16, L-TAE with 4 heads at 1/2 resolution: fast CPU runs."""
    return UTAE(in_channels, num_classes, **{"widths": (8, 16), "groups": 2, **kwargs})
