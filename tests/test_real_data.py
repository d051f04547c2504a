"""Real-data structures: raster folders/stacks -> georeferenced cubes, labelled samples, sits tibbles.

Fixture rasters are written with rasterio in ``tmp_path`` with a known CRS, transform and values, so every
test can compare the cube, the extracted samples and the written maps with the arrays it wrote. The last
tests read the real bytes in ``../shared/data`` (skipped when the folder is absent).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
import xarray as xr
from pyproj import Transformer
from rasterio.transform import from_origin

from sitsbench.data import cube as cube_format
from sitsbench.data import georef, io
from sitsbench.data import samples as samples_format
from sitsbench.data.datasets import SampleSeriesDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.readers.base import DatasetFormatError
from sitsbench.data.readers.rasters import read_raster_folder, read_raster_stack
from sitsbench.data.readers.sits import read_sits_samples

CRS = "EPSG:32631"
X0, Y0, RES = 600_000.0, 5_000_000.0, 10.0
TRANSFORM = from_origin(X0, Y0, RES, RES)
HEIGHT, WIDTH = 6, 8
DATES = ["2020-05-01", "2020-05-11", "2020-05-21"]
NODATA = -3000

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SINOP = SHARED / "sits_sinop_modis"
SITS = SHARED / "sits_samples"
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # affine's `*` in rioxarray
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data folder {SHARED} is absent")


def write_tif(path: Path, array, dtype, nodata=None, crs=CRS, transform=TRANSFORM, scale=None, descriptions=None):
    """Write ``array`` ``(y, x)`` or ``(band, y, x)`` as a GeoTIFF with a known grid."""
    array = np.asarray(array)
    array = array[None] if array.ndim == 2 else array
    profile = dict(driver="GTiff", count=array.shape[0], height=array.shape[1], width=array.shape[2], dtype=dtype,
                   crs=crs, transform=transform, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array.astype(dtype))
        if scale is not None:
            dst.scales = [scale] * array.shape[0]
            dst.offsets = [0.0] * array.shape[0]
        for i, text in enumerate(descriptions or []):
            dst.set_band_description(i + 1, text)
    return path


def centres(rows, cols):
    """Map coordinates of the centres of pixels ``(rows, cols)`` of the fixture grid."""
    return X0 + RES * (np.asarray(cols) + 0.5), Y0 - RES * (np.asarray(rows) + 0.5)


def to_lonlat(x, y, crs=CRS):
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)


@pytest.fixture
def ndvi_folder(tmp_path):
    """Three int16 NDVI x 10,000 files, one per date, with one nodata pixel at the second date."""
    values = np.random.default_rng(0).integers(-2000, 9000, (len(DATES), HEIGHT, WIDTH)).astype(np.int16)
    values[1, 2, 3] = NODATA
    folder = tmp_path / "ndvi"
    folder.mkdir()
    for t, date in enumerate(DATES):
        write_tif(folder / f"NDVI_{date}.tif", values[t], "int16", nodata=NODATA)
    return folder, values


@pytest.fixture
def s2_folder(tmp_path):
    """Two float32 bands B04/B08 per date, one file per (date, band), over two years (six dates)."""
    dates = ["2019-03-01", "2019-06-01", "2019-09-01", "2020-03-01", "2020-06-01", "2020-09-01"]
    values = np.random.default_rng(1).uniform(0, 0.6, (len(dates), 2, HEIGHT, WIDTH)).astype(np.float32)
    values[2, :, 4, 6] = np.nan  # no data at one pixel, third date
    folder = tmp_path / "s2"
    folder.mkdir()
    for t, date in enumerate(dates):
        for b, band in enumerate(("B08", "B04")[::-1]):
            write_tif(folder / f"S2_{band}_{date}.tif", values[t, b], "float32", nodata=np.nan)
    return folder, values, np.array(dates, dtype="datetime64[D]")


# --- 1. raster folders and stacks -> georeferenced cubes ------------------------------------------------------


def test_one_band_per_date_dates_in_names(ndvi_folder):
    folder, values = ndvi_folder
    cube = read_raster_folder(folder)
    assert dict(cube.sizes) == {"time": 3, "band": 1, "y": HEIGHT, "x": WIDTH}
    assert cube[cube_format.BAND].values.tolist() == ["NDVI"]
    np.testing.assert_array_equal(cube[cube_format.TIME].values, np.array(DATES, dtype="datetime64[ns]"))
    # int16 NDVI x 10,000 is divided by 10,000 and the factor recorded
    assert cube.attrs["scale"] == pytest.approx(1e-4)
    assert cube.attrs["source"] == str(folder)
    reflectance = cube[cube_format.REFLECTANCE].values[:, 0]
    valid = cube[cube_format.VALID].values
    assert reflectance.dtype == np.float32 and valid.dtype == bool
    expected_valid = values != NODATA
    np.testing.assert_array_equal(valid, expected_valid)
    assert not valid[1, 2, 3] and reflectance[1, 2, 3] == 0.0  # nodata -> invalid, filled with 0
    np.testing.assert_allclose(reflectance[expected_valid], values[expected_valid] * 1e-4, rtol=1e-6)
    assert -1 <= reflectance.min() and reflectance.max() <= 1
    cube_format.validate_cube(cube)


def test_georeference_round_trip(ndvi_folder):
    folder, _ = ndvi_folder
    cube = read_raster_folder(folder)
    assert georef.has_crs(cube)
    assert georef.crs_of(cube).to_epsg() == 32631
    assert georef.transform_of(cube) == TRANSFORM
    # x/y are pixel centres in map units
    x, y = centres(np.arange(HEIGHT), np.arange(WIDTH))
    np.testing.assert_allclose(cube[cube_format.X].values, x)
    np.testing.assert_allclose(cube[cube_format.Y].values, y)


def test_index_scale_explicit_and_float_files(ndvi_folder, tmp_path):
    folder, values = ndvi_folder
    raw = read_raster_folder(folder, index_scale=1.0)
    assert raw.attrs["scale"] == 1.0
    np.testing.assert_array_equal(raw[cube_format.REFLECTANCE].values[0, 0], values[0].astype(np.float32))
    # a float NDVI already in [-1, 1] is not rescaled
    floats = tmp_path / "float_ndvi"
    floats.mkdir()
    ndvi = np.linspace(-0.5, 0.9, HEIGHT * WIDTH, dtype=np.float32).reshape(HEIGHT, WIDTH)
    for date in DATES[:2]:
        write_tif(floats / f"NDVI_{date}.tif", ndvi, "float32")
    cube = read_raster_folder(floats)
    assert cube.attrs["scale"] == 1.0
    np.testing.assert_array_equal(cube[cube_format.REFLECTANCE].values[1, 0], ndvi)


def test_index_scale_decided_by_first_date_with_data(tmp_path):
    values = np.random.default_rng(6).integers(-2000, 9000, (2, HEIGHT, WIDTH)).astype(np.int16)
    values[0] = NODATA  # the first date is entirely nodata (e.g. masked clouds)
    for t, date in enumerate(DATES[:2]):
        write_tif(tmp_path / f"NDVI_{date}.tif", values[t], "int16", nodata=NODATA)
    cube = read_raster_folder(tmp_path)
    assert cube.attrs["scale"] == pytest.approx(1e-4)
    assert not cube[cube_format.VALID].values[0].any() and cube[cube_format.VALID].values[1].all()
    np.testing.assert_allclose(cube[cube_format.REFLECTANCE].values[1, 0], values[1] * 1e-4, rtol=1e-6)


def test_reader_is_lazy(ndvi_folder):
    cube = read_raster_folder(ndvi_folder[0])
    assert cube[cube_format.REFLECTANCE].chunks is not None  # dask-backed: read block by block


@pytest.mark.parametrize(
    "pattern",
    ["S2_{band}_{date}.tif", "T31TCJ_{date}_{band}_10m.tif", "{band}_{date}.tif", "S2A_{date}.{band}.tif"],
)
def test_several_single_band_files_per_date(tmp_path, pattern):
    values = np.random.default_rng(2).integers(0, 10_000, (len(DATES), 2, HEIGHT, WIDTH)).astype(np.int16)
    for t, date in enumerate(DATES):
        for b, band in reversed(list(enumerate(("B04", "B08")))):  # written out of order on purpose
            write_tif(tmp_path / pattern.format(band=band, date=date), values[t, b], "int16")
    cube = read_raster_folder(tmp_path)
    assert cube[cube_format.BAND].values.tolist() == ["B04", "B08"]
    assert cube.attrs["scale"] == 1.0  # reflectance bands are never treated as an index
    assert cube.attrs["files"] == 6
    np.testing.assert_array_equal(cube[cube_format.REFLECTANCE].values, values.astype(np.float32))
    assert cube[cube_format.VALID].values.all()


def test_multiband_files_per_date(tmp_path):
    values = np.random.default_rng(3).uniform(0, 1, (2, 3, HEIGHT, WIDTH)).astype(np.float32)
    values[1, :, 0, 0] = np.nan
    named, plain = tmp_path / "named", tmp_path / "plain"
    named.mkdir()
    plain.mkdir()
    for t, date in enumerate(DATES[:2]):
        write_tif(named / f"S2_{date}.tif", values[t], "float32", nodata=np.nan, descriptions=["B02", "B03", "B04"])
        write_tif(plain / f"S2_{date.replace('-', '')}.tif", values[t], "float32", nodata=np.nan)
    cube = read_raster_folder(named)
    assert cube[cube_format.BAND].values.tolist() == ["B02", "B03", "B04"]
    assert not cube[cube_format.VALID].values[1, 0, 0] and cube[cube_format.VALID].values.sum() == 2 * HEIGHT * WIDTH - 1
    expected = np.nan_to_num(values, nan=0.0)
    np.testing.assert_array_equal(cube[cube_format.REFLECTANCE].values, expected)
    cube = read_raster_folder(plain)  # YYYYMMDD dates, no band descriptions
    assert cube[cube_format.BAND].values.tolist() == ["band1", "band2", "band3"]
    np.testing.assert_array_equal(cube[cube_format.TIME].values, np.array(DATES[:2], dtype="datetime64[ns]"))
    np.testing.assert_array_equal(cube[cube_format.REFLECTANCE].values, expected)
    cube = read_raster_folder(plain, bands=["blue", "green", "red"])
    assert cube[cube_format.BAND].values.tolist() == ["blue", "green", "red"]


def test_scale_factor_in_file_applied_and_kept_through_save(tmp_path):
    values = np.random.default_rng(4).integers(0, 5000, (2, HEIGHT, WIDTH)).astype(np.int16)
    values[0, 1, 1] = -1
    folder = tmp_path / "scaled"
    folder.mkdir()
    for t, date in enumerate(DATES[:2]):
        write_tif(folder / f"RED_{date}.tif", values[t], "int16", nodata=-1, scale=0.001)
    cube = read_raster_folder(folder)
    expected = np.where(values == -1, 0.0, values * 0.001).astype(np.float32)
    np.testing.assert_allclose(cube[cube_format.REFLECTANCE].values[:, 0], expected, rtol=1e-6)
    assert not cube[cube_format.VALID].values[0, 1, 1]
    for suffix in (".zarr", ".nc"):  # the file's scale and nodata are applied once, not again on reopening
        reopened = io.open_cube(io.save_cube(cube, tmp_path / f"scaled{suffix}"), chunks=None)
        np.testing.assert_allclose(reopened[cube_format.REFLECTANCE].values[:, 0], expected, rtol=1e-6)
        np.testing.assert_array_equal(reopened[cube_format.VALID].values, cube[cube_format.VALID].values)


def test_dates_file_for_a_folder_without_dates(tmp_path):
    values = np.arange(2 * HEIGHT * WIDTH, dtype=np.float32).reshape(2, HEIGHT, WIDTH)
    for t in range(2):
        write_tif(tmp_path / f"scene_{t}.tif", values[t], "float32")
    dates_file = tmp_path / "dates.txt"
    dates_file.write_text("date\n2021-07-01\n2021-06-01\n")  # one date per file in sorted name order
    cube = read_raster_folder(tmp_path, dates=dates_file)
    np.testing.assert_array_equal(cube[cube_format.TIME].values, np.array(["2021-06-01", "2021-07-01"], dtype="datetime64[ns]"))
    np.testing.assert_array_equal(cube[cube_format.REFLECTANCE].values[:, 0], values[::-1])  # scene_1 is the June one
    assert cube.attrs["dates_from"] == str(dates_file)


def test_raster_stack_with_dates_file(tmp_path):
    values = np.random.default_rng(5).integers(0, 10_000, (3, 2, HEIGHT, WIDTH)).astype(np.int16)
    stack = write_tif(tmp_path / "stack.tif", values.reshape(6, HEIGHT, WIDTH), "int16")  # date-major layers
    dates_file = tmp_path / "dates.txt"
    dates_file.write_text("\n".join(DATES) + "\n")
    cube = read_raster_stack(stack, dates_file, bands=["B04", "B08"])
    assert cube[cube_format.REFLECTANCE].dims == (cube_format.TIME, cube_format.BAND, cube_format.Y, cube_format.X)
    assert cube[cube_format.BAND].values.tolist() == ["B04", "B08"]
    np.testing.assert_array_equal(cube[cube_format.TIME].values, np.array(DATES, dtype="datetime64[ns]"))
    np.testing.assert_array_equal(cube[cube_format.REFLECTANCE].values, values.astype(np.float32))
    assert georef.transform_of(cube) == TRANSFORM and georef.crs_of(cube).to_epsg() == 32631
    # one band: the layers are the dates; an int16 NDVI is scaled by 1e-4
    ndvi = write_tif(tmp_path / "ndvi.tif", values[:, 0], "int16", nodata=0)
    cube = read_raster_stack(ndvi, DATES, bands=["NDVI"])
    assert cube.attrs["scale"] == pytest.approx(1e-4)
    np.testing.assert_allclose(cube[cube_format.REFLECTANCE].values[:, 0], np.where(values[:, 0] == 0, 0, values[:, 0] * 1e-4),
                               rtol=1e-6)
    np.testing.assert_array_equal(cube[cube_format.VALID].values, values[:, 0] != 0)


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_save_open_keeps_georeference_and_windows(ndvi_folder, tmp_path, suffix):
    cube = read_raster_folder(ndvi_folder[0])
    reopened = io.open_cube(io.save_cube(cube, tmp_path / f"cube{suffix}"))
    assert georef.crs_of(reopened) == georef.crs_of(cube)
    assert georef.transform_of(reopened) == TRANSFORM
    np.testing.assert_array_equal(reopened[cube_format.REFLECTANCE].values, cube[cube_format.REFLECTANCE].values)
    np.testing.assert_array_equal(reopened[cube_format.VALID].values, cube[cube_format.VALID].values)
    assert reopened.attrs["scale"] == pytest.approx(1e-4)
    # a window keeps its place on the ground: the origin moves by whole pixels
    window = reopened.isel(x=slice(3, 7), y=slice(1, 4))
    expected = from_origin(X0 + 3 * RES, Y0 - 1 * RES, RES, RES)
    assert georef.transform_of(window) == expected
    assert georef.transform_of(cube.isel(x=slice(3, 7))) == from_origin(X0 + 3 * RES, Y0, RES, RES)
    again = io.open_cube(io.save_cube(window, tmp_path / f"window{suffix}"))
    assert georef.transform_of(again) == expected
    assert georef.crs_of(again).to_epsg() == 32631


def test_write_geotiff_round_trip(ndvi_folder, tmp_path):
    cube = read_raster_folder(ndvi_folder[0])
    ndvi = cube[cube_format.REFLECTANCE].isel(time=0, band=0).compute()
    path = georef.write_geotiff(ndvi, tmp_path / "maps" / "ndvi.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32631
        assert src.transform == TRANSFORM
        assert (src.count, src.height, src.width) == (1, HEIGHT, WIDTH)
        np.testing.assert_array_equal(src.read(1), ndvi.values)
    # an int16 class map on a window, with a nodata value
    labels = np.arange(HEIGHT * WIDTH, dtype=np.int16).reshape(HEIGHT, WIDTH) % 5 - 1
    window = cube.isel(x=slice(3, 7), y=slice(2, 5))
    class_map = georef.copy_georeference(window, xr.DataArray(labels[2:5, 3:7], dims=(cube_format.Y, cube_format.X)))
    path = georef.write_geotiff(class_map, tmp_path / "classes.tif", nodata=-1)
    with rasterio.open(path) as src:
        assert src.transform == from_origin(X0 + 3 * RES, Y0 - 2 * RES, RES, RES)
        assert src.crs.to_epsg() == 32631 and src.nodata == -1 and src.dtypes[0] == "int16"
        np.testing.assert_array_equal(src.read(1), labels[2:5, 3:7])
    with pytest.raises(georef.GeoreferenceError, match="no CRS"):
        georef.write_geotiff(xr.DataArray(labels, dims=(cube_format.Y, cube_format.X)), tmp_path / "nowhere.tif")


def test_write_geotiff_replaces_only_with_a_complete_file(ndvi_folder, tmp_path, monkeypatch):
    import rioxarray.raster_array

    cube = read_raster_folder(ndvi_folder[0])
    first = cube[cube_format.REFLECTANCE].isel(time=0, band=0).compute()
    path = georef.write_geotiff(first, tmp_path / "maps" / "map.tif")
    before = path.read_bytes()

    def broken(self, raster_path, **kwargs):  # a write that dies half way (disk full, killed worker)
        Path(raster_path).write_bytes(b"II*\x00 partial")
        raise OSError("disk full")

    monkeypatch.setattr(rioxarray.raster_array.RasterArray, "to_raster", broken)
    with pytest.raises(OSError, match="disk full"):
        georef.write_geotiff(cube[cube_format.REFLECTANCE].isel(time=2, band=0).compute(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["map.tif"]  # no temporary file left behind
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(1), first.values)


# --- 2. format errors name the file and what was expected ---------------------------------------------------


def _ndvi_files(folder: Path, n_dates: int = 2) -> None:
    folder.mkdir(exist_ok=True)
    for date in DATES[:n_dates]:
        write_tif(folder / f"NDVI_{date}.tif", np.ones((HEIGHT, WIDTH)), "int16")


def test_error_different_crs(tmp_path):
    _ndvi_files(tmp_path)
    write_tif(tmp_path / "NDVI_2020-06-01.tif", np.ones((HEIGHT, WIDTH)), "int16", crs="EPSG:32632")
    with pytest.raises(DatasetFormatError, match=r"NDVI_2020-06-01\.tif: CRS differs from the first raster "
                                                 r"NDVI_2020-05-01\.tif.*EPSG:32632.*EPSG:32631"):
        read_raster_folder(tmp_path)


def test_error_different_shape(tmp_path):
    _ndvi_files(tmp_path)
    write_tif(tmp_path / "NDVI_2020-06-01.tif", np.ones((HEIGHT, WIDTH + 1)), "int16")
    with pytest.raises(DatasetFormatError, match=r"NDVI_2020-06-01\.tif: size \(bands, rows, columns\) differs "
                                                 r".*\(1, 6, 9\) instead of \(1, 6, 8\)"):
        read_raster_folder(tmp_path)


def test_error_different_band_count(tmp_path):
    _ndvi_files(tmp_path)
    write_tif(tmp_path / "NDVI_2020-06-01.tif", np.ones((2, HEIGHT, WIDTH)), "int16")
    with pytest.raises(DatasetFormatError, match=r"NDVI_2020-06-01\.tif: size .*\(2, 6, 8\) instead of \(1, 6, 8\)"):
        read_raster_folder(tmp_path)


def test_error_different_transform(tmp_path):
    _ndvi_files(tmp_path)
    write_tif(tmp_path / "NDVI_2020-06-01.tif", np.ones((HEIGHT, WIDTH)), "int16",
              transform=from_origin(X0 + RES, Y0, RES, RES))
    with pytest.raises(DatasetFormatError, match=r"NDVI_2020-06-01\.tif: transform differs"):
        read_raster_folder(tmp_path)


def test_error_file_name_without_date(tmp_path):
    _ndvi_files(tmp_path)
    write_tif(tmp_path / "NDVI_june.tif", np.ones((HEIGHT, WIDTH)), "int16")
    with pytest.raises(DatasetFormatError, match=r"NDVI_june\.tif: no date in the file name \(expected YYYY-MM-DD"):
        read_raster_folder(tmp_path)


def test_error_invalid_date_in_name(tmp_path):
    _ndvi_files(tmp_path)
    write_tif(tmp_path / "NDVI_2020-13-45.tif", np.ones((HEIGHT, WIDTH)), "int16")
    with pytest.raises(DatasetFormatError, match=r"NDVI_2020-13-45\.tif: '2020-13-45' in the file name is not a "
                                                 r"valid date"):
        read_raster_folder(tmp_path)


@pytest.mark.parametrize(
    ("content", "bad"),
    [("01/02/2020\n01/03/2020\n", "date 0 '01/02/2020'"), ("date\n2020-05-01\n01/03/2020\n", "date 1 '01/03/2020'")],
)
def test_error_unparseable_dates_file(tmp_path, content, bad):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for t in range(2):
        write_tif(folder / f"scene_{t}.tif", np.ones((HEIGHT, WIDTH)), "float32")
    dates_file = tmp_path / "dates.txt"
    dates_file.write_text(content)
    # a first line with digits is a date, not a header: it is refused, not skipped
    with pytest.raises(DatasetFormatError, match=rf"dates\.txt: {bad} is not an ISO date YYYY-MM-DD \(day-first"):
        read_raster_folder(folder, dates=dates_file)
    with pytest.raises(DatasetFormatError, match=rf"dates\.txt: {bad} is not an ISO date"):
        read_raster_stack(folder / "scene_0.tif", dates_file)


def test_error_wrong_number_of_dates_for_folder(tmp_path):
    for t in range(3):
        write_tif(tmp_path / f"scene_{t}.tif", np.ones((HEIGHT, WIDTH)), "float32")
    with pytest.raises(DatasetFormatError, match=r": 3 raster files but 2 dates given"):
        read_raster_folder(tmp_path, dates=DATES[:2])


def test_error_date_and_band_given_twice(tmp_path):
    for name in ("S2_B04_2020-05-01", "S2_B04_20200501", "S2_B04_2020-05-11", "S2_B08_2020-05-11"):
        write_tif(tmp_path / f"{name}.tif", np.ones((HEIGHT, WIDTH)), "int16")
    with pytest.raises(DatasetFormatError, match=r"S2_B04_20200501\.tif: band 'B04' of date 2020-05-01 is given "
                                                 r"twice \(also by S2_B04_2020-05-01\.tif\)"):
        read_raster_folder(tmp_path)


def test_error_date_missing_a_band(tmp_path):
    for name in ("S2_B04_2020-05-01", "S2_B08_2020-05-01", "S2_B04_2020-05-11", "S2_B04_2020-05-21",
                 "S2_B08_2020-05-21"):
        write_tif(tmp_path / f"{name}.tif", np.ones((HEIGHT, WIDTH)), "int16")
    with pytest.raises(DatasetFormatError, match=r"date 2020-05-11 has no file for band\(s\) \['B08'\] \(expected "
                                                 r"one file per band \['B04', 'B08'\]"):
        read_raster_folder(tmp_path)


def test_error_empty_folder_and_not_a_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("no rasters here")
    with pytest.raises(DatasetFormatError, match=r": no raster file \(\.tif, \.tiff, \.jp2, \.vrt\) in the folder"):
        read_raster_folder(tmp_path)
    with pytest.raises(DatasetFormatError, match=r"missing: not a folder of rasters"):
        read_raster_folder(tmp_path / "missing")


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_error_unreadable_or_unreferenced_raster(tmp_path):
    _ndvi_files(tmp_path)
    (tmp_path / "NDVI_2020-06-01.tif").write_bytes(b"not a tiff")
    with pytest.raises(DatasetFormatError, match=r"NDVI_2020-06-01\.tif: cannot read the raster"):
        read_raster_folder(tmp_path)
    other = tmp_path / "nocrs"
    other.mkdir()
    with rasterio.open(other / "NDVI_2020-05-01.tif", "w", driver="GTiff", count=1, height=2, width=2,
                       dtype="int16") as dst:
        dst.write(np.ones((1, 2, 2), dtype=np.int16))
    with pytest.raises(DatasetFormatError, match=r"NDVI_2020-05-01\.tif: the raster has no CRS"):
        read_raster_folder(other)


def test_error_stack_layers_do_not_match_dates(tmp_path):
    stack = write_tif(tmp_path / "stack.tif", np.ones((5, HEIGHT, WIDTH)), "int16")
    with pytest.raises(DatasetFormatError, match=r"stack\.tif: 5 layers, expected 3 dates x 2 band\(s\) = 6"):
        read_raster_stack(stack, DATES, bands=["B04", "B08"])
    with pytest.raises(DatasetFormatError, match=r"stack\.tif: 5 layers, expected 3 dates x 1 band\(s\) = 3"):
        read_raster_stack(stack, DATES)
    with pytest.raises(DatasetFormatError, match="strictly increasing and unique"):
        read_raster_stack(stack, ["2020-01-01", "2020-01-03", "2020-01-02", "2020-01-04", "2020-01-05"])


# --- 3. samples_from_cube -------------------------------------------------------------------------------------


def _points(rows, cols, labels, **columns) -> pd.DataFrame:
    lon, lat = to_lonlat(*centres(rows, cols))
    return pd.DataFrame({"longitude": lon, "latitude": lat, "label": labels, **columns})


def test_samples_at_lonlat_points_are_the_pixel_values(s2_folder):
    folder, values, dates = s2_folder
    cube = read_raster_folder(folder)
    rows, cols = np.array([0, 2, 5, 4]), np.array([0, 5, 7, 6])
    points = _points(rows, cols, ["crop", "forest", "crop", "water"])
    samples = samples_format.samples_from_cube(cube, points)
    assert dict(samples.sizes) == {"sample": 4, "time": 6, "band": 2}
    assert samples_format.class_names(samples) == ["crop", "forest", "water"]
    assert samples[samples_format.LABEL].values.tolist() == [0, 1, 0, 2]
    assert samples[samples_format.GROUP].values.tolist() == [1, 2, 4, 3]  # one group per distinct pixel (ordered by pixel)
    for i, (r, c) in enumerate(zip(rows, cols)):
        expected = values[:, :, r, c]
        clear = np.isfinite(expected).all(axis=1)
        np.testing.assert_array_equal(samples[samples_format.VALID].values[i], clear)
        np.testing.assert_array_equal(samples[samples_format.VALUES].values[i][clear], expected[clear])
    assert not samples[samples_format.VALID].values[3, 2]  # the nodata observation of pixel (4, 6)
    np.testing.assert_array_equal(samples[samples_format.DATE].values, np.broadcast_to(dates.astype("datetime64[ns]"), (4, 6)))
    # the location is the pixel centre, in the cube's CRS
    x, y = centres(rows, cols)
    np.testing.assert_allclose(samples["x"].values, x)
    np.testing.assert_allclose(samples["y"].values, y)
    assert georef.crs_label(samples.attrs["crs"]) == "EPSG:32631"
    # the points may be given in the cube's own CRS, and groups may come from a column
    same = samples_format.samples_from_cube(cube, pd.DataFrame({"x": x, "y": y, "label": points["label"], "site": [7, 7, 8, 9]}),
                               x="x", y="y", crs=CRS, group="site")
    np.testing.assert_array_equal(same[samples_format.VALUES].values, samples[samples_format.VALUES].values)
    assert same[samples_format.GROUP].values.tolist() == [1, 1, 2, 3]


def test_point_outside_the_cube_is_named(s2_folder):
    cube = read_raster_folder(s2_folder[0])
    lon, lat = to_lonlat(*centres(np.array([1, 1]), np.array([1, WIDTH])))  # second point one column east
    points = pd.DataFrame({"longitude": lon, "latitude": lat, "label": ["a", "b"]})
    with pytest.raises(georef.GeoreferenceError, match=r"1 point\(s\) fall outside the cube \(6 x 8 px\), e.g. "
                                                       r"point 1 at \(600085\.00, 4999985\.00\)"):
        samples_format.samples_from_cube(cube, points)


def test_each_sample_keeps_its_own_dates(s2_folder):
    folder, values, dates = s2_folder
    cube = read_raster_folder(folder)
    rows, cols = np.array([1, 3, 4]), np.array([2, 2, 6])
    points = _points(rows, cols, ["crop", "crop", "grass"],
                     start_date=["2019-01-01", "2020-01-01", "2019-05-01"],
                     end_date=["2019-12-31", "2020-12-31", "2020-07-01"])
    samples = samples_format.samples_from_cube(cube, points)
    assert samples.sizes["time"] == 4  # the longest sample: 2019-06-01 .. 2020-06-01
    kept = {0: [0, 1, 2], 1: [3, 4, 5], 2: [1, 2, 3, 4]}
    for i, positions in kept.items():
        n = len(positions)
        np.testing.assert_array_equal(samples[samples_format.DATE].values[i, :n], dates[positions].astype("datetime64[ns]"))
        assert np.isnat(samples[samples_format.DATE].values[i, n:]).all()
        assert not samples[samples_format.VALID].values[i, n:].any()
        expected = values[positions][:, :, rows[i], cols[i]]
        clear = np.isfinite(expected).all(axis=1)
        np.testing.assert_array_equal(samples[samples_format.VALID].values[i, :n], clear)
        np.testing.assert_array_equal(samples[samples_format.VALUES].values[i, :n][clear], expected[clear])
    assert not samples[samples_format.VALID].values[2, 1]  # pixel (4, 6) has no data on 2019-09-01
    assert samples_format.lengths(samples).tolist() == [3, 3, 4]
    assert samples_format.day_of_year(samples)[0].tolist() == [60, 152, 244, 0]
    assert samples_format.day_of_year(samples)[1].tolist() == [61, 153, 245, 0]  # 2020 is a leap year
    # an interval with no date of the cube is refused, as is a date that is not ISO
    no_date = _points(rows[:1], cols[:1], ["crop"], start_date=["2021-01-01"], end_date=["2021-12-31"])
    with pytest.raises(ValueError, match=r"1 point\(s\) have no cube date between start_date and end_date"):
        samples_format.samples_from_cube(cube, no_date)
    bad = _points(rows[:1], cols[:1], ["crop"], start_date=["01/02/2019"], end_date=["2019-12-31"])
    with pytest.raises(DatasetFormatError, match=r"column 'start_date': date 0 '01/02/2019' is not an ISO date"):
        samples_format.samples_from_cube(cube, bad)


def test_points_labels_and_columns_checked(s2_folder):
    cube = read_raster_folder(s2_folder[0])
    points = _points(np.array([0, 1]), np.array([0, 1]), ["crop", "urban"])
    with pytest.raises(ValueError, match=r"label\(s\) \['urban'\] are not in the class list \['crop', 'forest'\]"):
        samples_format.samples_from_cube(cube, points, class_names=["crop", "forest"])
    with_given = samples_format.samples_from_cube(cube, points, class_names=["urban", "crop"])
    assert with_given[samples_format.LABEL].values.tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"missing column\(s\) \['label'\]"):
        samples_format.samples_from_cube(cube, points.drop(columns="label"))
    plain = cube_format.make_cube(np.zeros((2, 1, 3, 3)), DATES[:2], ["NDVI"])
    with pytest.raises(georef.GeoreferenceError, match="no CRS"):
        samples_format.samples_from_cube(plain, points)


def test_every_labelled_pixel_without_points(toy_cube):
    samples = samples_format.samples_from_cube(toy_cube)
    labels = toy_cube[cube_format.CLASS].values
    rows, cols = np.nonzero(labels >= 0)
    assert samples.sizes["sample"] == rows.size
    assert samples_format.class_names(samples) == cube_format.class_names(toy_cube)
    np.testing.assert_array_equal(samples[samples_format.LABEL].values, labels[rows, cols])
    np.testing.assert_array_equal(samples[samples_format.GROUP].values, toy_cube[cube_format.PARCEL].values[rows, cols])
    for i in (0, 1234, rows.size - 1):
        np.testing.assert_array_equal(samples[samples_format.VALUES].values[i],
                                      toy_cube[cube_format.REFLECTANCE].values[:, :, rows[i], cols[i]])
        np.testing.assert_array_equal(samples[samples_format.VALID].values[i], toy_cube[cube_format.VALID].values[:, rows[i], cols[i]])
    np.testing.assert_array_equal(samples[samples_format.DATE].values[0], toy_cube[cube_format.TIME].values)


def test_labelled_pixels_outside_parcels_get_their_own_group():
    labels = np.array([[0, 0, -1], [1, 1, 0]])
    parcels = np.array([[3, 3, 0], [0, 0, 5]])
    cube = cube_format.make_cube(np.arange(2 * 1 * 2 * 3, dtype=np.float32).reshape(2, 1, 2, 3), DATES[:2], ["NDVI"],
                       labels=labels, parcels=parcels, class_names=["a", "b"])
    samples = samples_format.samples_from_cube(cube)
    assert samples.sizes["sample"] == 5
    groups = samples[samples_format.GROUP].values
    assert groups[:2].tolist() == [3, 3] and groups[4] == 5
    assert groups[2] != groups[3] and min(groups[2], groups[3]) > 5  # pixels without parcel: one group each
    np.testing.assert_array_equal(samples[samples_format.VALUES].values[4, :, 0], [5.0, 11.0])


# --- 4. validation and splits of samples ---------------------------------------------------------------------


def _arrays(n=2, t=3):
    values = np.arange(n * t * 2, dtype=np.float32).reshape(n, t, 2)
    dates = np.array(["2020-01-01", "2020-02-01", "2020-03-01"], dtype="datetime64[D]")[:t]
    return values, np.broadcast_to(dates, (n, t)).copy()


def test_make_samples_defaults():
    values, dates = _arrays()
    samples = samples_format.make_samples(values, dates[0], ["B04", "B08"], [0, 1], ["a", "b"], source="unit test")
    assert samples[samples_format.GROUP].values.tolist() == [1, 2]
    assert samples[samples_format.VALID].values.all() and samples[samples_format.DATE].dtype == np.dtype("datetime64[ns]")
    assert samples_format.summary(samples)["classes"] == {"a": 1, "b": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(dates=[["2020-01-01", "2020-01-01", "2020-03-01"]] * 2),
         r"samples from 'unit test': the dates of sample 0 must be strictly increasing but are duplicated at "
         r"position 1"),
        (dict(dates=[["2020-01-01", "2020-02-01", "2020-03-01"], ["2020-03-01", "2020-02-01", "2020-04-01"]]),
         r"the dates of sample 1 must be strictly increasing but are not increasing at position 1"),
        (dict(dates=[["2020-01-01", "NaT", "2020-03-01"]] * 2),
         r"sample 0 has a missing date \(NaT\) before a real date; pad only after the last date"),
        (dict(dates=[["NaT", "NaT", "NaT"], ["2020-01-01", "NaT", "NaT"]]), r"sample 0 has no date at all"),
        (dict(dates=[["2020-01-01", "2020-02-01", "2020-03-01"], ["2020-01-01", "2020-02-01", "NaT"]],
              valid=np.ones((2, 3), dtype=bool)),
         r"sample 1 is marked valid on a padded \(NaT\) date"),
        (dict(nan_at=(1, 2), valid=np.ones((2, 3), dtype=bool)),
         r"'series' has 1 NaN/inf observations where 'valid' is True \(first: sample 1, date position 2\)"),
        (dict(labels=[0, 2]), r"label 2 is outside the class list \(valid ids: -1 for none, 0\.\.1 for \['a', 'b'\]"),
        (dict(labels=[-2, 0]), r"label -2 is outside the class list"),
        (dict(groups=[0, 1]), r"variable 'group' has id 0; group ids must be positive"),
        (dict(groups=[-3, 1]), r"group ids must be positive"),
        (dict(split=[0, 5]), r"variable 'split' must hold -1 \(none\), 0 \(train\), 1 \(val\) or 2 \(test\)"),
    ],
)
def test_make_samples_refuses(change, message):
    values, dates = _arrays()
    if "nan_at" in change:
        values[change["nan_at"]] = np.nan
    with pytest.raises(samples_format.SamplesValidationError, match=message):
        samples_format.make_samples(values, np.array(change.get("dates", dates), dtype="datetime64[D]"), ["B04", "B08"],
                       change.get("labels", [0, 1]), ["a", "b"], groups=change.get("groups"),
                       valid=change.get("valid"), split=change.get("split"), source="unit test")


def test_validate_samples_structure_errors():
    values, dates = _arrays()
    samples = samples_format.make_samples(values, dates, ["B04", "B08"], [0, 1], ["a", "b"])
    with pytest.raises(samples_format.SamplesValidationError, match=r"missing variable 'group'"):
        samples_format.validate_samples(samples.drop_vars("group"))
    with pytest.raises(samples_format.SamplesValidationError, match=r"variable 'valid' has dtype uint8, expected bool"):
        samples_format.validate_samples(samples.assign(valid=samples[samples_format.VALID].astype("uint8")))
    with pytest.raises(samples_format.SamplesValidationError, match=r"attrs\['class_names'\] must be the list"):
        samples_format.validate_samples(samples.assign_attrs(class_names="a"))
    with pytest.raises(samples_format.SamplesValidationError, match=r"need attrs\['crs'\]"):
        samples_format.validate_samples(samples.assign_coords(x=("sample", [1.0, 2.0]), y=("sample", [1.0, 2.0])))
    with pytest.raises(samples_format.SamplesValidationError, match=r"dates have shape \(3, 3\), expected \(3,\) or \(2, 3\)"):
        samples_format.make_samples(values, np.broadcast_to(dates[0], (3, 3)), ["B04", "B08"], [0, 1], ["a", "b"])


def _grouped_samples(n_groups=60, n_classes=3, seed=0):
    """1-3 samples per group (same place, several years); the class is the group's."""
    rng = np.random.default_rng(seed)
    per_group = rng.integers(1, 4, n_groups)
    groups = np.repeat(np.arange(1, n_groups + 1), per_group)
    labels = (groups - 1) % n_classes
    values = rng.normal(size=(groups.size, 3, 1)).astype(np.float32)
    dates = np.array(["2020-01-01", "2020-02-01", "2020-03-01"], dtype="datetime64[D]")
    return samples_format.make_samples(values, dates, ["NDVI"], labels, [f"c{i}" for i in range(n_classes)], groups=groups)


