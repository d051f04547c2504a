"""A cube visited in square windows: the grid, reading one window, and its pixels as standardised series.

Map inference (:mod:`sitsbench.inference.map`), streaming training and encoding
(:mod:`sitsbench.autoencoders.streaming`) and the data-path benchmark (:func:`sitsbench.perf.data_path_throughput`)
never hold a whole cube: they read one ``chunk`` x ``chunk`` window at a time. This module is where a window is read.

* :func:`window_grid` — the ``(cy, cx)`` indices of the windows covering an image;
* :func:`window_source` — a reader for a cube given by path or as a dataset. A zarr cube given by path is read
  through zarr directly (one open group, the window sliced from the arrays): no dask graph and no xarray indexing
  per window, which were most of the cost of the data path (``benchmarks/bench_data_path.py``). Any other cube
  (NetCDF, rasters, a dataset in memory or dask-backed) is read through xarray;
* :func:`window_series` — the ``(N, T, C)`` float32 series of a window's pixels, standardised in one pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format
from sitsbench.data.normalize import BandStats


def window_grid(height: int, width: int, chunk: int) -> list[tuple[int, int]]:
    """Indices ``(cy, cx)`` of the ``chunk``-sized windows covering a ``height`` x ``width`` image."""
    return [(cy, cx) for cy in range(-(-height // chunk)) for cx in range(-(-width // chunk))]


def window_slices(cy: int, cx: int, chunk: int) -> tuple[slice, slice]:
    """Row and column slices of window ``(cy, cx)`` (the last row/column of windows may be cut by the image)."""
    return slice(cy * chunk, (cy + 1) * chunk), slice(cx * chunk, (cx + 1) * chunk)


class DatasetWindows:
    """Windows of a cube held as a dataset (in memory, dask-backed, or lazily opened by any backend)."""

    def __init__(self, cube: xr.Dataset):
        self.cube = cube[[cube_format.REFLECTANCE, cube_format.VALID]]
        self.source = cube.attrs.get("source", "in-memory cube")
        self.height, self.width = cube.sizes[cube_format.Y], cube.sizes[cube_format.X]

    def read(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        """Reflectance ``(T, C, h, w)`` float32 and clear mask ``(T, h, w)`` bool of the window ``rows`` x ``cols``."""
        window = self.cube.isel({cube_format.Y: rows, cube_format.X: cols}).load()
        return (np.asarray(window[cube_format.REFLECTANCE].values, dtype=np.float32),
                np.asarray(window[cube_format.VALID].values, dtype=bool))


class ZarrWindows:
    """Windows of a cube written by :func:`sitsbench.data.io.save_cube` to zarr, sliced from its arrays.

    Only the chunks a window touches are read and decoded; a window aligned with the chunks (the default: cubes
    are saved with square spatial chunks and windows of the same size) reads each of its chunks once. The chunks
    are decoded by zarrs (``zarrs.ZarrsCodecPipeline``, zarr's codec pipeline in Rust), which halves zarr-python's
    own per-read overhead and decompression time on this path; the pipeline is set for these two arrays only.
    """

    def __init__(self, path: str | Path):
        import zarr
        import zarrs  # noqa: F401  (registers its codec pipeline)

        self.path = self.source = str(path)
        with zarr.config.set({"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"}):
            self.reflectance = zarr.open_array(f"{self.path}/{cube_format.REFLECTANCE}", mode="r")
            self.valid = zarr.open_array(f"{self.path}/{cube_format.VALID}", mode="r")
        for name, array in ((cube_format.REFLECTANCE, self.reflectance), (cube_format.VALID, self.valid)):  # sliced by position below
            dims = tuple(array.attrs.get("_ARRAY_DIMENSIONS") or getattr(array.metadata, "dimension_names", None) or ())
            expected = cube_format.EXPECTED_DIMS[name]
            if dims != expected:
                raise ValueError(f"cube {self.path}: array {name!r} has dims {dims}, expected {expected}")
        self.height, self.width = self.reflectance.shape[2], self.reflectance.shape[3]

    def read(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        """Reflectance ``(T, C, h, w)`` float32 and clear mask ``(T, h, w)`` bool of the window ``rows`` x ``cols``."""
        values = np.asarray(self.reflectance[:, :, rows, cols], dtype=np.float32)
        valid = np.asarray(self.valid[:, rows, cols]) != 0  # stored as uint8
        return values, valid


def window_source(cube: xr.Dataset | str | Path, opened: xr.Dataset | None = None) -> DatasetWindows | ZarrWindows:
    """A window reader: zarr directly for a ``.zarr`` cube given by path, xarray for anything else.

    Another path is read through ``opened`` (the caller's dataset of that path) or opened lazily with
    :func:`~sitsbench.data.io.open_cube`. A zarr cube read directly must hold its arrays in the cube convention's
    dimension order (checked; the values are the caller's to validate, e.g. by ``open_cube``).
    """
    if isinstance(cube, (str, Path)):
        path = Path(cube)
        if path.suffix == ".zarr" and path.is_dir():
            return ZarrWindows(path)
        if opened is None:
            from sitsbench.data.io import open_cube

            opened = open_cube(path, chunks={}, validate=False)
        cube = opened
    return DatasetWindows(cube)


def window_series(values: np.ndarray, valid: np.ndarray, stats: BandStats | None = None,
                  order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Series ``(h * w, T, C)`` float32 (standardised when ``stats`` is given; bands reordered by ``order``) and
    clear mask ``(h * w, T)`` of a window's reflectance ``(T, C, h, w)`` and mask ``(T, h, w)``.

    The arithmetic runs in float32. With ``stats``, the subtraction reads the contiguous ``(T, C, N)`` window and
    writes straight into the series layout (a transposed view of the output), then the scaling runs in place: two
    passes and one allocation, 5x faster than subtracting, scaling and then copying into the series layout, with
    the same bits (the per-pixel fancy indexing and float64 arithmetic of the general path cost more still).
    """
    if order is not None:
        values = values[:, order]
    n_time, n_band = values.shape[:2]
    pixels = values.reshape(n_time, n_band, -1)
    if stats is None:
        series = np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32)
    else:
        series = np.empty((pixels.shape[2], n_time, n_band), dtype=np.float32)
        np.subtract(pixels, stats.mean.astype(np.float32)[:, None], out=series.transpose(1, 2, 0), dtype=np.float32)
        series *= (1.0 / stats.std).astype(np.float32)
    return series, np.ascontiguousarray(valid.reshape(n_time, -1).T)
