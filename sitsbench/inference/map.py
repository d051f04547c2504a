"""Chunked land-cover mapping of cubes larger than memory (``sitsbench predict-map``).

The cube (a zarr/NetCDF file opened lazily, or a dask-backed dataset) is read one square window at a time;
each window's pixels are prepared exactly as in training (gap filling, standardisation), classified by a
predictor (:mod:`sitsbench.inference.predictors`), and the class and confidence are written to a zarr store
at the same place. Memory therefore depends on the window size, not on the cube size.

The store keeps a ``done`` flag per window, set only after the window's results are written: an interrupted
run resumes where it stopped and produces the same map. With a ``dask.distributed`` scheduler address the
windows run on the cluster's workers (each reads its window from the cube file and writes its own zarr
chunks, so no two workers touch the same bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr
import zarr
from tqdm.auto import tqdm

from sitsbench.data import cube as C
from sitsbench.data import georef
from sitsbench.data.datasets import pixel_series
from sitsbench.data.io import open_cube
from sitsbench.data.timeops import day_of_year

NODATA_CLASS = -1


def window_grid(height: int, width: int, chunk: int) -> list[tuple[int, int]]:
    """Indices ``(cy, cx)`` of the ``chunk``-sized windows covering a ``height`` x ``width`` image."""
    return [(cy, cx) for cy in range(-(-height // chunk)) for cx in range(-(-width // chunk))]


def _open_store(output: Path, height: int, width: int, chunk: int, source: str) -> zarr.Group:
    n_cy, n_cx = -(-height // chunk), -(-width // chunk)
    if output.exists():
        group = zarr.open_group(str(output), mode="r+")
        layout = (group.attrs.get("height"), group.attrs.get("width"), group.attrs.get("chunk"))
        if layout != (height, width, chunk):
            raise ValueError(
                f"{output} holds a map of layout (height, width, chunk) = {layout}, not {(height, width, chunk)}; "
                "delete it or choose another output path"
            )
        return group
    group = zarr.open_group(str(output), mode="w", zarr_format=2)
    group.attrs.update({"height": height, "width": width, "chunk": chunk, "source": source})
    specs = {
        "class": ((height, width), (chunk, chunk), "int16", NODATA_CLASS, ["y", "x"]),
        "confidence": ((height, width), (chunk, chunk), "float32", np.nan, ["y", "x"]),
        "done": ((n_cy, n_cx), (1, 1), "bool", False, ["window_y", "window_x"]),
    }
    for name, (shape, chunks, dtype, fill, dims) in specs.items():
        array = group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill)
        array.attrs["_ARRAY_DIMENSIONS"] = dims
    return group


def classify_window(window: xr.Dataset, predictor) -> tuple[np.ndarray, np.ndarray]:
    """Class map and confidence ``(h, w)`` of an in-memory window; pixels never seen clear get no class."""
    height, width = window.sizes[C.Y], window.sizes[C.X]
    rows, cols = np.divmod(np.arange(height * width), width)
    x, mask = pixel_series(window, rows, cols, predictor.stats, predictor.fill)
    proba = predictor(x, day_of_year(window[C.TIME].values), mask)
    labels = np.asarray(predictor.classes)[proba.argmax(axis=1)].astype(np.int16)
    confidence = proba.max(axis=1).astype(np.float32)
    observed = mask.any(axis=1)
    labels[~observed] = NODATA_CLASS
    confidence[~observed] = np.nan
    return labels.reshape(height, width), confidence.reshape(height, width)


def _process_window(cube: xr.Dataset | str, predictor, output: str, chunk: int, cy: int, cx: int) -> tuple[int, int]:
    if isinstance(cube, str):
        cube = open_cube(cube, chunks={}, validate=False)
    rows = slice(cy * chunk, (cy + 1) * chunk)
    cols = slice(cx * chunk, (cx + 1) * chunk)
    window = cube[[C.REFLECTANCE, C.VALID]].isel({C.Y: rows, C.X: cols}).load()
    labels, confidence = classify_window(window, predictor)
    group = zarr.open_group(output, mode="r+")
    group["class"][rows, cols] = labels
    group["confidence"][rows, cols] = confidence
    group["done"][cy, cx] = True
    return cy, cx


def predict_map(
    cube: xr.Dataset | str | Path,
    predictor,
    output: str | Path,
    chunk: int = 256,
    scheduler: str | None = None,
    progress: bool = True,
    on_window: Callable[[int, int], None] | None = None,
) -> xr.Dataset:
    """Classify every pixel of ``cube`` window by window into the zarr store ``output``; returns the map, with
    the cube's ``x``/``y`` and ``spatial_ref`` when the cube is georeferenced (the store itself holds no CRS).

    ``cube`` is a path (opened lazily; required with ``scheduler``) or a dataset (dask-backed for big cubes).
    Windows already marked done in ``output`` are skipped. ``on_window(cy, cx)`` is called after each window.
    """
    output = Path(output)
    source = str(cube) if isinstance(cube, str | Path) else cube.attrs.get("source", "in-memory cube")
    dataset = open_cube(cube, chunks={}, validate=False) if isinstance(cube, str | Path) else cube
    height, width = dataset.sizes[C.Y], dataset.sizes[C.X]
    group = _open_store(output, height, width, chunk, source)
    done = np.asarray(group["done"][:])
    todo = [(cy, cx) for cy, cx in window_grid(height, width, chunk) if not done[cy, cx]]
    bar = tqdm(total=len(todo), desc="predict-map", unit="window", disable=not progress)
    if scheduler is None:
        for cy, cx in todo:
            _process_window(dataset, predictor, str(output), chunk, cy, cx)
            bar.update()
            if on_window is not None:
                on_window(cy, cx)
    else:
        if not isinstance(cube, str | Path):
            raise ValueError("a dask.distributed run needs the cube as a file path that every worker can read")
        from distributed import Client, as_completed

        with Client(scheduler) as client:
            futures = [
                client.submit(_process_window, str(cube), predictor, str(output), chunk, cy, cx, pure=False)
                for cy, cx in todo
            ]
            for future in as_completed(futures):
                cy, cx = future.result()
                bar.update()
                if on_window is not None:
                    on_window(cy, cx)
    bar.close()
    return georef.copy_georeference(dataset, open_map(output))


def open_map(path: str | Path) -> xr.Dataset:
    """Open a map written by :func:`predict_map` (lazy, dask-backed)."""
    return xr.open_zarr(str(path), consolidated=False, mask_and_scale=False)
