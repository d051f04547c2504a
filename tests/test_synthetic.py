import numpy as np
import pytest
import xarray as xr

from sitsbench.data import cube as cube_format
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
    assert list(toy_cube.band.values) == list(cube_format.S2_BANDS)
    assert toy_cube.backscatter.dims == ("time_s1", "band_s1", "y", "x")
    assert len(toy_cube.attrs["class_names"]) == 10


def test_dates_are_irregular_on_the_revisit_grids(default_cube):
    steps = np.diff(default_cube.time.values).astype("timedelta64[D]").astype(int)
    assert (steps % 5 == 0).all() and (steps > 0).all() and len(set(steps)) > 2
    s1_steps = np.diff(default_cube.time_s1.values).astype("timedelta64[D]").astype(int)
    assert (s1_steps % 6 == 0).all()


def test_mask_matches_the_injected_clouds_and_shadows(default_cube):
    landscape = SyntheticLandscape(config_from_preset("default", seed=0))
    opacity, shadow = landscape.clouds.window(0, 160, 0, 160)
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


def test_regional_shift_delays_every_season_of_the_east_half_and_is_recorded():
    base = SyntheticLandscape(config_from_preset("toy", seed=5))
    shifted = SyntheticLandscape(config_from_preset("toy", seed=5, region_shift=20.0))
    east = shifted.parcels.region.astype(bool)
    assert 0.3 < east[1:].mean() < 0.7 and not east[0]
    np.testing.assert_array_equal(east[1:], shifted.parcels.seeds[:, 1] >= 32)
    ids = np.arange(1, east.size)
    doy = np.arange(1, 366, 5)
    # An east parcel on day d + 20 looks as the same parcel without the shift on day d (cuts and bloom included)
    np.testing.assert_allclose(shifted.ndvi_profiles(ids[east[1:]], doy + 20), base.ndvi_profiles(ids[east[1:]], doy),
                               atol=1e-12)
    np.testing.assert_allclose(shifted.ndvi_profiles(ids[~east[1:]], doy), base.ndvi_profiles(ids[~east[1:]], doy))
    cube = shifted.to_cube()
    validate_cube(cube)
    region = cube[cube_format.REGION].values
    np.testing.assert_array_equal(region, shifted.parcels.region[cube.parcel.values])
    assert region[:, :20].mean() < 0.1 and region[:, -20:].mean() > 0.9
    assert cube_format.REGION not in base.to_cube()


def test_sowing_practices_and_second_crops_give_several_profiles_per_class():
    base = SyntheticLandscape(config_from_preset("default", seed=6))
    varied = SyntheticLandscape(config_from_preset("default", seed=6, sowing_modes=(-25.0, 25.0),
                                                   double_crop_fraction=0.4))
    classes = base.config.classes
    crop = np.array(["crop" in c.tags for c in classes])[base.parcels.label[1:]]
    offset = varied.parcels.date_shift[1:] - base.parcels.date_shift[1:]
    assert set(np.round(offset[crop], 9)) == {-25.0, 25.0}
    assert np.all(offset[~crop] == 0)
    second = varied.parcels.second_amplitude[1:] > 0
    assert not second[~crop].any() and 0.3 < second[crop].mean() < 0.5
    ids = np.flatnonzero(second)[:20] + 1
    doy = np.round((varied.parcels.second_sos[ids] + varied.parcels.second_eos[ids]) / 2) % 365
    # mid-way through its second season a parcel is greener than the same parcel without one
    plain = SyntheticLandscape(config_from_preset("default", seed=6, sowing_modes=(-25.0, 25.0)))
    gain = [varied.ndvi_profiles(ids[i:i + 1], doy[i:i + 1]) - plain.ndvi_profiles(ids[i:i + 1], doy[i:i + 1])
            for i in range(ids.size)]
    assert np.min(gain) > 0.1, np.ravel(gain)
    with pytest.raises(ValueError, match="double_crop_fraction"):
        config_from_preset("toy", double_crop_fraction=1.5)
    with pytest.raises(ValueError, match="region_shift"):
        config_from_preset("toy", region_shift=100.0)


def test_hard_preset_renders_lazily_as_in_memory():
    eager = generate_cube("hard", height=64, width=64, seed=2)
    lazy = generate_cube("hard", height=64, width=64, seed=2, chunks=64)
    xr.testing.assert_identical(lazy.compute(), eager)
    assert set(np.unique(eager[cube_format.REGION].values)) == {0, 1}


def test_labelled_area_and_pretraining_columns_of_a_shifted_landscape(toy_cube):
    from sitsbench.data.splits import labelled_area, pretraining_columns

    cube = generate_cube("hard", height=64, width=64, seed=2)
    labelled = labelled_area(cube)
    region = cube[cube_format.REGION].values
    np.testing.assert_array_equal(labelled[cube_format.CLASS].values[region == 0], cube_format.IGNORE_INDEX)
    np.testing.assert_array_equal(labelled[cube_format.CLASS].values[region == 1], cube[cube_format.CLASS].values[region == 1])
    assert labelled[cube_format.CLASS].dtype == cube[cube_format.CLASS].dtype
    assert set(np.unique(split_parcels(labelled, seed=0).values[region == 0])) == {-1}  # no split there
    assert pretraining_columns(cube) == slice(0, 32)
    assert labelled_area(toy_cube) is toy_cube and pretraining_columns(toy_cube) == slice(0, None)
