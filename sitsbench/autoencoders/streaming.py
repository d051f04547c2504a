"""Training and encoding that stream over a cube larger than memory, one window at a time.

The cube is opened lazily (``open_cube(path, chunks={})``: zarr/NetCDF chunks read on demand) and visited in the
square windows of :mod:`sitsbench.data.windows`; each window is read, prepared as in training
(standardised, gaps left as they are: the auto-encoders read the mask) and dropped. Memory therefore depends on
the window size, not on the cube size (the same design as :mod:`sitsbench.inference.map`).

* :class:`StreamingPixelDataset` — an iterable dataset of pixel series, windows in a seeded random order and
  pixels shuffled within each window, for :func:`~sitsbench.autoencoders.training.fit_autoencoder`;
* :func:`encode_series` — the codes of pixel series held in memory (the probes of
  :mod:`sitsbench.evaluation` take them as features);
* :func:`encode_cube` — the code map ``(H, W, num_features)`` of a cube by a pixel or a patch auto-encoder, into
  memory or into a zarr array (its cost against the cube size: :func:`sitsbench.perf.encode_scaling`).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch
import xarray as xr
import zarr
from torch.utils.data import IterableDataset
from tqdm import tqdm

from sitsbench.autoencoders.base import SITSAutoEncoder
from sitsbench.autoencoders.gapfill import apply_to_series
from sitsbench.data import cube as cube_format
from sitsbench.data.io import open_cube
from sitsbench.data.normalize import BandStats
from sitsbench.data.timeops import day_of_year
from sitsbench.data.windows import window_grid, window_series, window_slices, window_source
from sitsbench.runtime import resolve_device, series_in_batches


def _lazy(cube: xr.Dataset | str | Path) -> xr.Dataset:
    return open_cube(cube, chunks={}, validate=False) if isinstance(cube, (str, Path)) else cube


def read_window(source, cy: int, cx: int, chunk: int, stats: BandStats | None):
    """Pixel series ``(h * w, T, C)`` (gaps as 0), clear mask ``(h * w, T)`` and shape ``(h, w)`` of window
    ``(cy, cx)``."""
    values, valid = source.read(*window_slices(cy, cx, chunk))
    x, mask = window_series(values, valid, stats)
    return np.nan_to_num(x, nan=0.0, copy=False), mask, valid.shape[1:]


def encode_series(model: SITSAutoEncoder, x: np.ndarray, doy: np.ndarray, mask: np.ndarray,
                  batch_size: int = 2048, device: str = "auto") -> np.ndarray:
    """``(N, num_features)`` codes of ``(N, T, C)`` pixel series by a pixel auto-encoder."""
    return apply_to_series(model, "encode", x, doy, mask, batch_size, device)


class StreamingPixelDataset(IterableDataset):
    """Pixel series ``x``/``doy``/``mask`` of a (lazily opened) cube, read window by window.

    Each pass visits the windows in a new seeded random order (``seed + pass``) and shuffles the pixels of a
    window, so a DataLoader gets mixed batches while holding one window in memory.
    """

    def __init__(self, cube: xr.Dataset | str | Path, stats: BandStats | None, chunk: int = 64, seed: int = 0):
        self.cube, self.stats, self.chunk, self.seed = _lazy(cube), stats, chunk, seed
        self.source = window_source(cube, opened=self.cube)
        self.windows = window_grid(self.cube.sizes[cube_format.Y], self.cube.sizes[cube_format.X], chunk)
        self.doy = torch.from_numpy(day_of_year(self.cube[cube_format.TIME].values))
        self.passes = 0

    def __len__(self) -> int:
        return self.cube.sizes[cube_format.Y] * self.cube.sizes[cube_format.X]

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.passes])
        self.passes += 1
        for index in rng.permutation(len(self.windows)):
            x, mask, _ = read_window(self.source, *self.windows[index], self.chunk, self.stats)
            for pixel in rng.permutation(len(x)):
                yield {"x": torch.from_numpy(x[pixel]), "doy": self.doy, "mask": torch.from_numpy(mask[pixel])}


@torch.no_grad()
def _encode_window(model: SITSAutoEncoder, x: np.ndarray, doy: torch.Tensor, mask: np.ndarray,
                   shape: tuple[int, int], batch_size: int, device: torch.device) -> np.ndarray:
    """``(h, w, latent_dim)`` codes of one window's pixels."""
    if model.input_kind == "patch":  # the window is one patch (T, C, h, w)
        x_t, mask_t = torch.from_numpy(x).to(device), torch.from_numpy(mask).to(device)
        patch = x_t.reshape(*shape, *x_t.shape[1:]).permute(2, 3, 0, 1)[None]
        patch_mask = mask_t.reshape(*shape, -1).permute(2, 0, 1)[None]
        return model.encode(patch, doy[None], patch_mask)[0].permute(1, 2, 0).cpu().numpy()
    codes = series_in_batches(model.encode, x, doy.cpu().numpy(), mask, batch_size, device)
    return codes.reshape(*shape, -1)


def encode_cube(model: SITSAutoEncoder, cube: xr.Dataset | str | Path, stats: BandStats | None, chunk: int = 64,
                batch_size: int = 4096, output: str | Path | None = None, device: str = "auto",
                progress: bool = False) -> np.ndarray | zarr.Array:
    """Code map ``(H, W, latent_dim)`` float32 of ``cube`` (a path is opened lazily), one window at a time.

    With ``output`` the codes go to a zarr array at that path (chunked like the windows) and that array is
    returned; otherwise a NumPy array. A patch auto-encoder encodes each window as one patch.
    """
    if model.input_kind not in ("series", "patch"):
        raise ValueError(f"encode_cube needs a series or patch auto-encoder, got input_kind {model.input_kind!r}")
    opened = _lazy(cube)
    source, cube = window_source(cube, opened=opened), opened
    device_ = resolve_device(device)
    model.to(device_).eval()
    height, width = cube.sizes[cube_format.Y], cube.sizes[cube_format.X]
    shape = (height, width, model.num_features)
    if output is None:
        codes = np.zeros(shape, dtype=np.float32)
    else:
        codes = zarr.open_array(str(output), mode="w", shape=shape, chunks=(chunk, chunk, model.num_features),
                                dtype="float32", zarr_format=2)
    doy = torch.from_numpy(day_of_year(cube[cube_format.TIME].values)).to(device_)
    encode = partial(_encode_window, model, doy=doy, batch_size=batch_size, device=device_)
    for cy, cx in tqdm(window_grid(height, width, chunk), desc="encode", disable=not progress, leave=False):
        x, mask, window_shape = read_window(source, cy, cx, chunk, stats)
        codes[cy * chunk:cy * chunk + window_shape[0], cx * chunk:cx * chunk + window_shape[1]] = encode(
            x=x, mask=mask, shape=window_shape)
    return codes
