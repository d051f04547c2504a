"""STRs as a torch dataset, and the parcel decision: the mean of the probabilities of a parcel's STRs.

Deep-STaR (Chelali et al. 2021) classifies every STR of an object with the 2D network, then assigns the
object the class with the highest mean probability over its STRs.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import nn
from torch.utils.data import Dataset

from sitsbench.data.splits import parcel_table
from sitsbench.planes.extract import Planes
from sitsbench.training.engine import predict


def parcel_labels(cube: xr.Dataset, parcel_ids: np.ndarray) -> np.ndarray:
    """Majority class of each parcel id in ``parcel_ids`` (via :func:`~sitsbench.data.splits.parcel_table`)."""
    table = parcel_table(cube)
    lookup = dict(zip(table["id"].tolist(), table["label"].tolist()))
    missing = sorted({int(p) for p in parcel_ids} - set(lookup))
    if missing:
        raise ValueError(f"parcel ids {missing[:5]} are not in the cube's parcel layer")
    return np.array([lookup[int(p)] for p in parcel_ids], dtype=np.int64)


class PlaneDataset(Dataset):
    """Items ``{"x": (C, H, W), "y": label of the STR's parcel, "parcel": its id}``."""

    def __init__(self, planes: Planes, labels: np.ndarray):
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(planes),):
            raise ValueError(f"labels must have shape ({len(planes)},) (one per STR), got {labels.shape}")
        self.planes = planes
        self.y = labels

    @classmethod
    def from_cube(cls, cube: xr.Dataset, planes: Planes) -> PlaneDataset:
        """Label each STR with its parcel's majority class."""
        return cls(planes, parcel_labels(cube, planes.parcel))

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "x": torch.from_numpy(self.planes.values[index]),
            "y": torch.tensor(self.y[index]),
            "parcel": torch.tensor(self.planes.parcel[index]),
        }


def parcel_average(proba: np.ndarray, parcel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted parcel ids ``(P,)`` and the mean STR probability of each parcel ``(P, K)``."""
    proba = np.asarray(proba, dtype=np.float64)
    ids, inverse, counts = np.unique(np.asarray(parcel), return_inverse=True, return_counts=True)
    sums = np.zeros((ids.size, proba.shape[1]))
    np.add.at(sums, inverse.ravel(), proba)
    return ids, sums / counts[:, None]


def predict_parcels(
    model: nn.Module, dataset: PlaneDataset, batch_size: int = 256, device: str | torch.device = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parcel ids, parcel labels and parcel probabilities (mean over each parcel's STRs) of ``dataset``."""
    y_true, _, proba = predict(model, dataset, batch_size=batch_size, device=device)
    ids, parcel_proba = parcel_average(proba, dataset.planes.parcel)
    first = np.unique(dataset.planes.parcel, return_index=True)[1]
    return ids, y_true[first], parcel_proba
