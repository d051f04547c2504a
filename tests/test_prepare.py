"""The chapters' common start (:func:`sitsbench.data.prepare.prepare_pixels`) on a synthetic cube and on real
labelled samples (Victoria, Sentinel-2 pixel series with polygon ids)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sitsbench.data import cube as cube_format
from sitsbench.data import load_dataset
from sitsbench.data import samples as samples_format
from sitsbench.data.datasets import PixelSeriesDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.prepare import prepare_pixels
from sitsbench.data.splits import SPLITS, split_mask, split_parcels

VICTORIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "igarss2019_victoria_s2"


def test_a_cube_is_split_by_parcel_and_prepared_as_the_datasets_themselves(toy_cube):
    data = prepare_pixels(toy_cube, max_pixels={"train": 300}, fill="none", seed=2)
    split = split_parcels(toy_cube, seed=2)
    np.testing.assert_array_equal(data.split.values, split.values)
    stats = BandStats.from_cube(toy_cube, split_mask(split, "train"))
    np.testing.assert_array_equal(data.stats.mean, stats.mean)
    expected = PixelSeriesDataset(toy_cube, split, "train", stats, fill="none", max_pixels=300, seed=2)
    np.testing.assert_array_equal(data.pixels["train"].x, expected.x)
    assert set(data.pixels) == set(SPLITS) and len(data.pixels["train"]) == 300
    assert len(data.pixels["test"]) == int(split_mask(split, "test").sum())  # no cap: every test pixel
    assert data.samples is None and data.cube is toy_cube and data.split_name == "parcel (stratified, split seed 2)"
    assert data.n_classes == len(cube_format.class_names(toy_cube)) and data.n_bands == toy_cube.sizes[cube_format.BAND]


def test_every_class_retries_block_splits_until_each_subset_holds_every_class(default_cube):
    labels = np.asarray(default_cube[cube_format.CLASS].values)
    present = set(np.unique(labels[labels >= 0]).tolist())
    data = prepare_pixels(default_cube, split="block", block_size=48, subsets=("train", "test"), every_class=True,
                          max_pixels={"train": 50, "test": 50}, seed=0)
    for subset in ("train", "test"):
        assert set(np.unique(labels[split_mask(data.split, subset)]).tolist()) == present
    first_ok = next(seed for seed in range(50) if all(
        set(np.unique(labels[split_mask(split_parcels(default_cube, seed=seed, by="block", block_size=48), s)])
            .tolist()) == present for s in ("train", "test")))
    assert data.split_seed == first_ok and data.split_name.endswith(f"split seed {first_ok})")
    assert set(data.pixels) == {"train", "test"}


def test_bad_settings_are_named(toy_cube):
    with pytest.raises(ValueError, match="split must be one of"):
        prepare_pixels(toy_cube, split="random")
    with pytest.raises(ValueError, match=r"subsets \['dev'\] are not among"):
        prepare_pixels(toy_cube, subsets=("train", "dev"))
    with pytest.raises(ValueError, match="puts every class in every subset"):
        prepare_pixels(toy_cube.isel(x=slice(0, 8), y=slice(0, 8)), split="block", block_size=4, every_class=True)


@pytest.mark.skipif(not VICTORIA.is_dir(), reason=f"real sample {VICTORIA} absent (../shared/data not beside the clone)")
def test_real_samples_keep_a_group_split_and_standardise_with_training_statistics():
    loaded = load_dataset(str(VICTORIA))
    assert loaded.labelled is loaded.samples
    data = prepare_pixels(loaded.labelled, max_pixels={"train": 200}, subsets=("train", "test"), seed=0)
    samples = loaded.samples
    assert data.cube is None and data.samples is samples and data.split_name.startswith("group")
    groups = {s: set(np.asarray(samples[samples_format.GROUP].values)[samples_format.subset_mask(data.split, s)].tolist()) for s in SPLITS}
    assert not groups["train"] & groups["test"], "a polygon on both sides of the split"
    train = data.pixels["train"]
    assert len(train) == 200 and train.x.shape[1:] == (samples.sizes[samples_format.TIME], samples.sizes[samples_format.BAND])
    assert data.band_names == [str(b) for b in samples[samples_format.BAND].values] and data.n_classes == 8
    stats = BandStats.from_samples(samples, samples_format.subset_mask(data.split, "train"))
    np.testing.assert_allclose(data.stats.mean, stats.mean)
    with pytest.raises(ValueError, match="split_policy must be one of"):
        prepare_pixels(samples, split_policy="random")
