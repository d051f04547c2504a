"""Chunked map inference: equals whole-cube inference, resumes identically, and keeps memory bounded."""

import tracemalloc

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestCentroid

from sitsbench.data.datasets import PixelSeriesDataset
from sitsbench.data.io import save_cube
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.data.synthetic import generate_cube
from sitsbench.inference.map import classify_window, open_map, predict_map
from sitsbench.inference.predictors import ForestPredictor, TorchPredictor


class ProbaCentroid(NearestCentroid):
    """Nearest centroid with soft-max probabilities: a light, deterministic classifier for map tests."""

    def predict_proba(self, x):
        distances = (x**2).sum(1)[:, None] - 2 * x @ self.centroids_.T + (self.centroids_**2).sum(1)[None]
        logits = -(distances - distances.min(axis=1, keepdims=True))
        proba = np.exp(logits / x.shape[1])
        return proba / proba.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def predictor(toy_cube):
    split = split_parcels(toy_cube, seed=0)
    stats = BandStats.from_cube(toy_cube, split_mask(split, "train"))
    train = PixelSeriesDataset(toy_cube, split, "train", stats)
    return ForestPredictor(ProbaCentroid().fit(train.x.reshape(len(train), -1), train.y), stats)


def test_chunked_map_equals_whole_cube_inference(toy_cube, predictor, tmp_path):
    path = save_cube(toy_cube, tmp_path / "cube.zarr")
    result = predict_map(path, predictor, tmp_path / "map.zarr", chunk=24, progress=False)
    labels, confidence = classify_window(toy_cube, predictor)
    np.testing.assert_array_equal(result["class"].values, labels)
    np.testing.assert_allclose(result["confidence"].values, confidence, rtol=1e-6)
    assert result["done"].values.all() and result["done"].shape == (3, 3)
    agreement = (labels == toy_cube["class"].values).mean()
    assert agreement > 0.4  # well above the 0.25 majority share: the map is a real classification


def test_interrupted_run_resumes_to_the_identical_map(toy_cube, predictor, tmp_path):
    path = save_cube(toy_cube, tmp_path / "cube.zarr")
    reference = predict_map(path, predictor, tmp_path / "reference.zarr", chunk=16, progress=False)

    class Interrupt(Exception):
        pass

    calls = []

    def stop_after_five(cy, cx):
        calls.append((cy, cx))
        if len(calls) == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        predict_map(path, predictor, tmp_path / "map.zarr", chunk=16, progress=False, on_window=stop_after_five)
    assert open_map(tmp_path / "map.zarr")["done"].values.sum() == 5
    resumed_windows = []
    result = predict_map(path, predictor, tmp_path / "map.zarr", chunk=16, progress=False,
                         on_window=lambda cy, cx: resumed_windows.append((cy, cx)))
    assert len(resumed_windows) == 16 - 5 and not set(resumed_windows) & set(calls)
    np.testing.assert_array_equal(result["class"].values, reference["class"].values)
    with pytest.raises(ValueError, match="holds a map of layout"):
        predict_map(path, predictor, tmp_path / "map.zarr", chunk=32, progress=False)


def test_memory_stays_bounded_for_a_cube_larger_than_the_bound(predictor, tmp_path):
    big = generate_cube("toy", seed=5, height=256, width=256, n_dates=20, with_s1=False, block_size=64, chunks=64)
    path = save_cube(big, tmp_path / "big.zarr")
    cube_bytes = 20 * 10 * 256 * 256 * 4
    bound = 12 * 2**20
    assert cube_bytes > 4 * bound
    tracemalloc.start()
    predict_map(path, predictor, tmp_path / "map.zarr", chunk=32, progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < bound, f"peak {peak / 2**20:.1f} MiB for a {cube_bytes / 2**20:.0f} MiB cube"
    print(f"peak traced memory {peak / 2**20:.1f} MiB for a {cube_bytes / 2**20:.0f} MiB cube")


def test_torch_predictor_maps_with_a_series_model(toy_cube, predictor, tmp_path):
    class MeanLinear(torch.nn.Module):
        num_classes = 3

        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(10, 3)

        def forward(self, x, doy=None, mask=None):
            return self.linear(x.mean(dim=1))

    torch.manual_seed(0)
    model = TorchPredictor(MeanLinear(), predictor.stats, device="cpu")
    result = predict_map(toy_cube, model, tmp_path / "map.zarr", chunk=32, progress=False)
    labels = result["class"].values
    assert set(np.unique(labels)) <= {-1, 0, 1, 2}
    x = torch.from_numpy(PixelSeriesDataset(toy_cube, split_parcels(toy_cube), "train", predictor.stats).x[:1])
    assert labels.shape == (64, 64) and np.isfinite(result["confidence"].values[labels >= 0]).all()
    with torch.no_grad():
        assert model.model(x).shape == (1, 3)


def test_cli_predict_map_with_a_saved_forest(toy_cube, predictor, tmp_path, capsys):
    from sitsbench.cli import main

    cube_path = save_cube(toy_cube, tmp_path / "cube.zarr")
    forest_path = predictor.save(tmp_path / "forest.pkl")
    code = main(["predict-map", str(cube_path), "--forest", str(forest_path), "--output", str(tmp_path / "map.zarr"),
                 "--chunk", "32"])
    assert code == 0 and "of pixels classified" in capsys.readouterr().out
    labels, _ = classify_window(toy_cube, predictor)
    np.testing.assert_array_equal(open_map(tmp_path / "map.zarr")["class"].values, labels)


def test_map_of_a_georeferenced_cube_keeps_its_crs_and_transform(toy_cube, predictor, tmp_path):
    import rioxarray
    from affine import Affine

    from sitsbench.data import georef

    transform = Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 5000000.0)
    placed = georef.georeference(toy_cube, "EPSG:32631", transform)
    path = save_cube(placed, tmp_path / "cube.zarr")
    result = predict_map(path, predictor, tmp_path / "map.zarr", chunk=32, progress=False)
    assert georef.crs_of(result).to_epsg() == 32631 and georef.transform_of(result) == transform
    np.testing.assert_array_equal(result["x"].values, 600005.0 + 10 * np.arange(toy_cube.sizes["x"]))
    tif = georef.write_geotiff(result["class"], tmp_path / "map.tif", nodata=-1)
    written = rioxarray.open_rasterio(tif)
    assert written.rio.crs.to_epsg() == 32631 and written.rio.transform() == transform
    np.testing.assert_array_equal(written.values[0], result["class"].values)
    plain = predict_map(save_cube(toy_cube, tmp_path / "plain.zarr"), predictor, tmp_path / "plain_map.zarr",
                        chunk=32, progress=False)
    assert not georef.has_crs(plain), "a cube without CRS gives a map without CRS, never an invented one"
