"""A small, explicit training engine: ``fit`` a model on a dataset, ``predict`` with it, record the run.

No framework: one loop that a reader can follow. The contract with models and datasets is the one of
:mod:`sitsbench.data.datasets` and :mod:`sitsbench.models.base`: every batch is a dict of tensors, moved to
the device as a whole, and the model is called as ``model(batch["x"], doy=batch["doy"], mask=batch["mask"])``
with target ``batch["y"]`` (a class per item, or a ``(H, W)`` map with ``-1`` = ignore for segmentation).
Models that do not use dates or masks (2D networks on image representations) accept and ignore them.

``fit`` seeds the data order and dropout with ``config.seed`` (seed before building the model for identical
initial weights too): on CPU the same seed gives the same losses. With a validation set it keeps the weights
of the best epoch (lowest validation loss, or highest macro-F1) and stops after ``patience`` epochs without
improvement.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from sitsbench.metrics import IGNORE_INDEX, confusion_matrix, macro_f1, overall_accuracy
from sitsbench.records import write_run_record
from sitsbench.runtime import resolve_device, seed_everything

MONITORS = ("val_loss", "val_macro_f1")


@dataclass
class TrainConfig:
    """Every knob of :func:`fit`. ``patience=None`` disables early stopping (the last epoch is kept)."""

    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    eval_batch_size: int = 256
    patience: int | None = 5
    monitor: str = "val_loss"
    class_weighted: bool = False
    device: str = "auto"
    seed: int = 0
    num_workers: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {MONITORS}, got {self.monitor!r}")


@dataclass
class History:
    """Per-epoch curves of a :func:`fit` run and where it stopped."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_oa: list[float] = field(default_factory=list)
    val_macro_f1: list[float] = field(default_factory=list)
    epoch_time_s: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _labels(dataset: Dataset) -> np.ndarray:
    """All target labels of ``dataset`` (from its ``y`` array when it has one)."""
    if isinstance(dataset, Subset):
        inner = dataset.dataset
        if hasattr(inner, "y"):
            return np.asarray(inner.y)[np.asarray(dataset.indices)]
    elif hasattr(dataset, "y"):
        return np.asarray(dataset.y)
    return np.concatenate([np.ravel(dataset[i]["y"].numpy()) for i in range(len(dataset))])


def class_weights(labels: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Inverse-frequency weights ``n / (K_present * n_k)`` (mean 1 over the samples); 0 for absent classes."""
    labels = np.asarray(labels).ravel()
    counts = np.bincount(labels[labels != ignore_index], minlength=num_classes)[:num_classes].astype(float)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def _name(dataset: Dataset) -> str:
    return f"the {type(dataset).__name__}"


def _check_targets(model: nn.Module, dataset: Dataset, role: str) -> None:
    """Refuse an empty dataset and labels the model has no output for (torch would say "Target 12 is out of
    bounds" deep in the loss)."""
    if len(dataset) == 0:
        raise ValueError(f"the {role} dataset ({type(dataset).__name__}) is empty (an empty split?)")
    num_classes = getattr(model, "num_classes", None)
    if num_classes is None:
        return
    inner = dataset.dataset if isinstance(dataset, Subset) else dataset
    if not hasattr(inner, "y"):  # labels only reachable by loading every item (patches): the loss will check
        return
    labels = _labels(dataset)
    labels = labels[labels != IGNORE_INDEX]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"the {role} dataset has labels in [{labels.min()}, {labels.max()}] but the model predicts "
                         f"{num_classes} classes (0..{num_classes - 1}): a class unseen when the model was built?")


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _forward(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(batch["x"], doy=batch.get("doy"), mask=batch.get("mask"))


def _loader(dataset: Dataset, batch_size: int, config: TrainConfig, collate_fn: Callable | None, **kw) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=config.num_workers,
        collate_fn=collate_fn,
        pin_memory=resolve_device(config.device).type == "cuda",
        **kw,
    )


@torch.no_grad()
def _infer(
    model: nn.Module, loader: DataLoader, device: torch.device, criterion: nn.Module | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Targets, softmax probabilities and mean loss over ``loader`` (model in eval mode)."""
    if len(loader.dataset) == 0:
        raise ValueError(f"{_name(loader.dataset)} is empty: nothing to predict or evaluate (an empty split?)")
    model.eval()
    targets, probabilities = [], []
    total_loss, total_count = 0.0, 0
    for batch in loader:
        batch = _to_device(batch, device)
        logits = _forward(model, batch)
        if criterion is not None:
            count = int((batch["y"] != IGNORE_INDEX).sum())
            total_loss += float(criterion(logits, batch["y"])) * count
            total_count += count
        targets.append(batch["y"].cpu().numpy())
        probabilities.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(targets), np.concatenate(probabilities), total_loss / max(total_count, 1)


def predict(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    collate_fn: Callable | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y_true, y_pred, proba)`` over ``dataset``: ``(N,)``, ``(N,)``, ``(N, K)`` for series, and
    ``(N, H, W)``, ``(N, H, W)``, ``(N, K, H, W)`` for patches (``y_true == -1`` where unlabelled)."""
    device = resolve_device(device)
    model.to(device)
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate_fn)
    y_true, proba, _ = _infer(model, loader, device)
    return y_true, proba.argmax(axis=1), proba


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    criterion: nn.Module | None = None,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    collate_fn: Callable | None = None,
) -> dict[str, float]:
    """Loss (with ``criterion``, default plain cross-entropy), overall accuracy and macro-F1 on ``dataset``."""
    _check_targets(model, dataset, "evaluation")
    device = resolve_device(device)
    model.to(device)
    criterion = criterion or nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate_fn)
    y_true, proba, loss = _infer(model, loader, device, criterion)
    cm = confusion_matrix(y_true, proba.argmax(axis=1), proba.shape[1])
    return {"loss": loss, "oa": overall_accuracy(cm), "macro_f1": macro_f1(cm)}


