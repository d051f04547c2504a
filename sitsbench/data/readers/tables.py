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

Tables are parsed strictly (:func:`read_table`): a CSV row with more or fewer fields than the header (a ragged
row), a quote left open (a field running over several lines, or to the end of the file), a header with an empty or
duplicated name, a value that is not a number in a value column, an empty label, and a column that is neither the
label, the group, the sample id, the date nor a value column are errors naming the file, the line (the row of a
Parquet file) and the column: never a table that loads as something else.
"""

from __future__ import annotations

import csv
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


def _csv_lines(path: Path, has_header: bool = True) -> tuple[list[str], np.ndarray]:
    """The header and the line number of each data row of the CSV at ``path``, after checking its structure: every
    row has the header's number of fields, no field runs over several lines (a quote left open swallows the lines
    after it), header names are neither empty nor repeated. Blank lines are skipped, as pandas skips them. Without a
    header line (``has_header=False``) the columns are named ``"0"``, ``"1"``, ... after the first row's fields."""
    lines, header, start = [], None, 1
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            for record in reader:
                first, start = start, reader.line_num + 1
                if not record:
                    continue
                spans = first != reader.line_num
                if header is None and not has_header:
                    header = [str(i) for i in range(len(record))]
                elif header is None:
                    if spans:
                        raise DatasetFormatError(f"{path}, lines {first}-{reader.line_num}: the header runs over "
                                                 "several lines (a quote left open?)")
                    header = record
                    empty = [i + 1 for i, name in enumerate(header) if not name.strip()]
                    repeated = sorted({name for name in header if header.count(name) > 1})
                    if empty:
                        raise DatasetFormatError(f"{path}, line 1: column(s) {empty} have no name (a row index "
                                                 "written by pandas' to_csv? write the table with index=False)")
                    if repeated:
                        raise DatasetFormatError(f"{path}, line 1: column name(s) {repeated} appear more than once")
                    continue
                if len(record) != len(header):
                    raise DatasetFormatError(
                        f"{path}, line {first}: {len(record)} fields, the header has {len(header)} (a ragged row"
                        f"{', or a quote left open' if spans else ''})")
                if spans:
                    column = next((h for h, f in zip(header, record) if "\n" in f or "\r" in f), header[0])
                    raise DatasetFormatError(f"{path}, lines {first}-{reader.line_num}, column {column!r}: a field "
                                             "runs over several lines (a quote left open?)")
                lines.append(first)
        except csv.Error as error:
            lines_text = f"line {start}" if start >= reader.line_num else f"lines {start}-{reader.line_num}"
            raise DatasetFormatError(f"{path}, {lines_text}: {error} (a quote left open?)") from error
    if header is None:
        raise DatasetFormatError(f"{path}: empty file (expected a header line and one row per sample)")
    return header, np.asarray(lines, dtype=np.int64)


