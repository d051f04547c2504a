import numpy as np
import pytest
import torch

from sitsbench.data import cube as cube_format
from sitsbench.data.datasets import ParcelSeriesDataset, PatchDataset, PixelSeriesDataset, pad_collate
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import SPLITS, parcel_table, split_mask, split_parcels, subsample


@pytest.mark.parametrize("by", ["parcel", "block"])
def test_splits_never_share_a_parcel_and_are_deterministic(default_cube, by):
    split = split_parcels(default_cube, seed=1, by=by)
    parcels = default_cube.parcel.values
    sets = [set(np.unique(parcels[split_mask(split, name)])) for name in SPLITS]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sum(len(s) for s in sets) == len(np.unique(parcels))
    np.testing.assert_array_equal(split.values, split_parcels(default_cube, seed=1, by=by).values)
    assert not np.array_equal(split.values, split_parcels(default_cube, seed=2, by=by).values)


def test_parcel_split_is_stratified(default_cube):
    split = split_parcels(default_cube, fractions=(0.6, 0.2, 0.2), seed=0)
    table = parcel_table(default_cube)
    split_of_parcel = {pid: split.values[default_cube.parcel.values == pid][0] for pid in table["id"]}
    for label in np.unique(table["label"]):
        members = table["id"][table["label"] == label]
        counts = np.bincount([split_of_parcel[p] for p in members], minlength=3)
        expected = 0.6 * members.size
        assert abs(counts[0] - expected) <= 1
    with pytest.raises(ValueError, match="summing to 1"):
        split_parcels(default_cube, fractions=(0.5, 0.2, 0.2))


def test_band_stats_use_only_training_clear_observations(toy_cube):
    split = split_parcels(toy_cube, seed=0)
    train = split_mask(split, "train")
    stats = BandStats.from_cube(toy_cube, train)
    poisoned = toy_cube.copy(deep=True)
    poisoned["reflectance"].values[:, :, ~train] = 100.0
    poisoned["reflectance"].values[~poisoned.valid.values[:, None].repeat(10, 1)] = -100.0
    again = BandStats.from_cube(poisoned, train)
    np.testing.assert_allclose(stats.mean, again.mean)
    np.testing.assert_allclose(stats.high, again.high)
    rows, cols = np.nonzero(train)
    clear = toy_cube.reflectance.values[:, :, rows, cols].transpose(0, 2, 1)[toy_cube.valid.values[:, rows, cols]]
    np.testing.assert_allclose(stats.mean, clear.mean(axis=0), rtol=1e-5)
    assert BandStats.from_json(stats.to_json()).bands == stats.bands


def test_pixel_dataset_items_match_the_cube(toy_cube):
    split = split_parcels(toy_cube, seed=0)
    stats = BandStats.from_cube(toy_cube, split_mask(split, "train"))
    dataset = PixelSeriesDataset(toy_cube, split, "test", stats, fill="none")
    item = dataset[5]
    assert item["x"].shape == (20, 10) and item["doy"].shape == (20,) and item["mask"].dtype == torch.bool
    row, col = dataset.rows[5], dataset.cols[5]
    raw = toy_cube.reflectance.values[:, :, row, col]
    np.testing.assert_allclose(item["x"].numpy(), (raw - stats.mean) / stats.std, rtol=1e-5, atol=1e-5)
    assert item["y"] == toy_cube["class"].values[row, col]
    assert split_mask(split, "test")[dataset.rows, dataset.cols].all()


def test_subsample_is_a_sorted_seeded_sample_and_keeps_everything_under_the_limit():
    np.testing.assert_array_equal(subsample(5, None, 0), np.arange(5))
    np.testing.assert_array_equal(subsample(5, 5, 3), np.arange(5))
    picked = subsample(1000, 100, seed=7)
    assert picked.size == 100 and np.unique(picked).size == 100 and (np.diff(picked) > 0).all()
    assert picked.min() >= 0 and picked.max() < 1000
    np.testing.assert_array_equal(picked, subsample(1000, 100, seed=7))
    assert not np.array_equal(picked, subsample(1000, 100, seed=8))


def test_pixel_dataset_caps_its_pixels_with_a_seeded_sample(toy_cube):
    split = split_parcels(toy_cube, seed=0)
    full = PixelSeriesDataset(toy_cube, split, "train")
    capped = PixelSeriesDataset(toy_cube, split, "train", max_pixels=50, seed=1)
    assert len(capped) == 50 < len(full)
    positions = subsample(len(full), 50, 1)
    np.testing.assert_array_equal(capped.rows, full.rows[positions])
    np.testing.assert_array_equal(capped.x, full.x[positions])


