"""A synthetic landscape that renders any pixel block of its SITS cube: phenology, reflectance, clouds applied,
Sentinel-1 backscatter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

from sitsbench.data import cube as cube_format
from sitsbench.data.phenology import (
    CLOUD_SPECTRUM,
    ENDMEMBERS,
    FLOWER_YELLOW,
    bloom_weight,
    double_logistic_ndvi,
    mowing_effect,
    season_arrays,
    vegetation_fraction,
)
from sitsbench.data.synthetic import assembly
from sitsbench.data.synthetic.clouds import CloudField, field_at
from sitsbench.data.synthetic.config import SyntheticConfig, config_from_preset
from sitsbench.data.synthetic.parcels import draw_parcels
from sitsbench.data.timeops import day_of_year

_BACKGROUNDS = ("soil", "water", "urban")
_S1_BASE_DB = {"soil": (-13.0, -23.0), "water": (-22.0, -28.0), "urban": (-6.5, -13.5)}


def _acquisition_dates(rng: np.random.Generator, year: int, revisit: int, n_dates: int) -> np.ndarray:
    grid = np.datetime64(f"{year}-01-03") + np.arange(0, 365, revisit).astype("timedelta64[D]")
    grid = grid[grid < np.datetime64(f"{year + 1}-01-01")]
    n_dates = min(n_dates, grid.size)
    return np.sort(rng.choice(grid, size=n_dates, replace=False)).astype("datetime64[ns]")


class SyntheticLandscape:
    """A seeded synthetic landscape that renders any window of its SITS cube.

    The global draws happen once, in a fixed order of one random stream (dates, parcels, fertility, clouds,
    per-date gains); each pixel block draws its noise from a stream of its own, so a window or a dask chunk
    renders the same values as the whole cube does.

    >>> landscape = SyntheticLandscape(config_from_preset("toy", seed=1))
    >>> cube = landscape.to_cube()            # in memory
    >>> lazy = landscape.to_cube(chunks=32)   # dask-backed, rendered chunk by chunk
    """

    def __init__(self, config: SyntheticConfig | None = None):
        config = config or SyntheticConfig()
        self.config = config
        rng = np.random.default_rng([config.seed, 0])
        self.dates = _acquisition_dates(rng, config.year, 5, config.n_dates)
        self.doy = day_of_year(self.dates)
        n_s1 = config.n_dates_s1 or min(61, round(config.n_dates * 1.25))
        self.dates_s1 = _acquisition_dates(rng, config.year, 6, n_s1) if config.with_s1 else None
        self._seasons = season_arrays(config.classes)
        self.parcels = draw_parcels(config, rng, self._seasons)
        grid_shape = (int(np.ceil(config.height / 16)) + 4, int(np.ceil(config.width / 16)) + 4)
        self._fertility = gaussian_filter(rng.normal(0, 1, grid_shape), 1.0)
        self._fertility /= self._fertility.std() + 1e-9
        self.clouds = CloudField.draw(config, self.doy, rng)
        self._date_gain = 1 + rng.normal(0, 0.02, (self.dates.size, len(cube_format.S2_BANDS)))
        if self.dates_s1 is not None:
            self._s1_moisture = rng.normal(0, 0.8, self.dates_s1.size)

    def _profile_parameters(self, labels: np.ndarray, ids: np.ndarray):
        p = self.parcels
        shift = p.date_shift[ids][:, None]
        s = self._seasons
        sos = s["sos"][labels] + shift
        eos = s["eos"][labels] + shift
        amplitude = s["amplitude"][labels] * p.amplitude_scale[ids][:, None]
        base = np.array([c.base for c in self.config.classes])[labels] + p.base_shift[ids]
        depth = np.array([c.mowing_depth for c in self.config.classes])[labels]
        return base, sos, eos, amplitude, s["rise"][labels], s["fall"][labels], depth

    def ndvi_profiles(self, ids: np.ndarray, doy: np.ndarray) -> np.ndarray:
        """Parcel-level NDVI ``(T, len(ids))`` at days ``doy``, including change events."""
        p = self.parcels
        before = self._class_ndvi(p.behaviour[ids], ids, doy)
        if p.second_amplitude[ids].any():  # cover or second crops after the harvest
            zeros = np.zeros(ids.size)
            before = before + double_logistic_ndvi(doy, zeros, p.second_sos[ids][:, None], p.second_eos[ids][:, None],
                                                   p.second_amplitude[ids][:, None], np.full((ids.size, 1), 8.0),
                                                   np.full((ids.size, 1), 10.0))
        if not p.changes[ids].any():
            return before
        after = self._class_ndvi(p.new_label[ids], ids, doy)
        changed = p.changes[ids][None, :] & (doy[:, None] >= p.change_doy[ids][None, :])
        return np.where(changed, after, before)

    def _class_ndvi(self, labels: np.ndarray, ids: np.ndarray, doy: np.ndarray) -> np.ndarray:
        base, sos, eos, amplitude, rise, fall, depth = self._profile_parameters(labels, ids)
        ndvi = double_logistic_ndvi(doy, base, sos, eos, amplitude, rise, fall)
        cuts = np.where(depth[:, None] > 0, self.parcels.cut_days[ids], np.nan)
        return ndvi + mowing_effect(doy, cuts, depth)

    def _current_labels(self, ids: np.ndarray, doy: np.ndarray) -> np.ndarray:
        p = self.parcels
        changed = p.changes[ids][None, :] & (doy[:, None] >= p.change_doy[ids][None, :])
        return np.where(changed, p.new_label[ids][None, :], p.behaviour[ids][None, :])

    def _block_rng(self, by: int, bx: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, 1 + stream, by, bx])

    def render(self, by: int, bx: int) -> dict[str, np.ndarray]:
        """Render block ``(by, bx)`` of the ``block_size`` grid: a dict of numpy arrays."""
        cfg = self.config
        size = cfg.block_size
        y0, x0 = by * size, bx * size
        y1, x1 = min(y0 + size, cfg.height), min(x0 + size, cfg.width)
        h, w = y1 - y0, x1 - x0
        rng = self._block_rng(by, bx, 0)
        pid = self.parcels.id_map(y0, y1, x0, x1)
        ids, pixel_to_unique = np.unique(pid, return_inverse=True)
        pixel_to_unique = pixel_to_unique.ravel()
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(float) + 0.5
        fertility = field_at(self._fertility, 16.0, 2, yy, xx).ravel()
        variability = np.array([c.variability for c in cfg.classes])
        pixel_offset = rng.normal(0, 1, h * w)

        def surface(doy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            parcel_ndvi = self.ndvi_profiles(ids, doy)
            labels_t = self._current_labels(ids, doy)[:, pixel_to_unique]
            var = variability[labels_t]
            ndvi = parcel_ndvi[:, pixel_to_unique] * (1 + var * fertility) + var * 0.8 * pixel_offset
            background_kind = np.array([_BACKGROUNDS.index(c.background) for c in cfg.classes])[labels_t]
            return ndvi, background_kind, labels_t

        ndvi, background_kind, labels_t = surface(self.doy)
        spectra = np.stack([ENDMEMBERS[b] for b in _BACKGROUNDS])  # (3, bands)
        brightness = self.parcels.brightness[ids][pixel_to_unique]
        background = spectra[background_kind] * brightness[None, :, None]  # (T, P, bands)
        fraction = vegetation_fraction(ndvi, background[..., [2, 6]])
        vegetation = ENDMEMBERS["vegetation"][None, None, :] * np.ones_like(background)
        vegetation[..., 6:8] *= self.parcels.nir_scale[ids][pixel_to_unique][None, :, None]
        reflectance = fraction[..., None] * vegetation + (1 - fraction[..., None]) * background
        bloom = bloom_weight(self.doy, self.parcels.bloom_day[ids])[:, pixel_to_unique]
        reflectance += bloom[..., None] * FLOWER_YELLOW
        reflectance *= self._date_gain[:, None, :]
        reflectance += rng.normal(0, cfg.noise, reflectance.shape)
        reflectance = np.clip(reflectance, 0.0005, 1.0).transpose(0, 2, 1).reshape(-1, len(cube_format.S2_BANDS), h, w)

        opacity, shadow = self.clouds.window(y0, y1, x0, x1)
        cloud = CLOUD_SPECTRUM[None, :, None, None] * self.clouds.brightness[:, None, None, None]
        cloud = cloud + rng.normal(0, 0.02, reflectance.shape)
        op = opacity[:, None]
        reflectance = (1 - op) * reflectance + op * cloud
        reflectance = np.where(shadow[:, None], reflectance * 0.4, reflectance)
        out = {
            cube_format.REFLECTANCE: reflectance.astype(np.float32),
            cube_format.VALID: (opacity == 0) & ~shadow,
            cube_format.PARCEL: pid,
            cube_format.CLASS: self.parcels.new_label[pid].astype(np.int16),
        }
        if cfg.change_fraction > 0:
            out[cube_format.CHANGE] = self.parcels.changes[pid].astype(np.int8)
        if cfg.region_shift:
            out[cube_format.REGION] = self.parcels.region[pid]
        if self.dates_s1 is not None:
            out[cube_format.BACKSCATTER] = self._backscatter(surface, h, w, self._block_rng(by, bx, 1))
        return out

    def _backscatter(self, surface, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        doy_s1 = day_of_year(self.dates_s1)
        ndvi, background_kind, labels_t = surface(doy_s1)
        kinds = np.array([_S1_BASE_DB[b] for b in _BACKGROUNDS])  # (3, 2)
        structure = np.array([c.s1_structure for c in cfg.classes])[labels_t]
        veg = np.clip((ndvi - 0.1) / 0.75, 0, 1)
        vv = kinds[background_kind, 0] + 3.0 * veg + 1.2 * structure * veg + self._s1_moisture[:, None]
        vh = kinds[background_kind, 1] + 7.0 * veg + 1.0 * structure * veg + 0.3 * self._s1_moisture[:, None]
        linear = 10 ** (np.stack([vv, vh], axis=1) / 10)  # (T1, 2, P)
        looks = 4.4
        speckle = rng.gamma(looks, 1 / looks, linear.shape)
        db = 10 * np.log10(linear * speckle)
        return db.reshape(len(doy_s1), 2, h, w).astype(np.float32)

    def to_cube(self, chunks: int | None = None) -> xr.Dataset:
        """The whole cube: in memory (``chunks=None``) or dask-backed with square ``chunks``."""
        if chunks is None:
            return assembly.eager_cube(self)
        return assembly.lazy_cube(self, chunks)


def generate_cube(config: SyntheticConfig | str = "default", chunks: int | None = None, **overrides) -> xr.Dataset:
    """Generate a synthetic SITS cube.

    ``config`` is a :class:`SyntheticConfig` or the name of a preset (``"toy"``, ``"default"``, ``"large"``);
    ``overrides`` replace fields (``generate_cube("toy", seed=3, with_s1=False)``). With ``chunks`` the cube is
    dask-backed and rendered lazily, so cubes larger than memory can be streamed or written to zarr.
    """
    if isinstance(config, str):
        config = config_from_preset(config, **overrides)
    elif overrides:
        config = replace(config, **overrides)
    return SyntheticLandscape(config).to_cube(chunks=chunks)