def fit(
    model: nn.Module,
    train_dataset: Dataset,
    val_dataset: Dataset | None = None,
    config: TrainConfig | None = None,
    collate_fn: Callable | None = None,
) -> History:
    """Train ``model`` in place with AdamW and cross-entropy; returns the :class:`History`."""
    config = config or TrainConfig()
    for name, dataset in (("training", train_dataset), ("validation", val_dataset)):
        if dataset is not None:
            _check_targets(model, dataset, name)
    generator = seed_everything(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    weight = None
    if config.class_weighted:
        num_classes = getattr(model, "num_classes", None) or int(_labels(train_dataset).max()) + 1
        weight = class_weights(_labels(train_dataset), num_classes).to(device)
    criterion = nn.CrossEntropyLoss(weight=weight, ignore_index=IGNORE_INDEX)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    train_loader = _loader(
        train_dataset, config.batch_size, config, collate_fn,
        shuffle=True, generator=generator, drop_last=len(train_dataset) > config.batch_size,  # no size-1 BatchNorm
    )
    val_loader = None if val_dataset is None else _loader(val_dataset, config.eval_batch_size, config, collate_fn)
    history, best_score, best_state, waited = History(), None, None, 0
    start = time.perf_counter()
    epochs = tqdm(range(config.epochs), desc=type(model).__name__, disable=not config.progress, leave=False)
    for epoch in epochs:
        epoch_start = time.perf_counter()
        model.train()
        total_loss, total_count = 0.0, 0
        for batch in train_loader:
            batch = _to_device(batch, device)
            loss = criterion(_forward(model, batch), batch["y"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            count = int((batch["y"] != IGNORE_INDEX).sum())
            total_loss += float(loss.detach()) * count
            total_count += count
        history.train_loss.append(total_loss / max(total_count, 1))
        if val_loader is not None:
            y_true, proba, val_loss = _infer(model, val_loader, device, criterion)
            cm = confusion_matrix(y_true, proba.argmax(axis=1), proba.shape[1])
            history.val_loss.append(val_loss)
            history.val_oa.append(overall_accuracy(cm))
            history.val_macro_f1.append(macro_f1(cm))
            score = -val_loss if config.monitor == "val_loss" else history.val_macro_f1[-1]
            if best_score is None or score > best_score:
                best_score, waited, history.best_epoch = score, 0, epoch
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            else:
                waited += 1
        history.epoch_time_s.append(time.perf_counter() - epoch_start)
        postfix = {"train_loss": f"{history.train_loss[-1]:.3f}"}
        if history.val_loss:
            postfix.update(val_loss=f"{history.val_loss[-1]:.3f}", val_f1=f"{history.val_macro_f1[-1]:.3f}")
        epochs.set_postfix(postfix)
        if config.patience is not None and val_loader is not None and waited >= config.patience:
            history.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    history.duration_s = time.perf_counter() - start
    return history


def write_record(
    path: str | Path,
    name: str,
    config: TrainConfig,
    history: History,
    metrics: dict[str, Any],
    parameters: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
) -> Path:
    """Write the JSON run record of a :func:`fit` run (config + extra parameters, metrics, history)."""
    return write_run_record(
        path,
        name=name,
        parameters={**asdict(config), **(parameters or {})},
        metrics={**metrics, "history": history.to_dict()},
        seed=config.seed,
        device=str(resolve_device(config.device)),
        duration_s=history.duration_s,
        dataset=dataset,
    )
