"""The chapters' common start: labelled data (a cube or samples) -> a split, training statistics, pixel series.

Every chapter that trains on pixel series does the same four steps, whatever its ``dataset`` parameter gives:

1. **split** — a labelled cube is split by parcel (stratified by class) or by spatial block
   (:func:`sitsbench.data.splits.split_parcels`); labelled samples keep their published split when it does not
   leak groups across subsets, else they are split by group (:func:`sitsbench.data.samples.choose_split_policy`);
2. **statistics** of the training subset only (:class:`~sitsbench.data.normalize.BandStats`);
3. **datasets** of standardised pixel series per subset, each capped at a seeded sample
   (:class:`~sitsbench.data.datasets.PixelSeriesDataset` or
   :class:`~sitsbench.data.datasets.SampleSeriesDataset`: the same items either way);
4. the **names** of the classes and bands.

>>> loaded = load_dataset("victoria-s2")
>>> data = prepare_pixels(loaded.labelled, split="block", max_pixels={"train": 2000}, seed=0)
>>> data.split_name, {subset: len(d) for subset, d in data.pixels.items()}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format
from sitsbench.data import samples as samples_format
from sitsbench.data.datasets import PixelSeriesDataset, SampleSeriesDataset, sample_datasets
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import SPLITS, split_mask, split_parcels

CUBE_SPLITS = ("parcel", "block")
SPLIT_POLICIES = ("auto", "predefined", "group")
SPLIT_ATTEMPTS = 50  # split seeds tried when every class must be in every subset


@dataclass
class PreparedPixels:
    """What :func:`prepare_pixels` returns. ``cube`` or ``samples`` is the data it split (the other is None);
    ``split`` is a map (cube) or a code per sample; ``split_name`` says how it was made, for a chapter's reader."""

    cube: xr.Dataset | None
    samples: xr.Dataset | None
    split: xr.DataArray | np.ndarray
    split_name: str
    split_seed: int
    stats: BandStats
    pixels: dict[str, PixelSeriesDataset | SampleSeriesDataset]
    class_names: list[str]
    band_names: list[str]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_bands(self) -> int:
        return len(self.band_names)


def prepare_pixels(
    data: xr.Dataset,
    *,
    split: str = "parcel",
    block_size: int = 32,
    split_policy: str = "auto",
    subsets: Sequence[str] = SPLITS,
    max_pixels: Mapping[str, int | None] | None = None,
    fill: str = "linear",
    every_class: bool = False,
    seed: int = 0,
) -> PreparedPixels:
    """Split ``data`` (a labelled cube or labelled samples), compute the training statistics and make one dataset of
    pixel series per subset of ``subsets``, capped at ``max_pixels[subset]`` (a seeded sample; None: all).

    ``split`` (``"parcel"`` or ``"block"`` of ``block_size`` pixels) applies to a cube, ``split_policy`` (``"auto"``,
    ``"predefined"`` or ``"group"``) to samples. ``every_class`` retries the cube's split with the next seeds (up
    to :data:`SPLIT_ATTEMPTS`) until each of ``subsets`` holds every labelled class, as a model scored per class
    needs; ``fill`` is the gap filling of the datasets (``"linear"`` or ``"none"``).
    """
    max_pixels = dict(max_pixels or {})
    unknown = sorted(set(subsets) - set(SPLITS))
    if unknown:
        raise ValueError(f"subsets {unknown} are not among {SPLITS}")
    if samples_format.is_samples(data):
        return _prepare_samples(data, split_policy, tuple(subsets), max_pixels, fill, seed)
    if split not in CUBE_SPLITS:
        raise ValueError(f"split must be one of {CUBE_SPLITS}, got {split!r}")
    labels = np.asarray(data[cube_format.CLASS].values)
    present = set(np.unique(labels[labels >= 0]).tolist())
    kind = {"by": "block", "block_size": block_size} if split == "block" else {}
    for split_seed in range(seed, seed + (SPLIT_ATTEMPTS if every_class else 1)):
        split_map = split_parcels(data, seed=split_seed, **kind)
        if not every_class or all(set(np.unique(labels[split_mask(split_map, s)]).tolist()) == present
                                  for s in subsets):
            break
    else:
        raise ValueError(f"no {split} split of {SPLIT_ATTEMPTS} seeds puts every class in every subset of "
                         f"{tuple(subsets)}: use a larger landscape or a smaller block_size")
    how = "stratified" if split == "parcel" else f"{block_size} px blocks"
    stats = BandStats.from_cube(data, split_mask(split_map, "train"))
    pixels = {subset: PixelSeriesDataset(data, split_map, subset, stats, fill=fill, max_pixels=max_pixels.get(subset),
                                         seed=seed) for subset in subsets}
    return PreparedPixels(data, None, split_map, f"{split} ({how}, split seed {split_seed})", split_seed, stats, pixels,
                          cube_format.class_names(data), [str(b) for b in data[cube_format.BAND].values])


def _prepare_samples(samples: xr.Dataset, policy: str, subsets: tuple[str, ...], max_pixels: dict, fill: str,
                     seed: int) -> PreparedPixels:
    if policy not in SPLIT_POLICIES:
        raise ValueError(f"split_policy must be one of {SPLIT_POLICIES}, got {policy!r}")
    policy, why = samples_format.choose_split_policy(samples) if policy == "auto" else (policy, "chosen by the caller")
    codes = samples_format.split_samples(samples, policy, seed=seed)
    pixels, stats = sample_datasets(samples, codes, subsets=subsets, max_samples=max_pixels, fill=fill, seed=seed)
    return PreparedPixels(None, samples, codes, f"{policy} ({why})", seed, stats, pixels, samples_format.class_names(samples),
                          list(stats.bands))
