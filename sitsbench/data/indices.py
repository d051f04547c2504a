"""Spectral indices computed from the cube's bands."""

from __future__ import annotations

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format


def normalized_difference(cube: xr.Dataset, band_a: str, band_b: str) -> xr.DataArray:
    """``(a - b) / (a + b)`` for two named bands, ``(time, y, x)``; NaN where the sum is zero."""
    bands = [str(b) for b in cube[cube_format.BAND].values]
    for band in (band_a, band_b):
        if band not in bands:
            raise KeyError(f"band {band!r} not in the cube (bands: {bands})")
    a = cube[cube_format.REFLECTANCE].sel({cube_format.BAND: band_a})
    b = cube[cube_format.REFLECTANCE].sel({cube_format.BAND: band_b})
    total = a + b
    return ((a - b) / total.where(total != 0)).drop_vars(cube_format.BAND, errors="ignore")


def ndvi(cube: xr.Dataset) -> xr.DataArray:
    """Normalised difference vegetation index (Rouse et al. 1974) from B08 (NIR) and B04 (red)."""
    return normalized_difference(cube, "B08", "B04").rename("ndvi")


def ndvi_values(values: np.ndarray, bands: list[str]) -> np.ndarray:
    """NDVI of an array whose last axis holds ``bands`` (B08, B04 among them), the denominator floored at 1e-6."""
    nir, red = values[..., bands.index("B08")], values[..., bands.index("B04")]
    return (nir - red) / np.maximum(nir + red, 1e-6)


def ndwi(cube: xr.Dataset) -> xr.DataArray:
    """Normalised difference water index (McFeeters 1996) from B03 (green) and B08 (NIR)."""
    return normalized_difference(cube, "B03", "B08").rename("ndwi")


def ndbi(cube: xr.Dataset) -> xr.DataArray:
    """Normalised difference built-up index (Zha et al. 2003) from B11 (SWIR) and B08 (NIR)."""
    return normalized_difference(cube, "B11", "B08").rename("ndbi")
