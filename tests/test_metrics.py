"""Metrics computed from the confusion matrix agree with scikit-learn; the confusion-matrix figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from sklearn import metrics as skm

from sitsbench.metrics import (
    classification_metrics,
    cohen_kappa,
    confusion_matrix,
    f1_per_class,
    iou_per_class,
    macro_f1,
    mean_iou,
    overall_accuracy,
    stacked_scores,
)
from sitsbench.plot_metrics import plot_confusion_matrix


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n_classes = 6
    y_true = rng.integers(0, n_classes - 2, 500)  # the last two classes never occur in the reference
    y_pred = np.where(rng.random(500) < 0.6, y_true, rng.integers(0, n_classes - 1, 500))  # class 4 is predicted
    cm = confusion_matrix(y_true, y_pred, n_classes)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=range(n_classes)))
    assert overall_accuracy(cm) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    reference = np.unique(y_true)  # macro-F1 over the reference classes, not those of the prediction too
    assert macro_f1(cm) == pytest.approx(skm.f1_score(y_true, y_pred, labels=reference, average="macro"))
    assert macro_f1(cm) != pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    assert cohen_kappa(cm) == pytest.approx(skm.cohen_kappa_score(y_true, y_pred))
    assert mean_iou(cm) == pytest.approx(skm.jaccard_score(y_true, y_pred, average="macro"))
    present = np.unique(np.concatenate([y_true, y_pred]))
    np.testing.assert_allclose(f1_per_class(cm)[present], skm.f1_score(y_true, y_pred, labels=present, average=None))
    np.testing.assert_allclose(
        iou_per_class(cm)[present], skm.jaccard_score(y_true, y_pred, labels=present, average=None)
    )
    assert np.isnan(f1_per_class(cm)[n_classes - 1])
    assert stacked_scores(cm[None])["macro_f1"][0] == pytest.approx(macro_f1(cm))


def test_macro_f1_is_averaged_over_one_label_set_for_every_method():
    """Two methods scored on one test set: the one that also predicts a class absent from the reference is not
    averaged over more classes (which would dilute its errors on the others)."""
    y_true = np.array([0, 0, 1, 1])
    careful, wild = np.array([0, 1, 1, 1]), np.array([0, 2, 1, 1])
    scores = [macro_f1(confusion_matrix(y_true, y_pred, 3)) for y_pred in (careful, wild)]
    assert scores[0] == pytest.approx((2 / 3 + 0.8) / 2) and scores[1] == pytest.approx((2 / 3 + 1.0) / 2)


def test_ignore_index_drops_pixels_of_segmentation_maps():
    rng = np.random.default_rng(0)
    y_true = rng.integers(-1, 4, (3, 16, 16))
    y_pred = rng.integers(0, 4, (3, 16, 16))
    keep = y_true != -1
    result = classification_metrics(y_true, y_pred, 4)
    assert result["n"] == keep.sum()
    assert result["miou"] == pytest.approx(skm.jaccard_score(y_true[keep], y_pred[keep], average="macro"))
    assert result["oa"] == pytest.approx(skm.accuracy_score(y_true[keep], y_pred[keep]))


def test_perfect_and_named_results():
    y = np.array([0, 1, 2, 2, 1])
    result = classification_metrics(y, y, 4, class_names=["a", "b", "c", "d"])
    assert result["oa"] == result["macro_f1"] == result["kappa"] == result["miou"] == 1.0
    assert result["f1_per_class"] == {"a": 1.0, "b": 1.0, "c": 1.0, "d": None}


def test_rejects_bad_labels():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 5]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="differ"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)


def test_confusion_matrix_plot_is_row_normalised():
    cm = np.array([[8, 2, 0], [1, 1, 0], [0, 0, 0]])
    ax = plot_confusion_matrix(cm, ["wheat", "maize", "water"])
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(shown.sum(axis=1), [1.0, 1.0, 0.0])
    assert shown[0, 0] == pytest.approx(0.8)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["wheat", "maize", "water"]
