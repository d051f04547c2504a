"""Reading a cube window by window (sitsbench.data.windows): zarr directly and through xarray give the same series."""

import numpy as np
import pytest

from sitsbench.data import cube as cube_format
from sitsbench.data.datasets import pixel_series
from sitsbench.data.io import save_cube
from sitsbench.data.normalize import BandStats
from sitsbench.data.windows import (
    DatasetWindows,
    ZarrWindows,
    window_grid,
    window_series,
    window_slices,
    window_source,
)


def test_grid_covers_the_image_once_with_cut_edge_windows():
    grid = window_grid(70, 40, 32)
    assert grid == [(cy, cx) for cy in range(3) for cx in range(2)]
    covered = np.zeros((70, 40), dtype=int)
    for cy, cx in grid:
        covered[window_slices(cy, cx, 32)] += 1
    assert (covered == 1).all()


@pytest.fixture(scope="module")
def saved(toy_cube, tmp_path_factory):
    return save_cube(toy_cube, tmp_path_factory.mktemp("windows") / "cube.zarr", chunks=32)


def test_zarr_windows_equal_the_dataset_windows_including_cut_edges(toy_cube, saved):
    zarr_reader, dataset_reader = window_source(saved), window_source(toy_cube)
    assert isinstance(zarr_reader, ZarrWindows) and isinstance(dataset_reader, DatasetWindows)
    assert (zarr_reader.height, zarr_reader.width) == (toy_cube.sizes[cube_format.Y], toy_cube.sizes[cube_format.X])
    for rows, cols in [window_slices(0, 0, 32), window_slices(1, 1, 48), (slice(5, 17), slice(40, 64))]:
        (values, valid), (expected, expected_valid) = zarr_reader.read(rows, cols), dataset_reader.read(rows, cols)
        assert values.dtype == np.float32 and valid.dtype == bool
        np.testing.assert_array_equal(values, expected)
        np.testing.assert_array_equal(valid, expected_valid)
    assert not valid.all() and valid.any(), "the toy cube has clouds: the mask must carry them"


def test_window_series_equals_the_general_pixel_series(toy_cube):
    stats = BandStats.from_cube(toy_cube, np.ones(toy_cube[cube_format.CLASS].shape, dtype=bool))
    rows, cols = window_slices(1, 0, 24)
    window = toy_cube[[cube_format.REFLECTANCE, cube_format.VALID]].isel({cube_format.Y: rows, cube_format.X: cols}).load()
    values, valid = np.asarray(window[cube_format.REFLECTANCE].values), np.asarray(window[cube_format.VALID].values)
    series, mask = window_series(values, valid, stats)
    r, c = np.divmod(np.arange(24 * 24), 24)
    expected, expected_mask = pixel_series(window, r, c, stats, fill="none")
    assert series.shape == (24 * 24, toy_cube.sizes[cube_format.TIME], toy_cube.sizes[cube_format.BAND]) and series.flags.c_contiguous
    np.testing.assert_allclose(series, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(mask, expected_mask)
    order = np.arange(values.shape[1])[::-1]
    reordered, _ = window_series(values, valid, order=order)
    np.testing.assert_array_equal(reordered, values[:, order].reshape(values.shape[0], values.shape[1], -1)
                                  .transpose(2, 0, 1))


def test_a_damaged_chunk_is_an_error_not_fill_values(toy_cube, tmp_path):
    path = save_cube(toy_cube, tmp_path / "cube.zarr", chunks=32)
    chunk = next(p for p in (path / cube_format.REFLECTANCE).iterdir() if not p.name.startswith("."))
    chunk.write_bytes(chunk.read_bytes()[:50])
    reader = window_source(path)
    with pytest.raises(Exception):  # noqa: B017  (the codec's own error type; map inference names the file)
        for cy, cx in window_grid(reader.height, reader.width, 32):
            reader.read(*window_slices(cy, cx, 32))


def test_a_zarr_cube_in_another_dimension_order_is_refused_not_read_by_position(toy_cube, tmp_path):
    transposed = toy_cube[[cube_format.REFLECTANCE, cube_format.VALID]].transpose(cube_format.BAND, cube_format.TIME, cube_format.Y, cube_format.X)
    transposed[cube_format.VALID] = transposed[cube_format.VALID].astype("uint8")
    path = tmp_path / "transposed.zarr"
    transposed.to_zarr(path, zarr_format=2, consolidated=True)
    with pytest.raises(ValueError, match=r"transposed.zarr: array 'reflectance' has dims \('band', 'time', 'y', 'x'\)"):
        window_source(path)