def test_parcel_dataset_keeps_parcels_within_their_split(toy_cube):
    split = split_parcels(toy_cube, seed=0)
    train = ParcelSeriesDataset(toy_cube, split, "train", n_pixels=16)
    test = ParcelSeriesDataset(toy_cube, split, "test", n_pixels=16)
    assert not set(train.ids) & set(test.ids)
    item = train[0]
    assert item["x"].shape == (20, 10, 16)
    torch.testing.assert_close(train[0]["x"], train[0]["x"])
    mean_item = ParcelSeriesDataset(toy_cube, split, "train", aggregate="mean")[0]
    assert mean_item["x"].shape == (20, 10)


def test_patch_dataset_ignores_labels_of_other_splits(default_cube):
    split = split_parcels(default_cube, seed=0, by="block", block_size=32)
    patches = PatchDataset(default_cube, split, "val", patch_size=32)
    assert len(patches) > 0
    item = patches[0]
    assert item["x"].shape == (36, 10, 32, 32) and item["mask"].shape == (36, 32, 32) and item["y"].shape == (32, 32)
    y0, x0 = patches.origins[0]
    window = split.values[y0 : y0 + 32, x0 : x0 + 32]
    labels = item["y"].numpy()
    assert (labels[window != SPLITS.index("val")] == cube_format.IGNORE_INDEX).all()
    assert (labels[window == SPLITS.index("val")] >= 0).all()


def test_pad_collate_pads_time_and_marks_padding():
    items = [
        {"x": torch.ones(3, 2), "doy": torch.tensor([1, 2, 3]), "mask": torch.ones(3, dtype=torch.bool), "y": torch.tensor(1)},
        {"x": torch.ones(5, 2), "doy": torch.arange(5), "mask": torch.ones(5, dtype=torch.bool), "y": torch.tensor(0)},
    ]
    batch = pad_collate(items)
    assert batch["x"].shape == (2, 5, 2)
    assert batch["pad_mask"].tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert not batch["mask"][0, 3:].any() and (batch["x"][0, 3:] == 0).all()
    assert batch["y"].tolist() == [1, 0]


def test_every_dataset_class_refuses_unsorted_dates(toy_cube):
    """An in-memory cube (or samples) whose dates are not in time order would train on scrambled series: each dataset
    class refuses it, naming the coordinate and the place."""
    from sitsbench.data.datasets import SamplePixelSetDataset, SampleSeriesDataset
    from sitsbench.data.samples import samples_from_cube
    from sitsbench.ssl.data import UnlabeledPixelDataset

    cube = toy_cube.drop_dims([cube_format.TIME_S1])
    order = np.r_[1, 0, 2:cube.sizes[cube_format.TIME]]
    unsorted = cube.isel({cube_format.TIME: order})
    split = split_parcels(cube, seed=0)
    for build in (lambda: PixelSeriesDataset(unsorted, split, "train"),
                  lambda: ParcelSeriesDataset(unsorted, split, "train"),
                  lambda: PatchDataset(unsorted, split, "train", patch_size=32),
                  lambda: UnlabeledPixelDataset(unsorted, transform=None)):
        with pytest.raises(cube_format.CubeValidationError, match="coordinate 'time' must be strictly increasing but is not "
                                                        "increasing at index 1"):
            build()
    samples = samples_from_cube(cube.isel({cube_format.Y: slice(0, 8)}))
    scrambled = samples.isel({"time": order})
    codes = np.zeros(samples.sizes["sample"], dtype=np.int8)
    pixel_sets = scrambled.assign(pixels=scrambled["series"].expand_dims(pixel=1, axis=-1),
                                  pixel_mask=(("sample", "pixel"), np.ones((samples.sizes["sample"], 1), bool)))
    for build in (lambda: SampleSeriesDataset(scrambled, codes), lambda: SamplePixelSetDataset(pixel_sets, codes)):
        with pytest.raises(ValueError, match="the dates of sample 0 must be strictly increasing but are not increasing"):
            build()
    assert len(PixelSeriesDataset(cube, split, "train")) > 0 and len(SampleSeriesDataset(samples, codes)) > 0
