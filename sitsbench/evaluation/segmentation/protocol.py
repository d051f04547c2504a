"""The three segmentation protocols (see :mod:`sitsbench.evaluation.segmentation`): build the network, train it
with the one training loop on a label fraction of the training patches, predict and score the test patches."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import xarray as xr
from torch import nn
from torch.utils.data import Dataset, Subset

from sitsbench.data import cube as cube_format
from sitsbench.data.datasets import PatchDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.evaluation.label_fraction import stratified_fraction
from sitsbench.evaluation.segmentation.patches import EmbeddedPatches, patch_majority
from sitsbench.metrics import classification_metrics
from sitsbench.models.base import SITSClassifier
from sitsbench.models.pixel_segmenter import DecoderOnly, PixelEncoderSegmenter
from sitsbench.models.registry import create_model
from sitsbench.records import score_row
from sitsbench.runtime import in_batches, resolve_device, seed_everything
from sitsbench.training.engine import Supervised, TrainConfig, fit

METHODS = ("utae", "frozen", "finetune")


SEGMENTATION_TRAINING = TrainConfig(batch_size=4, lr=5e-3, progress=False)
"""The default training knobs of :class:`SegmentationConfig` (a small cube has few patches: small batches give more
optimiser steps per epoch); change some with ``dataclasses.replace(SEGMENTATION_TRAINING, ...)``."""


@dataclass
class SegmentationConfig:
    """Knobs shared by the three protocols: the decoder, the encoder's learning rate ``lr * encoder_lr_scale`` in
    ``"finetune"``, and the training loop's ``train`` (default :data:`SEGMENTATION_TRAINING`: AdamW for ``epochs``
    passes over the training patches, no validation; the run's ``seed`` replaces ``train.seed``)."""

    encoder_lr_scale: float = 0.1
    decoder: str = "conv"
    train: TrainConfig = field(default_factory=lambda: replace(SEGMENTATION_TRAINING))


def train_segmenter(model: SITSClassifier, train: Dataset, config: SegmentationConfig, seed: int = 0) -> list[float]:
    """Train ``model`` in place with per-pixel cross-entropy (``-1`` ignored); returns the mean loss of each epoch.

    Parameters of ``model.encoder`` (when it has one and it is trainable) get ``lr * encoder_lr_scale``; frozen
    parameters are left out of the optimiser.
    """
    generator = seed_everything(seed)
    encoder = getattr(model, "encoder", None)
    objective = Supervised(per_batch=True, slow_scale=config.encoder_lr_scale,
                           slow=lambda m: [] if encoder is None else [p for p in encoder.parameters() if p.requires_grad])
    epochs = replace(config.train, patience=None, drop_last=False, seed=seed)
    return fit(model, train, config=epochs, objective=objective, generator=generator).train_loss


