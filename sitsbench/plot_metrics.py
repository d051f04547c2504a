"""Figures of classification results: the row-normalised confusion matrix with class names."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np


def plot_confusion_matrix(
    cm: np.ndarray,
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
    ax: plt.Axes | None = None,
    title: str | None = None,
    annotate: bool = True,
) -> plt.Axes:
    """Heatmap of ``cm`` (rows = reference). ``normalize`` divides each row by its total, so the diagonal
    shows each class's recall (producer's accuracy) whatever its frequency; empty rows stay at 0."""
    cm = np.asarray(cm, dtype=float)
    n_classes = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(k) for k in range(n_classes)]
    values = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * n_classes + 2.5, 0.55 * n_classes + 2))
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(n_classes), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n_classes), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    if annotate:
        threshold = values.max() / 2 if values.size else 0
        for (i, j), value in np.ndenumerate(values):
            if value > 0:
                text = f"{value:.2f}" if normalize else f"{int(value)}"
                color = "white" if value > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=6, color=color)
    if title:
        ax.set_title(title, fontsize=10)
    plt.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax
