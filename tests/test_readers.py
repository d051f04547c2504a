"""Readers: each fixture round-trips into a valid cube with the written values; bad files raise
DatasetFormatError naming the file; the real samples in ../shared/data load with the documented choices."""

from __future__ import annotations

import json
from pathlib import Path

import dataset_fixtures
import numpy as np
import pandas as pd
import pytest

from sitsbench.data.cube import IGNORE_INDEX, validate_cube
from sitsbench.data.datasets import SampleSeriesDataset
from sitsbench.data.readers import DatasetFormatError
from sitsbench.data.readers.eolearn import LULC_NAMES, read_eolearn_ndvi
from sitsbench.data.readers.victoria import read_victoria
from sitsbench.data.samples import split_samples, validate_samples

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_format_error_is_a_value_error():
    assert issubclass(DatasetFormatError, ValueError)


# --- eo-learn NDVI patch ------------------------------------------------------------------------------


def test_eolearn_round_trip_keep(tmp_path):
    raw = dataset_fixtures.write_eolearn_ndvi(tmp_path, n_dates=4, height=3, width=5)
    cube = validate_cube(read_eolearn_ndvi(tmp_path, duplicates="keep"))
    assert cube.sizes == {"time": 4, "band": 1, "y": 3, "x": 5} and list(cube["band"].values) == ["NDVI"]
    np.testing.assert_array_equal(cube["reflectance"].values[:, 0], raw["ndvi"][..., 0])
    np.testing.assert_array_equal(cube["valid"].values, raw["is_valid"][..., 0] & (raw["clm"][..., 0] == 0))
    lookup = {0: -1, 1: 0, 2: 1, 3: 2, 4: 3, 8: 4}
    np.testing.assert_array_equal(cube["class"].values, np.vectorize(lookup.get)(raw["lulc"][..., 0]))
    assert cube.attrs["class_names"] == list(LULC_NAMES)
    np.testing.assert_array_equal(cube["time"].values, raw["times"].astype("datetime64[ns]"))


def test_eolearn_same_day_merge(tmp_path):
    raw = dataset_fixtures.write_eolearn_ndvi(tmp_path, n_dates=4)
    cube = validate_cube(read_eolearn_ndvi(tmp_path))
    assert cube.sizes["time"] == 3 and cube["time"].values[1] == raw["times"][1]
    clear = raw["is_valid"][1:3, ..., 0] & (raw["clm"][1:3, ..., 0] == 0)
    ndvi = raw["ndvi"][1:3, ..., 0]
    np.testing.assert_array_equal(cube["valid"].values[1], clear.any(axis=0))
    both = clear.all(axis=0)
    np.testing.assert_allclose(cube["reflectance"].values[1, 0][both], ndvi.mean(axis=0)[both], rtol=1e-6)
    only_first = clear[0] & ~clear[1]
    np.testing.assert_allclose(cube["reflectance"].values[1, 0][only_first], ndvi[0][only_first], rtol=1e-6)
    with pytest.raises(DatasetFormatError, match=r"timestamps\.json: several acquisitions on the same day"):
        read_eolearn_ndvi(tmp_path, duplicates="error")


def test_eolearn_bad_files(tmp_path):
    raw = dataset_fixtures.write_eolearn_ndvi(tmp_path)
    lulc = raw["lulc"].copy()
    lulc[0, 0, 0] = 5
    np.save(tmp_path / "mask_timeless" / "LULC.npy", lulc)
    with pytest.raises(DatasetFormatError, match=r"LULC\.npy: unknown class id\(s\) \[5\]"):
        read_eolearn_ndvi(tmp_path)
    np.save(tmp_path / "mask_timeless" / "LULC.npy", raw["lulc"])
    np.save(tmp_path / "mask" / "CLM.npy", raw["clm"][:3])
    with pytest.raises(DatasetFormatError, match=r"CLM\.npy: array has shape \(3, 3, 5, 1\), expected \(4, 3, 5, 1\)"):
        read_eolearn_ndvi(tmp_path)
    (tmp_path / "mask" / "CLM.npy").unlink()
    with pytest.raises(DatasetFormatError, match=r"CLM\.npy: missing file"):
        read_eolearn_ndvi(tmp_path)


# --- Victoria CSV -------------------------------------------------------------------------------------


