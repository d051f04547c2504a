"""Predictors: turn a block of pixel series into class probabilities, whatever the model.

A predictor is a picklable callable ``(x, doy, mask) -> proba`` with ``x`` ``(N, T, C)`` standardised series,
``doy`` ``(T,)``, ``mask`` ``(N, T)`` and ``proba`` ``(N, K)``; it also carries the :class:`BandStats` and fill
mode its model was trained with, so map inference prepares pixels exactly as training did.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sitsbench.data.normalize import BandStats
from sitsbench.runtime import resolve_device


@dataclass
class TorchPredictor:
    """A registered sitsbench series model (``input_kind == "series"``) run in batches without gradients."""

    model: torch.nn.Module
    stats: BandStats
    fill: str = "linear"
    batch_size: int = 4096
    device: str = "auto"

    @property
    def classes(self) -> np.ndarray:
        return np.arange(self.model.num_classes)

    def __call__(self, x: np.ndarray, doy: np.ndarray, mask: np.ndarray) -> np.ndarray:
        device = resolve_device(self.device)
        model = self.model.to(device).eval()
        out = []
        with torch.no_grad():
            for start in range(0, x.shape[0], self.batch_size):
                xb = torch.from_numpy(x[start : start + self.batch_size]).to(device)
                mb = torch.from_numpy(mask[start : start + self.batch_size]).to(device)
                db = torch.from_numpy(np.broadcast_to(doy, mb.shape).copy()).to(device)
                out.append(torch.softmax(model(xb, doy=db, mask=mb), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs) -> TorchPredictor:
        """Load a checkpoint saved with ``save_checkpoint(..., band_stats=stats.to_json())``."""
        from sitsbench.training.checkpoint import load_checkpoint

        model, payload = load_checkpoint(path)
        stats_json = payload.get("extra", {}).get("band_stats")
        if stats_json is None:
            raise ValueError(
                f"checkpoint {path} has no 'band_stats': save it with save_checkpoint(..., band_stats=stats.to_json())"
            )
        return cls(model=model, stats=BandStats.from_json(stats_json), **kwargs)


@dataclass
class ForestPredictor:
    """A scikit-learn classifier on flattened (gap-filled, standardised) series, e.g. the Random Forest baseline."""

    forest: object
    stats: BandStats
    fill: str = "linear"

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.forest.classes_)

    def __call__(self, x: np.ndarray, doy: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return np.zeros((0, len(self.forest.classes_)), dtype=np.float32)
        return self.forest.predict_proba(x.reshape(x.shape[0], -1)).astype(np.float32)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(pickle.dumps(self))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ForestPredictor:
        """Load a pickled predictor. Pickle runs code: only load files you produced yourself."""
        predictor = pickle.loads(Path(path).read_bytes())
        if not isinstance(predictor, cls):
            raise ValueError(f"{path} does not hold a ForestPredictor but a {type(predictor).__name__}")
        return predictor
