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

from sitsbench.data import cube as cube_format


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
        if where.shape != (cube.sizes[cube_format.Y], cube.sizes[cube_format.X]):
            raise ValueError(f"mask has shape {where.shape}, expected the cube's (y, x) = {cube[cube_format.PARCEL].shape}")
        if not where.any():
            raise ValueError("the mask selects no pixel: cannot compute normalisation statistics")
        rows, cols = np.nonzero(where)
        values = np.asarray(cube[cube_format.REFLECTANCE].values[:, :, rows, cols])  # (T, C, N)
        valid = np.asarray(cube[cube_format.VALID].values[:, rows, cols])  # (T, N)
        observations = values.transpose(0, 2, 1)[valid]  # (n_clear, C)
        return cls._from_observations(observations, tuple(str(b) for b in cube[cube_format.BAND].values), max_samples, seed)

    @classmethod
    def from_samples(cls, samples: xr.Dataset, where: np.ndarray, max_samples: int = 500_000, seed: int = 0) -> BandStats:
        """Statistics of the clear observations of the samples where ``where`` (``(sample,)`` bool) is True."""
        from sitsbench.data import samples as samples_format

        where = np.asarray(where, dtype=bool)
        if where.shape != (samples.sizes[samples_format.SAMPLE],):
            raise ValueError(f"mask has shape {where.shape}, expected ({samples.sizes[samples_format.SAMPLE]},) samples")
        if not where.any():
            raise ValueError("the mask selects no sample: cannot compute normalisation statistics")
        values = np.asarray(samples[samples_format.VALUES].values[where])[np.asarray(samples[samples_format.VALID].values[where])]
        return cls._from_observations(values, tuple(str(b) for b in samples[samples_format.BAND].values), max_samples, seed)

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


SPECTRAL_TOLERANCE = 2.5
"""Data is refused when the median distance of its clear spectra to the nearest training spectrum exceeds this many
times the training data's own (see :class:`SpectralFingerprint`). Measured with half of the groups held out (three
seeds): matching data scores at most 1.5x on the real Sentinel-2 samples of Victoria (IGARSS 2019) and 1.1x on the
synthetic toy cube, a model trained on the 18 Sinop MODIS points scores 0.7x on its whole cube; the bands in reverse
order score at least 8.8x, an NDVI in a visible or red-edge band at least 4x, digital numbers 10^5x. An NDVI in a
near-infrared band (2-3x on the toy cube) or two swapped neighbouring bands of similar values (B06/B07, B08/B8A) can
pass. The data must mix land covers (a set of samples, windows spread over a cube): held out from training, one
class alone scores up to 9x (the toy cube's water), so single windows are not judged."""
SPECTRAL_PROTOTYPES = 256
SPECTRAL_SAMPLE = 2000
MIN_SPECTRAL_OBSERVATIONS = 20


def _standardize(observations: np.ndarray, median: np.ndarray, q25: np.ndarray, q75: np.ndarray) -> np.ndarray:
    """Observations ``(n, C)`` centred on the band medians, in interquartile ranges."""
    scale = np.maximum(q75 - q25, 1e-6 * np.maximum(np.abs(median), 1e-6))
    return (np.asarray(observations, dtype=np.float64) - median) / scale


