import numpy as np
import pytest

from sitsbench.data import cube as cube_format
from sitsbench.data.cube import CubeValidationError, make_cube, validate_cube


def small_cube(**kw):
    rng = np.random.default_rng(0)
    times = np.array(["2021-01-03", "2021-01-13", "2021-02-07"], dtype="datetime64[ns]")
    return make_cube(
        rng.random((3, 2, 4, 5)),
        times,
        ["B04", "B08"],
        labels=rng.integers(0, 3, (4, 5)).astype(np.int16),
        parcels=rng.integers(1, 4, (4, 5)).astype(np.int32),
        class_names=["a", "b", "c"],
        source="unit-test",
        **kw,
    )


def test_valid_cube_passes_and_nan_under_mask_is_allowed():
    cube = small_cube()
    cube["reflectance"][0, :, 1, 1] = np.nan
    cube["valid"][0, 1, 1] = False
    assert validate_cube(cube) is cube


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.transpose("band", "time", "y", "x"), "has dims ('band', 'time', 'y', 'x'), expected"),
        (lambda c: c.drop_vars("valid"), "missing variable 'valid'"),
        (lambda c: c.assign_coords(time=c.time.values[::-1]), "not increasing at index 1"),
        (lambda c: c.assign_coords(time=c.time.values[[0, 0, 2]]), "duplicated at index 1"),
        (lambda c: c.assign_coords(time=[1, 2, 3]), "expected datetime64"),
        (lambda c: c.assign(valid=c.valid.astype("uint8")), "expected bool"),
        (lambda c: c.assign(parcel=-c.parcel), "negative id"),
        (lambda c: c.assign_coords(band=["B04", "B04"]), "duplicate names"),
        (lambda c: c.assign({"class": c["class"] + 5}), "lists only 3 classes"),
        (lambda c: c.assign({"class": c["class"] - 5}), "< -1 (the unlabelled value)"),
        (lambda c: c.assign({"class": c["class"].astype(float)}), "expected an integer type"),
        (lambda c: c.assign(change=c.parcel * 0 + 2), "only 0 (no change) and 1"),
    ],
)
def test_validator_rejects_each_kind_of_bad_cube(mutate, message):
    with pytest.raises(CubeValidationError) as error:
        validate_cube(mutate(small_cube()))
    assert message in str(error.value)
    if "missing" not in message:
        assert "unit-test" in str(error.value)


def test_validator_reports_nan_where_valid():
    cube = small_cube()
    cube["reflectance"][2, 1, 3, 4] = np.nan
    with pytest.raises(CubeValidationError, match=r"1 NaN/inf observations .* time index 2, y index 3, x index 4"):
        validate_cube(cube)


def test_validator_rejects_non_dataset():
    with pytest.raises(CubeValidationError, match="expected an xarray.Dataset, got ndarray"):
        validate_cube(np.zeros(3))


def test_make_cube_defaults_and_errors():
    values = np.ones((2, 1, 3, 3), dtype=np.float32)
    values[1, 0, 0, 0] = np.nan
    cube = make_cube(values, ["2020-01-01", "2020-01-02"], ["NDVI"])
    assert cube[cube_format.VALID].values.sum() == 2 * 9 - 1 and not cube[cube_format.VALID].values[1, 0, 0]
    assert (cube[cube_format.CLASS].values == cube_format.IGNORE_INDEX).all() and (cube[cube_format.PARCEL].values == 0).all()
    validate_cube(cube)
    with pytest.raises(CubeValidationError, match="expected 4 dims"):
        make_cube(np.ones((2, 3, 3)), ["2020-01-01", "2020-01-02"], ["NDVI"])
    with pytest.raises(CubeValidationError, match="1 dates given for a reflectance array with 2 dates"):
        make_cube(values, ["2020-01-01"], ["NDVI"])


def test_timezone_aware_times_keep_their_local_date_as_the_table_reader_does(tmp_path):
    """2021-01-08 00:00 at UTC+01:00 is 2021-01-07 23:00 UTC: numpy's conversion moved it to the day before, while
    the table reader keeps the date as written. Strings with offsets, pandas and datetime objects with a time zone
    all keep the local date and time, in cubes and in samples."""
    import datetime

    import pandas as pd

    from sitsbench.data.readers.tables import read_sample_table
    from sitsbench.data.samples import make_samples

    written = ["2021-01-08T00:00+01:00", "2021-01-09T23:30-05:00"]
    local = np.array(["2021-01-08T00:00", "2021-01-09T23:30"], dtype="datetime64[ns]")
    paris = pd.DatetimeIndex(["2021-01-08 00:00", "2021-01-09 23:30"]).tz_localize("Europe/Paris")
    plus_one = datetime.timezone(datetime.timedelta(hours=1))
    aware = [datetime.datetime(2021, 1, 8, tzinfo=plus_one), datetime.datetime(2021, 1, 9, 23, 30, tzinfo=plus_one)]
    for times in (written, paris, pd.Series(paris), aware):
        np.testing.assert_array_equal(cube_format.make_cube(np.zeros((2, 1, 2, 2)), times, ["B04"]).time.values, local)
        samples = make_samples(np.zeros((1, 2, 1)), times, ["B04"], np.array([0]), ["a"])
        np.testing.assert_array_equal(samples["date"].values[0], local)
    path = tmp_path / "samples.csv"
    pd.DataFrame({"sample": [1, 1], "label": ["a", "a"], "date": written, "B04": [0.1, 0.2]}).to_csv(path, index=False)
    table_days = read_sample_table(path)["date"].values[0].astype("datetime64[D]")
    np.testing.assert_array_equal(table_days, local.astype("datetime64[D]"))
