"""Rendered pixel blocks of a synthetic landscape -> a labelled SITS cube, in memory or backed by dask."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format

DIMS: dict[str, tuple[str, ...]] = {
    cube_format.REFLECTANCE: (cube_format.TIME, cube_format.BAND, cube_format.Y, cube_format.X),
    cube_format.VALID: (cube_format.TIME, cube_format.Y, cube_format.X),
    cube_format.CLASS: (cube_format.Y, cube_format.X),
    cube_format.PARCEL: (cube_format.Y, cube_format.X),
    cube_format.CHANGE: (cube_format.Y, cube_format.X),
    cube_format.REGION: (cube_format.Y, cube_format.X),
    cube_format.BACKSCATTER: (cube_format.TIME_S1, cube_format.BAND_S1, cube_format.Y, cube_format.X),
}
"""The dimensions of each variable a landscape renders."""


def _coords(landscape) -> dict:
    cfg = landscape.config
    coords = {
        cube_format.TIME: landscape.dates,
        cube_format.BAND: list(cube_format.S2_BANDS),
        cube_format.Y: np.arange(cfg.height),
        cube_format.X: np.arange(cfg.width),
    }
    if landscape.dates_s1 is not None:
        coords[cube_format.TIME_S1] = landscape.dates_s1
        coords[cube_format.BAND_S1] = list(cube_format.S1_BANDS)
    return coords


def _attrs(landscape) -> dict:
    cfg = landscape.config
    config = {k: v for k, v in asdict(cfg).items() if k != "classes"}
    return {
        "class_names": [c.name for c in cfg.classes],
        "source": f"sitsbench synthetic (seed={cfg.seed})",
        "synthetic_config": repr(config),
    }


def _change_dates(landscape, pid: np.ndarray) -> np.ndarray:
    p = landscape.parcels
    start = np.datetime64(f"{landscape.config.year}-01-01", "ns")
    days = (p.change_doy[pid] - 1).astype("timedelta64[D]")
    return np.where(p.changes[pid], start + days, np.datetime64("NaT", "ns"))


def _blocks(landscape) -> tuple[int, int]:
    size = landscape.config.block_size
    return -(-landscape.config.height // size), -(-landscape.config.width // size)


def eager_cube(landscape) -> xr.Dataset:
    """The cube of ``landscape`` (a :class:`~sitsbench.data.synthetic.landscape.SyntheticLandscape`) in memory."""
    rows, cols = _blocks(landscape)
    rendered = [[landscape.render(by, bx) for bx in range(cols)] for by in range(rows)]
    names = rendered[0][0].keys()
    data = {name: np.block([[blk[name] for blk in row] for row in rendered]) for name in names}
    return _assemble(landscape, data)


def _assemble(landscape, data: dict) -> xr.Dataset:
    variables = {name: (DIMS[name], array) for name, array in data.items()}
    dataset = xr.Dataset(variables, coords=_coords(landscape), attrs=_attrs(landscape))
    if cube_format.CHANGE in dataset:
        dataset["change_date"] = xr.apply_ufunc(partial(_change_dates, landscape), dataset[cube_format.PARCEL], dask="parallelized",
                                                output_dtypes=["datetime64[ns]"])
    return dataset


def lazy_cube(landscape, chunks: int) -> xr.Dataset:
    """The cube of ``landscape`` backed by dask, each square chunk of ``chunks`` pixels rendered on demand."""
    import dask
    import dask.array as da

    size = landscape.config.block_size
    if chunks % size:
        raise ValueError(f"chunks ({chunks}) must be a multiple of block_size ({size})")
    per_chunk = chunks // size
    rows, cols = _blocks(landscape)
    cfg = landscape.config
    n_t, n_b = landscape.dates.size, len(cube_format.S2_BANDS)

    def render_chunk(cy: int, cx: int) -> dict[str, np.ndarray]:
        blocks = [
            [landscape.render(by, bx) for bx in range(cx * per_chunk, min(cols, (cx + 1) * per_chunk))]
            for by in range(cy * per_chunk, min(rows, (cy + 1) * per_chunk))
        ]
        return {name: np.block([[b[name] for b in row] for row in blocks]) for name in blocks[0][0]}

    shapes = {
        cube_format.REFLECTANCE: ((n_t, n_b), np.float32),
        cube_format.VALID: ((n_t,), bool),
        cube_format.PARCEL: ((), np.int32),
        cube_format.CLASS: ((), np.int16),
    }
    if cfg.change_fraction > 0:
        shapes[cube_format.CHANGE] = ((), np.int8)
    if cfg.region_shift:
        shapes[cube_format.REGION] = ((), np.int8)
    if landscape.dates_s1 is not None:
        shapes[cube_format.BACKSCATTER] = ((landscape.dates_s1.size, 2), np.float32)
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
    return _assemble(landscape, data)