def _sides(groups, split):
    return {int(g): set(split[groups == g].tolist()) for g in np.unique(groups)}


def test_group_split_is_stratified_and_never_cuts_a_group():
    samples = _grouped_samples()
    groups, labels = samples[samples_format.GROUP].values, samples[samples_format.LABEL].values
    split = samples_format.split_samples(samples, "group", seed=3)
    assert all(len(sides) == 1 for sides in _sides(groups, split).values())
    for label in range(3):  # 20 groups per class: 12 / 4 / 4 groups
        class_groups = np.unique(groups[labels == label])
        per_side = [np.unique(groups[(labels == label) & (split == code)]).size for code in (0, 1, 2)]
        assert per_side == [12, 4, 4] and sum(per_side) == class_groups.size
    np.testing.assert_array_equal(split, samples_format.split_samples(samples, "group", seed=3))
    assert not np.array_equal(split, samples_format.split_samples(samples, "group", seed=4))
    # unlabelled samples are on no side
    unlabelled = samples.assign(label=samples[samples_format.LABEL].where(samples[samples_format.GROUP] != 5, -1))
    split = samples_format.split_samples(unlabelled, "group")
    assert (split[groups == 5] == -1).all() and (split[groups != 5] >= 0).all()
    with pytest.raises(ValueError, match="fractions must be three non-negative numbers summing to 1"):
        samples_format.split_samples(samples, "group", fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="split policy must be 'group', 'random' or 'predefined', got 'blocks'"):
        samples_format.split_samples(samples, "blocks")


