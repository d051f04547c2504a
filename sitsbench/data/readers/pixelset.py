"""Pixel-Set reader: the parcel format of PSE-TAE (S2-Agri, PASTIS pixel-set version).

Garnot, Landrieu, Giordano & Chehata, "Satellite Image Time Series Classification with Pixel-Set Encoders
and Temporal Self-Attention", CVPR 2020. Layout::

    DATA/{parcel id}.npy     (T, C, S) integer reflectance x 1e4: T dates, C bands, S pixels of the parcel
    META/labels.json         {"<nomenclature>": {"<parcel id>": class id, ...}, ...}
    META/dates.json          {"0": YYYYMMDD, "1": YYYYMMDD, ...}   (one date table for every parcel)

The cube puts every pixel of every parcel on ``x`` (``y`` = 1): ``parcel`` holds ``k + 1`` for the k-th
parcel of ``attrs["parcel_ids"]`` (file ids may be 0, which the cube reserves for "no parcel") and
``class`` the parcel's label, so that splitting by parcel keeps a parcel's pixels together. No cloud
mask is published (``valid`` = finite values). Class names are not in the files: pass ``class_names``
(ids must be below its length) or get ``"class_{id}"`` names up to the largest id present.
Reflectance is lazy: one dask chunk per parcel file, read with ``np.load``.
"""

from __future__ import annotations

from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr

from sitsbench.data.readers.base import (
    DatasetFormatError,
    assemble_cube,
    check_class_ids,
    check_increasing,
    load_json,
    load_npy,
    parse_yyyymmdd,
)

SCALE = 1e-4
DEFAULT_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")


def parcel_ids(root: str | Path) -> list[int]:
    """Sorted parcel ids from the ``DATA/*.npy`` file names."""
    folder = Path(root) / "DATA"
    if not folder.is_dir():
        raise DatasetFormatError(f"{folder}: missing folder (expected DATA/{{id}}.npy parcel arrays)")
    names = [p.stem for p in folder.glob("*.npy")]
    bad = [n for n in names if not n.isdigit()]
    if bad:
        raise DatasetFormatError(f"{folder}: file {bad[0]}.npy is not named by an integer parcel id")
    return sorted(int(n) for n in names)


def read_pixelset(
    root: str | Path,
    nomenclature: str = "label_44class",
    class_names: list[str] | None = None,
    bands: tuple[str, ...] = DEFAULT_BANDS,
    ids: list[int] | None = None,
) -> xr.Dataset:
    """The parcels ``ids`` (default: all) of a Pixel-Set folder as one lazy cube of pixels."""
    root = Path(root)
    ids = parcel_ids(root) if ids is None else list(ids)
    if not ids:
        raise DatasetFormatError(f"{root / 'DATA'}: no parcel .npy file")
    dates_path = root / "META" / "dates.json"
    table = load_json(dates_path, 'a mapping {"0": YYYYMMDD, ...}')
    if not isinstance(table, dict) or sorted(table, key=int) != [str(i) for i in range(len(table))]:
        raise DatasetFormatError(f"{dates_path}: expected keys '0'..'{len(table) - 1}' mapping to YYYYMMDD dates")
    times = parse_yyyymmdd(dates_path, [table[str(i)] for i in range(len(table))], "dates.json")
    check_increasing(dates_path, times, "dates.json")
    labels_path = root / "META" / "labels.json"
    all_labels = load_json(labels_path, f"a mapping with nomenclature {nomenclature!r}")
    if nomenclature not in all_labels:
        raise DatasetFormatError(f"{labels_path}: no nomenclature {nomenclature!r} (present: {sorted(all_labels)})")
    missing = [pid for pid in ids if str(pid) not in all_labels[nomenclature]]
    if missing:
        raise DatasetFormatError(f"{labels_path}: no {nomenclature!r} label for parcel(s) {missing[:5]}")
    parcel_labels = np.array([all_labels[nomenclature][str(pid)] for pid in ids], dtype=np.int64)
    if class_names is None:
        class_names = [f"class_{k}" for k in range(int(parcel_labels.max()) + 1)]
    check_class_ids(labels_path, parcel_labels, len(class_names))

    chunks, sizes = [], []
    for pid in ids:
        path = root / "DATA" / f"{pid}.npy"
        header = load_npy(path, "parcel array (T, C, S)", ndim=3, mmap=True)
        if header.shape[:2] != (len(times), len(bands)):
            raise DatasetFormatError(
                f"{path}: array has shape {header.shape}, expected ({len(times)}, {len(bands)}, S) "
                f"({len(times)} dates in dates.json, {len(bands)} bands)"
            )
        loaded = dask.delayed(_load_parcel)(path)
        chunks.append(da.from_delayed(loaded, shape=header.shape, dtype=np.float32))
        sizes.append(header.shape[2])
    reflectance = da.concatenate(chunks, axis=2)[:, :, None, :]
    valid = da.isfinite(reflectance).all(axis=1)
    labels = np.repeat(parcel_labels, sizes)[None, :].astype(np.int16)
    parcels = np.repeat(np.arange(1, len(ids) + 1, dtype=np.int32), sizes)[None, :]
    return assemble_cube(
        reflectance, times, list(bands), valid, labels, parcels, list(class_names), source=str(root),
        extra={"attrs": {"nomenclature": nomenclature, "parcel_ids": [int(pid) for pid in ids]}},
    )


def _load_parcel(path: Path) -> np.ndarray:
    array = load_npy(path, "parcel array (T, C, S)", ndim=3, mmap=False)
    return array.astype(np.float32) * np.float32(SCALE)
