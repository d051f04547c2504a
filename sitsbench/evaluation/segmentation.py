"""Semantic segmentation of patches cut from the cube: metrics, three protocols, and a figure.

A patch ``(T, C, P, P)`` of the series is mapped to a ``(P, P)`` map of classes. Three protocols compare what a
pretrained *pixel* encoder is worth for a dense task:

* ``"utae"`` — U-TAE trained from scratch (Garnot & Landrieu 2021, "Panoptic Segmentation of Satellite Image Time
  Series with Convolutional Temporal Attention Networks", ICCV), the supervised spatio-temporal reference;
* ``"frozen"`` — a pretrained pixel encoder (any series :class:`~sitsbench.models.base.SITSClassifier`: an SSL
  transformer from :func:`sitsbench.ssl.pretrain.pretrain`, an auto-encoder's encoder wrapped by
  :class:`~sitsbench.autoencoders.classifiers.EncoderClassifier`...) is applied to every pixel of the patch to give a
  ``(B, D, H, W)`` feature map, and only a small convolutional decoder is trained. The encoder stays in ``eval()``
  mode and receives no gradient: this is the dense analogue of the linear probe ("frozen encoder + decoder", as in
  the segmentation evaluations of SSL papers such as Caron et al. 2021, DINO). The embedding maps of the training
  patches are computed once (:class:`EmbeddedPatches`) and only the decoder runs at every step;
* ``"finetune"`` — the same network, with the encoder trained too at a smaller learning rate.

The decoder is either ``"linear"`` (a 1x1 convolution: each pixel is classified from its own embedding alone) or
``"conv"`` (two 3x3 convolutions with GroupNorm before the 1x1 head: neighbouring embeddings are combined, which
the pixel encoder cannot do; GroupNorm, as in U-TAE, behaves the same in training and inference even after a few
steps on a handful of patches, which batch-norm running statistics do not).

**Metrics** (all from one confusion matrix, :mod:`sitsbench.metrics`): overall accuracy, intersection over union
per class ``TP / (TP + FP + FN)`` and its mean (mIoU, over the classes present in the reference or the
prediction). Pixels whose reference equals ``ignore_index`` (unlabelled, other splits) are left out everywhere.

**Split.** Parcels are split into train/test by spatial blocks of the patch size
(:func:`sitsbench.data.splits.split_parcels` with ``by="block"``), so that a patch lies (almost) entirely in one
split; labels of pixels from the other split are ignored (:class:`~sitsbench.data.datasets.PatchDataset`).
``label_fraction`` keeps a nested, seeded subset of the training patches, stratified by each patch's majority class
(:func:`sitsbench.evaluation.label_fraction.stratified_fraction`: at least one patch per majority class, so very small
fractions of a small cube round up).

>>> run = segment(cube, "frozen", encoder=pretrained, label_fraction=0.1, config=SegmentationConfig(epochs=20))
>>> run.scores["miou"], run.scores["iou_per_class"]          # tidy, JSON-friendly
>>> fig = plot_segmentation(run, cube)                       # RGB, NDVI, reference, prediction
>>> table = segmentation_table(cube, METHODS, pretrained, label_fractions=(0.1, 1.0), seeds=(0, 1))
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from sitsbench.data import cube as C
from sitsbench.data.datasets import PatchDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.evaluation.label_fraction import stratified_fraction
from sitsbench.metrics import IGNORE_INDEX, classification_metrics
from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import create_model
from sitsbench.plot import class_colormap
from sitsbench.runtime import resolve_device, seed_everything
from sitsbench.training.engine import Supervised, TrainConfig, fit

METHODS = ("utae", "frozen", "finetune")
DECODERS = ("linear", "conv")


def segmentation_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> dict:
    """``miou``, ``oa``, ``iou_per_class`` (``{name: IoU}``, None for classes absent from reference and prediction),
    ``confusion_matrix`` and ``n`` (scored pixels) of label maps of any shape; pixels with
    ``y_true == ignore_index`` are dropped."""
    metrics = classification_metrics(y_true, y_pred, num_classes, class_names, ignore_index)
    return {key: metrics[key] for key in ("miou", "oa", "iou_per_class", "confusion_matrix", "n")}


class PixelEncoderSegmenter(SITSClassifier):
    """A series encoder applied to every pixel of a patch, then a convolutional decoder and a 1x1 head.

    ``(B, T, C, H, W)`` -> encoder per pixel -> ``(B, D, H, W)`` -> decoder -> ``(B, hidden, H, W)`` (``"conv"``) or
    the embedding map itself (``"linear"``) -> per-pixel logits ``(B, K, H, W)``. With ``freeze=True`` the encoder is
    kept in eval mode (whatever ``train()`` is called with) and run without gradients. ``chunk`` pixels are encoded
    at a time to bound memory.

    Embeddings are standardised per channel with fixed statistics (buffers ``feature_mean``/``feature_std``, set by
    :meth:`fit_feature_scaling` on the training patches), as the linear probe standardises its features: a pretrained
    encoder's channels can differ in scale by orders of magnitude, which a small decoder trained for a few steps
    cannot absorb.
    """

    input_kind = "patch"

    def __init__(
        self,
        encoder: SITSClassifier,
        num_classes: int,
        decoder: str = "conv",
        hidden: int = 32,
        freeze: bool = True,
        chunk: int = 8192,
    ):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        if getattr(encoder, "input_kind", "series") != "series":
            raise ValueError(f"the pixel encoder must read series (B, T, C), got input_kind={encoder.input_kind!r}")
        dim = getattr(encoder, "num_features", None)
        if dim is None:
            raise ValueError(f"{type(encoder).__name__} has no num_features: not a SITSClassifier encoder")
        self.encoder, self.frozen, self.chunk = encoder, freeze, chunk
        self.encoder.requires_grad_(not freeze)
        self.register_buffer("feature_mean", torch.zeros(dim))
        self.register_buffer("feature_std", torch.ones(dim))
        if decoder == "conv":
            self.decoder = nn.Sequential(
                nn.Conv2d(dim, hidden, 3, padding=1), nn.GroupNorm(4, hidden), nn.ReLU(),
                nn.Conv2d(hidden, hidden, 3, padding=1), nn.GroupNorm(4, hidden), nn.ReLU(),
            )
            self.init_head(hidden, num_classes)
        else:
            self.decoder = nn.Identity()
            self.init_head(dim, num_classes)

    def train(self, mode: bool = True) -> PixelEncoderSegmenter:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def pixel_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The encoder's embedding of every pixel: ``(B, D, H, W)``."""
        batch, n_time, n_band, height, width = x.shape
        pixels = x.permute(0, 3, 4, 1, 2).reshape(-1, n_time, n_band)
        pixel_doy = None if doy is None else doy.repeat_interleave(height * width, dim=0)
        pixel_mask = None if mask is None else mask.permute(0, 2, 3, 1).reshape(-1, n_time)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            parts = [
                self.encoder.forward_features(
                    pixels[i : i + self.chunk],
                    doy=None if pixel_doy is None else pixel_doy[i : i + self.chunk],
                    mask=None if pixel_mask is None else pixel_mask[i : i + self.chunk],
                )
                for i in range(0, pixels.shape[0], self.chunk)
            ]
        features = (torch.cat(parts) - self.feature_mean) / self.feature_std
        return features.view(batch, height, width, -1).permute(0, 3, 1, 2)

    @torch.no_grad()
    def fit_feature_scaling(self, dataset: Dataset, batch_size: int = 8) -> None:
        """Set the standardisation buffers to the per-channel mean and std of the embeddings of the labelled pixels
        of ``dataset`` (encoder in eval mode)."""
        self.feature_mean.zero_()
        self.feature_std.fill_(1.0)
        mode, device = self.training, self.feature_mean.device
        self.eval()
        total, total_sq, count = 0.0, 0.0, 0
        for batch in DataLoader(dataset, batch_size=batch_size):
            features = self.pixel_features(*(batch[key].to(device) for key in ("x", "doy", "mask")))
            selected = features.permute(0, 2, 3, 1)[batch["y"].to(device) != IGNORE_INDEX].double()
            total, total_sq, count = total + selected.sum(0), total_sq + (selected**2).sum(0), count + len(selected)
        if count == 0:
            raise ValueError("fit_feature_scaling: the dataset has no labelled pixel")
        mean = total / count
        self.feature_mean.copy_(mean.float())
        self.feature_std.copy_(((total_sq / count - mean**2).clamp_min(0).sqrt() + 1e-6).float())
        self.train(mode)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.decoder(self.pixel_features(x, doy, mask))


