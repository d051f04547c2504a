"""Classification and segmentation metrics, all computed from one confusion matrix with NumPy.

* overall accuracy (OA): share of correctly classified samples, dominated by the frequent classes;
* per-class F1 and macro-F1 (their unweighted mean): each class counts the same, the usual headline metric
  for imbalanced land-cover maps;
* Cohen's kappa: agreement corrected for chance (Cohen 1960), still common in remote sensing;
* intersection over union per class and its mean (mIoU), the segmentation metric.

Macro-F1 averages over the classes present in the **reference** (the test labels): every method scored on one
test set is averaged over the same label set, whatever it predicts (a class it predicts wrongly still costs the
recall of the true class); scikit-learn's default, the classes of the reference *or* the prediction, would average
each method over its own set. A split that misses a class should be reported as such (see
:func:`sitsbench.data.prepare.prepare_pixels`, ``every_class``). The mean IoU averages over the classes present in
the reference or the prediction: a class absent from both has no defined IoU. Labels equal to ``ignore_index`` are
dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRIC_TITLES = {"oa": "OA", "macro_f1": "macro-F1", "kappa": "kappa", "miou": "mIoU", "f1": "F1"}
"""How the metrics are named on pages, tables and axes (``f1``: of the one class a binary task scores, e.g.
*changed*)."""

IGNORE_INDEX = -1
"""Label of unlabelled pixels and samples (the ``class`` layer of a cube, segmentation targets): ignored by losses
and metrics."""


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """``(K, K)`` counts, rows = reference class, columns = predicted class."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in size: {y_true.size} vs {y_pred.size}")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.dtype.kind not in "iub" and not (values.dtype.kind == "f" and np.all(np.mod(values, 1) == 0)):
            example = (values[np.mod(values, 1) != 0][0] if values.dtype.kind == "f" else values[0]).item()
            raise ValueError(f"{name} must hold integer class ids, got {values.dtype} values such as {example!r}")
    keep = y_true != ignore_index
    y_true, y_pred = y_true[keep].astype(np.int64), y_pred[keep].astype(np.int64)
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} has labels outside 0..{num_classes - 1}: [{values.min()}, {values.max()}]")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def _present(cm: np.ndarray) -> np.ndarray:
    return (cm.sum(axis=0) + cm.sum(axis=1)) > 0


def overall_accuracy(cm: np.ndarray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def f1_per_class(cm: np.ndarray) -> np.ndarray:
    """F1 of each class; NaN for classes absent from both reference and prediction. ``cm`` may be a stack
    ``(..., K, K)`` of confusion matrices (the result is then ``(..., K)``)."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)
    denominator = cm.sum(axis=-2) + cm.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, np.nan)


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over the classes of the reference (the rows of ``cm`` with a sample; see the module docstring)."""
    reference = cm.sum(axis=1) > 0
    return float(np.mean(f1_per_class(cm)[reference])) if reference.any() else float("nan")


def scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, float]:
    """Overall accuracy and macro-F1 (``y_true == -1`` ignored): the two scores every protocol and validation
    reports."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    return {"oa": overall_accuracy(cm), "macro_f1": macro_f1(cm)}


def stacked_scores(cms: np.ndarray) -> dict[str, np.ndarray]:
    """Overall accuracy, macro-F1, kappa and per-class F1 of each confusion matrix of a ``(B, K, K)`` stack:
    ``{"oa": (B,), "macro_f1": (B,), "kappa": (B,), "f1_per_class": (B, K)}``, equal to :func:`overall_accuracy`,
    :func:`macro_f1`, :func:`cohen_kappa` and :func:`f1_per_class` of each matrix."""
    total = cms.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        oa = np.where(total > 0, np.trace(cms, axis1=-2, axis2=-1) / np.maximum(total, 1), np.nan)
        expected = (cms.sum(axis=-2) * cms.sum(axis=-1)).sum(axis=-1) / np.maximum(total, 1) ** 2
        kappa = np.where((total > 0) & (expected < 1), (oa - expected) / (1 - expected), np.nan)
    f1 = f1_per_class(cms)
    reference = cms.sum(axis=-1) > 0
    counts = reference.sum(axis=-1)
    macro = np.where(counts > 0, np.where(reference, f1, 0.0).sum(axis=-1) / np.maximum(counts, 1), np.nan)
    return {"oa": oa, "macro_f1": macro, "kappa": kappa, "f1_per_class": f1}


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """Intersection over union of each class; NaN for classes absent from both."""
    tp = np.diag(cm).astype(float)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(cm: np.ndarray) -> float:
    present = _present(cm)
    return float(np.mean(iou_per_class(cm)[present])) if present.any() else float("nan")


def cohen_kappa(cm: np.ndarray) -> float:
    total = cm.sum()
    if not total:
        return float("nan")
    observed = np.trace(cm) / total
    expected = float(cm.sum(axis=0) @ cm.sum(axis=1)) / total**2
    return float((observed - expected) / (1 - expected)) if expected < 1 else float("nan")


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> dict:
    """All metrics as a JSON-friendly dict: ``oa``, ``macro_f1``, ``kappa``, ``miou``, ``f1_per_class``,
    ``iou_per_class`` (``{class name: value}``, None where undefined), ``confusion_matrix`` and ``n``."""
    cm = confusion_matrix(y_true, y_pred, num_classes, ignore_index)
    names = list(class_names) if class_names is not None else [str(k) for k in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names for num_classes={num_classes}")

    def by_class(values: np.ndarray) -> dict[str, float | None]:
        return {name: None if np.isnan(v) else float(v) for name, v in zip(names, values)}

    return {
        "oa": overall_accuracy(cm),
        "macro_f1": macro_f1(cm),
        "kappa": cohen_kappa(cm),
        "miou": mean_iou(cm),
        "f1_per_class": by_class(f1_per_class(cm)),
        "iou_per_class": by_class(iou_per_class(cm)),
        "confusion_matrix": cm.tolist(),
        "n": int(cm.sum()),
    }
