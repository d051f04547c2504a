"""Representation quality: a classifier on frozen auto-encoder codes vs the same classifier on raw series.

The protocol of self-supervised learning papers (linear evaluation: Chen et al. 2020, "A Simple Framework for
Contrastive Learning of Visual Representations", ICML; for SITS, Yuan & Lin 2021, SITS-BERT): the encoder is
frozen, its codes are the features of a linear classifier (logistic regression) or a Random Forest (Breiman
2001), trained on a stratified fraction of the labelled training pixels. Good codes keep accuracy up when
labels are few. The probes and label fractions are those of :mod:`sitsbench.evaluation`.
"""

from __future__ import annotations

import numpy as np
import torch

from sitsbench.autoencoders.base import SITSAutoEncoder
from sitsbench.autoencoders.gapfill import batch_doy
from sitsbench.evaluation.label_fraction import stratified_fraction
from sitsbench.evaluation.protocols import PROBES
from sitsbench.metrics import confusion_matrix, macro_f1, overall_accuracy
from sitsbench.runtime import resolve_device


@torch.no_grad()
def encode_series(model: SITSAutoEncoder, x: np.ndarray, doy: np.ndarray, mask: np.ndarray,
                  batch_size: int = 2048, device: str = "auto") -> np.ndarray:
    """``(N, latent_dim)`` codes of ``(N, T, C)`` pixel series by a pixel auto-encoder."""
    device_ = resolve_device(device)
    model.to(device_).eval()
    codes = []
    for start in range(0, len(x), batch_size):
        batch = torch.as_tensor(x[start:start + batch_size], device=device_)
        batch_mask = torch.as_tensor(mask[start:start + batch_size], device=device_)
        codes.append(model.encode(batch, batch_doy(doy, start, len(batch), device_), batch_mask).cpu().numpy())
    return np.concatenate(codes).astype(np.float32)


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
