"""Georeferencing of cubes and samples: CRS and affine transform kept the way rioxarray keeps them.

A georeferenced cube has ``x``/``y`` coordinates in map units (pixel centres) and a scalar ``spatial_ref``
coordinate whose attributes hold the CRS (``crs_wkt``) and the ``GeoTransform``, exactly as
``rioxarray.open_rasterio`` returns them and as ``xarray`` writes them to zarr/NetCDF (CF grid mapping).
Cubes without ``spatial_ref`` (synthetic landscapes, pixel datasets) have ``x``/``y`` as pixel indices and
cannot be placed on the ground; :func:`require_crs` says so.

This module places points on a cube (reprojecting lon/lat with pyproj), cuts windows without losing the
georeferencing (plain ``isel`` keeps ``spatial_ref`` and map coordinates) and writes maps as GeoTIFF.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

SPATIAL_REF = "spatial_ref"
WGS84 = "EPSG:4326"


class GeoreferenceError(ValueError):
    """A cube has no CRS, or points do not fall on it (the message names the cube and the points)."""


def has_crs(data: xr.Dataset | xr.DataArray) -> bool:
    return SPATIAL_REF in data.coords and bool(data[SPATIAL_REF].attrs.get("crs_wkt"))


def crs_of(data: xr.Dataset | xr.DataArray):
    """The cube's CRS as a :class:`pyproj.CRS`."""
    from pyproj import CRS

    require_crs(data)
    return CRS.from_wkt(data[SPATIAL_REF].attrs["crs_wkt"])


def crs_label(crs) -> str:
    """A short readable name of a CRS: ``EPSG:<code>`` when it has one, else its PROJ string."""
    from pyproj import CRS

    try:
        parsed = CRS.from_user_input(crs)
    except Exception:  # pyproj raises CRSError and others for unparseable input: show it as stored
        return str(crs)[:80]
    epsg = parsed.to_epsg()
    if epsg:
        return f"EPSG:{epsg}"
    with warnings.catch_warnings():  # a PROJ string is lossy for some CRSs; here it is only a label
        warnings.simplefilter("ignore", UserWarning)
        return parsed.to_proj4()


def require_crs(data: xr.Dataset | xr.DataArray) -> None:
    if not has_crs(data):
        source = data.attrs.get("source", "cube")
        raise GeoreferenceError(
            f"{source}: no CRS (no 'spatial_ref' coordinate with 'crs_wkt'): x/y are pixel indices, so points "
            "cannot be placed and maps cannot be put back on the ground; read the data with a raster reader"
        )


def transform_of(data: xr.Dataset | xr.DataArray):
    """The affine transform (pixel corner -> map coordinates) of a georeferenced cube."""
    import rioxarray  # noqa: F401 - registers the .rio accessor

    require_crs(data)
    return data.rio.transform(recalc=True)


def copy_georeference(source: xr.Dataset | xr.DataArray, target: xr.Dataset | xr.DataArray):
    """``target`` (dims ``(..., y, x)`` of the same grid) with the ``x``, ``y`` and ``spatial_ref`` of ``source``."""
    if not has_crs(source):
        return target
    return target.assign_coords({"x": source["x"], "y": source["y"], SPATIAL_REF: source[SPATIAL_REF]})


def georeference(cube: xr.Dataset, crs, transform) -> xr.Dataset:
    """``cube`` with ``x``/``y`` set to the pixel centres of the affine ``transform`` (pixel corner -> map) and a
    ``spatial_ref`` coordinate holding ``crs`` and the transform, as rioxarray writes them."""
    import rioxarray  # noqa: F401 - registers the .rio accessor
    from affine import Affine

    transform = Affine(*tuple(transform)[:6])
    cols, rows = np.arange(cube.sizes["x"]) + 0.5, np.arange(cube.sizes["y"]) + 0.5
    xs = transform.c + cols * transform.a
    ys = transform.f + rows * transform.e
    placed = cube.assign_coords(x=xs, y=ys)
    return placed.rio.write_crs(crs).rio.write_transform(transform)


def to_pixels(cube: xr.Dataset, x: np.ndarray, y: np.ndarray, crs: str | None = WGS84) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the pixels holding the points ``(x, y)`` given in ``crs`` (default lon/lat).

    Points are reprojected to the cube's CRS and located with its affine transform; a point outside the cube
    raises :class:`GeoreferenceError` naming it.
    """
    x, y = _in_cube_crs(cube, x, y, crs)
    rows, cols, inside = locate(cube, x, y, crs=None)
    outside = ~inside
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise GeoreferenceError(
            f"{cube.attrs.get('source', 'cube')}: {int(outside.sum())} point(s) fall outside the cube "
            f"({cube.sizes['y']} x {cube.sizes['x']} px), e.g. point {first} at ({x[first]:.2f}, {y[first]:.2f}) "
            "in the cube's CRS"
        )
    return rows, cols


def _in_cube_crs(cube: xr.Dataset, x, y, crs: str | None) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if crs is None:
        return x, y
    return Transformer.from_crs(crs, crs_of(cube), always_xy=True).transform(x, y)


def locate(cube: xr.Dataset, x, y, crs: str | None = WGS84) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and whether it falls on the cube, for each point ``(x, y)`` given in ``crs`` (reprojected to
    the cube's CRS, or already in it when ``crs`` is None, and located with the cube's affine transform)."""
    x, y = _in_cube_crs(cube, x, y, crs)
    cols, rows = ~transform_of(cube) * (x, y)
    rows, cols = np.floor(np.asarray(rows)).astype(np.int64), np.floor(np.asarray(cols)).astype(np.int64)
    inside = (rows >= 0) & (rows < cube.sizes["y"]) & (cols >= 0) & (cols < cube.sizes["x"])
    return rows, cols, inside


def write_geotiff(array: xr.DataArray, path: str | Path, nodata: float | int | None = None) -> Path:
    """Write a georeferenced ``(y, x)`` or ``(band, y, x)`` array as a tiled, compressed GeoTIFF.

    The file is written under a temporary name and renamed, so an existing file is replaced only by a
    complete one.
    """
    import rioxarray  # noqa: F401 - registers the .rio accessor

    from sitsbench.atomic import written

    require_crs(array)
    data = array.rio.write_crs(crs_of(array).to_wkt())
    if nodata is not None:
        data = data.rio.write_nodata(nodata)
    with written(path) as tmp:
        data.rio.to_raster(tmp, driver="GTiff", tiled=True, compress="deflate")
    return Path(path)
