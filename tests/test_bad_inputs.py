"""Bad input across the commands and the API: one table of cases, each with the error it must raise (an exception
type, or the exit status of the command line), a fragment of the message that names the offending file or field,
and the files that must be byte-identical afterwards (nothing that existed is deleted or truncated by a failing or
refusing command)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from sitsbench import cli
from sitsbench.data import cube as cube_format
from sitsbench.data import georef
from sitsbench.data import samples as samples_format
from sitsbench.data.io import open_cube, save_cube
from sitsbench.data.samples import samples_from_cube

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "data" / "tiny_sweep.ipynb"


@dataclass
class Case:
    action: Callable[[], object]
    error: type[BaseException] | int  # an exception type, or the exit status of `sitsbench ...`
    message: str  # must appear in the exception message or on stderr
    protect: list[Path] = field(default_factory=list)  # files (or folders) that must stay byte-identical


@pytest.fixture(scope="module")
def world(tmp_path_factory, toy_cube):
    """A georeferenced toy cube on disk, a small Random Forest model folder and its GeoTIFF map."""
    from affine import Affine

    from sitsbench.inference.map import predict_map
    from sitsbench.inference.model_folder import MapModel
    from sitsbench.training.map_training import MapTrainingConfig, train_map_model

    root = tmp_path_factory.mktemp("bad_inputs")
    placed = georef.georeference(toy_cube.drop_dims([cube_format.TIME_S1]), "EPSG:32631",
                                 Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 5000000.0))
    save_cube(placed, root / "cube.zarr")
    model, _ = train_map_model(samples_from_cube(placed),
                               MapTrainingConfig(rf_trees=5, progress=False, split_policy="none"))
    model.save(root / "model")
    predict_map(root / "cube.zarr", MapModel.load(root / "model"), root / "map.tif", chunk=32, progress=False)
    return {"root": root, "cube": placed, "model": root / "model", "map": root / "map.tif"}


def _cli(*argv) -> Callable[[], int]:
    return lambda: cli.main([str(a) for a in argv])


def _snapshot(paths: list[Path]) -> dict[str, bytes | None]:
    out = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            out[str(file)] = file.read_bytes() if file.exists() else None
    return out


# --- the cases ---------------------------------------------------------------------------------------------------
def synthetic_into_a_folder_of_other_files(w, tmp):
    folder = tmp / "notes.zarr"
    folder.mkdir()
    (folder / "notes.txt").write_text("field notes")
    return Case(_cli("synthetic", folder, "--preset", "toy"), 2, f"{folder} already exists", [folder])


def synthetic_over_an_existing_netcdf(w, tmp):
    existing = tmp / "old.nc"
    existing.write_bytes(b"an old cube")
    return Case(_cli("synthetic", existing, "--preset", "toy"), 2, f"{existing} already exists", [existing])


def synthetic_size_zero(w, tmp):
    return Case(_cli("synthetic", tmp / "c.zarr", "--size", "0"), 2, "height and width must be >= 8 pixels, got 0x0")


def synthetic_dates_zero(w, tmp):
    return Case(_cli("synthetic", tmp / "c.zarr", "--dates", "0"), 2, "n_dates must be between 2 and 73")


def synthetic_chunks_zero(w, tmp):
    return Case(_cli("synthetic", tmp / "c.zarr", "--chunks", "0"), 2, "--chunks must be a positive number")


def synthetic_bad_origin(w, tmp):
    return Case(_cli("synthetic", tmp / "c.zarr", "--origin", "north"), 2, "--origin must be two numbers")


def synthetic_unknown_format(w, tmp):
    return Case(_cli("synthetic", tmp / "c.txt", "--preset", "toy"), 2, "c.txt: unknown cube format")


def save_cube_over_a_foreign_folder(w, tmp):
    folder = tmp / "photos.zarr"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"jpeg")
    return Case(lambda: save_cube(w["cube"], folder), FileExistsError, "is not a sitsbench cube", [folder])


def results_collect_with_a_corrupt_record(w, tmp):
    runs = tmp / "runs"
    (runs / "a").mkdir(parents=True)
    (runs / "a" / "record.json").write_text("{truncated")
    table = tmp / "t.csv"
    table.write_text("run,oa\nold,0.9\n")
    return Case(_cli("results", "collect", runs, "--out", table), 1, str(runs / "a" / "record.json"), [table])


def results_collect_allow_corrupt_with_nothing_readable(w, tmp):
    runs = tmp / "runs"
    (runs / "a").mkdir(parents=True)
    (runs / "a" / "record.json").write_text("[]")
    table = tmp / "t.csv"
    table.write_text("run,oa\nold,0.9\n")
    return Case(_cli("results", "collect", runs, "--out", table, "--allow-corrupt"), 2,
                f"no readable run record under {runs}", [table])


def _zarr_copy(w, tmp, name="cube.zarr"):
    copy = tmp / name
    shutil.copytree(w["root"] / "cube.zarr", copy)
    return copy


def open_cube_with_a_deleted_mask_chunk(w, tmp):
    copy = _zarr_copy(w, tmp)
    next(p for p in (copy / cube_format.VALID).iterdir() if not p.name.startswith(".")).unlink()
    return Case(lambda: open_cube(copy), ValueError, f"cube {copy}: chunks missing on disk ({{'valid': 1}})", [copy])


def open_cube_with_a_deleted_reflectance_chunk(w, tmp):
    copy = _zarr_copy(w, tmp)
    next(p for p in (copy / cube_format.REFLECTANCE).iterdir() if not p.name.startswith(".")).unlink()
    return Case(lambda: open_cube(copy), ValueError, "chunks missing on disk ({'reflectance': 1})", [copy])


def open_cube_with_a_truncated_chunk(w, tmp):
    copy = _zarr_copy(w, tmp)
    chunk = next(p for p in (copy / cube_format.REFLECTANCE).iterdir() if not p.name.startswith("."))
    chunk.write_bytes(chunk.read_bytes()[:50])
    return Case(lambda: open_cube(copy), ValueError, f"cube {copy}: cannot read its values", [copy])


def open_cube_with_nan_under_a_clear_mask(w, tmp):
    cube = w["cube"]
    values = cube[cube_format.REFLECTANCE].values.copy()
    t, y, x = np.argwhere(cube[cube_format.VALID].values)[10]
    values[t, 0, y, x] = np.nan
    path = save_cube(cube.assign({cube_format.REFLECTANCE: (cube[cube_format.REFLECTANCE].dims, values)}), tmp / "nan.zarr")
    return Case(lambda: open_cube(path), cube_format.CubeValidationError,
                f"first at time index {t}, y index {y}, x index {x}", [path])


def open_cube_with_swapped_x_and_y(w, tmp):
    path = save_cube(w["cube"].transpose(cube_format.TIME, cube_format.BAND, cube_format.X, cube_format.Y, ...), tmp / "swapped.zarr")
    return Case(lambda: open_cube(path), cube_format.CubeValidationError, "'reflectance' has dims ('time', 'band', 'x', 'y')")


def open_cube_missing(w, tmp):
    return Case(lambda: open_cube(tmp / "nowhere.zarr"), FileNotFoundError, f"cube {tmp / 'nowhere.zarr'} does not")


def open_cube_of_a_text_file(w, tmp):
    path = tmp / "cube.txt"
    path.write_text("hello")
    return Case(lambda: open_cube(path), ValueError, f"{path}: unknown cube format", [path])


def _sweep(tmp, **fields):
    path = tmp / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "notebook": str(TINY), "parameters": {}, "grid": {"seed": [0]},
                                    **fields}))
    return path


def sweep_unknown_parameter(w, tmp):
    path = _sweep(tmp, parameters={"methd": "a"})
    return Case(_cli("sweep", path, "--runs-dir", tmp / "runs"), 2,
                "field 'parameters.methd' is not a parameter of tiny_sweep.ipynb (did you mean 'method'?)", [path])


def sweep_unknown_grid_key(w, tmp):
    path = _sweep(tmp, grid={"sed": [0, 1]})
    return Case(_cli("sweep", path, "--runs-dir", tmp / "runs"), 2, "field 'grid.sed' is not a parameter", [path])


def sweep_duplicate_grid_value(w, tmp):
    path = _sweep(tmp, grid={"seed": [0, 0]})
    return Case(_cli("sweep", path, "--runs-dir", tmp / "runs"), 2, "field 'grid.seed' lists a value twice")


def sweep_missing_notebook(w, tmp):
    path = tmp / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "notebook": "nowhere.ipynb", "grid": {"seed": [0]}}))
    return Case(_cli("sweep", path, "--runs-dir", tmp / "runs"), 2, "field 'notebook' names")


def sweep_invalid_yaml(w, tmp):
    path = tmp / "sweep.yaml"
    path.write_text("name: [unclosed")
    return Case(_cli("sweep", path, "--runs-dir", tmp / "runs"), 2, f"{path}: invalid YAML")


def table_with_day_first_dates(w, tmp):
    from sitsbench.data.readers.tables import read_sample_table

    path = tmp / "samples.csv"
    pd.DataFrame({"sample": [1], "label": ["a"], "date": ["14/09/2021"], "B04": [0.1]}).to_csv(path, index=False)
    return Case(lambda: read_sample_table(path), ValueError, "'14/09/2021' is not an ISO date", [path])


def data_info_on_a_table_with_an_open_quote(w, tmp):
    path = tmp / "samples.csv"
    path.write_text('label,B04_2021-01-01,B04_2021-02-01\na,0.1,"0.2\nb,0.3,0.4\ny,0.5,0.6\n')
    return Case(_cli("data", "info", path), 2, f"{path}, lines 2-4: unexpected end of data (a quote left open?)",
                [path])


def train_on_a_table_with_a_ragged_row(w, tmp):
    path = tmp / "samples.csv"
    path.write_text("label,B04_2021-01-01,B04_2021-02-01\na,0.1,0.2\nb,0.3\n")
    return Case(_cli("train", path, "--output", tmp / "m"), 2, f"{path}, line 3: 2 fields, the header has 3", [path])


def metrics_with_float_labels(w, tmp):
    from sitsbench.metrics import classification_metrics

    return Case(lambda: classification_metrics(np.array([0.5, 1.0]), np.array([0, 1]), 2), ValueError,
                "y_true must hold integer class ids, got float64 values such as 0.5")


def fit_with_a_label_the_model_cannot_predict(w, tmp):
    from sitsbench.data.datasets import ArraySeriesDataset
    from sitsbench.models import create_model
    from sitsbench.training import TrainConfig, fit

    data = ArraySeriesDataset(np.zeros((4, 6, 3)), np.ones((4, 6), bool), np.arange(6), np.array([0, 1, 2, 12]),
                              np.arange(4))
    model = create_model("ltae_small", in_channels=3, num_classes=3)
    return Case(lambda: fit(model, data, config=TrainConfig(epochs=1, progress=False)), ValueError,
                "the training dataset has labels in [0, 12] but the model predicts 3 classes")


def evaluate_on_an_empty_split(w, tmp):
    from sitsbench.data.datasets import ArraySeriesDataset
    from sitsbench.models import create_model
    from sitsbench.training import evaluate

    empty = ArraySeriesDataset(np.zeros((0, 6, 3)), np.zeros((0, 6), bool), np.arange(6), np.zeros(0), np.zeros(0))
    return Case(lambda: evaluate(create_model("ltae_small", in_channels=3, num_classes=3), empty), ValueError,
                "the evaluation dataset (ArraySeriesDataset) is empty")


def predict_on_an_empty_split(w, tmp):
    from sitsbench.data.datasets import ArraySeriesDataset
    from sitsbench.models import create_model
    from sitsbench.training import predict

    empty = ArraySeriesDataset(np.zeros((0, 6, 3)), np.zeros((0, 6), bool), np.arange(6), np.zeros(0), np.zeros(0))
    return Case(lambda: predict(create_model("ltae_small", in_channels=3, num_classes=3), empty), ValueError,
                "the ArraySeriesDataset is empty")


def seed_that_is_not_a_number(w, tmp):
    from sitsbench.data import load_dataset

    return Case(lambda: load_dataset("toy", seed="abc"), ValueError, "seed must be a non-negative integer, got 'abc'")


def torch_seed_that_is_not_a_number(w, tmp):
    from sitsbench.runtime import seed_everything

    return Case(lambda: seed_everything(1.5), ValueError, "seed must be a non-negative integer, got 1.5 (float)")


def data_list_with_one_broken_manifest(w, tmp, monkeypatch=None):
    from sitsbench.commands import data as data_command
    from sitsbench.data.manifests import MANIFEST_DIR

    folder = tmp / "manifests"
    folder.mkdir()
    shutil.copy(MANIFEST_DIR / "victoria-s2.yaml", folder)
    (folder / "broken.yaml").write_text("name: broken\ntitle: [")
    original = data_command.manifest_paths

    def run():
        data_command.manifest_paths = lambda: sorted(folder.glob("*.yaml"))
        try:
            return cli.main(["data", "list"])
        finally:
            data_command.manifest_paths = original
    return Case(run, 1, f"invalid manifest: {folder / 'broken.yaml'}: invalid YAML", [folder])


def train_unknown_model(w, tmp):
    return Case(_cli("train", w["root"] / "cube.zarr", "--model", "tempcn", "--output", tmp / "m"), 2,
                "unknown model 'tempcn'; did you mean")


def train_a_patch_model(w, tmp):
    return Case(_cli("train", w["root"] / "cube.zarr", "--model", "utae_tiny", "--output", tmp / "m"), 2,
                "model 'utae_tiny' is a patch classifier")


def train_into_an_existing_folder(w, tmp):
    existing = tmp / "m"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    return Case(_cli("train", w["root"] / "cube.zarr", "--output", existing), 2, f"{existing} already exists",
                [existing])


def train_with_model_args_that_are_not_json(w, tmp):
    return Case(_cli("train", w["root"] / "cube.zarr", "--model", "ltae_small", "--model-args", "{dropout: 0.2}",
                     "--output", tmp / "m"), 2, "--model-args must be a JSON object")


def train_on_a_missing_dataset(w, tmp):
    return Case(_cli("train", tmp / "nowhere", "--output", tmp / "m"), 2, f"dataset '{tmp / 'nowhere'}' is neither")


def train_on_an_unknown_layout(w, tmp):
    folder = tmp / "stuff"
    folder.mkdir()
    (folder / "readme.txt").write_text("?")
    return Case(_cli("train", folder, "--output", tmp / "m"), 2, f"{folder}: unrecognised dataset layout", [folder])


def _table(path, labels, all_nan=0):
    """A wide sample table of ``labels`` (two bands, four dates); the first ``all_nan`` rows have no value at all."""
    rng = np.random.default_rng(0)
    values = {f"{b}_2021-0{m}-01": rng.random(len(labels)) for b in ("B04", "B08") for m in range(1, 5)}
    table = pd.DataFrame({"label": labels, **values})
    table.iloc[:all_nan, 1:] = np.nan
    table.to_csv(path, index=False)
    return path


def train_on_a_table_of_one_class(w, tmp):
    path = _table(tmp / "one.csv", ["wheat"] * 30)
    # the Random Forest trains on its training and validation parts together (80 % of 30)
    return Case(_cli("train", path, "--output", tmp / "m", "--trees", 5), 2,
                "the training part holds 1 class ({'wheat': 24} training samples); a classifier needs at least two",
                [path])


def train_on_a_cube_labelled_with_one_of_its_classes(w, tmp):
    from sitsbench.training.map_training import MapTrainingConfig, train_map_model

    cube = w["cube"]
    one = cube.assign({cube_format.CLASS: cube[cube_format.CLASS].where(cube[cube_format.CLASS] < 0, 3)})
    return Case(lambda: train_map_model(samples_from_cube(one), MapTrainingConfig(rf_trees=5, progress=False)),
                ValueError, f"the training part holds 1 class ({{'{cube_format.class_names(cube)[3]}'")


def train_zero_epochs(w, tmp):
    return Case(_cli("train", tmp / "nowhere", "--model", "ltae_small", "--epochs", 0, "--output", tmp / "m"), 2,
                "--epochs (epochs) must be >= 1, got 0")


def train_zero_trees(w, tmp):
    return Case(_cli("train", tmp / "nowhere", "--trees", 0, "--output", tmp / "m"), 2,
                "--trees (rf_trees) must be >= 1, got 0")


def train_zero_batch_size(w, tmp):
    return Case(_cli("train", tmp / "nowhere", "--model", "ltae_small", "--batch-size", 0, "--output", tmp / "m"), 2,
                "--batch-size (batch_size) must be >= 1, got 0")


def train_with_a_model_argument_the_model_does_not_take(w, tmp):
    # the dataset does not exist: the option is refused before any data is read
    return Case(_cli("train", tmp / "nowhere", "--model", "tempcnn_tiny", "--model-args", '{"nosuch": 1}', "--output",
                     tmp / "m"), 2, "--model-args: model 'tempcnn_tiny' has no option 'nosuch'; it takes "
                "['dropout', 'fc_dim', 'head_hidden', 'kernel_size', 'seq_len', 'width']")


def train_a_forest_with_an_option_it_does_not_take(w, tmp):  # before any data is read
    return Case(_cli("train", tmp / "nowhere", "--model-args", '{"max_dept": 3}', "--output", tmp / "m"), 2,
                "estimator 'rf' has no option among ['max_dept']")


def train_a_forest_sized_by_model_arguments(w, tmp):
    return Case(_cli("train", tmp / "nowhere", "--model-args", '{"n_estimators": 3}', "--output", tmp / "m"), 2,
                "--model-args n_estimators: --trees sets the size of the Random Forest")


def train_into_an_existing_file_with_overwrite(w, tmp):
    existing = tmp / "notes.txt"
    existing.write_text("mine")
    return Case(_cli("train", tmp / "nowhere", "--output", existing, "--overwrite"), 2,
                f"--output {existing} is an existing file, not a folder", [existing])


def train_strictly_on_samples_without_a_clear_observation(w, tmp):
    path = _table(tmp / "cloudy.csv", ["wheat", "maize"] * 15, all_nan=4)
    return Case(_cli("train", path, "--output", tmp / "m", "--trees", 5, "--strict"), 2,
                "4 of 30 samples have no clear observation (first: sample 0)", [path])


def pretrain_with_an_encoder_argument_it_does_not_take(w, tmp):
    return Case(_cli("pretrain", tmp / "nowhere", "--encoder-args", '{"nosuch": 1}', "--output", tmp / "e"), 2,
                "--encoder-args: model 'ltae_small' has no option 'nosuch'; it takes ['attention_dropout'")


def pretrain_zero_epochs(w, tmp):
    return Case(_cli("pretrain", tmp / "nowhere", "--epochs", 0, "--output", tmp / "e"), 2,
                "--epochs must be > 0, got 0.0")


def predict_map_with_a_missing_model_folder(w, tmp):
    return Case(_cli("predict-map", w["root"] / "cube.zarr", "--model", tmp / "nope", "--output", tmp / "m.tif"), 2,
                f"model folder {tmp / 'nope'} does not exist")


def predict_map_with_a_foreign_model_folder(w, tmp):
    folder = tmp / "foreign"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x00")
    return Case(_cli("predict-map", w["root"] / "cube.zarr", "--model", folder, "--output", tmp / "m.tif"), 2,
                f"{folder} is not a sitsbench model folder: no model.json", [folder])


def predict_map_with_replaced_weights(w, tmp):
    folder = tmp / "model"
    shutil.copytree(w["model"], folder)
    (folder / "estimator.pkl").write_bytes(b"not the forest")
    return Case(_cli("predict-map", w["root"] / "cube.zarr", "--model", folder, "--output", tmp / "m.tif"), 2,
                f"{folder / 'estimator.pkl'}: checksum differs", [folder])


def predict_map_cube_without_a_band(w, tmp):
    path = save_cube(w["cube"].sel({cube_format.BAND: [b for b in cube_format.S2_BANDS if b != "B11"]}), tmp / "no_b11.zarr")
    return Case(_cli("predict-map", path, "--model", w["model"], "--output", tmp / "m.tif"), 2, "missing ['B11']")


def predict_map_cube_in_digital_numbers(w, tmp):
    cube = w["cube"]
    path = save_cube(cube.assign({cube_format.REFLECTANCE: cube[cube_format.REFLECTANCE] * 10_000}), tmp / "dn.zarr")
    return Case(_cli("predict-map", path, "--model", w["model"], "--output", tmp / "m.tif"), 2,
                f"cube {path}, window rows 0:64 cols 0:64: values far outside")


def predict_map_cube_with_band_values_reversed_under_the_right_names(w, tmp):
    cube = w["cube"]
    path = save_cube(cube.assign({cube_format.REFLECTANCE: cube[cube_format.REFLECTANCE][:, ::-1].assign_coords({cube_format.BAND: cube[cube_format.BAND]})}),
                     tmp / "reversed.zarr")
    output = tmp / "m.tif"
    return Case(_cli("predict-map", path, "--model", w["model"], "--output", output), 2,
                f"cube {path} (1 window(s) spread over it): the spectra do not look like the data the model")


def predict_map_cube_with_an_ndvi_in_a_reflectance_band(w, tmp):
    cube = w["cube"]
    red, nir = cube[cube_format.REFLECTANCE].sel({cube_format.BAND: "B04"}), cube[cube_format.REFLECTANCE].sel({cube_format.BAND: "B08"})
    values = cube[cube_format.REFLECTANCE].values.copy()
    values[:, list(cube[cube_format.BAND].values).index("B04")] = ((nir - red) / (nir + red)).values  # another sensor's band
    path = save_cube(cube.assign({cube_format.REFLECTANCE: (cube[cube_format.REFLECTANCE].dims, values)}), tmp / "ndvi.zarr")
    return Case(_cli("predict-map", path, "--model", w["model"], "--output", tmp / "m.tif"), 2,
                "the spectra do not look like the data the model")


def spectra_in_digital_numbers(w, tmp):  # the fingerprint alone (the range check fires first in predict-map)
    from sitsbench.inference.model_folder import MapModel

    samples = samples_from_cube(w["cube"])
    clear = samples[samples_format.VALUES].values[samples[samples_format.VALID].values]
    model = MapModel.load(w["model"])
    model.check_spectra(clear, "reflectance")  # the training data itself passes
    return Case(lambda: model.check_spectra(clear * 10_000, "digital numbers"), ValueError,
                "digital numbers: the spectra do not look like the data the model")


def evaluate_on_samples_with_band_values_reversed(w, tmp):
    from sitsbench.inference.model_folder import MapModel
    from sitsbench.training.map_training import evaluate_map_model

    samples = samples_from_cube(w["cube"])
    reversed_values = samples.assign({samples_format.VALUES: samples[samples_format.VALUES].copy(data=samples[samples_format.VALUES].values[:, :, ::-1])})
    return Case(lambda: evaluate_map_model(MapModel.load(w["model"]), reversed_values), ValueError,
                "the spectra do not look like the data the model")


def predict_map_over_a_map_of_another_model(w, tmp):
    output = tmp / "m.tif"
    shutil.copy(w["map"], output)
    other = save_cube(w["cube"].isel({cube_format.X: slice(0, 40)}), tmp / "other.zarr")
    return Case(_cli("predict-map", other, "--model", w["model"], "--output", output), 2,
                f"{output} already holds a map made from another cube, model or options", [output])


def predict_map_over_a_file_of_another_tool(w, tmp):
    output = tmp / "m.tif"
    output.write_bytes(b"GIF89a")
    return Case(_cli("predict-map", w["root"] / "cube.zarr", "--model", w["model"], "--output", output), 2,
                "(or not by sitsbench)", [output])


def predict_map_beside_an_unrelated_confidence_layer(w, tmp):
    layer = tmp / "m.confidence.tif"
    layer.write_bytes(b"someone else's confidence raster")
    return Case(_cli("predict-map", w["root"] / "cube.zarr", "--model", w["model"], "--output", tmp / "m.tif"), 2,
                f"{layer} already exist(s)", [layer])


def predict_map_beside_an_unrelated_probability_layer(w, tmp):  # a layer this run would remove as stale
    layer = tmp / "m.probability.tif"
    layer.write_bytes(b"kept")
    return Case(_cli("predict-map", w["root"] / "cube.zarr", "--model", w["model"], "--output", tmp / "m.tif",
                     "--uncertainty", "margin"), 2, f"{layer} already exist(s)", [layer])


def predict_map_over_a_foreign_folder_named_like_its_partial_map(w, tmp):
    partial = tmp / "m.tif.partial.zarr"
    partial.mkdir()
    (partial / "notes.txt").write_text("mine")
    return Case(_cli("predict-map", w["root"] / "cube.zarr", "--model", w["model"], "--output", tmp / "m.tif"), 2,
                f"{partial}: unreadable partial map", [partial])


def predict_map_unknown_output_format(w, tmp):
    return Case(_cli("predict-map", w["root"] / "cube.zarr", "--model", w["model"], "--output", tmp / "m.png"), 2,
                "the map is written as a .zarr store or a .tif GeoTIFF")


def predict_map_chunk_zero(w, tmp):
    return Case(_cli("predict-map", w["root"] / "cube.zarr", "--model", w["model"], "--output", tmp / "m.tif",
                     "--chunk", "0"), 2, "chunk must be a positive number of pixels, got 0")


def predict_map_season_not_covered(w, tmp):
    half = w["cube"].isel({cube_format.TIME: slice(0, 8)})
    path = save_cube(half, tmp / "half.zarr")
    return Case(_cli("predict-map", path, "--model", w["model"], "--output", tmp / "m.tif"), 2,
                f"cube {path}: 8 dates from")


def predict_map_while_another_run_writes_the_output(w, tmp):
    from sitsbench.atomic import OutputBusyError, exclusive
    from sitsbench.inference.map import predict_map
    from sitsbench.inference.model_folder import MapModel

    output = tmp / "busy.tif"

    def run():
        with exclusive(output, "map"):  # held as another process would hold it
            predict_map(w["root"] / "cube.zarr", MapModel.load(w["model"]), output, chunk=32, progress=False)
    return Case(run, OutputBusyError, f"map {output} is being written by another process")


def evaluate_map_without_reference(w, tmp):
    return Case(_cli("evaluate", "--map", w["map"]), 2, "map assessment takes --map MAP --reference POINTS")


def evaluate_a_missing_map(w, tmp):
    return Case(_cli("evaluate", "--map", tmp / "missing.tif", "--reference", tmp / "points.csv"), 2,
                f"map {tmp / 'missing.tif'} does not exist")


def evaluate_a_map_that_is_not_a_raster(w, tmp):
    path = tmp / "notes.tif"
    path.write_text("not a raster")
    return Case(_cli("evaluate", "--map", path, "--reference", tmp / "points.csv"), 2,
                f"{path} is not a map written by `sitsbench predict-map`", [path])


def evaluate_a_model_on_samples_of_a_class_it_does_not_know(w, tmp):
    from sitsbench.inference.model_folder import MapModel
    from sitsbench.training.map_training import evaluate_map_model

    samples = samples_from_cube(w["cube"])
    samples.attrs["class_names"] = [*samples.attrs["class_names"][:-1], "glacier"]
    return Case(lambda: evaluate_map_model(MapModel.load(w["model"]), samples), ValueError,
                "has samples of classes ['glacier'] that the model")


def _points(path, labels, lon=(2.35,), lat=(45.1,)):
    pd.DataFrame({"longitude": np.resize(lon, len(labels)), "latitude": np.resize(lat, len(labels)),
                  "label": labels}).to_csv(path, index=False)


def evaluate_map_with_unknown_reference_labels(w, tmp):
    path = tmp / "points.csv"
    _points(path, ["moon_dust", "water"])
    return Case(_cli("evaluate", "--map", w["map"], "--reference", path), 2,
                "reference labels ['moon_dust'] are not classes of the map", [path])


def evaluate_map_with_points_outside(w, tmp):
    path = tmp / "points.csv"
    _points(path, ["water", "forest"], lon=(100.0,), lat=(0.0,))
    return Case(_cli("evaluate", "--map", w["map"], "--reference", path), 2, "point(s) fall outside the cube", [path])


def evaluate_map_with_one_point_in_a_class(w, tmp):
    from pyproj import Transformer

    cube = w["cube"]
    lon, lat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(
        cube.x.values[[3, 30]], cube.y.values[[3, 30]])
    path = tmp / "points.csv"
    _points(path, ["water", "forest"], lon=lon, lat=lat)
    return Case(_cli("evaluate", "--map", w["map"], "--reference", path), 2,
                "every map class with mapped area needs at least 2 samples", [path])


def evaluate_a_model_on_a_split_of_another_dataset(w, tmp):
    return Case(_cli("evaluate", w["model"], "toy", "--subset", "test"), 2,
                "--subset test names a part of the training split")


def area_accuracy_with_a_class_of_one_sample(w, tmp):
    from sitsbench.evaluation import area_accuracy

    counts = pd.DataFrame([[1, 0], [2, 8]], index=["crop", "forest"], columns=["crop", "forest"])
    return Case(lambda: area_accuracy(counts, {"crop": 10, "forest": 90}), ValueError, "crop")


def load_a_cube_path_that_does_not_exist(w, tmp):
    from sitsbench.data import load_dataset

    return Case(lambda: load_dataset(tmp / "missing.zarr"), FileNotFoundError, str(tmp / "missing.zarr"))


def sample_table_without_label_column(w, tmp):
    from sitsbench.data.readers.tables import read_sample_table

    path = tmp / "samples.csv"
    pd.DataFrame({"id": [1], "B04_2021-01-01": [0.1]}).to_csv(path, index=False)
    return Case(lambda: read_sample_table(path), ValueError, str(path), [path])


def checkpoint_of_another_tool(w, tmp):
    from sitsbench.models.checkpoint import load_checkpoint

    path = tmp / "model.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    return Case(lambda: load_checkpoint(path), ValueError, f"{path} is not a sitsbench checkpoint", [path])


def evaluate_with_a_label_the_model_cannot_predict(w, tmp):
    from sitsbench.data.datasets import ArraySeriesDataset
    from sitsbench.models import create_model
    from sitsbench.training import evaluate

    data = ArraySeriesDataset(np.zeros((2, 6, 3)), np.ones((2, 6), bool), np.arange(6), np.array([0, 7]), np.arange(2))
    return Case(lambda: evaluate(create_model("ltae_small", in_channels=3, num_classes=3), data), ValueError,
                "the evaluation dataset has labels in [0, 7] but the model predicts 3 classes")


def patches_of_a_landscape_too_small_for_them(w, tmp):
    from sitsbench.data.datasets import PatchDataset
    from sitsbench.data.splits import split_parcels

    cube = w["cube"].isel({cube_format.Y: slice(0, 40), cube_format.X: slice(0, 40)})
    split = split_parcels(cube, seed=0, by="block", block_size=32)
    split = split.where(split != 0, 1)  # nothing in the training split
    return Case(lambda: PatchDataset(cube, split, "train", patch_size=32), ValueError,
                "no 32 x 32 patch of the 40 x 40 cube")


CASES = [value for name, value in list(globals().items()) if callable(value) and value.__module__ == __name__
         and re.match(r"^[a-z]", name) and name not in {"world"} and not name.startswith(("test_", "_"))
         and value.__code__.co_varnames[:2] == ("w", "tmp")]


def test_dates_with_a_utc_offset_keep_the_date_as_written(tmp_path):
    """A local acquisition time late in the evening with a +02:00 offset is on the written day; converting to UTC
    first would move it to the day before (the silent shift of the issue)."""
    from sitsbench.data.readers.tables import read_sample_table

    path = tmp_path / "samples.csv"
    pd.DataFrame({"sample": [1, 1], "label": ["a", "a"], "date": ["2021-05-01T23:30:00+02:00", "2021-05-11T00:30:00Z"],
                  "B04": [0.1, 0.2]}).to_csv(path, index=False)
    dates = read_sample_table(path)["date"].values[0].astype("datetime64[D]")
    assert [str(d) for d in dates] == ["2021-05-01", "2021-05-11"]


def test_train_drops_samples_without_a_clear_observation_and_names_classes_it_never_sees(tmp_path, capsys):
    """Samples whose every value is NaN are dropped, counted on the console and in model.json; a class that only the
    held-out part has is named in a warning (the model can never predict it)."""
    import json

    labels = ["wheat", "maize"] * 15 + ["rye"]
    path = _table(tmp_path / "cloudy.csv", labels, all_nan=6)
    assert cli.main(["train", str(path), "--output", str(tmp_path / "m"), "--trees", "5", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "dropped 6 samples with no clear observation" in out
    training = json.loads((tmp_path / "m" / "model.json").read_text())["training"]
    assert training["n_dropped_no_clear"] == 6
    assert training["n_train"] + training["n_val"] + training["n_test"] == len(labels) - 6
    from sitsbench.data.readers.tables import read_sample_table
    from sitsbench.training.map_training import MapTrainingConfig, train_map_model

    samples = read_sample_table(path)
    rye = samples.attrs["class_names"].index("rye")
    split = np.where(np.asarray(samples["label"].values) == rye, 2, np.arange(samples.sizes["sample"]) // 2 % 2 * 2)
    _, summary = train_map_model(samples.assign(split=("sample", split.astype(np.int8))),
                                 MapTrainingConfig(rf_trees=5, progress=False, split_policy="predefined"))
    assert summary["warnings"] == ["class(es) ['rye'] are in the validation/test part but not in the training part: "
                                   "the model never predicts them (their recall is 0)"]
    assert summary["n_dropped_no_clear"] == 6


def test_two_identical_seeded_train_runs_write_byte_identical_weights(world, tmp_path):
    """The model checksum is reproducible: torch named the archive inside weights.pt after the temporary file."""
    cube = world["root"] / "cube.zarr"
    common = ["--seed", "3", "--quiet", "--split-policy", "none"]
    for model, weights, extra in (("tempcnn_tiny", "weights.pt", ["--epochs", "1", "--max-train-samples", "200",
                                                                  "--device", "cpu"]),
                                  ("rf", "estimator.pkl", ["--trees", "5"])):
        folders = [tmp_path / f"{model}_{k}" for k in range(2)]
        for folder in folders:
            assert cli.main(["train", str(cube), "--model", model, "--output", str(folder), *common, *extra]) == 0
        first, second = ((folder / weights).read_bytes() for folder in folders)
        assert first == second, f"{model}: {weights} differs between two identical seeded runs"
        checksums = {json.loads((folder / "model.json").read_text())["weights"]["checksum"] for folder in folders}
        assert len(checksums) == 1


def test_stale_temporaries_of_killed_runs_are_removed_by_the_next_run_on_the_same_output(world, tmp_path):
    """A SIGKILL runs no cleanup: the next `train` / `predict-map` writing the same output removes what the killed
    one left (sitsbench.atomic naming), and nothing else."""
    output = tmp_path / "m"
    stale = [tmp_path / ".m.k2j3x.tmp", tmp_path / ".m.a9b8c.tmp"]
    for folder in stale:
        folder.mkdir()
        (folder / "weights.pt").write_bytes(b"half")
    unrelated = tmp_path / ".mine.tmp"
    unrelated.write_text("keep")
    assert cli.main(["train", str(world["root"] / "cube.zarr"), "--trees", "5", "--quiet", "--output",
                     str(output)]) == 0
    assert (output / "model.json").is_file() and not any(p.exists() for p in stale)
    stale = [tmp_path / ".map.tif.x1y2.tmp.tif", tmp_path / ".map.confidence.tif.z3w4.tmp.tif"]
    for file in stale:
        file.write_bytes(b"half a GeoTIFF")
    assert cli.main(["predict-map", str(world["root"] / "cube.zarr"), "--model", str(output), "--output",
                     str(tmp_path / "map.tif"), "--chunk", "32", "--quiet"]) == 0
    assert not any(p.exists() for p in stale) and unrelated.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.glob(".*")) == [".mine.tmp"]


def test_a_model_folder_without_a_spectral_fingerprint_still_maps_with_a_note(world, tmp_path, capsys):
    """Folders of format sitsbench-model/1 (before the fingerprint) load, say what they cannot check, and map."""
    from sitsbench.inference.model_folder import MapModel

    folder = tmp_path / "old_model"
    shutil.copytree(world["model"], folder)
    meta = json.loads((folder / "model.json").read_text())
    assert meta["format"] == "sitsbench-model/2" and len(meta["spectral_fingerprint"]["prototypes"]) > 100
    meta["format"] = "sitsbench-model/1"
    del meta["spectral_fingerprint"]
    (folder / "model.json").write_text(json.dumps(meta))
    assert MapModel.load(folder).spectral is None
    assert f"note: {folder} has no spectral fingerprint" in capsys.readouterr().err
    assert cli.main(["predict-map", str(world["root"] / "cube.zarr"), "--model", str(folder), "--output",
                     str(tmp_path / "map.tif"), "--chunk", "32", "--quiet"]) == 0
    from sitsbench.inference.map import open_map

    np.testing.assert_array_equal(open_map(tmp_path / "map.tif")["class"].values,
                                  open_map(world["map"])["class"].values)
    meta["format"] = "sitsbench-model/2"  # the current format requires the field
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="lacks the field 'spectral_fingerprint'"):
        MapModel.load(folder)


def test_the_table_has_at_least_forty_cases():
    assert len(CASES) >= 40, len(CASES)


@pytest.mark.parametrize("make_case", CASES, ids=lambda f: f.__name__)
def test_bad_input(make_case, world, tmp_path, capsys):
    case = make_case(world, tmp_path)
    before = _snapshot(case.protect)
    capsys.readouterr()
    if isinstance(case.error, int):
        assert case.action() == case.error
        err = capsys.readouterr().err
        assert case.message in err, err
        assert "Traceback" not in err
    else:
        with pytest.raises(case.error) as raised:
            case.action()
        assert case.message in str(raised.value), str(raised.value)
    assert _snapshot(case.protect) == before, "a failing or refusing call changed existing files"
