"""The SITS data cube: one convention used by every part of sitsbench.

A satellite image time series (SITS) is a 2D+t cube. sitsbench stores it as an :class:`xarray.Dataset`:

========================  =================================  ==========================================
variable                  dims                               meaning
========================  =================================  ==========================================
``reflectance``           ``(time, band, y, x)`` float32     Sentinel-2 surface reflectance (0-1 scale)
``valid``                 ``(time, y, x)`` bool              True = clear observation; False = cloud,
                                                             cloud shadow, snow or no data
``backscatter`` (opt.)    ``(time_s1, band_s1, y, x)``       Sentinel-1 backscatter in dB (VV, VH)
``class``                 ``(y, x)`` integer                 semantic label, ``-1`` = unlabelled
``parcel``                ``(y, x)`` integer                 parcel (instance) id, ``0`` = no parcel
``change`` (opt.)         ``(y, x)`` integer                 1 where the land cover changes in the series
``region`` (opt.)         ``(y, x)`` integer                 0 = the unlabelled (pretraining) area, 1 = the
                                                             labelled area, when they differ (domain shift)
========================  =================================  ==========================================

Coordinates: ``time`` (datetime64, strictly increasing, irregular spacing allowed), ``band`` (names such
as ``B02`` ... ``B12``), ``y`` and ``x`` (pixel-centre coordinates), ``time_s1``/``band_s1`` for Sentinel-1.
Attributes: ``class_names`` (list of str, index = class id) and optionally ``source`` (where the cube
came from, used in error messages).

Values under ``valid == False`` may be anything (bright clouds, dark shadows, NaN); values under
``valid == True`` must be finite. Every reader and generator in sitsbench returns a cube that
:func:`validate_cube` accepts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from sitsbench.metrics import IGNORE_INDEX

REFLECTANCE = "reflectance"
VALID = "valid"
BACKSCATTER = "backscatter"
CLASS = "class"
PARCEL = "parcel"
CHANGE = "change"
REGION = "region"

TIME, BAND, Y, X = "time", "band", "y", "x"
TIME_S1, BAND_S1 = "time_s1", "band_s1"

# IGNORE_INDEX (from sitsbench.metrics, its one home): the label of unlabelled pixels in the ``class`` layer,
# ignored by losses and metrics.

S2_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
"""The ten Sentinel-2 bands at 10 m and 20 m resolution, in wavelength order."""

S1_BANDS = ("VV", "VH")

EXPECTED_DIMS = {
    REFLECTANCE: (TIME, BAND, Y, X),
    VALID: (TIME, Y, X),
    BACKSCATTER: (TIME_S1, BAND_S1, Y, X),
    CLASS: (Y, X),
    PARCEL: (Y, X),
    CHANGE: (Y, X),
    REGION: (Y, X),
}


class CubeValidationError(ValueError):
    """Raised when a dataset does not follow the sitsbench cube convention."""


def _where(cube: xr.Dataset) -> str:
    source = cube.attrs.get("source")
    return f"cube from {source!r}" if source else "cube"


def _fail(cube: xr.Dataset, message: str) -> None:
    raise CubeValidationError(f"{_where(cube)}: {message}")


def _check_dims(cube: xr.Dataset, name: str) -> None:
    expected = EXPECTED_DIMS[name]
    actual = cube[name].dims
    if actual != expected:
        _fail(cube, f"variable {name!r} has dims {actual}, expected {expected}")


def check_time(cube: xr.Dataset, coord: str = TIME) -> None:
    """Refuse a time coordinate that is not datetime64, holds NaT, or is not strictly increasing (naming where)."""
    times = cube[coord].values
    if not np.issubdtype(times.dtype, np.datetime64):
        _fail(cube, f"coordinate {coord!r} has dtype {times.dtype}, expected datetime64")
    if np.isnat(times).any():
        _fail(cube, f"coordinate {coord!r} contains NaT at positions {np.flatnonzero(np.isnat(times))[:5].tolist()}")
    steps = np.diff(times.astype("datetime64[s]").astype(np.int64))
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0])
        kind = "duplicated" if steps[i] == 0 else "not increasing"
        _fail(
            cube,
            f"coordinate {coord!r} must be strictly increasing but is {kind} at index {i + 1} "
            f"({times[i]} then {times[i + 1]}); sort the dates and merge duplicate acquisitions",
        )


def _check_labels(cube: xr.Dataset, n_classes: int | None) -> None:
    labels = np.asarray(cube[CLASS].values)
    if not np.issubdtype(labels.dtype, np.integer):
        _fail(cube, f"variable 'class' has dtype {labels.dtype}, expected an integer type")
    if labels.size and labels.min() < IGNORE_INDEX:
        _fail(cube, f"variable 'class' has value {labels.min()} < {IGNORE_INDEX} (the unlabelled value)")
    if n_classes is not None and labels.size and labels.max() >= n_classes:
        _fail(
            cube,
            f"variable 'class' has value {labels.max()} but attrs['class_names'] lists only {n_classes} classes "
            f"(valid ids: {IGNORE_INDEX} for unlabelled, 0..{n_classes - 1})",
        )
    parcels = np.asarray(cube[PARCEL].values)
    if not np.issubdtype(parcels.dtype, np.integer):
        _fail(cube, f"variable 'parcel' has dtype {parcels.dtype}, expected an integer type")
    if parcels.size and parcels.min() < 0:
        _fail(cube, f"variable 'parcel' has negative id {parcels.min()}; 0 means 'no parcel'")
    if CHANGE in cube:
        change = np.asarray(cube[CHANGE].values)
        if not np.isin(change, (0, 1)).all():
            _fail(cube, "variable 'change' must hold only 0 (no change) and 1 (change)")
    if REGION in cube and not np.isin(np.asarray(cube[REGION].values), (0, 1)).all():
        _fail(cube, "variable 'region' must hold only 0 (unlabelled area) and 1 (labelled area)")


def _check_finite_where_valid(cube: xr.Dataset) -> None:
    finite = np.isfinite(cube[REFLECTANCE]).all(BAND)
    bad = (cube[VALID] & ~finite).sum().values
    if int(bad):
        first = np.argwhere(np.asarray((cube[VALID] & ~finite).values))[0]
        _fail(
            cube,
            f"'reflectance' has {int(bad)} NaN/inf observations where 'valid' is True "
            f"(first at time index {first[0]}, y index {first[1]}, x index {first[2]}); "
            "mark them invalid or fill them",
        )


def validate_cube(cube: xr.Dataset, check_values: bool = True, labels: bool = True) -> xr.Dataset:
    """Check that ``cube`` follows the sitsbench convention and return it unchanged.

    Raises :class:`CubeValidationError` naming the variable and what was expected. ``check_values=False``
    skips the checks that read every value (NaNs under the mask, label ranges), which is useful for
    lazily loaded cubes larger than memory. ``labels=False`` checks only what a map reads (reflectance, mask,
    dates, bands): the label layers (``class``, ``parcel``, ...) may then be absent or of any kind.
    """
    if not isinstance(cube, xr.Dataset):
        raise CubeValidationError(f"expected an xarray.Dataset, got {type(cube).__name__}")
    for name in (REFLECTANCE, VALID, CLASS, PARCEL) if labels else (REFLECTANCE, VALID):
        if name not in cube:
            _fail(cube, f"missing variable {name!r} (present: {sorted(map(str, cube.data_vars))})")
    for name in EXPECTED_DIMS if labels else (REFLECTANCE, VALID, BACKSCATTER):
        if name in cube:
            _check_dims(cube, name)
    check_time(cube, TIME)
    if BACKSCATTER in cube:
        check_time(cube, TIME_S1)
    if cube[VALID].dtype != bool:
        _fail(cube, f"variable 'valid' has dtype {cube[VALID].dtype}, expected bool (True = clear)")
    bands = [str(b) for b in cube[BAND].values]
    if len(set(bands)) != len(bands):
        _fail(cube, f"coordinate 'band' has duplicate names: {bands}")
    class_names = cube.attrs.get("class_names")
    if labels and class_names is not None and not isinstance(class_names, Sequence | np.ndarray):
        _fail(cube, "attrs['class_names'] must be a list of class names")
    if check_values:
        if labels:
            _check_labels(cube, None if class_names is None else len(class_names))
        _check_finite_where_valid(cube)
    return cube


def class_names(cube: xr.Dataset) -> list[str]:
    """The class names of ``cube`` (index = class id)."""
    return [str(name) for name in cube.attrs.get("class_names", [])]


def local_times(times) -> np.ndarray:
    """Acquisition times as ``datetime64[ns]``; a timezone-aware time (a pandas or ``datetime`` object with a time
    zone, or an ISO string with a UTC offset such as ``2021-01-08T00:00+01:00``) keeps its **local** date and time:
    the offset is dropped, not applied, as the table readers keep the date as written
    (:func:`sitsbench.data.readers.base.parse_iso_dates`). numpy would convert to UTC first, moving an acquisition
    made after local midnight east of Greenwich to the day before."""
    import pandas as pd

    if isinstance(times, xr.DataArray):
        times = times.values
    if isinstance(times, pd.Series):
        times = pd.Index(times)
    if isinstance(times, pd.DatetimeIndex) and times.tz is not None:
        times = times.tz_localize(None)
    array = np.asarray(times)
    if np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[ns]")
    stamps = [pd.Timestamp(value) for value in array.ravel()]
    local = [np.datetime64("NaT", "ns") if s is pd.NaT else (s.tz_localize(None) if s.tz else s).to_datetime64()
             for s in stamps]
    return np.array(local, dtype="datetime64[ns]").reshape(array.shape)


def make_cube(
    reflectance: np.ndarray,
    times: Sequence | np.ndarray,
    bands: Sequence[str],
    valid: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    parcels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    source: str | None = None,
) -> xr.Dataset:
    """Assemble a cube from plain arrays: ``reflectance`` is ``(time, band, y, x)``.

    Missing ``valid`` means every finite observation is clear; missing ``labels`` means unlabelled (-1);
    missing ``parcels`` means no parcel (0). Readers of real datasets use this to build their cubes.
    """
    reflectance = np.asarray(reflectance, dtype=np.float32)
    if reflectance.ndim != 4:
        raise CubeValidationError(
            f"reflectance array has shape {reflectance.shape}, expected 4 dims (time, band, y, x)"
        )
    n_time, _, height, width = reflectance.shape
    if valid is None:
        valid = np.isfinite(reflectance).all(axis=1)
    if labels is None:
        labels = np.full((height, width), IGNORE_INDEX, dtype=np.int16)
    if parcels is None:
        parcels = np.zeros((height, width), dtype=np.int32)
    data_vars = {
        REFLECTANCE: ((TIME, BAND, Y, X), reflectance),
        VALID: ((TIME, Y, X), np.asarray(valid, dtype=bool)),
        CLASS: ((Y, X), np.asarray(labels)),
        PARCEL: ((Y, X), np.asarray(parcels)),
    }
    coords = {
        TIME: local_times(times),
        BAND: [str(b) for b in bands],
        Y: np.arange(height),
        X: np.arange(width),
    }
    attrs = {}
    if class_names is not None:
        attrs["class_names"] = [str(c) for c in class_names]
    if source is not None:
        attrs["source"] = str(source)
    if len(coords[TIME]) != n_time:
        raise CubeValidationError(f"{len(coords[TIME])} dates given for a reflectance array with {n_time} dates")
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