def test_predefined_split_is_honoured():
    samples = _grouped_samples()
    groups = samples[samples_format.GROUP].values
    given = np.where(groups <= 42, 0, 2).astype(np.int8)
    with_split = samples.assign(split=(samples_format.SAMPLE, given))
    split = samples_format.split_samples(with_split, "predefined", fractions=(0.6, 0.2, 0.2), seed=1)
    np.testing.assert_array_equal(split == 2, given == 2)  # test kept exactly
    assert set(np.unique(split[given == 0]).tolist()) == {0, 1}  # val carved from the training samples only
    assert all(len(sides) == 1 for sides in _sides(groups, split).values())
    val_groups = np.unique(groups[split == 1])
    assert val_groups.max() <= 42
    labels = samples[samples_format.LABEL].values
    for label in range(3):  # 14 training groups per class: a quarter (0.2 / 0.8) of them, rounded, become val
        assert np.unique(groups[(labels == label) & (split == 1)]).size == 3
        assert np.unique(groups[(labels == label) & (split == 0)]).size == 11
    np.testing.assert_array_equal(split, samples_format.split_samples(with_split, "predefined", seed=1))
    # a split with its own validation part is returned as given
    own = np.where(groups <= 30, 0, np.where(groups <= 42, 1, 2)).astype(np.int8)
    np.testing.assert_array_equal(samples_format.split_samples(samples.assign(split=(samples_format.SAMPLE, own)), "predefined"), own)


