"""Shared checks for the dataset readers: one error type that names the file and what was expected."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class DatasetFormatError(ValueError):
    """A file of a dataset is missing or does not have the published layout (the message names the file)."""


def require_file(path: str | Path, what: str) -> Path:
    """``path`` if it is a file, else :class:`DatasetFormatError` saying which ``what`` was expected there."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: missing file (expected {what})")
    return path


def load_npy(path: str | Path, what: str, ndim: int, mmap: bool = True) -> np.ndarray:
    """Load a ``.npy`` file (memory-mapped by default) and check its number of dimensions.

    A truncated or corrupt file raises :class:`DatasetFormatError` naming the file, not numpy's bare error.
    """
    path = require_file(path, what)
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DatasetFormatError(f"{path}: unreadable or truncated .npy file (expected {what}): {error}") from error
    if array.ndim != ndim:
        raise DatasetFormatError(f"{path}: array has shape {array.shape}, expected {ndim} dims ({what})")
    return array


def load_json(path: str | Path, what: str) -> Any:
    path = require_file(path, what)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetFormatError(f"{path}: invalid JSON (expected {what}): {error}") from error


def check_shape(path: str | Path, array: np.ndarray, expected: tuple, what: str) -> None:
    """Compare ``array.shape`` with ``expected`` (``None`` entries match any length)."""
    ok = len(array.shape) == len(expected) and all(e is None or e == s for s, e in zip(array.shape, expected))
    if not ok:
        shown = tuple("any" if e is None else e for e in expected)
        raise DatasetFormatError(f"{path}: array has shape {array.shape}, expected {shown} ({what})")


def check_class_ids(path: str | Path, labels: np.ndarray, n_classes: int, allowed_extra: tuple[int, ...] = ()) -> None:
    """Every label must be in ``0..n_classes-1`` or in ``allowed_extra`` (e.g. a void value)."""
    values = np.unique(np.asarray(labels))
    bad = values[~(((values >= 0) & (values < n_classes)) | np.isin(values, allowed_extra))]
    if bad.size:
        extra = f" or {list(allowed_extra)}" if allowed_extra else ""
        raise DatasetFormatError(
            f"{path}: unknown class id(s) {bad[:10].tolist()} (expected 0..{n_classes - 1}{extra})"
        )


def parse_yyyymmdd(path: str | Path, values, what: str) -> np.ndarray:
    """Dates written as integers or strings ``YYYYMMDD`` as ``datetime64[D]``."""
    text = [str(v).strip() for v in values]
    if not all(len(t) == 8 and t.isdigit() for t in text):
        bad = next(t for t in text if not (len(t) == 8 and t.isdigit()))
        raise DatasetFormatError(f"{path}: date {bad!r} is not YYYYMMDD ({what})")
    try:
        return np.array([f"{t[:4]}-{t[4:6]}-{t[6:]}" for t in text], dtype="datetime64[D]")
    except ValueError as error:
        raise DatasetFormatError(f"{path}: invalid date in {what}: {error}") from error


def parse_iso_dates(values: Sequence, where: str) -> np.ndarray:
    """ISO dates as ``datetime64[D]``, refusing ambiguous or unparseable strings with the offending value.

    A time and a UTC offset may follow (``2020-01-01T23:30:00+02:00``); the date is taken **as written**, the local
    date of the acquisition: converting to UTC first would move it to the day before.
    """
    out = []
    for i, value in enumerate(values):
        text = str(value).strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?", text):
            raise DatasetFormatError(
                f"{where}: date {i} {text!r} is not an ISO date YYYY-MM-DD (day-first or month-first strings "
                "such as 01/02/2020 are ambiguous and refused)"
            )
        try:
            out.append(np.datetime64(text[:10], "D"))
        except ValueError as error:
            raise DatasetFormatError(f"{where}: date {i} {text!r} is not a valid date: {error}") from error
    return np.array(out, dtype="datetime64[D]")


def check_increasing(path: str | Path, times: np.ndarray, what: str) -> None:
    steps = np.diff(np.asarray(times).astype("datetime64[s]").astype(np.int64))
    if np.any(steps <= 0):
        i = int(np.flatnonzero(steps <= 0)[0])
        raise DatasetFormatError(
            f"{path}: {what} must be strictly increasing, but date {i + 1} ({times[i + 1]}) follows {times[i]}"
        )


