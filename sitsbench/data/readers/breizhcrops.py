"""BreizhCrops reader: parcel-mean Sentinel-2 series of Brittany (France), 2017.

Rußwurm, Pelletier, Zollner, Lefèvre & Körner, "BreizhCrops: A Time Series Dataset for Crop Type
Mapping", ISPRS Archives XLIII-B2-2020. The layout
is the one written by the ``breizhcrops`` package (``build_folder_structure``)::

    classmapping.csv                 unnamed index column, then id, classname, code (CODE_CULTU -> class id)
    {year}/{level}/{region}.csv      index: unnamed index column, idx, id, CODE_CULTU, path, meanQA60, sequencelength
    {year}/{level}/{region}.h5       one dataset per parcel under the key ``path`` of the index, (T, columns):
        L1C columns: B1 B10 B11 B12 B2 B3 B4 B5 B6 B7 B8 B8A B9 QA10 QA20 QA60 doa
        L2A columns: B2 B3 B4 B5 B6 B7 B8 B8A B11 B12 CLD EDG SAT doa

``doa`` is the acquisition time in nanoseconds since 1970 (float). Reflectance is stored x 1e4. Parcels
whose CODE_CULTU is not in the class mapping are dropped, as the package does.

Each parcel is one sample on ``x`` (``y`` = 1), ``parcel`` = ``k + 1`` for the k-th id of
``attrs["parcel_ids"]``. Parcels are observed on different dates (tile overlaps), so ``time`` is the
union of the acquisition *days* of the region and ``valid`` is False where a parcel has no observation.
A second observation of a parcel on the same day is dropped (the first one in the file is kept).
``valid`` also needs a clear observation: L1C ``QA60 == 0`` (no opaque cloud or cirrus bit);
L2A ``CLD < max_cloud_probability`` and ``EDG == 0`` and ``SAT == 0`` (our threshold, default 50 %).
The published protocol trains on frh01-frh03 and tests on frh04 (:data:`OFFICIAL_SPLIT`).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr

from sitsbench.data.readers.base import DatasetFormatError, assemble_cube, require_file

COLUMNS = {
    "L1C": ("B1", "B10", "B11", "B12", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9",
            "QA10", "QA20", "QA60", "doa"),
    "L2A": ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12", "CLD", "EDG", "SAT", "doa"),
}
BANDS = {
    "L1C": ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"),
    "L2A": ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"),
}
REGIONS = ("frh01", "frh02", "frh03", "frh04", "belle-ile")
OFFICIAL_SPLIT = {"train": ("frh01", "frh02", "frh03"), "test": ("frh04",)}
SCALE = 1e-4
INDEX_COLUMNS = ("CODE_CULTU", "path")


def _column(name: str) -> str:
    """File column of a cube band name (``B02`` -> ``B2``)."""
    return "B" + name[1:].lstrip("0")


def read_classmapping(root: str | Path) -> tuple[dict[str, int], list[str]]:
    """``({CODE_CULTU: class id}, class names)`` from ``classmapping.csv``; ids must be 0..n-1."""
    path = require_file(Path(root) / "classmapping.csv", "class mapping with columns id, classname, code")
    table = pd.read_csv(path, index_col=0)
    missing = [c for c in ("id", "classname", "code") if c not in table.columns]
    if missing:
        raise DatasetFormatError(f"{path}: missing column(s) {missing} (expected id, classname, code)")
    names = table.groupby("id")["classname"].first()
    if list(names.index) != list(range(len(names))):
        raise DatasetFormatError(f"{path}: class ids {list(names.index)} are not 0..{len(names) - 1}")
    return {str(code): int(cid) for code, cid in zip(table["code"], table["id"])}, [str(n) for n in names]


def read_breizhcrops(
    root: str | Path,
    region: str = "frh04",
    level: str = "L2A",
    year: int = 2017,
    max_parcels: int | None = None,
    max_cloud_probability: float = 50.0,
) -> xr.Dataset:
    """One region of BreizhCrops as a cube of parcels (values read into memory)."""
    if level not in COLUMNS:
        raise ValueError(f"level must be one of {sorted(COLUMNS)}, got {level!r}")
    root = Path(root)
    mapping, class_names = read_classmapping(root)
    folder = root / str(year) / level
    index_path = require_file(folder / f"{region}.csv", "parcel index with columns CODE_CULTU, path")
    index = pd.read_csv(index_path, index_col=0)
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise DatasetFormatError(f"{index_path}: missing column(s) {missing} (expected {list(INDEX_COLUMNS)})")
    index = index[index["CODE_CULTU"].astype(str).isin(mapping)]
    if max_parcels is not None:
        index = index.iloc[:max_parcels]
    if index.empty:
        raise DatasetFormatError(f"{index_path}: no parcel with a CODE_CULTU of classmapping.csv")
    h5_path = require_file(folder / f"{region}.h5", "HDF5 file with one dataset per parcel")
    columns = COLUMNS[level]
    series = []
    try:
        handle = h5py.File(h5_path, "r")
    except OSError as error:
        raise DatasetFormatError(f"{h5_path}: unreadable or truncated HDF5 file: {error}") from error
    with handle:
        for key in index["path"]:
            if key not in handle:
                raise DatasetFormatError(f"{h5_path}: no dataset {key!r} (listed in {index_path.name})")
            values = np.asarray(handle[key][()], dtype=np.float64)
            if values.ndim != 2 or values.shape[1] != len(columns):
                raise DatasetFormatError(
                    f"{h5_path}: dataset {key!r} has shape {values.shape}, expected (T, {len(columns)}) "
                    f"with columns {' '.join(columns)}"
                )
            series.append(values)
    days = [_days(h5_path, key, s[:, -1]) for key, s in zip(index["path"], series)]
    times = np.unique(np.concatenate(days))
    bands = BANDS[level]
    band_cols = [columns.index(_column(b)) for b in bands]
    reflectance = np.full((times.size, len(bands), 1, len(series)), np.nan, dtype=np.float32)
    valid = np.zeros((times.size, 1, len(series)), dtype=bool)
    for k, (values, day) in enumerate(zip(series, days)):
        _, first = np.unique(day, return_index=True)
        rows = np.searchsorted(times, day[first])
        reflectance[rows, :, 0, k] = values[first][:, band_cols] * SCALE
        valid[rows, 0, k] = _clear(values[first], columns, max_cloud_probability)
    valid &= np.isfinite(reflectance).all(axis=1)
    labels = np.array([mapping[str(c)] for c in index["CODE_CULTU"]], dtype=np.int16)[None, :]
    parcels = np.arange(1, len(series) + 1, dtype=np.int32)[None, :]
    stems = [Path(str(p)).stem for p in index["path"]]
    ids = [int(s) for s in stems] if all(s.isdigit() for s in stems) else stems
    return assemble_cube(
        reflectance, times, list(bands), valid, labels, parcels, class_names, source=str(h5_path),
        extra={"attrs": {"region": region, "level": level, "year": int(year), "parcel_ids": ids}},
    )


def _days(path: Path, key: str, doa: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(doa)) or np.any(doa < 0):
        raise DatasetFormatError(f"{path}: dataset {key!r} has an invalid 'doa' (expected ns since 1970)")
    return doa.astype(np.int64).astype("datetime64[ns]").astype("datetime64[D]")


def _clear(values: np.ndarray, columns: tuple[str, ...], max_cloud_probability: float) -> np.ndarray:
    col = {name: values[:, columns.index(name)] for name in columns}
    if "QA60" in col:
        return col["QA60"] == 0
    return (col["CLD"] < max_cloud_probability) & (col["EDG"] == 0) & (col["SAT"] == 0)
