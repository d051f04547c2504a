"""Grad-CAM saliency of an STR classifier, projected back to time (rows) and to the curve's pixels (space).

Grad-CAM (Selvaraju et al., ICCV 2017): the activations ``A`` of a layer are weighted by the spatial mean of
the gradient of the class score with respect to them, summed over channels and rectified, then upsampled
to the input. On an STR, the mean of the map over columns tells *when* the network looked (Deep-STaR's
temporal attention) and the mean over rows, written back at each column's pixel, *where* it looked.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def default_layer(model: nn.Module) -> str:
    """The layer Grad-CAM reads by default: a ResNet's ``layer2`` (still a few cells wide on small STRs),
    a ViT's last block, otherwise the backbone's last child."""
    backbone = model.backbone
    if hasattr(backbone, "layer2"):
        return "backbone.layer2"
    if hasattr(backbone, "blocks"):
        return f"backbone.blocks.{len(backbone.blocks) - 1}"
    return f"backbone.{list(dict(backbone.named_children()))[-1]}"


def _as_map(activation: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """``(B, D, h, w)`` view of a CNN map or of ViT tokens ``(B, N, D)`` (prefix tokens dropped)."""
    if activation.ndim == 4:
        return activation
    backbone = model.backbone
    grid_h, grid_w = backbone.patch_embed.grid_size
    tokens = activation[:, getattr(backbone, "num_prefix_tokens", 0):]
    return tokens.reshape(tokens.shape[0], grid_h, grid_w, -1).permute(0, 3, 1, 2)


def grad_cam(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None, layer: str | None = None) -> np.ndarray:
    """Grad-CAM maps ``(B, H, W)`` in [0, 1] for ``x`` ``(B, C, H, W)`` and class ``target`` (default: predicted)."""
    module = model.get_submodule(layer or default_layer(model))
    captured = {}
    handle = module.register_forward_hook(lambda _m, _i, output: captured.__setitem__("a", output))
    was_training = model.training
    model.eval()
    try:
        logits = model(x)
    finally:
        handle.remove()
        model.train(was_training)
    target = logits.argmax(dim=1) if target is None else torch.as_tensor(target, device=logits.device)
    score = logits.gather(1, target.view(-1, 1)).sum()
    (gradient,) = torch.autograd.grad(score, captured["a"])
    activation, gradient = _as_map(captured["a"], model), _as_map(gradient, model)
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).max(dim=1).values.clamp_min(1e-12)
    return (cam / peak[:, None, None]).detach().cpu().numpy()


def temporal_profile(cams: np.ndarray) -> np.ndarray:
    """Mean saliency of each row (date) of each STR: ``(B, H)``."""
    return np.asarray(cams).mean(axis=2)


def spatial_map(cams: np.ndarray, coords: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mean saliency of each pixel over the STR columns that read it: a ``(y, x)`` map, NaN where no curve
    passed. ``coords`` ``(B, W, 2)`` are the (row, col) of each column in the cube."""
    column = np.asarray(cams).mean(axis=1).ravel()  # (B * W,)
    rows, cols = np.asarray(coords).reshape(-1, 2).T
    total = np.zeros(shape)
    count = np.zeros(shape)
    np.add.at(total, (rows, cols), column)
    np.add.at(count, (rows, cols), 1)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
