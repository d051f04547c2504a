"""Labelled samples: series of pixels, parcels or points, each with its own dates (the second data structure).

Most SITS training data is not a cube but a table of labelled series: the pixels of the IGARSS 2019 Victoria
tutorial, a ``sits`` sample tibble saved from R, BreizhCrops parcels, points extracted from a raster cube
(``sits_get_data`` in R). sitsbench stores them as an :class:`xarray.Dataset`:

=====================  =============================  ======================================================
variable               dims                           meaning
=====================  =============================  ======================================================
``series``             ``(sample, time, band)`` f32   the values (reflectance, NDVI, ...; see ``band``)
``valid``              ``(sample, time)`` bool        True = clear observation of a real date
``date``               ``(sample, time)`` datetime64  the sample's own acquisition dates, increasing; ``NaT``
                                                      only in the padding after its last date
``label``              ``(sample,)`` integer          class id (index of ``attrs["class_names"]``), -1 = none
``group``              ``(sample,)`` int64 > 0        polygon / parcel / location id: samples of one group
                                                      are always kept on one side of a split
``split`` (opt.)       ``(sample,)`` int8             predefined split: 0 train, 1 val, 2 test, -1 none
``x``, ``y`` (coords)  ``(sample,)`` float            optional location, in the CRS of ``attrs["crs"]``
``pixels`` (opt.)      ``(sample, time, band, pixel)``  pixel sets (PSE-TAE): the values of each parcel's pixels,
                                                      padded along ``pixel``; ``series`` is then their mean
``pixel_mask`` (opt.)  ``(sample, pixel)`` bool         True on a parcel's real pixels (a parcel may have none)
=====================  =============================  ======================================================

Series from different years or with different acquisition dates live side by side: the time axis is a
position, the calendar is in ``date``. Samples with fewer dates than the longest one are padded at the end
(``valid`` False, ``date`` NaT). The same place observed in two years is two samples of one ``group``, each
with its own label, so a label that changes from one year to the next is kept.

Attributes: ``class_names`` (list of str), ``source`` (where the samples came from, used in errors),
optionally ``crs`` (WKT of the ``x``/``y`` coordinates) and ``dates`` (a note on where the dates come from
when the files carry none). :func:`validate_samples` explains any deviation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format

VALUES, VALID, DATE, LABEL, GROUP, SPLIT = "series", "valid", "date", "label", "group", "split"
PIXELS, PIXEL_MASK, PIXEL = "pixels", "pixel_mask", "pixel"
SAMPLE = "sample"
TIME, BAND = cube_format.TIME, cube_format.BAND

IGNORE_INDEX = cube_format.IGNORE_INDEX
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
NO_SPLIT = -1

EXPECTED_DIMS = {
    VALUES: (SAMPLE, TIME, BAND),
    VALID: (SAMPLE, TIME),
    DATE: (SAMPLE, TIME),
    LABEL: (SAMPLE,),
    GROUP: (SAMPLE,),
    SPLIT: (SAMPLE,),
    PIXELS: (SAMPLE, TIME, BAND, PIXEL),
    PIXEL_MASK: (SAMPLE, PIXEL),
}


class SamplesValidationError(ValueError):
    """Raised when a dataset does not follow the sitsbench samples convention."""


def is_samples(data) -> bool:
    """True when ``data`` is a samples dataset (has a ``sample`` dimension and a ``series`` variable)."""
    return isinstance(data, xr.Dataset) and SAMPLE in data.dims and VALUES in data


def _fail(samples: xr.Dataset, message: str) -> None:
    source = samples.attrs.get("source")
    raise SamplesValidationError(f"{'samples from ' + repr(source) if source else 'samples'}: {message}")


def check_dates(samples: xr.Dataset) -> None:
    """Refuse dates that are not datetime64, NaT before a real date, or not strictly increasing within a sample."""
    dates = samples[DATE].values
    if not np.issubdtype(dates.dtype, np.datetime64):
        _fail(samples, f"variable 'date' has dtype {dates.dtype}, expected datetime64")
    missing = np.isnat(dates)
    # NaT only as trailing padding: once a sample's dates stop, they stay missing
    if (missing[:, :-1] & ~missing[:, 1:]).any():
        row = int(np.flatnonzero((missing[:, :-1] & ~missing[:, 1:]).any(axis=1))[0])
        _fail(samples, f"sample {row} has a missing date (NaT) before a real date; pad only after the last date")
    if missing[:, 0].any():
        row = int(np.flatnonzero(missing[:, 0])[0])
        _fail(samples, f"sample {row} has no date at all")
    if (samples[VALID].values & missing).any():
        row = int(np.flatnonzero((samples[VALID].values & missing).any(axis=1))[0])
        _fail(samples, f"sample {row} is marked valid on a padded (NaT) date")
    seconds = dates.astype("datetime64[s]").astype(np.int64)
    steps = np.diff(seconds, axis=1)
    bad = (steps <= 0) & ~missing[:, 1:]
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        kind = "duplicated" if steps[row, col] == 0 else "not increasing"
        _fail(
            samples,
            f"the dates of sample {row} must be strictly increasing but are {kind} at position {col + 1} "
            f"({dates[row, col]} then {dates[row, col + 1]}); sort them and merge duplicate acquisitions",
        )


def validate_samples(samples: xr.Dataset, check_values: bool = True) -> xr.Dataset:
    """Check that ``samples`` follows the convention of this module and return it unchanged.

    Raises :class:`SamplesValidationError` naming the variable, the sample and what was expected.
    """
    if not isinstance(samples, xr.Dataset):
        raise SamplesValidationError(f"expected an xarray.Dataset, got {type(samples).__name__}")
    for name in (VALUES, VALID, DATE, LABEL, GROUP):
        if name not in samples:
            _fail(samples, f"missing variable {name!r} (present: {sorted(map(str, samples.data_vars))})")
    for name, expected in EXPECTED_DIMS.items():
        if name in samples and samples[name].dims != expected:
            _fail(samples, f"variable {name!r} has dims {samples[name].dims}, expected {expected}")
    if samples[VALID].dtype != bool:
        _fail(samples, f"variable 'valid' has dtype {samples[VALID].dtype}, expected bool (True = clear)")
    bands = [str(b) for b in samples[BAND].values]
    if len(set(bands)) != len(bands):
        _fail(samples, f"coordinate 'band' has duplicate names: {bands}")
    for name in (LABEL, GROUP):
        if not np.issubdtype(samples[name].dtype, np.integer):
            _fail(samples, f"variable {name!r} has dtype {samples[name].dtype}, expected an integer type")
    names = samples.attrs.get("class_names")
    if names is None or isinstance(names, str):
        _fail(samples, "attrs['class_names'] must be the list of class names (index = class id)")
    if (PIXELS in samples) != (PIXEL_MASK in samples):
        _fail(samples, f"pixel sets need both {PIXELS!r} and {PIXEL_MASK!r}")
    if PIXEL_MASK in samples and samples[PIXEL_MASK].dtype != bool:
        _fail(samples, f"variable {PIXEL_MASK!r} has dtype {samples[PIXEL_MASK].dtype}, expected bool")
    if ("x" in samples.coords) != ("y" in samples.coords):
        _fail(samples, "a location needs both coordinates 'x' and 'y'")
    if "x" in samples.coords and not samples.attrs.get("crs"):
        _fail(samples, "coordinates 'x'/'y' need attrs['crs'] (WKT or EPSG code) to be placed on the ground")
    if not check_values:
        return samples
    check_dates(samples)
    labels = samples[LABEL].values
    if labels.size and (labels.min() < IGNORE_INDEX or labels.max() >= len(names)):
        bad = labels[(labels < IGNORE_INDEX) | (labels >= len(names))]
        _fail(samples, f"label {int(bad[0])} is outside the class list (valid ids: -1 for none, "
                       f"0..{len(names) - 1} for {list(names)[:8]}{'...' if len(names) > 8 else ''})")
    if samples[GROUP].size and samples[GROUP].values.min() <= 0:
        _fail(samples, f"variable 'group' has id {int(samples[GROUP].values.min())}; group ids must be positive")
    if SPLIT in samples and not np.isin(samples[SPLIT].values, (NO_SPLIT, *SPLIT_CODES.values())).all():
        _fail(samples, "variable 'split' must hold -1 (none), 0 (train), 1 (val) or 2 (test)")
    finite = np.isfinite(samples[VALUES].values).all(axis=2)
    bad = samples[VALID].values & ~finite
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        _fail(samples, f"'series' has {int(bad.sum())} NaN/inf observations where 'valid' is True "
                       f"(first: sample {row}, date position {col}); mark them invalid or fill them")
    return samples


def make_samples(
    values: np.ndarray,
    dates: np.ndarray,
    bands: Sequence[str],
    labels: np.ndarray,
    class_names: Sequence[str],
    groups: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    split: np.ndarray | None = None,
    location: tuple[np.ndarray, np.ndarray] | None = None,
    crs: str | None = None,
    source: str | None = None,
    attrs: dict | None = None,
    pixels: np.ndarray | None = None,
    pixel_mask: np.ndarray | None = None,
) -> xr.Dataset:
    """Assemble and validate samples from arrays: ``values`` ``(N, T, C)`` (stored as ``series``); ``dates``
    ``(T,)`` shared by every sample or ``(N, T)`` per sample (``NaT`` padding at the end); missing ``valid`` =
    every finite observation of a real date; missing ``groups`` = one group per sample. Pixel sets give
    ``pixels`` ``(N, T, C, S)`` and ``pixel_mask`` ``(N, S)``; ``values`` should then be their mean."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 3:
        raise SamplesValidationError(f"values have shape {values.shape}, expected (sample, time, band)")
    n, t, _ = values.shape
    dates = cube_format.local_times(dates)
    if dates.ndim == 1:
        dates = np.broadcast_to(dates, (n, dates.size)).copy()
    if dates.shape != (n, t):
        raise SamplesValidationError(f"dates have shape {dates.shape}, expected ({t},) or ({n}, {t})")
    if valid is None:
        valid = np.isfinite(values).all(axis=2) & ~np.isnat(dates)
    groups = np.arange(1, n + 1) if groups is None else np.asarray(groups)
    data_vars = {
        VALUES: ((SAMPLE, TIME, BAND), values),
        VALID: ((SAMPLE, TIME), np.asarray(valid, dtype=bool)),
        DATE: ((SAMPLE, TIME), dates),
        LABEL: ((SAMPLE,), _integer_labels(labels, source)),
        GROUP: ((SAMPLE,), groups.astype(np.int64)),
    }
    if split is not None:
        data_vars[SPLIT] = ((SAMPLE,), np.asarray(split, dtype=np.int8))
    if pixels is not None:
        data_vars[PIXELS] = ((SAMPLE, TIME, BAND, PIXEL), np.asarray(pixels, dtype=np.float32))
        data_vars[PIXEL_MASK] = ((SAMPLE, PIXEL), np.asarray(pixel_mask, dtype=bool))
    coords = {BAND: [str(b) for b in bands]}
    if location is not None:
        coords["x"] = ((SAMPLE,), np.asarray(location[0], dtype=np.float64))
        coords["y"] = ((SAMPLE,), np.asarray(location[1], dtype=np.float64))
    all_attrs = {"class_names": [str(c) for c in class_names], **(attrs or {})}
    if crs is not None:
        all_attrs["crs"] = str(crs)
    if source is not None:
        all_attrs["source"] = str(source)
    return validate_samples(xr.Dataset(data_vars, coords=coords, attrs=all_attrs))


