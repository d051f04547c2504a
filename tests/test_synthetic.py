import numpy as np
import pytest
import xarray as xr

from sitsbench.data import cube as C
from sitsbench.data.cube import validate_cube
from sitsbench.data.datasets import PixelSeriesDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import parcel_table, split_mask, split_parcels
from sitsbench.data.synthetic import SyntheticLandscape, config_from_preset, generate_cube


def test_generator_is_deterministic_for_a_seed(toy_cube):
    again = generate_cube("toy", seed=0)
    xr.testing.assert_identical(toy_cube, again)
    other = generate_cube("toy", seed=1)
    assert not np.array_equal(toy_cube.reflectance.values, other.reflectance.values)


def test_cube_follows_the_convention(toy_cube):
    validate_cube(toy_cube)
    assert toy_cube.reflectance.dims == ("time", "band", "y", "x")
    assert toy_cube.reflectance.shape == (20, 10, 64, 64)
    assert list(toy_cube.band.values) == list(C.S2_BANDS)
    assert toy_cube.backscatter.dims == ("time_s1", "band_s1", "y", "x")
    assert len(toy_cube.attrs["class_names"]) == 10


def test_dates_are_irregular_on_the_revisit_grids(default_cube):
    steps = np.diff(default_cube.time.values).astype("timedelta64[D]").astype(int)
    assert (steps % 5 == 0).all() and (steps > 0).all() and len(set(steps)) > 2
    s1_steps = np.diff(default_cube.time_s1.values).astype("timedelta64[D]").astype(int)
    assert (s1_steps % 6 == 0).all()


def test_mask_matches_the_injected_clouds_and_shadows(default_cube):
    landscape = SyntheticLandscape(config_from_preset("default", seed=0))
    opacity, shadow = landscape.clouds(0, 160, 0, 160)
    valid = default_cube.valid.values
    np.testing.assert_array_equal(valid, (opacity == 0) & ~shadow)
    assert 0.15 < 1 - valid.mean() < 0.45
    blue = default_cube.reflectance.sel(band="B02").values
    assert np.median(blue[opacity > 0.8]) > 0.25 > np.quantile(blue[valid], 0.99)
    nir = default_cube.reflectance.sel(band="B08").values
    clear_median = np.nanmedian(np.where(valid, nir, np.nan), axis=0)
    t, y, x = np.nonzero(shadow)
    assert np.median(nir[t, y, x] / clear_median[y, x]) < 0.6


def test_class_frequencies_match_the_requested_ones(default_cube):
    table = parcel_table(default_cube)
    config = config_from_preset("default")
    drawn = np.bincount(table["label"], minlength=10) / table["id"].size
    assert np.abs(drawn - config.frequencies).max() <= 1.0 / table["id"].size
    custom = (5, 1, 1, 1, 1, 1, 0, 0, 0, 0)
    cube = generate_cube("toy", class_frequencies=custom, seed=2)
    labels = parcel_table(cube)["label"]
    drawn = np.bincount(labels, minlength=10) / labels.size
    np.testing.assert_allclose(drawn, np.array(custom) / 10, atol=1.0 / labels.size)


def test_lazy_chunked_cube_equals_the_in_memory_cube():
    eager = generate_cube("toy", seed=3, block_size=16, change_fraction=0.3)
    lazy = generate_cube("toy", seed=3, block_size=16, change_fraction=0.3, chunks=32)
    assert lazy.reflectance.chunks is not None
    xr.testing.assert_identical(lazy.compute(), eager)
    with pytest.raises(ValueError, match="multiple of block_size"):
        generate_cube("toy", chunks=20, block_size=16)


def test_change_events_switch_class_at_their_date():
    landscape = SyntheticLandscape(config_from_preset("toy", seed=4, change_fraction=0.5, cloud_cover=0.0))
    cube = landscape.to_cube()
    changed = cube.change.values == 1
    assert 0.2 < changed.mean() < 0.8
    dates = cube.change_date.values
    assert np.isnat(dates[~changed]).all() and not np.isnat(dates[changed]).any()
    parcels = landscape.parcels
    ids = np.unique(cube.parcel.values[changed])
    assert (parcels.new_label[ids] != parcels.label[ids]).all()
    names = cube.attrs["class_names"]
    assert {names[k] for k in parcels.new_label[ids]} <= {"bare_soil", "urban"}


def test_invalid_configuration_is_rejected():
    with pytest.raises(ValueError, match="n_dates must be between 2 and 73"):
        config_from_preset("toy", n_dates=100)
    with pytest.raises(ValueError, match="class_frequencies must be 10"):
        config_from_preset("toy", class_frequencies=(1, 2))
    with pytest.raises(KeyError, match="unknown synthetic preset"):
        config_from_preset("huge")


def test_random_forest_on_pixels_is_well_above_chance_and_below_perfect(default_cube):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score

    split = split_parcels(default_cube, seed=0)
    stats = BandStats.from_cube(default_cube, split_mask(split, "train"))
    train = PixelSeriesDataset(default_cube, split, "train", stats, max_pixels=6000)
    test = PixelSeriesDataset(default_cube, split, "test", stats)
    forest = RandomForestClassifier(60, n_jobs=2, random_state=0).fit(train.x.reshape(len(train), -1), train.y)
    accuracy = accuracy_score(test.y, forest.predict(test.x.reshape(len(test), -1)))
    majority = np.bincount(test.y).max() / len(test.y)
    assert accuracy > majority + 0.35
    assert accuracy < 0.95
