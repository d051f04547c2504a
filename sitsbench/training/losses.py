"""Cloud-aware reconstruction loss: errors are counted only where the observation is clear (the auto-encoders'
and masked-series modelling's, :mod:`sitsbench.autoencoders`, :class:`sitsbench.ssl.methods.MaskedSeries`).

A cloudy observation carries the cloud, not the land surface: an auto-encoder trained to reproduce it learns
to draw clouds. The loss therefore averages the squared error over the *valid* entries only, as in the
masked losses of cloud-robust SITS auto-encoders and of masked auto-encoders (He et al. 2022, "Masked
Autoencoders Are Scalable Vision Learners", CVPR), whose loss is computed on selected tokens only.
"""

from __future__ import annotations

import torch


def expand_mask(mask: torch.Tensor | None, like: torch.Tensor, band_dim: int = 2) -> torch.Tensor:
    """Boolean mask with the shape of ``like``; a date-level mask gets a band axis inserted at ``band_dim``.

    ``(B, T)`` -> ``(B, T, C)`` for series, ``(B, T, H, W)`` -> ``(B, T, C, H, W)`` for patches; an entry-level
    mask is returned as is and ``None`` means every entry is valid.
    """
    if mask is None:
        return torch.ones_like(like, dtype=torch.bool)
    mask = mask.to(device=like.device, dtype=torch.bool)
    if mask.dim() == like.dim() - 1:
        mask = mask.unsqueeze(band_dim)
    return mask.expand_as(like)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over the valid entries: ``sum(mask * (pred - target)^2) / sum(mask)``.

    ``mask`` (True = valid) has the shape of ``pred`` or lacks its band axis (dim 2). Invalid targets may hold
    anything, NaN included: they reach neither the value nor the gradient. With no valid entry the loss is 0.
    """
    valid = expand_mask(mask, pred)
    error = torch.where(valid, pred - torch.where(valid, target, pred.detach()), torch.zeros_like(pred))
    return error.pow(2).sum() / valid.sum().clamp_min(1)