def _integer_labels(labels, source: str | None) -> np.ndarray:
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        where = f"samples from {source!r}" if source else "samples"
        raise SamplesValidationError(
            f"{where}: labels have dtype {labels.dtype}, expected integer class ids (map names to ids first)"
        )
    return labels.astype(np.int64)


def class_names(samples: xr.Dataset) -> list[str]:
    return [str(name) for name in samples.attrs.get("class_names", [])]


def lengths(samples: xr.Dataset) -> np.ndarray:
    """Number of real (non-padded) dates of each sample."""
    return (~np.isnat(samples[DATE].values)).sum(axis=1)


def gap_fill(samples: xr.Dataset) -> np.ndarray:
    """``series`` with cloudy observations replaced by linear interpolation over each sample's own dates (what
    :func:`sitsbench.data.timeops.gap_fill` does to a cube).

    Samples with the same dates are interpolated together. Dates before the first (after the last) clear
    observation take its value; a sample with no clear date, and the padding, become 0.
    """
    from sitsbench.data.timeops import interpolate_series

    values = np.asarray(samples[VALUES].values, dtype=np.float32)
    valid = np.asarray(samples[VALID].values)
    dates = samples[DATE].values
    out = np.zeros_like(values)
    n = values.shape[0]
    day = dates.astype("datetime64[D]").astype(np.float64)
    day[np.isnat(dates)] = np.inf  # padding sorts after every real date and is never clear
    rows_by_dates: dict[bytes, list[int]] = {}
    for row in range(n):
        rows_by_dates.setdefault(day[row].tobytes(), []).append(row)
    for rows in rows_by_dates.values():
        rows = np.asarray(rows)
        real = np.isfinite(day[rows[0]])
        days = day[rows[0]][real]
        block = values[rows][:, real].transpose(1, 0, 2)  # (T', N, C)
        filled = interpolate_series(block, valid[rows][:, real].T, days, days).transpose(1, 0, 2)
        out[np.ix_(rows, np.flatnonzero(real))] = np.nan_to_num(filled, nan=0.0)
    return out


