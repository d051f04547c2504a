"""Reader of sample sets saved by the ``sits`` R package (a ``sits`` tibble in ``.rda`` / ``.rds``) -> samples.

``sits`` (Simoes et al. 2021, "Satellite Image Time Series Analysis for Big Earth Observation Data", Remote
Sensing 13(13):2428; https://github.com/e-sensing/sits) keeps labelled series as a tibble with one row per
sample: ``longitude``, ``latitude`` (WGS84), ``start_date``, ``end_date``, ``label``, ``cube`` and
``time_series``, a nested tibble with ``Index`` (the dates, R ``Date``: days since 1970-01-01) and one column
per band (``NDVI``, ``EVI``, ``B02`` ...). Samples of one location in different years are separate rows.

The file is parsed in pure Python with ``rdata`` (no R needed). Every row keeps its own dates (``date``),
rows with fewer dates are padded; the ``group`` is the location (rows with the same longitude and latitude
share it, so a location is never on both sides of a split), classes are the sorted distinct labels, and
the location is kept as ``x``/``y`` in ``EPSG:4326``. Observations that are NA are ``valid = False``;
``sits`` tibbles carry no cloud flag (their series are usually already filtered).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sitsbench.data.readers.base import DatasetFormatError, require_file
from sitsbench.data.samples import make_samples

COLUMNS = ("longitude", "latitude", "label", "time_series")
SUFFIXES = (".rda", ".rdata", ".rds")


def _load_table(path: Path) -> pd.DataFrame:
    import rdata

    try:
        with warnings.catch_warnings():  # rdata has no constructor for Date / tbl_df / sits: plain frames are fine
            warnings.simplefilter("ignore", UserWarning)
            converted = rdata.read_rds(path) if path.suffix.lower() == ".rds" else rdata.read_rda(path)
    except Exception as error:  # rdata raises several types for a corrupt or foreign file
        raise DatasetFormatError(f"{path}: not a readable R data file (.rda/.rds): {type(error).__name__}: {error}") \
            from error
    if isinstance(converted, dict):
        frames = {k: v for k, v in converted.items() if isinstance(v, pd.DataFrame)}
        if len(frames) != 1:
            raise DatasetFormatError(f"{path}: expected one sits tibble in the file, found objects {list(converted)}")
        converted = next(iter(frames.values()))
    if not isinstance(converted, pd.DataFrame):
        raise DatasetFormatError(f"{path}: holds a {type(converted).__name__}, expected a sits tibble (data frame)")
    missing = [c for c in COLUMNS if c not in converted.columns]
    if missing:
        raise DatasetFormatError(
            f"{path}: not a sits sample tibble: missing column(s) {missing} (has {list(converted.columns)})"
        )
    return converted


def read_sits_samples(path: str | Path) -> xr.Dataset:
    """The ``sits`` tibble in ``path`` as samples (see the module docstring)."""
    path = require_file(path, "a sits sample tibble saved from R (.rda or .rds)")
    table = _load_table(path)
    series = list(table["time_series"])
    if not series or not all(isinstance(s, pd.DataFrame) and "Index" in s.columns for s in series):
        raise DatasetFormatError(f"{path}: column 'time_series' must hold tables with an 'Index' date column")
    bands = [c for c in series[0].columns if c != "Index"]
    for row, s in enumerate(series):
        if [c for c in s.columns if c != "Index"] != bands:
            raise DatasetFormatError(f"{path}: sample {row} has bands {list(s.columns)[1:]}, expected {bands}")
    n_time = max(len(s) for s in series)
    values = np.full((len(series), n_time, len(bands)), np.nan, dtype=np.float32)
    dates = np.full((len(series), n_time), np.datetime64("NaT"), dtype="datetime64[ns]")
    for row, s in enumerate(series):
        days = pd.to_numeric(s["Index"], errors="coerce").to_numpy(np.float64)
        if np.isnan(days).any():
            raise DatasetFormatError(f"{path}: sample {row} has a missing or non-numeric date in 'Index'")
        values[row, : len(s)] = s[bands].to_numpy(np.float32)
        dates[row, : len(s)] = (np.datetime64("1970-01-01", "D") + days.astype(np.int64)).astype("datetime64[ns]")
    labels_text = table["label"].astype(str).to_numpy()
    class_names = sorted(set(labels_text))
    labels = np.searchsorted(class_names, labels_text)
    lon, lat = table["longitude"].to_numpy(np.float64), table["latitude"].to_numpy(np.float64)
    _, groups = np.unique(np.stack([lon, lat], axis=1), axis=0, return_inverse=True)
    valid = np.isfinite(values).all(axis=2) & ~np.isnat(dates)
    return make_samples(
        values, dates, bands, labels, class_names, groups=groups.ravel() + 1, valid=valid,
        location=(lon, lat), crs="EPSG:4326", source=str(path),
    )
