"""Raster time series on disk -> a georeferenced cube: a folder of per-date rasters, or one multi-band stack.

This is the "bring your own rasters" path (GeoTIFF, cloud-optimised GeoTIFF, JPEG 2000: whatever GDAL reads
through rasterio; the rasterio wheels include the JP2OpenJPEG driver). Files are opened lazily with
``rioxarray.open_rasterio`` (dask chunks), so a cube larger than memory is read block by block.

**Folder of per-date files** (:func:`read_raster_folder`), e.g. the ``sits`` example data::

    TERRA_MODIS_012010_NDVI_2013-09-14.jp2, TERRA_MODIS_012010_NDVI_2013-10-16.jp2, ...

* the date of each file is parsed from its name (``YYYY-MM-DD``, ``YYYY_MM_DD`` or ``YYYYMMDD``), or given
  by a dates file / list (one date per file, in sorted file-name order);
* one band per file: the band name is the part of the file name that differs between files of one date
  (``..._B04_2020-05-01.tif``), or the token before the date when every date has one file (``NDVI``);
  multi-band files: band names from the files' band descriptions, else ``band1``, ``band2`` ...
* every file must share the CRS, the transform, the size and the band count of the first one; a file that
  does not is named in the error, as is a date that cannot be parsed or a (date, band) given twice.

**Multi-band stack** (:func:`read_raster_stack`): one file whose layers are the dates (one band) or the
dates x bands in date-major order (``bands`` names them), with the dates from a text file (one ISO date per
line) or a list.

**Any named layers** (:func:`read_raster_layers`): ``(date, band) -> (file, layer)`` over any number of files,
e.g. one multi-date stack per band or band-major stacks; a dataset description file
(:mod:`sitsbench.data.description`) builds this mapping from what the user wrote down.

Values: the files' ``scale_factor``/``add_offset`` are applied when present. Vegetation indices stored as
integers beyond ``[-1, 1]`` (MODIS and ``sits`` store NDVI x 10,000 with no scale in the file) are divided by
10,000 when ``index_scale="auto"``; the factor used is recorded in ``attrs["scale"]``. The files' nodata
value and non-finite values are ``valid = False``; there is no cloud mask in plain rasters (``valid`` is
only about missing data) unless ``cloud_mask`` files are given with the same naming (1 = cloud).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format
from sitsbench.data.readers.base import DatasetFormatError, parse_iso_dates

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
DATE_PATTERN = re.compile(r"(?<!\d)(\d{4})[-_]?(\d{2})[-_]?(\d{2})(?!\d)")
INDEX_BANDS = ("NDVI", "EVI", "NDWI", "NBR", "SAVI", "EVI2", "NDMI")
INDEX_SCALE = 1e-4


def raster_files(path: str | Path) -> list[Path]:
    """The raster files directly inside ``path``, sorted by name."""
    path = Path(path)
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)


def parse_file_date(path: Path) -> tuple[np.datetime64, str]:
    """The date in a file name and the name with the date removed; :class:`DatasetFormatError` otherwise."""
    matches = list(DATE_PATTERN.finditer(path.stem))
    if not matches:
        raise DatasetFormatError(
            f"{path}: no date in the file name (expected YYYY-MM-DD, YYYY_MM_DD or YYYYMMDD, e.g. "
            "S2_B04_2020-05-01.tif); give the dates with a dates file instead"
        )
    match = matches[-1]
    try:
        date = np.datetime64(f"{match[1]}-{match[2]}-{match[3]}", "D")
    except ValueError as error:
        raise DatasetFormatError(f"{path}: {match[0]!r} in the file name is not a valid date: {error}") from error
    return date, path.stem[: match.start()] + "{date}" + path.stem[match.end():]


def read_dates_file(path: str | Path) -> np.ndarray:
    """Dates from a text file with one ISO date (``YYYY-MM-DD``) per line (a header line is allowed)."""
    path = Path(path)
    lines = [line.strip().split(",")[0] for line in path.read_text().splitlines() if line.strip()]
    if lines and not any(ch.isdigit() for ch in lines[0]):
        lines = lines[1:]  # a header ("date"); a line with digits is a date, refused below if not ISO
    return parse_iso_dates(lines, str(path))


def _open(path: Path, chunks, crs=None) -> xr.DataArray:
    """The raster at ``path``, lazily; ``crs`` (EPSG code, WKT or PROJ string) replaces the file's own CRS."""
    import rioxarray

    try:
        with warnings.catch_warnings():  # rioxarray 0.19 passes dask its own tuple chunks (FutureWarning)
            warnings.simplefilter("ignore", FutureWarning)
            array = rioxarray.open_rasterio(path, chunks=chunks, mask_and_scale=False)
    except Exception as error:  # rasterio raises RasterioIOError, CPLE_* and others for unreadable files
        raise DatasetFormatError(f"{path}: cannot read the raster: {error}") from error
    if crs is not None:
        array = array.rio.write_crs(crs)
    if array.rio.crs is None:
        raise DatasetFormatError(f"{path}: the raster has no CRS; sitsbench needs georeferenced rasters")
    return array


