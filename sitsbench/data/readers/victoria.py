"""Reader for the IGARSS 2019 tutorial's Sentinel-2 pixel series of Victoria (Australia).

Data of the IGARSS 2019 tutorial "Deep learning for satellite image time series" (Pelletier, Petitjean
et al.; https://github.com/charlotte-pel/igarss2019-dl4sits, GPL-3). Layout::

    train_dataset.csv, test_dataset.csv   header lc_id, objectid, b0 ... b729: 73 dates x 10 bands, date by date,
                                          bands B2 B3 B4 B5 B6 B7 B8 B8A B11 B12, reflectance x 1e4
    class_map.txt                         value,class,colour: the 8 classes in lc_id order 0-7

All rows of both files become labelled samples (:mod:`sitsbench.data.samples`): ``label`` = ``lc_id``,
``group`` = ``objectid`` (the polygon; rows of one polygon share it) and a predefined ``split`` with the file
each row came from (0 = train file, 2 = test file). The two files share polygons (38 objectids appear in
both), so that split leaks: ``split_samples(samples, "predefined")`` refuses it, and
``split_samples(samples, "group")`` keeps each polygon on one side.

Dates: the files carry none. We use 73 dates every 5 days from ``start`` (default 2018-01-01), one year
at the 5-day Sentinel-2 revisit; this is an assumption (the real dates and year are unknown to us),
recorded in ``attrs["dates"]``. A reflectance of exactly 0 is the Sentinel-2 no-data value: a date is
``valid`` only where all 10 bands are non-zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sitsbench.data.readers.base import DatasetFormatError, require_file
from sitsbench.data.readers.tables import numeric_columns, read_table
from sitsbench.data.samples import make_samples

BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
N_DATES = 73
REVISIT_DAYS = 5
SCALE = 1e-4
FILES = {"train_dataset.csv": 0, "test_dataset.csv": 2}


def read_class_map(path: str | Path) -> list[str]:
    """Class names in ``lc_id`` order; the colour column holds commas (``rgb(r, g, b)``), so split by hand."""
    path = require_file(Path(path) / "class_map.txt", "class map with header value,class,colour")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines or [h.strip() for h in lines[0].split(",")] != ["value", "class", "colour"]:
        raise DatasetFormatError(f"{path}: first line must be the header value,class,colour")
    rows = [line.split(",", 2) for line in lines[1:]]
    if any(len(row) != 3 or not row[0].strip().isdigit() for row in rows):
        raise DatasetFormatError(f"{path}: each row must be <integer value>,<class name>,<colour>")
    return [row[1].strip() for row in rows]


def read_victoria(path: str | Path, start: str = "2018-01-01") -> xr.Dataset:
    """Both CSV files as samples with the predefined ``split`` of the files."""
    path = Path(path)
    class_names = read_class_map(path)
    expected = ["lc_id", "objectid"] + [f"b{i}" for i in range(N_DATES * len(BANDS))]
    tables, splits = [], []
    for name, code in FILES.items():
        csv_path = require_file(path / name, f"CSV with header lc_id, objectid, b0..b{len(expected) - 3}")
        table, lines = read_table(csv_path)  # strict: ragged rows, open quotes, non-numbers are errors
        if list(table.columns) != expected:
            raise DatasetFormatError(
                f"{csv_path}: header has {table.shape[1]} columns starting {list(table.columns[:3])}, expected "
                f"lc_id, objectid, b0..b{len(expected) - 3} ({N_DATES} dates x {len(BANDS)} bands)"
            )
        ids = numeric_columns(csv_path, table, ["lc_id", "objectid"], lines)
        fractional = np.flatnonzero((ids != np.round(ids)).any(axis=1) | np.isnan(ids).any(axis=1))
        if fractional.size:
            raise DatasetFormatError(f"{csv_path}, line {lines[fractional[0]]}: lc_id and objectid must be integers, "
                                     f"got {ids[fractional[0]].tolist()}")
        table[["lc_id", "objectid"]] = ids.astype(np.int64)
        table[expected[2:]] = numeric_columns(csv_path, table, expected[2:], lines)
        bad = table.loc[(table["lc_id"] < 0) | (table["lc_id"] >= len(class_names)), "lc_id"]
        if not bad.empty:
            raise DatasetFormatError(
                f"{csv_path}: unknown class id(s) {sorted(bad.unique().tolist())} (expected 0..{len(class_names) - 1})"
            )
        if (table["objectid"] <= 0).any():
            raise DatasetFormatError(f"{csv_path}: objectid must be positive (0 means 'no parcel')")
        tables.append(table)
        splits.append(np.full(len(table), code, dtype=np.int8))
    table = pd.concat(tables, ignore_index=True)
    raw = table[expected[2:]].to_numpy(dtype=np.float32).reshape(len(table), N_DATES, len(BANDS))
    times = np.datetime64(start, "D") + REVISIT_DAYS * np.arange(N_DATES)
    return make_samples(
        raw * np.float32(SCALE), times, BANDS, table["lc_id"].to_numpy(np.int64), class_names,
        groups=table["objectid"].to_numpy(np.int64), valid=(raw != 0).all(axis=2), split=np.concatenate(splits),
        source=str(path),
        attrs={"dates": f"assumed: {N_DATES} dates every {REVISIT_DAYS} days from {start} (not in the files)"},
    )
