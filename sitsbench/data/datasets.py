"""torch datasets over a SITS cube: pixel series, parcel pixel-sets and spatial patches.

Every item is a dict of tensors with the same keys across datasets, so models and the training engine
never depend on where a batch came from:

* ``x`` — the series: ``(T, C)`` for a pixel, ``(T, C, S)`` for a parcel pixel-set, ``(T, C, H, W)`` for a patch;
* ``doy`` — ``(T,)`` day of year of each date (the positional encoding of L-TAE / transformers);
* ``mask`` — True where the observation is clear: ``(T,)`` for pixels and parcels, ``(T, H, W)`` for patches;
* ``y`` — the label: a scalar class, or ``(H, W)`` for patches with ``-1`` = ignore;
* ``parcel`` — the parcel id (pixel and parcel datasets).

Values are standardised with :class:`~sitsbench.data.normalize.BandStats` computed on the training split,
and cloudy dates are filled by linear interpolation (``fill="linear"``) or left as observed (``"none"``);
the mask is always returned so that models may ignore filled dates.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch.utils.data import ConcatDataset, Dataset

from sitsbench.data import cube as cube_format
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import NO_SPLIT, SPLITS, split_mask, subsample
from sitsbench.data.timeops import day_of_year, interpolate_series, relative_days

FILL_MODES = ("linear", "none")


def check_dates(data: xr.Dataset) -> xr.Dataset:
    """``data`` (a cube or samples) if its dates are strictly increasing, else the error of
    :func:`sitsbench.data.cube.check_time` or :func:`sitsbench.data.samples.check_dates` naming where: every dataset
    class reads the time axis in order (gap filling, days of year), so an unsorted in-memory cube would train on
    scrambled series."""
    from sitsbench.data import samples as samples_format

    (samples_format.check_dates if samples_format.is_samples(data) else cube_format.check_time)(data)
    return data


def pixel_series(
    cube: xr.Dataset, rows: np.ndarray, cols: np.ndarray, stats: BandStats | None, fill: str = "linear"
) -> tuple[np.ndarray, np.ndarray]:
    """Series of the pixels ``(rows, cols)``: values ``(N, T, C)`` float32 and clear mask ``(N, T)``."""
    if fill not in FILL_MODES:
        raise ValueError(f"fill must be one of {FILL_MODES}, got {fill!r}")
    values = np.asarray(cube[cube_format.REFLECTANCE].values[:, :, rows, cols], dtype=np.float32).transpose(0, 2, 1)  # (T, N, C)
    valid = np.asarray(cube[cube_format.VALID].values[:, rows, cols])  # (T, N)
    if fill == "linear":
        days = relative_days(cube[cube_format.TIME].values).astype(float)
        values = np.nan_to_num(interpolate_series(values, valid, days, days), nan=0.0)
    series = values.transpose(1, 0, 2)
    if stats is not None:
        series = stats.standardize(series, band_axis=-1)
    return np.ascontiguousarray(series, dtype=np.float32), np.ascontiguousarray(valid.T)


class SeriesItems(Dataset):
    """Items of in-memory series: ``x`` ``(N, T, C)``, ``mask`` ``(N, T)``, ``y`` and ``parcel`` ``(N,)``, and
    ``doy`` either ``(T,)`` (dates shared by every series) or ``(N, T)`` (each series its own dates)."""

    x: np.ndarray
    mask: np.ndarray
    y: np.ndarray
    parcel: np.ndarray
    doy: np.ndarray

    def __len__(self) -> int:
        return self.y.size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "x": torch.from_numpy(self.x[index]),
            "doy": torch.from_numpy(self.doy if self.doy.ndim == 1 else self.doy[index]),
            "mask": torch.from_numpy(self.mask[index]),
            "y": torch.tensor(self.y[index]),
            "parcel": torch.tensor(self.parcel[index]),
        }


class ArraySeriesDataset(SeriesItems):
    """Series already prepared as arrays (e.g. by a map model's date policy): ``x`` ``(N, T, C)``, ``mask``
    ``(N, T)``, ``doy`` ``(T,)`` or ``(N, T)``, ``y`` and ``parcel`` ``(N,)``."""

    def __init__(self, x: np.ndarray, mask: np.ndarray, doy: np.ndarray, y: np.ndarray, parcel: np.ndarray):
        if not (len(x) == len(mask) == len(y) == len(parcel)):
            raise ValueError(f"x, mask, y and parcel differ in length: {len(x)}, {len(mask)}, {len(y)}, {len(parcel)}")
        self.x, self.mask = np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(mask, dtype=bool)
        self.doy = np.ascontiguousarray(doy, dtype=np.int64)
        self.y, self.parcel = np.asarray(y, dtype=np.int64), np.asarray(parcel, dtype=np.int64)


class PixelSeriesDataset(SeriesItems):
    """Pixel time series of one split: ``x`` ``(T, C)``, ``doy``, ``mask`` ``(T,)``, ``y``, ``parcel``.

    ``max_pixels`` subsamples the split (seeded) to keep CPU runs short.
    """

    def __init__(
        self,
        cube: xr.Dataset,
        split: xr.DataArray,
        subset: str = "train",
        stats: BandStats | None = None,
        fill: str = "linear",
        max_pixels: int | None = None,
        seed: int = 0,
    ):
        check_dates(cube)
        rows, cols = np.nonzero(split_mask(split, subset))
        keep = subsample(rows.size, max_pixels, seed)
        rows, cols = rows[keep], cols[keep]
        self.rows, self.cols = rows, cols
        self.x, self.mask = pixel_series(cube, rows, cols, stats, fill)
        self.y = np.asarray(cube[cube_format.CLASS].values[rows, cols], dtype=np.int64)
        self.parcel = np.asarray(cube[cube_format.PARCEL].values[rows, cols], dtype=np.int64)
        self.doy = day_of_year(cube[cube_format.TIME].values)
        self.class_names = cube_format.class_names(cube)


class SampleSeriesDataset(SeriesItems):
    """Labelled samples (:mod:`sitsbench.data.samples`) of one split, with the items of :class:`PixelSeriesDataset`.

    Each sample keeps its own dates: ``doy`` is per item (``0`` on padded dates, whose ``mask`` is False), and
    gap filling interpolates over the sample's own dates. ``parcel`` is the sample's ``group``. ``split`` is a
    code per sample (:func:`sitsbench.data.samples.split_samples`).
    """

    def __init__(
        self,
        samples: xr.Dataset,
        split: np.ndarray,
        subset: str = "train",
        stats: BandStats | None = None,
        fill: str = "linear",
        max_pixels: int | None = None,
        seed: int = 0,
    ):
        from sitsbench.data import samples as samples_format

        if fill not in FILL_MODES:
            raise ValueError(f"fill must be one of {FILL_MODES}, got {fill!r}")
        chosen = _read_samples(self, samples, split, subset, max_pixels, seed)
        values = samples_format.gap_fill(chosen) if fill == "linear" else np.nan_to_num(chosen[samples_format.VALUES].values, nan=0.0)
        if stats is not None:
            values = stats.standardize(values, band_axis=-1)
        padding = np.isnat(chosen[samples_format.DATE].values)
        values[padding] = 0.0
        self.x = np.ascontiguousarray(values, dtype=np.float32)


def _read_samples(dataset: Dataset, samples: xr.Dataset, split: np.ndarray, subset: str, max_items: int | None,
                  seed: int) -> xr.Dataset:
    """The samples of ``subset`` (at most ``max_items``, seeded), after checking their dates; sets what every
    dataset of samples holds: ``index`` (their positions in ``samples``), ``mask``, ``y``, ``parcel`` (the
    sample's group), ``doy`` (per sample, 0 on padding) and ``class_names``."""
    from sitsbench.data import samples as samples_format

    check_dates(samples)
    index = np.flatnonzero(samples_format.subset_mask(split, subset))
    dataset.index = index[subsample(index.size, max_items, seed)]
    chosen = samples.isel({samples_format.SAMPLE: dataset.index})
    dataset.mask = np.ascontiguousarray(chosen[samples_format.VALID].values)
    dataset.y = np.asarray(chosen[samples_format.LABEL].values, dtype=np.int64)
    dataset.parcel = np.asarray(chosen[samples_format.GROUP].values, dtype=np.int64)
    dataset.doy = samples_format.day_of_year(chosen)
    dataset.class_names = samples_format.class_names(samples)
    return chosen


class SamplePixelSetDataset(Dataset):
    """Parcels of labelled samples with pixel sets (``pixels``/``pixel_mask``) as PSE-TAE reads them (Garnot et al.
    2020): ``x`` ``(T, C, S)`` with ``S = n_pixels`` pixels drawn from the parcel's real pixels (with replacement
    when it has fewer; zeros when it has none), standardised; ``mask`` ``(T,)`` the sample's clear dates.

    Each item draws a new subset when ``resample=True`` (training augmentation) and a fixed, seeded one otherwise.
    """

    def __init__(
        self,
        samples: xr.Dataset,
        split: np.ndarray,
        subset: str = "train",
        stats: BandStats | None = None,
        n_pixels: int = 32,
        resample: bool = False,
        seed: int = 0,
    ):
        from sitsbench.data import samples as samples_format

        if samples_format.PIXELS not in samples:
            raise ValueError(f"{samples.attrs.get('source', 'samples')}: no pixel sets ({samples_format.PIXELS!r}) to draw from")
        chosen = _read_samples(self, samples, split, subset, None, seed)
        self.pixels = np.nan_to_num(np.asarray(chosen[samples_format.PIXELS].values, dtype=np.float32))
        self.pixel_mask = np.asarray(chosen[samples_format.PIXEL_MASK].values)
        self.stats, self.n_pixels, self.resample, self.seed = stats, n_pixels, resample, seed

    def __len__(self) -> int:
        return self.y.size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        real = np.flatnonzero(self.pixel_mask[index])
        if real.size:
            rng = np.random.default_rng(None if self.resample else [self.seed, index])
            drawn = rng.choice(real, self.n_pixels, replace=real.size < self.n_pixels)
            x = self.pixels[index][:, :, drawn]  # (T, C, S)
            if self.stats is not None:
                x = self.stats.standardize(x, band_axis=1)
        else:
            x = np.zeros((*self.pixels.shape[1:3], self.n_pixels), dtype=np.float32)
        return {
            "x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            "doy": torch.from_numpy(self.doy[index]),
            "mask": torch.from_numpy(self.mask[index]),
            "y": torch.tensor(self.y[index]),
            "parcel": torch.tensor(self.parcel[index]),
        }


def sample_datasets(
    samples: xr.Dataset,
    split: np.ndarray,
    subsets: tuple[str, ...] = ("train", "val", "test"),
    max_samples: dict[str, int | None] | None = None,
    fill: str = "linear",
    seed: int = 0,
) -> tuple[dict[str, SampleSeriesDataset], BandStats]:
    """One :class:`SampleSeriesDataset` per subset, standardised with statistics of the training samples only."""
    from sitsbench.data import samples as samples_format

    stats = BandStats.from_samples(samples, samples_format.subset_mask(split, "train"))
    max_samples = max_samples or {}
    datasets = {
        subset: SampleSeriesDataset(samples, split, subset, stats, fill, max_pixels=max_samples.get(subset), seed=seed)
        for subset in subsets
    }
    return datasets, stats


class ParcelSeriesDataset(Dataset):
    """Parcels as pixel sets (Garnot et al. 2020, PSE-TAE): ``x`` ``(T, C, S)`` with ``S = n_pixels``.

    Parcels with fewer pixels are sampled with replacement. Each item draws a new random subset when
    ``resample=True`` (training augmentation) and a fixed, seeded one otherwise. ``aggregate="mean"`` returns
    the parcel's mean series ``(T, C)`` instead, for series models. ``mask`` ``(T,)`` is True where at least
    half of the parcel is clear.
    """

    def __init__(
        self,
        cube: xr.Dataset,
        split: xr.DataArray,
        subset: str = "train",
        stats: BandStats | None = None,
        n_pixels: int = 32,
        aggregate: str | None = None,
        resample: bool = False,
        fill: str = "linear",
        seed: int = 0,
    ):
        if aggregate not in (None, "mean"):
            raise ValueError(f"aggregate must be None or 'mean', got {aggregate!r}")
        check_dates(cube)
        rows, cols = np.nonzero(split_mask(split, subset))
        parcels = np.asarray(cube[cube_format.PARCEL].values[rows, cols])
        order = np.argsort(parcels, kind="stable")
        self.ids, starts = np.unique(parcels[order], return_index=True)
        self.members = np.split(order, starts[1:])
        self.x, valid = pixel_series(cube, rows, cols, stats, fill)
        self.valid = valid
        labels = np.asarray(cube[cube_format.CLASS].values[rows, cols], dtype=np.int64)
        self.y = np.array([np.bincount(labels[m]).argmax() for m in self.members], dtype=np.int64)
        self.doy = day_of_year(cube[cube_format.TIME].values)
        self.n_pixels, self.aggregate, self.resample, self.seed = n_pixels, aggregate, resample, seed
        self.class_names = cube_format.class_names(cube)

    def __len__(self) -> int:
        return self.ids.size

    def _sample(self, index: int) -> np.ndarray:
        members = self.members[index]
        rng = np.random.default_rng(None if self.resample else [self.seed, index])
        return rng.choice(members, self.n_pixels, replace=members.size < self.n_pixels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        members = self.members[index]
        mask = self.valid[members].mean(axis=0) >= 0.5
        if self.aggregate == "mean":
            x = self.x[members].mean(axis=0)
        else:
            x = self.x[self._sample(index)].transpose(1, 2, 0)
        return {
            "x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            "doy": torch.from_numpy(self.doy),
            "mask": torch.from_numpy(mask),
            "y": torch.tensor(self.y[index]),
            "parcel": torch.tensor(self.ids[index]),
        }


class PatchDataset(Dataset):
    """Square patches ``x`` ``(T, C, P, P)`` with ``mask`` ``(T, P, P)`` and labels ``y`` ``(P, P)``.

    A patch belongs to ``subset`` when most of its labelled pixels do; labels of pixels from other splits are
    set to ``-1`` (ignored), so no loss or metric ever sees them. Use a block split whose ``block_size`` equals
    ``patch_size`` to get patches that lie entirely in one split.
    """

    def __init__(
        self,
        cube: xr.Dataset,
        split: xr.DataArray,
        subset: str = "train",
        stats: BandStats | None = None,
        patch_size: int = 32,
        fill: str = "linear",
    ):
        check_dates(cube)
        height, width = cube.sizes[cube_format.Y], cube.sizes[cube_format.X]
        if patch_size > min(height, width):
            raise ValueError(f"patch_size {patch_size} exceeds the cube's size {height}x{width}")
        in_subset = split_mask(split, subset)
        labelled = np.asarray(split.values) >= 0
        self.origins = []
        for y0 in range(0, height - patch_size + 1, patch_size):
            for x0 in range(0, width - patch_size + 1, patch_size):
                window = (slice(y0, y0 + patch_size), slice(x0, x0 + patch_size))
                if in_subset[window].sum() * 2 > labelled[window].sum() > 0:
                    self.origins.append((y0, x0))
        if not self.origins:
            raise ValueError(
                f"no {patch_size} x {patch_size} patch of the {height} x {width} cube "
                f"({cube.attrs.get('source', 'cube')}) lies mostly in the {subset!r} split: use a larger cube, a "
                "smaller patch_size or a block split with blocks of patch_size"
            )
        self.cube, self.stats, self.patch_size, self.fill = cube, stats, patch_size, fill
        self.labels = np.where(in_subset, np.asarray(cube[cube_format.CLASS].values), cube_format.IGNORE_INDEX).astype(np.int64)
        self.doy = day_of_year(cube[cube_format.TIME].values)
        self.class_names = cube_format.class_names(cube)

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        y0, x0 = self.origins[index]
        size = self.patch_size
        rows, cols = np.mgrid[y0 : y0 + size, x0 : x0 + size]
        series, valid = pixel_series(self.cube, rows.ravel(), cols.ravel(), self.stats, self.fill)
        x = series.reshape(size, size, *series.shape[1:]).transpose(2, 3, 0, 1)
        mask = valid.reshape(size, size, -1).transpose(2, 0, 1)
        return {
            "x": torch.from_numpy(np.ascontiguousarray(x)),
            "doy": torch.from_numpy(self.doy),
            "mask": torch.from_numpy(np.ascontiguousarray(mask)),
            "y": torch.from_numpy(self.labels[y0 : y0 + size, x0 : x0 + size].copy()),
        }


def collection_patches(
    collection, subset: str, stats: BandStats | None = None, patch_size: int = 32, background: bool = True,
    fill: str = "linear",
) -> ConcatDataset:
    """The patches of ``subset`` of a PASTIS patch set (:class:`~sitsbench.data.readers.pastis.PatchCollection`,
    split by its official folds): each patch of the subset's folds cut into ``patch_size`` squares
    (:class:`PatchDataset`, every labelled pixel in ``subset``); patches without a labelled pixel are left out.
    Patches have their own dates: batch the items with :func:`pad_collate`. ``background=False`` scores the
    crop types only (:func:`~sitsbench.data.readers.pastis.crop_types`)."""
    datasets = []
    for cube in collection.cubes(subset, background):
        labelled = np.asarray(cube[cube_format.CLASS].values) >= 0
        if labelled.any():
            split = xr.DataArray(np.where(labelled, SPLITS.index(subset), NO_SPLIT), dims=(cube_format.Y, cube_format.X))
            datasets.append(PatchDataset(cube, split, subset, stats, patch_size=patch_size, fill=fill))
    if not datasets:
        raise ValueError(f"{collection.root}: no patch of the {subset!r} folds holds a labelled pixel")
    return ConcatDataset(datasets)


def pad_collate(batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items whose series have different lengths, padding the time axis at the end.

    Padded dates get ``x = 0``, ``doy = 0`` and ``mask = False``; ``pad_mask`` ``(B, T)`` is True on real dates.
    """
    lengths = [item["x"].shape[0] for item in batch]
    n_time = max(lengths)
    out: dict[str, torch.Tensor] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if key in ("x", "doy", "mask"):
            padded = []
            for value, length in zip(values, lengths):
                pad = torch.zeros((n_time - length, *value.shape[1:]), dtype=value.dtype)
                padded.append(torch.cat([value, pad]))
            out[key] = torch.stack(padded)
        else:
            out[key] = torch.stack(values)
    out["pad_mask"] = torch.arange(n_time)[None, :] < torch.tensor(lengths)[:, None]
    return out
