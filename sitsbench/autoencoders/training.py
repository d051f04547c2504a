"""Self-supervised training of the auto-encoders: withhold random clear entries, reconstruct every clear one.

The loop is :func:`sitsbench.training.engine.fit` with the :class:`Reconstruction` objective: the cloud-aware
reconstruction loss of each model (:meth:`SITSAutoEncoder.reconstruction_loss`). At every step,
:func:`hide_entries` withholds a random share of the clear dates (``date_ratio``) and of the remaining clear
bands (``band_ratio``) from the input; the loss still covers them, so the model learns to fill gaps (denoising
auto-encoders, Vincent et al. 2008; masked auto-encoders, He et al. 2022). Cloudy entries are never targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import torch
from torch.utils.data import DataLoader, Dataset

from sitsbench.runtime import resolve_device, seed_everything, to_device
from sitsbench.training.engine import History, Objective, TrainConfig, fit

AE_TRAINING = TrainConfig(lr=2e-3, batch_size=128, progress=False)
"""The default training knobs of :class:`AETrainConfig`; change some with ``dataclasses.replace(AE_TRAINING, ...)``."""


@dataclass
class AETrainConfig:
    """Every knob of :func:`fit_autoencoder`: the share of clear dates and bands withheld at each step, and the
    training loop's knobs ``train`` (default :data:`AE_TRAINING`; the training always runs its ``epochs`` in full
    and keeps the last weights: ``patience`` and ``restore_best`` are ignored)."""

    date_ratio: float = 0.3
    band_ratio: float = 0.1
    train: TrainConfig = field(default_factory=lambda: replace(AE_TRAINING))


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


class Reconstruction(Objective):
    """The objective of :func:`fit_autoencoder`: the model's own reconstruction loss with entries withheld by
    :func:`hide_entries` (drawn from ``generator``); the epoch loss is a mean over the series."""

    def __init__(self, config: AETrainConfig, generator: torch.Generator):
        self.config = config
        self.hide = partial(hide_entries, date_ratio=config.date_ratio, band_ratio=config.band_ratio,
                            generator=generator)

    def loss(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, float]:
        return model.reconstruction_loss(batch, self.hide), len(batch["x"])

    def validate(self, model, dataset, config, device, collate_fn) -> dict[str, float]:
        return {"loss": reconstruction_loss(model, dataset, self.config)}


def reconstruction_loss(model: torch.nn.Module, dataset: Dataset, config: AETrainConfig,
                        seed: int | None = None) -> float:
    """Mean reconstruction loss over ``dataset`` with entries withheld as in training (seeded, no update)."""
    device = resolve_device(config.train.device)
    generator = torch.Generator().manual_seed(config.train.seed if seed is None else seed)
    hide = partial(hide_entries, date_ratio=config.date_ratio, band_ratio=config.band_ratio, generator=generator)
    model.to(device).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=config.train.batch_size):
            batch = to_device(batch, device)
            total += float(model.reconstruction_loss(batch, hide)) * len(batch["x"])
            count += len(batch["x"])
    return total / max(count, 1)


def fit_autoencoder(model: torch.nn.Module, train_dataset: Dataset, val_dataset: Dataset | None = None,
                    config: AETrainConfig | None = None) -> History:
    """Train ``model`` in place with AdamW on its reconstruction loss (the loop of
    :func:`sitsbench.training.engine.fit`); returns the :class:`~sitsbench.training.engine.History`.

    Datasets yield dicts with at least ``x``, ``doy`` and ``mask`` (e.g. :class:`PixelSeriesDataset` or
    :class:`PatchDataset` built with ``fill="none"``: the model must see the gaps, not interpolated values), or
    an iterable one such as :class:`sitsbench.autoencoders.streaming.StreamingPixelDataset`.
    """
    config = config or AETrainConfig()
    generator = seed_everything(config.train.seed)
    train = replace(config.train, patience=None, restore_best=False, drop_last=False)
    return fit(model, train_dataset, val_dataset, train, objective=Reconstruction(config, generator),
               generator=generator)