class EmbeddedPatches(Dataset):
    """The patches of ``dataset`` replaced by ``model``'s (frozen, standardised) embedding maps, computed once: items
    ``x`` ``(D, P, P)`` and ``y`` ``(P, P)``. Training a decoder on them gives the same result as running the frozen
    encoder at every step, for a fraction of the cost."""

    @torch.no_grad()
    def __init__(self, model: PixelEncoderSegmenter, dataset: Dataset, batch_size: int = 8):
        model.eval()
        device = model.feature_mean.device
        maps, labels = [], []
        for batch in DataLoader(dataset, batch_size=batch_size):
            maps.append(model.pixel_features(*(batch[key].to(device) for key in ("x", "doy", "mask"))).cpu())
            labels.append(batch["y"])
        self.x, self.y = torch.cat(maps), torch.cat(labels)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index]}


class DecoderOnly(nn.Module):
    """The decoder and head of a :class:`PixelEncoderSegmenter` (shared, not copied) applied to embedding maps."""

    def __init__(self, model: PixelEncoderSegmenter):
        super().__init__()
        self.decoder, self.head = model.decoder, model.head

    def forward(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        return self.head(self.decoder(x))


@dataclass
class SegmentationConfig:
    """Training knobs shared by the three protocols: AdamW for ``epochs`` passes over the training patches;
    the encoder of ``"finetune"`` learns at ``lr * encoder_lr_scale``. A small cube has few patches: small batches
    give more optimiser steps per epoch."""

    epochs: int = 20
    batch_size: int = 4
    lr: float = 5e-3
    encoder_lr_scale: float = 0.1
    weight_decay: float = 1e-4
    decoder: str = "conv"
    device: str = "auto"


def train_segmenter(model: SITSClassifier, train: Dataset, config: SegmentationConfig, seed: int = 0) -> list[float]:
    """Train ``model`` in place with per-pixel cross-entropy (``-1`` ignored); returns the mean loss of each epoch.

    Parameters of ``model.encoder`` (when it has one and it is trainable) get ``lr * encoder_lr_scale``; frozen
    parameters are left out of the optimiser.
    """
    generator = seed_everything(seed)
    encoder = getattr(model, "encoder", None)
    objective = Supervised(per_batch=True, slow_scale=config.encoder_lr_scale,
                           slow=lambda m: [] if encoder is None else [p for p in encoder.parameters() if p.requires_grad])
    epochs = TrainConfig(epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
                         batch_size=config.batch_size, patience=None, drop_last=False, device=config.device,
                         seed=seed, progress=False)
    return fit(model, train, config=epochs, objective=objective, generator=generator).train_loss


@torch.no_grad()
def predict_patches(model: nn.Module, dataset: Dataset, batch_size: int = 8,
                    device: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Reference ``(N, P, P)`` (``-1`` = ignored) and predicted ``(N, P, P)`` label maps of ``dataset``."""
    device = resolve_device(device)
    model.to(device).eval()
    truth, predicted = [], []
    for batch in DataLoader(dataset, batch_size=batch_size):
        logits = model(batch["x"].to(device), doy=batch["doy"].to(device), mask=batch["mask"].to(device))
        truth.append(batch["y"].numpy())
        predicted.append(logits.argmax(dim=1).cpu().numpy())
    return np.concatenate(truth), np.concatenate(predicted)


def patch_majority(dataset: PatchDataset) -> np.ndarray:
    """Majority labelled class of each patch of ``dataset`` (``-1`` for a patch without labels)."""
    majority = []
    for y0, x0 in dataset.origins:
        window = dataset.labels[y0 : y0 + dataset.patch_size, x0 : x0 + dataset.patch_size]
        labelled = window[window != IGNORE_INDEX]
        majority.append(np.bincount(labelled).argmax() if labelled.size else IGNORE_INDEX)
    return np.asarray(majority, dtype=np.int64)


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
    names = C.class_names(cube)
    seed_everything(seed)
    model = build_segmenter(method, cube.sizes[C.BAND], len(names), encoder, config.decoder, utae)
    labelled = Subset(train, kept.tolist())
    start = time.perf_counter()
    if isinstance(model, PixelEncoderSegmenter):
        model.to(resolve_device(config.device)).fit_feature_scaling(labelled, config.batch_size)
    if method == "frozen":  # the encoder never changes: embed the training patches once, train the decoder on them
        losses = train_segmenter(DecoderOnly(model), EmbeddedPatches(model, labelled, config.batch_size), config, seed)
    else:
        losses = train_segmenter(model, labelled, config, seed)
    train_time = time.perf_counter() - start
    y_true, y_pred = predict_patches(model, test, config.batch_size, config.device)
    scores = {
        "method": method,
        "label_fraction": float(label_fraction),
        "seed": int(seed),
        **segmentation_scores(y_true, y_pred, len(names), names),
        "n_train_patches": int(kept.size),
        "n_test_patches": len(test),
        "train_time_s": train_time,
        "final_train_loss": losses[-1],
    }
    return SegmentationRun(scores, model.eval(), test, y_true, y_pred, losses)


def run_segmentation(cube: xr.Dataset, method: str = "utae", encoder: SITSClassifier | None = None,
                     label_fraction: float = 1.0, seed: int = 0, patch_size: int = 16,
                     config: SegmentationConfig | None = None, **kwargs) -> dict:
    """The ``scores`` dict of :func:`segment`: ``miou``, ``oa``, ``iou_per_class``, ``confusion_matrix``, ``n``,
    patch counts, training time and the run's settings."""
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


def _patch_images(cube: xr.Dataset, y0: int, x0: int, size: int, date: int) -> tuple[np.ndarray, np.ndarray]:
    window = {C.Y: slice(y0, y0 + size), C.X: slice(x0, x0 + size)}
    patch = cube[C.REFLECTANCE].isel({C.TIME: date, **window})
    rgb = np.moveaxis(patch.sel({C.BAND: ["B04", "B03", "B02"]}).values, 0, -1)
    nir, red = patch.sel({C.BAND: "B08"}).values, patch.sel({C.BAND: "B04"}).values
    return np.clip(rgb * 3.5, 0, 1), (nir - red) / np.maximum(nir + red, 1e-6)


def plot_segmentation(run: SegmentationRun, cube: xr.Dataset, n_patches: int = 4, date: int | None = None,
                      seed: int = 0) -> plt.Figure:
    """For ``n_patches`` test patches (seeded pick): true colour and NDVI at ``date`` (default: the clearest date
    of each patch), the reference map (ignored pixels white) and the prediction, with a class legend."""
    names = C.class_names(cube)
    cmap, norm = class_colormap(len(names))
    picks = np.sort(np.random.default_rng(seed).choice(len(run.test), min(n_patches, len(run.test)), replace=False))
    size = run.test.patch_size
    fig, axes = plt.subplots(len(picks), 4, figsize=(10, 2.6 * len(picks)), squeeze=False)
    for row, index in zip(axes, picks):
        y0, x0 = run.test.origins[index]
        clear = cube[C.VALID].isel({C.Y: slice(y0, y0 + size), C.X: slice(x0, x0 + size)}).mean((C.Y, C.X)).values
        t = int(np.argmax(clear)) if date is None else date
        rgb, ndvi = _patch_images(cube, y0, x0, size, t)
        day = np.datetime_as_string(cube[C.TIME].values[t], unit="D")
        truth = np.ma.masked_equal(run.y_true[index], IGNORE_INDEX)
        panels = [(rgb, {}, f"RGB {day}"), (ndvi, {"cmap": "RdYlGn", "vmin": -0.1, "vmax": 0.9}, "NDVI"),
                  (truth, {"cmap": cmap, "norm": norm, "interpolation": "nearest"}, "reference"),
                  (run.y_pred[index], {"cmap": cmap, "norm": norm, "interpolation": "nearest"}, "prediction")]
        for ax, (image, style, title) in zip(row, panels):
            ax.imshow(image, **style)
            ax.set_title(f"{title} ({y0},{x0})" if title == "reference" else title, fontsize=9)
            ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(k)) for k in range(len(names))]
    fig.legend(handles, names, loc="lower center", ncol=min(5, len(names)), fontsize=8)
    fig.suptitle(f"{run.scores['method']}: mIoU {run.scores['miou']:.2f}, OA {run.scores['oa']:.2f} (test patches)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
