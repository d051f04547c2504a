"""Labelled points (field samples) -> a table of ``x``, ``y``, ``label`` with its CRS, to extract series from a cube.

Two sources, the forms field campaigns are delivered in:

* a **CSV** with ``longitude``/``latitude`` (WGS84; also ``lon``/``lat``) or ``x``/``y`` columns in a CRS given by
  the caller, a label column and any other columns (``id``, ``start_date``, ``end_date`` as in ``sits``);
* a **vector file** that GDAL reads (GeoPackage, GeoJSON, shapefile...) through ``pyogrio``: point geometries, the
  layer's CRS, its attribute fields. Polygons are refused with a message (extract parcels with a rasterised
  parcel layer instead).

:func:`read_points` returns a :class:`pandas.DataFrame` with columns ``x``, ``y`` and the file's other columns,
and the CRS in ``attrs["crs"]``; :func:`sitsbench.data.samples.samples_from_cube` places them on a cube.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd

from sitsbench.data.readers.base import DatasetFormatError, require_file

VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb")
LONLAT_COLUMNS = (("longitude", "latitude"), ("lon", "lat"))
WGS84 = "EPSG:4326"
_WKB_POINT = 1


def _point_xy(path: Path, geometry: bytes, row: int) -> tuple[float, float]:
    """x, y of a 2D (or 3D/measured) WKB point; anything else is refused naming the row."""
    if geometry is None or len(geometry) < 21:
        raise DatasetFormatError(f"{path}: feature {row} has no point geometry")
    order = "<" if geometry[0] == 1 else ">"
    kind = (struct.unpack(f"{order}I", geometry[1:5])[0] & 0x0FFFFFFF) % 1000  # EWKB flags and ISO Z/M codes
    if kind != _WKB_POINT:
        raise DatasetFormatError(
            f"{path}: feature {row} is not a point (WKB type {kind}); labelled points must be points "
            "(for parcels, rasterise the polygons into the cube's parcel layer)"
        )
    return struct.unpack(f"{order}dd", geometry[5:21])


def read_points(path: str | Path, crs: str | None = None) -> pd.DataFrame:
    """The labelled points in ``path`` (CSV or a vector file); ``crs`` is needed only for a CSV with ``x``/``y``."""
    path = require_file(path, "labelled points (CSV with longitude/latitude, or a GeoPackage/GeoJSON of points)")
    if path.suffix.lower() in VECTOR_SUFFIXES:
        from pyogrio import raw

        try:
            meta, _, geometry, fields = raw.read(path)
        except Exception as error:  # pyogrio raises DataSourceError and others for a foreign or damaged file
            raise DatasetFormatError(f"{path}: cannot read the vector file: {error}") from error
        if not meta.get("crs"):
            raise DatasetFormatError(f"{path}: the layer has no CRS; points cannot be placed without one")
        xy = np.array([_point_xy(path, g, i) for i, g in enumerate(geometry)], dtype=np.float64).reshape(-1, 2)
        table = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], **dict(zip(meta["fields"], fields))})
        table.attrs["crs"] = meta["crs"]
        return table
    table = pd.read_csv(path)
    lower = {c.lower(): c for c in table.columns}
    for lon, lat in LONLAT_COLUMNS:
        if lon in lower and lat in lower:
            out = table.rename(columns={lower[lon]: "x", lower[lat]: "y"})
            out.attrs["crs"] = WGS84
            return out
    if "x" in lower and "y" in lower:
        if crs is None:
            raise DatasetFormatError(f"{path}: columns x/y need their CRS (crs='EPSG:...'); or use longitude/latitude")
        out = table.rename(columns={lower["x"]: "x", lower["y"]: "y"})
        out.attrs["crs"] = crs
        return out
    raise DatasetFormatError(
        f"{path}: no coordinate columns (expected longitude/latitude, lon/lat, or x/y with a CRS); "
        f"columns: {list(table.columns)}"
    )
