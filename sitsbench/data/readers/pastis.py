"""PASTIS reader: Sentinel-2 patches of 128 × 128 px with semantic and instance labels.

Garnot & Landrieu, "Panoptic Segmentation of Satellite Image Time Series with Convolutional Temporal
Attention Networks", ICCV 2021. Layout of the published archive (official loader:
``VSainteuf/pastis-benchmark`` ``code/dataloader.py``)::

    metadata.geojson                      one feature per patch: ID_PATCH, Fold (1-5), dates-S2 {"0": YYYYMMDD, ...}
    DATA_S2/S2_{id}.npy                   (T, 10, H, W) integer reflectance x 1e4, bands B2-B8, B8A, B11, B12
    ANNOTATIONS/TARGET_{id}.npy           (3, H, W); channel 0 = semantic class 0-19 (0 background, 19 void)
    ANNOTATIONS/ParcelIDs_{id}.npy        (H, W) parcel identifiers, 0 = no parcel (optional here)
    INSTANCE_ANNOTATIONS/INSTANCES_{id}.npy  (H, W) per-patch instance codes, 0 = none (optional here)
    PASTIS-R only: DATA_S1A/S1A_{id}.npy, DATA_S1D/S1D_{id}.npy (T1, C1, H, W) Sentinel-1 ascending /
    descending, with dates-S1A / dates-S1D in metadata.geojson

The date tables (``dates-S2``, ``dates-S1A``, ``dates-S1D``) are accepted as JSON objects or as JSON
*strings* holding the object, as the official loader does (``if type(date_seq) == str: date_seq =
json.loads(date_seq)``, ``code/dataloader.py`` lines 119-121): a ``metadata.geojson`` re-written through
fiona/geopandas stores nested properties as strings.

Each patch becomes one cube. PASTIS ships no cloud mask, so ``valid`` is True wherever the values are
finite. Only channel 0 of ``TARGET`` is used (``target[0]``, official loader line 203). The void label 19
becomes ``-1`` (ignored), so ``class_names`` lists the 19 classes 0-18, background included: the official
training script scores 20 classes with ``ignore_index=-1``, i.e. drops the last one, void (``utae-paps``
``train_semantic.py`` lines 92-93, 217-219, 309-310). The official 5-fold rotations are in
:data:`FOLD_ROTATIONS` (``train_semantic.py`` lines 231-237) and each cube carries its ``fold`` attribute.
With ``lazy=True`` the reflectance is a dask array: one delayed ``np.load`` per patch.

The ``parcel`` layer holds ``ParcelIDs`` where the semantic class is not background, the official instance
definition (``instance = instance * (semantic[0] != 0)``, ``code/centerness_ground_truth.py`` lines 73-75,
from which the per-patch ``INSTANCES`` codes are derived); ``ParcelIDs`` keep the dataset's own parcel ids,
so a parcel has the same id in every patch. Without ``ParcelIDs`` the ``INSTANCES`` codes are used, and
without either the layer is 0. ``attrs["parcel_source"]`` says which file it came from.

PASTIS-R: ``s1="S1A"`` or ``"S1D"`` adds the ``backscatter`` variable ``(time_s1, band_s1, y, x)`` of that
orbit, values as stored. The meaning and unit of the Sentinel-1 channels are not checked here (IGN's
PASTIS-HD card describes them as VV, VH and the VV/VH ratio), so the channels are named ``S1_0``, ``S1_1``,
... unless ``s1_bands`` gives their names. The parcel pixel-set version of PASTIS-R is read by
:mod:`sitsbench.data.readers.pastis_r_pixelset`.
"""

from __future__ import annotations

import json
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format
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
BANDS = cube_format.S2_BANDS
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


def parse_date_table(path: str | Path, table, what: str) -> np.ndarray:
    """A PASTIS date table ``{"0": YYYYMMDD, "1": ...}`` (a mapping or a JSON string of one) as increasing
    ``datetime64[D]`` dates, ordered by their integer keys."""
    if isinstance(table, str):
        try:
            table = json.loads(table)
        except json.JSONDecodeError as error:
            raise DatasetFormatError(f"{path}: {what} is a string but not JSON ({error}); expected "
                                     '{"0": YYYYMMDD, ...} or its JSON text') from error
    if not isinstance(table, dict) or not table:
        raise DatasetFormatError(f"{path}: {what} must map '0', '1', ... to YYYYMMDD (a JSON object or its "
                                 f"JSON text), got {type(table).__name__}")
    keys = [str(k) for k in table]
    if not all(k.isdigit() for k in keys):
        bad = next(k for k in keys if not k.isdigit())
        raise DatasetFormatError(f"{path}: {what} has key {bad!r}; expected '0', '1', ... (date positions)")
    values = [table[k] for k in sorted(table, key=int)]
    times = parse_yyyymmdd(path, values, what)
    check_increasing(path, times, what)
    return times