def test_predefined_split_that_cuts_a_group_is_refused():
    samples = _grouped_samples()
    groups = samples[samples_format.GROUP].values
    ids, counts = np.unique(groups[groups <= 42], return_counts=True)
    cut = int(ids[counts > 1][0])  # a training group with several samples: one of them is put in test
    given = np.where(groups <= 42, 0, 2).astype(np.int8)
    given[np.flatnonzero(groups == cut)[0]] = 2
    leaking = samples.assign(split=(samples_format.SAMPLE, given)).assign_attrs(source="victoria.csv")
    with pytest.raises(ValueError, match=r"victoria\.csv: the predefined split puts 1 group\(s\) on both sides "
                                         rf"\(e.g. \[{cut}\]\).*use the 'group' policy"):
        samples_format.split_samples(leaking, "predefined")
    with pytest.raises(ValueError, match=r"no predefined split \(variable 'split'\)"):
        samples_format.split_samples(samples, "predefined")


# --- 5. SampleSeriesDataset ---------------------------------------------------------------------------------


def _two_years():
    dates = np.array([["2019-01-01", "2019-01-11", "2019-02-10", "2019-03-02"],
                      ["2020-03-01", "2020-03-31", "NaT", "NaT"]], dtype="datetime64[D]")
    values = np.array([[[0.1, 1.0], [9.9, 9.9], [0.5, 3.0], [0.7, 2.0]],
                       [[0.2, 4.0], [0.4, 6.0], [5.0, 5.0], [5.0, 5.0]]], dtype=np.float32)
    valid = np.array([[True, False, True, True], [True, True, False, False]])
    return samples_format.make_samples(values, dates, ["NDVI", "B08"], [0, 1], ["crop", "grass"], valid=valid,
                          groups=[4, 9])


