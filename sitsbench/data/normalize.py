"""Per-band normalisation statistics, computed on the training split's clear observations only.

Computing them on all pixels would leak test-set information into training; sitsbench always passes the
training mask. Two schemes are offered: standardisation (mean/std) and the 2 %/98 % percentile scaling
used by Deep-STaR (Chelali et al. 2021) and many SITS papers, which is robust to remaining clouds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr

from sitsbench.data import cube as C


@dataclass(frozen=True)
class BandStats:
    """Statistics per band (same order as the cube's ``band`` coordinate)."""

    bands: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def from_cube(
        cls, cube: xr.Dataset, where: np.ndarray, max_samples: int = 500_000, seed: int = 0
    ) -> BandStats:
        """Statistics of the clear observations of the pixels where ``where`` (``(y, x)`` bool) is True."""
        where = np.asarray(where, dtype=bool)
        if where.shape != (cube.sizes[C.Y], cube.sizes[C.X]):
            raise ValueError(f"mask has shape {where.shape}, expected the cube's (y, x) = {cube[C.PARCEL].shape}")
        if not where.any():
            raise ValueError("the mask selects no pixel: cannot compute normalisation statistics")
        rows, cols = np.nonzero(where)
        values = np.asarray(cube[C.REFLECTANCE].values[:, :, rows, cols])  # (T, C, N)
        valid = np.asarray(cube[C.VALID].values[:, rows, cols])  # (T, N)
        observations = values.transpose(0, 2, 1)[valid]  # (n_clear, C)
        return cls._from_observations(observations, tuple(str(b) for b in cube[C.BAND].values), max_samples, seed)

    @classmethod
    def from_samples(cls, samples: xr.Dataset, where: np.ndarray, max_samples: int = 500_000, seed: int = 0) -> BandStats:
        """Statistics of the clear observations of the samples where ``where`` (``(sample,)`` bool) is True."""
        from sitsbench.data import samples as S

        where = np.asarray(where, dtype=bool)
        if where.shape != (samples.sizes[S.SAMPLE],):
            raise ValueError(f"mask has shape {where.shape}, expected ({samples.sizes[S.SAMPLE]},) samples")
        if not where.any():
            raise ValueError("the mask selects no sample: cannot compute normalisation statistics")
        values = np.asarray(samples[S.VALUES].values[where])[np.asarray(samples[S.VALID].values[where])]
        return cls._from_observations(values, tuple(str(b) for b in samples[S.BAND].values), max_samples, seed)

    @classmethod
    def _from_observations(cls, samples: np.ndarray, bands: tuple[str, ...], max_samples: int, seed: int) -> BandStats:
        """Statistics of clear observations ``(n, C)``."""
        if samples.shape[0] == 0:
            raise ValueError("the selected pixels have no clear observation")
        if samples.shape[0] > max_samples:
            samples = samples[np.random.default_rng(seed).choice(samples.shape[0], max_samples, replace=False)]
        low, high = np.percentile(samples, [2, 98], axis=0)
        return cls(
            bands=bands,
            mean=samples.mean(axis=0),
            std=samples.std(axis=0) + 1e-6,
            low=low,
            high=np.maximum(high, low + 1e-6),
        )

    def standardize(self, values: np.ndarray, band_axis: int = -1) -> np.ndarray:
        """``(x - mean) / std`` along ``band_axis``."""
        shape = [1] * np.ndim(values)
        shape[band_axis] = -1
        return ((values - self.mean.reshape(shape)) / self.std.reshape(shape)).astype(np.float32)

    def percentile_scale(self, values: np.ndarray, band_axis: int = -1) -> np.ndarray:
        """Map the 2 %/98 % percentiles to 0/1 and clip to [0, 1]."""
        shape = [1] * np.ndim(values)
        shape[band_axis] = -1
        scaled = (values - self.low.reshape(shape)) / (self.high - self.low).reshape(shape)
        return np.clip(scaled, 0.0, 1.0).astype(np.float32)

    def to_json(self) -> str:
        return json.dumps({k: np.asarray(v).tolist() for k, v in asdict(self).items()})

    @classmethod
    def from_json(cls, text: str) -> BandStats:
        raw = json.loads(text)
        return cls(bands=tuple(raw["bands"]), **{k: np.asarray(raw[k]) for k in ("mean", "std", "low", "high")})
