"""PASTIS-R in pixel-set format (Zenodo record 5745151): one labelled sample with a pixel set per parcel.

Layout, as read by the official loader ``PASTIS_Dataset_PixelSet`` (``VSainteuf/pastis-benchmark``
``code/dataloader_pixelset.py``, commit 43a0ece)::

    metadata_parcel.csv                one row per parcel: ID_PARCEL, ID_PATCH, Fold (1-5), Label, GF_* features
    metadata.geojson                   one feature per patch: ID_PATCH, dates-S2 / dates-S1A / dates-S1D
    DATA_S2/S2_{ID_PARCEL}.npy         (T, 10, S) Sentinel-2 pixels of the parcel, reflectance x 1e4
    DATA_S1A/S1A_{ID_PARCEL}.npy, DATA_S1D/S1D_{ID_PARCEL}.npy   (T1, C1, S) Sentinel-1 pixels
    NORM_PARCEL_{sensor}_set.json      per-fold channel means / stds (not read: sitsbench computes its own)

What the official loader does and this reader reproduces:

* a parcel's dates are those of its patch (``dates-{sensor}`` of ``ID_PATCH`` in ``metadata.geojson``, a JSON
  object or its JSON text, lines 119-141 and 195-196), so every sample has its own dates (``NaT`` padding);
* ``folds`` keeps the parcels of those ``Fold`` values (line 147); parcels are sorted by ``ID_PARCEL`` (152);
* the label is ``Label - label_offset`` with ``label_offset = 1`` "because PASTIS crop type labels start at 1"
  (lines 82-83, 279): class ids 0-17 are the 18 crop types :data:`CLASS_NAMES` (PASTIS labels 1-18);
* ``ignore_label`` discards parcels of one label (line 150): here the void label 19 becomes ``-1`` (no label,
  as in the patch reader) and ``drop_void=True`` discards those parcels; a label 0 (background) would
  become ``-1`` as well, which is what the offset gives;
* a parcel without pixel (``S = 0``) is kept (the official loader returns zeros with one mask bit set,
  ``repeat_pixel_and_norm`` lines 294-298): here its ``pixel_mask`` is all False, ``series`` NaN, ``valid`` False.

``rotation`` (0-4) adds the ``split`` of the official rotation (:data:`~sitsbench.data.readers.pastis.
FOLD_ROTATIONS`) from each parcel's ``Fold``. The per-sample coordinates ``parcel_id``, ``patch_id`` and
``fold`` keep the file's values; ``group`` is ``ID_PARCEL``. Values: Sentinel-2 reflectance x 1e-4;
Sentinel-1 as stored, channels named ``S1_0``, ``S1_1``, ... unless ``bands`` names them. The geometric
features (``GF_*`` columns) are not read. Pixels are padded with NaN; ``max_pixels`` bounds them per parcel
(see :func:`~sitsbench.data.readers.pixelset.stack_pixel_sets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sitsbench.data.readers import pastis
from sitsbench.data.readers.base import DatasetFormatError, load_npy, require_file
from sitsbench.data.readers.pixelset import pixel_set_samples, stack_pixel_sets

SENSORS = ("S2", "S1A", "S1D")
LABEL_OFFSET = 1
CLASS_NAMES = pastis.CLASS_NAMES[1:]
"""The 18 crop types: class id k is PASTIS label k + 1."""
REQUIRED_COLUMNS = ("ID_PARCEL", "ID_PATCH", "Fold", "Label")
LAYOUT = "PASTIS-R pixel-set (metadata_parcel.csv + DATA_{sensor}/{sensor}_{ID_PARCEL}.npy)"


def read_parcel_metadata(root: str | Path) -> pd.DataFrame:
    """``metadata_parcel.csv`` with integer ``ID_PARCEL``, ``ID_PATCH``, ``Fold`` (1-5) and ``Label``, by parcel id."""
    path = require_file(Path(root) / "metadata_parcel.csv", f"the parcel table of the {LAYOUT} layout")
    try:
        table = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as error:
        raise DatasetFormatError(f"{path}: unreadable CSV (expected columns {list(REQUIRED_COLUMNS)}): {error}") from error
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetFormatError(f"{path}: missing column(s) {missing} (has {list(table.columns)[:10]})")
    for column in REQUIRED_COLUMNS:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DatasetFormatError(f"{path}: column {column!r} row {row} is {table[column].iloc[row]!r}, expected an integer")
        table[column] = values.astype(np.int64)
    duplicated = table["ID_PARCEL"][table["ID_PARCEL"].duplicated()]
    if len(duplicated):
        raise DatasetFormatError(f"{path}: ID_PARCEL {int(duplicated.iloc[0])} appears more than once")
    bad_fold = table.loc[~table["Fold"].isin(range(1, 6)), "Fold"]
    if len(bad_fold):
        raise DatasetFormatError(f"{path}: Fold {int(bad_fold.iloc[0])}, expected 1-5")
    bad_label = table.loc[~table["Label"].isin(range(len(pastis.CLASS_NAMES) + 1)), "Label"]
    if len(bad_label):
        raise DatasetFormatError(f"{path}: Label {int(bad_label.iloc[0])}, expected a PASTIS class 0-19")
    return table.sort_values("ID_PARCEL").reset_index(drop=True)


def read_patch_dates(root: str | Path, sensor: str = "S2") -> dict[int, np.ndarray]:
    """``{ID_PATCH: dates}`` of one sensor from ``metadata.geojson`` (only ``ID_PATCH`` and ``dates-{sensor}``
    are required, as in the official pixel-set loader)."""
    path, properties = pastis.patch_properties(root, ("ID_PATCH", f"dates-{sensor}"))
    dates = {}
    for props in properties:
        pid = int(props["ID_PATCH"])
        dates[pid] = pastis.parse_date_table(path, props[f"dates-{sensor}"], f"dates-{sensor} of patch {pid}")
    return dates


def read_pastis_r_pixelset(
    root: str | Path,
    sensor: str = "S2",
    folds: Sequence[int] | None = None,
    rotation: int | None = None,
    drop_void: bool = False,
    bands: Sequence[str] | None = None,
    parcel_ids: Sequence[int] | None = None,
    max_pixels: int | None = None,
    seed: int = 0,
) -> xr.Dataset:
    """The parcels of a PASTIS-R pixel-set folder (those of ``folds`` / ``parcel_ids``; default all) as samples."""
    if sensor not in SENSORS:
        raise ValueError(f"sensor must be one of {SENSORS}, got {sensor!r}")
    if rotation is not None and rotation not in range(len(pastis.FOLD_ROTATIONS)):
        raise ValueError(f"rotation must be 0-{len(pastis.FOLD_ROTATIONS) - 1} or None, got {rotation}")
    root = Path(root)
    if not (root / "metadata_parcel.csv").is_file() and (root / "DATA_S2").is_dir():
        raise DatasetFormatError(
            f"{root}: no metadata_parcel.csv; this looks like the PASTIS / PASTIS-R patch layout, read it with "
            "sitsbench.data.readers.pastis (this reader expects the " + LAYOUT + " layout)"
        )
    table = read_parcel_metadata(root)
    csv_path = root / "metadata_parcel.csv"
    if folds is not None:
        table = table[table["Fold"].isin([int(f) for f in folds])]
    if parcel_ids is not None:
        wanted = {int(p) for p in parcel_ids}
        unknown = sorted(wanted - set(table["ID_PARCEL"]))
        if unknown:
            raise DatasetFormatError(f"{csv_path}: no parcel {unknown[:5]} (in the selected folds)")
        table = table[table["ID_PARCEL"].isin(wanted)]
    void = pastis.VOID_LABEL
    if drop_void:
        table = table[table["Label"] != void]
    if table.empty:
        raise DatasetFormatError(f"{csv_path}: no parcel left to read (folds={folds}, drop_void={drop_void})")
    patch_dates = read_patch_dates(root, sensor)
    geojson = root / "metadata.geojson"
    unknown_patch = sorted(set(table["ID_PATCH"]) - set(patch_dates))
    if unknown_patch:
        raise DatasetFormatError(f"{csv_path}: ID_PATCH {unknown_patch[:5]} has no feature in {geojson}")

    ids = table["ID_PARCEL"].to_numpy()
    arrays, dates = [], []
    n_channels = len(bands) if bands is not None else (len(pastis.BANDS) if sensor == "S2" else None)
    for pid, patch in zip(ids, table["ID_PATCH"].to_numpy()):
        times = patch_dates[int(patch)]
        path = root / f"DATA_{sensor}" / f"{sensor}_{int(pid)}.npy"
        array = load_npy(path, f"{sensor} pixel set (T, C, S)", ndim=3, mmap=False)
        if n_channels is None:
            n_channels = array.shape[1]
        if array.shape[:2] != (len(times), n_channels):
            raise DatasetFormatError(
                f"{path}: array has shape {array.shape}, expected ({len(times)}, {n_channels}, S) "
                f"({len(times)} dates-{sensor} of patch {int(patch)} in metadata.geojson, {n_channels} channels)"
            )
        values = array.astype(np.float32)
        arrays.append(values * np.float32(pastis.SCALE) if sensor == "S2" else values)
        dates.append(times)
    names = list(bands) if bands is not None else (
        list(pastis.BANDS) if sensor == "S2" else [f"S1_{k}" for k in range(n_channels)]
    )
    n_time = max(t.size for t in dates)
    date_table = np.full((len(ids), n_time), np.datetime64("NaT"), dtype="datetime64[ns]")
    for k, times in enumerate(dates):
        date_table[k, : times.size] = times
    pixels, pixel_mask, series = stack_pixel_sets(arrays, ids, max_pixels, seed)
    raw = table["Label"].to_numpy()
    labels = np.where((raw == void) | (raw < LABEL_OFFSET), -1, raw - LABEL_OFFSET)
    split = None
    fold = table["Fold"].to_numpy()
    if rotation is not None:
        train, val, test = pastis.FOLD_ROTATIONS[rotation]
        split = np.select([np.isin(fold, train), fold == val, fold == test], [0, 1, 2], -1).astype(np.int8)
    return pixel_set_samples(
        series, date_table, names, labels, CLASS_NAMES, ids, pixels, pixel_mask, source=str(root),
        attrs={"dataset": "PASTIS-R pixel-set", "sensor": sensor, "label_offset": LABEL_OFFSET},
        split=split, coords={"patch_id": table["ID_PATCH"].to_numpy(), "fold": fold},
    )
