"""Clouds of a synthetic landscape: spatially coherent blobs with semi-transparent edges and their shadows.

Each date draws a cover (none on a clear date; winter is cloudier) and a smooth random field on a coarse grid; a
pixel is cloudy where the field, interpolated at the pixel, exceeds the date's cover quantile, with an opacity
ramp over the edge. Shadows are the cloud mask shifted by one offset per landscape (the sun's direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from sitsbench.data.synthetic.config import SyntheticConfig

MARGIN = 6  # coarse cells around the landscape, so that shifted shadows read inside the grid


def field_at(grid: np.ndarray, scale: float, margin: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A smooth field given on a coarse ``grid`` (one cell per ``scale`` pixels, ``margin`` cells around the
    landscape) at pixel coordinates ``yy``, ``xx`` (cubic interpolation)."""
    coords = np.stack([yy / scale + margin, xx / scale + margin])
    return map_coordinates(grid, coords, order=3, mode="nearest")


@dataclass
class CloudField:
    """Per-date cover, coarse cloud fields, thresholds and the shadow offset of one landscape."""

    cover: np.ndarray
    scale: float
    grid: np.ndarray
    threshold: np.ndarray
    softness: np.ndarray
    brightness: np.ndarray
    shadow_offset: tuple[int, int]

    @classmethod
    def draw(cls, config: SyntheticConfig, doy: np.ndarray, rng: np.random.Generator) -> CloudField:
        """The clouds of ``config``'s landscape on days ``doy``, drawn from ``rng``."""
        n_dates = doy.size
        cloudy_season = np.cos(2 * np.pi * (doy - 15) / 365.0)  # winter is cloudier
        p_clear = np.clip(0.45 - 0.2 * cloudy_season, 0.05, 0.95) if config.cloud_cover > 0 else np.ones(n_dates)
        cover = rng.beta(1.3, 1.6, n_dates) * min(1.0, 2.0 * config.cloud_cover / max(1e-9, 1 - p_clear.mean()))
        cover = np.where(rng.random(n_dates) < p_clear, 0.0, np.clip(cover, 0.02, 0.95))
        shape = (n_dates, int(np.ceil(config.height / config.cloud_scale)) + 2 * MARGIN,
                 int(np.ceil(config.width / config.cloud_scale)) + 2 * MARGIN)
        grid = gaussian_filter(rng.normal(0, 1, shape), (0, 0.8, 0.8))
        interior = grid[:, MARGIN:-MARGIN, MARGIN:-MARGIN].reshape(n_dates, -1)
        threshold = np.array([np.quantile(g, 1 - c) if c > 0 else np.inf for g, c in zip(interior, cover)])
        brightness = rng.uniform(0.8, 1.15, n_dates)
        angle = rng.uniform(0, 2 * np.pi)
        return cls(cover, config.cloud_scale, grid, threshold, 0.6 * interior.std(axis=1), brightness,
                   (round(10 * np.sin(angle)), round(10 * np.cos(angle))))

    def _field(self, t: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return field_at(self.grid[t], self.scale, MARGIN, yy, xx)

    def window(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
        """Cloud opacity in [0, 1] and the boolean shadow mask, each ``(time, y, x)``, of a window."""
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(float) + 0.5
        dy, dx = self.shadow_offset
        opacity = np.zeros((self.cover.size, y1 - y0, x1 - x0))
        shadow = np.zeros_like(opacity, dtype=bool)
        for t in np.flatnonzero(self.cover > 0):
            opacity[t] = np.clip((self._field(t, yy, xx) - self.threshold[t]) / self.softness[t], 0, 1)
            caster = self._field(t, yy - dy, xx - dx) > self.threshold[t]
            shadow[t] = caster & (opacity[t] == 0)
        return opacity, shadow
