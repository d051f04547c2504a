"""TimeSen2Crop reader: one CSV per Sentinel-2 pixel sample, Austria, Sept 2017 - Aug 2018.

Weikmann, Paris & Bruzzone, "TimeSen2Crop: A Million Labeled Samples Dataset of Sentinel 2 Image Time
Series for Crop-Type Classification", IEEE JSTARS 14 (2021).
Layout (per the dataset's catalogue page)::

    {tile}/dates.csv            column acquisition_date, YYYYMMDD, oldest first (one row per date)
    {tile}/{class}/{n}.csv      one row per date: B2 B3 B4 B5 B6 B7 B8A B11 B12 Flag (header row optional)
                                Flag: 0 clear, 1 cloud, 2 shadow, 3 snow; reflectance x 1e4

Samples become ``x`` (``y`` = 1); ``valid`` is ``Flag == 0``. The class is the folder number 0-15; the
order of the 16 crop names is not stated in the files, so ``class_names`` defaults to ``crop type k``.
The dataset has no parcel ids: every sample gets its own ``parcel`` (``k + 1`` for the k-th file of
``attrs["parcel_ids"]``), so pixels of one field may fall on both sides of a random split; hold out a
whole tile instead. Same-day acquisitions in ``dates.csv`` are merged (:func:`merge_same_day`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sitsbench.data.readers.base import (
    DatasetFormatError,
    assemble_cube,
    merge_same_day,
    parse_yyyymmdd,
    require_file,
)

COLUMNS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8A", "B11", "B12", "Flag")
BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12")
FLAGS = {0: "clear", 1: "cloud", 2: "shadow", 3: "snow"}
N_CLASSES = 16
SCALE = 1e-4


def read_dates(root: str | Path, tile: str) -> np.ndarray:
    path = require_file(Path(root) / tile / "dates.csv", "acquisition dates (column acquisition_date, YYYYMMDD)")
    table = pd.read_csv(path, dtype=str)
    if "acquisition_date" not in table.columns:
        raise DatasetFormatError(f"{path}: no column 'acquisition_date' (columns: {list(table.columns)})")
    times = parse_yyyymmdd(path, table["acquisition_date"], "acquisition_date")
    if np.any(np.diff(times.astype(np.int64)) < 0):
        raise DatasetFormatError(f"{path}: acquisition dates must be ordered oldest first")
    return times


def read_sample(path: str | Path, n_dates: int) -> tuple[np.ndarray, np.ndarray]:
    """``(values (T, 9) float32 reflectance, flags (T,))`` of one sample CSV.

    The catalogue page does not say whether the files start with a header row, so a first row that is
    not numeric is taken as a header and skipped.
    """
    path = require_file(path, "pixel sample CSV")
    try:
        table = pd.read_csv(path, header=None, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DatasetFormatError(f"{path}: unreadable CSV (expected columns {' '.join(COLUMNS)}): {error}") from error
    if pd.to_numeric(table.iloc[0], errors="coerce").isna().any():
        table = table.iloc[1:]
    if table.shape != (n_dates, len(COLUMNS)):
        raise DatasetFormatError(
            f"{path}: table has shape {table.shape}, expected ({n_dates}, {len(COLUMNS)}): one row per date of "
            f"dates.csv and columns {' '.join(COLUMNS)}"
        )
    try:
        values = table.to_numpy(dtype=np.float64)
    except ValueError as error:
        raise DatasetFormatError(f"{path}: non-numeric value in the table: {error}") from error
    flags = values[:, -1]
    if not np.isin(flags, list(FLAGS)).all():
        bad = sorted(int(f) for f in set(flags) - set(FLAGS))
        raise DatasetFormatError(f"{path}: Flag column holds {bad}, expected {FLAGS}")
    return (values[:, :-1] * SCALE).astype(np.float32), flags.astype(np.int8)


def read_timesen2crop(
    root: str | Path, tile: str, max_per_class: int | None = None, class_names: list[str] | None = None
) -> xr.Dataset:
    """All samples of one tile (or the first ``max_per_class`` files of each class) as a cube."""
    root = Path(root)
    class_names = class_names or [f"crop type {k}" for k in range(N_CLASSES)]
    times = read_dates(root, tile)
    folders = sorted(p for p in (root / tile).iterdir() if p.is_dir())
    for folder in folders:
        if not folder.name.isdigit() or int(folder.name) >= len(class_names):
            raise DatasetFormatError(f"{folder}: unknown class folder (expected 0..{len(class_names) - 1})")
    files, labels = [], []
    for folder in sorted(folders, key=lambda p: int(p.name)):
        names = sorted(folder.glob("*.csv"), key=lambda p: (len(p.stem), p.stem))[:max_per_class]
        files += names
        labels += [int(folder.name)] * len(names)
    if not files:
        raise DatasetFormatError(f"{root / tile}: no sample CSV under the class folders 0..{len(class_names) - 1}")
    samples = [read_sample(path, times.size) for path in files]
    values = np.stack([s[0] for s in samples], axis=-1)[:, :, None, :]  # (T, C, 1, N)
    valid = np.stack([s[1] for s in samples], axis=-1)[:, None, :] == 0  # (T, 1, N)
    times, values, valid = merge_same_day(times, values, valid)
    return assemble_cube(
        values, times, list(BANDS), valid,
        labels=np.asarray(labels, dtype=np.int16)[None, :],
        parcels=np.arange(1, len(files) + 1, dtype=np.int32)[None, :],
        class_names=class_names, source=str(root / tile),
        extra={"attrs": {"tile": tile, "parcel_ids": [str(p.relative_to(root)) for p in files]}},
    )
