"""Labelled sample tables (CSV / Parquet) -> samples: the most common form of SITS training data.

Two layouts are read:

* **wide**: one row per sample, a label column, an optional group column (polygon / parcel id) and one
  column per band and date. Column names hold the band and the date in either order, separated by ``_``,
  ``-`` or ``.`` (``B04_2020-05-01``, ``2020-05-01_B04``, ``NDVI_20200501``), or hold no date at all: then
  ``dates`` must be given and the value columns are read in file order, date by date (all bands of the
  first date, then the second date, ...; ``bands`` names them);
* **long**: one row per sample and date: a sample id column, a date column (ISO ``YYYY-MM-DD``), a label
  column and one column per band. Samples may have different dates (different years, different orbits).

Options name the columns: ``label`` (default ``label``), ``group`` (default: ``group`` when present, else one
group per sample), ``sample`` and ``date`` (long layout). Classes are ``class_names`` (labels then index
them, or are integer ids into them) or the sorted distinct labels. A missing column, a date that is not ISO,
a duplicated (sample, date) and a label outside ``class_names`` are errors naming the file and the column.
Values that are NaN or empty are ``valid = False``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sitsbench.data.readers.base import DatasetFormatError, parse_iso_dates, require_file
from sitsbench.data.samples import make_samples

DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")
SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: str | Path, header: bool = True) -> pd.DataFrame:
    """The table at ``path``; a CSV without a header line (``header=False``) has the columns ``0``, ``1``, ..."""
    path = require_file(path, "a sample table (.csv or .parquet)")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if not header:
            table = pd.read_csv(path, header=None)
            return table.set_axis([str(c) for c in table.columns], axis=1)
        return pd.read_csv(path)
    except (ValueError, OSError, ImportError, pd.errors.ParserError) as error:
        raise DatasetFormatError(f"{path}: cannot read the table: {error}") from error


def _labels(path: Path, column: pd.Series, class_names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    if class_names is None:
        text = column.astype(str).to_numpy()
        names = sorted(set(text))
        return np.searchsorted(names, text), names
    names = [str(c) for c in class_names]
    if pd.api.types.is_integer_dtype(column):
        ids = column.to_numpy(np.int64)
        bad = np.unique(ids[(ids < 0) | (ids >= len(names))])
        if bad.size:
            raise DatasetFormatError(f"{path}: column {column.name!r} has class id(s) {bad[:10].tolist()} outside "
                                     f"0..{len(names) - 1} ({len(names)} class names given)")
        return ids, names
    text = column.astype(str).to_numpy()
    unknown = sorted(set(text) - set(names))
    if unknown:
        raise DatasetFormatError(f"{path}: column {column.name!r} has label(s) {unknown[:10]} not in {names}")
    return np.array([names.index(t) for t in text], dtype=np.int64), names


def _groups(path: Path, table: pd.DataFrame, group: str | None) -> np.ndarray | None:
    if group is None:
        return None
    if group not in table.columns:
        raise DatasetFormatError(f"{path}: no group column {group!r} (columns: {list(table.columns)[:12]})")
    _, inverse = np.unique(table[group].astype(str).to_numpy(), return_inverse=True)
    return inverse.ravel() + 1


def _require(path: Path, table: pd.DataFrame, column: str, what: str) -> None:
    if column not in table.columns:
        raise DatasetFormatError(
            f"{path}: missing {what} column {column!r} (columns: {list(table.columns)[:12]}"
            f"{' ...' if table.shape[1] > 12 else ''}); name it with the reader's options"
        )


def _wide_columns(columns: list[str]) -> tuple[np.ndarray, list[str], dict[tuple[str, str], str]] | None:
    """Dates, bands and the column of each (date, band) when every value column names a date; else None."""
    cells = {}
    for column in columns:
        match = DATE_IN_NAME.search(column)
        if match is None:
            return None
        band = (column[: match.start()] + column[match.end():]).strip("_-. ")
        cells[(f"{match[1]}-{match[2]}-{match[3]}", band or "value")] = column
    dates = sorted({d for d, _ in cells})
    bands = list(dict.fromkeys(b for _, b in cells))
    return np.array(dates), bands, cells


def read_sample_table(
    path: str | Path,
    layout: str = "auto",
    label: str = "label",
    group: str | None = "auto",
    sample: str = "sample",
    date: str = "date",
    bands: Sequence[str] | None = None,
    dates: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    scale: float = 1.0,
    header: bool = True,
    values: str | None = None,
) -> xr.Dataset:
    """The table at ``path`` as samples (see the module docstring). ``layout`` is ``"wide"``, ``"long"`` or
    ``"auto"`` (long when the table has the ``date`` and ``sample`` columns). ``header=False`` reads a CSV without
    a header line (columns named ``"0"``, ``"1"``, ...); ``values`` is a regular expression selecting the value
    columns of the wide layout (default: every column but the label and the group)."""
    path = Path(path)
    table = read_table(path, header=header)
    _require(path, table, label, "label")
    if group == "auto":
        group = "group" if "group" in table.columns else None
    if layout == "auto":
        layout = "long" if date in table.columns and sample in table.columns else "wide"
    if layout == "long":
        return _read_long(path, table, label, group, sample, date, bands, class_names, scale)
    if layout != "wide":
        raise ValueError(f"layout must be 'wide', 'long' or 'auto', got {layout!r}")
    value_columns = [c for c in table.columns if c not in (label, group)]
    if values is not None:
        value_columns = [c for c in value_columns if re.fullmatch(values, str(c))]
        if not value_columns:
            raise DatasetFormatError(f"{path}: no column matches the value pattern {values!r} "
                                     f"(columns: {list(table.columns)[:12]})")
    parsed = _wide_columns([str(c) for c in value_columns]) if dates is None else None
    if parsed is not None:
        times, band_names, cells = parsed
        ordered = [cells.get((d, b)) for d in times for b in band_names]
        if any(c is None for c in ordered):
            missing = [(d, b) for d in times for b in band_names if (d, b) not in cells][:5]
            raise DatasetFormatError(f"{path}: no column for (date, band) {missing}: every date needs every band")
        times = parse_iso_dates(times, str(path))
    else:
        if dates is None:
            raise DatasetFormatError(
                f"{path}: the value columns {value_columns[:4]}... name no date (expected e.g. B04_2020-05-01): "
                "give the dates (one per date, the columns being date by date)"
            )
        times = parse_iso_dates(dates, "dates")
        band_names = [str(b) for b in bands] if bands is not None else ["value"]
        if len(value_columns) != times.size * len(band_names):
            raise DatasetFormatError(
                f"{path}: {len(value_columns)} value columns, expected {times.size} dates x {len(band_names)} "
                f"band(s) = {times.size * len(band_names)}"
            )
        ordered = value_columns
    if np.unique(times).size != times.size:
        raise DatasetFormatError(f"{path}: duplicate dates {sorted(set(times[np.unique(times, return_counts=True)[1] > 1].astype(str)))}")
    values = table[ordered].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    values = values.reshape(len(table), times.size, len(band_names)) * np.float32(scale)
    labels, names = _labels(path, table[label], class_names)
    return make_samples(values, times, band_names, labels, names, groups=_groups(path, table, group),
                        valid=np.isfinite(values).all(axis=2), source=str(path))


def _read_long(path, table, label, group, sample, date, bands, class_names, scale) -> xr.Dataset:
    for column, what in ((sample, "sample id"), (date, "date")):
        _require(path, table, column, what)
    band_names = [str(b) for b in bands] if bands is not None else [
        c for c in table.columns if c not in (label, group, sample, date) and pd.api.types.is_numeric_dtype(table[c])
    ]
    for band in band_names:
        _require(path, table, band, "band")
    table = table.assign(_date=parse_iso_dates(table[date].tolist(), f"{path} column {date!r}"))
    duplicated = table.duplicated([sample, "_date"])
    if duplicated.any():
        row = table[duplicated].iloc[0]
        raise DatasetFormatError(f"{path}: sample {row[sample]!r} has the date {row[date]} twice")
    table = table.sort_values([sample, "_date"], kind="stable")
    ids = np.unique(table[sample].astype(str).to_numpy())
    per_sample = table.groupby(table[sample].astype(str), sort=True)
    n_time = int(per_sample.size().max())
    values = np.full((ids.size, n_time, len(band_names)), np.nan, dtype=np.float32)
    times = np.full((ids.size, n_time), np.datetime64("NaT"), dtype="datetime64[ns]")
    head = []
    for row, (_, rows) in enumerate(per_sample):
        labels_here = rows[label].astype(str).unique()
        if labels_here.size != 1:
            raise DatasetFormatError(f"{path}: sample {rows[sample].iloc[0]!r} has several labels {list(labels_here)}")
        values[row, : len(rows)] = rows[band_names].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32) * scale
        times[row, : len(rows)] = rows["_date"].to_numpy().astype("datetime64[ns]")
        head.append(rows.iloc[0])
    heads = pd.DataFrame(head).reset_index(drop=True)
    labels, names = _labels(path, heads[label], class_names)
    valid = np.isfinite(values).all(axis=2) & ~np.isnat(times)
    return make_samples(values, times, band_names, labels, names, groups=_groups(path, heads, group), valid=valid,
                        source=str(path))
