"""Error-adjusted area and accuracy (sitsbench.evaluation.area) against Olofsson et al. (2014), RSE 148:42-57.

The worked example is the paper's section 5: a change map with four classes, a stratified random sample of 640
points (Table 8), 30 m Landsat pixels (0.09 ha). The published results are rounded (areas to 1 ha with z = 1.96,
accuracies to 2 decimals), so the comparisons use tolerances that match that rounding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sitsbench.evaluation.area import (
    AreaAccuracy,
    allocate,
    area_accuracy,
    confusion_counts,
    mapped_area_from_map,
    sample_size,
)

NAMES = ["Deforestation", "Forest gain", "Stable forest", "Stable non-forest"]
# Table 8: rows = map class (stratum), columns = reference class
COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
PIXELS = [200_000, 150_000, 3_200_000, 6_450_000]
HA_PER_PIXEL = 0.09  # 30 m x 30 m

# Published error-adjusted areas and 95 % half-widths, in ha (section 5)
PAPER_AREA_HA = {
    "Deforestation": (21_158, 6_158),
    "Forest gain": (11_686, 3_756),
    "Stable forest": (285_770, 15_510),
    "Stable non-forest": (581_386, 16_282),
}
PAPER_USERS = {
    "Deforestation": (0.88, 0.07),
    "Forest gain": (0.73, 0.10),
    "Stable forest": (0.93, 0.04),
    "Stable non-forest": (0.96, 0.02),
}
# Producer's accuracy and its half-width. Two half-widths printed in the paper (0.23 for forest gain, 0.01 for
# stable non-forest) do not follow from its Eq. 7 with these inputs -- Eq. 7 gives 0.254 and 0.018 (other
# implementations report the same mismatch) -- so they are checked separately below against Eq. 7.
PAPER_PRODUCERS = {
    "Deforestation": (0.75, 0.21),
    "Forest gain": (0.85, None),
    "Stable forest": (0.93, 0.03),
    "Stable non-forest": (0.96, None),
}
PAPER_OVERALL = (0.95, 0.02)
# Table 9: estimated area proportions p_ij, 4 decimals
PAPER_PROPORTIONS = [
    [0.0176, 0.0000, 0.0013, 0.0011],
    [0.0000, 0.0110, 0.0016, 0.0024],
    [0.0019, 0.0000, 0.2967, 0.0213],
    [0.0040, 0.0020, 0.0179, 0.6212],
]
ROUND2 = 0.005 + 1e-9  # "equal to 2 decimals"


@pytest.fixture(scope="module")
def paper() -> AreaAccuracy:
    counts = pd.DataFrame(COUNTS, index=NAMES, columns=NAMES)
    return area_accuracy(counts, pd.Series(PIXELS, index=NAMES))


# ------------------------------------------------------------------------------------------ the worked example


@pytest.mark.parametrize("name", NAMES)
def test_paper_error_adjusted_area(paper, name):
    area_ha = paper.table.loc[name, "area"] * HA_PER_PIXEL
    ci_ha = paper.table.loc[name, "area_ci"] * HA_PER_PIXEL
    published_area, published_ci = PAPER_AREA_HA[name]
    assert area_ha == pytest.approx(published_area, abs=1.0)
    assert ci_ha == pytest.approx(published_ci, abs=1.0)


def test_paper_area_in_hectares_equals_area_in_pixels_times_pixel_area(paper):
    counts = pd.DataFrame(COUNTS, index=NAMES, columns=NAMES)
    in_ha = area_accuracy(counts, pd.Series(PIXELS, index=NAMES) * HA_PER_PIXEL)
    for col in ["area", "area_ci", "mapped_area"]:
        np.testing.assert_allclose(in_ha.table[col], paper.table[col] * HA_PER_PIXEL, rtol=1e-12)
    for col in ["weight", "users_accuracy", "producers_accuracy", "area_proportion", "area_proportion_ci"]:
        np.testing.assert_allclose(in_ha.table[col], paper.table[col], rtol=1e-12)
    assert in_ha.total_area == pytest.approx(900_000)  # 10 million pixels of 0.09 ha


@pytest.mark.parametrize("name", NAMES)
def test_paper_users_accuracy(paper, name):
    value, ci = PAPER_USERS[name]
    assert paper.table.loc[name, "users_accuracy"] == pytest.approx(value, abs=ROUND2)
    assert paper.table.loc[name, "users_accuracy_ci"] == pytest.approx(ci, abs=ROUND2)


@pytest.mark.parametrize("name", NAMES)
def test_paper_producers_accuracy(paper, name):
    value, ci = PAPER_PRODUCERS[name]
    assert paper.table.loc[name, "producers_accuracy"] == pytest.approx(value, abs=ROUND2)
    if ci is not None:
        assert paper.table.loc[name, "producers_accuracy_ci"] == pytest.approx(ci, abs=ROUND2)


def test_producers_ci_follows_eq7_where_the_paper_prints_other_values(paper):
    # Eq. 7 evaluated by hand for forest gain (j = 2): N_j. = 150,000 mapped pixels, N^_.j = sum_i N_i. n_ij / n_i.
    n = np.array(COUNTS, dtype=float)
    big_n = np.array(PIXELS, dtype=float)
    n_row = n.sum(axis=1)
    n_hat = (big_n[:, None] * n / n_row[:, None]).sum(axis=0)
    p = (big_n / big_n.sum())[:, None] * n / n_row[:, None]
    users = np.diag(p) / p.sum(axis=1)
    producers = np.diag(p) / p.sum(axis=0)
    for j, name in [(1, "Forest gain"), (3, "Stable non-forest")]:
        first = big_n[j] ** 2 * (1 - producers[j]) ** 2 * users[j] * (1 - users[j]) / (n_row[j] - 1)
        others = sum(
            big_n[i] ** 2 * n[i, j] / n_row[i] * (1 - n[i, j] / n_row[i]) / (n_row[i] - 1)
            for i in range(4)
            if i != j
        )
        se = np.sqrt((first + producers[j] ** 2 * others) / n_hat[j] ** 2)
        assert paper.table.loc[name, "producers_accuracy_ci"] == pytest.approx(1.959964 * se, rel=1e-6)
    assert paper.table.loc["Forest gain", "producers_accuracy_ci"] == pytest.approx(0.2544, abs=5e-5)
    assert paper.table.loc["Stable non-forest", "producers_accuracy_ci"] == pytest.approx(0.0184, abs=5e-5)


def test_paper_overall_accuracy(paper):
    assert paper.overall_accuracy == pytest.approx(PAPER_OVERALL[0], abs=ROUND2)
    assert paper.overall_accuracy_ci == pytest.approx(PAPER_OVERALL[1], abs=ROUND2)


def test_paper_proportions_table9(paper):
    np.testing.assert_allclose(paper.proportions.to_numpy(), PAPER_PROPORTIONS, atol=5e-5 + 1e-12)
    # rows add up to the map weights W_i, columns to the area proportions
    np.testing.assert_allclose(paper.proportions.sum(axis=1), np.array(PIXELS) / sum(PIXELS))
    np.testing.assert_allclose(paper.proportions.sum(axis=0), paper.table["area_proportion"])
    assert paper.table["area_proportion"].sum() == pytest.approx(1.0)
    assert paper.table["area"].sum() == pytest.approx(sum(PIXELS))


def test_result_layout(paper):
    from sitsbench.evaluation.area import TABLE_COLUMNS

    assert list(paper.table.columns) == TABLE_COLUMNS
    assert {"users_accuracy", "users_accuracy_ci", "producers_accuracy", "producers_accuracy_ci", "area",
            "area_ci"} <= set(TABLE_COLUMNS)
    assert list(paper.table.index) == NAMES
    assert paper.confidence == 0.95
    assert paper.z == pytest.approx(1.959964, abs=1e-6)
    assert paper.total_area == sum(PIXELS)
    assert list(paper.proportions.index) == NAMES and list(paper.proportions.columns) == NAMES
    # half-widths are z * SE: the area's is the total times the proportion's
    np.testing.assert_allclose(paper.table["area_ci"], paper.table["area_proportion_ci"] * sum(PIXELS))


def test_confidence_level_scales_the_half_widths(paper):
    counts = pd.DataFrame(COUNTS, index=NAMES, columns=NAMES)
    at90 = area_accuracy(counts, pd.Series(PIXELS, index=NAMES), confidence=0.90)
    ratio = 1.6448536269514722 / 1.959963984540054
    np.testing.assert_allclose(at90.table["area_ci"], paper.table["area_ci"] * ratio)
    np.testing.assert_allclose(at90.table["area"], paper.table["area"])
    assert at90.overall_accuracy_ci == pytest.approx(paper.overall_accuracy_ci * ratio)


def test_paper_sample_size():
    # section 5.1.1: anticipated user's accuracies 0.7, 0.6, 0.9, 0.95 and a target SE(O) of 0.01
    guess = pd.Series([0.7, 0.6, 0.9, 0.95], index=NAMES)
    assert sample_size(guess, pd.Series(PIXELS, index=NAMES), target_se=0.01) == 641
    assert sample_size([0.7, 0.6, 0.9, 0.95], PIXELS) == 641  # sequences in the same order
    # a perfect map needs no sample; halving the target SE quadruples n
    assert sample_size([1, 1, 1, 1], PIXELS) == 0
    assert sample_size(guess, dict(zip(NAMES, PIXELS)), target_se=0.005) == pytest.approx(4 * 640.54, abs=1)


def test_sample_size_bad_inputs():
    with pytest.raises(ValueError, match="target_se"):
        sample_size([0.7, 0.6], [1, 1], target_se=0)
    with pytest.raises(ValueError, match=r"users_accuracy_guess.*\['1'\]"):
        sample_size([0.7, 1.2], [1, 1])
    with pytest.raises(ValueError, match="users_accuracy_guess.*missing.*'b'"):
        sample_size({"a": 0.9}, {"a": 1.0, "b": 2.0})


# -------------------------------------------------------------------------------------------------- allocation


def test_allocate_floor_then_proportional():
    alloc = allocate(641, pd.Series(PIXELS, index=NAMES), minimum=75)
    assert alloc.sum() == 641
    assert list(alloc.index) == NAMES
    # the two change classes are raised to the floor, the stable classes share the rest by area (491 * 32/96.5 ...)
    assert alloc["Deforestation"] == 75 and alloc["Forest gain"] == 75
    assert alloc["Stable forest"] == 163 and alloc["Stable non-forest"] == 328


@pytest.mark.parametrize("n", [200, 201, 333, 641, 1000, 5000])
@pytest.mark.parametrize("minimum", [0, 1, 50])
def test_allocate_total_and_floor(n, minimum):
    areas = {"a": 5.0, "b": 1.0, "c": 700.0, "d": 94.0}
    alloc = allocate(n, areas, minimum=minimum)
    assert alloc.sum() == n
    assert (alloc >= minimum).all()
    # classes above the floor are proportional to their areas up to rounding
    above = alloc[alloc > minimum]
    if len(above) > 1:
        left = n - alloc[alloc == minimum].sum()
        share = left * pd.Series(areas)[above.index] / pd.Series(areas)[above.index].sum()
        assert (abs(above - share) < 1.0).all()


def test_allocate_needs_enough_samples_and_skips_empty_classes():
    with pytest.raises(ValueError, match="minimum needs more samples"):
        allocate(199, [1, 1, 1, 1], minimum=50)
    alloc = allocate(120, {"a": 1.0, "none": 0.0, "b": 3.0}, minimum=50)
    assert alloc["none"] == 0 and alloc.sum() == 120 and (alloc[["a", "b"]] >= 50).all()
    with pytest.raises(ValueError, match="n must be"):
        allocate(-1, [1, 1])


# ----------------------------------------------------------------------------------------- general properties


def test_error_free_map_gives_mapped_area_and_perfect_accuracy():
    counts = np.diag([50, 60, 70, 80])
    areas = [10.0, 200.0, 3000.0, 40.0]
    res = area_accuracy(counts, areas, class_names=["w", "x", "y", "z"])
    np.testing.assert_allclose(res.table["area"], areas)
    np.testing.assert_allclose(res.table["area_ci"], 0.0, atol=1e-12)
    for col in ["users_accuracy", "producers_accuracy"]:
        np.testing.assert_allclose(res.table[col], 1.0)
        np.testing.assert_allclose(res.table[col + "_ci"], 0.0, atol=1e-12)
    assert res.overall_accuracy == pytest.approx(1.0)
    assert res.overall_accuracy_ci == pytest.approx(0.0, abs=1e-12)


def test_class_order_does_not_matter(paper):
    order = [2, 0, 3, 1]
    names = [NAMES[i] for i in order]
    counts = pd.DataFrame(COUNTS, index=NAMES, columns=NAMES).loc[names, names]
    area = {name: PIXELS[NAMES.index(name)] for name in reversed(NAMES)}  # dict in yet another order
    res = area_accuracy(counts, area)
    assert list(res.table.index) == names
    pd.testing.assert_frame_equal(res.table.loc[NAMES], paper.table, check_exact=False, rtol=1e-12, atol=0)
    pd.testing.assert_frame_equal(
        res.proportions.loc[NAMES, NAMES], paper.proportions, check_exact=False, rtol=1e-12, atol=1e-15
    )
    assert res.overall_accuracy == pytest.approx(paper.overall_accuracy, rel=1e-12)
    assert res.overall_accuracy_ci == pytest.approx(paper.overall_accuracy_ci, rel=1e-12)


def test_array_counts_default_names(paper):
    res = area_accuracy(np.array(COUNTS), np.array(PIXELS))
    assert list(res.table.index) == ["0", "1", "2", "3"]
    np.testing.assert_allclose(res.table["area"], paper.table["area"])


def test_zero_area_class_without_samples_is_allowed(paper):
    names = [*NAMES, "Cloud"]
    counts = pd.DataFrame(0, index=names, columns=names)
    counts.loc[NAMES, NAMES] = COUNTS
    counts.loc["Stable non-forest", "Cloud"] = 3  # reference says "cloud" for a few points mapped elsewhere
    res = area_accuracy(counts, pd.Series([*PIXELS, 0], index=names))
    row = res.table.loc["Cloud"]
    assert row["weight"] == 0 and row["mapped_area"] == 0
    assert np.isnan(row["users_accuracy"]) and np.isnan(row["users_accuracy_ci"])
    assert row["producers_accuracy"] == 0.0  # nothing is mapped as cloud, so all of it is omitted
    assert row["area"] > 0 and row["area_ci"] > 0  # the 3 points in the stable non-forest stratum
    assert res.table["area"].sum() == pytest.approx(sum(PIXELS))
    # without such reference labels the class is simply empty; the other classes are as before
    counts.loc["Stable non-forest", "Cloud"] = 0
    res = area_accuracy(counts, pd.Series([*PIXELS, 0], index=names))
    assert res.table.loc["Cloud", "area"] == 0 and np.isnan(res.table.loc["Cloud", "producers_accuracy"])
    pd.testing.assert_frame_equal(res.table.loc[NAMES], paper.table, check_exact=False, rtol=1e-12)


# ------------------------------------------------------------------------------------------------- bad inputs


def _frame(values, names=None):
    names = names or NAMES
    return pd.DataFrame(values, index=names, columns=names)


@pytest.mark.parametrize(
    ("counts", "area", "message"),
    [
        (np.ones((3, 4)), [1, 1, 1], r"square.*\(3, 4\)"),
        (pd.DataFrame(np.ones((2, 3)) * 5), [1, 1], "square"),
        (
            pd.DataFrame([[5, 1], [1, 5]], index=["forest", "water"], columns=["forest", "crop"]),
            {"forest": 1, "water": 1},
            r"map classes not among reference classes: \['water'\].*reference classes not among map classes: "
            r"\['crop'\]",
        ),
        (
            pd.DataFrame([[5, 1], [1, 5]], index=["forest", "water"], columns=["water", "forest"]),
            {"forest": 1, "water": 1},
            "different order",
        ),
        (
            _frame([[5, -1], [1, 5]], ["forest", "water"]),
            {"forest": 1, "water": 1},
            r"negative.*\['forest'\]",
        ),
        (_frame([[5, np.nan], [1, 5]], ["forest", "water"]), {"forest": 1, "water": 1}, "NaN"),
        (
            _frame([[5, 1], [0, 1]], ["forest", "water"]),
            {"forest": 1, "water": 1},
            r"at least 2 samples.*'water' \(1",
        ),
        (_frame([[5, 1], [0, 0]], ["forest", "water"]), {"forest": 1, "water": 1}, r"'water' \(0 samples\)"),
        (
            _frame([[5, 1], [1, 5]], ["forest", "water"]),
            {"forest": 1},
            r"mapped_area.*missing classes \['water'\]",
        ),
        (
            _frame([[5, 1], [1, 5]], ["forest", "water"]),
            {"forest": 1, "water": 1, "crop": 2},
            r"mapped_area.*not among the map classes \['crop'\]",
        ),
        (
            _frame([[5, 1], [1, 5]], ["forest", "water"]),
            {"forest": 1, "water": -2},
            r"mapped_area.*negative.*'water'",
        ),
        (
            _frame([[5, 1], [1, 5]], ["forest", "water"]),
            {"forest": 1, "water": np.nan},
            r"mapped_area.*NaN.*'water'",
        ),
        (
            _frame([[5, 1], [1, 5]], ["forest", "water"]),
            [1, 2, 3],
            r"mapped_area must have one value per class",
        ),
        (_frame([[5, 1], [1, 5]], ["forest", "water"]), {"forest": 0, "water": 0}, "sums to zero"),
        (
            _frame([[5, 1], [1, 5]], ["forest", "water"]),
            {"forest": 1, "water": 0},
            r"\['water'\] have samples but zero",
        ),
    ],
)
def test_bad_inputs_raise_clear_errors(counts, area, message):
    with pytest.raises(ValueError, match=message):
        area_accuracy(counts, area)


def test_bad_confidence_and_class_names():
    counts = _frame([[5, 1], [1, 5]], ["forest", "water"])
    for confidence in (0, 1, 1.5, -0.1, True):
        with pytest.raises(ValueError, match="confidence"):
            area_accuracy(counts, [1, 1], confidence=confidence)
    with pytest.raises(ValueError, match="class_names"):
        area_accuracy(np.eye(2) * 5, [1, 1], class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="class_names"):
        area_accuracy(counts, [1, 1], class_names=["water", "forest"])


# ------------------------------------------------------------------------------------------- building inputs


def test_confusion_counts_drops_nodata():
    map_values = np.array([0, 0, 1, 2, -1, 1, 2, 0, np.nan, 2])
    reference = np.array([0, 1, 1, 2, 0, -1, 0, 0, 1, np.nan])
    counts = confusion_counts(map_values, reference, ["a", "b", "c"])
    expected = pd.DataFrame(
        [[2, 1, 0], [0, 1, 0], [1, 0, 1]],
        index=pd.Index(["a", "b", "c"], name="map"),
        columns=pd.Index(["a", "b", "c"], name="reference"),
    )
    pd.testing.assert_frame_equal(counts, expected, check_dtype=False)
    assert counts.attrs["n_dropped"] == 4
    assert counts.attrs["n_used"] == 6
    # integer input, no nodata
    counts = confusion_counts([0, 1, 1], [0, 1, 0], ["a", "b"])
    assert counts.to_numpy().tolist() == [[1, 0], [1, 1]] and counts.attrs["n_dropped"] == 0


def test_confusion_counts_rejects_bad_codes():
    with pytest.raises(ValueError, match=r"map_values.*outside 0..2.*\[3\]"):
        confusion_counts([0, 3], [0, 1], ["a", "b", "c"])
    with pytest.raises(ValueError, match="reference_labels"):
        confusion_counts([0, 1], [0, 0.5], ["a", "b", "c"])
    with pytest.raises(ValueError, match="same length"):
        confusion_counts([0, 1, 1], [0, 1], ["a", "b"])


def test_mapped_area_from_map_constant_and_per_row_pixel_area():
    class_map = np.array(
        [
            [0, 0, 1, -1],
            [1, 1, 2, 2],
            [-1, 2, 2, 0],
        ]
    )
    names = ["a", "b", "c"]
    counts = mapped_area_from_map(class_map, names)
    assert counts.to_dict() == {"a": 3.0, "b": 3.0, "c": 4.0}
    assert mapped_area_from_map(class_map, names, pixel_area=0.09).to_numpy() == pytest.approx(
        [0.27, 0.27, 0.36]
    )
    # geographic grid: the pixels of each row have their own area (shrinking towards the pole)
    row_area = np.array([10.0, 8.0, 5.0])
    per_row = mapped_area_from_map(class_map, names, pixel_area=row_area)
    # a: 2 pixels in row 0, 1 in row 2; b: 1 in row 0, 2 in row 1; c: 2 in row 1, 2 in row 2
    assert per_row.to_dict() == {"a": 2 * 10 + 5, "b": 10 + 2 * 8, "c": 2 * 8 + 2 * 5}
    full = mapped_area_from_map(
        class_map, names, pixel_area=np.broadcast_to(row_area[:, None], class_map.shape)
    )
    pd.testing.assert_series_equal(full, per_row)
    # float maps with NaN nodata work too
    as_float = np.where(class_map < 0, np.nan, class_map).astype(float)
    pd.testing.assert_series_equal(mapped_area_from_map(as_float, names, pixel_area=row_area), per_row)
    with pytest.raises(ValueError, match="pixel_area"):
        mapped_area_from_map(class_map, names, pixel_area=np.ones(4))
    with pytest.raises(ValueError, match="class_map.*outside"):
        mapped_area_from_map(class_map + 1, names)


# -------------------------------------------------------------------------------------------------- Monte Carlo


def test_monte_carlo_estimator_is_unbiased_and_pixel_counting_is_not():
    """On a synthetic population whose true areas are known, the stratified estimator averages to the truth while
    the mapped (pixel-counted) area misses it, because omission and commission errors do not cancel."""
    rng = np.random.default_rng(20140215)
    names = ["loss", "forest", "other"]
    height, width = 200, 250
    truth = rng.choice(3, size=height * width, p=[0.03, 0.47, 0.50])
    # the map misses 40 % of the loss (labelled forest) and calls only 0.5 % of forest and 0.1 % of other "loss",
    # so the omissions outweigh the commissions; it also calls 4 % of forest "other"
    u = rng.random(truth.size)
    mapped = truth.copy()
    mapped[(truth == 0) & (u < 0.40)] = 1
    mapped[(truth == 1) & (u < 0.005)] = 0
    mapped[(truth == 1) & (u >= 0.005) & (u < 0.045)] = 2
    mapped[(truth == 2) & (u < 0.001)] = 0
    class_map = mapped.reshape(height, width)
    pixel_area = 0.09
    mapped_area = mapped_area_from_map(class_map, names, pixel_area=pixel_area)
    true_area = pd.Series(np.bincount(truth, minlength=3) * pixel_area, index=names)

    alloc = allocate(300, mapped_area, minimum=75)
    strata = [np.flatnonzero(mapped == k) for k in range(3)]
    draws, covered = [], np.zeros(3)
    n_draws = 200
    for _ in range(n_draws):
        idx = np.concatenate(
            [rng.choice(s, size=alloc[names[k]], replace=False) for k, s in enumerate(strata)]
        )
        counts = confusion_counts(mapped[idx], truth[idx], names)
        res = area_accuracy(counts, mapped_area)
        draws.append(res.table["area"].to_numpy())
        covered += (
            np.abs(res.table["area"].to_numpy() - true_area.to_numpy()) <= res.table["area_ci"].to_numpy()
        )
    draws = np.array(draws)
    mean = draws.mean(axis=0)
    se_of_mean = draws.std(axis=0, ddof=1) / np.sqrt(n_draws)

    # unbiased: the mean of the estimates is within 3 standard errors of the true area, for every class
    assert np.all(np.abs(mean - true_area.to_numpy()) < 3 * se_of_mean), (mean, true_area, se_of_mean)
    # pixel counting is biased, and by far more than the Monte-Carlo noise
    bias = mapped_area - true_area
    assert np.all(np.abs(bias.to_numpy()) > 10 * se_of_mean), (bias, se_of_mean)
    assert bias["loss"] < -0.15 * true_area["loss"]  # the rare class is badly under-mapped
    # and the 95 % intervals cover the truth about 95 % of the time
    assert np.all(covered / n_draws > 0.88), covered / n_draws
