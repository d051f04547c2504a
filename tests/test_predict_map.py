"""Chunked map inference: equals whole-cube inference, resumes identically, keeps memory bounded, writes
georeferenced GeoTIFF / zarr maps."""

import tracemalloc

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestCentroid

from sitsbench.data import cube as cube_format
from sitsbench.data.io import save_cube
from sitsbench.data.normalize import BandStats
from sitsbench.data.samples import samples_from_cube
from sitsbench.data.synthetic import generate_cube
from sitsbench.inference.dates import DateReference
from sitsbench.inference.map import classify_window, open_map, predict_map
from sitsbench.inference.model_folder import MapModel
from sitsbench.inference.predictors import ClassicalPredictor, TorchPredictor


class ProbaCentroid(NearestCentroid):
    """Nearest centroid with soft-max probabilities: a light, deterministic classifier for map tests."""

    def predict_proba(self, x):
        distances = (x**2).sum(1)[:, None] - 2 * x @ self.centroids_.T + (self.centroids_**2).sum(1)[None]
        logits = -(distances - distances.min(axis=1, keepdims=True))
        proba = np.exp(logits / x.shape[1])
        return proba / proba.sum(axis=1, keepdims=True)


def centroid_model(cube, policy="resample") -> MapModel:
    """A map model whose classifier is a nearest centroid fitted on every labelled pixel of ``cube``."""
    samples = samples_from_cube(cube)
    everything = np.ones(samples.sizes["sample"], dtype=bool)
    model = MapModel(None, "centroid", tuple(str(b) for b in cube[cube_format.BAND].values), cube_format.class_names(cube),
                     BandStats.from_samples(samples, everything), DateReference.from_dates(samples["date"].values),
                     policy)
    x, mask, doy = model.sample_inputs(samples)
    model.predictor = ClassicalPredictor(ProbaCentroid().fit(x.reshape(len(x), -1), samples["label"].values))
    return model


@pytest.fixture(scope="module")
def model(toy_cube):
    return centroid_model(toy_cube)


def whole_cube(cube, model):
    plan = model.plan(cube[cube_format.TIME].values, "test")
    values, valid = np.asarray(cube[cube_format.REFLECTANCE].values, dtype=np.float32), np.asarray(cube[cube_format.VALID].values)
    return classify_window(values, valid, model, plan, model.band_order(cube[cube_format.BAND].values, "test"), "test")


def test_chunked_map_equals_whole_cube_inference(toy_cube, model, tmp_path):
    path = save_cube(toy_cube, tmp_path / "cube.zarr")
    result = predict_map(path, model, tmp_path / "map.zarr", chunk=24, progress=False)
    expected = whole_cube(toy_cube, model)
    np.testing.assert_array_equal(result["class"].values, expected["class"])
    np.testing.assert_allclose(result["confidence"].values, expected["confidence"], rtol=1e-6)
    assert result["done"].values.all() and result["done"].shape == (3, 3)
    agreement = (expected["class"] == toy_cube["class"].values).mean()
    assert agreement > 0.4  # well above the 0.25 majority share: the map is a real classification
    assert not (tmp_path / "map.zarr.partial.zarr").exists(), "the work store became the output"


def test_interrupted_run_resumes_to_the_identical_map(toy_cube, model, tmp_path):
    path = save_cube(toy_cube, tmp_path / "cube.zarr")
    reference = predict_map(path, model, tmp_path / "reference.zarr", chunk=16, progress=False)

    class Interrupt(Exception):
        pass

    calls = []

    def stop_after_five(cy, cx):
        calls.append((cy, cx))
        if len(calls) == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        predict_map(path, model, tmp_path / "map.zarr", chunk=16, progress=False, on_window=stop_after_five)
    assert not (tmp_path / "map.zarr").exists(), "no output until every window is done"
    assert open_map(tmp_path / "map.zarr.partial.zarr")["done"].values.sum() == 5
    with pytest.raises(ValueError, match="another cube, model or options"):  # the chunk is part of the fingerprint
        predict_map(path, model, tmp_path / "map.zarr", chunk=32, progress=False)
    resumed_windows = []
    result = predict_map(path, model, tmp_path / "map.zarr", chunk=16, progress=False,
                         on_window=lambda cy, cx: resumed_windows.append((cy, cx)))
    assert len(resumed_windows) == 16 - 5 and not set(resumed_windows) & set(calls)
    np.testing.assert_array_equal(result["class"].values, reference["class"].values)


def test_memory_stays_bounded_for_a_cube_larger_than_the_bound(model, tmp_path):
    big = generate_cube("toy", seed=5, height=256, width=256, n_dates=20, with_s1=False, block_size=64, chunks=64)
    path = save_cube(big, tmp_path / "big.zarr")
    cube_bytes = 20 * 10 * 256 * 256 * 4
    bound = 12 * 2**20
    assert cube_bytes > 4 * bound
    tracemalloc.start()
    predict_map(path, model, tmp_path / "map.zarr", chunk=32, progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < bound, f"peak {peak / 2**20:.1f} MiB for a {cube_bytes / 2**20:.0f} MiB cube"
    print(f"peak traced memory {peak / 2**20:.1f} MiB for a {cube_bytes / 2**20:.0f} MiB cube")


def test_torch_predictor_maps_with_a_series_model_and_writes_uncertainty(toy_cube, model, tmp_path):
    k = len(model.class_names)

    class MeanLinear(torch.nn.Module):
        num_classes = k

        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(10, k)

        def forward(self, x, doy=None, mask=None):
            return self.linear(x.mean(dim=1))

    torch.manual_seed(0)
    network = MapModel(TorchPredictor(MeanLinear(), device="cpu"), "mean_linear", model.bands, model.class_names,
                       model.stats, model.reference, "resample")
    result = predict_map(toy_cube, network, tmp_path / "map.zarr", chunk=32, progress=False, probabilities=True,
                         uncertainty="entropy")
    labels = result["class"].values
    assert set(np.unique(labels)) <= {-1, *range(k)} and labels.shape == (64, 64)
    proba = result["probability"].values
    assert proba.shape == (k, 64, 64)
    np.testing.assert_allclose(proba.sum(axis=0)[labels >= 0], 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=0)[labels >= 0], labels[labels >= 0])
    entropy = result["uncertainty"].values[labels >= 0]
    assert 0 <= entropy.min() and entropy.max() <= 1 + 1e-6 and entropy.std() > 0


