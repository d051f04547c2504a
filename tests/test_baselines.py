"""The baselines practitioners compare against (issue 37): the classical estimators (one home,
``sitsbench.models.classical``), the MLP, ResNet, InceptionTime and pixel TAE networks, their training recipes, and
each one from ``sitsbench train`` to ``sitsbench predict-map``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sitsbench import cli
from sitsbench.data.io import open_cube
from sitsbench.data.samples import samples_from_cube
from sitsbench.inference.map import open_map
from sitsbench.inference.model_folder import MapModel, ModelFolderError
from sitsbench.models import create_model, list_models, model_entry
from sitsbench.models.classical import CLASSICAL, create_classical, fit_classical
from sitsbench.models.registry import DEFAULT_RECIPE
from sitsbench.training.map_training import (
    MapTrainingConfig,
    check_model_name,
    evaluate_map_model,
    map_model_names,
    resolved_recipe,
    train_map_model,
)

NEW_NETWORKS = ["mlp", "mlp_small", "resnet", "resnet_small", "inceptiontime", "inceptiontime_small", "tae",
                "tae_small"]
QUICK_NETWORKS = ["mlp_small", "resnet_small", "inceptiontime_small", "tae", "tae_small"]
"""Trained and mapped from the command line: the CPU variants (same classes as the reference configurations, which
the registry contract test and the parameter counts below cover) and the pixel TAE, light at its reference size."""
ONE_THREAD = {"lightgbm": {"n_jobs": 1}}
"""LightGBM on one thread in tests: its OpenMP threads spin on a shared, busy CPU (the model is the same)."""


def _separable(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Series ``(n, 6, 2)`` of three classes that differ by their mean at dates 2-3, with noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0.0, 1.0, (n, 6, 2)).astype(np.float32)
    x[:, 2:4, 0] += 4.0 * y[:, None]
    return x, y


@pytest.mark.parametrize("name", sorted(CLASSICAL))
def test_classical_estimators_learn_and_are_deterministic_for_a_seed(name):
    x, y = _separable()
    options = {"n_estimators": 20} if name == "rf" else ONE_THREAD.get(name, {})
    first = fit_classical(name, x[:160], y[:160], seed=3, **options)
    second = fit_classical(name, x[:160], y[:160], seed=3, **options)
    proba = first.predict_proba(x[160:].reshape(80, -1))
    np.testing.assert_array_equal(proba, second.predict_proba(x[160:].reshape(80, -1)))
    assert proba.shape == (80, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == y[160:]).mean() > 0.9


def test_the_svm_reads_standardised_features():
    """An RBF kernel on raw features is ruled by the feature of largest spread; the SVM standardises each feature,
    so a feature in other units (x 1000) leaves its predictions unchanged."""
    x, y = _separable()
    flat = x.reshape(len(x), -1)
    scaled = flat.copy()
    scaled[:, 0] *= 1000.0
    plain = fit_classical("svm", flat[:160], y[:160]).predict(flat[160:])
    rescaled = fit_classical("svm", scaled[:160], y[:160]).predict(scaled[160:])
    np.testing.assert_array_equal(plain, rescaled)


def test_an_unknown_estimator_or_option_is_named():
    with pytest.raises(KeyError, match="unknown classical estimator 'xgboost'"):
        create_classical("xgboost")
    with pytest.raises(ValueError, match="estimator 'lightgbm' has no option among \\['num_treez'\\]"):
        create_classical("lightgbm", num_treez=3)


@pytest.fixture(scope="module")
def cube_path(tmp_path_factory):
    """A 32 x 32 px synthetic cube written by `sitsbench synthetic`."""
    path = tmp_path_factory.mktemp("baselines") / "cube.zarr"
    assert cli.main(["synthetic", str(path), "--preset", "toy", "--size", "32", "--seed", "0"]) == 0
    return path


@pytest.mark.parametrize("name", ["svm", "lightgbm", *QUICK_NETWORKS])
def test_each_new_model_trains_and_maps_a_cube_from_the_command_line(name, cube_path, tmp_path, capsys):
    folder, output = tmp_path / name, tmp_path / f"{name}.tif"
    quick = ["--model-args", json.dumps(ONE_THREAD[name])] if name in ONE_THREAD else []
    quick += [] if name in CLASSICAL else ["--epochs", "3"]
    assert cli.main(["train", str(cube_path), "--model", name, "--output", str(folder), "--max-train-samples",
                     "300", "--device", "cpu", "--quiet", *quick]) == 0
    meta = json.loads((folder / "model.json").read_text())
    assert meta["model"] == name and meta["kind"] == ("classical" if name in CLASSICAL else "torch")
    record = json.loads((folder / "train_record.json").read_text())["metrics"]
    if name in CLASSICAL:
        assert meta["weights"]["file"] == "estimator.pkl"
    else:  # the recipe: epochs as given, every other knob from the registry entry
        recipe = model_entry(name).recipe
        assert meta["training"]["recipe"] == record["recipe"] == {
            "epochs": 3, "patience": recipe.patience, "lr": recipe.lr, "batch_size": recipe.batch_size,
            "weight_decay": recipe.weight_decay, "source": recipe.source, "overridden": ["epochs"]}
        losses = record["history"]["train_loss"]
        assert len(losses) == 3 and losses[-1] < losses[0], losses
    assert cli.main(["predict-map", str(cube_path), "--model", str(folder), "--output", str(output), "--quiet"]) == 0
    classes = open_map(output)["class"].values
    assert classes.shape == (32, 32) and classes.min() >= 0 and classes.max() < len(meta["class_names"])
    if name in CLASSICAL:  # trained in seconds to the Random Forest's level (test_model_to_map: > 0.6)
        truth = open_cube(cube_path)["class"].values
        assert (classes == truth)[truth >= 0].mean() > 0.6


def test_recipes_are_the_defaults_and_the_users_knobs_win():
    tempcnn = resolved_recipe(MapTrainingConfig(model="tempcnn"), "tempcnn")
    assert (tempcnn["epochs"], tempcnn["patience"], tempcnn["lr"], tempcnn["weight_decay"]) == (150, 20, 5e-4, 1e-6)
    assert "sits_tempcnn" in tempcnn["source"] and tempcnn["overridden"] == []
    chosen = resolved_recipe(MapTrainingConfig(model="resnet", epochs=4, lr=0.01), "resnet")
    assert (chosen["epochs"], chosen["lr"], chosen["patience"], chosen["batch_size"]) == (4, 0.01, 20, 64)
    assert chosen["overridden"] == ["epochs", "lr"]
    assert model_entry("lstm").recipe == DEFAULT_RECIPE and DEFAULT_RECIPE.epochs == 150
    for name in map_model_names():
        if name not in CLASSICAL:  # every deep map model: reference-like length, not the former 30 / 5
            assert model_entry(name).recipe.epochs >= 100 and model_entry(name).recipe.patience >= 20, name


def test_model_names_are_checked_before_any_data_and_suggest_only_map_models(tmp_path, capsys):
    assert cli.main(["train", str(tmp_path / "nowhere"), "--model", "inceptiontme", "--output",
                     str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'inceptiontme'" in err and "inceptiontime" in err and "nowhere" not in err
    for typo, expected in (("lightgbn", "lightgbm"), ("svn", "svm"), ("resnt", "resnet"), ("mlpp", "mlp")):
        with pytest.raises(ValueError, match=f"did you mean .*'{expected}'"):
            check_model_name(typo)
    others = [n for n in list_models() if (model_entry(n).role, model_entry(n).input_kind) != ("classifier", "series")]
    assert others, "the registry holds auto-encoders and patch models"
    for other in others:
        try:
            check_model_name(other + "x")
        except ValueError as error:
            assert not any(f"'{name}'" in str(error) for name in others), error
    with pytest.raises(ValueError, match="'utae_tiny' is a patch classifier"):
        check_model_name("utae_tiny")


def test_random_forest_folders_of_the_former_format_still_load(toy_cube, tmp_path):
    """Folders written before the SVM and LightGBM hold ``forest.pkl`` under the kind ``forest``."""
    samples = samples_from_cube(toy_cube)
    model, _ = train_map_model(samples, MapTrainingConfig(rf_trees=10, progress=False))
    model.save(tmp_path / "rf")
    (tmp_path / "rf" / "estimator.pkl").rename(tmp_path / "rf" / "forest.pkl")
    meta = json.loads((tmp_path / "rf" / "model.json").read_text())
    meta["kind"], meta["weights"]["file"] = "forest", "forest.pkl"
    (tmp_path / "rf" / "model.json").write_text(json.dumps(meta))
    old = MapModel.load(tmp_path / "rf")
    assert old.model_name == "rf" and evaluate_map_model(old, samples) == evaluate_map_model(model, samples)
    meta["model"] = "xgboost"
    (tmp_path / "rf" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFolderError, match="a classical model named 'xgboost'"):
        MapModel.load(tmp_path / "rf")


def _conv(c_in: int, c_out: int, kernel: int, bias: bool = True) -> int:
    return c_in * c_out * kernel + (c_out if bias else 0)


def test_reference_configurations_have_the_official_parameter_counts():
    """Trainable parameters at 10 bands, 36 dates and 20 classes, counted layer by layer from the official Keras
    code (hfawaz/dl-4-tsc mlp.py and resnet.py at e0233ef, hfawaz/InceptionTime inception.py at 952d115; Keras
    BatchNorm: 2 trainable weights per channel) and, for the pixel TAE, from the official PSE-TAE."""
    bands, dates, classes = 10, 36, 20

    def count(name: str) -> int:
        kwargs = {"seq_len": dates} if model_entry(name).fixed_length else {}
        return sum(p.numel() for p in create_model(name, bands, classes, **kwargs).parameters())

    widths = [bands * dates, 500, 500, 500, classes]
    assert count("mlp") == sum(a * b + b for a, b in zip(widths[:-1], widths[1:])) == 691_520
    resnet, c_in = 0, bands
    for c_out in (64, 128, 128):
        resnet += _conv(c_in, c_out, 8) + _conv(c_out, c_out, 5) + _conv(c_out, c_out, 3) + 3 * 2 * c_out
        resnet += (_conv(c_in, c_out, 1) if c_in != c_out else 0) + 2 * c_out  # shortcut (conv) + BN
        c_in = c_out
    assert count("resnet") == resnet + 128 * classes + classes == 511_764
    inception, c_in = 0, bands
    for _ in range(6):
        inception += _conv(c_in, 32, 1, False) + sum(_conv(32, 32, k, False) for k in (40, 20, 10))
        inception += _conv(c_in, 32, 1, False) + 2 * 128
        c_in = 128
    shortcuts = _conv(bands, 128, 1, False) + _conv(128, 128, 1, False) + 2 * 2 * 128
    assert count("inceptiontime") == inception + shortcuts + 128 * classes + classes == 493_972
    tae, psetae = (create_model(n, bands, classes) for n in ("tae", "psetae"))
    shared = [sum(p.numel() for k, p in m.named_parameters() if k.split(".")[0] in ("temporal", "decoder", "head"))
              for m in (tae, psetae)]
    assert shared[0] == shared[1] == 144_180  # psetae's whole count, 164,116, is the official one


def test_inception_kernels_and_shortcuts_follow_the_official_layout():
    model = create_model("inceptiontime", 4, 3)
    first = model.blocks[0]
    assert [conv.kernel_size[0] for conv in first.convs] == [40, 20, 10]
    assert len(model.blocks) == 6 and len(model.shortcuts) == 2
    single = create_model("inceptiontime", 1, 3).blocks[0]
    assert isinstance(single.bottleneck, torch.nn.Identity), "no bottleneck on a one-channel series"
    x = torch.randn(2, 23, 4)  # any number of dates (odd included: 'same' padding of even kernels)
    assert model.eval()(x).shape == (2, 3) and create_model("resnet", 4, 3).eval()(x).shape == (2, 3)
