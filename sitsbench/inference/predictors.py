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
class ForestPredictor:
    """A scikit-learn classifier on flattened series, e.g. the Random Forest baseline (Breiman 2001)."""

    forest: object

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.forest.classes_)

    def __call__(self, x: np.ndarray, doy: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return np.zeros((0, len(self.forest.classes_)), dtype=np.float32)
        return self.forest.predict_proba(x.reshape(x.shape[0], -1)).astype(np.float32)
