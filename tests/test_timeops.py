import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitsbench.data import cube as cube_format
from sitsbench.data.cube import make_cube, validate_cube
from sitsbench.data.indices import ndvi
from sitsbench.data.timeops import day_of_year, gap_fill, interpolate_series, relative_days, resample_time


def test_day_of_year_and_relative_days():
    times = np.array(["2021-01-01", "2021-02-01", "2021-12-31", "2024-12-31"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(day_of_year(times), [1, 32, 365, 366])
    np.testing.assert_array_equal(relative_days(times[:3]), [0, 31, 364])
    np.testing.assert_array_equal(relative_days(times[:2], "2020-12-31"), [1, 32])
    padded = np.array([["2021-03-01", "NaT"], ["NaT", "2020-12-31"]], dtype="datetime64[ns]")
    np.testing.assert_array_equal(day_of_year(padded), [[60, 0], [0, 366]])  # no date (padding): 0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_interpolation_matches_numpy_interp_per_series(seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.choice(200, 12, replace=False)).astype(float)
    values = rng.normal(size=(12, 7)).astype(np.float32)
    valid = rng.random((12, 7)) < 0.6
    valid[:, 0] = False
    out = interpolate_series(values, valid, t, t)
    assert np.isnan(out[:, 0]).all()
    for column in range(1, 7):
        keep = valid[:, column]
        if keep.any():
            np.testing.assert_allclose(out[:, column], np.interp(t, t[keep], values[keep, column]), rtol=1e-5, atol=1e-6)


def test_interpolation_of_bands_sharing_a_mask_onto_other_dates_matches_numpy_interp():
    rng = np.random.default_rng(5)
    days = np.cumsum(rng.integers(3, 12, 15)).astype(float)
    values = rng.random((15, 40, 2)).astype(np.float32)  # (T, N, C): the bands of a series share its mask
    valid = rng.random((15, 40)) > 0.5
    valid[:, 0] = False  # never clear
    valid[:, 1] = False
    valid[7, 1] = True  # a single clear date
    target = np.linspace(days[0] - 5, days[-1] + 5, 21)  # beyond both ends, between and on source dates
    out = interpolate_series(values, valid, days, target)
    assert out.shape == (21, 40, 2) and out.dtype == np.float32 and np.isnan(out[:, 0]).all()
    np.testing.assert_array_equal(out[:, 1], np.broadcast_to(values[7, 1], (21, 2)))
    for p in range(1, 40):
        for b in range(2):
            expected = np.interp(target, days[valid[:, p]], values[valid[:, p], p, b])
            np.testing.assert_allclose(out[:, p, b], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(interpolate_series(values[:, :, 1], valid, days, target), out[:, :, 1])


def test_interpolation_names_the_shapes_that_do_not_agree():
    with pytest.raises(ValueError, match=r"values \(4, 3\), valid \(4, 2\) and t_src \(4,\) do not agree"):
        interpolate_series(np.zeros((4, 3)), np.ones((4, 2), bool), np.arange(4.0), np.arange(4.0))


def test_gap_fill_replaces_masked_dates_and_keeps_clear_ones(toy_cube):
    filled = gap_fill(toy_cube)
    valid = toy_cube.valid.values
    original = toy_cube.reflectance.values
    result = filled.reflectance.values
    np.testing.assert_allclose(result.transpose(1, 0, 2, 3)[:, valid], original.transpose(1, 0, 2, 3)[:, valid], rtol=1e-6)
    assert np.isfinite(result).all()
    # a cloudy observation is replaced by the interpolation of its clear neighbours, far from the bright cloud
    t, y, x = np.argwhere(~valid)[len(np.argwhere(~valid)) // 2]
    days = relative_days(toy_cube.time.values)
    clear = valid[:, y, x]
    expected = np.interp(days[t], days[clear], original[clear, 6, y, x])
    assert abs(result[t, 6, y, x] - expected) < 1e-5
    validate_cube(filled)


def test_resample_time_builds_a_regular_grid(toy_cube):
    resampled = resample_time(toy_cube, step_days=10)
    steps = np.diff(resampled.time.values).astype("timedelta64[D]").astype(int)
    assert (steps == 10).all()
    assert resampled.reflectance.dims == (cube_format.TIME, cube_format.BAND, cube_format.Y, cube_format.X)
    validate_cube(resampled)
    # on dates shared with the source, clear observations are kept exactly
    shared = np.intersect1d(resampled.time.values, toy_cube.time.values)
    for date in shared:
        src = toy_cube.sel(time=date)
        dst = resampled.sel(time=date)
        np.testing.assert_allclose(dst.reflectance.values[:, src.valid.values], src.reflectance.values[:, src.valid.values], rtol=1e-5)


def test_ndvi_formula():
    values = np.zeros((1, 2, 1, 2), dtype=np.float32)
    values[0, :, 0, 0] = [0.1, 0.5]
    values[0, :, 0, 1] = [0.2, 0.2]
    cube = make_cube(values, ["2021-05-01"], ["B04", "B08"])
    np.testing.assert_allclose(ndvi(cube).values[0, 0], [0.4 / 0.6, 0.0], rtol=1e-6)
