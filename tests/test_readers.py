"""Readers: each fixture round-trips into a valid cube with the written values; bad files raise
DatasetFormatError naming the file; the real samples in ../shared/data load with the documented choices."""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import h5py
import numpy as np
import pandas as pd
import pytest

from sitsbench.data import fixtures as F
from sitsbench.data.cube import IGNORE_INDEX, validate_cube
from sitsbench.data.datasets import SampleSeriesDataset
from sitsbench.data.readers import DatasetFormatError
from sitsbench.data.readers.breizhcrops import OFFICIAL_SPLIT, read_breizhcrops
from sitsbench.data.readers.eolearn import LULC_NAMES, read_eolearn_ndvi
from sitsbench.data.readers.pastis import CLASS_NAMES, fold_patches, read_metadata, read_pastis, read_patch
from sitsbench.data.readers.pixelset import read_pixelset
from sitsbench.data.readers.timesen2crop import read_timesen2crop
from sitsbench.data.readers.victoria import read_victoria
from sitsbench.data.samples import split_samples, validate_samples

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_format_error_is_a_value_error():
    assert issubclass(DatasetFormatError, ValueError)


# --- PASTIS -------------------------------------------------------------------------------------------


def test_pastis_round_trip(tmp_path):
    written = F.write_pastis(tmp_path, n_patches=3, size=4)
    cubes = read_pastis(tmp_path)
    assert sorted(cubes) == sorted(written)
    for pid, cube in cubes.items():
        raw = written[pid]
        assert isinstance(cube["reflectance"].data, da.Array), "reflectance stays lazy"
        validate_cube(cube, check_values=False)
        assert isinstance(cube["reflectance"].data, da.Array)
        validate_cube(cube.compute())
        assert cube.sizes == {"time": raw["s2"].shape[0], "band": 10, "y": 4, "x": 4}
        np.testing.assert_allclose(cube["reflectance"].values, raw["s2"].astype(np.float32) * np.float32(1e-4))
        np.testing.assert_array_equal(cube["time"].values, raw["dates"].astype("datetime64[ns]"))
        semantic = raw["target"][0].astype(int)
        np.testing.assert_array_equal(cube["class"].values, np.where(semantic == 19, IGNORE_INDEX, semantic))
        assert cube["class"].values[0, 0] == IGNORE_INDEX
        np.testing.assert_array_equal(cube["parcel"].values, raw["instances"])
        assert bool(cube["valid"].all()) and cube.attrs["fold"] == raw["fold"]
        assert cube.attrs["class_names"] == list(CLASS_NAMES) and len(CLASS_NAMES) == 19


def test_pastis_folds(tmp_path):
    F.write_pastis(tmp_path, n_patches=5)
    metadata = read_metadata(tmp_path)
    assert fold_patches(metadata, 0) == {"train": [10000, 10001, 10002], "val": [10003], "test": [10004]}
    assert fold_patches(metadata, 1) == {"train": [10001, 10002, 10003], "val": [10004], "test": [10000]}
    assert sorted(read_pastis(tmp_path, folds=(2, 5))) == [10001, 10004]
    with pytest.raises(ValueError, match="rotation must be 0-4"):
        fold_patches(metadata, 5)


def test_pastis_r_sentinel1(tmp_path):
    written = F.write_pastis(tmp_path, n_patches=2, with_s1=True)
    cube = read_patch(tmp_path, 10001, s1="S1A", s1_bands=("VV", "VH", "ratio"))
    validate_cube(cube.compute())
    np.testing.assert_array_equal(cube["backscatter"].values, written[10001]["s1"])
    np.testing.assert_array_equal(cube["time_s1"].values, written[10001]["s1_dates"].astype("datetime64[ns]"))
    assert list(cube["band_s1"].values) == ["VV", "VH", "ratio"] and cube.attrs["s1_orbit"] == "S1A"
    assert list(read_patch(tmp_path, 10001, s1="S1A")["band_s1"].values) == ["S1_0", "S1_1", "S1_2"]
    with pytest.raises(DatasetFormatError, match=r"patch 10001 has no 'dates-S1D'"):
        read_patch(tmp_path, 10001, s1="S1D")
    np.save(tmp_path / "DATA_S1A" / "S1A_10001.npy", written[10001]["s1"][:, :, :3])
    with pytest.raises(DatasetFormatError, match=r"S1A_10001\.npy: array has shape \(6, 3, 3, 4\), expected \(6, 'any', 4, 4\)"):
        read_patch(tmp_path, 10001, s1="S1A")


