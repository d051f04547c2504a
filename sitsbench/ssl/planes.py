"""Plane views: two random walks through the same parcel are two views of it (a positive pair).

Deep-STaR (Chelali, Kurtz & Vincent, CVIU 2021) reads a parcel's pixels along a random walk at every date and
gets an image (height = time, width = position along the walk; see :mod:`sitsbench.planes`). Two walks drawn
in the same parcel cross different pixels but the same crop, so they make natural positives for SimCLR or
DINO, the hypothesis of the research plan: the encoder must learn what the parcel's pixels share (phenology,
spectra) and ignore where the walk went. DINO's local views are shorter walks (fewer patch tokens for a
ViT, as the small crops of DINO's multi-crop).

Each parcel's gap-filled, time-resampled grid is computed once; walks are drawn anew for every epoch with a
generator seeded by ``(seed, epoch, index)``, so runs are reproducible. Spectral augmentations of
:mod:`sitsbench.ssl.augment` are applied to each plane seen as a series ``(H, C, W)`` (time first).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from sitsbench.data import cube as cube_format
from sitsbench.data.normalize import BandStats
from sitsbench.planes import curves
from sitsbench.planes.extract import gather_curves, parcel_grids


class UnlabeledPlaneDataset(Dataset):
    """Every parcel of ``cube`` (``repeats`` times per epoch) as a list of plane views ``{"x": (C, H, W),
    "doy": (H,), "mask": (H,)}``: ``n_global`` random walks of ``width`` pixels, then ``n_local`` of
    ``local_width``. The parcel layer delimits the objects; ``class`` is never read."""

    def __init__(
        self,
        cube: xr.Dataset,
        width: int = 32,
        local_width: int = 16,
        n_global: int = 2,
        n_local: int = 0,
        height: int | None = 32,
        bands: list[str] | None = None,
        stats: BandStats | None = None,
        augment=None,
        repeats: int = 1,
        seed: int = 0,
    ):
        if n_global < 1 or repeats < 1:
            raise ValueError(f"n_global and repeats must be >= 1, got n_global={n_global}, repeats={repeats}")
        if n_local and local_width < 1:
            raise ValueError(f"local_width must be >= 1 when n_local > 0, got {local_width}")
        if stats is None:
            stats = BandStats.from_cube(cube, np.asarray(cube[cube_format.PARCEL].values) > 0)
        self.stats = stats
        grids = parcel_grids(cube, height=height, bands=bands, stats=stats)
        if not grids:
            raise ValueError("the cube's parcel layer has no parcel (ids > 0): plane views need objects")
        self.parcels = np.array(sorted(grids), dtype=np.int64)
        self.grids = [grids[p] for p in self.parcels]
        n_dates = self.grids[0][1].shape[0]
        self.doy = torch.arange(n_dates, dtype=torch.int64)  # resampled dates: the plane's rows
        self.widths = [width] * n_global + [local_width] * n_local
        self.augment, self.repeats, self.seed, self.epoch = augment, repeats, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.parcels) * self.repeats

    def _view(self, plane: np.ndarray, generator: torch.Generator) -> dict[str, torch.Tensor]:
        mask = torch.ones(plane.shape[1], dtype=torch.bool)
        sample = {"x": torch.from_numpy(plane).permute(1, 0, 2), "doy": self.doy, "mask": mask}  # (H, C, W)
        if self.augment is not None:
            sample = self.augment(sample, generator)
        return {**sample, "x": sample["x"].permute(1, 0, 2).contiguous()}

    def __getitem__(self, index: int) -> list[dict[str, torch.Tensor]]:
        mask, grid = self.grids[index % len(self.parcels)]
        state = np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(2)
        rng = np.random.default_rng(state)
        generator = torch.Generator().manual_seed(int(state[0]))
        return [self._view(gather_curves(grid, curves.random_walks(mask, 1, w, rng))[0], generator) for w in self.widths]