def read_table(path: str | Path, header: bool = True) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The table at ``path`` and the line of each row in the file (``None`` for Parquet), parsed strictly (see the
    module docstring); a CSV without a header line (``header=False``) has the columns ``"0"``, ``"1"``, ..."""
    path = require_file(path, "a sample table (.csv or .parquet)")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table, lines = pd.read_parquet(path), None
        else:
            names, lines = _csv_lines(path, header)
            table = pd.read_csv(path, header=0 if header else None)
            if not header:
                table = table.set_axis(names, axis=1)
            if list(map(str, table.columns)) != names or len(table) != lines.size:
                raise DatasetFormatError(f"{path}: pandas reads {table.shape[1]} columns and {len(table)} rows, the "
                                         f"file has {len(names)} columns and {lines.size} rows")
    except (ValueError, OSError, ImportError, UnicodeDecodeError, pd.errors.ParserError) as error:
        if isinstance(error, DatasetFormatError):
            raise
        raise DatasetFormatError(f"{path}: cannot read the table: {error}") from error
    if len(set(map(str, table.columns))) != table.shape[1]:
        raise DatasetFormatError(f"{path}: column names appear more than once: {list(table.columns)}")
    return table, lines


def _where(path: Path, lines: np.ndarray | None, row: int) -> str:
    """``path, line N`` of the CSV row (``row k`` of a Parquet table)."""
    return f"{path}, line {lines[row]}" if lines is not None else f"{path}, row {row + 1}"


def numeric_columns(path: Path, table: pd.DataFrame, columns: Sequence, lines: np.ndarray | None,
                    hint: str = "") -> np.ndarray:
    """The ``columns`` of ``table`` as float32 ``(rows, columns)``; empty and NaN cells are NaN, any other value that
    is not a number is an error naming the line and the column (``hint`` ends its message)."""
    out = np.empty((len(table), len(columns)), dtype=np.float32)
    for k, column in enumerate(columns):
        values = table[column]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            numbers = pd.to_numeric(values.astype(object).where(values.notna()), errors="coerce")
            bad = np.flatnonzero(numbers.isna().to_numpy() & values.notna().to_numpy())
            if pd.api.types.is_bool_dtype(values) or bad.size:
                row = int(bad[0]) if bad.size else 0
                raise DatasetFormatError(f"{_where(path, lines, row)}, column {str(column)!r}: value "
                                         f"{values.iloc[row]!r} is not a number ({bad.size or len(values)} such "
                                         f"value(s) in this column){hint}")
            values = numbers
        out[:, k] = values.to_numpy(np.float64)
    return out


def _require_labels(path: Path, table: pd.DataFrame, label: str, lines: np.ndarray | None) -> None:
    empty = np.flatnonzero(table[label].isna().to_numpy())
    if empty.size:
        raise DatasetFormatError(f"{_where(path, lines, int(empty[0]))}, column {label!r}: empty label "
                                 f"({empty.size} row(s)); give every sample a label")


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
    table, lines = read_table(path, header=header)
    _require(path, table, label, "label")
    _require_labels(path, table, label, lines)
    if group == "auto":
        group = "group" if "group" in table.columns else None
    if layout == "auto":
        layout = "long" if date in table.columns and sample in table.columns else "wide"
    if layout == "long":
        return _read_long(path, table, lines, label, group, sample, date, bands, class_names, scale)
    if layout != "wide":
        raise ValueError(f"layout must be 'wide', 'long' or 'auto', got {layout!r}")
    value_columns = [c for c in table.columns if c not in (label, group)]
    if values is not None:  # the description names the value columns: the others are not read
        value_columns = [c for c in value_columns if re.fullmatch(values, str(c))]
        if not value_columns:
            raise DatasetFormatError(f"{path}: no column matches the value pattern {values!r} "
                                     f"(columns: {list(table.columns)[:12]})")
    else:
        dated = [c for c in value_columns if DATE_IN_NAME.search(str(c))]
        if dates is None and dated and len(dated) < len(value_columns):
            unknown = [str(c) for c in value_columns if c not in dated]
            raise DatasetFormatError(f"{path}: column(s) {unknown[:10]} are neither the label ({label!r})"
                                     f"{f', the group ({group!r})' if group else ''} nor a value column BAND_DATE such as "
                                     f"{str(dated[0])!r}")
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
    values = numeric_columns(path, table, ordered, lines)
    values = values.reshape(len(table), times.size, len(band_names)) * np.float32(scale)
    labels, names = _labels(path, table[label], class_names)
    return make_samples(values, times, band_names, labels, names, groups=_groups(path, table, group),
                        valid=np.isfinite(values).all(axis=2), source=str(path))


def _read_long(path, table, lines, label, group, sample, date, bands, class_names, scale) -> xr.Dataset:
    for column, what in ((sample, "sample id"), (date, "date")):
        _require(path, table, column, what)
    others = [str(c) for c in table.columns if c not in (label, group, sample, date)]
    band_names = [str(b) for b in bands] if bands is not None else others
    for band in band_names:
        _require(path, table, band, "band")
    unknown = [c for c in others if c not in band_names]
    if unknown:
        raise DatasetFormatError(f"{path}: column(s) {unknown[:10]} are neither the label ({label!r}), "
                                 f"{f'group ({group!r}), ' if group else ''}sample ({sample!r}), date ({date!r}) nor a "
                                 f"band {band_names}")
    hint = "; every column other than the label, group, sample and date is a band: name them with bands=[...]"
    table = table.assign(**{band: numeric_columns(path, table, [band], lines, "" if bands else hint)[:, 0]
                            for band in band_names})
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
        values[row, : len(rows)] = rows[band_names].to_numpy(np.float32) * scale
        times[row, : len(rows)] = rows["_date"].to_numpy().astype("datetime64[ns]")
        head.append(rows.iloc[0])
    heads = pd.DataFrame(head).reset_index(drop=True)
    labels, names = _labels(path, heads[label], class_names)
    valid = np.isfinite(values).all(axis=2) & ~np.isnat(times)
    return make_samples(values, times, band_names, labels, names, groups=_groups(path, heads, group), valid=valid,
                        source=str(path))