def test_pastis_missing_file(tmp_path):
    F.write_pastis(tmp_path, n_patches=1)
    (tmp_path / "ANNOTATIONS" / "TARGET_10000.npy").unlink()
    with pytest.raises(DatasetFormatError, match=r"TARGET_10000\.npy: missing file \(expected semantic target"):
        read_patch(tmp_path, 10000)


def test_pastis_wrong_shape(tmp_path):
    F.write_pastis(tmp_path, n_patches=1)
    np.save(tmp_path / "DATA_S2" / "S2_10000.npy", np.zeros((3, 9, 4, 4), dtype=np.int16))
    with pytest.raises(DatasetFormatError, match=r"S2_10000\.npy: array has shape \(3, 9, 4, 4\), expected \(3, 10, 'any', 'any'\)"):
        read_patch(tmp_path, 10000)


def test_pastis_truncated_file(tmp_path):
    F.write_pastis(tmp_path, n_patches=1)
    _truncate(tmp_path / "DATA_S2" / "S2_10000.npy")
    with pytest.raises(DatasetFormatError, match=r"S2_10000\.npy: unreadable or truncated \.npy file"):
        read_patch(tmp_path, 10000)


def test_pastis_unknown_class(tmp_path):
    written = F.write_pastis(tmp_path, n_patches=1)
    target = written[10000]["target"].copy()
    target[0, 1, 1] = 25
    np.save(tmp_path / "ANNOTATIONS" / "TARGET_10000.npy", target)
    with pytest.raises(DatasetFormatError, match=r"TARGET_10000\.npy: unknown class id\(s\) \[25\] \(expected 0..18 or \[19\]\)"):
        read_patch(tmp_path, 10000)


def test_pastis_bad_metadata(tmp_path):
    F.write_pastis(tmp_path, n_patches=1)
    meta = json.loads((tmp_path / "metadata.geojson").read_text())
    del meta["features"][0]["properties"]["Fold"]
    (tmp_path / "metadata.geojson").write_text(json.dumps(meta))
    with pytest.raises(DatasetFormatError, match=r"metadata\.geojson: feature 0 lacks properties \['Fold'\]"):
        read_metadata(tmp_path)


# --- Pixel-Set ----------------------------------------------------------------------------------------


def test_pixelset_round_trip(tmp_path):
    written = F.write_pixelset(tmp_path, n_parcels=3, n_dates=4)
    cube = read_pixelset(tmp_path)
    assert isinstance(cube["reflectance"].data, da.Array)
    validate_cube(cube.compute())
    sizes = [written["arrays"][p].shape[2] for p in range(3)]
    assert cube.sizes == {"time": 4, "band": 10, "y": 1, "x": sum(sizes)}
    expected = np.concatenate([written["arrays"][p] for p in range(3)], axis=2).astype(np.float32) * np.float32(1e-4)
    np.testing.assert_allclose(cube["reflectance"].values[:, :, 0, :], expected)
    np.testing.assert_array_equal(cube["parcel"].values[0], np.repeat([1, 2, 3], sizes))
    np.testing.assert_array_equal(cube["class"].values[0], np.repeat([written["labels"][p] for p in range(3)], sizes))
    assert cube.attrs["parcel_ids"] == [0, 1, 2]
    np.testing.assert_array_equal(cube["time"].values, written["dates"].astype("datetime64[ns]"))
    assert len(cube.attrs["class_names"]) == max(written["labels"].values()) + 1


def test_pixelset_unknown_class_and_nomenclature(tmp_path):
    written = F.write_pixelset(tmp_path)
    top = max(written["labels"].values())
    with pytest.raises(DatasetFormatError, match=rf"labels\.json: unknown class id\(s\) \[{top}\]"):
        read_pixelset(tmp_path, class_names=[f"c{k}" for k in range(top)])
    with pytest.raises(DatasetFormatError, match=r"labels\.json: no nomenclature 'label_99'"):
        read_pixelset(tmp_path, nomenclature="label_99")


def test_pixelset_wrong_shape_missing_and_truncated(tmp_path):
    F.write_pixelset(tmp_path, n_dates=4)
    np.save(tmp_path / "DATA" / "1.npy", np.zeros((5, 10, 2), dtype=np.uint16))
    with pytest.raises(DatasetFormatError, match=r"1\.npy: array has shape \(5, 10, 2\), expected \(4, 10, S\)"):
        read_pixelset(tmp_path)
    np.save(tmp_path / "DATA" / "1.npy", np.zeros((4, 10, 2), dtype=np.uint16))
    _truncate(tmp_path / "DATA" / "2.npy")
    with pytest.raises(DatasetFormatError, match=r"2\.npy: unreadable or truncated"):
        read_pixelset(tmp_path)
    (tmp_path / "META" / "dates.json").unlink()
    with pytest.raises(DatasetFormatError, match=r"dates\.json: missing file"):
        read_pixelset(tmp_path)


