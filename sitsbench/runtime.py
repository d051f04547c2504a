"""Seeding and device selection: the same seed gives the same numbers on CPU; CUDA is used when present."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def check_seed(seed) -> int:
    """``seed`` if it is a non-negative integer; otherwise a ``ValueError`` saying what was given."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r} ({type(seed).__name__})")
    return int(seed)


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch; with ``deterministic`` ask torch for deterministic kernels.

    Returns a torch generator seeded with ``seed`` for data loaders and samplers.
    """
    check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - libraries that still use the global NumPy state
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; an explicit device must be available."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available on this machine")
    return resolved


@torch.no_grad()
def series_in_batches(call, x: np.ndarray, doy: np.ndarray, mask: np.ndarray, batch_size: int,
                      device: str | torch.device = "auto") -> np.ndarray:
    """``call(x, doy, mask)`` (a model's forward, ``encode`` or ``forward_features``) on ``(N, T, C)`` series held
    in NumPy, ``batch_size`` series at a time on ``device`` without gradients; ``doy`` is ``(T,)`` (dates shared by
    every series) or ``(N, T)``. Returns the float32 outputs concatenated along the first axis."""
    device = resolve_device(device)
    doy = np.broadcast_to(np.asarray(doy), np.shape(mask))
    out = []
    for start in range(0, len(x), batch_size):
        batch = slice(start, start + batch_size)
        xb = torch.from_numpy(np.ascontiguousarray(x[batch], dtype=np.float32)).to(device)
        mb = torch.from_numpy(np.ascontiguousarray(mask[batch], dtype=bool)).to(device)
        db = torch.from_numpy(np.array(doy[batch], dtype=np.int64)).to(device)  # a copy: doy may be a read-only view
        out.append(call(xb, db, mb).float().cpu().numpy())
    return np.concatenate(out)