def assemble_cube(
    reflectance,
    times: np.ndarray,
    bands: list[str],
    valid,
    labels: np.ndarray,
    parcels: np.ndarray,
    class_names: list[str],
    source: str,
    extra: dict | None = None,
):
    """Like :func:`sitsbench.data.cube.make_cube` but keeps dask arrays lazy (no value is read here).

    ``extra`` adds variables such as ``split`` ``(y, x)`` or attributes under the key ``"attrs"``.
    """
    import xarray as xr

    from sitsbench.data import cube as cube_format

    n_time, _, height, width = reflectance.shape
    extra = dict(extra or {})
    attrs = {"class_names": [str(c) for c in class_names], "source": str(source), **extra.pop("attrs", {})}
    data_vars = {
        cube_format.REFLECTANCE: ((cube_format.TIME, cube_format.BAND, cube_format.Y, cube_format.X), reflectance),
        cube_format.VALID: ((cube_format.TIME, cube_format.Y, cube_format.X), valid),
        cube_format.CLASS: ((cube_format.Y, cube_format.X), np.asarray(labels)),
        cube_format.PARCEL: ((cube_format.Y, cube_format.X), np.asarray(parcels)),
        **extra,
    }
    coords = {
        cube_format.TIME: cube_format.local_times(times),
        cube_format.BAND: [str(b) for b in bands],
        cube_format.Y: np.arange(height),
        cube_format.X: np.arange(width),
    }
    if len(coords[cube_format.TIME]) != n_time:
        raise DatasetFormatError(f"{source}: {len(coords[cube_format.TIME])} dates for a series of {n_time} dates")
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def merge_same_day(times: np.ndarray, values: np.ndarray, valid: np.ndarray):
    """Merge acquisitions that fall on the same calendar day into one date.

    ``values`` is ``(T, C, ...)`` and ``valid`` ``(T, ...)``. A merged date keeps the time of its first
    acquisition, the mean of its clear observations (of all observations where none is clear) and is clear
    where any of them is. Returns ``(times, values, valid)``; unchanged when every day is unique.
    """
    days = np.asarray(times).astype("datetime64[D]")
    _, first, inverse = np.unique(days, return_index=True, return_inverse=True)
    if first.size == days.size:
        return times, values, valid
    weights = valid.astype(np.float64)[:, None]
    filled = np.where(weights > 0, values, 0.0)
    sums = np.zeros((first.size, *values.shape[1:]))
    counts = np.zeros((first.size, 1, *valid.shape[1:]))
    np.add.at(sums, inverse, filled)
    np.add.at(counts, inverse, weights)
    plain = np.zeros_like(sums)
    np.add.at(plain, inverse, values)
    n_per_day = np.bincount(inverse).reshape(-1, *([1] * (values.ndim - 1)))
    merged = np.where(counts > 0, sums / np.maximum(counts, 1), plain / n_per_day)
    return np.asarray(times)[first], merged.astype(values.dtype), counts[:, 0] > 0


def stack_ragged(values: list, valid: list, dates: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Series of different lengths as padded ``(N, T, C)`` float32 values (NaN padding), ``(N, T)`` valid
    (False padding) and ``(N, T)`` datetime64[ns] dates (NaT padding), the layout of
    :func:`sitsbench.data.samples.make_samples`. Item k gives ``(T_k, C)`` values, ``(T_k,)`` valid and dates."""
    n, width = len(values), max((len(v) for v in values), default=0)
    channels = values[0].shape[1] if values else 0
    out_values = np.full((n, width, channels), np.nan, dtype=np.float32)
    out_valid = np.zeros((n, width), dtype=bool)
    out_dates = np.full((n, width), np.datetime64("NaT"), dtype="datetime64[ns]")
    for k, (v, ok, d) in enumerate(zip(values, valid, dates)):
        out_values[k, : len(v)] = v
        out_valid[k, : len(v)] = ok
        out_dates[k, : len(v)] = np.asarray(d, dtype="datetime64[ns]")
    return out_values, out_valid, out_dates
