"""Dataset description files (sitsbench.data.description): foreign bytes through a description, every layout
written here as a fixture, bad descriptions refused naming the key, and `sitsbench data describe`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from rasterio.transform import from_origin

from sitsbench.cli import main
from sitsbench.data import cube as cube_format
from sitsbench.data import samples as samples_format
from sitsbench.data.description import DescriptionError, describe_path
from sitsbench.data.loading import load_dataset

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
EXAMPLES = Path(__file__).parent / "data" / "descriptions"
SINOP = SHARED / "sits_sinop_stacks"
VICTORIA = SHARED / "igarss2019_victoria_s2"
needs_sinop = pytest.mark.skipif(not SINOP.is_dir(), reason="../shared/data/sits_sinop_stacks absent")
needs_victoria = pytest.mark.skipif(not VICTORIA.is_dir(), reason="../shared/data/igarss2019_victoria_s2 absent")
UTM33_PROJ = "+proj=utm +zone=33 +datum=WGS84 +units=m +no_defs"


def _write(path: Path, description: dict) -> Path:
    path.write_text(yaml.safe_dump(description, sort_keys=False))
    return path


def _example(name: str, folder: Path) -> Path:
    """The stored example description ``name`` copied beside the fixture files a test wrote in ``folder``."""
    return Path(shutil.copy(EXAMPLES / name, folder / name))


def _tif(path: Path, layers: np.ndarray, crs=None, nodata=None) -> Path:
    count, height, width = layers.shape
    with rasterio.open(path, "w", driver="GTiff", count=count, height=height, width=width, dtype=layers.dtype,
                       crs=crs, transform=from_origin(500000, 5000000, 10, 10), nodata=nodata) as out:
        out.write(layers)
    return path


@needs_sinop
def test_sinop_stacks_through_the_stored_description():
    with pytest.warns(UserWarning, match="6 of 18 point"):
        loaded = load_dataset(EXAMPLES / "sinop_stacks.yaml")
    cube = loaded.cube
    assert loaded.layout == "description" and loaded.name == "sinop-stacks"
    times = cube[cube_format.TIME].values.astype("datetime64[D]")
    assert times.size == 23 and str(times[0]) == "2013-09-14" and str(times[-1]) == "2014-08-29"
    assert np.all(np.diff(times).astype(int) > 0)
    assert list(cube[cube_format.BAND].values) == ["ndvi", "evi"]
    with rasterio.open(SINOP / "sinop_ndvi_2014.tif") as source:
        raw, crs, transform = source.read(), source.crs, source.transform
    assert cube.rio.crs == crs and tuple(cube.rio.transform()) == pytest.approx(tuple(transform))
    nodata = raw < -1e30
    valid = cube[cube_format.VALID].values
    assert (~valid == nodata).all(), "the files' nodata is exactly the invalid observations"
    ndvi = cube[cube_format.REFLECTANCE].sel(band="ndvi").values
    np.testing.assert_allclose(ndvi[valid], raw[valid] * 1e-4, rtol=1e-6)  # x 10,000 stored: scaled back
    assert 0.9 < ndvi.max() <= 1.0
    samples = loaded.samples
    assert samples.sizes["sample"] == 12 and samples_format.class_names(samples) == ["Forest", "Pasture", "Soy_Corn"]
    assert any("6 of 18 point(s) fall outside the rasters" in note and "id 13, 14, 15, 16, 17, 18" in note
               for note in loaded.notes)


@needs_sinop
def test_points_outside_are_an_error_naming_them_unless_dropped(tmp_path):
    description = yaml.safe_load((EXAMPLES / "sinop_stacks.yaml").read_text())
    for key, value in description["rasters"]["bands"].items():
        description["rasters"]["bands"][key] = str((EXAMPLES / value).resolve())
    description["rasters"]["dates"] = str((EXAMPLES / description["rasters"]["dates"]).resolve())
    points = pd.read_csv(SHARED / "sits_sinop_modis" / "samples_sinop_crop.csv")
    points.loc[0, "start_date"] = "2014-01-01"  # a point with its own interval keeps only its dates
    points.to_csv(tmp_path / "points.csv", index=False)
    description["points"]["file"] = "points.csv"
    with pytest.warns(UserWarning, match="id 13, 14, 15, 16, 17, 18: dropped"):
        loaded = load_dataset(_write(tmp_path / "d.yaml", description))
    days = loaded.samples[samples_format.DATE].values.astype("datetime64[D]")
    timeline = loaded.cube[cube_format.TIME].values.astype("datetime64[D]")
    assert str(days[0][0]) == "2014-01-01" and (~np.isnat(days[0])).sum() == (timeline >= days[0][0]).sum() == 16
    assert not np.isnat(days[1:]).any()
    del description["points"]["outside"]
    with pytest.raises(DescriptionError, match=r"d\.yaml: points: points\.csv: 6 of 18 point\(s\) fall outside "
                                               r"the rasters .*id 13, 14, 15, 16, 17, 18; set points\.outside"):
        load_dataset(_write(tmp_path / "d.yaml", description))


@needs_sinop
def test_accepted_by_the_commands(tmp_path, capsys):
    description = EXAMPLES / "sinop_stacks.yaml"
    with pytest.warns(UserWarning, match="id 13, 14, 15, 16, 17, 18"):
        assert main(["data", "info", str(description)]) == 0
    info = yaml.safe_load(capsys.readouterr().out)
    assert info["cube"]["dates"] == "23: 2013-09-14 to 2014-08-29" and info["cube"]["crs"] == "EPSG:4326"
    assert info["samples"]["samples"] == 12
    with pytest.warns(UserWarning, match="id 13, 14, 15, 16, 17, 18"):
        assert main(["train", str(description), "--model", "rf", "--output", str(tmp_path / "m")]) == 0
    assert main(["predict-map", str(description), "--model", str(tmp_path / "m"),
                 "--output", str(tmp_path / "map.tif")]) == 0
    with rasterio.open(tmp_path / "map.tif") as written, rasterio.open(SINOP / "sinop_evi_2014.tif") as source:
        assert written.crs == source.crs and written.transform.almost_equals(source.transform, precision=1e-12)
        assert written.shape == source.shape


@needs_victoria
def test_victoria_csv_under_another_name_with_a_description(tmp_path):
    from sitsbench.data.readers.victoria import BANDS, N_DATES, read_class_map, read_victoria

    shutil.copy(VICTORIA / "train_dataset.csv", tmp_path / "pixels.csv")
    class_names = ["Bare Ground", "Canola", "Cereals", "Legumes", "Forest", "Grassland", "Water", "Urban"]
    assert class_names == read_class_map(VICTORIA)
    dates = (np.datetime64("2018-01-01") + 5 * np.arange(N_DATES)).astype(str)
    (tmp_path / "when.txt").write_text("\n".join(dates) + "\n")
    loaded = load_dataset(_example("victoria_pixels.yaml", tmp_path))
    assert list(loaded.samples[samples_format.BAND].values) == list(BANDS)
    reference = read_victoria(VICTORIA)
    train = reference.isel(sample=np.flatnonzero(reference[samples_format.SPLIT].values == 0))
    np.testing.assert_allclose(loaded.samples[samples_format.VALUES].values, train[samples_format.VALUES].values, rtol=1e-6)
    np.testing.assert_array_equal(loaded.samples[samples_format.LABEL].values, train[samples_format.LABEL].values)
    np.testing.assert_array_equal(loaded.samples[samples_format.DATE].values[0], train[samples_format.DATE].values[0])
    assert samples_format.class_names(loaded.samples) == class_names


def test_headerless_band_major_table_with_a_class_mapping_and_a_split(tmp_path):
    rng = np.random.default_rng(0)
    series = rng.random((5, 3, 2)).astype(np.float32)  # (sample, date, band)
    band_major = series.transpose(0, 2, 1).reshape(5, 6)  # red d1 d2 d3, nir d1 d2 d3
    rows = [[label, polygon, *values, split] for label, polygon, values, split in
            zip([3, 7, 3, 7, 7], [1, 1, 2, 3, 3], band_major, ["train", "train", "test", "val", "val"])]
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", header=False, index=False)
    loaded = load_dataset(_example("headerless_table.yaml", tmp_path))
    samples = loaded.samples
    np.testing.assert_allclose(samples[samples_format.VALUES].values, series, rtol=1e-6)
    assert list(samples[samples_format.BAND].values) == ["red", "nir"]
    assert samples_format.class_names(samples) == ["crop", "forest"]
    np.testing.assert_array_equal(samples[samples_format.LABEL].values, [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(samples[samples_format.SPLIT].values, [0, 0, 2, 1, 1])
    assert samples[samples_format.GROUP].values[0] == samples[samples_format.GROUP].values[1] != samples[samples_format.GROUP].values[2]


def test_band_major_stack_with_a_proj_crs_and_points_in_that_crs(tmp_path):
    from pyproj import CRS

    layers = np.arange(6 * 4 * 5, dtype=np.int16).reshape(6, 4, 5)  # 2 bands x 3 dates, band-major
    _tif(tmp_path / "stack.tif", layers)  # no CRS in the file
    (tmp_path / "stack.proj").write_text(UTM33_PROJ + "\n")
    pd.DataFrame({"E": [500015.0, 500045.0], "N": [4999985.0, 4999965.0], "cls": ["a", "b"],
                  "name": ["p1", "p2"]}).to_csv(tmp_path / "pts.csv", index=False)
    loaded = load_dataset(_example("band_major_stack.yaml", tmp_path))
    cube = loaded.cube
    for t in range(3):
        for b in range(2):
            np.testing.assert_array_equal(cube[cube_format.REFLECTANCE].values[t, b], layers[b * 3 + t])
    assert CRS.from_user_input(cube.rio.crs.to_wkt()).equals(CRS.from_proj4(UTM33_PROJ))
    series = loaded.samples[samples_format.VALUES].values
    np.testing.assert_array_equal(series[0, :, 0], layers[0:3, 1, 1])  # p1 in row 1, column 1
    np.testing.assert_array_equal(series[1, :, 1], layers[3:6, 3, 4])  # p2 in row 3, column 4


@pytest.mark.parametrize("mask", ["scl", "qa"])
def test_per_date_files_by_pattern_with_a_quality_mask(tmp_path, mask):
    rng = np.random.default_rng(1)
    dates = ["20200501", "20200601"]
    scl = rng.integers(0, 12, size=(2, 4, 5)).astype(np.uint8)
    qa = rng.integers(0, 1 << 7, size=(2, 4, 5)).astype(np.uint16)
    for t, day in enumerate(dates):
        for band in ("B04", "B08"):
            _tif(tmp_path / f"S2_{band}_{day}.tif", rng.integers(1, 9000, size=(1, 4, 5)).astype(np.uint16),
                 crs="EPSG:32633")
        if mask == "scl":
            _tif(tmp_path / f"S2_SCL_{day}.tif", scl[t:t + 1], crs="EPSG:32633")
    _tif(tmp_path / "qa.tif", qa, crs="EPSG:32633")
    if mask == "scl":
        clear = np.isin(scl, [4, 5, 6])
    else:
        clear = ((qa >> 3) & 1 == 0) & ((qa >> 4) & 1 == 0)  # Landsat QA: no cloud (bit 3), no shadow (bit 4)
    cube = load_dataset(_example(f"per_date_{mask}.yaml", tmp_path)).cube
    assert list(cube[cube_format.BAND].values) == ["B04", "B08"]
    assert [str(d) for d in cube[cube_format.TIME].values.astype("datetime64[D]")] == ["2020-05-01", "2020-06-01"]
    np.testing.assert_array_equal(cube[cube_format.VALID].values, clear)
    assert 0 < clear.sum() < clear.size


def _stack_description(tmp_path: Path, **rasters) -> Path:
    _tif(tmp_path / "ndvi.tif", np.ones((3, 2, 2), np.float32), crs="EPSG:4326")
    (tmp_path / "dates.txt").write_text("2020-01-01\n2020-01-17\n2020-02-02\n")
    return _write(tmp_path / "bad.yaml", {"rasters": {"bands": {"ndvi": "ndvi.tif"}, "dates": "dates.txt",
                                                      **rasters}})


@pytest.mark.parametrize(("change", "message"), [
    ({"bandz": 1}, r"bad\.yaml: rasters\.bandz: unknown key \(expected one of .*\); did you mean 'bands'\?"),
    ({"bands": {"ndvi": "nope.tif"}}, r"bad\.yaml: rasters\.bands\.ndvi: file 'nope\.tif' not found"),
    ({"dates": ["2020-01-01", "2020-01-17"]}, r"bad\.yaml: rasters\.layers: ndvi\.tif has 3 layers, expected 2 "
                                              r"dates x 1 band\(s\) = 2"),
    ({"dates": ["2020-01-01", "17/01/2020", "2020-02-02"]}, r"bad\.yaml: rasters\.dates: date 1 '17/01/2020' is "
                                                            r"not an ISO date"),
    ({"dates": "FILL_IN"}, r"bad\.yaml: rasters\.dates: still FILL_IN"),
    ({"dates": ["2020-01-01", "2020-01-01", "2020-02-02"]}, r"bad\.yaml: rasters\.dates: a date is given twice"),
    ({"dates": {"file": "dates.txt", "colum": "x"}}, r"bad\.yaml: rasters\.dates: unknown key\(s\) \['colum'\]"),
    ({"layers": "time"}, r"bad\.yaml: rasters\.layers: expected one of dates, bands, dates\*bands, bands\*dates"),
    ({"crs": "EPSG:99999999"}, r"bad\.yaml: rasters\.crs: not a CRS"),
    ({"mask": {"band": "scl", "clear": [4]}}, r"bad\.yaml: rasters\.mask\.band: no band 'scl'"),
])
def test_bad_descriptions_name_the_key(tmp_path, change, message):
    with pytest.raises(DescriptionError, match=message):
        load_dataset(_stack_description(tmp_path, **change))


def test_a_bad_description_stops_the_command_with_the_key_and_keeps_files(tmp_path, capsys):
    description = _stack_description(tmp_path, nodata="none")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["data", "info", str(description)]) == 2
    assert "bad.yaml: rasters.nodata: expected a number, got 'none'" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_dates_from_json_and_csv_files(tmp_path):
    import json

    dates = ["2020-01-01", "2020-01-17", "2020-02-02"]
    (tmp_path / "d.json").write_text(json.dumps({"acquisitions": dates}))
    pd.DataFrame({"id": [1, 2, 3], "when": [d.replace("-", "") for d in dates]}).to_csv(tmp_path / "d.csv",
                                                                                      index=False)
    for spec in ({"file": "d.json", "key": "acquisitions"}, {"file": "d.csv", "column": "when"}):
        cube = load_dataset(_stack_description(tmp_path, dates=spec)).cube
        assert [str(d) for d in cube[cube_format.TIME].values.astype("datetime64[D]")] == dates


@needs_sinop
def test_describe_writes_a_description_that_loads(tmp_path, capsys):
    assert main(["data", "describe", str(SINOP), "--relative-to", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "FILL_IN" not in text.split("#")[0]
    (tmp_path / "d.yaml").write_text(text)
    cube = load_dataset(tmp_path / "d.yaml").cube
    assert cube.sizes[cube_format.TIME] == 23 and sorted(cube[cube_format.BAND].values) == ["evi", "ndvi"]
    assert float(cube[cube_format.REFLECTANCE].max()) <= 1.0  # the x 10,000 scale was detected


def test_describe_marks_what_it_cannot_decide(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    _tif(folder / "red.tif", np.ones((3, 2, 2), np.float32))  # no CRS, no dates anywhere
    _tif(folder / "nir.tif", np.ones((3, 2, 2), np.float32))
    text = describe_path(folder, tmp_path)
    description = yaml.safe_load(text)
    assert description["rasters"]["dates"] == "FILL_IN" and description["rasters"]["crs"] == "FILL_IN"
    assert description["rasters"]["bands"] == {"nir": "mine/nir.tif", "red": "mine/red.tif"}
    (tmp_path / "d.yaml").write_text(text)
    with pytest.raises(DescriptionError, match=r"d\.yaml: rasters\.dates: still FILL_IN"):
        load_dataset(tmp_path / "d.yaml")
    headerless = tmp_path / "t.csv"
    pd.DataFrame([[1, 10, 0.1, 0.2], [2, 11, 0.3, 0.4]]).to_csv(headerless, header=False, index=False)
    table = yaml.safe_load(describe_path(headerless, tmp_path))["samples"]
    assert table["header"] is False and table["columns"]["label"] == "FILL_IN"


def test_the_checksum_covers_the_files_a_description_names(tmp_path):
    """Run records and the book's chapter cache key hash a dataset path: for a description, its data count."""
    from sitsbench.data.loading import content_checksum

    description = _stack_description(tmp_path)
    before = content_checksum(description)
    assert load_dataset(description).checksum == before
    _tif(tmp_path / "ndvi.tif", np.full((3, 2, 2), 2, np.float32), crs="EPSG:4326")  # same description, new data
    assert content_checksum(description) != before


