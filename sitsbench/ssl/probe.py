"""Linear probing: a logistic regression on frozen encoder features measures what pretraining learned."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sitsbench.runtime import resolve_device


@torch.no_grad()
def encode(
    encoder: nn.Module, dataset: Dataset, batch_size: int = 256, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(N, D)`` of ``encoder.forward_features`` and labels ``(N,)`` of a labeled dataset."""
    device = resolve_device(device)
    encoder = encoder.to(device).eval()
    features, labels = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        out = encoder.forward_features(batch["x"].to(device), doy=batch["doy"].to(device), mask=batch["mask"].to(device))
        features.append(out.cpu().numpy())
        labels.append(batch["y"].numpy())
    return np.concatenate(features), np.concatenate(labels)


def linear_probe_accuracy(
    encoder: nn.Module, train: Dataset, test: Dataset, device: str = "auto", max_iter: int = 2000
) -> float:
    """Overall accuracy on ``test`` of a standardised logistic regression fit on ``train`` features."""
    train_x, train_y = encode(encoder, train, device=device)
    test_x, test_y = encode(encoder, test, device=device)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    probe.fit(train_x, train_y)
    return float((probe.predict(test_x) == test_y).mean())
