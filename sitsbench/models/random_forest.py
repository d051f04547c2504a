"""Random Forest on gap-filled series: the operational land-cover baseline, for the chapters' datasets.

Breiman (2001), "Random Forests", Machine Learning 45:5-32; used on Sentinel-2 series for France's national
land-cover map by Inglada et al. (2017), "Operational High Resolution Land Cover Map Production at the
Country Scale Using Satellite Image Time Series", Remote Sensing 9(1):95 (OSO / iota2). The forest is the
project's one Random Forest (:func:`sitsbench.models.classical.random_forest`) on series flattened into feature
vectors (:func:`sitsbench.models.classical.flatten`), wrapped with ``predict_proba`` over every class.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from sitsbench.models.classical import flatten, random_forest


def dataset_arrays(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a series dataset: ``X`` ``(N, T, C)`` (its ``x``/``y`` arrays when it has them)."""
    if hasattr(dataset, "x") and hasattr(dataset, "y") and len(dataset.x) == len(dataset):
        return np.asarray(dataset.x), np.asarray(dataset.y)
    items = [dataset[i] for i in range(len(dataset))]
    return np.stack([item["x"].numpy() for item in items]), np.array([int(item["y"]) for item in items])


class RandomForestBaseline:
    """scikit-learn Random Forest on flattened series, with ``predict_proba`` over all ``num_classes``."""

    def __init__(
        self,
        num_classes: int,
        n_estimators: int = 200,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        class_weight: str | None = None,
        n_jobs: int | None = None,
        seed: int = 0,
    ):
        self.num_classes = num_classes
        self.forest = random_forest(seed, n_estimators, n_jobs=n_jobs, max_depth=max_depth,
                                    min_samples_leaf=min_samples_leaf, class_weight=class_weight)

    def fit(self, x: np.ndarray, y: np.ndarray) -> RandomForestBaseline:
        """Fit on series ``x`` ``(N, T, C)`` (or already flat ``(N, F)``) and labels ``y`` ``(N,)``."""
        self.forest.fit(flatten(x), np.asarray(y))
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``(N, num_classes)`` probabilities; classes unseen in training get 0."""
        proba = np.zeros((len(x), self.num_classes))
        proba[:, self.forest.classes_] = self.forest.predict_proba(flatten(x))
        return proba

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)

    def feature_importance(self, n_dates: int, n_bands: int) -> np.ndarray:
        """Mean decrease in impurity of each (date, band) feature, ``(T, C)``."""
        return self.forest.feature_importances_.reshape(n_dates, n_bands)
