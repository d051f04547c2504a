"""Building blocks shared by the temporal models: day-of-year positional encoding and mask helpers."""

from __future__ import annotations

import math

import torch


def default_doy(x: torch.Tensor, doy: torch.Tensor | None) -> torch.Tensor:
    """``doy`` as ``(B, T)`` long, or the date indices ``0..T-1`` when ``doy`` is None."""
    if doy is None:
        return torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)
    return doy.to(device=x.device, dtype=torch.long)


def doy_encoding(doy: torch.Tensor, dim: int, period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal encoding of the acquisition day (Vaswani et al. 2017, with the day of year as position).

    Using the day rather than the date index lets irregular and cloud-filtered series share one time axis
    (Garnot & Landrieu 2020 use ``period=1000``). Returns ``(*doy.shape, dim)`` float32. The angles are computed
    in float64 (float32 on Apple MPS, which has none), as the official L-TAE / TAE / U-TAE code computes its tables:
    in float32, an angle of a few hundred days is off by up to 2e-5, and so is its sine.
    """
    dtype = torch.float32 if doy.device.type == "mps" else torch.float64
    half = torch.arange(0, dim, 2, device=doy.device, dtype=dtype)
    frequencies = torch.exp(-math.log(period) * half / dim)
    angles = doy.to(dtype)[..., None] * frequencies
    encoding = torch.zeros(*doy.shape, dim, device=doy.device, dtype=dtype)
    encoding[..., 0::2] = torch.sin(angles)
    encoding[..., 1::2] = torch.cos(angles[..., : dim // 2])
    return encoding.float()


def attention_mask(mask: torch.Tensor | None, use_mask: bool) -> torch.Tensor | None:
    """Mask of dates attention may look at (True = clear); rows with no clear date see every date."""
    if mask is None or not use_mask:
        return None
    mask = mask.bool()
    return mask | ~mask.any(dim=1, keepdim=True)
