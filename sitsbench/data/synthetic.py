"""Seeded synthetic Sentinel-2 (+ Sentinel-1) image time series of an agricultural landscape.

This is the default data of sitsbench: realistic enough to teach with, small and fast by default, and able
to produce cubes larger than memory lazily (block by block, with dask). What it models:

* a landscape of parcels (Voronoi cells, like fields of an open-field landscape) with ten land-cover classes
  drawn with real-world imbalance (:data:`~sitsbench.data.phenology.DEFAULT_CLASSES`);
* per-class NDVI phenology (double-logistic seasons, mowing, rapeseed bloom) with per-parcel jitter of
  sowing dates and amplitude, smooth within-field fertility gradients and per-pixel heterogeneity;
* ten Sentinel-2 bands from a linear mixture of vegetation and background spectra; optional Sentinel-1
  VV/VH backscatter in dB on its own 6-day acquisition grid, with multiplicative (gamma) speckle;
* irregular acquisition dates (a 5-day revisit with dates dropped at random);
* clouds as spatially coherent blobs with semi-transparent edges and their shadows, recorded exactly in the
  ``valid`` mask; per-date radiometric variation and sensor noise;
* optional change events: a parcel switching class on a given date (``change`` and ``change_date`` layers);
* optional harder settings (the ``"hard"`` preset): several management practices per crop (sowing dates
  shifted by weeks), cover or second crops after the harvest on some parcels, and a regional shift of the
  phenology between the west half (the unlabelled area a self-supervised model pretrains on) and the east half
  (the labelled area), recorded in the ``region`` layer.

Every random draw depends only on the seed and on the position of a fixed-size pixel block, so a window or a
dask chunk renders the same values as the whole cube does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter, map_coordinates
from scipy.spatial import cKDTree

from sitsbench.data import cube as C
from sitsbench.data.phenology import (
    CLOUD_SPECTRUM,
    DEFAULT_CLASSES,
    ENDMEMBERS,
    FLOWER_YELLOW,
    LandCoverClass,
    bloom_weight,
    double_logistic_ndvi,
    mowing_effect,
    season_arrays,
    vegetation_fraction,
)
from sitsbench.data.timeops import day_of_year

_BACKGROUNDS = ("soil", "water", "urban")
_S1_BASE_DB = {"soil": (-13.0, -23.0), "water": (-22.0, -28.0), "urban": (-6.5, -13.5)}
_CHANGE_TARGETS = ("bare_soil", "urban")


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the synthetic generator.

    ``class_frequencies`` overrides the share of parcels per class (same order as ``classes``);
    ``atypical_fraction`` is the share of parcels that behave like another class with the same tags (a field
    declared as wheat but grown like barley: declaration errors, mixed sowings), a realistic confusion;
    ``cloud_cover`` is the mean fraction of cloudy pixels per date; ``change_fraction`` the share of parcels
    that change class during the series; ``block_size`` the rendering unit (dask chunks must be multiples).

    Several phenological profiles per class: each crop parcel sows with one of the ``sowing_modes`` (day
    offsets, e.g. early, usual and late sowing), and a ``double_crop_fraction`` of the crop parcels grows a cover
    or second crop after its harvest. ``region_shift`` delays every season of the parcels of the east half by
    that many days (a cooler region, or another year) and adds the ``region`` layer (0 west, 1 east).
    """

    height: int = 160
    width: int = 160
    n_dates: int = 36
    mean_parcel_area: float = 120.0
    year: int = 2021
    cloud_cover: float = 0.3
    cloud_scale: float = 24.0
    noise: float = 0.012
    atypical_fraction: float = 0.05
    with_s1: bool = True
    n_dates_s1: int | None = None
    change_fraction: float = 0.0
    sowing_modes: tuple[float, ...] = ()
    double_crop_fraction: float = 0.0
    region_shift: float = 0.0
    classes: tuple[LandCoverClass, ...] = DEFAULT_CLASSES
    class_frequencies: tuple[float, ...] | None = None
    block_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r} ({type(self.seed).__name__})")
        if self.height < 8 or self.width < 8:
            raise ValueError(f"height and width must be >= 8 pixels, got {self.height}x{self.width}")
        if not 2 <= self.n_dates <= 73:
            raise ValueError(f"n_dates must be between 2 and 73 (a 5-day revisit over one year), got {self.n_dates}")
        if not 0.0 <= self.cloud_cover < 1.0:
            raise ValueError(f"cloud_cover must be in [0, 1), got {self.cloud_cover}")
        if not 0.0 <= self.atypical_fraction <= 1.0:
            raise ValueError(f"atypical_fraction must be in [0, 1], got {self.atypical_fraction}")
        if not 0.0 <= self.change_fraction <= 1.0:
            raise ValueError(f"change_fraction must be in [0, 1], got {self.change_fraction}")
        if not 0.0 <= self.double_crop_fraction <= 1.0:
            raise ValueError(f"double_crop_fraction must be in [0, 1], got {self.double_crop_fraction}")
        if any(abs(mode) > 90 for mode in self.sowing_modes):
            raise ValueError(f"sowing_modes must be day offsets within +-90 days, got {self.sowing_modes}")
        if abs(self.region_shift) > 60:
            raise ValueError(f"region_shift must be within +-60 days, got {self.region_shift}")
        frequencies = self.frequencies
        if len(frequencies) != len(self.classes) or np.any(frequencies < 0) or frequencies.sum() <= 0:
            raise ValueError(
                f"class_frequencies must be {len(self.classes)} non-negative numbers, got {self.class_frequencies}"
            )

    @property
    def frequencies(self) -> np.ndarray:
        """Requested share of parcels per class, normalised to sum to one."""
        raw = self.class_frequencies or tuple(c.frequency for c in self.classes)
        raw = np.asarray(raw, dtype=float)
        return raw / raw.sum() if raw.sum() > 0 else raw