# --- BreizhCrops --------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["L2A", "L1C"])
def test_breizhcrops_round_trip(tmp_path, level):
    written = F.write_breizhcrops(tmp_path, region="frh04", level=level, n_parcels=3)
    cube = read_breizhcrops(tmp_path, region="frh04", level=level)
    validate_cube(cube)
    assert cube.sizes["band"] == (13 if level == "L1C" else 10)
    assert cube.attrs["parcel_ids"] == [100, 101, 102], "the parcel with code XXX (not mapped) is dropped"
    assert cube.attrs["class_names"] == ["barley", "wheat", "corn"]
    np.testing.assert_array_equal(cube["class"].values[0], [0, 1, 2])
    np.testing.assert_array_equal(cube["parcel"].values[0], [1, 2, 3])
    columns = [written["columns"].index("B" + b[1:].lstrip("0")) for b in cube["band"].values]
    for k, pid in enumerate(cube.attrs["parcel_ids"]):
        values = written["series"][pid]["values"]
        days = values[:, -1].astype(np.int64).astype("datetime64[ns]").astype("datetime64[D]")
        _, first = np.unique(days, return_index=True)
        rows = np.searchsorted(cube["time"].values.astype("datetime64[D]"), days[first])
        got = cube["reflectance"].values[rows, :, 0, k]
        np.testing.assert_allclose(got, (values[first][:, columns] * 1e-4).astype(np.float32))
        observed = np.zeros(cube.sizes["time"], dtype=bool)
        observed[rows] = True
        assert not cube["valid"].values[~observed, 0, k].any(), "no observation -> not valid"
        assert np.isnan(cube["reflectance"].values[~observed, :, 0, k]).all()
    first_parcel = written["series"][100]["values"]
    assert first_parcel.shape[0] == int(cube["valid"].values[:, 0, 0].sum()) + 2, "same-day duplicate and cloudy date"
    assert set(OFFICIAL_SPLIT["train"]) == {"frh01", "frh02", "frh03"} and OFFICIAL_SPLIT["test"] == ("frh04",)


def test_breizhcrops_bad_files(tmp_path):
    F.write_breizhcrops(tmp_path)
    h5_path = tmp_path / "2017" / "L2A" / "frh04.h5"
    with h5py.File(h5_path, "a") as handle:
        del handle["csv/frh04/101.csv"]
        handle.create_dataset("csv/frh04/101.csv", data=np.zeros((3, 12)))
    with pytest.raises(DatasetFormatError, match=r"frh04\.h5: dataset 'csv/frh04/101\.csv' has shape \(3, 12\), expected \(T, 14\)"):
        read_breizhcrops(tmp_path)
    _truncate(h5_path)
    with pytest.raises(DatasetFormatError, match=r"frh04\.h5: unreadable or truncated HDF5"):
        read_breizhcrops(tmp_path)
    h5_path.unlink()
    with pytest.raises(DatasetFormatError, match=r"frh04\.h5: missing file"):
        read_breizhcrops(tmp_path)
    with pytest.raises(DatasetFormatError, match=r"frh01\.csv: missing file \(expected parcel index"):
        read_breizhcrops(tmp_path, region="frh01")


def test_breizhcrops_class_mapping_checked(tmp_path):
    F.write_breizhcrops(tmp_path)
    pd.DataFrame({"id": [0, 2], "classname": ["a", "b"], "code": ["ORH", "BTH"]}).to_csv(tmp_path / "classmapping.csv")
    with pytest.raises(DatasetFormatError, match=r"classmapping\.csv: class ids \[0, 2\] are not 0..1"):
        read_breizhcrops(tmp_path)


# --- TimeSen2Crop -------------------------------------------------------------------------------------


def test_timesen2crop_round_trip(tmp_path):
    written = F.write_timesen2crop(tmp_path, tile="33UVP", per_class={0: 2, 3: 1}, n_dates=5)
    cube = read_timesen2crop(tmp_path, "33UVP")
    validate_cube(cube)
    assert cube.sizes == {"time": 5, "band": 9, "y": 1, "x": 3}
    for k, sample in enumerate(written["samples"]):
        table = sample["table"]
        np.testing.assert_allclose(cube["reflectance"].values[:, :, 0, k], (table.iloc[:, :9].to_numpy() * 1e-4).astype(np.float32))
        np.testing.assert_array_equal(cube["valid"].values[:, 0, k], table["Flag"].to_numpy() == 0)
    np.testing.assert_array_equal(cube["class"].values[0], [0, 0, 3])
    np.testing.assert_array_equal(cube["time"].values, written["dates"].astype("datetime64[ns]"))
    assert cube.attrs["parcel_ids"] == ["33UVP/0/0.csv", "33UVP/0/1.csv", "33UVP/3/0.csv"]
    assert read_timesen2crop(tmp_path, "33UVP", max_per_class=1).sizes["x"] == 2
    written["samples"][0]["table"].to_csv(tmp_path / "33UVP" / "0" / "0.csv", index=False, header=False)
    np.testing.assert_array_equal(read_timesen2crop(tmp_path, "33UVP")["reflectance"].values, cube["reflectance"].values)


