"""Bootstrap intervals and paired differences (sitsbench.intervals)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sitsbench.intervals import (
    bootstrap_scores,
    efficiency_intervals,
    paired_differences,
    plot_paired_differences,
)
from sitsbench.metrics import (
    cohen_kappa,
    confusion_matrix,
    f1_per_class,
    macro_f1,
    overall_accuracy,
    stacked_scores,
)


def _noisy(y: np.ndarray, accuracy: float, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Predictions right with probability ``accuracy``, else a uniformly drawn other class."""
    wrong = rng.random(y.size) >= accuracy
    other = (y + rng.integers(1, num_classes, y.size)) % num_classes
    return np.where(wrong, other, y)


def test_stacked_scores_equal_the_single_matrix_metrics():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, (30, 40))
    predicted = np.where(rng.random((30, 40)) < 0.6, truth, rng.integers(0, 5, (30, 40)))
    truth[3] = 0  # a replicate with one reference class only: absent classes leave the macro average
    cms = np.stack([confusion_matrix(t, p, 5) for t, p in zip(truth, predicted)])
    stacked = stacked_scores(cms)
    for b, cm in enumerate(cms):
        assert stacked["oa"][b] == pytest.approx(overall_accuracy(cm))
        assert stacked["macro_f1"][b] == pytest.approx(macro_f1(cm))
        assert stacked["kappa"][b] == pytest.approx(cohen_kappa(cm))
        np.testing.assert_allclose(stacked["f1_per_class"][b], f1_per_class(cm))


def test_identical_methods_differ_by_exactly_zero_and_same_seed_gives_same_replicates():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    predicted = np.stack([_noisy(y, 0.7, 4, rng) for _ in range(3)])
    boot = bootstrap_scores(y, {"a": predicted, "b": predicted.copy()}, 4, n_boot=200, seed=5)
    assert boot.difference("a", "b") == (0.0, 0.0, 0.0)
    again = bootstrap_scores(y, {"a": predicted}, 4, n_boot=200, seed=5, chunk=7)  # other chunking, same draws
    np.testing.assert_array_equal(again.replicates["a"], boot.replicates["a"])
    estimate, low, high = boot.interval("a")
    assert low < estimate < high
    assert estimate == pytest.approx(np.mean([macro_f1(confusion_matrix(y, row, 4)) for row in predicted]))


def test_a_real_gap_is_shown_and_no_gap_is_not():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 1000)
    better = np.stack([_noisy(y, 0.85, 3, rng) for _ in range(3)])
    worse = np.stack([_noisy(y, 0.75, 3, rng) for _ in range(3)])
    twin = np.stack([_noisy(y, 0.85, 3, rng) for _ in range(3)])
    boot = bootstrap_scores(y, {"better": better, "worse": worse, "twin": twin}, 3, metric="oa", n_boot=500)
    difference, low, high = boot.difference("better", "worse")
    assert 0.05 < low and low < 0.10 < high  # the true gap is 0.10
    assert difference == pytest.approx(0.10, abs=0.03)
    _, low, high = boot.difference("better", "twin")
    assert low < 0 < high


def test_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(150):
        y = rng.integers(0, 2, 400)
        predicted = _noisy(y, 0.8, 2, rng)[None]
        _, low, high = bootstrap_scores(y, {"m": predicted}, 2, metric="oa", n_boot=300,
                                        seed=int(rng.integers(1 << 30))).interval("m")
        covered += low <= 0.8 <= high
    assert 0.88 <= covered / 150 <= 0.99, covered


def test_resampling_whole_parcels_widens_the_interval_of_correlated_pixels():
    rng = np.random.default_rng(7)
    parcel = np.repeat(np.arange(100), 20)  # 100 parcels of 20 pixels, each classified as a whole
    y = np.repeat(rng.integers(0, 2, 100), 20)
    predicted = np.repeat(_noisy(y[::20], 0.8, 2, rng), 20)[None]
    pixels = bootstrap_scores(y, {"m": predicted}, 2, metric="oa", n_boot=400)
    parcels = bootstrap_scores(y, {"m": predicted}, 2, metric="oa", n_boot=400, groups=parcel)
    width = {name: boot.interval("m")[2] - boot.interval("m")[1] for name, boot in (("pixels", pixels),
                                                                                     ("parcels", parcels))}
    assert width["parcels"] > 3 * width["pixels"], width  # about sqrt(20) = 4.5 times wider
    assert parcels.estimate["m"] == pixels.estimate["m"]
    with pytest.raises(ValueError, match="one id per test item"):
        bootstrap_scores(y, {"m": predicted}, 2, groups=parcel[:10])


def test_seed_spread_widens_the_interval():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 2000)
    steady = np.stack([_noisy(y, 0.8, 2, rng) for _ in range(4)])
    unsteady = np.stack([_noisy(y, accuracy, 2, rng) for accuracy in (0.65, 0.75, 0.85, 0.95)])
    boot = bootstrap_scores(y, {"steady": steady, "unsteady": unsteady}, 2, metric="oa", n_boot=400)
    width = {name: boot.interval(name)[2] - boot.interval(name)[1] for name in ("steady", "unsteady")}
    assert width["unsteady"] > 4 * width["steady"], width


