"""Predictors: turn a block of prepared pixel series into class probabilities, whatever the model.

A predictor is a picklable callable ``(x, doy, mask) -> proba`` with ``x`` ``(N, T, C)`` gap-filled, standardised
series, ``doy`` ``(T,)`` or ``(N, T)``, ``mask`` ``(N, T)`` and ``proba`` ``(N, K)`` over its ``classes``. How the
series are prepared (bands, dates, normalisation) is the business of the map model that holds the predictor
(:class:`sitsbench.inference.model_folder.MapModel`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sitsbench.models.classical import flatten
from sitsbench.runtime import resolve_device, series_in_batches


@dataclass
class TorchPredictor:
    """A registered sitsbench series model (``input_kind == "series"``) run in batches without gradients."""

    model: torch.nn.Module
    batch_size: int = 4096
    device: str = "auto"

    @property
    def classes(self) -> np.ndarray:
        return np.arange(self.model.num_classes)

    def __call__(self, x: np.ndarray, doy: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros((0, self.model.num_classes), dtype=np.float32)
        model = self.model.to(resolve_device(self.device)).eval()

        def probabilities(xb: torch.Tensor, db: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
            return torch.softmax(model(xb, doy=db, mask=mb).float(), dim=-1)

        return series_in_batches(probabilities, x, doy, mask, self.batch_size, self.device)


@dataclass
class ClassicalPredictor:
    """A fitted classical estimator (:mod:`sitsbench.models.classical`: Random Forest, SVM, LightGBM) on flattened
    series."""

    estimator: object

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.estimator.classes_)

    def __call__(self, x: np.ndarray, doy: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return np.zeros((0, len(self.estimator.classes_)), dtype=np.float32)
        return self.estimator.predict_proba(flatten(x)).astype(np.float32)