def test_geotiff_output_is_a_cog_with_the_cube_crs_transform_and_layers(toy_cube, model, tmp_path):
    import rasterio
    from affine import Affine

    from sitsbench.data import georef

    transform = Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 5000000.0)
    placed = georef.georeference(toy_cube, "EPSG:32631", transform)
    path = save_cube(placed, tmp_path / "cube.zarr")
    result = predict_map(path, model, tmp_path / "map.tif", chunk=32, progress=False, uncertainty="margin")
    assert georef.crs_of(result).to_epsg() == 32631 and georef.transform_of(result) == transform
    np.testing.assert_array_equal(result["class"].values, whole_cube(toy_cube, model)["class"])
    for name in ("map.tif", "map.confidence.tif", "map.uncertainty.tif"):
        with rasterio.open(tmp_path / name) as src:
            assert src.crs.to_epsg() == 32631 and src.transform == transform
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and src.compression.name == "deflate"
            assert src.block_shapes[0] == (256, 256) or src.height < 256
    with rasterio.open(tmp_path / "map.tif") as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255 and src.colormap(1)[0][3] == 255
    assert not list(tmp_path.glob(".*")) and not (tmp_path / "map.tif.partial.zarr").exists()
    plain = predict_map(save_cube(toy_cube, tmp_path / "plain.zarr"), model, tmp_path / "plain_map.zarr",
                        chunk=32, progress=False)
    assert not georef.has_crs(plain), "a cube without CRS gives a map without CRS, never an invented one"


def test_a_dask_cluster_makes_the_same_map(toy_cube, model, tmp_path):
    distributed = pytest.importorskip("distributed")
    path = save_cube(toy_cube, tmp_path / "cube.zarr")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = predict_map(path, model, tmp_path / "map.tif", chunk=32, progress=False,
                             scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(result["class"].values, whole_cube(toy_cube, model)["class"])


def test_a_foreign_zarr_cube_with_an_unstored_all_invalid_mask_chunk_maps_those_pixels_as_unclassified(
        toy_cube, model, tmp_path):
    """xarray's and zarr's default skip a chunk equal to the fill value: an all-False ``valid`` chunk is then not on
    disk and means "never clear", not damage (a cube written by save_cube, which writes every chunk, still refuses a
    missing chunk: tests/test_bad_inputs.py)."""
    from sitsbench.data.io import _encode, missing_chunks

    valid = toy_cube[cube_format.VALID].values.copy()
    valid[:, :32, :32] = False
    cube = toy_cube.drop_dims([cube_format.TIME_S1]).assign({cube_format.VALID: (toy_cube[cube_format.VALID].dims, valid)})
    path = tmp_path / "foreign.zarr"
    _encode(cube).chunk({cube_format.Y: 32, cube_format.X: 32}).to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    assert not (path / cube_format.VALID / "0.0.0").exists(), "the all-False chunk is not stored"
    assert missing_chunks(path) == {}
    result = predict_map(path, model, tmp_path / "map.zarr", chunk=32, progress=False)
    labels = result["class"].values
    assert (labels[:32, :32] == -1).all()
    np.testing.assert_array_equal(labels[32:, 32:], whole_cube(cube, model)["class"][32:, 32:])


def test_a_float_class_layer_does_not_block_mapping(toy_cube, model, tmp_path):
    """predict-map reads reflectance, mask, dates and bands: a label layer of another kind is not its business."""
    cube = toy_cube.assign({cube_format.CLASS: toy_cube[cube_format.CLASS].astype("float32") + 0.5})
    path = save_cube(cube, tmp_path / "float_class.zarr")
    with pytest.raises(ValueError, match="variable 'class' has dtype float32"):  # still refused where labels are read
        from sitsbench.data.io import open_cube

        open_cube(path)
    result = predict_map(path, model, tmp_path / "map.zarr", chunk=32, progress=False)
    np.testing.assert_array_equal(result["class"].values, whole_cube(toy_cube, model)["class"])


def test_evaluate_matches_classes_by_name(toy_cube, model):
    """The same class names in another order score exactly as the original samples (ids mapped by name)."""
    from sitsbench.training.map_training import evaluate_map_model

    samples = samples_from_cube(toy_cube)
    names = list(samples.attrs["class_names"])
    reordered_names = names[::-1]
    reordered = samples.assign(label=("sample", np.where(samples["label"].values >= 0,
                                                         len(names) - 1 - samples["label"].values, -1)))
    reordered.attrs["class_names"] = reordered_names
    expected = evaluate_map_model(model, samples)
    got = evaluate_map_model(model, reordered)
    assert got["n"] == expected["n"] > 0 and 0.4 < expected["oa"] < 1
    assert got["oa"] == expected["oa"] and got["macro_f1"] == expected["macro_f1"]
