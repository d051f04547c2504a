"""PASTIS reader: Sentinel-2 patches of 128 × 128 px with semantic and instance labels.

Garnot & Landrieu, "Panoptic Segmentation of Satellite Image Time Series with Convolutional Temporal
Attention Networks", ICCV 2021. Layout of the published archive::

    metadata.geojson                      one feature per patch: ID_PATCH, Fold (1-5), dates-S2 {"0": YYYYMMDD, ...}
    DATA_S2/S2_{id}.npy                   (T, 10, H, W) integer reflectance x 1e4, bands B2-B8, B8A, B11, B12
    ANNOTATIONS/TARGET_{id}.npy           (3, H, W); channel 0 = semantic class 0-19 (0 background, 19 void)
    INSTANCE_ANNOTATIONS/INSTANCES_{id}.npy  (H, W) parcel ids, 0 = no parcel (optional here)
    PASTIS-R only: DATA_S1A/S1A_{id}.npy, DATA_S1D/S1D_{id}.npy (T1, C1, H, W) Sentinel-1 ascending /
    descending, with dates-S1A / dates-S1D in metadata.geojson

Each patch becomes one cube. PASTIS ships no cloud mask, so ``valid`` is True wherever the values are
finite. The void label 19 becomes ``-1`` (ignored), so ``class_names`` lists the 19 classes 0-18; the
official 5-fold rotations are in :data:`FOLD_ROTATIONS` and each cube carries its ``fold`` attribute.
With ``lazy=True`` the reflectance is a dask array: one delayed ``np.load`` per patch.

PASTIS-R: ``s1="S1A"`` or ``"S1D"`` adds the ``backscatter`` variable ``(time_s1, band_s1, y, x)`` of that
orbit, values as stored. The meaning and unit of the Sentinel-1 channels are not checked here, so the
channels are named ``S1_0``, ``S1_1``, ... unless ``s1_bands`` gives their names.
"""

from __future__ import annotations

from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr

from sitsbench.data import cube as C
from sitsbench.data.readers.base import (
    DatasetFormatError,
    assemble_cube,
    check_class_ids,
    check_increasing,
    check_shape,
    load_json,
    load_npy,
    parse_yyyymmdd,
)

CLASS_NAMES = (
    "Background", "Meadow", "Soft winter wheat", "Corn", "Winter barley", "Winter rapeseed", "Spring barley",
    "Sunflower", "Grapevine", "Beet", "Winter triticale", "Winter durum wheat", "Fruits, vegetables, flowers",
    "Potatoes", "Leguminous fodder", "Soybeans", "Orchard", "Mixed cereal", "Sorghum",
)
VOID_LABEL = 19
BANDS = C.S2_BANDS
S1_ORBITS = ("S1A", "S1D")
SCALE = 1e-4
FOLD_ROTATIONS = (
    ((1, 2, 3), 4, 5),
    ((2, 3, 4), 5, 1),
    ((3, 4, 5), 1, 2),
    ((4, 5, 1), 2, 3),
    ((5, 1, 2), 3, 4),
)
"""The official (train folds, validation fold, test fold) rotations of the PASTIS benchmark."""


def read_metadata(root: str | Path) -> dict[int, dict]:
    """``{patch id: {"fold": int, "dates": datetime64[D] array, "dates-S1A"/"dates-S1D": ... if present}}``."""
    path = Path(root) / "metadata.geojson"
    collection = load_json(path, "a GeoJSON FeatureCollection with one feature per patch")
    if not isinstance(collection, dict) or not isinstance(collection.get("features"), list):
        raise DatasetFormatError(f"{path}: expected a FeatureCollection with a 'features' list")
    patches = {}
    for i, feature in enumerate(collection["features"]):
        props = feature.get("properties") or {}
        missing = [key for key in ("ID_PATCH", "Fold", "dates-S2") if key not in props]
        if missing:
            raise DatasetFormatError(f"{path}: feature {i} lacks properties {missing}")
        dates = props["dates-S2"]
        if not isinstance(dates, dict):
            raise DatasetFormatError(f"{path}: feature {i} 'dates-S2' must map '0', '1', ... to YYYYMMDD")
        times = parse_yyyymmdd(path, [dates[k] for k in sorted(dates, key=int)], f"dates-S2 of patch {props['ID_PATCH']}")
        check_increasing(path, times, f"dates-S2 of patch {props['ID_PATCH']}")
        fold = int(props["Fold"])
        if fold not in range(1, 6):
            raise DatasetFormatError(f"{path}: patch {props['ID_PATCH']} has Fold {fold}, expected 1-5")
        patches[int(props["ID_PATCH"])] = {"fold": fold, "dates": times}
        for orbit in S1_ORBITS:
            if isinstance(props.get(f"dates-{orbit}"), dict):
                table = props[f"dates-{orbit}"]
                what = f"dates-{orbit} of patch {props['ID_PATCH']}"
                s1_times = parse_yyyymmdd(path, [table[k] for k in sorted(table, key=int)], what)
                check_increasing(path, s1_times, what)
                patches[int(props["ID_PATCH"])][f"dates-{orbit}"] = s1_times
    return patches


