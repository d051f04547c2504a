"""TimeSen2Crop reader: one CSV per Sentinel-2 pixel sample, Austria, Sept 2017 - Aug 2018, as labelled samples.

Weikmann, Paris & Bruzzone, "TimeSen2Crop: A Million Labeled Samples Dataset of Sentinel 2 Image Time
Series for Crop-Type Classification", IEEE JSTARS 14 (2021); data at https://zenodo.org/records/4715631.
Layout (the dataset's catalogue page, AI4Europe "TimeSen2Crop": per-tile folders, a dates CSV "ordered from
the oldest acquisition to the newest", 16 crop-type sub-folders, one CSV per sample, rows = dates, columns
B2 B3 B4 B5 B6 B7 B8A B11 B12 then the pixel condition)::

    {tile}/dates.csv            column acquisition_date, YYYYMMDD, oldest first (one row per date)
    {tile}/{class}/{n}.csv      one row per date: B2 B3 B4 B5 B6 B7 B8A B11 B12 Flag (header row optional)
                                Flag: 0 clear, 1 cloud, 2 shadow, 3 snow; reflectance x 1e4

The column names ``acquisition_date`` and ``Flag`` are not on the catalogue page: they are the ones used
by third-party readers of the files. The catalogue does not say whether the sample CSVs start with a
header row, so a first row that is not numeric is taken as a header and skipped.

Samples (:mod:`sitsbench.data.samples`): one per sample CSV, with the dates of its tile's ``dates.csv``
(tiles have different dates: reading several tiles pads the shorter series with NaT); ``valid`` is
``Flag == 0`` (and finite values); same-day acquisitions in ``dates.csv`` are merged
(:func:`~sitsbench.data.readers.base.merge_same_day`). ``label`` is the class folder number 0-15; the order
of the 16 crop names is not stated in the files, so ``class_names`` defaults to ``crop type k``.
The dataset has no parcel id: every sample is its own ``group`` (1..N), so pixels of one field may fall on
both sides of a random split; hold out whole tiles instead (per-sample coordinate ``tile``; the sample's
file, relative to ``root``, is the coordinate ``file``). There is no published split (no ``split``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sitsbench.data.readers.base import (
    DatasetFormatError,
    merge_same_day,
    parse_yyyymmdd,
    require_file,
    stack_ragged,
)
from sitsbench.data.samples import make_samples

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
    root: str | Path,
    tile: str | Sequence[str],
    max_per_class: int | None = None,
    class_names: list[str] | None = None,
) -> xr.Dataset:
    """All samples of one tile or several (or the first ``max_per_class`` files of each class of each tile)."""
    root = Path(root)
    tiles = [tile] if isinstance(tile, str) else [str(t) for t in tile]
    if not tiles or len(set(tiles)) != len(tiles):
        raise ValueError(f"tile must be a tile name or distinct tile names, got {tile!r}")
    class_names = class_names or [f"crop type {k}" for k in range(N_CLASSES)]
    values, valid, dates, labels, files, tile_of = [], [], [], [], [], []
    for name in tiles:
        times = read_dates(root, name)
        folders = sorted(p for p in (root / name).iterdir() if p.is_dir())
        for folder in folders:
            if not folder.name.isdigit() or int(folder.name) >= len(class_names):
                raise DatasetFormatError(f"{folder}: unknown class folder (expected 0..{len(class_names) - 1})")
        paths, tile_labels = [], []
        for folder in sorted(folders, key=lambda p: int(p.name)):
            found = sorted(folder.glob("*.csv"), key=lambda p: (len(p.stem), p.stem))[:max_per_class]
            paths += found
            tile_labels += [int(folder.name)] * len(found)
        if not paths:
            raise DatasetFormatError(f"{root / name}: no sample CSV under the class folders 0..{len(class_names) - 1}")
        read = [read_sample(path, times.size) for path in paths]
        block = np.stack([r[0] for r in read], axis=-1)  # (T, C, N)
        clear = np.stack([r[1] for r in read], axis=-1) == 0  # (T, N)
        merged_times, block, clear = merge_same_day(times, block, clear)
        clear = clear & np.isfinite(block).all(axis=1)
        for k in range(len(paths)):
            values.append(block[:, :, k])
            valid.append(clear[:, k])
            dates.append(merged_times)
        labels += tile_labels
        files += [str(p.relative_to(root)) for p in paths]
        tile_of += [name] * len(paths)
    values, valid, dates = stack_ragged(values, valid, dates)
    samples = make_samples(
        values, dates, BANDS, np.asarray(labels, dtype=np.int64), class_names, valid=valid,
        source=str(root / tiles[0]) if len(tiles) == 1 else f"{root}/{{{','.join(tiles)}}}",
        attrs={"tiles": tiles, "groups": "one group per sample: the dataset has no parcel id"},
    )
    return samples.assign_coords(
        tile=("sample", np.asarray(tile_of, dtype=str)), file=("sample", np.asarray(files, dtype=str))
    )