def _check_same_grid(reference: xr.DataArray, ref_path: Path, other: xr.DataArray, path: Path) -> None:
    checks = [
        ("CRS", reference.rio.crs, other.rio.crs),
        ("size (bands, rows, columns)", reference.shape, other.shape),
        ("transform", tuple(reference.rio.transform()), tuple(other.rio.transform())),
    ]
    for what, expected, actual in checks:
        same = np.allclose(expected, actual) if what == "transform" else expected == actual
        if not same:
            raise DatasetFormatError(
                f"{path}: {what} differs from the first raster {ref_path.name}: {actual} instead of {expected}; "
                "every raster of a cube must share the grid (resample them first, e.g. with gdalwarp)"
            )


def _values(array: xr.DataArray, nodata: float | None = None) -> xr.DataArray:
    """Apply scale/offset and turn nodata (``nodata``, else the file's) into NaN (float32)."""
    nodata = array.rio.nodata if nodata is None else nodata
    scale = float(array.attrs.get("scale_factor", 1.0))
    offset = float(array.attrs.get("add_offset", 0.0))
    values = array.astype(np.float32)
    if nodata is not None and not np.isnan(nodata):
        values = values.where(array != nodata)
    return values * np.float32(scale) + np.float32(offset) if (scale, offset) != (1.0, 0.0) else values


def _index_scale(values: xr.DataArray, bands: list[str], dtype, index_scale) -> float:
    if index_scale != "auto":
        return float(index_scale)
    if not np.issubdtype(dtype, np.integer) or not all(b.upper() in INDEX_BANDS for b in bands):
        return 1.0
    for t in range(values.sizes[cube_format.TIME]):  # the first date with data decides: a date may be all nodata
        sample = np.abs(values.isel({cube_format.TIME: t}).values)
        if np.isfinite(sample).any():
            return INDEX_SCALE if np.nanmax(sample) > 1 else 1.0
    return 1.0


def _assemble(values: xr.DataArray, first: xr.DataArray, times, bands, source, scale, attrs) -> xr.Dataset:
    values = values.transpose(cube_format.TIME, cube_format.BAND, cube_format.Y, cube_format.X)
    if scale != 1.0:
        values = values * np.float32(scale)
    valid = np.isfinite(values).all(cube_format.BAND)
    height, width = values.sizes[cube_format.Y], values.sizes[cube_format.X]
    cube = xr.Dataset(
        {
            cube_format.REFLECTANCE: values.fillna(0.0).astype(np.float32),
            cube_format.VALID: valid,
            cube_format.CLASS: ((cube_format.Y, cube_format.X), np.full((height, width), cube_format.IGNORE_INDEX, dtype=np.int16)),
            cube_format.PARCEL: ((cube_format.Y, cube_format.X), np.zeros((height, width), dtype=np.int32)),
        },
        coords={cube_format.TIME: np.asarray(times, dtype="datetime64[ns]"), cube_format.BAND: list(bands)},
        attrs={"class_names": [], "source": str(source), "scale": scale, **attrs},
    )
    cube = cube.assign_coords({cube_format.X: first[cube_format.X], cube_format.Y: first[cube_format.Y], "spatial_ref": first["spatial_ref"]})
    for name in cube.data_vars:
        # the files' encoding (nodata, scale) is applied above: kept, save_cube would re-apply it on reopening
        for key in ("grid_mapping", "_FillValue", "scale_factor", "add_offset", "missing_value"):
            cube[name].attrs.pop(key, None)
    cube_format.validate_cube(cube, check_values=False)
    return cube


