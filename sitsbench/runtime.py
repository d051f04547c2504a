"""Seeding, device selection and batched inference: the same seed gives the same numbers on CPU; CUDA is used when
present."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


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


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor moved to ``device``: a tensor, or dicts and lists of them (other values kept)."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


def _array_batches(arrays: Mapping[str, np.ndarray], batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
    n_items = len(next(iter(arrays.values())))
    for start in range(0, n_items, batch_size):  # a copy of each slice: the arrays may be read-only views
        yield {key: torch.from_numpy(np.array(value[start : start + batch_size])) for key, value in arrays.items()}


@torch.no_grad()
def in_batches(call: Callable[[dict[str, torch.Tensor]], torch.Tensor],
               data: Dataset | DataLoader | Mapping[str, np.ndarray], batch_size: int,
               device: str | torch.device = "auto") -> tuple[np.ndarray, np.ndarray | None]:
    """``call(batch)`` (a model's forward, ``encode``, ``forward_features``, ...) on every item of ``data``,
    ``batch_size`` items at a time and in order, on ``device`` without gradients: the one inference loop of
    sitsbench. ``data`` is a dataset of dict items (batched by a ``DataLoader``), a ``DataLoader`` of them (its own
    batches: ``batch_size`` unused) or a dict of NumPy arrays (sliced along their first axis, each slice a tensor of
    the array's dtype); a batch is a dict of tensors on ``device``.
    Returns the outputs concatenated along the first axis (floating-point ones as float32) and the items' ``y``
    concatenated (``None`` when they have none)."""
    device = resolve_device(device)
    if isinstance(data, Mapping):
        batches = _array_batches(data, batch_size)
    else:
        batches = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)
    outputs, labels = [], []
    for batch in batches:
        out = call(to_device(batch, device))
        outputs.append((out.float() if out.is_floating_point() else out).cpu().numpy())
        if "y" in batch:
            labels.append(batch["y"].numpy())
    return np.concatenate(outputs), np.concatenate(labels) if labels else None


def series_in_batches(call, x: np.ndarray, doy: np.ndarray, mask: np.ndarray, batch_size: int,
                      device: str | torch.device = "auto") -> np.ndarray:
    """``call(x, doy, mask)`` (a model's forward, ``encode`` or ``forward_features``) on ``(N, T, C)`` series held
    in NumPy (:func:`in_batches`): ``x`` as float32, ``doy`` as int64, ``(T,)`` (dates shared by every series) or
    ``(N, T)``, ``mask`` as bool. Returns the float32 outputs concatenated along the first axis."""
    arrays = {"x": x, "doy": np.broadcast_to(np.asarray(doy), np.shape(mask)), "mask": mask}
    return in_batches(lambda b: call(b["x"].float(), b["doy"].long(), b["mask"].bool()), arrays, batch_size,
                      device)[0]
