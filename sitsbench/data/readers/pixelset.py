"""Pixel-Set reader: the parcel format of PSE-TAE (S2-Agri), read into labelled samples with pixel sets.

Garnot, Landrieu, Giordano & Chehata, "Satellite Image Time Series Classification with Pixel-Set Encoders
and Temporal Self-Attention", CVPR 2020. Layout (official loader: ``VSainteuf/pytorch-psetae``
``dataset.py``, class ``PixelSetData``)::

    DATA/{parcel id}.npy     (T, C, S) integer reflectance x 1e4: T dates, C bands, S pixels of the parcel
    META/labels.json         {"<nomenclature>": {"<parcel id>": class id, ...}, ...}
    META/dates.json          {"0": YYYYMMDD, "1": YYYYMMDD, ...}   (one date table for every parcel)
    META/geomfeat.json       {"<parcel id>": [4 geometric features], ...}   (not read here)

Every parcel file is one sample (parcels in increasing id order, as ``PixelSetData`` sorts them, lines
42-46): ``pixels`` ``(sample, time, band, pixel)`` holds its pixels, padded with NaN up to the largest parcel,
``pixel_mask`` marks the real ones and ``series`` is their mean. A parcel with no pixel (``S = 0``) is kept,
as ``PixelSetData`` keeps every ``.npy`` file (it returns zeros with one mask bit set, lines 111-114): here its
``pixel_mask`` is all False and its ``series`` NaN, so ``valid`` is False. No cloud mask is published
(``valid`` = finite values). ``group`` is the parcel id (shifted by one when the ids start at 0, as in S2-Agri;
the file ids are the ``parcel_id`` coordinate).

``sub_classes`` reproduces the PSE-TAE protocol exactly as ``PixelSetData`` does (lines 50-68): only the
parcels whose label is in the list are kept, and each label becomes its position in the list. The paper's
20 classes are :data:`PSETAE_SUB_CLASSES`, applied to ``label_44class`` in ``train.py`` (lines 169-177; the
L-TAE ``train.py``, lines 168-169, uses the same list: "the subset of classes with more than 100 samples").

Class names are not in the files: pass ``class_names`` (of the nomenclature's ids) or get ``"class_{id}"``
names (with ``sub_classes``, the original ids of the kept classes). ``max_pixels`` keeps at most that many
pixels per parcel (a seeded draw without replacement, the same for a parcel whatever else is read) to bound
memory; ``series`` stays the mean of all the parcel's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from sitsbench.data.readers.base import (
    DatasetFormatError,
    check_class_ids,
    check_increasing,
    load_json,
    load_npy,
    parse_yyyymmdd,
)

SCALE = 1e-4
DEFAULT_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
PSETAE_SUB_CLASSES = (1, 3, 4, 5, 6, 8, 9, 12, 13, 14, 16, 18, 19, 23, 28, 31, 33, 34, 36, 39)
"""The 20 ``label_44class`` ids of the PSE-TAE / L-TAE experiments (``sub_classes`` in their ``train.py``)."""
PARCEL_ID = "parcel_id"


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
    sub_classes: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    bands: Sequence[str] = DEFAULT_BANDS,
    ids: Sequence[int] | None = None,
    max_pixels: int | None = None,
    seed: int = 0,
) -> xr.Dataset:
    """The parcels ``ids`` (default: all) of a Pixel-Set folder as labelled samples with pixel sets."""
    root = Path(root)
    ids = parcel_ids(root) if ids is None else sorted(int(i) for i in ids)
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
    if not isinstance(all_labels, dict) or nomenclature not in all_labels:
        present = sorted(all_labels) if isinstance(all_labels, dict) else []
        raise DatasetFormatError(f"{labels_path}: no nomenclature {nomenclature!r} (present: {present})")
    missing = [pid for pid in ids if str(pid) not in all_labels[nomenclature]]
    if missing:
        raise DatasetFormatError(f"{labels_path}: no {nomenclature!r} label for parcel(s) {missing[:5]}")
    raw = [all_labels[nomenclature][str(pid)] for pid in ids]
    integral = [isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer() for v in raw]
    if not all(integral):
        bad = raw[integral.index(False)]
        raise DatasetFormatError(f"{labels_path}: {nomenclature!r} label {bad!r} is not an integer class id")
    parcel_labels = np.array(raw, dtype=np.float64).astype(np.int64)
    attrs = {"nomenclature": nomenclature}
    if sub_classes is not None:
        ids, parcel_labels, names = _apply_sub_classes(labels_path, ids, parcel_labels, sub_classes, class_names)
        attrs["sub_classes"] = [int(c) for c in sub_classes]
    else:
        names = list(class_names) if class_names is not None else [
            f"class_{k}" for k in range(int(parcel_labels.max()) + 1)
        ]
        check_class_ids(labels_path, parcel_labels, len(names))

    arrays = []
    for pid in ids:
        path = root / "DATA" / f"{pid}.npy"
        array = load_npy(path, "parcel array (T, C, S)", ndim=3, mmap=False)
        if array.shape[:2] != (len(times), len(bands)):
            raise DatasetFormatError(
                f"{path}: array has shape {array.shape}, expected ({len(times)}, {len(bands)}, S) "
                f"({len(times)} dates in dates.json, {len(bands)} bands)"
            )
        arrays.append(array.astype(np.float32) * np.float32(SCALE))
    pixels, pixel_mask, series = stack_pixel_sets(arrays, ids, max_pixels, seed)
    return pixel_set_samples(
        series, times, bands, parcel_labels, names, ids, pixels, pixel_mask, source=str(root), attrs=attrs
    )


def _apply_sub_classes(path: Path, ids: list[int], labels: np.ndarray, sub_classes, class_names):
    """Keep the parcels whose label is in ``sub_classes`` and renumber them by position, as ``PixelSetData``."""
    sub = [int(c) for c in sub_classes]
    if not sub or len(set(sub)) != len(sub):
        raise ValueError(f"sub_classes must be a non-empty list of distinct class ids, got {list(sub_classes)}")
    convert = {c: i for i, c in enumerate(sub)}
    keep = np.isin(labels, sub)
    if not keep.any():
        raise DatasetFormatError(f"{path}: no parcel has a label in sub_classes {sub}")
    if class_names is not None:
        if max(sub) >= len(class_names):
            raise ValueError(f"class_names has {len(class_names)} names but sub_classes holds id {max(sub)}")
        names = [str(class_names[c]) for c in sub]
    else:
        names = [f"class_{c}" for c in sub]
    kept_ids = [pid for pid, k in zip(ids, keep) if k]
    return kept_ids, np.array([convert[int(v)] for v in labels[keep]], dtype=np.int64), names


def stack_pixel_sets(
    arrays: Sequence[np.ndarray], ids: Sequence[int], max_pixels: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parcel arrays ``(T_i, C, S_i)`` as ``pixels`` ``(N, T, C, S)`` (NaN padding in time and pixels),
    ``pixel_mask`` ``(N, S)`` and ``series`` ``(N, T, C)``, the mean of each parcel's pixels (NaN without pixel).

    ``max_pixels`` keeps a seeded draw (seeded by ``seed`` and the parcel id) of at most that many pixels."""
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive number of pixels or None, got {max_pixels}")
    n = len(arrays)
    n_time = max(a.shape[0] for a in arrays)
    n_band = arrays[0].shape[1]
    sizes = [a.shape[2] if max_pixels is None else min(a.shape[2], max_pixels) for a in arrays]
    pixels = np.full((n, n_time, n_band, max(max(sizes), 1)), np.nan, dtype=np.float32)
    pixel_mask = np.zeros((n, pixels.shape[3]), dtype=bool)
    series = np.full((n, n_time, n_band), np.nan, dtype=np.float32)
    for k, (array, pid, size) in enumerate(zip(arrays, ids, sizes)):
        t = array.shape[0]
        if array.shape[2]:
            series[k, :t] = array.mean(axis=2, dtype=np.float64)
        if size < array.shape[2]:
            rng = np.random.default_rng([seed, int(pid)])
            array = array[:, :, np.sort(rng.choice(array.shape[2], size, replace=False))]
        pixels[k, :t, :, :size] = array
        pixel_mask[k, :size] = True
    return pixels, pixel_mask, series


def pixel_set_samples(
    series: np.ndarray,
    dates: np.ndarray,
    bands: Sequence[str],
    labels: np.ndarray,
    class_names: Sequence[str],
    ids: Sequence[int],
    pixels: np.ndarray,
    pixel_mask: np.ndarray,
    source: str,
    attrs: dict | None = None,
    split: np.ndarray | None = None,
    coords: dict[str, np.ndarray] | None = None,
) -> xr.Dataset:
    """Samples with pixel sets; ``group`` = the parcel ids, shifted to start at 1 when some id is 0 or less
    (the ids themselves are the ``parcel_id`` coordinate); ``coords`` adds other per-sample coordinates."""
    from sitsbench.data.samples import SAMPLE, make_samples

    ids = np.asarray(ids, dtype=np.int64)
    groups = ids if ids.min() > 0 else ids - ids.min() + 1
    samples = make_samples(
        series, dates, list(bands), labels, list(class_names), groups=groups, split=split, source=source,
        attrs=attrs, pixels=pixels, pixel_mask=pixel_mask,
    )
    extra = {PARCEL_ID: ids, **(coords or {})}
    return samples.assign_coords({name: (SAMPLE, np.asarray(values)) for name, values in extra.items()})