def predict_patches(model: nn.Module, dataset: Dataset, batch_size: int = 8,
                    device: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Reference ``(N, P, P)`` (``-1`` = ignored) and predicted ``(N, P, P)`` label maps of ``dataset``."""
    device = resolve_device(device)
    model.to(device).eval()
    predicted, truth = in_batches(lambda b: model(b["x"], doy=b["doy"], mask=b["mask"]).argmax(dim=1), dataset,
                                  batch_size, device)
    return truth, predicted


def build_segmenter(method: str, in_channels: int, num_classes: int, encoder: SITSClassifier | None = None,
                    decoder: str = "conv", utae: str = "utae_tiny") -> SITSClassifier:
    """The network of ``method``: a fresh registered U-TAE (``utae``), or a *copy* of ``encoder`` inside a
    :class:`PixelEncoderSegmenter` (frozen or trainable), so the caller's encoder is never modified."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "utae":
        return create_model(utae, in_channels=in_channels, num_classes=num_classes)
    if encoder is None:
        raise ValueError(f"method {method!r} needs a pretrained pixel encoder (encoder=...), got None")
    return PixelEncoderSegmenter(copy.deepcopy(encoder), num_classes, decoder=decoder, freeze=method == "frozen")


METHOD_TITLES = {"utae": "U-TAE", "frozen": "frozen encoder + decoder", "finetune": "fine-tuned encoder + decoder"}
"""The ``method`` of the score rows of each segmentation method."""


@dataclass
class SegmentationRun:
    """Everything one run produced: ``scores`` (the tidy, JSON-friendly dict), the trained ``model``, the ``test``
    patches, their reference ``y_true`` and predicted ``y_pred`` maps ``(N, P, P)`` and the training ``losses``."""

    scores: dict
    model: nn.Module
    test: PatchDataset
    y_true: np.ndarray
    y_pred: np.ndarray
    losses: list[float]

    def score_rows(self, dataset: str, encoder: str | None = None,
                   metrics: tuple[str, ...] = ("miou", "oa")) -> list[dict]:
        """The run's score rows (:mod:`sitsbench.records`), one per metric of ``metrics``: its method named by
        :data:`METHOD_TITLES`, ``encoder`` the name of the pretrained encoder (``None`` for U-TAE), unit ``patch``,
        with its label fraction, seed and training time."""
        return [score_row(dataset, METHOD_TITLES[self.scores["method"]], metric, self.scores[metric], encoder=encoder,
                          unit="patch", label_fraction=self.scores["label_fraction"], seed=self.scores["seed"],
                          train_time_s=self.scores["train_time_s"]) for metric in metrics]


def segment(
    cube: xr.Dataset,
    method: str = "utae",
    encoder: SITSClassifier | None = None,
    label_fraction: float = 1.0,
    seed: int = 0,
    patch_size: int = 16,
    config: SegmentationConfig | None = None,
    split_seed: int = 0,
    utae: str = "utae_tiny",
) -> SegmentationRun:
    """Train ``method`` (see :data:`METHODS`) on ``label_fraction`` of the training patches and score the test
    patches. The split (``split_seed``) is the same for every method and seed; ``seed`` draws the label subset and
    the initial weights / batch order."""
    config = config or SegmentationConfig()
    split = split_parcels(cube, fractions=(0.7, 0.0, 0.3), seed=split_seed, by="block", block_size=patch_size)
    stats = BandStats.from_cube(cube, split_mask(split, "train"))
    train = PatchDataset(cube, split, "train", stats, patch_size)
    test = PatchDataset(cube, split, "test", stats, patch_size)  # each refuses a split without a patch
    kept = stratified_fraction(patch_majority(train), label_fraction, seed)
    names = cube_format.class_names(cube)
    seed_everything(seed)
    model = build_segmenter(method, cube.sizes[cube_format.BAND], len(names), encoder, config.decoder, utae)
    labelled = Subset(train, kept.tolist())
    start = time.perf_counter()
    if isinstance(model, PixelEncoderSegmenter):
        model.to(resolve_device(config.train.device)).fit_feature_scaling(labelled, config.train.batch_size)
    if method == "frozen":  # the encoder never changes: embed the training patches once, train the decoder on them
        losses = train_segmenter(DecoderOnly(model), EmbeddedPatches(model, labelled, config.train.batch_size), config, seed)
    else:
        losses = train_segmenter(model, labelled, config, seed)
    train_time = time.perf_counter() - start
    y_true, y_pred = predict_patches(model, test, config.train.batch_size, config.train.device)
    scores = {
        "method": method,
        "label_fraction": float(label_fraction),
        "seed": int(seed),
        **classification_metrics(y_true, y_pred, len(names), names),
        "n_train_patches": int(kept.size),
        "n_test_patches": len(test),
        "train_time_s": train_time,
        "final_train_loss": losses[-1],
    }
    return SegmentationRun(scores, model.eval(), test, y_true, y_pred, losses)


def run_segmentation(cube: xr.Dataset, method: str = "utae", encoder: SITSClassifier | None = None,
                     label_fraction: float = 1.0, seed: int = 0, patch_size: int = 16,
                     config: SegmentationConfig | None = None, **kwargs) -> dict:
    """The ``scores`` dict of :func:`segment`: the pixel scores of :func:`sitsbench.metrics.classification_metrics`
    (``miou``, ``oa``, ``macro_f1``, ``iou_per_class``, ``confusion_matrix``, ``n``, ...), patch counts, training
    time and the run's settings."""
    return segment(cube, method, encoder, label_fraction, seed, patch_size, config, **kwargs).scores


def segmentation_table(cube: xr.Dataset, methods: Sequence[str], encoder: SITSClassifier | None = None,
                       label_fractions: Sequence[float] = (1.0,), seeds: Sequence[int] = (0,),
                       patch_size: int = 16, config: SegmentationConfig | None = None) -> pd.DataFrame:
    """One row per method x label fraction x seed: ``method``, ``label_fraction``, ``seed``, ``miou``, ``oa``,
    ``n_train_patches``, ``train_time_s`` and one ``iou_<class>`` column per class."""
    rows = []
    for method in methods:
        for fraction in label_fractions:
            for seed in seeds:
                scores = run_segmentation(cube, method, encoder, fraction, seed, patch_size, config)
                row = {key: scores[key] for key in ("method", "label_fraction", "seed", "miou", "oa",
                                                    "n_train_patches", "train_time_s")}
                row.update({f"iou_{name}": value for name, value in scores["iou_per_class"].items()})
                rows.append(row)
    return pd.DataFrame(rows)