def read_raster_folder(
    path: str | Path,
    dates: str | Path | Sequence | None = None,
    bands: Sequence[str] | None = None,
    chunks: int | str | None = "auto",
    index_scale: float | str = "auto",
) -> xr.Dataset:
    """A cube from the per-date rasters in the folder ``path`` (see the module docstring)."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetFormatError(f"{path}: not a folder of rasters")
    files = raster_files(path)
    if not files:
        raise DatasetFormatError(f"{path}: no raster file ({', '.join(RASTER_SUFFIXES)}) in the folder")
    if dates is None:
        parsed = [parse_file_date(f) for f in files]
        file_dates = np.array([d for d, _ in parsed])
        templates = [t for _, t in parsed]
    else:
        file_dates = read_dates_file(dates) if isinstance(dates, str | Path) else parse_iso_dates(dates, "dates")
        if file_dates.size != len(files):
            raise DatasetFormatError(f"{path}: {len(files)} raster files but {file_dates.size} dates given")
        templates = [f.stem for f in files]
    arrays = [_open(f, chunks) for f in files]
    for f, a in zip(files[1:], arrays[1:]):
        _check_same_grid(arrays[0], files[0], a, f)
    unique_dates = np.unique(file_dates)
    # the most files of one date: a date with fewer lacks a band, named by _band_names
    per_date = max(int((file_dates == d).sum()) for d in unique_dates)
    band_names = _band_names(files, templates, file_dates, arrays[0], per_date, bands)
    layers = []
    for date in unique_dates:
        members = [i for i in np.flatnonzero(file_dates == date)]
        members.sort(key=lambda i: band_names[i][0])
        layers.append(xr.concat([_values(arrays[i]) for i in members], dim=cube_format.BAND, coords="minimal",
                                compat="override"))
    names = [name for i in sorted(np.flatnonzero(file_dates == unique_dates[0]), key=lambda i: band_names[i][0])
             for name in band_names[i][1]]
    values = xr.concat(layers, dim=cube_format.TIME, coords="minimal", compat="override").assign_coords(band=names)
    values = values.assign_coords(time=unique_dates.astype("datetime64[ns]"))
    scale = _index_scale(values, names, arrays[0].dtype, index_scale)
    return _assemble(values, arrays[0], unique_dates, names, path, scale,
                     {"files": len(files), "dates_from": "file names" if dates is None else str(dates)})


def _band_names(files, templates, file_dates, first, per_date, bands) -> list[tuple[int, list[str]]]:
    """For each file: (order key within its date, names of its bands)."""
    n_file_bands = first.sizes["band"]
    if per_date == 1:
        if bands is not None:
            if len(bands) != n_file_bands:
                raise DatasetFormatError(f"{files[0]}: {n_file_bands} band(s) per file but {len(bands)} names given")
            names = [str(b) for b in bands]
        elif n_file_bands == 1:
            token = re.split(r"[_\-.]", templates[0].replace("{date}", "").strip("_-."))[-1]
            names = [token if token and not token.isdigit() else "band1"]
        else:
            described = first.attrs.get("long_name")  # rioxarray: the band descriptions, when set
            described = list(described) if isinstance(described, tuple | list) else []
            names = described if len(described) == n_file_bands else [f"band{i + 1}" for i in range(n_file_bands)]
        return [(0, names)] * len(files)
    if n_file_bands != 1:
        raise DatasetFormatError(f"{files[0]}: several files per date must hold one band each, not {n_file_bands}")
    stems = [template.replace("{date}", "") for template in templates]
    prefix, suffix = _common_affixes(stems)
    names = [stem[prefix: len(stem) - suffix].strip("_-.") or stem.strip("_-.") or stem for stem in stems]
    for date in np.unique(file_dates):
        seen: dict[str, Path] = {}
        for i in np.flatnonzero(file_dates == date):
            if names[i] in seen:
                raise DatasetFormatError(
                    f"{files[i]}: band {names[i]!r} of date {date} is given twice (also by {seen[names[i]].name}); "
                    "expected one file per (date, band)"
                )
            seen[names[i]] = files[i]
    every_band = sorted(set(names))
    for date in np.unique(file_dates):
        present = {names[i] for i in np.flatnonzero(file_dates == date)}
        if present != set(every_band):
            raise DatasetFormatError(
                f"{files[0].parent}: date {date} has no file for band(s) {sorted(set(every_band) - present)} "
                f"(expected one file per band {every_band} for every date)"
            )
    if bands is not None:
        raise DatasetFormatError("band names are read from the file names when a date has several files")
    return [(n, [n]) for n in names]


def _common_affixes(names: list[str]) -> tuple[int, int]:
    """Lengths of the prefix and suffix shared by every name, cut at a separator (``_``, ``-``, ``.``) so that
    ``S2_B04_``/``S2_B08_`` give the band names ``B04``/``B08``, not ``4``/``8``."""
    shortest = min(len(name) for name in names)
    prefix = len(os.path.commonprefix(names))
    suffix = min(len(os.path.commonprefix([name[::-1] for name in names])), shortest - prefix)
    first = names[0]
    if prefix < len(first):  # back off to the start of the token the shared part ends in
        prefix = max(first.rfind(sep, 0, prefix) + 1 for sep in "_-.")
    if suffix:
        ends = [first.find(sep, len(first) - suffix) for sep in "_-."]
        ends = [end for end in ends if end >= 0]
        suffix = len(first) - min(ends) if ends else 0
    return prefix, suffix


def read_raster_stack(
    path: str | Path,
    dates: str | Path | Sequence,
    bands: Sequence[str] | None = None,
    chunks: int | str | None = "auto",
    index_scale: float | str = "auto",
) -> xr.Dataset:
    """A cube from one multi-band file whose layers are ``dates x bands`` in date-major order."""
    path = Path(path)
    times = read_dates_file(dates) if isinstance(dates, str | Path) else parse_iso_dates(dates, "dates")
    array = _open(path, chunks)
    names = [str(b) for b in bands] if bands is not None else ["band1"]
    n_layers = array.sizes["band"]
    if n_layers != times.size * len(names):
        raise DatasetFormatError(
            f"{path}: {n_layers} layers, expected {times.size} dates x {len(names)} band(s) = "
            f"{times.size * len(names)} (date-major order)"
        )
    if np.unique(times).size != times.size or np.any(np.diff(times.astype(np.int64)) <= 0):
        raise DatasetFormatError(f"{dates}: the dates of a stack must be strictly increasing and unique")
    layers = {(date, name): (path, t * len(names) + b) for t, date in enumerate(times) for b, name in enumerate(names)}
    cube = read_raster_layers(layers, path, chunks=chunks, index_scale=index_scale)
    cube.attrs.pop("files")
    cube.attrs["dates_from"] = str(dates)
    return cube


def read_raster_layers(
    layers: dict[tuple, tuple[Path, int]],
    source: str | Path,
    chunks: int | str | None = "auto",
    index_scale: float | str = "auto",
    nodata: float | None = None,
    crs: str | None = None,
) -> xr.Dataset:
    """A cube from named layers of any raster files: ``layers[(date, band)] = (file, layer)`` (layer counted from
    0 within the file), e.g. one multi-date stack per band, band-major stacks or per-date files named by a
    pattern (:mod:`sitsbench.data.description` builds the mapping). Every (date, band) must be given; every file
    shares the grid of the first; ``nodata`` and ``crs`` override the files' own."""
    dates = np.array(sorted({np.datetime64(d, "D") for d, _ in layers}))
    bands = list(dict.fromkeys(str(b) for _, b in layers))
    keyed = {(np.datetime64(d, "D"), str(b)): where for (d, b), where in layers.items()}
    missing = [(str(d), b) for d in dates for b in bands if (d, b) not in keyed]
    if missing:
        raise DatasetFormatError(f"{source}: no layer for (date, band) {missing[:5]}: every date needs every band")
    files = list(dict.fromkeys(Path(f) for f, _ in keyed.values()))
    arrays = {f: _open(f, chunks, crs) for f in files}
    for f in files[1:]:
        _check_same_grid(arrays[files[0]].isel(band=0), files[0], arrays[f].isel(band=0), f)
    for (d, b), (f, layer) in keyed.items():
        if not 0 <= layer < arrays[Path(f)].sizes["band"]:
            raise DatasetFormatError(f"{f}: has {arrays[Path(f)].sizes['band']} layer(s), no layer {layer + 1} "
                                     f"for date {d}, band {b!r}")
    per_date = [
        xr.concat([_values(arrays[Path(keyed[(d, b)][0])].isel(band=[keyed[(d, b)][1]]), nodata).drop_vars(cube_format.BAND)
                   for b in bands], dim=cube_format.BAND, coords="minimal", compat="override")
        for d in dates
    ]
    values = xr.concat(per_date, dim=cube_format.TIME, coords="minimal", compat="override")
    values = values.assign_coords({cube_format.BAND: bands, cube_format.TIME: dates.astype("datetime64[ns]")})
    first = arrays[files[0]]
    scale = _index_scale(values, bands, first.dtype, index_scale)
    return _assemble(values, first, dates, bands, source, scale, {"files": len(files)})
