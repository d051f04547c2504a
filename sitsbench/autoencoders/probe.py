"""Representation quality: a classifier on frozen auto-encoder codes vs the same classifier on raw series.

The protocol of self-supervised learning papers (linear evaluation: Chen et al. 2020, "A Simple Framework for
Contrastive Learning of Visual Representations", ICML; for SITS, Yuan & Lin 2021, SITS-BERT): the encoder is
frozen, its codes are the features of a linear classifier (logistic regression) or a Random Forest (Breiman
2001), trained on a stratified fraction of the labelled training pixels. Good codes keep accuracy up when
labels are few.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sitsbench.autoencoders.base import SITSAutoEncoder
from sitsbench.metrics import confusion_matrix, macro_f1, overall_accuracy
from sitsbench.runtime import resolve_device


@torch.no_grad()
def encode_series(model: SITSAutoEncoder, x: np.ndarray, doy: np.ndarray, mask: np.ndarray,
                  batch_size: int = 2048, device: str = "auto") -> np.ndarray:
    """``(N, latent_dim)`` codes of ``(N, T, C)`` pixel series by a pixel auto-encoder."""
    device_ = resolve_device(device)
    model.to(device_).eval()
    doy_t = torch.as_tensor(np.asarray(doy), device=device_)
    codes = []
    for start in range(0, len(x), batch_size):
        batch = torch.as_tensor(x[start:start + batch_size], device=device_)
        batch_mask = torch.as_tensor(mask[start:start + batch_size], device=device_)
        codes.append(model.encode(batch, doy_t.expand(len(batch), -1), batch_mask).cpu().numpy())
    return np.concatenate(codes).astype(np.float32)


def stratified_fraction(y: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded random ``fraction`` of each class of ``y`` (at least one item per class)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        size = max(1, round(fraction * members.size))
        chosen.append(rng.choice(members, size, replace=False))
    return np.sort(np.concatenate(chosen))


def linear_probe(seed: int) -> object:
    """Standardised features + multinomial logistic regression."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))


def random_forest(seed: int) -> object:
    """A 100-tree Random Forest (one core: the probe runs beside other jobs)."""
    return RandomForestClassifier(100, random_state=seed, n_jobs=1)


PROBES: dict[str, Callable[[int], object]] = {"linear": linear_probe, "random_forest": random_forest}


def probe_scores(features: dict[str, tuple[np.ndarray, np.ndarray]], y_train: np.ndarray, y_test: np.ndarray,
                 fractions=(0.01, 0.1, 1.0), probes=("linear", "random_forest"), seed: int = 0) -> list[dict]:
    """One row per (features, probe, label fraction): overall accuracy and macro F1 on the test pixels.

    ``features`` maps a name (``"raw"``, ``"ae_tempconv"``...) to its ``(train, test)`` feature arrays, rows
    aligned with ``y_train`` / ``y_test``; every feature set sees the same labelled subsets.
    """
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    rows = []
    for fraction in fractions:
        subset = stratified_fraction(y_train, fraction, seed)
        for name, (train, test) in features.items():
            for probe in probes:
                classifier = PROBES[probe](seed).fit(train[subset], y_train[subset])
                cm = confusion_matrix(y_test, classifier.predict(test), num_classes)
                rows.append({"features": name, "probe": probe, "fraction": fraction, "n_labels": int(subset.size),
                             "oa": overall_accuracy(cm), "macro_f1": macro_f1(cm)})
    return rows