def test_gap_fill_over_each_samples_own_dates():
    samples = _two_years()
    filled = samples_format.gap_fill(samples)
    # 2019-01-11 is cloudy: 10 of the 40 days between 2019-01-01 (0.1, 1.0) and 2019-02-10 (0.5, 3.0)
    np.testing.assert_allclose(filled[0, 1], [0.1 + 0.25 * 0.4, 1.0 + 0.25 * 2.0], rtol=1e-6)
    np.testing.assert_array_equal(filled[0, [0, 2, 3]], samples[samples_format.VALUES].values[0, [0, 2, 3]])
    np.testing.assert_array_equal(filled[1, :2], samples[samples_format.VALUES].values[1, :2])
    np.testing.assert_array_equal(filled[1, 2:], 0.0)  # padding
    # before the first clear date: the first clear value; never clear: 0
    leading = samples.assign(valid=samples[samples_format.VALID].copy(data=[[False, False, True, True], [False, False, False,
                                                                                         False]]))
    filled = samples_format.gap_fill(leading)
    np.testing.assert_allclose(filled[0, :2], [[0.5, 3.0], [0.5, 3.0]])
    np.testing.assert_array_equal(filled[1], 0.0)


def test_sample_series_dataset_items():
    samples = _two_years()
    dataset = SampleSeriesDataset(samples, np.zeros(2, dtype=np.int8), "train")
    assert len(dataset) == 2 and dataset.class_names == ["crop", "grass"]
    first, second = dataset[0], dataset[1]
    assert first["doy"].tolist() == [1, 11, 41, 61]
    assert second["doy"].tolist() == [61, 91, 0, 0]  # 2020-03-01 in a leap year; 0 on padding
    torch.testing.assert_close(first["x"][1], torch.tensor([0.2, 1.5]))
    assert second["x"][2:].abs().sum() == 0 and second["mask"].tolist() == [True, True, False, False]
    assert first["mask"].tolist() == [True, False, True, True]
    assert (first["y"].item(), second["y"].item()) == (0, 1)
    assert (first["parcel"].item(), second["parcel"].item()) == (4, 9)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=2, shuffle=False)))
    assert batch["x"].shape == (2, 4, 2) and batch["x"].dtype == torch.float32
    assert batch["doy"].shape == (2, 4) and batch["mask"].shape == (2, 4) and batch["mask"].dtype == torch.bool
    assert batch["y"].tolist() == [0, 1] and batch["parcel"].tolist() == [4, 9]
    # no filling: the cloudy value is kept as observed, padding still 0
    raw = SampleSeriesDataset(samples, np.zeros(2, dtype=np.int8), fill="none")
    torch.testing.assert_close(raw[0]["x"][1], torch.tensor([9.9, 9.9]))
    assert raw[1]["x"][2:].abs().sum() == 0
    # only the chosen subset
    assert len(SampleSeriesDataset(samples, np.array([0, 2], dtype=np.int8), "test")) == 1