def patch_properties(root: str | Path, required: tuple[str, ...]) -> tuple[Path, list[dict]]:
    """The path of ``metadata.geojson`` and the properties of its features, each checked for ``required`` keys."""
    path = Path(root) / "metadata.geojson"
    collection = load_json(path, "a GeoJSON FeatureCollection with one feature per patch")
    if not isinstance(collection, dict) or not isinstance(collection.get("features"), list):
        raise DatasetFormatError(f"{path}: expected a FeatureCollection with a 'features' list")
    properties = []
    for i, feature in enumerate(collection["features"]):
        props = feature.get("properties") or {}
        missing = [key for key in required if key not in props]
        if missing:
            raise DatasetFormatError(f"{path}: feature {i} lacks properties {missing}")
        properties.append(props)
    return path, properties


def read_metadata(root: str | Path) -> dict[int, dict]:
    """``{patch id: {"fold": int, "dates": datetime64[D] array, "dates-S1A"/"dates-S1D": ... if present}}``."""
    path, properties = patch_properties(root, ("ID_PATCH", "Fold", "dates-S2"))
    patches = {}
    for props in properties:
        pid = int(props["ID_PATCH"])
        times = parse_date_table(path, props["dates-S2"], f"dates-S2 of patch {pid}")
        fold = int(props["Fold"])
        if fold not in range(1, 6):
            raise DatasetFormatError(f"{path}: patch {pid} has Fold {fold}, expected 1-5")
        if pid in patches:
            raise DatasetFormatError(f"{path}: ID_PATCH {pid} appears twice")
        patches[pid] = {"fold": fold, "dates": times}
        for orbit in S1_ORBITS:
            if props.get(f"dates-{orbit}") is not None:
                what = f"dates-{orbit} of patch {pid}"
                patches[pid][f"dates-{orbit}"] = parse_date_table(path, props[f"dates-{orbit}"], what)
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
    labels = np.where(semantic == VOID_LABEL, np.int16(cube_format.IGNORE_INDEX), semantic)
    parcels, parcel_source = _parcel_layer(root, patch_id, semantic, (height, width))
    cube = assemble_cube(
        reflectance, times, list(BANDS), valid, labels, parcels, list(CLASS_NAMES), source=str(s2_path),
        extra={"attrs": {"fold": metadata[patch_id]["fold"], "patch_id": int(patch_id), "parcel_source": parcel_source}},
    )
    if s1 is not None:
        cube = _with_s1(root, patch_id, metadata[patch_id], s1, s1_bands, (height, width), cube)
    return cube


