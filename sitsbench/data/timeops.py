"""Operations along the time axis: date encodings, gap filling, resampling to a regular grid."""

from __future__ import annotations

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format


def day_of_year(times: np.ndarray | xr.DataArray) -> np.ndarray:
    """Day of year (1-366) of each date, the positional encoding used by L-TAE and SITS transformers; 0 where there is
    no date (``NaT``: the padding of labelled samples)."""
    days = np.asarray(times, dtype="datetime64[D]")
    padded = np.isnat(days)
    days = np.where(padded, np.datetime64("1970-01-01", "D"), days)
    return np.where(padded, 0, (days - days.astype("datetime64[Y]")).astype(np.int64) + 1)


def relative_days(times: np.ndarray | xr.DataArray, origin: str | np.datetime64 | None = None) -> np.ndarray:
    """Days elapsed since ``origin`` (default: the first date), e.g. PASTIS counts days from 2018-09-01.

    Unlike the day of year this stays monotonic across a new year, which matters for series that span a
    winter (sown in autumn, harvested in summer).
    """
    days = np.asarray(times, dtype="datetime64[D]")
    start = days[0] if origin is None else np.datetime64(origin, "D")
    return (days - start).astype(np.int64)


def interpolate_series(values: np.ndarray, valid: np.ndarray, t_src: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    """Linear interpolation in time of the clear observations of many series at once, as ``np.interp`` per series
    and band: ``values`` ``(T, N)`` or ``(T, N, C)`` (C bands sharing one mask) sampled at the strictly increasing
    ``t_src`` ``(T,)``, clear mask ``valid`` ``(T, N)`` -> float32 ``(T', N)`` or ``(T', N, C)`` at ``t_dst``.

    Dates before the first (after the last) clear observation take its value; a series never clear is NaN. The
    clear neighbours of every target date are found for all series together with running maxima/minima of the
    clear-date indices, so the cost does not depend on how many cloud patterns there are (real cloud masks give
    almost every pixel its own).
    """
    values = np.asarray(values, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    t_src = np.asarray(t_src, dtype=np.float64)
    t_dst = np.asarray(t_dst, dtype=np.float64)
    if values.shape[:2] != valid.shape or t_src.shape != valid.shape[:1]:
        raise ValueError(f"values {values.shape}, valid {valid.shape} and t_src {t_src.shape} do not agree: "
                         "expected (T, N[, C]), (T, N) and (T,)")
    series = values if values.ndim == 3 else values[..., None]
    n_time, n_series = valid.shape
    index = np.arange(n_time)[:, None]
    last_clear = np.maximum.accumulate(np.where(valid, index, -1), axis=0)  # (T, N): last clear date <= each date
    next_clear = np.minimum.accumulate(np.where(valid, index, n_time)[::-1], axis=0)[::-1]
    before = np.searchsorted(t_src, t_dst, side="right") - 1  # last source date <= target
    after = np.searchsorted(t_src, t_dst, side="left")  # first source date >= target
    left = np.where(before[:, None] >= 0, last_clear[np.clip(before, 0, None)], -1)  # (T', N)
    right = np.where(after[:, None] < n_time, next_clear[np.clip(after, None, n_time - 1)], n_time)
    has_left, has_right = left >= 0, right < n_time
    left, right = np.where(has_left, left, right), np.where(has_right, right, left)
    left, right = np.clip(left, 0, n_time - 1), np.clip(right, 0, n_time - 1)
    span = t_src[right] - t_src[left]
    weight = np.where(span > 0, (t_dst[:, None] - t_src[left]) / np.where(span > 0, span, 1.0), 0.0)[..., None]
    columns = np.arange(n_series)
    out = ((1 - weight) * series[left, columns] + weight * series[right, columns]).astype(np.float32)
    out[~(has_left | has_right)] = np.nan
    return out if values.ndim == 3 else out[..., 0]


def _series_days(cube: xr.Dataset) -> np.ndarray:
    return relative_days(cube[cube_format.TIME].values).astype(np.float64)


def gap_fill(cube: xr.Dataset) -> xr.Dataset:
    """Replace invalid observations (clouds, shadows) by linear interpolation over time, per pixel and band.

    Dates outside the first/last clear observation take the nearest clear value; pixels never observed
    clear stay NaN. The ``valid`` mask is kept, so models can still tell filled from observed values.
    """
    reflectance = cube[cube_format.REFLECTANCE]
    n_time, n_band, height, width = reflectance.shape
    values = np.asarray(reflectance.values).transpose(0, 2, 3, 1).reshape(n_time, -1, n_band)
    valid = np.asarray(cube[cube_format.VALID].values).reshape(n_time, -1)
    days = _series_days(cube)
    filled = interpolate_series(values, valid, days, days)
    filled = filled.reshape(n_time, height, width, n_band).transpose(0, 3, 1, 2)
    return cube.assign({cube_format.REFLECTANCE: (reflectance.dims, filled)})


def resample_time(cube: xr.Dataset, step_days: int = 10, start=None, end=None) -> xr.Dataset:
    """Resample to a regular grid of ``step_days`` by linear interpolation of the clear observations.

    The output has one date every ``step_days`` from ``start`` (default: first date) to ``end`` (default: last
    date), a ``valid`` mask that is True wherever the pixel has at least one clear observation, and keeps
    the label layers. Sentinel-1 variables are dropped (they live on their own time axis).
    """
    first = np.datetime64(start or cube[cube_format.TIME].values[0], "D")
    last = np.datetime64(end or cube[cube_format.TIME].values[-1], "D")
    grid = np.arange(first, last + np.timedelta64(1, "D"), np.timedelta64(step_days, "D"))
    reflectance = cube[cube_format.REFLECTANCE]
    n_time, n_band, height, width = reflectance.shape
    values = np.asarray(reflectance.values).transpose(0, 2, 3, 1).reshape(n_time, -1, n_band)
    valid = np.asarray(cube[cube_format.VALID].values).reshape(n_time, -1)
    t_src = relative_days(cube[cube_format.TIME].values, first).astype(float)
    t_dst = relative_days(grid, first).astype(float)
    resampled = interpolate_series(values, valid, t_src, t_dst)
    resampled = resampled.reshape(grid.size, height, width, n_band).transpose(0, 3, 1, 2)
    observed = np.isfinite(resampled).all(axis=1)
    labels = cube.drop_vars([cube_format.REFLECTANCE, cube_format.VALID, cube_format.BACKSCATTER, cube_format.TIME_S1, cube_format.BAND_S1], errors="ignore")
    labels = labels.drop_dims([cube_format.TIME], errors="ignore")
    return labels.assign(
        {
            cube_format.REFLECTANCE: ((cube_format.TIME, cube_format.BAND, cube_format.Y, cube_format.X), resampled),
            cube_format.VALID: ((cube_format.TIME, cube_format.Y, cube_format.X), observed),
        }
    ).assign_coords({cube_format.TIME: grid.astype("datetime64[ns]")})