def test_band_stats_from_samples_use_clear_observations_only():
    samples = _two_years()
    stats = BandStats.from_samples(samples, np.array([True, True]))
    clear = samples[samples_format.VALUES].values[samples[samples_format.VALID].values]
    np.testing.assert_allclose(stats.mean, clear.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats.mean, [(0.1 + 0.5 + 0.7 + 0.2 + 0.4) / 5, (1 + 3 + 2 + 4 + 6) / 5], rtol=1e-6)
    dataset = SampleSeriesDataset(samples, np.zeros(2, dtype=np.int8), stats=stats)
    expected = (np.array([0.5, 3.0]) - stats.mean) / stats.std
    np.testing.assert_allclose(dataset[0]["x"][2].numpy(), expected, rtol=1e-5)
    assert dataset[1]["x"][2:].abs().sum() == 0  # padding stays 0 after standardisation
    with pytest.raises(ValueError, match="selects no sample"):
        BandStats.from_samples(samples, np.array([False, False]))


# --- 6. real bytes in ../shared/data ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sinop_cube():
    if not SHARED.is_dir():
        pytest.skip(f"real data folder {SHARED} is absent")
    return read_raster_folder(SINOP / "raster")


@needs_shared
def test_sinop_jpeg2000_folder(sinop_cube):
    cube = sinop_cube
    files = sorted((SINOP / "raster").glob("*.jp2"))
    assert len(files) == 12
    assert dict(cube.sizes) == {"time": 12, "band": 1, "y": 147, "x": 255}
    assert cube[cube_format.BAND].values.tolist() == ["NDVI"]
    names = np.array([f.stem.rsplit("_", 1)[-1] for f in files], dtype="datetime64[ns]")
    np.testing.assert_array_equal(cube[cube_format.TIME].values, names)
    crs = georef.crs_of(cube)
    assert crs.coordinate_operation.method_name == "Sinusoidal"
    assert crs.ellipsoid.semi_major_metre == pytest.approx(6371007.181) and crs.ellipsoid.inverse_flattening == 0
    transform = georef.transform_of(cube)
    assert transform.a == pytest.approx(231.656358, abs=1e-5) and transform.e == pytest.approx(-231.656358, abs=1e-5)
    with rasterio.open(files[0]) as src:
        assert transform.almost_equals(src.transform, precision=1e-9)
        assert src.crs == crs
        first = src.read(1)
    assert cube.attrs["scale"] == pytest.approx(1e-4)
    values = cube[cube_format.REFLECTANCE].values
    valid = cube[cube_format.VALID].values
    assert valid.any()
    assert values[:, 0][valid].min() >= -1 and values[:, 0][valid].max() <= 1.1
    np.testing.assert_allclose(values[0, 0], first.astype(np.float32) * np.float32(1e-4), rtol=1e-6)


