"""BreizhCrops and TimeSen2Crop readers: fixtures in every published column order round-trip into samples with
each sample's own dates; the doa column is found from the bytes and ambiguity is refused; files written by the
official ``breizhcrops`` package (test-only dependency, skipped when absent) read back identically."""

from __future__ import annotations

import importlib.util
import sys
import types
import zipfile
from pathlib import Path

import dataset_fixtures
import h5py
import numpy as np
import pandas as pd
import pytest

from sitsbench.data.readers import DatasetFormatError
from sitsbench.data.readers.breizhcrops import LAYOUTS, OFFICIAL_SPLIT, read_breizhcrops
from sitsbench.data.readers.timesen2crop import read_timesen2crop
from sitsbench.data.samples import lengths, split_samples, validate_samples

LEVEL_LAYOUTS = [("L2A", "doa-first"), ("L2A", "doa-last"), ("L1C", "2020-04"), ("L1C", "2020-08")]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _expected(raw: dict, columns: tuple[str, ...], bands) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the reader should give for one written parcel: first observation of each day, scaled bands."""
    values, dates = raw["values"], raw["dates"]
    days = dates.astype("datetime64[D]")
    first = np.concatenate([[True], days[1:] != days[:-1]])
    cols = [columns.index("B" + b[1:].lstrip("0")) for b in bands]
    return (values[first][:, cols] * 1e-4).astype(np.float32), dates[first], values[first]


# --- BreizhCrops: layouts, round trip ------------------------------------------------------------------


def test_layouts_are_the_official_column_orders():
    # breizhcrops/datasets/breizhcrops.py at 6de796e (= PyPI 0.0.4.1), SELECTED_BANDS, lines 23-28
    assert LAYOUTS["L2A"]["doa-first"] == ("doa", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12",
                                           "CLD", "EDG", "SAT")
    assert LAYOUTS["L1C"]["2020-08"] == ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11",
                                         "B12", "QA10", "QA20", "QA60", "doa")
    # same file at b4608cd (2020-04-22), self.bands line 67; at d110cd3 (2020-06-25), BANDS["L2A"] lines 19-20
    assert LAYOUTS["L1C"]["2020-04"] == ("B1", "B10", "B11", "B12", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A",
                                         "B9", "QA10", "QA20", "QA60", "doa")
    assert LAYOUTS["L2A"]["doa-last"] == LAYOUTS["L2A"]["doa-first"][1:] + ("doa",)
    assert set(OFFICIAL_SPLIT["train"]) == {"frh01", "frh02", "frh03"} and OFFICIAL_SPLIT["test"] == ("frh04",)


@pytest.mark.parametrize(("level", "layout"), LEVEL_LAYOUTS)
def test_breizhcrops_round_trip_in_every_layout(tmp_path, level, layout):
    written = dataset_fixtures.write_breizhcrops(tmp_path, region="frh04", level=level, n_parcels=3, layout=layout)
    samples = validate_samples(read_breizhcrops(tmp_path, region="frh04", level=level))
    assert samples.attrs["layouts"] == f"frh04: {layout} (doa in ns)", "layout found from the bytes"
    assert samples.sizes["band"] == (13 if level == "L1C" else 10)
    assert list(samples["parcel_id"].values) == [100, 101, 102], "the parcel with code XXX (not mapped) is dropped"
    np.testing.assert_array_equal(samples["group"].values, [100, 101, 102])
    np.testing.assert_array_equal(samples["label"].values, [0, 1, 2])
    assert samples.attrs["class_names"] == ["barley", "wheat", "corn"]
    np.testing.assert_array_equal(samples["split"].values, [2, 2, 2])
    assert list(samples["region"].values) == ["frh04"] * 3
    columns = LAYOUTS[level][layout]
    for k, pid in enumerate(samples["parcel_id"].values):
        values, dates, rows = _expected(written["series"][int(pid)], columns, samples["band"].values)
        n = len(dates)
        assert lengths(samples)[k] == n
        np.testing.assert_array_equal(samples["series"].values[k, :n], values)
        np.testing.assert_array_equal(samples["date"].values[k, :n], dates)
        assert np.isnat(samples["date"].values[k, n:]).all() and not samples["valid"].values[k, n:].any()
        cloudy = rows[:, columns.index("QA60" if level == "L1C" else "CLD")] > 50
        np.testing.assert_array_equal(samples["valid"].values[k, :n], ~cloudy)
    first = written["series"][100]
    assert len(first["dates"]) == lengths(samples)[0] + 1, "the second observation of a day is dropped"
    assert not samples["valid"].values[0, lengths(samples)[0] - 1], "cloudy last date"
    own = samples["date"].values
    assert not np.array_equal(own[0, :3], own[1, :3]), "each parcel keeps its own dates"


def test_breizhcrops_doa_column_is_read_not_assumed(tmp_path):
    dataset_fixtures.write_breizhcrops(tmp_path, layout="doa-first")
    with pytest.raises(DatasetFormatError, match=r"frh04\.h5: layout 'doa-last' puts doa in column 13, but the "
                                                 r"column\(s\) holding .* is/are \[0\]"):
        read_breizhcrops(tmp_path, layout="doa-last")
    assert read_breizhcrops(tmp_path, layout="doa-first").attrs["layouts"] == "frh04: doa-first (doa in ns)"


def test_breizhcrops_ambiguous_or_missing_doa_is_refused(tmp_path):
    written = dataset_fixtures.write_breizhcrops(tmp_path, layout="doa-first")
    h5_path = tmp_path / "2017" / "L2A" / "frh04.h5"
    with h5py.File(h5_path, "a") as handle:
        for pid, raw in written["series"].items():
            data = raw["values"].copy()
            data[:, 5] = data[:, 0] + 1.0e9  # a second column of times since 1970
            del handle[f"csv/frh04/{pid}.csv"]
            handle.create_dataset(f"csv/frh04/{pid}.csv", data=data)
    with pytest.raises(DatasetFormatError, match=r"frh04\.h5: ambiguous layout: columns \[0, 5\] all hold values "
                                                 r"like the acquisition time 'doa'.*pass layout="):
        read_breizhcrops(tmp_path)
    assert read_breizhcrops(tmp_path, layout="doa-first").sizes["sample"] == 3, "a named layout settles it"
    with h5py.File(h5_path, "a") as handle:
        for pid, raw in written["series"].items():
            data = raw["values"].copy()
            data[:, 0] = np.arange(len(data))  # no column of times
            del handle[f"csv/frh04/{pid}.csv"]
            handle.create_dataset(f"csv/frh04/{pid}.csv", data=data)
    with pytest.raises(DatasetFormatError, match=r"frh04\.h5: no column holds the acquisition time 'doa'"):
        read_breizhcrops(tmp_path)
    with h5py.File(h5_path, "a") as handle:
        for pid, raw in written["series"].items():
            data = raw["values"][::-1] if pid == 101 else raw["values"]  # times decreasing in one parcel
            del handle[f"csv/frh04/{pid}.csv"]
            handle.create_dataset(f"csv/frh04/{pid}.csv", data=data)
    with pytest.raises(DatasetFormatError, match=r"column 0 \(ns since 1970\) is not increasing in dataset "
                                                 r"'csv/frh04/101\.csv'"):
        read_breizhcrops(tmp_path, max_parcels=2)


def test_breizhcrops_l1c_orders_without_a_dark_cirrus_band_are_refused(tmp_path):
    written = dataset_fixtures.write_breizhcrops(tmp_path, level="L1C", layout="2020-08")
    columns = LAYOUTS["L1C"]["2020-08"]
    with h5py.File(tmp_path / "2017" / "L1C" / "frh04.h5", "a") as handle:
        for pid, raw in written["series"].items():
            data = raw["values"].copy()
            data[:, columns.index("B10")] = data[:, columns.index("B8")]  # B10 as bright as B8: no telling
            del handle[f"csv/frh04/{pid}.csv"]
            handle.create_dataset(f"csv/frh04/{pid}.csv", data=data)
            raw["values"] = data
    with pytest.raises(DatasetFormatError, match=r"ambiguous layout: both L1C orders .* put doa last and the "
                                                 r"cirrus band B10 .* pass layout="):
        read_breizhcrops(tmp_path, level="L1C")
    samples = read_breizhcrops(tmp_path, level="L1C", layout="2020-08")
    values, _, _ = _expected(written["series"][100], columns, samples["band"].values)
    np.testing.assert_array_equal(samples["series"].values[0, : len(values)], values)


def test_breizhcrops_regions_share_one_samples_set_with_the_official_split(tmp_path):
    for k, region in enumerate(("frh01", "frh03", "frh04", "belle-ile")):
        dataset_fixtures.write_breizhcrops(tmp_path, region=region, n_parcels=2 + k % 2, seed=k, first_id=1000 * (k + 1))
    samples = validate_samples(read_breizhcrops(tmp_path, regions=("frh01", "frh03", "frh04", "belle-ile")))
    assert list(samples["region"].values) == ["frh01"] * 2 + ["frh03"] * 3 + ["frh04"] * 2 + ["belle-ile"] * 3
    np.testing.assert_array_equal(samples["split"].values, [0, 0, 0, 0, 0, 2, 2, -1, -1, -1])
    np.testing.assert_array_equal(samples["group"].values, [1000, 1001, 2000, 2001, 2002, 3000, 3001,
                                                            4000, 4001, 4002])
    assert samples.attrs["regions"] == ["frh01", "frh03", "frh04", "belle-ile"]
    split = split_samples(samples, "predefined")
    assert set(split[samples["region"].values == "frh04"]) == {2} and (split[:5] != 2).all()
    tuned = read_breizhcrops(tmp_path, regions=("frh01", "frh03"), validation_region="frh03")
    np.testing.assert_array_equal(tuned["split"].values, [0, 0, 1, 1, 1])
    assert set(read_breizhcrops(tmp_path, region="frh01")["split"].values) == {0}, "one region: its role"
    assert read_breizhcrops(tmp_path, regions=("frh03",), max_parcels=1).sizes["sample"] == 1
    with pytest.raises(ValueError, match="distinct region names"):
        read_breizhcrops(tmp_path, regions=("frh01", "frh01"))


def test_breizhcrops_bad_files_are_named(tmp_path):
    dataset_fixtures.write_breizhcrops(tmp_path)
    h5_path = tmp_path / "2017" / "L2A" / "frh04.h5"
    with h5py.File(h5_path, "a") as handle:
        del handle["csv/frh04/101.csv"]
        handle.create_dataset("csv/frh04/101.csv", data=np.zeros((3, 13)))
    with pytest.raises(DatasetFormatError, match=r"frh04\.h5: dataset 'csv/frh04/101\.csv' has shape \(3, 13\), "
                                                 r"expected \(T, 14\).*April 2020 L2A files had 13 columns"):
        read_breizhcrops(tmp_path)
    with h5py.File(h5_path, "a") as handle:
        del handle["csv/frh04/101.csv"]
    with pytest.raises(DatasetFormatError, match=r"frh04\.h5: no dataset 'csv/frh04/101\.csv' \(listed in frh04\.csv\)"):
        read_breizhcrops(tmp_path)
    with h5py.File(h5_path, "a") as handle:
        handle.create_dataset("csv/frh04/101.csv", data=np.zeros((0, 14)))
    assert list(read_breizhcrops(tmp_path)["parcel_id"].values) == [100, 102], "an empty series is dropped"
    _truncate(h5_path)
    with pytest.raises(DatasetFormatError, match=r"frh04\.h5: unreadable or truncated HDF5"):
        read_breizhcrops(tmp_path)
    h5_path.unlink()
    with pytest.raises(DatasetFormatError, match=r"frh04\.h5: missing file"):
        read_breizhcrops(tmp_path)
    with pytest.raises(DatasetFormatError, match=r"frh01\.csv: missing file \(expected parcel index"):
        read_breizhcrops(tmp_path, region="frh01")
    index = tmp_path / "2017" / "L2A" / "frh04.csv"
    pd.read_csv(index, index_col=0).drop(columns=["path"]).to_csv(index)
    with pytest.raises(DatasetFormatError, match=r"frh04\.csv: missing column\(s\) \['path'\]"):
        read_breizhcrops(tmp_path)
    pd.DataFrame({"id": [0, 2], "classname": ["a", "b"], "code": ["ORH", "BTH"]}).to_csv(tmp_path / "classmapping.csv")
    with pytest.raises(DatasetFormatError, match=r"classmapping\.csv: class ids \[0, 2\] are not 0..1"):
        read_breizhcrops(tmp_path)


# --- BreizhCrops: files written by the official package ------------------------------------------------

PACKAGE_PIN = "breizhcrops==0.0.4.1"


def _official_package(monkeypatch):
    """The installed ``breizhcrops`` package (skip when absent), imported without its heavy extras: geopandas is
    only used by ``BreizhCrops.geodataframe``, so a stub stands in for it when it is not installed."""
    if importlib.util.find_spec("breizhcrops") is None:
        pytest.skip(f"official package absent (test-only dependency: pip install --no-deps {PACKAGE_PIN})")
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the official breizhcrops package imports torch, which is not installed")
    if importlib.util.find_spec("geopandas") is None:
        monkeypatch.setitem(sys.modules, "geopandas", types.ModuleType("geopandas"))
    module = pytest.importorskip("breizhcrops.datasets.breizhcrops")

    def offline(url, output_path, overwrite=False):  # utils.download_file skips a file already there
        if Path(output_path).exists() and not overwrite:
            return
        raise AssertionError(f"the test must stay offline, but the package asked for {url}")

    monkeypatch.setattr(module, "download_file", offline)
    return module


def _raw_csv_zip(root: Path, level: str, region: str, module, rng) -> dict[int, pd.DataFrame]:
    """The package's raw per-parcel CSVs (columns ``BANDS[level]`` after an index column, doa as text: what
    ``load_raw``, lines 241-250, parses), zipped where ``download_csv_files`` (lines 137-141) expects its
    download; the package then unzips it itself."""
    tables = {}
    codes = [(5001, "ORH"), (5002, "BTH"), (5003, "MIS"), (5004, "XXX")]
    with zipfile.ZipFile(root / "2017" / level / f"{region}.zip", "w") as archive:
        for k, (pid, code) in enumerate(codes):
            n = 3 + k
            days = np.sort(rng.choice(300, n, replace=False))
            when = pd.Timestamp("2017-01-02T11:07:41") + pd.to_timedelta(days, unit="D")
            table = pd.DataFrame(index=range(n))
            for name in module.BANDS[level]:
                if name == "doa":
                    table[name] = when.strftime("%Y-%m-%d %H:%M:%S")
                elif name == "id":
                    table[name] = pid
                elif name in ("code_cultu", "label"):
                    table[name] = code
                elif name == "B10":
                    table[name] = rng.integers(5, 40, n).astype(float)
                elif name.startswith("B"):
                    table[name] = rng.integers(300, 6000, n).astype(float)
                elif name == "CLD":
                    table[name] = rng.choice([0.0, 10.0, 90.0], n)
                elif name == "QA60":
                    table[name] = rng.choice([0.0, 1024.0], n)
                else:
                    table[name] = 0.0
            archive.writestr(f"{pid}.csv", table.to_csv())
            tables[pid] = table
    return tables


@pytest.mark.parametrize("level", ["L2A", "L1C"])
def test_breizhcrops_reads_what_the_official_package_writes(tmp_path, monkeypatch, level):
    module = _official_package(monkeypatch)
    region, rng = "frh04", np.random.default_rng(7)
    (tmp_path / "2017" / level).mkdir(parents=True)
    pd.DataFrame({"id": [0, 1, 2], "classname": ["barley", "wheat", "corn"], "code": ["ORH", "BTH", "MIS"]}).to_csv(
        tmp_path / "classmapping.csv")
    pd.DataFrame({"code": ["ORH", "BTH", "MIS"], "description": ["o", "b", "m"]}).to_csv(
        tmp_path / "codes.csv", sep=";", index=False)
    (tmp_path / "2017" / level / f"{region}.csv").write_text("replaced by the package's write_index\n")
    tables = _raw_csv_zip(tmp_path, level, region, module, rng)
    # the package's own path from raw CSVs to {region}.csv + {region}.h5 (__init__ lines 95-98: write_index,
    # write_h5_database_from_csv), then its own loader (__getitem__, identity transforms)
    official = module.BreizhCrops(region, root=str(tmp_path), year=2017, level=level, recompile_h5_from_csv=True,
                                  transform=lambda x: x, target_transform=lambda y: y)
    ours = validate_samples(read_breizhcrops(tmp_path, region=region, level=level))
    expected_layout = {"L2A": "doa-first", "L1C": "2020-08"}[level]
    assert ours.attrs["layouts"].startswith(f"{region}: {expected_layout} (doa in ")
    assert len(official) == ours.sizes["sample"] == 3, "the parcel with code XXX is dropped by both"
    selected = module.SELECTED_BANDS[level]
    assert tuple(selected) == LAYOUTS[level][expected_layout]
    band_idx = [selected.index("B" + b[1:].lstrip("0")) for b in ours["band"].values]
    for k in range(len(official)):
        x, y, pid = official[k]
        assert ours["label"].values[k] == y and ours["parcel_id"].values[k] == pid == ours["group"].values[k]
        n = int(lengths(ours)[k])
        assert n == len(x) == len(tables[pid])
        np.testing.assert_allclose(ours["series"].values[k, :n], (x[:, band_idx] * 1e-4).astype(np.float32))
        # dates: from the package's doa column (its unit depends on the pandas it ran with) and from the raw text
        np.testing.assert_array_equal(ours["date"].values[k, :n],
                                      pd.to_datetime(tables[pid]["doa"]).to_numpy().astype("datetime64[ns]"))
        doa_ms = (ours["date"].values[k, :n].astype("datetime64[ms]").astype(np.int64)).astype(np.float64)
        ratio = x[:, selected.index("doa")] / doa_ms
        assert any(np.allclose(ratio, unit) for unit in (1e-3, 1.0, 1e3, 1e6)), "doa in s, ms, us or ns"
        if level == "L1C":
            clear = x[:, selected.index("QA60")] == 0
        else:
            clear = x[:, selected.index("CLD")] < 50
        np.testing.assert_array_equal(ours["valid"].values[k, :n], clear)


# --- TimeSen2Crop -------------------------------------------------------------------------------------


def test_timesen2crop_round_trip(tmp_path):
    written = dataset_fixtures.write_timesen2crop(tmp_path, tile="33UVP", per_class={0: 2, 3: 1}, n_dates=5)
    samples = validate_samples(read_timesen2crop(tmp_path, "33UVP"))
    assert dict(samples.sizes) == {"sample": 3, "time": 5, "band": 9}
    for k, sample in enumerate(written["samples"]):
        table = sample["table"]
        np.testing.assert_allclose(samples["series"].values[k], (table.iloc[:, :9].to_numpy() * 1e-4).astype(np.float32))
        np.testing.assert_array_equal(samples["valid"].values[k], table["Flag"].to_numpy() == 0)
        np.testing.assert_array_equal(samples["date"].values[k], written["dates"].astype("datetime64[ns]"))
    np.testing.assert_array_equal(samples["label"].values, [0, 0, 3])
    assert list(samples["group"].values) == [1, 2, 3], "no parcel id: one group per sample"
    assert "split" not in samples, "no published split"
    assert list(samples["file"].values) == ["33UVP/0/0.csv", "33UVP/0/1.csv", "33UVP/3/0.csv"]
    assert list(samples["tile"].values) == ["33UVP"] * 3 and samples.attrs["tiles"] == ["33UVP"]
    assert read_timesen2crop(tmp_path, "33UVP", max_per_class=1).sizes["sample"] == 2
    written["samples"][0]["table"].to_csv(tmp_path / "33UVP" / "0" / "0.csv", index=False, header=False)
    np.testing.assert_array_equal(read_timesen2crop(tmp_path, "33UVP")["series"].values, samples["series"].values)


def test_timesen2crop_tiles_keep_their_own_dates(tmp_path):
    first = dataset_fixtures.write_timesen2crop(tmp_path, tile="33UVP", per_class={0: 1}, n_dates=4, seed=0)
    second = dataset_fixtures.write_timesen2crop(tmp_path, tile="32TNT", per_class={2: 2}, n_dates=6, seed=1)
    samples = validate_samples(read_timesen2crop(tmp_path, ["33UVP", "32TNT"]))
    assert list(samples["tile"].values) == ["33UVP", "32TNT", "32TNT"]
    np.testing.assert_array_equal(lengths(samples), [4, 6, 6])
    np.testing.assert_array_equal(samples["date"].values[0, :4], first["dates"].astype("datetime64[ns]"))
    assert np.isnat(samples["date"].values[0, 4:]).all() and not samples["valid"].values[0, 4:].any()
    np.testing.assert_array_equal(samples["date"].values[2], second["dates"].astype("datetime64[ns]"))
    np.testing.assert_array_equal(samples["label"].values, [0, 2, 2])
    np.testing.assert_array_equal(samples["group"].values, [1, 2, 3])


def test_timesen2crop_same_day_dates_are_merged(tmp_path):
    dataset_fixtures.write_timesen2crop(tmp_path, per_class={1: 1}, n_dates=4)
    dates = pd.read_csv(tmp_path / "33UVP" / "dates.csv")
    dates.loc[1, "acquisition_date"] = dates.loc[0, "acquisition_date"]
    dates.to_csv(tmp_path / "33UVP" / "dates.csv", index=False)
    table = pd.read_csv(tmp_path / "33UVP" / "1" / "0.csv")
    table["Flag"] = [0, 0, 1, 0]
    table.to_csv(tmp_path / "33UVP" / "1" / "0.csv", index=False)
    samples = validate_samples(read_timesen2crop(tmp_path, "33UVP"))
    assert samples.sizes["time"] == 3
    np.testing.assert_allclose(samples["series"].values[0, 0],
                               (table.iloc[:2, :9].mean().to_numpy() * 1e-4).astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(samples["valid"].values[0], [True, False, True])


def test_timesen2crop_bad_files_are_named(tmp_path):
    dataset_fixtures.write_timesen2crop(tmp_path, per_class={0: 1})
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
    dates = pd.read_csv(tmp_path / "33UVP" / "dates.csv", dtype=str)
    dates.rename(columns={"acquisition_date": "date"}).to_csv(tmp_path / "33UVP" / "dates.csv", index=False)
    with pytest.raises(DatasetFormatError, match=r"dates\.csv: no column 'acquisition_date'"):
        read_timesen2crop(tmp_path, "33UVP")
    (tmp_path / "33UVP" / "dates.csv").unlink()
    with pytest.raises(DatasetFormatError, match=r"dates\.csv: missing file"):
        read_timesen2crop(tmp_path, "33UVP")
    with pytest.raises(DatasetFormatError, match=r"32TNT/dates\.csv: missing file"):
        read_timesen2crop(tmp_path, ["32TNT"])
