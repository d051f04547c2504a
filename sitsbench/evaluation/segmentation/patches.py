"""The patches of the segmentation protocols: each patch's majority class (for stratified label fractions) and
the frozen encoder's embedding maps of the training patches, computed once."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from sitsbench.data.datasets import PatchDataset
from sitsbench.metrics import IGNORE_INDEX
from sitsbench.models.pixel_segmenter import PixelEncoderSegmenter
from sitsbench.runtime import in_batches


def patch_majority(dataset: PatchDataset) -> np.ndarray:
    """Majority labelled class of each patch of ``dataset`` (``-1`` for a patch without labels)."""
    majority = []
    for y0, x0 in dataset.origins:
        window = dataset.labels[y0 : y0 + dataset.patch_size, x0 : x0 + dataset.patch_size]
        labelled = window[window != IGNORE_INDEX]
        majority.append(np.bincount(labelled).argmax() if labelled.size else IGNORE_INDEX)
    return np.asarray(majority, dtype=np.int64)



class EmbeddedPatches(Dataset):
    """The patches of ``dataset`` replaced by ``model``'s (frozen, standardised) embedding maps, computed once: items
    ``x`` ``(D, P, P)`` and ``y`` ``(P, P)``. Training a decoder on them gives the same result as running the frozen
    encoder at every step, for a fraction of the cost."""

    def __init__(self, model: PixelEncoderSegmenter, dataset: Dataset, batch_size: int = 8):
        model.eval()
        maps, labels = in_batches(lambda b: model.pixel_features(b["x"], b["doy"], b["mask"]), dataset, batch_size,
                                  model.feature_mean.device)
        self.x, self.y = torch.from_numpy(maps), torch.from_numpy(labels)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index]}
