"""Operations along the time axis: date encodings, gap filling, resampling to a regular grid."""

from __future__ import annotations

import numpy as np
import xarray as xr

from sitsbench.data import cube as C


def day_of_year(times: np.ndarray | xr.DataArray) -> np.ndarray:
    """Day of year (1-366) of each date, the positional encoding used by L-TAE and SITS transformers."""
    days = np.asarray(times, dtype="datetime64[D]")
    return (days - days.astype("datetime64[Y]")).astype(np.int64) + 1


def relative_days(times: np.ndarray | xr.DataArray, origin: str | np.datetime64 | None = None) -> np.ndarray:
    """Days elapsed since ``origin`` (default: the first date), e.g. PASTIS counts days from 2018-09-01.

    Unlike the day of year this stays monotonic across a new year, which matters for series that span a
    winter (sown in autumn, harvested in summer).
    """
    days = np.asarray(times, dtype="datetime64[D]")
    start = days[0] if origin is None else np.datetime64(origin, "D")
    return (days - start).astype(np.int64)


def interpolate_series(values: np.ndarray, valid: np.ndarray, t_src: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    """Interpolate many series at once: ``values`` (T, N) valid ``(T, N)`` sampled at ``t_src`` -> ``(T', N)``.

    Vectorised over series that share the same validity pattern, which is most of them under real cloud masks.
    """
    values = np.asarray(values, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    t_src = np.asarray(t_src, dtype=np.float64)
    t_dst = np.asarray(t_dst, dtype=np.float64)
    out = np.full((t_dst.size, values.shape[1]), np.nan, dtype=np.float32)
    patterns, inverse = np.unique(valid.T, axis=0, return_inverse=True)
    for index, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        columns = np.flatnonzero(inverse.ravel() == index)
        ts = t_src[pattern]
        position = np.clip(np.searchsorted(ts, t_dst), 1, max(1, ts.size - 1))
        if ts.size == 1:
            out[:, columns] = values[pattern][0][None, columns]
            continue
        left, right = ts[position - 1], ts[position]
        weight = np.clip((t_dst - left) / (right - left), 0.0, 1.0)[:, None]
        selected = values[pattern][:, columns]
        out[:, columns] = (1 - weight) * selected[position - 1] + weight * selected[position]
    return out


def _series_days(cube: xr.Dataset) -> np.ndarray:
    return relative_days(cube[C.TIME].values).astype(np.float64)


def gap_fill(cube: xr.Dataset) -> xr.Dataset:
    """Replace invalid observations (clouds, shadows) by linear interpolation over time, per pixel and band.

    Dates outside the first/last clear observation take the nearest clear value; pixels never observed
    clear stay NaN. The ``valid`` mask is kept, so models can still tell filled from observed values.
    """
    reflectance = cube[C.REFLECTANCE]
    n_time, n_band, height, width = reflectance.shape
    values = np.asarray(reflectance.values).transpose(0, 2, 3, 1).reshape(n_time, -1, n_band)
    valid = np.asarray(cube[C.VALID].values).reshape(n_time, -1)
    days = _series_days(cube)
    valid_per_band = np.repeat(valid[:, :, None], n_band, axis=2).reshape(n_time, -1)
    filled = interpolate_series(values.reshape(n_time, -1), valid_per_band, days, days)
    filled = filled.reshape(n_time, height, width, n_band).transpose(0, 3, 1, 2)
    return cube.assign({C.REFLECTANCE: (reflectance.dims, filled)})


def resample_time(cube: xr.Dataset, step_days: int = 10, start=None, end=None) -> xr.Dataset:
    """Resample to a regular grid of ``step_days`` by linear interpolation of the clear observations.

    The output has one date every ``step_days`` from ``start`` (default: first date) to ``end`` (default: last
    date), a ``valid`` mask that is True wherever the pixel has at least one clear observation, and keeps
    the label layers. Sentinel-1 variables are dropped (they live on their own time axis).
    """
    first = np.datetime64(start or cube[C.TIME].values[0], "D")
    last = np.datetime64(end or cube[C.TIME].values[-1], "D")
    grid = np.arange(first, last + np.timedelta64(1, "D"), np.timedelta64(step_days, "D"))
    reflectance = cube[C.REFLECTANCE]
    n_time, n_band, height, width = reflectance.shape
    values = np.asarray(reflectance.values).transpose(0, 2, 3, 1).reshape(n_time, -1)
    valid = np.asarray(cube[C.VALID].values).reshape(n_time, -1)
    valid_per_band = np.repeat(valid[:, :, None], n_band, axis=2).reshape(n_time, -1)
    t_src = relative_days(cube[C.TIME].values, first).astype(float)
    t_dst = relative_days(grid, first).astype(float)
    resampled = interpolate_series(values, valid_per_band, t_src, t_dst)
    resampled = resampled.reshape(grid.size, height, width, n_band).transpose(0, 3, 1, 2)
    observed = np.isfinite(resampled).all(axis=1)
    labels = cube.drop_vars([C.REFLECTANCE, C.VALID, C.BACKSCATTER, C.TIME_S1, C.BAND_S1], errors="ignore")
    labels = labels.drop_dims([C.TIME], errors="ignore")
    return labels.assign(
        {
            C.REFLECTANCE: ((C.TIME, C.BAND, C.Y, C.X), resampled),
            C.VALID: ((C.TIME, C.Y, C.X), observed),
        }
    ).assign_coords({C.TIME: grid.astype("datetime64[ns]")})