PRESETS: dict[str, SyntheticConfig] = {
    "toy": SyntheticConfig(height=64, width=64, n_dates=20, mean_parcel_area=60.0),
    "default": SyntheticConfig(),
    "large": SyntheticConfig(height=1024, width=1024, n_dates=48, mean_parcel_area=300.0, block_size=256),
    "hard": SyntheticConfig(height=192, width=192, mean_parcel_area=80.0, n_dates=30, cloud_cover=0.4, noise=0.02,
                            atypical_fraction=0.15, sowing_modes=(-25.0, 0.0, 25.0), double_crop_fraction=0.35,
                            region_shift=12.0, with_s1=False),
}
"""Named landscapes: a 64x64x20 toy, the default teaching cube, a larger cube for scaling runs, and ``hard``: a
192 x 192 px cube of smaller parcels with three sowing practices per crop, cover crops on a third of the crop
parcels, a 12-day phenological shift between the unlabelled west half and the labelled east half, more clouds,
noise and atypical parcels, fewer dates: one profile per class no longer separates the classes. A Random Forest on
the raw series of 2,000 labelled pixels of the east half scores 0.43-0.60 macro-F1 (OA 0.63-0.87, two seeds) with
every label and 0.27-0.41 with 1 % of them (issue 22): hard, not hopeless."""


def config_from_preset(name: str = "default", **overrides) -> SyntheticConfig:
    """A preset from :data:`PRESETS` with some fields replaced, e.g. ``config_from_preset("toy", seed=3)``."""
    if name not in PRESETS:
        raise KeyError(f"unknown synthetic preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def _allocate_counts(frequencies: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` items by ``frequencies`` with largest-remainder rounding, at least one per class."""
    exact = frequencies * total
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts))[: total - counts.sum()]] += 1
    if total >= (frequencies > 0).sum():
        for k in np.flatnonzero((counts == 0) & (frequencies > 0)):
            counts[k] += 1
            counts[np.argmax(counts)] -= 1
    return counts


def _acquisition_dates(rng: np.random.Generator, year: int, revisit: int, n_dates: int) -> np.ndarray:
    grid = np.datetime64(f"{year}-01-03") + np.arange(0, 365, revisit).astype("timedelta64[D]")
    grid = grid[grid < np.datetime64(f"{year + 1}-01-01")]
    n_dates = min(n_dates, grid.size)
    return np.sort(rng.choice(grid, size=n_dates, replace=False)).astype("datetime64[ns]")