@needs_shared
def test_sinop_points_match_rasterio(sinop_cube):
    points = pd.read_csv(SINOP / "samples_sinop_crop.csv")
    assert list(points.columns) == ["id", "longitude", "latitude", "start_date", "end_date", "label"]
    samples = samples_format.samples_from_cube(sinop_cube, points)
    assert samples.sizes["sample"] == 18 and samples.sizes["time"] == 12
    assert samples_format.class_names(samples) == ["Cerrado", "Forest", "Pasture", "Soy_Corn"]
    np.testing.assert_array_equal(samples[samples_format.DATE].values, np.broadcast_to(sinop_cube[cube_format.TIME].values, (18, 12)))
    files = sorted((SINOP / "raster").glob("*.jp2"))
    stack = []
    for f in files:
        with rasterio.open(f) as src:
            stack.append(src.read(1))
            to_raster = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
            x, y = to_raster.transform(points["longitude"].to_numpy(), points["latitude"].to_numpy())
            rows, cols = np.array([src.index(xi, yi) for xi, yi in zip(x, y)]).T
    stack = np.stack(stack)
    assert ((rows >= 0) & (rows < 147) & (cols >= 0) & (cols < 255)).all()
    expected = stack[:, rows, cols].T.astype(np.float32) * np.float32(1e-4)  # (18, 12)
    np.testing.assert_allclose(samples[samples_format.VALUES].values[:, :, 0], expected, rtol=1e-6)
    assert samples[samples_format.VALID].values.all()
    labels = np.array(samples_format.class_names(samples))[samples[samples_format.LABEL].values]
    assert labels.tolist() == points["label"].tolist()