def test_bad_inputs_are_refused_with_the_reason():
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="metric"):
        bootstrap_scores(y, {"a": y[None]}, 2, metric="miou")
    with pytest.raises(ValueError, match=r"\(n_seeds, n_test\)"):
        bootstrap_scores(y, {"a": y[None], "b": np.stack([y, y])}, 2)
    with pytest.raises(ValueError, match="outside 0..1"):
        bootstrap_scores(y, {"a": (y + 1)[None]}, 2)
    with pytest.raises(ValueError, match="level"):
        bootstrap_scores(y, {"a": y[None]}, 2, n_boot=10).interval("a", level=95)
    table = pd.DataFrame({"method": ["a", "b"], "fraction": [1.0, 1.0], "seed": [0, 1], "macro_f1": [0.5, 0.5]})
    with pytest.raises(ValueError, match="predicted"):
        efficiency_intervals(table, y, 2)
    table["predicted"] = [y, y]
    with pytest.raises(ValueError, match="same seeds"):
        paired_differences(table, y, 2, [("a", "b")])
    with pytest.raises(ValueError, match="no run of method 'c'"):
        paired_differences(table, y, 2, [("a", "c")])


def test_paired_differences_table_and_verdicts():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 800)
    rows = []
    for fraction, gap in ((0.1, 0.0), (1.0, 0.15)):
        for seed in (0, 1, 2):
            rows.append({"method": "ssl", "fraction": fraction, "seed": seed,
                         "predicted": _noisy(y, 0.7 + gap, 3, rng)})
            rows.append({"method": "random", "fraction": fraction, "seed": seed, "predicted": _noisy(y, 0.7, 3, rng)})
    table = pd.DataFrame(rows)
    differences = paired_differences(table, y, 3, [("ssl", "random")], metric="oa", n_boot=300).set_index("fraction")
    assert differences.loc[1.0, "verdict"] == "ssl > random"
    assert differences.loc[0.1, "verdict"] == "no difference shown"
    assert differences.loc[1.0, "low"] > 0.08 and (differences["n_seeds"] == 3).all()
    intervals = efficiency_intervals(table, y, 3, metric="oa", n_boot=300)
    assert set(intervals["method"]) == {"ssl", "random"} and len(intervals) == 4


def test_parcel_intervals_of_macro_f1_cover_the_population_value_about_as_promised():
    rng = np.random.default_rng(8)
    frequency = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    accuracy = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])

    def parcels(n, size):
        labels = rng.choice(6, n, p=frequency)
        predicted = np.where(rng.random(n) < accuracy[labels], labels, (labels + rng.integers(1, 6, n)) % 6)
        return np.repeat(labels, size), np.repeat(predicted, size), np.repeat(np.arange(n), size)

    y, predicted, _ = parcels(200_000, 1)
    population = macro_f1(confusion_matrix(y, predicted, 6))
    covered, trials = 0, 120
    for trial in range(trials):
        y, predicted, group = parcels(100, 20)  # 100 test parcels of 20 pixels, each classified as a whole
        _, low, high = bootstrap_scores(y, {"m": predicted[None]}, 6, n_boot=300, seed=trial,
                                        groups=group).interval("m")
        covered += low <= population <= high
    assert 0.85 <= covered / trials <= 0.99, covered


def test_paired_difference_plot_fills_exactly_the_markers_whose_interval_excludes_zero():
    import matplotlib

    matplotlib.use("Agg")
    differences = pd.DataFrame({
        "a": ["SimCLR + linear", "SimCLR + linear", "DINO + linear", "DINO + linear"],
        "b": ["supervised"] * 4, "fraction": [0.01, 1.0, 0.01, 1.0], "metric": "macro_f1",
        "difference": [0.08, 0.01, -0.05, 0.0], "low": [0.01, -0.02, -0.09, -0.03], "high": [0.2, 0.04, -0.01, 0.03]})
    ax = plot_paired_differences(differences, labels={0.01: "1 % (21 px)", 1.0: "100 % (2100 px)"})
    filled, hollow = [], []
    for collection in ax.collections:
        if collection.get_offsets().size and type(collection).__name__ == "PathCollection":
            target = hollow if np.allclose(collection.get_facecolor()[:, :3], 1.0) else filled
            target += [tuple(point) for point in collection.get_offsets()]
    assert sorted(x for x, _ in filled) == [-0.05, 0.08] and sorted(x for x, _ in hollow) == [0.0, 0.01]
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["SimCLR + linear − supervised",
                                                                   "DINO + linear − supervised"]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["1 % (21 px)", "100 % (2100 px)"]
    assert "macro-F1" in ax.get_xlabel()
