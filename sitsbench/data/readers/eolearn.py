"""Reader for an eo-learn ``EOPatch`` folder of uncompressed ``.npy`` features (the Slovenia NDVI sample).

The sample is Sentinel-2 L1C over Slovenia from the eo-learn example data (Sinergise, "eo-learn",
https://github.com/sentinel-hub/eo-learn; land-use labels from the Slovenian LPIS). Layout::

    data/NDVI.npy                 float32 (T, H, W, 1)
    mask/IS_VALID.npy             bool    (T, H, W, 1)  True = data present
    mask/CLM.npy                  uint8   (T, H, W, 1)  1 = cloud
    mask_timeless/LULC.npy        uint16  (H, W, 1)     0 no data, 1 cultivated land, 2 forest, 3 grassland,
                                                        4 shrubland, 8 artificial surface
    timestamps.json               ISO acquisition times

The cube has one band ``NDVI`` (values in [-1, 1], not reflectance), ``valid = IS_VALID & ~CLM``, LULC
mapped to contiguous ids (0 no data -> -1) with :data:`LULC_NAMES`, and no parcels. When the patch has its
``bbox.geojson`` (a polygon with a ``crs`` name such as ``urn:ogc:def:crs:EPSG::32633``), the cube is
georeferenced: the bounding box divided by the array size gives the transform (:func:`georef.georeference`).

Same-day acquisitions: two scenes of 2015-12-08 (10:04 and 10:11 UTC, adjacent granules of one orbit).
``duplicates="merge"`` (default) merges them into one date (mean of clear observations, clear if either
is; :func:`merge_same_day`) so that one date means one day, as the other readers do; ``"keep"`` keeps both
(their times differ, so ``time`` is still strictly increasing); ``"error"`` rejects them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format
from sitsbench.data.readers.base import (
    DatasetFormatError,
    assemble_cube,
    check_increasing,
    check_shape,
    load_json,
    load_npy,
    merge_same_day,
)

LULC_CODES = (1, 2, 3, 4, 8)
LULC_NAMES = ("cultivated land", "forest", "grassland", "shrubland", "artificial surface")
LULC_NO_DATA = 0
DUPLICATE_MODES = ("merge", "keep", "error")


def read_eolearn_ndvi(path: str | Path, duplicates: str = "merge") -> xr.Dataset:
    """The NDVI EOPatch at ``path`` as a cube with band ``NDVI``."""
    if duplicates not in DUPLICATE_MODES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_MODES}, got {duplicates!r}")
    path = Path(path)
    stamps_path = path / "timestamps.json"
    stamps = load_json(stamps_path, "a list of ISO acquisition times")
    try:
        times = np.array(stamps, dtype="datetime64[s]")
    except (ValueError, TypeError) as error:
        raise DatasetFormatError(f"{stamps_path}: expected a list of ISO times: {error}") from error
    check_increasing(stamps_path, times, "timestamps")
    ndvi = load_npy(path / "data" / "NDVI.npy", "NDVI (T, H, W, 1)", ndim=4, mmap=False)
    n_time, height, width, _ = ndvi.shape
    check_shape(path / "data" / "NDVI.npy", ndvi, (times.size, None, None, 1), "T from timestamps.json x H x W x 1")
    masks = {}
    for name in ("IS_VALID", "CLM"):
        mask_path = path / "mask" / f"{name}.npy"
        masks[name] = load_npy(mask_path, f"{name} mask (T, H, W, 1)", ndim=4, mmap=False)
        check_shape(mask_path, masks[name], ndvi.shape, "same shape as data/NDVI.npy")
    lulc_path = path / "mask_timeless" / "LULC.npy"
    lulc = load_npy(lulc_path, "LULC labels (H, W, 1)", ndim=3, mmap=False)
    check_shape(lulc_path, lulc, (height, width, 1), "H x W x 1 like data/NDVI.npy")
    known = (LULC_NO_DATA, *LULC_CODES)
    unknown = np.setdiff1d(np.unique(lulc), known)
    if unknown.size:
        raise DatasetFormatError(f"{lulc_path}: unknown class id(s) {unknown.tolist()} (expected one of {list(known)})")
    lookup = np.full(max(known) + 1, cube_format.IGNORE_INDEX, dtype=np.int16)
    lookup[list(LULC_CODES)] = np.arange(len(LULC_CODES))
    labels = lookup[lulc[..., 0]]
    values = ndvi[..., 0][:, None].astype(np.float32)  # (T, 1, H, W)
    valid = masks["IS_VALID"][..., 0].astype(bool) & (masks["CLM"][..., 0] == 0) & np.isfinite(values[:, 0])
    days = times.astype("datetime64[D]")
    if duplicates == "error" and np.unique(days).size != days.size:
        repeated = days[np.flatnonzero(np.diff(days.astype(np.int64)) == 0)]
        raise DatasetFormatError(f"{stamps_path}: several acquisitions on the same day: {[str(d) for d in repeated]}")
    if duplicates == "merge":
        times, values, valid = merge_same_day(times, values, valid)
    cube = assemble_cube(
        values, times, ["NDVI"], valid, labels, np.zeros((height, width), dtype=np.int32), list(LULC_NAMES),
        source=str(path), extra={"attrs": {"duplicates": duplicates}},
    )
    bbox_path = path / "bbox.geojson"
    return _georeferenced(cube, bbox_path) if bbox_path.is_file() else cube


def _georeferenced(cube: xr.Dataset, bbox_path: Path) -> xr.Dataset:
    from rasterio.transform import from_bounds

    from sitsbench.data import georef

    bbox = load_json(bbox_path, "a GeoJSON polygon with a 'crs' name")
    try:
        crs = bbox["crs"]["properties"]["name"]
        ring = np.asarray(bbox["coordinates"][0], dtype=np.float64)
    except (KeyError, TypeError, IndexError, ValueError) as error:
        raise DatasetFormatError(f"{bbox_path}: expected a GeoJSON polygon with crs.properties.name: {error}") from error
    if ring.ndim != 2 or ring.shape[1] != 2:
        raise DatasetFormatError(f"{bbox_path}: the polygon's ring has shape {ring.shape}, expected (n, 2)")
    crs = crs.replace("urn:ogc:def:crs:EPSG::", "EPSG:")
    (west, south), (east, north) = ring.min(axis=0), ring.max(axis=0)
    transform = from_bounds(west, south, east, north, cube.sizes[cube_format.X], cube.sizes[cube_format.Y])
    return georef.georeference(cube, crs, transform)
