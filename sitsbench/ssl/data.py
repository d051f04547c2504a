"""Unlabeled series for pretraining: the pixels of a cube (``reflectance``, ``valid``, ``time``, never ``class``)
or labelled samples with their labels ignored (``series``, ``valid``, ``date``).

Each item is the list of augmented views of one pixel series (see :class:`~sitsbench.ssl.augment.MultiView`);
views are drawn with a generator seeded by ``(seed, epoch, index)``, so a run is reproducible and every
epoch sees new views (call :meth:`UnlabeledPixelDataset.set_epoch`).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from sitsbench.data import cube as cube_format
from sitsbench.data import samples as samples_format
from sitsbench.data.datasets import SampleSeriesDataset, check_dates, pixel_series
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import subsample
from sitsbench.data.timeops import day_of_year


class UnlabeledPixelDataset(Dataset):
    """All pixels of ``cube`` (or those where ``where`` ``(y, x)`` is True), standardised, as view lists.

    ``cube`` may also be labelled samples (:mod:`sitsbench.data.samples`): then every sample (or those where
    ``where`` ``(sample,)`` is True) is a series, with its own dates, and its label is never read.
    """

    def __init__(
        self,
        cube: xr.Dataset,
        transform,
        where: np.ndarray | None = None,
        stats: BandStats | None = None,
        max_pixels: int | None = None,
        seed: int = 0,
    ):
        self.transform, self.seed, self.epoch = transform, seed, 0
        check_dates(cube)
        if samples_format.is_samples(cube):
            self._from_samples(cube, where, stats, max_pixels, seed)
            return
        shape = (cube.sizes[cube_format.Y], cube.sizes[cube_format.X])
        where = np.ones(shape, dtype=bool) if where is None else np.asarray(where, dtype=bool)
        if where.shape != shape:
            raise ValueError(f"where has shape {where.shape}, expected the cube's (y, x) = {shape}")
        rows, cols = np.nonzero(where)
        keep = subsample(rows.size, max_pixels, seed)
        rows, cols = rows[keep], cols[keep]
        self.stats = stats if stats is not None else BandStats.from_cube(cube, where)
        self.x, self.mask = pixel_series(cube, rows, cols, self.stats)
        self.doy = day_of_year(cube[cube_format.TIME].values).astype(np.int64)  # (T,): shared by every pixel

    def _from_samples(self, samples: xr.Dataset, where, stats, max_pixels, seed) -> None:
        where = np.ones(samples.sizes[samples_format.SAMPLE], dtype=bool) if where is None else np.asarray(where, dtype=bool)
        index = np.flatnonzero(where)
        index = index[subsample(index.size, max_pixels, seed)]
        self.stats = stats if stats is not None else BandStats.from_samples(samples, where)
        split = np.where(np.isin(np.arange(samples.sizes[samples_format.SAMPLE]), index), 0, -1)
        data = SampleSeriesDataset(samples, split, "train", self.stats)
        self.x, self.mask, self.doy = data.x, data.mask, data.doy  # doy (N, T): each sample's own dates

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index: int) -> list[dict[str, torch.Tensor]]:
        doy = self.doy if self.doy.ndim == 1 else self.doy[index]
        sample = {"x": torch.from_numpy(self.x[index]), "doy": torch.from_numpy(doy), "mask": torch.from_numpy(self.mask[index])}
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0]))
        return self.transform(sample, generator)
