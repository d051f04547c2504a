"""Linear probing: a logistic regression on frozen encoder features measures what pretraining learned."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sitsbench.planes.dataset import PlaneDataset, parcel_average
from sitsbench.runtime import resolve_device


@torch.no_grad()
def encode(
    encoder: nn.Module, dataset: Dataset, batch_size: int = 256, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(N, D)`` of ``encoder.forward_features`` and labels ``(N,)`` of a labeled dataset (items
    ``x``, ``y`` and, for series, ``doy`` and ``mask``; plane datasets have neither)."""
    device = resolve_device(device)
    encoder = encoder.to(device).eval()
    features, labels = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        extra = {key: batch[key].to(device) for key in ("doy", "mask") if key in batch}
        out = encoder.forward_features(batch["x"].to(device), **extra)
        features.append(out.cpu().numpy())
        labels.append(batch["y"].numpy())
    return np.concatenate(features), np.concatenate(labels)


def parcel_linear_probe(
    encoder: nn.Module, train: PlaneDataset, test: PlaneDataset, device: str = "auto", max_iter: int = 2000
) -> dict[str, float]:
    """Parcel-level linear probe of a plane encoder: the features of a parcel's STRs are averaged (the
    parcel's embedding), a standardised logistic regression is fit on the training parcels; returns the
    test parcels' overall accuracy and macro-F1."""
    parcel_features = {}
    for name, dataset in (("train", train), ("test", test)):
        features, labels = encode(encoder, dataset, device=device)
        ids, mean_features = parcel_average(features, dataset.planes.parcel)
        first = np.unique(dataset.planes.parcel, return_index=True)[1]
        parcel_features[name] = (mean_features, labels[first], ids)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    probe.fit(*parcel_features["train"][:2])
    test_x, test_y, _ = parcel_features["test"]
    predicted = probe.predict(test_x)
    return {
        "overall_accuracy": float((predicted == test_y).mean()),
        "macro_f1": float(f1_score(test_y, predicted, average="macro")),
    }


def linear_probe_accuracy(
    encoder: nn.Module, train: Dataset, test: Dataset, device: str = "auto", max_iter: int = 2000
) -> float:
    """Overall accuracy on ``test`` of a standardised logistic regression fit on ``train`` features."""
    train_x, train_y = encode(encoder, train, device=device)
    test_x, test_y = encode(encoder, test, device=device)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    probe.fit(train_x, train_y)
    return float((probe.predict(test_x) == test_y).mean())