def fold_patches(metadata: dict[int, dict], rotation: int) -> dict[str, list[int]]:
    """Patch ids of the train / val / test sets of official rotation ``rotation`` (0-4)."""
    if rotation not in range(len(FOLD_ROTATIONS)):
        raise ValueError(f"rotation must be 0-{len(FOLD_ROTATIONS) - 1}, got {rotation}")
    train, val, test = FOLD_ROTATIONS[rotation]
    return {
        subset: sorted(pid for pid, m in metadata.items() if m["fold"] in folds)
        for subset, folds in (("train", train), ("val", (val,)), ("test", (test,)))
    }


def read_patch(
    root: str | Path,
    patch_id: int,
    metadata: dict[int, dict] | None = None,
    lazy: bool = True,
    s1: str | None = None,
    s1_bands: tuple[str, ...] | None = None,
) -> xr.Dataset:
    """One PASTIS patch as a cube (reflectance lazy by default); ``s1`` adds a PASTIS-R orbit."""
    root = Path(root)
    metadata = read_metadata(root) if metadata is None else metadata
    if patch_id not in metadata:
        raise DatasetFormatError(f"{root / 'metadata.geojson'}: no feature with ID_PATCH {patch_id}")
    times = metadata[patch_id]["dates"]
    s2_path = root / "DATA_S2" / f"S2_{patch_id}.npy"
    header = load_npy(s2_path, "Sentinel-2 series (T, C, H, W)", ndim=4, mmap=True)
    check_shape(s2_path, header, (len(times), len(BANDS), None, None), "T dates from metadata.geojson x 10 bands x H x W")
    _, _, height, width = header.shape
    if lazy:
        loaded = dask.delayed(_load_reflectance)(s2_path)
        reflectance = da.from_delayed(loaded, shape=header.shape, dtype=np.float32)
        valid = da.isfinite(reflectance).all(axis=1)
    else:
        reflectance = _load_reflectance(s2_path)
        valid = np.isfinite(reflectance).all(axis=1)
    target_path = root / "ANNOTATIONS" / f"TARGET_{patch_id}.npy"
    target = load_npy(target_path, "semantic target (3, H, W)", ndim=3, mmap=False)
    check_shape(target_path, target, (3, height, width), "3 x H x W like the S2 series")
    check_class_ids(target_path, target[0], len(CLASS_NAMES), allowed_extra=(VOID_LABEL,))
    semantic = target[0].astype(np.int16)
    labels = np.where(semantic == VOID_LABEL, np.int16(C.IGNORE_INDEX), semantic)
    instances_path = root / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{patch_id}.npy"
    parcels = np.zeros((height, width), dtype=np.int32)
    if instances_path.exists():
        instances = load_npy(instances_path, "parcel ids (H, W)", ndim=2, mmap=False)
        check_shape(instances_path, instances, (height, width), "H x W like the S2 series")
        parcels = instances.astype(np.int32)
    cube = assemble_cube(
        reflectance, times, list(BANDS), valid, labels, parcels, list(CLASS_NAMES), source=str(s2_path),
        extra={"attrs": {"fold": metadata[patch_id]["fold"], "patch_id": int(patch_id)}},
    )
    if s1 is not None:
        cube = _with_s1(root, patch_id, metadata[patch_id], s1, s1_bands, (height, width), cube)
    return cube


def _with_s1(root: Path, patch_id: int, meta: dict, orbit: str, names, size: tuple[int, int], cube: xr.Dataset):
    if orbit not in S1_ORBITS:
        raise ValueError(f"s1 must be one of {S1_ORBITS}, got {orbit!r}")
    if f"dates-{orbit}" not in meta:
        raise DatasetFormatError(f"{root / 'metadata.geojson'}: patch {patch_id} has no 'dates-{orbit}' (PASTIS-R only)")
    times = meta[f"dates-{orbit}"]
    path = root / f"DATA_{orbit}" / f"{orbit}_{patch_id}.npy"
    array = load_npy(path, f"Sentinel-1 {orbit} series (T, C, H, W)", ndim=4, mmap=False)
    check_shape(path, array, (len(times), None, *size), f"T dates from dates-{orbit} x C x H x W like the S2 series")
    names = list(names) if names is not None else [f"S1_{k}" for k in range(array.shape[1])]
    if len(names) != array.shape[1]:
        raise DatasetFormatError(f"{path}: {array.shape[1]} channels but {len(names)} names given in s1_bands")
    backscatter = xr.DataArray(
        array.astype(np.float32), dims=(C.TIME_S1, C.BAND_S1, C.Y, C.X),
        coords={C.TIME_S1: times.astype("datetime64[ns]"), C.BAND_S1: names},
    )
    return cube.assign({C.BACKSCATTER: backscatter}).assign_attrs(s1_orbit=orbit)


def read_pastis(root: str | Path, folds: tuple[int, ...] | None = None, lazy: bool = True) -> dict[int, xr.Dataset]:
    """All patches (or those of ``folds``) as ``{patch id: cube}``; patches have different dates."""
    metadata = read_metadata(root)
    wanted = sorted(pid for pid, m in metadata.items() if folds is None or m["fold"] in folds)
    return {pid: read_patch(root, pid, metadata, lazy=lazy) for pid in wanted}


def _load_reflectance(path: Path) -> np.ndarray:
    array = load_npy(path, "Sentinel-2 series (T, C, H, W)", ndim=4, mmap=False)
    return array.astype(np.float32) * np.float32(SCALE)