def test_timesen2crop_same_day_dates_are_merged(tmp_path):
    F.write_timesen2crop(tmp_path, per_class={1: 1}, n_dates=4)
    dates = pd.read_csv(tmp_path / "33UVP" / "dates.csv")
    dates.loc[1, "acquisition_date"] = dates.loc[0, "acquisition_date"]
    dates.to_csv(tmp_path / "33UVP" / "dates.csv", index=False)
    table = pd.read_csv(tmp_path / "33UVP" / "1" / "0.csv")
    table["Flag"] = [0, 0, 1, 0]
    table.to_csv(tmp_path / "33UVP" / "1" / "0.csv", index=False)
    cube = validate_cube(read_timesen2crop(tmp_path, "33UVP"))
    assert cube.sizes["time"] == 3
    np.testing.assert_allclose(cube["reflectance"].values[0, :, 0, 0], (table.iloc[:2, :9].mean().to_numpy() * 1e-4).astype(np.float32), rtol=1e-6)


def test_timesen2crop_bad_files(tmp_path):
    F.write_timesen2crop(tmp_path, per_class={0: 1})
    sample = tmp_path / "33UVP" / "0" / "0.csv"
    table = pd.read_csv(sample)
    table.drop(columns=["B12"]).to_csv(sample, index=False)
    with pytest.raises(DatasetFormatError, match=r"0\.csv: table has shape \(5, 9\), expected \(5, 10\)"):
        read_timesen2crop(tmp_path, "33UVP")
    table.iloc[:3].to_csv(sample, index=False)
    with pytest.raises(DatasetFormatError, match=r"0\.csv: table has shape \(3, 10\), expected \(5, 10\)"):
        read_timesen2crop(tmp_path, "33UVP")
    table.assign(Flag=5).to_csv(sample, index=False)
    with pytest.raises(DatasetFormatError, match=r"0\.csv: Flag column holds \[5\]"):
        read_timesen2crop(tmp_path, "33UVP")
    table.to_csv(sample, index=False)
    (tmp_path / "33UVP" / "16").mkdir()
    with pytest.raises(DatasetFormatError, match=r"33UVP/16: unknown class folder \(expected 0..15\)"):
        read_timesen2crop(tmp_path, "33UVP")
    (tmp_path / "33UVP" / "16").rmdir()
    (tmp_path / "33UVP" / "dates.csv").unlink()
    with pytest.raises(DatasetFormatError, match=r"dates\.csv: missing file"):
        read_timesen2crop(tmp_path, "33UVP")


# --- eo-learn NDVI patch ------------------------------------------------------------------------------


def test_eolearn_round_trip_keep(tmp_path):
    raw = F.write_eolearn_ndvi(tmp_path, n_dates=4, height=3, width=5)
    cube = validate_cube(read_eolearn_ndvi(tmp_path, duplicates="keep"))
    assert cube.sizes == {"time": 4, "band": 1, "y": 3, "x": 5} and list(cube["band"].values) == ["NDVI"]
    np.testing.assert_array_equal(cube["reflectance"].values[:, 0], raw["ndvi"][..., 0])
    np.testing.assert_array_equal(cube["valid"].values, raw["is_valid"][..., 0] & (raw["clm"][..., 0] == 0))
    lookup = {0: -1, 1: 0, 2: 1, 3: 2, 4: 3, 8: 4}
    np.testing.assert_array_equal(cube["class"].values, np.vectorize(lookup.get)(raw["lulc"][..., 0]))
    assert cube.attrs["class_names"] == list(LULC_NAMES)
    np.testing.assert_array_equal(cube["time"].values, raw["times"].astype("datetime64[ns]"))


def test_eolearn_same_day_merge(tmp_path):
    raw = F.write_eolearn_ndvi(tmp_path, n_dates=4)
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
    raw = F.write_eolearn_ndvi(tmp_path)
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
    tables = F.write_victoria(tmp_path, n_rows=4)
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
    tables = F.write_victoria(tmp_path)
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