def test_scale_offset_nodata_and_valid_range(tmp_path):
    description = _stack_description(tmp_path, scale=0.5, offset=-1, nodata=-9, valid_range=[0, 3])
    raw = np.array([[[2, 4], [-9, 10]], [[6, 8], [2, 2]], [[2, 2], [2, -9]]], dtype=np.float32)
    _tif(tmp_path / "ndvi.tif", raw, crs="EPSG:4326")  # no nodata in the file: the description gives it
    cube = load_dataset(description).cube
    values, valid = cube[cube_format.REFLECTANCE].values[:, 0], cube[cube_format.VALID].values
    np.testing.assert_array_equal(valid, (raw != -9) & (raw * 0.5 - 1 >= 0) & (raw * 0.5 - 1 <= 3))
    np.testing.assert_allclose(values[raw != -9], raw[raw != -9] * 0.5 - 1)
    assert (values[raw == -9] == 0).all()


def test_points_from_a_vector_file_with_per_point_date_intervals(tmp_path):
    import json

    from pyproj import Transformer

    layers = np.arange(6 * 4 * 5, dtype=np.int16).reshape(6, 4, 5)
    _tif(tmp_path / "stack.tif", layers)
    (tmp_path / "stack.proj").write_text(UTM33_PROJ + "\n")
    lon, lat = Transformer.from_crs(UTM33_PROJ, "EPSG:4326", always_xy=True).transform([500015.0, 500045.0],
                                                                                      [4999985.0, 4999965.0])
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
                 "properties": {"cls": c, "name": n, "from": f, "to": t}}
                for x, y, c, n, f, t in zip(lon, lat, "ab", ["p1", "p2"], ["2021-03-01", "2021-04-01"],
                                            ["2021-05-31", "2021-04-30"])]
    (tmp_path / "pts.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    description = yaml.safe_load((EXAMPLES / "band_major_stack.yaml").read_text())
    description["points"] = {"file": "pts.geojson", "columns": {"label": "cls", "id": "name", "start": "from",
                                                                "end": "to"}}
    samples = load_dataset(_write(tmp_path / "v.yaml", description)).samples
    days = samples[samples_format.DATE].values.astype("datetime64[D]").astype(str)
    assert days[0].tolist() == ["2021-03-01", "2021-04-01", "2021-05-01"]
    assert days[1].tolist() == ["2021-04-01", "NaT", "NaT"]  # p2 keeps only its own interval
    np.testing.assert_array_equal(samples[samples_format.VALUES].values[1, 0], [layers[1, 3, 4], layers[4, 3, 4]])  # red, nir


def test_a_dataset_in_a_registered_layout_through_a_description(tmp_path, capsys):
    """``layout`` + ``path``: the reader of that layout reads the folder (here a PASTIS patch set); the
    description names the dataset, and its checksum covers the folder."""
    from dataset_fixtures import write_pastis

    write_pastis(tmp_path / "patches", n_patches=5, size=8)
    description = _example("pastis_patches.yaml", tmp_path)
    loaded = load_dataset(description)
    assert (loaded.name, loaded.layout, loaded.kind) == ("pastis-fixture", "pastis", "patches")
    assert len(loaded.patches) == 5 and loaded.patches.subset_ids("test") == [10004]
    before = loaded.checksum
    np.save(tmp_path / "patches" / "DATA_S2" / "S2_10004.npy", np.zeros((7, 10, 8, 8), dtype=np.int16))
    assert load_dataset(description).checksum != before
    assert main(["data", "info", str(description)]) == 0
    assert "pastis-fixture" in capsys.readouterr().out
    for change, message in [
        ({"layout": "pastsi"}, r"bad\.yaml: layout: unknown layout 'pastsi' \(expected one of .*\); did you mean "
                               r"'pastis'\?"),
        ({"layout": "description"}, r"bad\.yaml: layout: unknown layout 'description'"),
        ({"path": "absent"}, r"bad\.yaml: path: 'absent' not found"),
        ({"path": None}, r"bad\.yaml: path: missing"),
        ({"samples": {"file": "x.csv"}}, r"bad\.yaml: layout: give either layout and path .* or samples, not both"),
    ]:
        data = {"layout": "pastis", "path": "patches", **change}
        with pytest.raises(DescriptionError, match=message):
            load_dataset(_write(tmp_path / "bad.yaml", {k: v for k, v in data.items() if v is not None}))
