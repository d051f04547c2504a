"""Spatially separated train/val/test splits that never cut a parcel in two.

Neighbouring pixels of one parcel are nearly identical, so a pixel-level random split leaks: the test
pixels have near-copies in the training set and accuracy is inflated (Ploton et al. 2020; Karasiak et al.
2022). sitsbench therefore splits by *parcel* (stratified by class) or by *block* (parcels grouped by the
spatial block holding their centroid, which also keeps neighbouring parcels together).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format

SPLITS = ("train", "val", "test")
NO_SPLIT = -1


def allocate(n_items: int, fractions: np.ndarray) -> np.ndarray:
    """Share ``n_items`` out by ``fractions`` (largest remainders), e.g. 10 items by (0.6, 0.2, 0.2) -> 6, 2, 2."""
    exact = fractions * n_items
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts))[: n_items - counts.sum()]] += 1
    return counts


def subsample(count: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of at most ``limit`` of ``count`` items (all of them when ``limit`` is
    None or not smaller): the one way a dataset, an encoder input or a change task caps its pixels or samples."""
    if limit is None or count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, limit, replace=False))


def parcel_table(cube: xr.Dataset) -> dict[str, np.ndarray]:
    """Per-parcel ids, majority class, pixel count and centroid (row, col); parcels with id 0 excluded."""
    parcels = np.asarray(cube[cube_format.PARCEL].values).ravel()
    labels = np.asarray(cube[cube_format.CLASS].values).ravel()
    keep = parcels > 0
    ids, inverse, counts = np.unique(parcels[keep], return_inverse=True, return_counts=True)
    rows, cols = np.divmod(np.flatnonzero(keep), cube.sizes[cube_format.X])
    centroid = np.stack([np.bincount(inverse, rows) / counts, np.bincount(inverse, cols) / counts], axis=1)
    shifted = labels[keep] - cube_format.IGNORE_INDEX
    votes = np.zeros((ids.size, shifted.max() + 1 if shifted.size else 1), dtype=np.int64)
    np.add.at(votes, (inverse, shifted), 1)
    majority = votes.argmax(axis=1) + cube_format.IGNORE_INDEX
    return {"id": ids, "label": majority, "n_pixels": counts, "centroid": centroid}


def split_parcels(
    cube: xr.Dataset,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    by: str = "parcel",
    block_size: int = 32,
) -> xr.DataArray:
    """A ``(y, x)`` split map: 0 = train, 1 = val, 2 = test, -1 = no parcel or unlabelled.

    ``by="parcel"``: each class's parcels are shuffled and shared out by ``fractions`` (stratified).
    ``by="block"``: parcels are grouped by the ``block_size`` block holding their centroid and whole blocks
    are shared out, so that train and test parcels are also spatially apart.
    """
    fractions_array = np.asarray(fractions, dtype=float)
    if fractions_array.shape != (3,) or np.any(fractions_array < 0) or not np.isclose(fractions_array.sum(), 1):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    table = parcel_table(cube)
    rng = np.random.default_rng(seed)
    assignment = np.full(table["id"].size, NO_SPLIT, dtype=np.int8)
    labelled = table["label"] != cube_format.IGNORE_INDEX
    if by == "parcel":
        for label in np.unique(table["label"][labelled]):
            members = rng.permutation(np.flatnonzero(table["label"] == label))
            counts = allocate(members.size, fractions_array)
            assignment[members] = np.repeat(np.arange(3), counts)
    elif by == "block":
        block = (table["centroid"] // block_size).astype(int)
        block_id = block[:, 0] * (cube.sizes[cube_format.X] // block_size + 1) + block[:, 1]
        unique_blocks = rng.permutation(np.unique(block_id[labelled]))
        counts = allocate(unique_blocks.size, fractions_array)
        block_split = dict(zip(unique_blocks.tolist(), np.repeat(np.arange(3), counts).tolist()))
        for i in np.flatnonzero(labelled):
            assignment[i] = block_split[int(block_id[i])]
    else:
        raise ValueError(f"by must be 'parcel' or 'block', got {by!r}")
    lookup = np.full(int(np.asarray(cube[cube_format.PARCEL].values).max()) + 1, NO_SPLIT, dtype=np.int8)
    lookup[table["id"]] = assignment
    split = lookup[np.asarray(cube[cube_format.PARCEL].values)]
    split[np.asarray(cube[cube_format.CLASS].values) == cube_format.IGNORE_INDEX] = NO_SPLIT
    return xr.DataArray(split, dims=(cube_format.Y, cube_format.X), coords={cube_format.Y: cube[cube_format.Y], cube_format.X: cube[cube_format.X]}, name="split")


def split_mask(split: xr.DataArray, subset: str) -> np.ndarray:
    """Boolean ``(y, x)`` mask of the pixels of ``subset`` (``"train"``, ``"val"`` or ``"test"``)."""
    if subset not in SPLITS:
        raise ValueError(f"subset must be one of {SPLITS}, got {subset!r}")
    return np.asarray(split.values) == SPLITS.index(subset)


def labelled_area(cube: xr.Dataset) -> xr.Dataset:
    """``cube`` with its labels kept in the labelled area only (``region`` 1, the rest set to the unlabelled
    value) when it has a ``region`` layer, as the ``hard`` synthetic landscape has (its unlabelled and labelled
    areas differ in phenology); else ``cube`` itself."""
    if cube_format.REGION not in cube:
        return cube
    labels = cube[cube_format.CLASS].where(cube[cube_format.REGION] == 1, cube_format.IGNORE_INDEX).astype(cube[cube_format.CLASS].dtype)
    return cube.assign({cube_format.CLASS: labels})


def pretraining_columns(cube: xr.Dataset) -> slice:
    """The columns a self-supervised model pretrains on: the west half of a cube with a ``region`` layer (its
    unlabelled area: the parcels whose centre lies there), else every column."""
    return slice(0, cube.sizes[cube_format.X] // 2 if cube_format.REGION in cube else None)
