"""Downstream evaluation (issue 9, part A): label subsets, k-NN, frozen vs fine-tuned encoders, label efficiency."""

from __future__ import annotations

import json
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits
from torch.utils.data import Subset

from sitsbench.data import cube as cube_format
from sitsbench.data.datasets import PixelSeriesDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.evaluation import (
    FINE_TUNING,
    PROBE_C_GRID,
    PROBES,
    FineTuneConfig,
    KNNClassifier,
    ValidatedLinearProbe,
    efficiency_intervals,
    efficiency_rows,
    embed,
    fine_tune,
    knn_scores,
    label_efficiency,
    nested_subsets,
    network_method,
    paired_differences,
    plane_network_method,
    plot_label_efficiency,
    probe,
    probe_method,
    scores,
    stratified_fraction,
    summarize,
    to_parcels,
)
from sitsbench.evaluation.label_fraction import validation_part
from sitsbench.evaluation.protocols import MIN_VALIDATION, linear_probe
from sitsbench.models import create_model
from sitsbench.planes import PlaneDataset, extract_planes
from sitsbench.runtime import seed_everything

FRACTIONS = (0.01, 0.05, 0.1, 0.5, 1.0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One CPU thread for torch and NumPy in this module: on a shared CPU, two threads per process stall each other
    (a Deep-STaR fit took 80 s with two threads and 8 s with one while other jobs ran)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pixels(toy_cube):
    """Train/test pixel series of the toy cube (parcel split), standardised with the training statistics."""
    split = split_parcels(toy_cube, seed=0)
    stats = BandStats.from_cube(toy_cube, split_mask(split, "train"))
    return {subset: PixelSeriesDataset(toy_cube, split, subset, stats, max_pixels=600, seed=0)
            for subset in ("train", "test")}


def _encoder(n_bands: int, seed: int = 0, **kwargs) -> torch.nn.Module:
    seed_everything(seed)
    return create_model("transformer_tiny", n_bands, 0, **kwargs)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def test_label_subsets_are_stratified_nested_and_deterministic():
    y = np.repeat(np.arange(5), [1000, 400, 90, 10, 1])
    subsets = nested_subsets(y, FRACTIONS, seed=3)
    assert list(subsets) == list(FRACTIONS)
    for fraction, chosen in subsets.items():
        expected = [max(1, round(fraction * n)) for n in (1000, 400, 90, 10, 1)]
        np.testing.assert_array_equal(np.bincount(y[chosen], minlength=5), expected)  # stratified, >= 1 per class
        assert np.unique(chosen).size == chosen.size
        np.testing.assert_array_equal(chosen, stratified_fraction(y, fraction, seed=3))
    for small, large in zip(FRACTIONS, FRACTIONS[1:]):
        assert set(subsets[small]) < set(subsets[large])  # 1 % in 5 % in 10 % in 50 % in 100 %
    np.testing.assert_array_equal(subsets[1.0], np.arange(y.size))
    again, other = nested_subsets(y, FRACTIONS, seed=3), nested_subsets(y, FRACTIONS, seed=4)
    assert all(np.array_equal(subsets[f], again[f]) for f in FRACTIONS)
    assert not np.array_equal(subsets[0.1], other[0.1])
    np.testing.assert_array_equal(np.bincount(y[stratified_fraction(y, 0.1, seed=0)]), [100, 40, 9, 1, 1])
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            nested_subsets(y, (0.1, bad))


def test_validation_part_is_stratified_disjoint_and_leaves_every_class_an_item_to_fit():
    y = np.repeat(np.arange(4), [50, 10, 2, 1])
    fit_part, held = validation_part(y, 0.2, seed=1)
    assert np.intersect1d(fit_part, held).size == 0 and np.union1d(fit_part, held).size == y.size
    np.testing.assert_array_equal(np.bincount(y[held], minlength=4), [10, 2, 1, 0])
    np.testing.assert_array_equal(np.bincount(y[fit_part], minlength=4), [40, 8, 1, 1])
    np.testing.assert_array_equal(held, validation_part(y, 0.2, seed=1)[1])
    assert not np.array_equal(held, validation_part(y, 0.2, seed=2)[1])
    assert validation_part(np.arange(3), 0.2)[1].size == 0, "single items: nothing to validate on"


def test_linear_probe_chooses_its_regularisation_on_validation_not_on_test():
    """The probe of the protocols sweeps C on a validation part of the labelled items (VTAB), and the C it keeps is
    the one with the best validation macro-F1, recomputed here from the same split; the test items play no part."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    x = np.concatenate([y[:, None] + rng.normal(0, 1.5, (y.size, 1)), rng.normal(size=(y.size, 30))], axis=1)
    test_x = rng.normal(size=(25, 31))
    chosen = PROBES["linear"](3).fit(x, y)
    assert isinstance(chosen, ValidatedLinearProbe)
    fit_part, held = validation_part(y, 0.2, seed=3)
    expected = {C: scores(y[held], linear_probe(3, C).fit(x[fit_part], y[fit_part]).predict(x[held]), 3)["macro_f1"]
                for C in PROBE_C_GRID}
    assert chosen.validation_scores_ == pytest.approx(expected)
    best = max(expected.values())
    assert chosen.C_ == min(C for C, score in expected.items() if score == best)
    assert len(set(expected.values())) > 1, "the grid must make a difference on this problem"
    refit = linear_probe(3, chosen.C_).fit(x, y)  # then fit on every labelled item
    np.testing.assert_array_equal(chosen.predict(test_x), refit.predict(test_x))
    np.testing.assert_array_equal(probe("linear", (x, y), test_x, seed=3), refit.predict(test_x))
    one_each = ValidatedLinearProbe(0).fit(x[[0, 40, 80]], y[[0, 40, 80]])
    assert one_each.C_ == 1.0 and one_each.validation_scores_ == {}
    few = np.concatenate([np.arange(10), 40 + np.arange(10), 80 + np.arange(10)])  # 6 validation items: too few
    assert validation_part(y[few], 0.2, seed=3)[1].size < MIN_VALIDATION
    small = ValidatedLinearProbe(3).fit(x[few], y[few])
    assert small.C_ == 1.0 and small.validation_scores_ == {}
    with pytest.raises(ValueError, match="grid"):
        ValidatedLinearProbe(0, grid=(0.0, 1.0))


def _knn_reference(train, labels, test, num_classes, k, temperature):
    """Loop-by-loop weighted k-NN: cosine similarity to every training item, sort, vote."""
    votes = np.zeros((len(test), num_classes))
    for i, query in enumerate(test):
        similarity = np.array([query @ item / (np.linalg.norm(query) * np.linalg.norm(item)) for item in train])
        for j in np.argsort(-similarity)[:k]:
            votes[i, labels[j]] += np.exp(similarity[j] / temperature)
    return votes


@pytest.mark.parametrize(("k", "temperature"), [(5, 0.07), (20, 0.5), (500, 0.1)])
def test_knn_equals_brute_force_reference(k, temperature):
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(60, 8)), rng.normal(size=(25, 8))
    labels = rng.integers(0, 4, size=60)
    votes = knn_scores(train, labels, test, 4, k=k, temperature=temperature, chunk=7)  # several chunks
    reference = _knn_reference(train, labels, test, 4, min(k, 60), temperature)
    np.testing.assert_allclose(votes, reference, rtol=1e-10)
    np.testing.assert_array_equal(KNNClassifier(k, temperature).fit(train, labels).predict(test),
                                  reference.argmax(axis=1))
    with pytest.raises(ValueError, match="k must be"):
        knn_scores(train, labels, test, 4, k=0)


def test_frozen_encoder_is_in_eval_mode_during_the_protocol(pixels):
    encoder = _encoder(pixels["train"].x.shape[-1], dropout=0.5).train()
    batch = torch.from_numpy(pixels["test"].x[:32])
    assert not torch.equal(encoder.forward_features(batch), encoder.forward_features(batch))  # dropout is active
    first, labels = embed(encoder, pixels["test"], device="cpu")
    encoder.train()  # handed in training mode again: embed must still switch it off
    second, _ = embed(encoder, pixels["test"], device="cpu")
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(labels, pixels["test"].y)
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())


def test_fine_tuning_changes_encoder_weights_while_linear_probe_does_not(pixels):
    train, test = pixels["train"], pixels["test"]
    encoder = _encoder(train.x.shape[-1])
    before = _state(encoder)
    features = {name: embed(encoder, data, device="cpu") for name, data in (("train", train), ("test", test))}
    probe("linear", features["train"], features["test"][0])
    assert all(torch.equal(before[key], value) for key, value in encoder.state_dict().items())
    config = FineTuneConfig(encoder_lr_scale=0.1, train=replace(FINE_TUNING, steps=20, batch_size=32, device="cpu"))
    tuned = fine_tune(encoder, 10, train, config)
    assert all(torch.equal(before[key], value) for key, value in encoder.state_dict().items())  # a copy is tuned
    changed = [key for key in before if not torch.equal(before[key], tuned.state_dict()[key])]
    assert "embed.weight" in changed and len(changed) == len(before)  # every encoder tensor moved
    assert tuned.head.weight.shape == (10, encoder.num_features) and not tuned.training
    head_only = fine_tune(encoder, 10, train, FineTuneConfig(encoder_lr_scale=0.0, train=replace(FINE_TUNING, steps=20, batch_size=32, device="cpu")))
    assert all(torch.equal(before[key], head_only.state_dict()[key]) for key in before)  # frozen: only the head
    doy = torch.from_numpy(test.doy).expand(8, -1)
    np.testing.assert_allclose(head_only.forward_features(torch.from_numpy(test.x[:8]), doy).detach().numpy(),
                               features["test"][0][:8], rtol=1e-5, atol=1e-6)
    repeat = fine_tune(encoder, 10, train, config)  # same seed, same weights
    assert all(torch.equal(value, repeat.state_dict()[key]) for key, value in tuned.state_dict().items())


def test_fine_tuning_starts_from_the_linear_probe(pixels):
    train, test = pixels["train"], pixels["test"]
    keep = np.flatnonzero(train.y != 9)  # class 9 (bare soil) left out of the labels
    encoder = _encoder(train.x.shape[-1])
    train_x, _ = embed(encoder, train, device="cpu")
    test_x, _ = embed(encoder, test, device="cpu")
    expected = probe("linear", (train_x[keep], train.y[keep]), test_x)
    start = fine_tune(encoder, 10, Subset(train, keep.tolist()), FineTuneConfig(train=replace(FINE_TUNING, steps=0, device="cpu")))  # LP-FT
    with torch.no_grad():
        logits = start.forward_head(torch.from_numpy(test_x)).numpy()
    np.testing.assert_array_equal(logits.argmax(axis=1), expected)
    assert (logits[:, 9] < -20).all()  # a class never seen is never predicted
    random_head = fine_tune(encoder, 10, train, FineTuneConfig(probe_init=False, train=replace(FINE_TUNING, steps=0, device="cpu")))
    assert not torch.equal(random_head.head.weight, start.head.weight)


def test_every_protocol_runs_end_to_end_on_pixels_and_parcels(pixels):
    train, test = pixels["train"], pixels["test"]
    chance = np.bincount(test.y).max() / test.y.size
    encoder = _encoder(train.x.shape[-1])
    (train_x, train_y), (test_x, test_y) = embed(encoder, train, device="cpu"), embed(encoder, test, device="cpu")
    results = {name: scores(test_y, probe(name, (train_x, train_y), test_x), 10)
               for name in ("linear", "knn", "random_forest")}
    tuned = fine_tune(encoder, 10, train, FineTuneConfig(encoder_lr_scale=1.0, probe_init=False, train=replace(FINE_TUNING, steps=60, device="cpu")))
    with torch.no_grad():
        proba = torch.softmax(tuned(torch.from_numpy(test.x), torch.from_numpy(test.doy).expand(len(test), -1)), dim=1).numpy()
    results["fine_tune"] = scores(test_y, proba.argmax(axis=1), 10)
    for name, result in results.items():
        assert result["oa"] > chance + 0.1, (name, result, chance)
    # parcels: mean embedding for the probes, mean probability for the network
    _, parcel_train, parcel_train_y = to_parcels(train_x, train_y, train.parcel)
    ids, parcel_test, parcel_test_y = to_parcels(test_x, test_y, test.parcel)
    assert ids.size == np.unique(test.parcel).size == parcel_test.shape[0]
    linear = scores(parcel_test_y, probe("linear", (parcel_train, parcel_train_y), parcel_test), 10)
    _, parcel_proba, _ = to_parcels(proba, test_y, test.parcel)
    network = scores(parcel_test_y, parcel_proba.argmax(axis=1), 10)
    parcel_chance = np.bincount(parcel_test_y).max() / parcel_test_y.size
    assert linear["oa"] > parcel_chance and network["oa"] > parcel_chance, (linear, network, parcel_chance)


def test_to_parcels_averages_values_and_takes_the_majority_label():
    values = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [0.0, 1.0], [2.0, 3.0]])
    ids, means, labels = to_parcels(values, np.array([4, 4, 1, 2, 2]), np.array([7, 7, 7, 3, 3]))
    np.testing.assert_array_equal(ids, [3, 7])
    np.testing.assert_allclose(means, [[1.0, 2.0], [3.0, 7.0 / 3.0]])
    np.testing.assert_array_equal(labels, [2, 4])


def test_label_efficiency_table_and_curves(toy_cube, pixels):
    train, test = pixels["train"], pixels["test"]
    config = FineTuneConfig(encoder_lr_scale=1.0, probe_init=False, train=replace(FINE_TUNING, steps=60, lr=2e-3, device="cpu"))
    bands = ["B08", "B04", "B03"]
    split = split_parcels(toy_cube, seed=0)
    planes = {subset: PlaneDataset.from_cube(toy_cube, extract_planes(
        toy_cube.sel({cube_format.BAND: bands}), np.unique(toy_cube[cube_format.PARCEL].values[split_mask(split, subset)]),
        width=8, height=16, walk_fraction=0.05)) for subset in ("train", "test")}
    methods = {
        "supervised": network_method(lambda seed: _encoder(train.x.shape[-1], seed), train, test, 10, config),
        "raw + RF": probe_method("random_forest", train.x.reshape(len(train), -1), train.y,
                                 test.x.reshape(len(test), -1)),
        "deep-star": plane_network_method(lambda seed: create_model("plane_timm", 3, 0), planes["train"],
                                          planes["test"], test.parcel, 10,
                                          FineTuneConfig(probe_init=False, train=replace(FINE_TUNING, steps=3, batch_size=16, device="cpu"))),
    }
    fractions, seeds = (0.05, 0.2, 1.0), (0, 1)
    table = label_efficiency(methods, test.y, fractions, seeds, num_classes=10)
    assert len(table) == len(methods) * len(fractions) * len(seeds)
    assert set(map(tuple, table[["method", "fraction", "seed"]].to_numpy().tolist())) == {
        (m, f, s) for m in methods for f in fractions for s in seeds}
    assert set(table.loc[table.method == "deep-star", "unit"]) == {"parcel"}
    n_parcels = np.unique(planes["train"].planes.parcel).size
    assert table.loc[(table.method == "deep-star") & (table.fraction == 1.0), "n_labels"].eq(n_parcels).all()
    assert table.loc[(table.method == "supervised") & (table.fraction == 1.0), "n_labels"].eq(len(train)).all()
    labels = table[table.method == "supervised"].groupby("fraction")["n_labels"].first()
    assert labels.is_monotonic_increasing and labels.iloc[0] < labels.iloc[-1]
    chance = np.bincount(test.y).max() / test.y.size
    full = table[(table.method == "supervised") & (table.fraction == 1.0)]
    assert (full["oa"] > chance + 0.2).all(), (full, chance)
    summary = summarize(table)
    one = table[(table.method == "raw + RF") & (table.fraction == 0.2)]["macro_f1"]
    np.testing.assert_allclose(summary.loc[("raw + RF", 0.2), ["mean", "min", "max"]],
                               [one.mean(), one.min(), one.max()])
    for row in table.itertuples():  # the stored predictions give the stored scores
        assert row.predicted.shape == test.y.shape
        np.testing.assert_allclose(scores(test.y, row.predicted, 10)["macro_f1"], row.macro_f1)
    intervals = efficiency_intervals(table, test.y, 10, n_boot=200)
    assert len(intervals) == len(methods) * len(fractions)
    assert (intervals["low"] <= intervals["estimate"] + 1e-12).all()
    assert (intervals["estimate"] <= intervals["high"] + 1e-12).all()
    np.testing.assert_allclose(intervals.set_index(["method", "fraction"]).loc[summary.index, "estimate"],
                               summary["mean"])
    ax = plot_label_efficiency(table, band="ci", intervals=intervals)
    np.testing.assert_allclose(ax.collections[0].get_paths()[0].vertices[:, 1].max(),
                               intervals.loc[intervals.method == "supervised", "high"].max())
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="intervals"):
        plot_label_efficiency(table, band="ci")
    ax = plot_label_efficiency(table, band="minmax", chance=0.1)
    assert len(ax.lines) == len(methods) + 1 and len(ax.collections) == len(methods)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), summary.loc["supervised", "mean"])
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="band"):
        plot_label_efficiency(table, band="iqr")
    # the rows of a run record: each method named by the method and encoder it was made with
    differences = paired_differences(table, test.y, 10, [("deep-star", "supervised")], n_boot=50)
    rows = efficiency_rows(table, methods, "synthetic/toy", "pixel", intervals=[intervals], differences=[differences])
    assert len(rows["scores"]) == 2 * len(table) and len(rows["intervals"]) == len(intervals)
    assert {(r["method"], r["encoder"], r.get("label_unit")) for r in rows["scores"]} == {
        ("supervised", None, None), ("random forest probe", None, None), ("Deep-STaR", None, "parcel")}
    first = rows["scores"][0]
    assert (first["label_fraction"], first["seed"], first["n_labels"], first["train_time_s"]) == \
        (table["fraction"][0], table["seed"][0], table["n_labels"][0], table["time_s"][0])
    assert [(r["method"], r["versus_method"], r["label_fraction"]) for r in rows["differences"]] == \
        [("Deep-STaR", "supervised", fraction) for fraction in fractions]
    assert all(r["level"] == 0.95 for r in rows["intervals"] + rows["differences"])
    probed = probe_method("linear", train.x.reshape(len(train), -1), train.y, test.x.reshape(len(test), -1),
                          encoder="SimCLR")
    assert (probed.method, probed.encoder) == ("linear probe", "SimCLR")


@pytest.mark.slow
def test_downstream_chapter_runs_in_quick_mode_and_records_the_curves(chapter_run):
    out = chapter_run("06_downstream")
    record = json.loads((out / "record.json").read_text())
    parameters, metrics = record["parameters"], record["metrics"]
    fractions, seeds = parameters["fractions"], parameters["seeds"]
    rows = pd.DataFrame(metrics["label_efficiency"]["rows"])
    methods = set(rows["method"])
    families = ["AE", "SimCLR", "DINO", "BYOL", "VICReg", "Barlow Twins", "masked series"]  # every family, probed
    assert {"supervised", "raw + RF", "random init + linear", "Deep-STaR", *(f"{f} + linear" for f in families)} \
        <= methods
    assert parameters["ssl_methods"] == ["simclr", "dino", "byol", "vicreg", "barlow", "masked"]
    assert len(rows) == len(methods) * len(fractions) * len(seeds)
    for _, group in rows.groupby(["method", "seed"]):  # nested subsets: more labels at each larger fraction
        assert group.sort_values("fraction")["n_labels"].is_monotonic_increasing
    majority = metrics["majority_oa"]
    supervised = rows[(rows.method == "supervised") & (rows.fraction == 1.0)]
    assert (supervised["oa"] > majority + 0.3).all() and (supervised["macro_f1"] > 0.45).all(), supervised
    assert rows[["oa", "macro_f1"]].notna().all().all()
    protocols = metrics["protocols_oa"]
    assert set(protocols) == {"random init", "ae", *parameters["ssl_methods"]}
    for encoder, levels in protocols.items():
        assert set(levels) == {"pixel", "parcel"}
        for level, scores_ in levels.items():
            assert set(scores_) == {"linear", "knn", "random_forest", "fine-tune"}
            assert scores_["linear"] > majority + 0.2, (encoder, level, scores_)
    segmentation = pd.DataFrame(metrics["segmentation"]["rows"])  # U-TAE, frozen and fine-tuned SimCLR, random frozen
    assert len(segmentation) == (len(parameters["seg_methods"]) + 1) * len(parameters["seg_fractions"]) * len(
        parameters["seg_seeds"])
    full_labels = segmentation[segmentation.label_fraction == 1.0].set_index(["method", "encoder"])["miou"]
    assert full_labels[("finetune", "SimCLR")] > full_labels[("utae", "-")] + 0.1  # ten classes: far above chance
    for _, group in segmentation.groupby(["method", "encoder"]):
        assert group.sort_values("label_fraction")["n_train_patches"].is_monotonic_increasing
    changes = metrics["change_detection"]
    for row in changes["series"] + changes["bitemporal"]:  # every detector beats answering "changed" everywhere
        assert row["pixel_f1"] > row["pixel_all_changed_f1"] + 0.2, row
    # the record's rows: method and encoder as the chapter made them, the intervals and differences of the curves
    # rows with a label count: the curves, and the all-labels protocol rows (which count their labels too)
    counted = {(r["method"], r["encoder"]) for r in record["scores"] if "n_labels" in r and r["unit"] == "pixel"}
    curves = {("supervised", None), ("random forest", "raw series"), ("linear probe", "random init"),
              ("Deep-STaR", None), ("fine-tuned", "SimCLR"), *(("linear probe", f) for f in families)}
    assert curves <= {(r["method"], r["encoder"]) for r in record["intervals"]} <= counted
    assert {r["metric"] for r in record["intervals"]} == {"oa", "macro_f1"}
    assert ("linear probe", "SimCLR", "random forest", "raw series") in {
        (r["method"], r["encoder"], r["versus_method"], r["versus_encoder"]) for r in record["differences"]}
    deepstar = [r for r in record["scores"] if r["method"] == "Deep-STaR"]
    assert deepstar and all(r["label_unit"] == "parcel" for r in deepstar)
    assert all(row["parcel_date_mae_days"] < 60 for row in changes["series"])  # dates within two months
