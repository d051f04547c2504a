"""Evaluation the way the field reports it: cross-validation folds (grouped, per sample, spatial blocks, predefined)
and their intervals, the ``validate`` command, ``train --split-policy random --fractions``, a model without early
stopping trained on train+val, ``evaluate`` that recognises its training samples by content, and model names
checked before any data is read."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sitsbench import cli
from sitsbench.data import samples as samples_format
from sitsbench.evaluation.crossval import (
    TRAINED,
    UNUSED,
    corrected_t_interval,
    cross_validate,
    fold_split,
    make_protocol,
)
from sitsbench.records import read_run_record
from sitsbench.training.map_training import MapTrainingConfig, check_model_name, train_map_model

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BANDS = ("B04", "B08")
DATES = np.array(["2020-03-01", "2020-04-15", "2020-06-01", "2020-07-15", "2020-09-01", "2020-10-15"],
                 dtype="datetime64[ns]")


def make_groups(n_groups: int = 30, per_group: int = 4, n_classes: int = 3, seed: int = 0, location: bool = True,
                split: np.ndarray | None = None):
    """Labelled samples: ``n_groups`` groups (one class each, classes in turn) of ``per_group`` correlated samples
    (a group's own offset plus a little noise) at one location per group (lon/lat around 4 E, 45 N)."""
    rng = np.random.default_rng(seed)
    group_labels = np.arange(n_groups) % n_classes
    labels = np.repeat(group_labels, per_group)
    groups = np.repeat(np.arange(1, n_groups + 1), per_group)
    curve = np.sin(np.linspace(0, np.pi, DATES.size))[None, :, None]
    offset = rng.normal(0, 0.08, (n_groups, 1, len(BANDS)))[groups - 1]
    values = 0.2 + 0.15 * labels[:, None, None] * curve + offset + rng.normal(0, 0.01, (labels.size, DATES.size,
                                                                                        len(BANDS)))
    place = None
    if location:
        lon, lat = 4 + rng.uniform(0, 0.2, n_groups), 45 + rng.uniform(0, 0.2, n_groups)
        place = (lon[groups - 1], lat[groups - 1])
    return samples_format.make_samples(values.astype(np.float32), np.broadcast_to(DATES, (labels.size, DATES.size)), BANDS,
                          labels, [f"class{k}" for k in range(n_classes)], groups=groups, location=place,
                          crs="EPSG:4326" if location else None, split=split, source="test samples")


def write_table(samples, path: Path, order: np.ndarray | None = None, reverse_bands: bool = False) -> Path:
    """``samples`` as a wide sample table (``label``, ``group``, ``<band>_<date>`` columns), rows in ``order``."""
    order = np.arange(samples.sizes["sample"]) if order is None else order
    names = samples_format.class_names(samples)
    values = np.asarray(samples[samples_format.VALUES].values)
    bands = [str(b) for b in samples[samples_format.BAND].values]
    days = [str(d)[:10] for d in np.asarray(samples[samples_format.DATE].values[0], dtype="datetime64[D]")]
    columns = {"label": [names[k] for k in samples[samples_format.LABEL].values], "group": samples[samples_format.GROUP].values}
    for b in (reversed(range(len(bands))) if reverse_bands else range(len(bands))):
        for t, day in enumerate(days):
            columns[f"{bands[b]}_{day}"] = values[:, t, b].astype(np.float64)
    pd.DataFrame(columns).iloc[order].to_csv(path, index=False)
    return path


def test_grouped_folds_partition_the_samples_keep_groups_whole_and_are_stratified():
    samples = make_groups(n_groups=30, per_group=4)
    protocol = make_protocol(samples, "group", folds=5, repeats=2, seed=3)
    labels, groups = samples[samples_format.LABEL].values, samples[samples_format.GROUP].values
    assert protocol.folds.shape == (2, labels.size) and protocol.unit_name == "groups"
    for repeat in range(2):
        folds = protocol.folds[repeat]
        assert sorted(np.unique(folds)) == [0, 1, 2, 3, 4]  # every sample tested in exactly one fold
        for group in np.unique(groups):
            assert np.unique(folds[groups == group]).size == 1  # a group never straddles training and test
        for fold in range(5):  # 10 groups of each class: two of each class per fold
            assert np.bincount(labels[folds == fold], minlength=3).tolist() == [8, 8, 8]
    assert not np.array_equal(protocol.folds[0], protocol.folds[1])  # each repeat reshuffles
    assert "30 groups" in protocol.words and "4.0 samples per group" in protocol.words


def test_random_folds_are_stratified_per_sample_and_cut_groups():
    samples = make_groups(n_groups=30, per_group=4)
    protocol = make_protocol(samples, "random", folds=4, seed=0)
    folds, labels, groups = protocol.folds[0], samples[samples_format.LABEL].values, samples[samples_format.GROUP].values
    for fold in range(4):
        assert np.bincount(labels[folds == fold], minlength=3).tolist() == [10, 10, 10]
    cut = [g for g in np.unique(groups) if np.unique(folds[groups == g]).size > 1]
    assert len(cut) > 10  # per sample: most groups fall on both sides
    assert "optimistic" in protocol.words


def test_spatial_blocks_keep_blocks_whole_and_need_a_location():
    samples = make_groups(n_groups=40, per_group=2)
    protocol = make_protocol(samples, "spatial-blocks", folds=3, seed=0, block_size=5000)
    x, y = samples["x"].values, samples["y"].values
    # 0.2 degrees around 45 N: about 16 x 22 km, so blocks of 5 km hold several groups and there are a dozen or more
    assert 10 <= np.unique(protocol.units).size < 40 and protocol.unit_name == "blocks"
    for unit in np.unique(protocol.units):
        assert np.unique(protocol.folds[0][protocol.units == unit]).size == 1
    from sitsbench.evaluation.crossval import metric_coordinates

    east, north = metric_coordinates(samples)
    far = np.argmax(x)
    assert abs(np.hypot(east[far] - east[np.argmin(x)], 0)) > 10_000  # projected to metres, not degrees
    assert np.allclose(np.ptp(north), np.ptp(y) * 111_000, rtol=0.02)
    with pytest.raises(ValueError, match="carry no location .* --split-policy group"):
        make_protocol(make_groups(location=False), "spatial-blocks", block_size=1000)
    with pytest.raises(ValueError, match="positive --block-size"):
        make_protocol(samples, "spatial-blocks")


def test_predefined_protocol_tests_the_published_split_and_refuses_too_many_folds():
    split = np.where(np.arange(120) < 88, 0, 2)  # 22 groups of 4 samples train, 8 test
    samples = make_groups(split=split)
    protocol = make_protocol(samples, "predefined", repeats=2)
    assert protocol.n_folds == 1 and (protocol.folds == 0).sum(axis=1).tolist() == [32, 32]
    assert set(np.unique(protocol.folds)) == {0, TRAINED}
    with pytest.raises(ValueError, match="30 groups cannot make 40 folds"):
        make_protocol(make_groups(), "group", folds=40)
    with pytest.raises(ValueError, match="no predefined split"):
        make_protocol(make_groups(), "predefined")
    codes = fold_split(protocol, samples, 0, 0, early_stopping=False)
    assert (codes == samples_format.SPLIT_CODES["test"]).sum() == 32 and (codes == samples_format.SPLIT_CODES["train"]).sum() == 88
    assert UNUSED not in codes


def test_a_network_stops_early_on_groups_carved_from_the_training_folds_only():
    samples = make_groups(n_groups=30, per_group=4)
    protocol = make_protocol(samples, "group", folds=5)
    codes = fold_split(protocol, samples, 0, 2, early_stopping=True, seed=0)
    groups = samples[samples_format.GROUP].values
    val, test = codes == samples_format.SPLIT_CODES["val"], codes == samples_format.SPLIT_CODES["test"]
    assert val.sum() == 24 and test.sum() == 24  # 20 % of the 24 training groups, by class
    assert not set(groups[val]) & set(groups[test]) and not set(groups[val]) & set(groups[codes == 0])
    assert not fold_split(protocol, samples, 0, 2, early_stopping=False).__eq__(samples_format.SPLIT_CODES["val"]).any()


def test_cross_validation_scores_every_sample_once_with_intervals_around_the_estimates():
    samples = make_groups(n_groups=24, per_group=3)
    config = MapTrainingConfig(model="rf", rf_trees=20, seed=1, progress=False)
    protocol = make_protocol(samples, "group", folds=4, repeats=2, seed=1)
    result = cross_validate(samples, config, protocol, n_boot=200, progress=False)
    assert len(result["folds"]) == 8 and [r["seed"] for r in result["pooled_per_repeat"]] == [1, 2]
    assert np.sum(result["confusion_matrix"]) == 2 * 72  # every sample once per repeat
    assert all(row["n_val"] == 0 and row["n_train"] + row["n_test"] == 72 for row in result["folds"])  # no val for rf
    for metric in ("oa", "macro_f1", "kappa"):
        pooled, over = result["pooled"][metric], result["over_folds"][metric]
        assert pooled["low"] <= pooled["estimate"] <= pooled["high"]
        assert over["low"] <= over["estimate"] <= over["high"]
        per_repeat = np.mean([r[metric] for r in result["pooled_per_repeat"]])
        assert pooled["estimate"] == pytest.approx(per_repeat)
    assert result["pooled"]["oa"]["estimate"] > 0.6  # the classes differ by their amplitude
    for name in samples_format.class_names(samples):
        cell = result["pooled"]["f1_per_class"][name]
        assert cell["low"] <= cell["estimate"] <= cell["high"]
    assert result["protocol"]["n_units"] == 24 and result["protocol"]["unit"] == "groups"
    again = cross_validate(samples, config, protocol, n_boot=200, progress=False)
    assert again["pooled"] == result["pooled"]  # deterministic for a seed


def test_corrected_t_interval_is_wider_than_the_naive_one():
    values = np.array([0.80, 0.84, 0.86, 0.82, 0.88])
    mean, low, high = corrected_t_interval(values, test_share=0.25)
    naive = 2.776 * values.std(ddof=1) / np.sqrt(5)
    assert mean == pytest.approx(0.84) and high - mean > 1.2 * naive and low < mean
    assert corrected_t_interval([0.99, 1.0, 0.97], 0.5)[2] == 1.0  # clipped to the score's range


def test_validate_runs_end_to_end_and_records_score_rows(tmp_path, capsys):
    table = write_table(make_groups(n_groups=24, per_group=3), tmp_path / "samples.csv")
    record = tmp_path / "cv.json"
    assert cli.main(["validate", str(table), "--model", "rf", "--folds", "3", "--repeats", "2", "--trees", "10",
                     "--bootstrap", "100", "--record", str(record), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "3-fold cross-validation stratified by class, 2 repeats" in out and "24 groups" in out
    assert "repeat 1 fold 2:" in out and "pooled confusion matrix (summed over the repeats)" in out
    assert "bootstrap over 24 groups and the repeats" in out and "corrected t interval" in out
    saved = read_run_record(record)
    assert len(saved["scores"]) == 6 and {row["seed"] for row in saved["scores"]} == {0, 1}
    assert {row["method"] for row in saved["scores"]} == {"rf (3-fold CV, group)"}
    assert saved["metrics"]["protocol"]["policy"] == "group" and len(saved["metrics"]["folds"]) == 6
    # the pooled scores with their intervals are the record's interval rows, the protocol its data's split
    pooled = saved["metrics"]["pooled"]
    assert [(row["metric"], row["estimate"], row["low"], row["high"], row["n_units"]) for row in saved["intervals"]] \
        == [(m, pooled[m]["estimate"], pooled[m]["low"], pooled[m]["high"], 24) for m in ("oa", "macro_f1", "kappa")]
    assert saved["dataset"]["split"] == saved["metrics"]["protocol"]["words"]
    from sitsbench.results.collect import collect
    from sitsbench.results.leaderboard import leaderboard_table

    (tmp_path / "runs" / "cv").mkdir(parents=True)
    shutil.copy(record, tmp_path / "runs" / "cv" / "record.json")
    board = leaderboard_table(collect(tmp_path / "runs").scores)  # the leaderboard reads the score rows
    means = [np.mean([r[m] for r in saved["metrics"]["pooled_per_repeat"]]) for m in ("oa", "kappa")]
    assert board["method"].tolist() == ["rf (3-fold CV, group)"] and board["oa_n"].tolist() == [2]
    assert board[["oa_mean", "kappa_mean"]].iloc[0].tolist() == pytest.approx(means)


def test_validate_a_network_stops_early_on_part_of_the_training_folds(tmp_path, capsys):
    table = write_table(make_groups(n_groups=20, per_group=2), tmp_path / "samples.csv")
    record = tmp_path / "cv.json"
    assert cli.main(["validate", str(table), "--model", "tempcnn_tiny", "--folds", "2", "--epochs", "1",
                     "--bootstrap", "50", "--device", "cpu", "--record", str(record), "--quiet"]) == 0
    assert "a network stops early on 20% of the training folds' groups" in capsys.readouterr().out
    folds = read_run_record(record)["metrics"]["folds"]
    assert all(row["n_val"] > 0 and row["n_train"] + row["n_val"] + row["n_test"] == 40 for row in folds)


@pytest.mark.parametrize("command", ["validate", "train"])
def test_model_names_are_checked_before_any_data_is_read(command, tmp_path, capsys):
    missing = str(tmp_path / "no-such-file.csv")
    tail = ["--output", str(tmp_path / "m")] if command == "train" else []
    assert cli.main([command, missing, "--model", "tempcn", *tail]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'tempcn'" in err and "tempcnn" in err and "no-such-file" not in err
    assert "'ae_" not in err and "plane" not in err  # the suggestions are map models only
    assert cli.main([command, missing, "--model", "ae_mae", *tail]) == 2
    assert "is a series autoencoder" in capsys.readouterr().err


def test_check_model_name_accepts_the_forest_and_series_classifiers():
    check_model_name("rf")
    check_model_name("tempcnn")
    with pytest.raises(ValueError, match="did you mean \\['rf'\\]"):
        check_model_name("rff")


@pytest.mark.parametrize("text", ["0.6,0.2", "0.6,0.3,0.2", "0.7,-0.1,0.4", "a,b,c", "nan,0.5,0.5"])
def test_fractions_are_three_non_negative_numbers_summing_to_one(text, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_code:
        cli.main(["train", "toy", "--fractions", text, "--output", str(tmp_path / "m")])
    assert exit_code.value.code == 2
    assert "--fractions: expected three non-negative numbers summing to 1" in capsys.readouterr().err


def test_random_split_policy_is_stratified_per_sample():
    samples = make_groups(n_groups=30, per_group=4)
    split = samples_format.split_samples(samples, "random", fractions=(0.5, 0.25, 0.25), seed=0)
    labels, groups = samples[samples_format.LABEL].values, samples[samples_format.GROUP].values
    assert [int((split == code).sum()) for code in (0, 1, 2)] == [60, 30, 30]
    assert np.bincount(labels[split == 2], minlength=3).tolist() == [10, 10, 10]
    assert any(np.unique(split[groups == g]).size > 1 for g in np.unique(groups))


def test_train_fractions_random_policy_and_the_forest_on_train_plus_val(tmp_path, capsys):
    table = write_table(make_groups(n_groups=40, per_group=2), tmp_path / "samples.csv")
    assert cli.main(["train", str(table), "--model", "rf", "--trees", "10", "--split-policy", "random",
                     "--fractions", "0.5,0.25,0.25", "--output", str(tmp_path / "joined"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "note: the random split cuts samples one by one" in out and "trained on the training and validation" in out
    training = json.loads((tmp_path / "joined" / "model.json").read_text())["training"]
    assert f"95% interval, bootstrap over {training['n_test']} samples" in out and "test OA " in out
    assert training["n_val"] == 0 and training["n_train"] + training["n_test"] == 80
    assert abs(training["n_test"] - 20) <= 1  # a quarter, class by class
    assert training["validation_joined"] and training["fractions"] == [0.5, 0.25, 0.25]
    assert cli.main(["train", str(table), "--model", "rf", "--trees", "10", "--fractions", "0.5,0.25,0.25",
                     "--hold-out-val", "--output", str(tmp_path / "held"), "--quiet"]) == 0
    out = capsys.readouterr().out
    training = json.loads((tmp_path / "held" / "model.json").read_text())["training"]
    assert training["n_train"] + training["n_val"] + training["n_test"] == 80
    assert abs(training["n_train"] - 40) <= 2 and abs(training["n_val"] - 20) <= 2  # by group (2 samples), by class
    assert not training["validation_joined"] and f"bootstrap over {training['n_test'] // 2} groups" in out


def test_a_network_keeps_its_validation_part_to_stop_early():
    samples = make_groups(n_groups=20, per_group=2)
    config = MapTrainingConfig(model="tempcnn_tiny", epochs=1, seed=0, progress=False, device="cpu")
    _, summary = train_map_model(samples, config)
    assert summary["n_val"] > 0 and not summary["validation_joined"]


def test_evaluate_recognises_its_training_samples_by_content_in_another_file(tmp_path, capsys):
    samples = make_groups(n_groups=40, per_group=2)
    table = write_table(samples, tmp_path / "train.csv")
    model = tmp_path / "m"
    assert cli.main(["train", str(table), "--model", "rf", "--trees", "10", "--output", str(model), "--quiet"]) == 0
    training = json.loads((model / "model.json").read_text())["training"]
    seen, unseen = training["n_train"] + training["n_val"], training["n_test"]
    assert np.load(model / "training_samples.npy").size == seen and seen + unseen == 80
    # the same samples in another file: rows shuffled, bands in another order, so another checksum
    order = np.random.default_rng(0).permutation(samples.sizes["sample"])
    other = write_table(samples, tmp_path / "renamed.csv", order=order, reverse_bands=True)
    capsys.readouterr()
    assert cli.main(["evaluate", str(model), str(other), "--record", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    assert f"excluded {seen} of 80 samples" in out and f"[all, {unseen} samples]" in out
    assert read_run_record(tmp_path / "e.json")["metrics"]["excluded_training_samples"] == seen
    # the test split of the training file and the unseen samples of the copy are the same 16 samples
    assert cli.main(["evaluate", str(model), str(table), "--record", str(tmp_path / "t.json")]) == 0
    assert f"[test, {unseen} samples]" in capsys.readouterr().out
    same = read_run_record(tmp_path / "t.json")["metrics"]["oa"]
    assert read_run_record(tmp_path / "e.json")["metrics"]["oa"] == same
    # a file holding training samples only is refused, not scored
    trained = np.isin(samples_format.content_hashes(samples), np.load(model / "training_samples.npy"))
    write_table(samples, tmp_path / "only.csv", order=np.flatnonzero(trained))
    assert cli.main(["evaluate", str(model), str(tmp_path / "only.csv"), "--record", str(tmp_path / "o.json")]) == 2
    assert f"all {seen} labelled samples" in capsys.readouterr().err and not (tmp_path / "o.json").exists()


def test_content_hashes_ignore_band_order_and_position_but_see_values_and_labels():
    samples = make_groups(n_groups=6, per_group=2)
    hashes = samples_format.content_hashes(samples)
    assert np.unique(hashes).size == hashes.size
    flipped = samples.isel(sample=slice(None, None, -1), band=[1, 0])
    assert np.array_equal(samples_format.content_hashes(flipped), hashes[::-1])
    changed = samples.copy(deep=True)
    changed[samples_format.VALUES].values[0, 2, 1] += 1e-3
    changed[samples_format.LABEL].values[1] = (changed[samples_format.LABEL].values[1] + 1) % 3
    assert (samples_format.content_hashes(changed) != hashes).tolist()[:3] == [True, True, False]


@pytest.mark.skipif(not (SHARED_DATA / "sits_samples").is_dir(), reason=f"real samples absent from {SHARED_DATA}")
def test_evaluate_a_renamed_copy_of_a_real_sample_file_scores_no_training_sample(tmp_path, capsys):
    source = SHARED_DATA / "sits_samples" / "samples_l8_rondonia_2bands.rda"
    shutil.copy(source, tmp_path / "copy.rda")
    model = tmp_path / "m"
    assert cli.main(["train", str(source), "--trees", "10", "--output", str(model), "--quiet"]) == 0
    training = json.loads((model / "model.json").read_text())["training"]
    capsys.readouterr()
    assert cli.main(["evaluate", str(model), str(tmp_path / "copy.rda"), "--subset", "all",
                     "--record", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    assert f"excluded {training['n_train'] + training['n_val']} of 160 samples" in out
    assert f"[all, {training['n_test']} samples]" in out


@pytest.fixture(scope="module")
def published_crossval(tmp_path_factory):
    """Four ``validate`` records (rf and svm x per-sample and grouped folds) of 24 groups of 3 correlated samples."""
    root = tmp_path_factory.mktemp("crossval")
    table = write_table(make_groups(n_groups=24, per_group=3), root / "samples.csv")
    published = root / "crossval"
    for model in ("rf", "svm"):
        for policy in ("random", "group"):
            assert cli.main(["validate", str(table), "--model", model, "--folds", "3", "--trees", "10",
                             "--bootstrap", "100", "--split-policy", policy, "--quiet",
                             "--record", str(published / f"{model}-{policy}.json")]) == 0
    return root, published


def _pooled_cell(interval: dict) -> str:
    return f"{interval['estimate']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def test_the_crossval_page_shows_every_model_and_protocol_with_their_numbers_from_the_records(published_crossval):
    from sitsbench.results.crossval import crossval_page

    root, published = published_crossval
    page = crossval_page(published_dir=published, data_root=root)
    pooled = {(m, p): read_run_record(published / f"{m}-{p}.json")["metrics"]["pooled"]
              for m in ("rf", "svm") for p in ("random", "group")}
    rows = {line.split(" | ")[0].lstrip("| "): line for line in page.splitlines() if line.startswith("| rf |")
            or line.startswith("| svm |")}
    for (model, policy), metrics in pooled.items():  # one row per model: OA then macro-F1, random then group
        cells = [_pooled_cell(metrics[metric]) for metric in ("oa", "macro_f1")]
        assert all(cell in rows[model] for cell in cells), (model, policy)
    for model in ("rf", "svm"):
        expected = [_pooled_cell(pooled[model, p][m]) for m in ("oa", "macro_f1") for p in ("random", "group")]
        assert rows[model].split(" | ")[2:] == [*expected[:-1], expected[-1] + " |"]
        single, grouped = pooled[model, "random"]["oa"], pooled[model, "group"]["oa"]
        gap = single["estimate"] - grouped["estimate"]
        assert (f"- {model}: {_pooled_cell(single)} per sample, {_pooled_cell(grouped)} grouped ({gap:+.3f} for "
                "the per-sample protocol") in page
    order = sorted(("rf", "svm"), key=lambda m: (-pooled[m, "group"]["oa"]["estimate"], m))
    assert page.index(f"| {order[0]} |") < page.index(f"| {order[1]} |")  # the best grouped OA first
    assert f"with group folds, {order[0]} has the highest OA, {_pooled_cell(pooled[order[0], 'group']['oa'])}" in page
    assert "## `DATA_ROOT/samples.csv`" in page and "72 samples in 24 groups (3.0 samples per group" in page
    assert "| rf | 10 trees |" in page and "| svm | reference configuration |" in page
    assert ("sitsbench validate DATA_ROOT/samples.csv --model rf --folds 3 --repeats 1 --split-policy group "
            "--seed 0 --trees 10 --bootstrap 100") in page
    assert "No cross-validation record" in crossval_page(published_dir=root / "none")


def test_a_model_without_grouped_folds_is_listed_after_those_with_them(published_crossval, tmp_path):
    from sitsbench.results.crossval import crossval_page

    root, published = published_crossval
    oa = {m: read_run_record(published / f"{m}-group.json")["metrics"]["pooled"]["oa"]["estimate"] for m in ("rf", "svm")}
    best, other = sorted(oa, key=lambda m: (-oa[m], m))
    shutil.copytree(published, tmp_path / "crossval")
    (tmp_path / "crossval" / f"{best}-group.json").unlink()  # the best model now has per-sample folds only
    page = crossval_page(published_dir=tmp_path / "crossval", data_root=root)
    row = next(line for line in page.splitlines() if line.startswith(f"| {best} |"))
    assert page.index(f"| {other} |") < page.index(f"| {best} |") and "| – |" in row
    assert f"with group folds, {other} has the highest OA" in page


def test_a_network_validation_is_reproduced_with_the_knobs_it_changed_and_marked_quick_recipe():
    from sitsbench.results.collect import reproduce_command
    from sitsbench.results.crossval import _training

    parameters = {"command": "validate", "dataset": "/data/samples.csv", "model": "tempcnn_small", "folds": 5,
                  "repeats": 1, "split_policy": "group", "seed": 0, "block_size": None, "trees": 100, "epochs": 40,
                  "patience": 10, "lr": None, "batch_size": None, "model_args": None, "date_policy": None,
                  "bootstrap": 1000}
    record = {"name": "validate-tempcnn_small", "parameters": parameters}
    assert reproduce_command(record, "/data") == (
        "sitsbench validate DATA_ROOT/samples.csv --model tempcnn_small --folds 5 --repeats 1 --split-policy group "
        "--seed 0 --epochs 40 --patience 10 --bootstrap 1000")
    assert _training(parameters) == "quick recipe: epochs 40, patience 10"
    assert _training({**parameters, "epochs": None, "patience": None}) == "reference recipe"


def test_the_book_leaderboard_shows_the_published_cross_validations(published_crossval, tmp_path):
    from sitsbench.book import PAGE_GENERATORS
    from sitsbench.results.collect import number
    from sitsbench.results.crossval import CROSSVAL_RESULTS, crossval_collection
    from sitsbench.results.leaderboard import book_leaderboard_page, leaderboard_page

    root, published = published_crossval
    shutil.copytree(published, tmp_path / "crossval")
    other = read_run_record(published / "rf-group.json")  # another file of the same data set name (two sits files)
    other["parameters"]["dataset"] = str(root / "other.csv")
    (tmp_path / "crossval" / "other-rf-group.json").write_text(json.dumps(other))
    page = leaderboard_page(tmp_path / "no-build-runs", root, extra=crossval_collection(root, tmp_path / "crossval"))
    assert "## validate on DATA_ROOT/samples.csv" in page and "## validate on DATA_ROOT/other.csv" in page
    for model in ("rf", "svm"):
        for policy in ("random", "group"):
            oa = read_run_record(published / f"{model}-{policy}.json")["metrics"]["pooled"]["oa"]["estimate"]
            row = next(line for line in page.splitlines() if line.startswith(f"| {model} (3-fold CV, {policy}) |"))
            assert f"| {number(oa)} |" in row
    assert "| setting |" not in page  # the runs of one data set share its launch parameters
    assert "`sitsbench validate DATA_ROOT/samples.csv --model svm --folds 3" in page and "papermill notebooks/validate" not in page
    assert PAGE_GENERATORS["leaderboard.md"] == "sitsbench.results.leaderboard:book_leaderboard_page"
    committed = sorted(CROSSVAL_RESULTS.glob("*.json"))
    assert committed, "the repository keeps cross-validation records in results/crossval"
    book_page = book_leaderboard_page(tmp_path / "no-build-runs")
    record = read_run_record(committed[0])
    assert f"{record['parameters']['model']} ({record['parameters']['folds']}-fold CV" in book_page


def test_a_record_written_before_intervals_is_upgraded_from_the_result_it_kept(published_crossval, tmp_path, capsys):
    """``sitsbench results upgrade`` gives a version-1 record of ``sitsbench validate`` the intervals and the split
    the current one writes, from its kept result (nothing recomputed); the crossval page refuses it until then."""
    from sitsbench.results.crossval import crossval_page

    root, published = published_crossval
    shutil.copytree(published, tmp_path / "crossval")
    path = tmp_path / "crossval" / "rf-group.json"
    current = json.loads(path.read_text())
    old = {key: value for key, value in current.items() if key not in ("intervals", "differences")}
    old["record_version"] = 1
    old["dataset"] = {key: value for key, value in current["dataset"].items() if key != "split"}
    path.write_text(json.dumps(old))
    with pytest.raises(ValueError, match=r"rf-group\.json has no intervals .*sitsbench results upgrade"):
        crossval_page(published_dir=tmp_path / "crossval", data_root=root)
    assert cli.main(["results", "upgrade", str(path), str(tmp_path / "crossval" / "rf-random.json")]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{path}: upgraded",
                                                    f"{tmp_path / 'crossval' / 'rf-random.json'}: already has its "
                                                    "intervals"]
    upgraded = json.loads(path.read_text())
    assert upgraded["record_version"] == 2 and upgraded["intervals"] == current["intervals"]
    assert upgraded["dataset"] == current["dataset"] and upgraded["scores"] == current["scores"]
    assert crossval_page(published_dir=tmp_path / "crossval", data_root=root) == \
        crossval_page(published_dir=published, data_root=root)
