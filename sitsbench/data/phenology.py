"""Land-cover classes of the synthetic landscape and their temporal behaviour.

Each class has an NDVI phenology made of up to three growing *seasons*, each a double-logistic curve
(Beck et al. 2006; Zhang et al. 2003, the model behind the TIMESAT and MODIS phenology products):

.. math::  NDVI(d) = base + \\sum_k amp_k \\, [\\sigma((d - sos_k)/r^{up}_k) - \\sigma((d - eos_k)/r^{down}_k)]

with :math:`d` the day of year, :math:`sos`/:math:`eos` the start/end of season and :math:`\\sigma` the
logistic function. Winter crops have a season that starts before 1 January (sown in autumn), meadows are
mown (short NDVI drops), rapeseed flowers yellow in spring. The NDVI is turned into reflectances by a
linear mixture of a green-vegetation spectrum with the class's background (soil, water or built-up).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Typical surface reflectance spectra (0-1) for the ten S2 bands B02 B03 B04 B05 B06 B07 B08 B8A B11 B12.
ENDMEMBERS = {
    "vegetation": np.array([0.030, 0.065, 0.035, 0.110, 0.300, 0.380, 0.420, 0.440, 0.220, 0.110]),
    "soil": np.array([0.080, 0.110, 0.140, 0.170, 0.190, 0.210, 0.230, 0.240, 0.320, 0.280]),
    "water": np.array([0.060, 0.055, 0.035, 0.025, 0.018, 0.015, 0.012, 0.011, 0.006, 0.004]),
    "urban": np.array([0.110, 0.120, 0.130, 0.140, 0.150, 0.155, 0.165, 0.170, 0.210, 0.190]),
}
"""Spectra of the mixture's end-members, roughly matching field and library spectra of these materials."""

FLOWER_YELLOW = np.array([-0.010, 0.050, 0.040, 0.030, 0.000, -0.020, -0.030, -0.030, 0.000, 0.000])
"""Change in reflectance of a rapeseed canopy in full bloom (yellow petals raise green and red)."""

CLOUD_SPECTRUM = np.array([0.42, 0.40, 0.39, 0.39, 0.40, 0.40, 0.41, 0.41, 0.33, 0.25])
"""Thick cumulus clouds: bright and flat in the visible and NIR, darker in the short-wave infrared."""


@dataclass(frozen=True)
class Season:
    """One growing season of a double-logistic NDVI profile (days of year; may be < 1 or > 365)."""

    sos: float
    eos: float
    amplitude: float
    rise: float = 10.0
    fall: float = 10.0


@dataclass(frozen=True)
class LandCoverClass:
    """A class of the synthetic landscape.

    ``frequency`` is the expected share of parcels of this class; ``mowing`` lists days of year where the
    NDVI drops by ``mowing_depth`` (grass cuts); ``flowering`` is the day of peak bloom (rapeseed).
    """

    name: str
    frequency: float
    base: float
    seasons: tuple[Season, ...] = ()
    background: str = "soil"
    mowing: tuple[float, ...] = ()
    mowing_depth: float = 0.0
    flowering: float | None = None
    sowing_jitter: float = 11.0
    variability: float = 0.05
    s1_structure: float = 0.0
    tags: tuple[str, ...] = field(default_factory=tuple)


DEFAULT_CLASSES: tuple[LandCoverClass, ...] = (
    LandCoverClass(
        "winter_wheat", 0.24, 0.18,
        (Season(-60, 190, 0.28, 20, 9), Season(80, 182, 0.37, 11, 9), Season(255, 420, 0.12, 12, 20)),
        s1_structure=1.0, tags=("crop", "winter"),
    ),
    LandCoverClass(
        "winter_barley", 0.08, 0.18,
        (Season(-60, 175, 0.28, 20, 9), Season(68, 168, 0.35, 11, 9), Season(245, 420, 0.12, 12, 20)),
        s1_structure=0.9, tags=("crop", "winter"),
    ),
    LandCoverClass(
        "winter_rapeseed", 0.07, 0.20,
        (Season(-80, 185, 0.45, 20, 8), Season(60, 150, 0.20, 10, 10)),
        flowering=112, s1_structure=1.4, tags=("crop", "winter"),
    ),
    LandCoverClass(
        "maize", 0.16, 0.16, (Season(152, 268, 0.66, 9, 11),), sowing_jitter=13.0,
        s1_structure=1.6, tags=("crop", "summer"),
    ),
    LandCoverClass(
        "sunflower", 0.06, 0.16, (Season(140, 232, 0.56, 9, 9),), sowing_jitter=13.0,
        s1_structure=1.2, tags=("crop", "summer"),
    ),
    LandCoverClass(
        "meadow", 0.20, 0.50, (Season(70, 305, 0.28, 15, 15),), background="soil",
        mowing=(145, 200, 255), mowing_depth=0.28, sowing_jitter=10.0, variability=0.07,
        s1_structure=0.4, tags=("grassland",),
    ),
    LandCoverClass(
        "forest", 0.09, 0.38, (Season(108, 292, 0.48, 8, 10),), sowing_jitter=5.0,
        variability=0.08, s1_structure=2.5, tags=("natural",),
    ),
    LandCoverClass("water", 0.02, -0.35, background="water", variability=0.04, tags=("natural",)),
    LandCoverClass("urban", 0.05, 0.12, background="urban", variability=0.05, s1_structure=4.0, tags=("built",)),
    LandCoverClass("bare_soil", 0.03, 0.10, background="soil", variability=0.04, tags=("natural",)),
)
"""Ten classes with the imbalance of a typical European agricultural landscape (wheat and meadow dominate)."""