def day_of_year(samples: xr.Dataset) -> np.ndarray:
    """``(sample, time)`` day of year (1-366, :func:`sitsbench.data.timeops.day_of_year`) of each date; 0 on padded
    dates."""
    from sitsbench.data.timeops import day_of_year as days_of_year

    return days_of_year(samples[DATE].values)


def relative_days(samples: xr.Dataset) -> np.ndarray:
    """``(sample, time)`` days since each sample's first date (monotonic across a new year, unlike the day of
    year); padded positions continue one day apart after the last real date, so the axis stays increasing."""
    dates = samples[DATE].values
    padding = np.isnat(dates)
    days = (dates.astype("datetime64[D]") - dates[:, :1].astype("datetime64[D]")).astype(np.float64)
    last = np.where(padding, -np.inf, days).max(axis=1, keepdims=True)
    offset = np.cumsum(padding, axis=1)
    return np.where(padding, last + offset, days)


def split_samples(
    samples: xr.Dataset,
    policy: str = "group",
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> np.ndarray:
    """A split code per sample (0 train, 1 val, 2 test, -1 unlabelled) that never cuts a group in two.

    ``policy="group"``: each class's groups (majority label of their samples) are shuffled with ``seed`` and
    shared out by ``fractions``. ``policy="random"``: the same per sample, as if every sample were its own group
    (samples of one location then fall on both sides: optimistic when they are correlated, the usual case).
    ``policy="predefined"``: the samples' own ``split``; when it has no
    validation part, ``fractions[1] / (fractions[0] + fractions[1])`` of the training groups become
    validation. A predefined split that puts one group on both sides is refused (the error counts the
    groups): use ``"group"`` instead.
    """
    labels = np.asarray(samples[LABEL].values)
    groups = np.asarray(samples[GROUP].values)
    fractions_array = np.asarray(fractions, dtype=float)
    if fractions_array.shape != (3,) or np.any(fractions_array < 0) or not np.isclose(fractions_array.sum(), 1):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    if policy == "group":
        return group_split(labels, groups, fractions_array, rng)
    if policy == "random":
        return group_split(labels, np.arange(labels.size), fractions_array, rng)
    if policy != "predefined":
        raise ValueError(f"split policy must be 'group', 'random' or 'predefined', got {policy!r}")
    if SPLIT not in samples:
        raise ValueError(f"{samples.attrs.get('source', 'samples')}: no predefined split (variable 'split'); "
                         "use the 'group' policy")
    split = np.asarray(samples[SPLIT].values, dtype=np.int8).copy()
    split[labels == IGNORE_INDEX] = NO_SPLIT
    crossing = _groups_on_several_sides(groups, split)
    if crossing.size:
        raise ValueError(
            f"{samples.attrs.get('source', 'samples')}: the predefined split puts {crossing.size} group(s) on "
            f"both sides (e.g. {crossing[:5].tolist()}): their samples would leak; use the 'group' policy"
        )
    if not (split == SPLIT_CODES["val"]).any():
        train = split == SPLIT_CODES["train"]
        share = fractions_array[1] / max(fractions_array[0] + fractions_array[1], 1e-12)
        inner = group_split(np.where(train, labels, IGNORE_INDEX), groups, np.array([1 - share, share, 0.0]), rng)
        split[train & (inner == SPLIT_CODES["val"])] = SPLIT_CODES["val"]
    return split


def choose_split_policy(samples: xr.Dataset) -> tuple[str, str]:
    """``("predefined", why)`` when the samples carry a split that keeps every group on one side, else
    ``("group", why)``; ``why`` is a sentence for the reader of a chapter."""
    if SPLIT not in samples:
        return "group", "the dataset has no predefined split: groups are shared out at random, per class"
    labels = np.asarray(samples[LABEL].values)
    split = np.where(labels == IGNORE_INDEX, NO_SPLIT, np.asarray(samples[SPLIT].values))
    crossing = _groups_on_several_sides(np.asarray(samples[GROUP].values), split)
    if crossing.size:
        return "group", (f"the predefined split puts {crossing.size} group(s) on both sides (their samples would "
                         "leak from training to test): groups are shared out again, per class")
    return "predefined", "the dataset's own split keeps every group on one side: it is used as published"


def _groups_on_several_sides(groups: np.ndarray, split: np.ndarray) -> np.ndarray:
    keep = split != NO_SPLIT
    pairs = np.unique(np.stack([groups[keep], split[keep]], axis=1), axis=0)
    ids, counts = np.unique(pairs[:, 0], return_counts=True)
    return ids[counts > 1]


def group_split(labels: np.ndarray, groups: np.ndarray, fractions: np.ndarray, rng) -> np.ndarray:
    """A split code per item (0 train, 1 val, 2 test; -1 where ``labels`` is -1): each class's ``groups`` (by the
    majority label of their items) shuffled with ``rng`` and shared out by ``fractions``."""
    from sitsbench.data.splits import allocate

    labelled = labels != IGNORE_INDEX
    split = np.full(labels.size, NO_SPLIT, dtype=np.int8)
    if not labelled.any():
        return split
    ids, inverse = np.unique(groups[labelled], return_inverse=True)
    votes = np.zeros((ids.size, labels[labelled].max() + 1), dtype=np.int64)
    np.add.at(votes, (inverse, labels[labelled]), 1)
    majority = votes.argmax(axis=1)
    assignment = np.full(ids.size, NO_SPLIT, dtype=np.int8)
    for label in np.unique(majority):
        members = rng.permutation(np.flatnonzero(majority == label))
        assignment[members] = np.repeat(np.arange(3), allocate(members.size, fractions))
    split[labelled] = assignment[inverse]
    return split


def content_hashes(samples: xr.Dataset) -> np.ndarray:
    """One 64-bit hash (BLAKE2b) per sample of what it holds: its class name, its real dates, and its band names and
    values on those dates (bands in name order, cloudy observations as 0 and flagged), so that a sample is
    recognised in a copy of its file, under another name or with its bands in another order, whatever its
    position (what ``sitsbench evaluate`` compares with the hashes of a model's training samples)."""
    import hashlib

    bands = [str(b) for b in samples[BAND].values]
    order = np.argsort(bands)
    head = "\x1f".join(sorted(bands)).encode()
    values = np.asarray(samples[VALUES].values, dtype=np.float32)[:, :, order]
    valid = np.asarray(samples[VALID].values, dtype=bool)
    days = np.asarray(samples[DATE].values, dtype="datetime64[D]")
    labels = np.asarray(samples[LABEL].values)
    names = class_names(samples)
    out = np.empty(labels.size, dtype=np.uint64)
    for row in range(labels.size):
        real = ~np.isnat(days[row])
        digest = hashlib.blake2b(head, digest_size=8)
        digest.update((names[labels[row]] if labels[row] >= 0 else "").encode() + b"\x1e")
        digest.update(days[row][real].astype(np.int64).tobytes())
        digest.update(valid[row][real].tobytes())
        digest.update(np.where(valid[row][real, None], values[row][real], 0).astype(np.float32).tobytes())
        out[row] = np.frombuffer(digest.digest(), dtype=np.uint64)[0]
    return out


def subset_mask(split: np.ndarray, subset: str) -> np.ndarray:
    if subset not in SPLIT_CODES:
        raise ValueError(f"subset must be one of {tuple(SPLIT_CODES)}, got {subset!r}")
    return np.asarray(split) == SPLIT_CODES[subset]


def summary(samples: xr.Dataset) -> dict:
    """Sizes, dates, bands and class counts (``sitsbench data info`` and the chapters print it)."""
    dates = samples[DATE].values
    real = dates[~np.isnat(dates)]
    labels = np.asarray(samples[LABEL].values)
    names = class_names(samples)
    counts = np.bincount(labels[labels >= 0], minlength=len(names))
    out = {
        "kind": "samples",
        "samples": int(samples.sizes[SAMPLE]),
        "groups": int(np.unique(samples[GROUP].values).size),
        "dates per sample": f"{int(lengths(samples).min())}-{int(lengths(samples).max())}",
        "first date": str(real.min().astype("datetime64[D]")) if real.size else "-",
        "last date": str(real.max().astype("datetime64[D]")) if real.size else "-",
        "distinct date sequences": int(np.unique(dates.astype("datetime64[D]").astype(str), axis=0).shape[0]),
        "bands": [str(b) for b in samples[BAND].values],
        "classes": {name: int(count) for name, count in zip(names, counts)},
        "clear observations": f"{float(samples[VALID].values.sum() / max(1, (~np.isnat(dates)).sum())):.1%}",
    }
    if SPLIT in samples:
        out["predefined split"] = {k: int((samples[SPLIT].values == v).sum()) for k, v in SPLIT_CODES.items()}
    if "crs" in samples.attrs:
        from sitsbench.data.georef import crs_label

        out["crs"] = crs_label(samples.attrs["crs"])
    if "dates" in samples.attrs:
        out["dates note"] = samples.attrs["dates"]
    return out


def samples_from_cube(
    cube: xr.Dataset,
    points=None,
    label: str = "label",
    x: str = "longitude",
    y: str = "latitude",
    crs: str | None = "EPSG:4326",
    group: str | None = None,
    class_names: Sequence[str] | None = None,
    start: str | None = "start_date",
    end: str | None = "end_date",
) -> xr.Dataset:
    """Labelled series extracted from ``cube``, as ``sits_get_data`` does in R.

    With ``points`` (a table with columns ``x``, ``y`` in ``crs`` and ``label``): the series of the pixel holding
    each point (points are reprojected to the cube's CRS; a point outside the cube is an error naming it). When the
    table has ``start``/``end`` columns, each sample keeps only the cube's dates in its own interval, so points of
    different seasons get their own dates. Classes are ``class_names`` or the sorted distinct labels; ``group`` names
    a column of location ids (default: one group per distinct pixel).

    Without ``points``: every labelled pixel of the cube (``class >= 0``), grouped by ``parcel`` (or by pixel where
    ``parcel`` is 0), with the cube's class names.
    """
    from sitsbench.data import georef

    times = cube[cube_format.TIME].values
    if points is None:
        labels_map = np.asarray(cube[cube_format.CLASS].values)
        rows, cols = np.nonzero(labels_map >= 0)
        labels = labels_map[rows, cols]
        parcels = np.asarray(cube[cube_format.PARCEL].values)[rows, cols].astype(np.int64)
        pixel_ids = rows.astype(np.int64) * cube.sizes[cube_format.X] + cols + 1
        groups = np.where(parcels > 0, parcels, pixel_ids + int(parcels.max(initial=0)))
        names = cube_format.class_names(cube)
        intervals = None
    else:
        missing = [c for c in (x, y, label) if c not in points.columns]
        if missing:
            raise ValueError(f"points: missing column(s) {missing} (has {list(points.columns)}); "
                             "name the columns with x=, y=, label=")
        rows, cols = georef.to_pixels(cube, points[x].to_numpy(), points[y].to_numpy(), crs)
        text = points[label].astype(str).to_numpy()
        names = [str(c) for c in class_names] if class_names is not None else sorted(set(text))
        unknown = sorted(set(text) - set(names))
        if unknown:
            raise ValueError(f"points: label(s) {unknown} are not in the class list {names}")
        labels = np.array([names.index(t) for t in text], dtype=np.int64)
        if group is not None:
            _, groups = np.unique(points[group].astype(str).to_numpy(), return_inverse=True)
            groups = groups.ravel() + 1
        else:
            _, groups = np.unique(rows * cube.sizes[cube_format.X] + cols, return_inverse=True)
            groups = groups.ravel() + 1
        intervals = None
        if start in points.columns and end in points.columns:
            intervals = (table_dates(points[start], start), table_dates(points[end], end))
    at = {cube_format.Y: xr.DataArray(rows, dims=SAMPLE), cube_format.X: xr.DataArray(cols, dims=SAMPLE)}  # reads only these pixels
    values = np.asarray(cube[cube_format.REFLECTANCE].isel(at).transpose(SAMPLE, cube_format.TIME, cube_format.BAND).values)  # (N, T, C)
    valid = np.asarray(cube[cube_format.VALID].isel(at).transpose(SAMPLE, cube_format.TIME).values)
    dates = np.broadcast_to(times.astype("datetime64[ns]"), valid.shape).copy()
    if intervals is not None:
        day = times.astype("datetime64[D]")
        inside = (day[None, :] >= intervals[0][:, None]) & (day[None, :] <= intervals[1][:, None])
        empty = np.flatnonzero(~inside.any(axis=1))
        if empty.size:
            raise ValueError(f"points: {empty.size} point(s) have no cube date between {start} and {end} "
                             f"(e.g. row {int(empty[0])}); the cube covers {day[0]} to {day[-1]}")
        order = np.argsort(~inside, axis=1, kind="stable")  # dates inside the interval first, in time order
        values = np.take_along_axis(values, order[:, :, None], axis=1)
        valid = np.take_along_axis(valid & inside, order, axis=1)
        kept = np.take_along_axis(inside, order, axis=1)
        dates = np.where(kept, np.take_along_axis(dates, order, axis=1), np.datetime64("NaT"))
        width = int(kept.sum(axis=1).max())
        values, valid, dates = values[:, :width], valid[:, :width], dates[:, :width]
    location, sample_crs = None, None
    if georef.has_crs(cube):
        location = (np.asarray(cube[cube_format.X].values)[cols], np.asarray(cube[cube_format.Y].values)[rows])
        sample_crs = georef.crs_of(cube).to_wkt()
    return make_samples(
        values, dates, [str(b) for b in cube[cube_format.BAND].values], labels, names, groups=groups, valid=valid,
        location=location, crs=sample_crs, source=f"{cube.attrs.get('source', 'cube')} (pixels)",
    )


def table_dates(column, name: str) -> np.ndarray:
    """A table column of ISO dates as ``datetime64[D]``; any other form is refused with the offending value."""
    from sitsbench.data.readers.base import parse_iso_dates

    return parse_iso_dates(list(column), f"column {name!r}")