def _parcel_layer(root: Path, patch_id: int, semantic: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """``ParcelIDs`` off the background (official instance definition), else ``INSTANCES``, else zeros."""
    ids_path = root / "ANNOTATIONS" / f"ParcelIDs_{patch_id}.npy"
    if ids_path.exists():
        ids = _integer_ids(ids_path, load_npy(ids_path, "parcel ids (H, W)", ndim=2, mmap=False), size)
        return np.where(semantic != 0, ids, 0), "ParcelIDs"
    instances_path = root / "INSTANCE_ANNOTATIONS" / f"INSTANCES_{patch_id}.npy"
    if instances_path.exists():
        instances = load_npy(instances_path, "instance codes (H, W)", ndim=2, mmap=False)
        return _integer_ids(instances_path, instances, size), "INSTANCES"
    return np.zeros(size, dtype=np.int64), "none"


def _integer_ids(path: Path, array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    check_shape(path, array, size, "H x W like the S2 series")
    if not np.issubdtype(array.dtype, np.integer):
        floating = np.issubdtype(array.dtype, np.floating)
        if not (floating and np.isfinite(array).all() and (array == np.round(array)).all()):
            raise DatasetFormatError(f"{path}: dtype {array.dtype} with non-integer values, expected integer ids")
    ids = array.astype(np.int64)
    if ids.size and ids.min() < 0:
        raise DatasetFormatError(f"{path}: negative parcel id {int(ids.min())}; expected ids >= 0 (0 = no parcel)")
    return ids


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
        array.astype(np.float32), dims=(cube_format.TIME_S1, cube_format.BAND_S1, cube_format.Y, cube_format.X),
        coords={cube_format.TIME_S1: times.astype("datetime64[ns]"), cube_format.BAND_S1: names},
    )
    return cube.assign({cube_format.BACKSCATTER: backscatter}).assign_attrs(s1_orbit=orbit)


def read_pastis(root: str | Path, folds: tuple[int, ...] | None = None, lazy: bool = True) -> dict[int, xr.Dataset]:
    """All patches (or those of ``folds``) as ``{patch id: cube}``; patches have different dates."""
    metadata = read_metadata(root)
    wanted = sorted(pid for pid, m in metadata.items() if folds is None or m["fold"] in folds)
    return {pid: read_patch(root, pid, metadata, lazy=lazy) for pid in wanted}


def _load_reflectance(path: Path) -> np.ndarray:
    array = load_npy(path, "Sentinel-2 series (T, C, H, W)", ndim=4, mmap=False)
    return array.astype(np.float32) * np.float32(SCALE)


PARCEL_PIXELS = 64
"""Pixels kept per parcel by :meth:`PatchCollection.parcel_samples` (a seeded draw): PSE-TAE draws
``S = 64`` pixels of each parcel (Garnot et al., CVPR 2020, section 4.1)."""
CROP_CLASS_NAMES = CLASS_NAMES[1:]
"""The 18 crop types: class ``k`` of a crop-type cube or of parcel samples is PASTIS label ``k + 1`` (as in
the PASTIS-R pixel sets, :mod:`sitsbench.data.readers.pastis_r_pixelset`)."""


class PatchCollection:
    """A PASTIS / PASTIS-R patch set, read lazily: ``metadata.geojson`` is parsed once, a patch's cube is read
    when asked for (its reflectance a dask array), and each patch keeps its own dates.

    ``rotation`` (0-4) picks the official fold rotation (:data:`FOLD_ROTATIONS`; 0 = folds 1-3 train, 4 val, 5
    test) that :meth:`subset_ids`, :meth:`cubes` and :meth:`parcel_samples` split by. ``background=False``
    gives crop-type cubes (:meth:`crop_types`): the background class becomes ``-1`` (ignored) and class ``k``
    is PASTIS label ``k + 1``, the classes of :meth:`parcel_samples`, so patch and parcel models are scored on
    the same 18 classes; the official semantic segmentation scores the background as a class
    (``background=True``, the reader's default).
    """

    def __init__(self, root: str | Path, rotation: int = 0):
        if rotation not in range(len(FOLD_ROTATIONS)):
            raise ValueError(f"rotation must be 0-{len(FOLD_ROTATIONS) - 1}, got {rotation}")
        self.root, self.rotation = Path(root), rotation
        self.metadata = read_metadata(self.root)
        if not self.metadata:
            raise DatasetFormatError(f"{self.root / 'metadata.geojson'}: no patch (the 'features' list is empty)")

    @property
    def ids(self) -> list[int]:
        return sorted(self.metadata)

    def __len__(self) -> int:
        return len(self.metadata)

    def subset_ids(self, subset: str) -> list[int]:
        """Patch ids of ``subset`` (``train``, ``val`` or ``test``) in the collection's rotation."""
        folds = fold_patches(self.metadata, self.rotation)
        if subset not in folds:
            raise ValueError(f"subset must be one of {sorted(folds)}, got {subset!r}")
        return folds[subset]

    def patch(self, patch_id: int, background: bool = True) -> xr.Dataset:
        """The cube of one patch (lazy reflectance); crop types only with ``background=False``."""
        cube = read_patch(self.root, patch_id, self.metadata, lazy=True)
        return cube if background else crop_types(cube)

    def cubes(self, subset: str, background: bool = True) -> list[xr.Dataset]:
        """The cubes of the patches of ``subset``, in patch-id order."""
        return [self.patch(pid, background) for pid in self.subset_ids(subset)]

    def parcel_samples(self, max_pixels: int | None = PARCEL_PIXELS, seed: int = 0) -> xr.Dataset:
        """One labelled sample per parcel of every patch, with its pixel set (PSE-TAE) and the predefined split
        of the rotation from its patch's fold. A parcel is a ``parcel`` id of the patch's cube (official
        instances: ``ParcelIDs`` off the background); its label is the majority crop type of its labelled
        pixels (``-1`` when all are void), its dates its patch's, its ``group`` its patch (the folds split
        patches, so no group straddles two subsets); ``parcel_id`` and ``patch_id`` keep the dataset's ids. Every
        patch is read (eagerly, one at a time); ``max_pixels`` bounds the pixels kept per parcel (a seeded draw).
        The pixel sets take ``parcels x longest series x 10 bands x max_pixels`` float32: for the whole of PASTIS
        (124,422 parcels, up to 61 dates; Garnot & Landrieu 2021) about 19 GB at 64 pixels, so a laptop reads a
        subset of its patches (a folder holding some of them, with their ``metadata.geojson`` features)."""
        from sitsbench.data.readers.pixelset import pixel_set_samples, stack_pixel_sets
        from sitsbench.data.samples import GROUP, SAMPLE

        arrays, dates, labels, parcel_ids, patch_ids, folds = [], [], [], [], [], []
        for pid in self.ids:
            cube = self.patch(pid, background=False)
            values = np.asarray(cube[cube_format.REFLECTANCE].values)  # (T, C, H, W)
            classes = np.asarray(cube[cube_format.CLASS].values)
            parcels = np.asarray(cube[cube_format.PARCEL].values)
            for parcel in np.unique(parcels[parcels > 0]):
                rows, cols = np.nonzero(parcels == parcel)
                known = classes[rows, cols][classes[rows, cols] >= 0]
                arrays.append(values[:, :, rows, cols])
                labels.append(int(np.bincount(known).argmax()) if known.size else -1)
                dates.append(self.metadata[pid]["dates"])
                parcel_ids.append(int(parcel))
                patch_ids.append(pid)
                folds.append(self.metadata[pid]["fold"])
        if not arrays:
            raise DatasetFormatError(f"{self.root}: no parcel in any patch (ANNOTATIONS/ParcelIDs_* or "
                                     "INSTANCE_ANNOTATIONS/INSTANCES_* hold no id off the background)")
        keys = np.arange(1, len(arrays) + 1)  # parcel ids repeat across patches: draw pixels per sample
        pixels, pixel_mask, series = stack_pixel_sets(arrays, keys, max_pixels, seed)
        date_table = np.full((len(arrays), pixels.shape[1]), np.datetime64("NaT"), dtype="datetime64[ns]")
        for k, times in enumerate(dates):
            date_table[k, : times.size] = times
        train, val, test = FOLD_ROTATIONS[self.rotation]
        fold = np.asarray(folds)
        split = np.select([np.isin(fold, train), fold == val, fold == test], [0, 1, 2], -1).astype(np.int8)
        samples = pixel_set_samples(
            series, date_table, list(BANDS), np.asarray(labels), CROP_CLASS_NAMES, parcel_ids, pixels, pixel_mask,
            source=str(self.root), split=split, coords={"patch_id": np.asarray(patch_ids), "fold": fold},
            attrs={"dataset": "PASTIS patches (parcels)", "rotation": self.rotation + 1},
        )
        return samples.assign({GROUP: (SAMPLE, np.asarray(patch_ids, dtype=np.int64))})

    def describe(self) -> dict:
        """Patches per fold and per subset of the rotation, dates, bands and classes (``sitsbench data info``)."""
        starts = [m["dates"][0] for m in self.metadata.values()]
        ends = [m["dates"][-1] for m in self.metadata.values()]
        counts = [m["dates"].size for m in self.metadata.values()]
        folds = [m["fold"] for m in self.metadata.values()]
        train, val, test = FOLD_ROTATIONS[self.rotation]
        return {
            "patches": len(self),
            "folds": {f"fold {f}": folds.count(f) for f in range(1, 6)},
            f"rotation {self.rotation + 1}": {f"train (folds {', '.join(map(str, train))})": len(self.subset_ids("train")),
                                             f"val (fold {val})": len(self.subset_ids("val")),
                                             f"test (fold {test})": len(self.subset_ids("test"))},
            "dates": f"{min(counts)}-{max(counts)} per patch, {str(min(starts))[:10]} to {str(max(ends))[:10]}",
            "bands": list(BANDS),
            "classes": list(CLASS_NAMES) + [f"void ({VOID_LABEL}, ignored)"],
            "sentinel-1": [o for o in S1_ORBITS if any(f"dates-{o}" in m for m in self.metadata.values())] or "none",
        }


def crop_types(cube: xr.Dataset) -> xr.Dataset:
    """A patch cube with crop-type classes only: background (0) becomes ``-1`` (ignored), class ``k`` becomes
    ``k - 1`` (:data:`CROP_CLASS_NAMES`)."""
    classes = cube[cube_format.CLASS]
    shifted = xr.where(classes > 0, classes - 1, cube_format.IGNORE_INDEX).astype(classes.dtype)
    return cube.assign({cube_format.CLASS: shifted}).assign_attrs(class_names=list(CROP_CLASS_NAMES))