@dataclass
class _Parcels:
    """Per-parcel attributes, indexed by parcel id (index 0 is unused: id 0 means 'no parcel')."""

    seeds: np.ndarray
    label: np.ndarray
    behaviour: np.ndarray
    date_shift: np.ndarray
    amplitude_scale: np.ndarray
    base_shift: np.ndarray
    brightness: np.ndarray
    nir_scale: np.ndarray
    cut_days: np.ndarray
    bloom_day: np.ndarray
    changes: np.ndarray
    change_doy: np.ndarray
    new_label: np.ndarray
    region: np.ndarray
    second_sos: np.ndarray
    second_eos: np.ndarray
    second_amplitude: np.ndarray
    tree: cKDTree = field(repr=False, default=None)


class SyntheticLandscape:
    """A seeded synthetic landscape that renders any window of its SITS cube.

    >>> landscape = SyntheticLandscape(config_from_preset("toy", seed=1))
    >>> cube = landscape.to_cube()            # in memory
    >>> lazy = landscape.to_cube(chunks=32)   # dask-backed, rendered chunk by chunk
    """

    def __init__(self, config: SyntheticConfig = SyntheticConfig()):
        self.config = config
        rng = np.random.default_rng([config.seed, 0])
        self.class_index = {c.name: i for i, c in enumerate(config.classes)}
        self.dates = _acquisition_dates(rng, config.year, 5, config.n_dates)
        self.doy = day_of_year(self.dates)
        n_s1 = config.n_dates_s1 or min(61, round(config.n_dates * 1.25))
        self.dates_s1 = _acquisition_dates(rng, config.year, 6, n_s1) if config.with_s1 else None
        self._seasons = season_arrays(config.classes)
        self.parcels = self._draw_parcels(rng)
        self._draw_fields(rng)

    # ------------------------------------------------------------------ global draws
    def _draw_parcels(self, rng: np.random.Generator) -> _Parcels:
        cfg = self.config
        n_classes = len(cfg.classes)
        n_parcels = max(n_classes, round(cfg.height * cfg.width / cfg.mean_parcel_area))
        seeds = rng.uniform((0, 0), (cfg.height, cfg.width), size=(n_parcels, 2))
        labels = np.repeat(np.arange(n_classes), _allocate_counts(cfg.frequencies, n_parcels))
        rng.shuffle(labels)
        jitter = np.array([c.sowing_jitter for c in cfg.classes])[labels]
        late = rng.random(n_parcels) < 0.1
        cut_base = np.full((n_parcels, 3), np.nan)
        depth_classes = [i for i, c in enumerate(cfg.classes) if c.mowing]
        for k in depth_classes:
            cuts = np.asarray(cfg.classes[k].mowing, dtype=float)
            rows = np.flatnonzero(labels == k)
            cut_base[rows, : cuts.size] = cuts[None, :] + rng.normal(0, 8, size=(rows.size, cuts.size))
            skip = rng.random((rows.size, cuts.size)) < 0.25
            cut_base[rows, : cuts.size] = np.where(skip, np.nan, cut_base[rows, : cuts.size])
        behaviour = self._atypical_behaviour(rng, labels)
        bloom = np.array([np.nan if c.flowering is None else c.flowering for c in cfg.classes])[behaviour]
        changes = rng.random(n_parcels) < cfg.change_fraction
        changes &= labels != self.class_index.get("water", -1)
        targets = np.array([self.class_index[name] for name in _CHANGE_TARGETS if name in self.class_index])
        new_label = labels.copy()
        if targets.size:
            new_label[changes] = rng.choice(targets, size=changes.sum())
            changes &= new_label != labels
        else:
            changes[:] = False
        shift, regional, practices = self._practices(labels, behaviour, seeds[:, 1] >= cfg.width / 2)
        parcels = _Parcels(
            seeds=seeds,
            label=_with_unused_zero(labels),
            behaviour=_with_unused_zero(behaviour),
            date_shift=_with_unused_zero(rng.normal(0, 1, n_parcels) * jitter * np.where(late, 2.5, 1.0) + shift),
            amplitude_scale=_with_unused_zero(rng.uniform(0.82, 1.08, n_parcels)),
            base_shift=_with_unused_zero(rng.normal(0, 0.035, n_parcels)),
            brightness=_with_unused_zero(rng.uniform(0.75, 1.25, n_parcels)),
            nir_scale=_with_unused_zero(rng.uniform(0.85, 1.15, n_parcels)),
            cut_days=np.vstack([np.full((1, 3), np.nan), cut_base + regional[:, None]]),
            bloom_day=_with_unused_zero(bloom + rng.normal(0, 6, n_parcels) + shift),
            changes=_with_unused_zero(changes),
            change_doy=_with_unused_zero(np.where(changes, rng.integers(60, 300, n_parcels), -1)),
            new_label=_with_unused_zero(new_label),
            **practices,
        )
        parcels.tree = cKDTree(seeds)
        return parcels

    def _practices(self, labels: np.ndarray, behaviour: np.ndarray,
                   east: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Sowing practice, regional shift and second crop of each parcel, from their own random stream (so that
        the landscapes without them draw exactly as before). Returns the shift of each parcel's seasons (practice +
        region), the regional shift alone (grass cuts follow it) and the new :class:`_Parcels` fields."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 3])
        n = labels.size
        crop = np.array(["crop" in c.tags for c in cfg.classes])[labels]
        sowing = np.where(crop, rng.choice(cfg.sowing_modes, n), 0.0) if cfg.sowing_modes else np.zeros(n)
        regional = np.where(east, cfg.region_shift, 0.0)
        seasons = self._seasons
        ends = np.where((seasons["amplitude"] > 0) & (seasons["eos"] <= 365), seasons["eos"], -np.inf).max(axis=1)
        second = crop & np.isfinite(ends[behaviour]) & (rng.random(n) < cfg.double_crop_fraction)
        second_sos = ends[behaviour] + sowing + regional + rng.uniform(15, 35, n)
        second_eos = second_sos + rng.uniform(60, 95, n)
        return sowing + regional, regional, {
            "region": _with_unused_zero(east.astype(np.int8)),
            "second_sos": _with_unused_zero(np.where(second, second_sos, 0.0)),
            "second_eos": _with_unused_zero(np.where(second, second_eos, 0.0)),
            "second_amplitude": _with_unused_zero(np.where(second, rng.uniform(0.15, 0.35, n), 0.0)),
        }

    def _atypical_behaviour(self, rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
        """The class each parcel behaves like: its own, or for atypical parcels another of its group."""
        classes = self.config.classes
        group = [c.tags or (c.name,) for c in classes]
        behaviour = labels.copy()
        for i in np.flatnonzero(rng.random(labels.size) < self.config.atypical_fraction):
            others = [k for k in range(len(classes)) if group[k] == group[labels[i]] and k != labels[i]]
            if others:
                behaviour[i] = rng.choice(others)
        return behaviour

    def _draw_fields(self, rng: np.random.Generator) -> None:
        cfg = self.config
        grid_shape = (int(np.ceil(cfg.height / 16)) + 4, int(np.ceil(cfg.width / 16)) + 4)
        self._fertility = gaussian_filter(rng.normal(0, 1, grid_shape), 1.0)
        self._fertility /= self._fertility.std() + 1e-9
        n_dates = self.dates.size
        cloudy_season = np.cos(2 * np.pi * (self.doy - 15) / 365.0)  # winter is cloudier
        p_clear = np.clip(0.45 - 0.2 * cloudy_season, 0.05, 0.95) if cfg.cloud_cover > 0 else np.ones(n_dates)
        cover = rng.beta(1.3, 1.6, n_dates) * min(1.0, 2.0 * cfg.cloud_cover / max(1e-9, 1 - p_clear.mean()))
        cover = np.where(rng.random(n_dates) < p_clear, 0.0, np.clip(cover, 0.02, 0.95))
        self.cloud_cover = cover
        margin = 6
        cloud_shape = (
            n_dates,
            int(np.ceil(cfg.height / cfg.cloud_scale)) + 2 * margin,
            int(np.ceil(cfg.width / cfg.cloud_scale)) + 2 * margin,
        )
        self._cloud_margin = margin
        self._cloud_grid = gaussian_filter(rng.normal(0, 1, cloud_shape), (0, 0.8, 0.8))
        interior = self._cloud_grid[:, margin:-margin, margin:-margin].reshape(n_dates, -1)
        self._cloud_threshold = np.array([np.quantile(g, 1 - c) if c > 0 else np.inf for g, c in zip(interior, cover)])
        self._cloud_softness = 0.6 * interior.std(axis=1)
        self._cloud_brightness = rng.uniform(0.8, 1.15, n_dates)
        angle = rng.uniform(0, 2 * np.pi)
        self.shadow_offset = (round(10 * np.sin(angle)), round(10 * np.cos(angle)))
        self._date_gain = 1 + rng.normal(0, 0.02, (n_dates, len(C.S2_BANDS)))
        if self.dates_s1 is not None:
            self._s1_moisture = rng.normal(0, 0.8, self.dates_s1.size)

    # ------------------------------------------------------------------ per-window rendering
    def parcel_map(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Parcel ids (1..n_parcels) of the pixels in rows ``y0:y1`` and columns ``x0:x1``."""
        yy, xx = np.mgrid[y0:y1, x0:x1]
        _, nearest = self.parcels.tree.query(np.column_stack([yy.ravel() + 0.5, xx.ravel() + 0.5]))
        return (nearest + 1).reshape(yy.shape).astype(np.int32)

    def _field_at(self, grid: np.ndarray, scale: float, margin: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        coords = np.stack([yy / scale + margin, xx / scale + margin])
        return map_coordinates(grid, coords, order=3, mode="nearest")

    def _cloud_field(self, t: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        scale = self.config.cloud_scale
        return self._field_at(self._cloud_grid[t], scale, self._cloud_margin, yy, xx)

    def clouds(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
        """Cloud opacity in [0, 1] and the boolean shadow mask, each ``(time, y, x)``, for a window."""
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(float) + 0.5
        dy, dx = self.shadow_offset
        opacity = np.zeros((self.dates.size, y1 - y0, x1 - x0))
        shadow = np.zeros_like(opacity, dtype=bool)
        for t in np.flatnonzero(self.cloud_cover > 0):
            threshold, softness = self._cloud_threshold[t], self._cloud_softness[t]
            opacity[t] = np.clip((self._cloud_field(t, yy, xx) - threshold) / softness, 0, 1)
            caster = self._cloud_field(t, yy - dy, xx - dx) > threshold
            shadow[t] = caster & (opacity[t] == 0)
        return opacity, shadow

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
        pid = self.parcel_map(y0, y1, x0, x1)
        ids, pixel_to_unique = np.unique(pid, return_inverse=True)
        pixel_to_unique = pixel_to_unique.ravel()
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(float) + 0.5
        fertility = self._field_at(self._fertility, 16.0, 2, yy, xx).ravel()
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
        reflectance = np.clip(reflectance, 0.0005, 1.0).transpose(0, 2, 1).reshape(-1, len(C.S2_BANDS), h, w)

        opacity, shadow = self.clouds(y0, y1, x0, x1)
        cloud = CLOUD_SPECTRUM[None, :, None, None] * self._cloud_brightness[:, None, None, None]
        cloud = cloud + rng.normal(0, 0.02, reflectance.shape)
        op = opacity[:, None]
        reflectance = (1 - op) * reflectance + op * cloud
        reflectance = np.where(shadow[:, None], reflectance * 0.4, reflectance)
        out = {
            C.REFLECTANCE: reflectance.astype(np.float32),
            C.VALID: (opacity == 0) & ~shadow,
            C.PARCEL: pid,
            C.CLASS: self.parcels.new_label[pid].astype(np.int16),
        }
        if cfg.change_fraction > 0:
            out[C.CHANGE] = self.parcels.changes[pid].astype(np.int8)
        if cfg.region_shift:
            out[C.REGION] = self.parcels.region[pid]
        if self.dates_s1 is not None:
            out[C.BACKSCATTER] = self._backscatter(surface, h, w, self._block_rng(by, bx, 1))
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

    # ------------------------------------------------------------------ assembly
    def _coords(self) -> dict:
        cfg = self.config
        coords = {
            C.TIME: self.dates,
            C.BAND: list(C.S2_BANDS),
            C.Y: np.arange(cfg.height),
            C.X: np.arange(cfg.width),
        }
        if self.dates_s1 is not None:
            coords[C.TIME_S1] = self.dates_s1
            coords[C.BAND_S1] = list(C.S1_BANDS)
        return coords

    def _attrs(self) -> dict:
        cfg = self.config
        config = {k: v for k, v in asdict(cfg).items() if k != "classes"}
        return {
            "class_names": [c.name for c in cfg.classes],
            "source": f"sitsbench synthetic (seed={cfg.seed})",
            "synthetic_config": repr(config),
        }

    def _change_dates(self, pid: np.ndarray) -> np.ndarray:
        p = self.parcels
        start = np.datetime64(f"{self.config.year}-01-01", "ns")
        days = (p.change_doy[pid] - 1).astype("timedelta64[D]")
        return np.where(p.changes[pid], start + days, np.datetime64("NaT", "ns"))

    def to_cube(self, chunks: int | None = None) -> xr.Dataset:
        """The whole cube: in memory (``chunks=None``) or dask-backed with square ``chunks``."""
        if chunks is None:
            return self._eager_cube()
        return self._lazy_cube(chunks)

    def _dims(self) -> dict[str, tuple[str, ...]]:
        return {
            C.REFLECTANCE: (C.TIME, C.BAND, C.Y, C.X),
            C.VALID: (C.TIME, C.Y, C.X),
            C.CLASS: (C.Y, C.X),
            C.PARCEL: (C.Y, C.X),
            C.CHANGE: (C.Y, C.X),
            C.REGION: (C.Y, C.X),
            C.BACKSCATTER: (C.TIME_S1, C.BAND_S1, C.Y, C.X),
        }

    def _blocks(self) -> tuple[int, int]:
        size = self.config.block_size
        return -(-self.config.height // size), -(-self.config.width // size)

    def _eager_cube(self) -> xr.Dataset:
        rows, cols = self._blocks()
        rendered = [[self.render(by, bx) for bx in range(cols)] for by in range(rows)]
        names = rendered[0][0].keys()
        data = {name: np.block([[blk[name] for blk in row] for row in rendered]) for name in names}
        return self._assemble(data)

    def _assemble(self, data: dict) -> xr.Dataset:
        dims = self._dims()
        variables = {name: (dims[name], array) for name, array in data.items()}
        dataset = xr.Dataset(variables, coords=self._coords(), attrs=self._attrs())
        if C.CHANGE in dataset:
            dataset["change_date"] = xr.apply_ufunc(self._change_dates, dataset[C.PARCEL], dask="parallelized",
                                                    output_dtypes=["datetime64[ns]"])
        return dataset

    def _lazy_cube(self, chunks: int) -> xr.Dataset:
        import dask
        import dask.array as da

        size = self.config.block_size
        if chunks % size:
            raise ValueError(f"chunks ({chunks}) must be a multiple of block_size ({size})")
        per_chunk = chunks // size
        rows, cols = self._blocks()
        cfg = self.config
        n_t, n_b = self.dates.size, len(C.S2_BANDS)

        def render_chunk(cy: int, cx: int) -> dict[str, np.ndarray]:
            blocks = [
                [self.render(by, bx) for bx in range(cx * per_chunk, min(cols, (cx + 1) * per_chunk))]
                for by in range(cy * per_chunk, min(rows, (cy + 1) * per_chunk))
            ]
            return {name: np.block([[b[name] for b in row] for row in blocks]) for name in blocks[0][0]}

        shapes = {
            C.REFLECTANCE: ((n_t, n_b), np.float32),
            C.VALID: ((n_t,), bool),
            C.PARCEL: ((), np.int32),
            C.CLASS: ((), np.int16),
        }
        if cfg.change_fraction > 0:
            shapes[C.CHANGE] = ((), np.int8)
        if cfg.region_shift:
            shapes[C.REGION] = ((), np.int8)
        if self.dates_s1 is not None:
            shapes[C.BACKSCATTER] = ((self.dates_s1.size, 2), np.float32)
        n_cy, n_cx = -(-cfg.height // chunks), -(-cfg.width // chunks)
        grids = {name: [[None] * n_cx for _ in range(n_cy)] for name in shapes}
        for cy in range(n_cy):
            for cx in range(n_cx):
                delayed_chunk = dask.delayed(render_chunk, pure=True)(cy, cx)
                h = min(chunks, cfg.height - cy * chunks)
                w = min(chunks, cfg.width - cx * chunks)
                for name, (lead, dtype) in shapes.items():
                    grids[name][cy][cx] = da.from_delayed(delayed_chunk[name], shape=(*lead, h, w), dtype=dtype)
        data = {name: da.block(grid) for name, grid in grids.items()}
        return self._assemble(data)


def _with_unused_zero(values: np.ndarray) -> np.ndarray:
    """Prepend a dummy entry so that arrays can be indexed by parcel id (ids start at 1)."""
    values = np.asarray(values)
    return np.concatenate([np.zeros(1, dtype=values.dtype), values])


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
