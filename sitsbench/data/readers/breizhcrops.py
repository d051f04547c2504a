"""BreizhCrops reader: parcel-mean Sentinel-2 series of Brittany (France), 2017, as labelled samples.

Rußwurm, Pelletier, Zollner, Lefèvre & Körner, "BreizhCrops: A Time Series Dataset for Crop Type
Mapping", ISPRS Archives XLIII-B2-2020. Official code: https://github.com/dl4sits/BreizhCrops (GPL-3.0
LICENSE; its setup.py says MIT), also on PyPI as ``breizhcrops`` 0.0.4.1, whose
``breizhcrops/datasets/breizhcrops.py`` is the repository's at 6de796e. Layout (``build_folder_structure``,
lines 143-172 there)::

    classmapping.csv              unnamed index column, then id, classname, code (CODE_CULTU -> class id)
    {year}/{level}/{region}.csv   parcel index: first column the row index, then (at least) id, CODE_CULTU,
                                  path, sequencelength (the package adds meanCLD, classid, classname, region)
    {year}/{level}/{region}.h5    one float64 dataset per parcel under the key ``path`` of the index,
                                  ``(T, columns)``: one row per acquisition, sorted, one row per ``doa``

The column order of the HDF5 datasets changed over the package's history (:data:`LAYOUTS`):

* L2A ``doa-first``: ``doa B2 B3 B4 B5 B6 B7 B8 B8A B11 B12 CLD EDG SAT`` -- ``SELECTED_BANDS["L2A"]``
  (lines 23-28, used by ``load``, lines 252-261, which ``write_h5_database_from_csv``, lines 188-192, writes),
  since commit 606bf7b (2021-01, "L2A reprocessing"); the published L2A files have the sizes of
  ``FILESIZES`` in ``urls.py`` (lines 72-98) since 43e7304 (2021-08). Issue #36 of the repository
  reports the same order in the belle-ile file.
* L2A ``doa-last``: ``B2 ... SAT doa`` -- ``BANDS["L2A"]`` of d110cd3 (2020-06, "added doa to h5 cached
  datasets") to a79d64b. (The April 2020 L2A files had 13 columns and no ``doa``: refused.)
* L1C ``2020-04``: ``B1 B10 B11 B12 B2 B3 B4 B5 B6 B7 B8 B8A B9 QA10 QA20 QA60 doa`` -- ``self.bands`` of
  b4608cd (2020-04-22, line 67, written by ``load`` line 182); the L1C ``FILESIZES`` have not changed since.
* L1C ``2020-08``: ``B1 B2 ... B8A B9 B10 B11 B12 QA10 QA20 QA60 doa`` -- ``load`` of d703a21 (2020-08, line
  237), then ``SELECTED_BANDS["L1C"]`` up to the current package.

The order is read from the bytes, not assumed: the ``doa`` column is the only one whose values are times
since 1970 (in ns as published; µs, ms or s are also accepted: the package's own ``load_raw``,
``pd.to_datetime(...).astype(int)`` at line 247, gives µs under pandas 3) between 2015 and 2030 and strictly
increasing within every parcel. No such column, or more than one, is an error naming the file. Both L1C
layouts end with ``doa``; they are told apart by the cirrus band B10 (1375 nm, nearly dark under a clear sky
at the top of the atmosphere): its column has a median, over the clear observations, at most a quarter of
the other candidate's. Where that does not hold the reader refuses and asks for ``layout=``. A ``layout``
given by name is still checked against the ``doa`` column found in the bytes.

Samples (:mod:`sitsbench.data.samples`): one per parcel with at least one observation, dates = the parcel's
own ``doa`` (rounded to the millisecond; NaT padding after its last date). A second observation on a day
already seen (tile overlaps) is dropped, the first one in the file is kept. ``label`` via
``classmapping.csv`` as the package does (``load_classmapping``, lines 223-239; ``__getitem__`` line 294);
parcels whose CODE_CULTU is not in the mapping are dropped (line 103). Reflectance = stored value x 1e-4
(``get_default_transform``, line 356). ``valid`` also needs a clear observation: L1C ``QA60 == 0`` (no
opaque cloud or cirrus bit); L2A ``CLD < max_cloud_probability`` and ``EDG == 0`` and ``SAT == 0`` (our
threshold, default 50 %). ``group`` = the parcel id (index column ``id``, else the number in ``path``); when
ids are not positive integers, ``1..N`` and the ids stay in the ``parcel_id`` coordinate. Per-sample
coordinates ``region`` and ``parcel_id``.

Predefined ``split`` (``examples/train.py`` lines 74-76, mode "evaluation"): frh01, frh02, frh03 train (0),
frh04 test (2), any other region (belle-ile, kermaux) none (-1); reading one region codes that region's role
in this protocol. ``validation_region="frh03"`` gives the repository's "validation" mode (lines 86-88: train
frh01 + frh02, validate on frh03) by coding that region 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr

from sitsbench.data.readers.base import DatasetFormatError, require_file, stack_ragged
from sitsbench.data.samples import NO_SPLIT, SPLIT_CODES, make_samples

_L2A = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12", "CLD", "EDG", "SAT")
LAYOUTS = {
    "L2A": {
        "doa-first": ("doa", *_L2A),
        "doa-last": (*_L2A, "doa"),
    },
    "L1C": {
        "2020-04": ("B1", "B10", "B11", "B12", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9",
                    "QA10", "QA20", "QA60", "doa"),
        "2020-08": ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12",
                    "QA10", "QA20", "QA60", "doa"),
    },
}
BANDS = {
    "L1C": ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"),
    "L2A": ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"),
}
REGIONS = ("frh01", "frh02", "frh03", "frh04", "belle-ile", "kermaux")
OFFICIAL_SPLIT = {"train": ("frh01", "frh02", "frh03"), "test": ("frh04",)}
SCALE = 1e-4
INDEX_COLUMNS = ("CODE_CULTU", "path")
DOA_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9}  # nanoseconds per unit
DOA_RANGE = (np.datetime64("2015-01-01", "ns"), np.datetime64("2031-01-01", "ns"))
CIRRUS_RATIO = 4.0


def _column(name: str) -> str:
    """File column of a band name (``B02`` -> ``B2``)."""
    return "B" + name[1:].lstrip("0")


def read_classmapping(root: str | Path) -> tuple[dict[str, int], list[str]]:
    """``({CODE_CULTU: class id}, class names)`` from ``classmapping.csv``; ids must be 0..n-1."""
    path = require_file(Path(root) / "classmapping.csv", "class mapping with columns id, classname, code")
    table = pd.read_csv(path, index_col=0)
    missing = [c for c in ("id", "classname", "code") if c not in table.columns]
    if missing:
        raise DatasetFormatError(f"{path}: missing column(s) {missing} (expected id, classname, code)")
    names = table.groupby("id")["classname"].first()
    if list(names.index) != list(range(len(names))):
        raise DatasetFormatError(f"{path}: class ids {list(names.index)} are not 0..{len(names) - 1}")
    return {str(code): int(cid) for code, cid in zip(table["code"], table["id"])}, [str(n) for n in names]


def region_split(region: str, validation_region: str | None = None) -> int:
    """Split code of a region in the published protocol (0 train, 1 val, 2 test, -1 none)."""
    if region == validation_region:
        return SPLIT_CODES["val"]
    if region in OFFICIAL_SPLIT["train"]:
        return SPLIT_CODES["train"]
    if region in OFFICIAL_SPLIT["test"]:
        return SPLIT_CODES["test"]
    return NO_SPLIT


def read_breizhcrops(
    root: str | Path,
    region: str = "frh04",
    level: str = "L2A",
    year: int = 2017,
    max_parcels: int | None = None,
    max_cloud_probability: float = 50.0,
    *,
    regions: Sequence[str] | None = None,
    layout: str | None = None,
    validation_region: str | None = None,
) -> xr.Dataset:
    """One region (or ``regions``, which then replaces ``region``) as samples; ``max_parcels`` keeps the
    first parcels of each region; ``layout`` names a column order of :data:`LAYOUTS` (default: read from
    the bytes, per file)."""
    if level not in LAYOUTS:
        raise ValueError(f"level must be one of {sorted(LAYOUTS)}, got {level!r}")
    if layout is not None and layout not in LAYOUTS[level]:
        raise ValueError(f"layout for {level} must be one of {sorted(LAYOUTS[level])} or None, got {layout!r}")
    names = [region] if regions is None else [str(r) for r in regions]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"regions must be distinct region names, got {names}")
    root = Path(root)
    mapping, class_names = read_classmapping(root)
    parts, notes = [], []
    for name in names:
        part = _read_region(root, name, level, year, mapping, max_parcels, max_cloud_probability, layout)
        part["split"] = np.full(len(part["labels"]), region_split(name, validation_region), dtype=np.int8)
        parts.append(part)
        notes.append(f"{name}: {part['layout']} (doa in {part['unit']})")
    values, valid, dates = stack_ragged(
        [v for p in parts for v in p["values"]], [v for p in parts for v in p["valid"]],
        [d for p in parts for d in p["dates"]],
    )
    ids = [i for p in parts for i in p["ids"]]
    numeric = all(isinstance(i, (int, np.integer)) and i > 0 for i in ids)
    groups = np.asarray(ids, dtype=np.int64) if numeric else np.arange(1, len(ids) + 1, dtype=np.int64)
    folder = root / str(year) / level
    samples = make_samples(
        values, dates, BANDS[level], np.concatenate([p["labels"] for p in parts]), class_names, groups=groups,
        valid=valid, split=np.concatenate([p["split"] for p in parts]),
        source=str(folder / f"{names[0]}.h5") if len(names) == 1 else f"{folder}/{{{','.join(names)}}}.h5",
        attrs={"regions": names, "level": level, "year": int(year), "layouts": "; ".join(notes),
               "split_protocol": "train frh01+frh02+frh03, test frh04 (examples/train.py, mode evaluation)"
                                 + (f"; validation {validation_region}" if validation_region else "")},
    )
    region_of = np.concatenate([np.full(len(p["labels"]), n, dtype=object) for n, p in zip(names, parts)])
    parcel_ids = np.asarray(ids, dtype=np.int64) if numeric else np.asarray([str(i) for i in ids], dtype=object)
    return samples.assign_coords(region=("sample", region_of.astype(str)), parcel_id=("sample", parcel_ids))


def _read_region(root, region, level, year, mapping, max_parcels, max_cloud_probability, layout) -> dict:
    folder = root / str(year) / level
    index_path = require_file(folder / f"{region}.csv", "parcel index with columns CODE_CULTU, path")
    index = pd.read_csv(index_path, index_col=0)
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise DatasetFormatError(f"{index_path}: missing column(s) {missing} (expected {list(INDEX_COLUMNS)})")
    index = index[index["CODE_CULTU"].astype(str).isin(mapping)]
    if max_parcels is not None:
        index = index.iloc[:max_parcels]
    if index.empty:
        raise DatasetFormatError(f"{index_path}: no parcel with a CODE_CULTU of classmapping.csv")
    h5_path = require_file(folder / f"{region}.h5", "HDF5 file with one dataset per parcel")
    keys = [str(k) for k in index["path"]]
    width = len(next(iter(LAYOUTS[level].values())))
    arrays = []
    try:
        handle = h5py.File(h5_path, "r")
    except OSError as error:
        raise DatasetFormatError(f"{h5_path}: unreadable or truncated HDF5 file: {error}") from error
    with handle:
        for key in keys:
            if key not in handle:
                raise DatasetFormatError(f"{h5_path}: no dataset {key!r} (listed in {index_path.name})")
            values = np.asarray(handle[key][()], dtype=np.float64)
            if values.ndim != 2 or values.shape[1] != width:
                known = "; ".join(f"{n}: {' '.join(c)}" for n, c in LAYOUTS[level].items())
                raise DatasetFormatError(
                    f"{h5_path}: dataset {key!r} has shape {values.shape}, expected (T, {width}) with the "
                    f"columns of a {level} layout ({known})"
                    + (" -- the April 2020 L2A files had 13 columns and no doa; use the current files"
                       if level == "L2A" and values.ndim == 2 and values.shape[1] == 13 else "")
                )
            arrays.append(values)
    keep = [k for k, a in enumerate(arrays) if len(a)]  # zero-length series are dropped, as the package does
    arrays, keys = [arrays[k] for k in keep], [keys[k] for k in keep]
    index = index.iloc[keep]
    if not arrays:
        raise DatasetFormatError(f"{h5_path}: every listed parcel has an empty series")
    name, unit = detect_layout(h5_path, level, arrays, keys, layout)
    columns = LAYOUTS[level][name]
    doa = columns.index("doa")
    band_cols = [columns.index(_column(b)) for b in BANDS[level]]
    out = {"values": [], "valid": [], "dates": [], "layout": name, "unit": unit}
    for values in arrays:
        when = _dates(values[:, doa], unit)
        days = when.astype("datetime64[D]")
        first = np.concatenate([[True], days[1:] != days[:-1]])  # first observation of each day
        values, when = values[first], when[first]
        out["values"].append((values[:, band_cols] * SCALE).astype(np.float32))
        out["valid"].append(_clear(values, columns, max_cloud_probability) & np.isfinite(values[:, band_cols]).all(1))
        out["dates"].append(when)
    out["labels"] = np.array([mapping[str(c)] for c in index["CODE_CULTU"]], dtype=np.int64)
    out["ids"] = _parcel_ids(index, keys)
    return out


def _parcel_ids(index: pd.DataFrame, keys: list[str]) -> list:
    if "id" in index.columns and pd.api.types.is_integer_dtype(index["id"]):
        return [int(i) for i in index["id"]]
    stems = [Path(k).stem for k in keys]
    return [int(s) for s in stems] if all(s.isdigit() for s in stems) else stems


def _dates(doa: np.ndarray, unit: str) -> np.ndarray:
    """Times since 1970 in ``unit`` as datetime64[ns], rounded to the millisecond."""
    ms = np.round(doa * (DOA_UNITS[unit] / DOA_UNITS["ms"])).astype(np.int64)
    return ms.astype("datetime64[ms]").astype("datetime64[ns]")


def detect_layout(path, level: str, arrays: list[np.ndarray], keys: list[str], layout: str | None = None):
    """``(layout name, doa unit)`` of one file's parcel arrays (all of width ``len(LAYOUTS[level][...])``).

    The ``doa`` column is found from the values (see the module docstring); ``layout`` (a name of
    :data:`LAYOUTS`) must agree with it. Raises :class:`DatasetFormatError` naming ``path``.
    """
    rows = np.concatenate(arrays)
    starts = np.cumsum([len(a) for a in arrays])[:-1]
    inside = np.ones(len(rows) - 1, dtype=bool)  # steps between two rows of one parcel
    inside[starts - 1] = False
    lo, hi = (int(t.astype(np.int64)) for t in DOA_RANGE)
    found, unsorted = [], []
    with np.errstate(invalid="ignore"):
        for j in range(rows.shape[1]):
            column = rows[:, j]
            if not np.isfinite(column).all():
                continue
            for unit, factor in DOA_UNITS.items():
                if lo / factor <= column.min() and column.max() < hi / factor:
                    steps = np.diff(column)[inside]
                    if (steps > 0).all():
                        found.append((j, unit))
                    else:
                        bad = int(np.searchsorted(starts, np.flatnonzero(inside)[np.flatnonzero(steps <= 0)[0]],
                                                  side="right"))
                        unsorted.append(f"column {j} ({unit} since 1970) is not increasing in dataset {keys[bad]!r}")
    what = (f"the acquisition time 'doa' (ns since 1970, or us/ms/s, between {DOA_RANGE[0].astype('datetime64[D]')} "
            f"and {DOA_RANGE[1].astype('datetime64[D]')}, strictly increasing within each parcel)")
    if not found:
        detail = f" ({'; '.join(unsorted)})" if unsorted else ""
        raise DatasetFormatError(f"{path}: no column holds {what}{detail}; this is not a BreizhCrops {level} file "
                                 f"of a known layout ({', '.join(LAYOUTS[level])})")
    if layout is not None:
        wanted = LAYOUTS[level][layout].index("doa")
        match = [unit for j, unit in found if j == wanted]
        if not match:
            raise DatasetFormatError(
                f"{path}: layout {layout!r} puts doa in column {wanted}, but the column(s) holding {what} "
                f"is/are {[j for j, _ in found]}"
            )
        return layout, match[0]
    if len(found) > 1:
        raise DatasetFormatError(
            f"{path}: ambiguous layout: columns {[j for j, _ in found]} all hold values like {what}; "
            f"pass layout= one of {sorted(LAYOUTS[level])} to say which order the file has"
        )
    doa, unit = found[0]
    candidates = [name for name, columns in LAYOUTS[level].items() if columns.index("doa") == doa]
    if not candidates:
        known = "; ".join(f"{name}: doa in column {columns.index('doa')}" for name, columns in LAYOUTS[level].items())
        raise DatasetFormatError(f"{path}: doa is in column {doa}, which matches no known {level} layout ({known})")
    if len(candidates) == 1:
        return candidates[0], unit
    return _by_cirrus(path, rows, candidates, level), unit


def _by_cirrus(path, rows: np.ndarray, candidates: list[str], level: str) -> str:
    """The L1C layout whose B10 column is the dark one (cirrus band) over the clear observations."""
    qa60 = {LAYOUTS[level][name].index("QA60") for name in candidates}
    clear = rows[:, qa60.pop()] == 0 if len(qa60) == 1 else np.ones(len(rows), dtype=bool)
    sample = rows[clear] if clear.any() else rows
    medians = {name: float(np.median(sample[:, LAYOUTS[level][name].index("B10")])) for name in candidates}
    best = min(medians, key=medians.get)
    if all(CIRRUS_RATIO * medians[best] < m for name, m in medians.items() if name != best):
        return best
    shown = ", ".join(f"{name}: B10 column median {m:g}" for name, m in medians.items())
    raise DatasetFormatError(
        f"{path}: ambiguous layout: both {level} orders {candidates} put doa last and the cirrus band B10 (dark "
        f"under a clear sky) does not tell them apart ({shown}); pass layout= one of {candidates}"
    )


def _clear(values: np.ndarray, columns: tuple[str, ...], max_cloud_probability: float) -> np.ndarray:
    col = {name: values[:, columns.index(name)] for name in columns}
    if "QA60" in col:
        return col["QA60"] == 0
    return (col["CLD"] < max_cloud_probability) & (col["EDG"] == 0) & (col["SAT"] == 0)