def test_victoria_round_trip(tmp_path):
    tables = dataset_fixtures.write_victoria(tmp_path, n_rows=4)
    samples = validate_samples(read_victoria(tmp_path))
    assert dict(samples.sizes) == {"sample": 8, "time": 73, "band": 10}
    both = pd.concat(tables.values(), ignore_index=True)
    raw = both.iloc[:, 2:].to_numpy().reshape(8, 73, 10)
    np.testing.assert_allclose(samples["series"].values, (raw * 1e-4).astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(samples["label"].values, both["lc_id"])
    np.testing.assert_array_equal(samples["group"].values, both["objectid"])
    np.testing.assert_array_equal(samples["split"].values, [0] * 4 + [2] * 4)
    assert not samples["valid"].values[0, 0] and not samples["valid"].values[4, 0], "all-zero bands = no data"
    assert int(samples["valid"].sum()) == 73 * 8 - 2
    assert samples["date"].values[0, 1] - samples["date"].values[0, 0] == np.timedelta64(5, "D")
    assert samples.attrs["class_names"][:3] == ["Bare Ground", "Canola", "Cereals"]
    split = split_samples(samples, "predefined", seed=0)
    test_set = SampleSeriesDataset(samples, split, "test", fill="none")
    item = test_set[0]
    assert len(test_set) == 4 and item["x"].shape == (73, 10) and item["mask"].shape == (73,)
    assert int(item["y"]) == both["lc_id"][4] and int(item["parcel"]) == both["objectid"][4]


def test_victoria_bad_files(tmp_path):
    tables = dataset_fixtures.write_victoria(tmp_path)
    table = tables["test_dataset.csv"]
    table.assign(lc_id=9).to_csv(tmp_path / "test_dataset.csv", index=False)
    with pytest.raises(DatasetFormatError, match=r"test_dataset\.csv: unknown class id\(s\) \[9\] \(expected 0..7\)"):
        read_victoria(tmp_path)
    table.iloc[:, :-1].to_csv(tmp_path / "test_dataset.csv", index=False)
    with pytest.raises(DatasetFormatError, match=r"test_dataset\.csv: header has 731 columns"):
        read_victoria(tmp_path)
    (tmp_path / "train_dataset.csv").unlink()
    with pytest.raises(DatasetFormatError, match=r"train_dataset\.csv: missing file"):
        read_victoria(tmp_path)


# --- real samples (skipped when ../shared/data is absent) -----------------------------------------------

slovenia = pytest.mark.skipif(not (SHARED / "eolearn_slovenia_s2").is_dir(), reason="shared Slovenia sample absent")
victoria = pytest.mark.skipif(not (SHARED / "igarss2019_victoria_s2").is_dir(), reason="shared Victoria sample absent")


@slovenia
def test_real_slovenia_sample():
    path = SHARED / "eolearn_slovenia_s2"
    kept = validate_cube(read_eolearn_ndvi(path, duplicates="keep"))
    merged = validate_cube(read_eolearn_ndvi(path))
    assert kept.sizes == {"time": 68, "band": 1, "y": 101, "x": 100}
    assert merged.sizes["time"] == 67, "the two 2015-12-08 acquisitions become one date"
    days = merged["time"].values.astype("datetime64[D]")
    assert np.unique(days).size == days.size and np.datetime64("2015-12-08") in days
    assert kept["time"].values[0] == np.datetime64("2015-07-11T10:00:08")
    assert kept["time"].values[-1] == np.datetime64("2017-12-22T10:04:15")
    labels = merged["class"].values
    assert labels.min() == IGNORE_INDEX and labels.max() == len(LULC_NAMES) - 1
    forest = (labels == LULC_NAMES.index("forest")).sum() / (labels >= 0).sum()
    assert 0.6 < forest < 0.9, "the patch is mostly forest"
    ndvi = merged["reflectance"].values[:, 0][merged["valid"].values]
    assert -1 <= ndvi.min() and ndvi.max() <= 1
    assert 0.3 < float(merged["valid"].mean()) < 0.9
    with pytest.raises(DatasetFormatError, match="2015-12-08"):
        read_eolearn_ndvi(path, duplicates="error")


@slovenia
def test_real_slovenia_patch_is_georeferenced_from_its_bbox(tmp_path):
    from sitsbench.data import georef
    from sitsbench.data.io import open_cube, save_cube

    path = SHARED / "eolearn_slovenia_s2"
    cube = read_eolearn_ndvi(path)
    assert georef.crs_of(cube).to_epsg() == 32633
    ring = np.asarray(json.loads((path / "bbox.geojson").read_text())["coordinates"][0])
    transform = georef.transform_of(cube)
    assert transform.c == pytest.approx(ring[:, 0].min()) and transform.f == pytest.approx(ring[:, 1].max())
    assert transform.a == pytest.approx(10, abs=0.02) and transform.e == pytest.approx(-10, abs=0.02)
    assert cube["x"].values[0] == pytest.approx(ring[:, 0].min() + transform.a / 2)
    for name in ("cube.zarr", "cube.nc"):  # an in-memory georeferenced cube keeps its CRS through save/open
        reopened = open_cube(save_cube(cube, tmp_path / name))
        assert georef.crs_of(reopened) == georef.crs_of(cube)
        assert georef.transform_of(reopened).almost_equals(transform)


@victoria
def test_real_victoria_sample():
    samples = validate_samples(read_victoria(SHARED / "igarss2019_victoria_s2"))
    assert dict(samples.sizes) == {"sample": 800, "time": 73, "band": 10}
    assert samples.attrs["class_names"] == ["Bare Ground", "Canola", "Cereals", "Legumes", "Forest", "Grassland",
                                            "Water", "Urban"]
    labels, split, groups = samples["label"].values, samples["split"].values, samples["group"].values
    assert np.bincount(labels[split == 0]).tolist() == [50] * 8 and np.bincount(labels[split == 2]).tolist() == [50] * 8
    shared = np.intersect1d(groups[split == 0], groups[split == 2])
    assert shared.size == 38, "the published files share polygons"
    with pytest.raises(ValueError, match="puts 38 group"):
        split_samples(samples, "predefined")
    regrouped = split_samples(samples, "group", seed=0)
    for polygon in np.unique(groups):
        assert np.unique(regrouped[groups == polygon]).size == 1, f"polygon {polygon} is split"
    values = samples["series"].values[samples["valid"].values]
    assert 0 < values.min() and values.max() < 1
    # the first row of the CSV, by hand: b0..b9 are the ten bands of the first date
    first = pd.read_csv(SHARED / "igarss2019_victoria_s2" / "train_dataset.csv", nrows=1)
    np.testing.assert_allclose(samples["series"].values[0, 0], first.iloc[0, 2:12].to_numpy() * 1e-4, rtol=1e-6)