@needs_shared
def test_sits_rda_cerrado():
    samples = read_sits_samples(SITS / "cerrado_2classes.rda")
    assert dict(samples.sizes) == {"sample": 746, "time": 23, "band": 2}
    assert samples[samples_format.BAND].values.tolist() == ["NDVI", "EVI"]
    assert samples_format.summary(samples)["classes"] == {"Cerrado": 400, "Pasture": 346}
    assert samples[samples_format.DATE].values[0, 0] == np.datetime64("2000-09-13")
    assert samples[samples_format.VALUES].values[0, 0, 0] == pytest.approx(0.3947, abs=1e-6)
    assert samples_format.lengths(samples).tolist() == [23] * 746
    # samples of one location (several years) share a group
    lon, lat, groups = samples["x"].values, samples["y"].values, samples[samples_format.GROUP].values
    for g in np.unique(groups)[:10]:
        assert np.unique(lon[groups == g]).size == 1 and np.unique(lat[groups == g]).size == 1
    assert np.unique(np.stack([lon, lat], axis=1), axis=0).shape[0] == np.unique(groups).size


@needs_shared
def test_sits_rda_rondonia():
    samples = read_sits_samples(SITS / "samples_l8_rondonia_2bands.rda")
    assert samples.sizes["sample"] == 160 and samples.sizes["time"] == 25
    assert sorted(samples[samples_format.BAND].values.tolist()) == ["EVI", "NDVI"]


@needs_shared
def test_sits_rda_truncated(tmp_path):
    data = (SITS / "cerrado_2classes.rda").read_bytes()
    truncated = tmp_path / "cerrado_truncated.rda"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFormatError, match=r"cerrado_truncated\.rda: not a readable R data file"):
        read_sits_samples(truncated)
    with pytest.raises(DatasetFormatError, match=r"absent\.rda: missing file"):
        read_sits_samples(tmp_path / "absent.rda")
    shutil.copy(SINOP / "samples_sinop_crop.csv", tmp_path / "points.rds")
    with pytest.raises(DatasetFormatError, match=r"points\.rds: not a readable R data file"):
        read_sits_samples(tmp_path / "points.rds")


def test_pixel_set_samples_feed_pse_tae_items():
    import torch

    from sitsbench.data.datasets import SamplePixelSetDataset
    from sitsbench.data.normalize import BandStats
    from sitsbench.data.samples import make_samples
    from sitsbench.models import create_model

    rng = np.random.default_rng(0)
    n, t, c, s = 4, 5, 3, 6
    pixels = rng.normal(size=(n, t, c, s)).astype(np.float32)
    pixel_mask = np.ones((n, s), dtype=bool)
    pixel_mask[1, 2:] = False  # a parcel with 2 pixels
    pixel_mask[3] = False  # a parcel with none (kept, as PSE-TAE keeps them)
    pixels[~np.broadcast_to(pixel_mask[:, None, None, :], pixels.shape)] = np.nan
    series = np.nanmean(np.where(pixel_mask[:, None, None, :], pixels, np.nan), axis=3)
    dates = np.arange("2020-01-01", "2020-01-06", dtype="datetime64[D]")
    samples = make_samples(series, dates, ["B1", "B2", "B3"], [0, 1, 0, 1], ["a", "b"], pixels=pixels,
                           pixel_mask=pixel_mask, valid=np.isfinite(series).all(axis=2))
    split = np.zeros(n, dtype=np.int8)
    stats = BandStats.from_samples(samples, np.ones(n, dtype=bool))
    data = SamplePixelSetDataset(samples, split, "train", stats, n_pixels=4, seed=0)
    item = data[1]
    assert item["x"].shape == (t, c, 4) and item["mask"].all()
    drawn = item["x"].numpy()
    real = stats.standardize(pixels[1][:, :, :2], band_axis=1)
    for k in range(4):  # every drawn pixel is one of the parcel's two real pixels
        assert any(np.allclose(drawn[:, :, k], real[:, :, j]) for j in range(2))
    assert torch.equal(data[1]["x"], item["x"]), "a fixed, seeded draw without resample"
    assert data[3]["x"].abs().sum() == 0 and not data[3]["mask"].any()
    batch = torch.utils.data.default_collate([data[i] for i in range(n)])
    model = create_model("psetae", in_channels=c, num_classes=2)
    assert model(batch["x"], batch["doy"], batch["mask"]).shape == (n, 2)


@needs_shared
def test_train_and_predict_map_on_the_sinop_rasters_keep_their_crs(tmp_path, capsys):
    import rasterio

    from sitsbench import cli
    from sitsbench.data import load_dataset
    from sitsbench.inference.map import open_map
    from sitsbench.inference.model_folder import MapModel

    loaded = load_dataset(SINOP)
    assert cli.main(["train", str(SINOP), "--model", "rf", "--trees", "20", "--output", str(tmp_path / "rf"),
                     "--quiet"]) == 0
    assert cli.main(["predict-map", str(SINOP), "--model", str(tmp_path / "rf"), "--output", str(tmp_path / "map.tif"),
                     "--chunk", "64", "--quiet"]) == 0
    assert "100.0% of pixels classified" in capsys.readouterr().out
    with rasterio.open(tmp_path / "map.tif") as src:
        assert src.crs == rasterio.crs.CRS.from_wkt(georef.crs_of(loaded.cube).to_wkt())
        assert src.transform == georef.transform_of(loaded.cube) and (src.height, src.width) == (147, 255)
    labels = open_map(tmp_path / "map.tif")["class"].values
    # the pixels holding the points get the model's own prediction of their series (prepared the same way)
    model = MapModel.load(tmp_path / "rf")
    x, mask, doy = model.sample_inputs(loaded.samples)
    table = pd.read_csv(SINOP / "samples_sinop_crop.csv")
    rows, cols = georef.to_pixels(loaded.cube, table["longitude"], table["latitude"])
    np.testing.assert_array_equal(labels[rows, cols], model.predict_proba(x, doy, mask).argmax(axis=1))
    with pytest.raises(ValueError, match=r"dates\.txt"):
        io.open_cube(next((SINOP / "raster").glob("*.jp2")))


@needs_shared
def test_labelled_points_from_a_geopackage_written_by_gdal_match_the_csv(tmp_path):
    import shutil
    import struct

    from pyogrio import raw

    from sitsbench.data import load_dataset
    from sitsbench.data.readers.points import read_points

    table = pd.read_csv(SINOP / "samples_sinop_crop.csv")
    folder = tmp_path / "sinop"
    shutil.copytree(SINOP / "raster", folder / "raster")
    wkb = np.array([struct.pack("<BIdd", 1, 1, x, y) for x, y in zip(table.longitude, table.latitude)], dtype=object)
    raw.write(folder / "points.gpkg", wkb, [table["label"].to_numpy(), table["start_date"].to_numpy(),
                                            table["end_date"].to_numpy()],
              ["label", "start_date", "end_date"], geometry_type="Point", crs="EPSG:4326", driver="GPKG")
    from_gpkg = load_dataset(folder).samples
    from_csv = load_dataset(SINOP).samples
    np.testing.assert_array_equal(from_gpkg["series"].values, from_csv["series"].values)
    np.testing.assert_array_equal(from_gpkg["label"].values, from_csv["label"].values)
    polygon = struct.pack("<BII", 1, 3, 0)  # an (empty) polygon is refused, naming the feature
    raw.write(tmp_path / "poly.gpkg", np.array([polygon], dtype=object), [np.array(["Forest"])], ["label"],
              geometry_type="Polygon", crs="EPSG:4326", driver="GPKG")
    with pytest.raises(DatasetFormatError, match=r"poly\.gpkg: feature 0"):
        read_points(tmp_path / "poly.gpkg")
