"""Self-supervised training of the auto-encoders: withhold random clear entries, reconstruct every clear one.

The loop is the one of :mod:`sitsbench.training.engine` with the cross-entropy replaced by the cloud-aware
reconstruction loss of each model (:meth:`SITSAutoEncoder.reconstruction_loss`). At every step,
:func:`hide_entries` withholds a random share of the clear dates (``date_ratio``) and of the remaining clear
bands (``band_ratio``) from the input; the loss still covers them, so the model learns to fill gaps (denoising
auto-encoders, Vincent et al. 2008; masked auto-encoders, He et al. 2022). Cloudy entries are never targets.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset
from tqdm import tqdm

from sitsbench.runtime import resolve_device, seed_everything


@dataclass
class AETrainConfig:
    """Every knob of :func:`fit_autoencoder`."""

    epochs: int = 20
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    date_ratio: float = 0.3
    band_ratio: float = 0.1
    device: str = "auto"
    seed: int = 0
    progress: bool = False


@dataclass
class AEHistory:
    """Per-epoch reconstruction losses (masked MSE in standardised units) of a :func:`fit_autoencoder` run."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    epoch_time_s: list[float] = field(default_factory=list)
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hide_entries(clear: torch.Tensor, date_ratio: float, band_ratio: float,
                 generator: torch.Generator) -> torch.Tensor:
    """Entries to withhold: whole dates with probability ``date_ratio`` (per pixel: for patches the draw is
    per pixel and date), single bands with probability ``band_ratio``; only clear entries are withheld.

    ``clear`` is an entry-level mask with the band axis at dim 2; ``generator`` is a CPU generator.
    """
    date_shape = (*clear.shape[:2], 1, *clear.shape[3:])
    dates = torch.rand(date_shape, generator=generator) < date_ratio
    bands = torch.rand(clear.shape, generator=generator) < band_ratio
    return (dates | bands).to(clear.device) & clear


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in batch.items() if torch.is_tensor(value)}


def reconstruction_loss(model: torch.nn.Module, dataset: Dataset, config: AETrainConfig,
                        seed: int | None = None) -> float:
    """Mean reconstruction loss over ``dataset`` with entries withheld as in training (seeded, no update)."""
    device = resolve_device(config.device)
    generator = torch.Generator().manual_seed(config.seed if seed is None else seed)
    hide = partial(hide_entries, date_ratio=config.date_ratio, band_ratio=config.band_ratio, generator=generator)
    model.to(device).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=config.batch_size):
            batch = _to_device(batch, device)
            total += float(model.reconstruction_loss(batch, hide)) * len(batch["x"])
            count += len(batch["x"])
    return total / max(count, 1)


def fit_autoencoder(model: torch.nn.Module, train_dataset: Dataset, val_dataset: Dataset | None = None,
                    config: AETrainConfig | None = None) -> AEHistory:
    """Train ``model`` in place with AdamW on its reconstruction loss; returns the :class:`AEHistory`.

    Datasets yield dicts with at least ``x``, ``doy`` and ``mask`` (e.g. :class:`PixelSeriesDataset` or
    :class:`PatchDataset` built with ``fill="none"``: the model must see the gaps, not interpolated values), or
    an iterable one such as :class:`sitsbench.autoencoders.streaming.StreamingPixelDataset`.
    """
    config = config or AETrainConfig()
    generator = seed_everything(config.seed)
    hide = partial(hide_entries, date_ratio=config.date_ratio, band_ratio=config.band_ratio, generator=generator)
    device = resolve_device(config.device)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    streaming = isinstance(train_dataset, IterableDataset)  # shuffles itself (StreamingPixelDataset)
    loader = DataLoader(train_dataset, batch_size=config.batch_size, shuffle=not streaming,
                        generator=None if streaming else generator)
    history = AEHistory()
    start = time.perf_counter()
    for _ in tqdm(range(config.epochs), desc=type(model).__name__, disable=not config.progress, leave=False):
        epoch_start = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for batch in loader:
            batch = _to_device(batch, device)
            loss = model.reconstruction_loss(batch, hide)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch["x"])
            count += len(batch["x"])
        history.train_loss.append(total / max(count, 1))
        if val_dataset is not None:
            history.val_loss.append(reconstruction_loss(model, val_dataset, config))
        history.epoch_time_s.append(time.perf_counter() - epoch_start)
    history.duration_s = time.perf_counter() - start
    return history