@dataclass(frozen=True)
class SpectralFingerprint:
    """What the training data's spectra look like, to refuse data whose bands are mislabelled, permuted, in other
    units or from another sensor (which a per-band range check misses: reversed bands stay in range).

    Per band, robust statistics of the clear training observations (median and quartiles, which scale the
    distances); and ``prototypes``, spectra drawn from the training observations (standardised by those statistics),
    with ``reference`` the median distance of other training spectra to their nearest prototype. Data is compared
    jointly over bands: the median distance of its spectra to their nearest prototype, relative to ``reference``,
    must not exceed :data:`SPECTRAL_TOLERANCE` (the nearest-neighbour distance outlier score of Ramaswamy, Rastogi &
    Shim 2000, taken as a median over the data). A land cover seen in training is near its own prototypes; permuted
    bands give spectra that no training pixel had."""

    bands: tuple[str, ...]
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    prototypes: np.ndarray
    reference: float

    @classmethod
    def from_samples(cls, samples: xr.Dataset, where: np.ndarray, seed: int = 0) -> SpectralFingerprint:
        """The fingerprint of the clear observations of the samples where ``where`` (``(sample,)`` bool) is True."""
        from sitsbench.data import samples as samples_format

        where = np.asarray(where, dtype=bool)
        values = np.asarray(samples[samples_format.VALUES].values[where])[np.asarray(samples[samples_format.VALID].values[where])]
        return cls.from_observations(values, tuple(str(b) for b in samples[samples_format.BAND].values), seed)

    @classmethod
    def from_observations(cls, observations: np.ndarray, bands: tuple[str, ...], seed: int = 0) -> SpectralFingerprint:
        """The fingerprint of clear observations ``(n, C)``."""
        observations = np.asarray(observations, dtype=np.float64)
        if observations.shape[0] < 2:
            raise ValueError("fewer than two clear observations: cannot compute a spectral fingerprint")
        q25, median, q75 = np.percentile(observations, [25, 50, 75], axis=0)
        rng = np.random.default_rng(seed)
        order = rng.permutation(observations.shape[0])
        n_proto = min(SPECTRAL_PROTOTYPES, observations.shape[0] // 2)
        prototypes = _standardize(observations[order[:n_proto]], median, q25, q75)
        held_out = observations[order[n_proto:n_proto + SPECTRAL_SAMPLE]]
        fingerprint = cls(bands, median, q25, q75, prototypes, 1.0)
        reference = float(np.median(fingerprint._distances(held_out)[0]))
        return cls(bands, median, q25, q75, prototypes, max(reference, 1e-6))

    def _distances(self, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance of each observation to its nearest prototype, and the per-band absolute differences ``(n, C)``."""
        z = _standardize(observations, self.median, self.q25, self.q75)
        squared = (z**2).sum(1)[:, None] - 2 * z @ self.prototypes.T + (self.prototypes**2).sum(1)[None]
        nearest = self.prototypes[squared.argmin(axis=1)]
        return np.sqrt(np.maximum(squared.min(axis=1), 0.0)), np.abs(z - nearest)

    def score(self, observations: np.ndarray) -> tuple[float, np.ndarray]:
        """Median distance of (at most :data:`SPECTRAL_SAMPLE`, drawn with a fixed seed) clear observations ``(n, C)``
        to their nearest prototype relative to the training's, and the median per-band difference."""
        observations = np.asarray(observations)
        if observations.shape[0] > SPECTRAL_SAMPLE:
            observations = observations[np.random.default_rng(0).choice(observations.shape[0], SPECTRAL_SAMPLE,
                                                                        replace=False)]
        distance, per_band = self._distances(observations)
        return float(np.median(distance)) / self.reference, np.median(per_band, axis=0)

    def check(self, observations: np.ndarray, where: str, model: str) -> None:
        """Refuse clear observations ``(n, C)`` (in the fingerprint's band order) that do not look like the training
        data (ignored below :data:`MIN_SPECTRAL_OBSERVATIONS`, too few to judge)."""
        observations = np.asarray(observations)
        if observations.shape[0] < MIN_SPECTRAL_OBSERVATIONS:
            return
        ratio, per_band = self.score(observations)
        if ratio <= SPECTRAL_TOLERANCE:
            return
        medians = np.median(observations, axis=0)
        worst = np.argsort(per_band)[::-1][:3]
        details = ", ".join(f"{self.bands[b]}: median {medians[b]:.4g} vs training {self.median[b]:.4g}"
                            for b in worst)
        raise ValueError(
            f"{where}: the spectra do not look like the data the model ({model}) was trained on: their distance to "
            f"the nearest training spectrum is {ratio:.1f}x the training data's own (tolerance "
            f"{SPECTRAL_TOLERANCE}x; most different bands {details}); bands mislabelled or in another order, "
            "another unit or another sensor? (If the bands are right and only the land covers differ from the "
            "training data's, --no-spectral-check skips this check)")

    def to_dict(self) -> dict:
        return {"bands": list(self.bands), **{k: np.asarray(getattr(self, k)).tolist()
                                              for k in ("median", "q25", "q75", "prototypes")},
                "reference": self.reference, "tolerance": SPECTRAL_TOLERANCE}

    @classmethod
    def from_dict(cls, raw: dict) -> SpectralFingerprint:
        prototypes = np.asarray(raw["prototypes"], dtype=np.float64).reshape(-1, len(raw["bands"]))
        return cls(tuple(raw["bands"]), *(np.asarray(raw[k], dtype=np.float64) for k in ("median", "q25", "q75")),
                   prototypes, float(raw["reference"]))