def _logistic(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def season_arrays(classes: tuple[LandCoverClass, ...], max_seasons: int = 3) -> dict[str, np.ndarray]:
    """Pack the classes' seasons into ``(n_classes, max_seasons)`` arrays (unused seasons have amplitude 0)."""
    shape = (len(classes), max_seasons)
    packed = {key: np.zeros(shape) for key in ("sos", "eos", "amplitude", "rise", "fall")}
    packed["rise"][:] = packed["fall"][:] = 10.0
    for i, cls in enumerate(classes):
        if len(cls.seasons) > max_seasons:
            raise ValueError(f"class {cls.name!r} has {len(cls.seasons)} seasons; at most {max_seasons} supported")
        for k, season in enumerate(cls.seasons):
            for key in packed:
                packed[key][i, k] = getattr(season, key)
    return packed


def double_logistic_ndvi(
    doy: np.ndarray,
    base: np.ndarray,
    sos: np.ndarray,
    eos: np.ndarray,
    amplitude: np.ndarray,
    rise: np.ndarray,
    fall: np.ndarray,
) -> np.ndarray:
    """NDVI of the multi-season double-logistic model.

    ``doy`` has shape ``(T,)``; ``base`` has shape ``(N,)`` and the season arrays ``(N, K)``.
    Returns ``(T, N)``.
    """
    d = np.asarray(doy, dtype=np.float64)[:, None, None]
    green_up = _logistic((d - sos[None]) / rise[None])
    senescence = _logistic((d - eos[None]) / fall[None])
    return base[None, :] + (amplitude[None] * (green_up - senescence)).sum(axis=-1)


def mowing_effect(doy: np.ndarray, cut_days: np.ndarray, depth: np.ndarray, recovery: float = 18.0) -> np.ndarray:
    """NDVI drop after grass cuts: a sudden fall of ``depth`` that recovers exponentially.

    ``cut_days`` is ``(N, n_cuts)`` (NaN = no cut), ``depth`` is ``(N,)``. Returns ``(T, N)`` (<= 0).
    """
    d = np.asarray(doy, dtype=np.float64)[:, None, None]
    since = d - cut_days[None]
    effect = np.where(since >= 0, np.exp(-np.nan_to_num(since, nan=1e9) / recovery), 0.0)
    return -depth[None, :] * np.nan_to_num(effect).sum(axis=-1).clip(0, 1)


def bloom_weight(doy: np.ndarray, peak: np.ndarray, width: float = 9.0) -> np.ndarray:
    """Gaussian bloom intensity in [0, 1]: ``(T,)`` days against ``(N,)`` peaks gives ``(T, N)``."""
    d = np.asarray(doy, dtype=np.float64)[:, None]
    return np.nan_to_num(np.exp(-0.5 * ((d - peak[None, :]) / width) ** 2))


def vegetation_fraction(ndvi: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Fraction of green vegetation in a linear mixture whose NDVI is ``ndvi``.

    Mixing red/NIR reflectances ``f * veg + (1 - f) * bg`` and solving NDVI(f) = ndvi for ``f`` gives
    ``f = (D - n B) / (n (A - B) - C + D)`` with ``A, C`` the sum/difference of NIR and red for vegetation
    and ``B, D`` for the background. ``background`` holds the background's (red, NIR) in its last axis.
    """
    veg = ENDMEMBERS["vegetation"]
    red_v, nir_v = veg[2], veg[6]
    red_b, nir_b = background[..., 0], background[..., 1]
    sum_v, diff_v = nir_v + red_v, nir_v - red_v
    sum_b, diff_b = nir_b + red_b, nir_b - red_b
    denominator = ndvi * (sum_v - sum_b) - diff_v + diff_b
    fraction = (diff_b - ndvi * sum_b) / np.where(np.abs(denominator) < 1e-9, -1e-9, denominator)
    return np.clip(fraction, 0.0, 1.0)
