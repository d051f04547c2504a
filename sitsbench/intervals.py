"""Confidence intervals for test scores and for paired differences between methods: a two-level bootstrap.

A test score measured with a few seeds is uncertain for two reasons: the test items are a sample of the
landscape, and each seed draws other labelled items, another initialisation and another data order. The
bootstrap (Efron & Tibshirani 1993, "An Introduction to the Bootstrap") estimates both at once when each
replicate resamples **the test items and the seeds** with replacement, scores every drawn seed's predictions on
the drawn items and averages over the drawn seeds (the hierarchical resampling recommended for benchmarks by
Bouthillier et al. 2021, "Accounting for Variance in Machine Learning Benchmarks", MLSys). The 95 % interval is
the 2.5-97.5 percentile range of the replicates. Macro-F1 on a few dozen test parcels with rare classes is a rough
statistic: in a simulation with 40 test parcels and classes as rare as 4 %, these intervals held the population
value 87 % of the time (93 % with 100 parcels; a bias-corrected percentile interval did no better), so read them as
somewhat optimistic for small test sets.

A **paired** difference (method A minus method B) applies the same draws to both methods: the same test items
and the same seeds, which for label-efficiency curves means the same labelled subsets
(:mod:`sitsbench.evaluation.label_fraction`). The noise they share cancels, so a paired interval is narrower than
the two single intervals suggest; a difference is supported when its interval excludes 0.

:func:`bootstrap_scores` works on predictions; :func:`efficiency_intervals` and :func:`paired_differences` read
the table of :func:`~sitsbench.evaluation.efficiency.label_efficiency` (its ``predicted`` column);
:func:`plot_paired_differences` draws the differences with their intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sitsbench.metrics import stacked_scores

METRICS = ("macro_f1", "oa", "kappa", "f1_per_class")
"""The metrics :func:`bootstrap_scores` resamples (:func:`sitsbench.metrics.stacked_scores`); ``f1_per_class`` has
one value per class (NaN where a class is absent from a replicate's reference and predictions)."""


@dataclass
class Bootstrap:
    """Replicates of one metric for several methods, all drawn with the same resamples.

    ``estimate[name]``: the mean over seeds of the metric on the whole test set; ``replicates[name]``: its
    ``n_boot`` bootstrap replicates.
    """

    metric: str
    estimate: dict[str, float | np.ndarray]
    replicates: dict[str, np.ndarray]

    def interval(self, name: str, level: float = 0.95) -> tuple[float, float, float]:
        """``(estimate, low, high)`` of method ``name`` (arrays over the classes for ``f1_per_class``)."""
        return (self.estimate[name], *_percentiles(self.replicates[name], level))

    def difference(self, a: str, b: str, level: float = 0.95) -> tuple[float, float, float]:
        """``(estimate, low, high)`` of the paired difference ``a - b``."""
        return (self.estimate[a] - self.estimate[b], *_percentiles(self.replicates[a] - self.replicates[b], level))


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    tail = 100 * (1 - level) / 2
    if np.ndim(values) == 1:
        low, high = np.percentile(values, [tail, 100 - tail])
        return float(low), float(high)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():  # a class absent from every replicate: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(values, [tail, 100 - tail], axis=0)
    return low, high


def bootstrap_scores(y_true: np.ndarray, predictions: dict[str, np.ndarray], num_classes: int,
                     metric: str = "macro_f1", n_boot: int = 1000, seed: int = 0, groups: np.ndarray | None = None,
                     chunk: int = 100) -> Bootstrap:
    """Two-level bootstrap of ``metric`` (one of :data:`METRICS`) for every method of ``predictions``.

    ``predictions[name]`` is ``(n_seeds, n_test)``: the predicted class of every test item for each seed; row
    ``s`` of every method must come from the same seed (the same labelled subset), so that differences are
    paired. ``groups`` (one id per test item, e.g. its parcel) resamples whole groups instead of single items:
    neighbouring pixels of a parcel are not independent, and drawing them one by one would give intervals that
    are too narrow. Every method sees the same ``n_boot`` draws (from ``seed``), made ``chunk`` replicates at a
    time to bound memory.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    stacks = {name: np.atleast_2d(np.asarray(values, dtype=np.int64)) for name, values in predictions.items()}
    if not stacks:
        raise ValueError("predictions is empty: give at least one method")
    shapes = {name: stack.shape for name, stack in stacks.items()}
    n_seeds = next(iter(shapes.values()))[0]
    if any(shape != (n_seeds, y_true.size) for shape in shapes.values()):
        raise ValueError(f"every method needs (n_seeds, n_test) = ({n_seeds}, {y_true.size}) predictions, got {shapes}")
    for name, values in (("y_true", y_true), *stacks.items()):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} has labels outside 0..{num_classes - 1}: [{values.min()}, {values.max()}]")
    if n_boot < 1 or chunk < 1:
        raise ValueError(f"n_boot and chunk must be positive, got {n_boot} and {chunk}")
    if groups is None:
        group_index = np.arange(y_true.size)
    elif np.shape(groups) != y_true.shape:
        raise ValueError(f"groups must give one id per test item ({y_true.size}), got shape {np.shape(groups)}")
    else:
        group_index = np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
    n_groups, cells = int(group_index.max()) + 1, num_classes * num_classes

    def group_counts(predicted: np.ndarray) -> np.ndarray:
        """``(n_groups, K * K)``: each group's confusion counts."""
        codes = (group_index * num_classes + y_true) * num_classes + predicted
        return np.bincount(codes, minlength=n_groups * cells).reshape(n_groups, cells).astype(float)

    def score(cms: np.ndarray) -> np.ndarray:
        return stacked_scores(cms.reshape(-1, num_classes, num_classes))[metric]

    counts = {name: [group_counts(row) for row in stack] for name, stack in stacks.items()}
    means = {name: np.mean([score(c.sum(axis=0))[0] for c in rows], axis=0) for name, rows in counts.items()}
    estimate = {name: float(mean) if np.ndim(mean) == 0 else mean for name, mean in means.items()}
    group_rng, seed_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    replicates = {name: [] for name in stacks}
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        weights = group_rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=size)  # (size, n_groups)
        seed_rows = seed_rng.integers(0, n_seeds, size=(size, n_seeds))
        for name, rows in counts.items():
            per_seed = np.stack([score(weights @ c) for c in rows])  # (n_seeds, size)
            replicates[name].append(per_seed[seed_rows, np.arange(size)[:, None]].mean(axis=1))
    return Bootstrap(metric, estimate, {name: np.concatenate(parts) for name, parts in replicates.items()})


def _predictions(table: pd.DataFrame, methods: Sequence[str], fraction: float) -> dict[str, np.ndarray]:
    """``{method: (n_seeds, n_test)}`` at ``fraction``, rows ordered by seed; every method needs the same seeds."""
    if "predicted" not in table:
        raise ValueError("the table has no 'predicted' column: use the table returned by label_efficiency")
    stacks, seeds = {}, None
    for method in methods:
        rows = table[(table["method"] == method) & np.isclose(table["fraction"], fraction)].sort_values("seed")
        if rows.empty:
            raise ValueError(f"no run of method {method!r} at fraction {fraction} (methods: "
                             f"{sorted(table['method'].unique())}, fractions: {sorted(table['fraction'].unique())})")
        if seeds is not None and rows["seed"].tolist() != seeds:
            raise ValueError(f"method {method!r} ran with seeds {rows['seed'].tolist()}, not the seeds {seeds} of the "
                             "other methods: a paired comparison needs the same seeds")
        seeds = rows["seed"].tolist()
        stacks[method] = np.stack(rows["predicted"].to_list())
    return stacks


def efficiency_intervals(table: pd.DataFrame, y_test: np.ndarray, num_classes: int, metric: str = "macro_f1",
                         level: float = 0.95, n_boot: int = 1000, seed: int = 0,
                         groups: np.ndarray | None = None) -> pd.DataFrame:
    """One row per method and fraction: ``estimate`` (mean over seeds), ``low``, ``high`` (two-level bootstrap
    interval at ``level``, test items resampled by ``groups`` when given), ``level`` and ``n_seeds``."""
    rows = []
    for fraction in sorted(table["fraction"].unique()):
        methods = list(dict.fromkeys(table.loc[np.isclose(table["fraction"], fraction), "method"]))
        boot = bootstrap_scores(y_test, _predictions(table, methods, fraction), num_classes, metric, n_boot, seed,
                                groups)
        for method in methods:
            estimate, low, high = boot.interval(method, level)
            n_seeds = int(((table["method"] == method) & np.isclose(table["fraction"], fraction)).sum())
            rows.append({"method": method, "fraction": float(fraction), "metric": metric, "estimate": estimate,
                         "low": low, "high": high, "level": level, "n_seeds": n_seeds})
    return pd.DataFrame(rows)


def paired_differences(table: pd.DataFrame, y_test: np.ndarray, num_classes: int,
                       pairs: Sequence[tuple[str, str]], metric: str = "macro_f1", level: float = 0.95,
                       n_boot: int = 1000, seed: int = 0, groups: np.ndarray | None = None) -> pd.DataFrame:
    """One row per ``(a, b)`` pair and fraction: the paired difference ``a - b`` of ``metric`` with its interval
    (``difference``, ``low``, ``high``; test items resampled by ``groups`` when given), ``level``, ``n_seeds`` and
    ``verdict``: ``"a > b"``, ``"a < b"`` when the interval excludes 0, else ``"no difference shown"``."""
    rows = []
    for fraction in sorted(table["fraction"].unique()):
        methods = list(dict.fromkeys(name for pair in pairs for name in pair))
        stacks = _predictions(table, methods, fraction)
        boot = bootstrap_scores(y_test, stacks, num_classes, metric, n_boot, seed, groups)
        for a, b in pairs:
            difference, low, high = boot.difference(a, b, level)
            verdict = f"{a} > {b}" if low > 0 else f"{a} < {b}" if high < 0 else "no difference shown"
            rows.append({"a": a, "b": b, "fraction": float(fraction), "metric": metric, "difference": difference,
                         "low": low, "high": high, "level": level, "n_seeds": len(stacks[a]), "verdict": verdict})
    return pd.DataFrame(rows)


def plot_paired_differences(differences: pd.DataFrame, ax=None, labels: dict[float, str] | None = None):
    """One row per comparison ``a − b`` of the table of :func:`paired_differences`, one marker per label fraction
    with its interval as a horizontal bar; filled markers where the interval excludes 0 (a difference this run
    establishes), hollow ones where it holds 0. ``labels`` names each fraction in the legend (e.g. with its number
    of labels). Returns the axes."""
    import matplotlib.pyplot as plt

    from sitsbench.metrics import METRIC_TITLES

    comparisons = list(dict.fromkeys(differences["a"] + " − " + differences["b"]))
    fractions = sorted(differences["fraction"].unique())
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.45 * len(comparisons) * max(1, len(fractions) / 2) + 1.5))
    offsets = np.linspace(-0.25, 0.25, len(fractions)) if len(fractions) > 1 else np.zeros(1)
    colours = plt.get_cmap("viridis", len(fractions) + 1)
    for k, fraction in enumerate(fractions):
        rows = differences[np.isclose(differences["fraction"], fraction)]
        position = np.array([comparisons.index(f"{a} − {b}") for a, b in zip(rows["a"], rows["b"])]) + offsets[k]
        shown = ((rows["low"] > 0) | (rows["high"] < 0)).to_numpy()
        error = np.vstack([rows["difference"] - rows["low"], rows["high"] - rows["difference"]])
        name = (labels or {}).get(fraction, f"{fraction:.0%} of the labels")
        ax.errorbar(rows["difference"], position, xerr=error, fmt="none", ecolor=colours(k), elinewidth=1.5, label=name)
        ax.scatter(rows["difference"][shown], position[shown], color=colours(k), zorder=3)
        ax.scatter(rows["difference"][~shown], position[~shown], facecolor="white", edgecolor=colours(k), zorder=3)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_yticks(range(len(comparisons)), comparisons)
    ax.invert_yaxis()
    metric = METRIC_TITLES.get(differences["metric"].iloc[0], differences["metric"].iloc[0]) if len(differences) else ""
    ax.set_xlabel(f"paired difference of test {metric} (a − b) with its 95 % interval")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, title="filled: interval excludes 0", title_fontsize=8)
    return ax


INTERVAL_METRICS = ("oa", "macro_f1", "kappa")
"""The scores whose interval :func:`score_intervals` gives and :func:`describe_scores` prints."""


def score_intervals(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, groups: np.ndarray | None = None,
                    level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> dict[str, list[float]]:
    """``{metric: [low, high]}``: the bootstrap interval at ``level`` of each of :data:`INTERVAL_METRICS` for one
    set of predictions, test items resampled by ``groups`` when given (what ``sitsbench train`` and ``evaluate``
    print beside their scores)."""
    predictions = {"model": np.asarray(y_pred)[None]}
    return {metric: list(bootstrap_scores(y_true, predictions, num_classes, metric, n_boot, seed,
                                          groups).interval("model", level)[1:])
            for metric in INTERVAL_METRICS}


def describe_scores(metrics: dict, level: float = 0.95) -> str:
    """``OA 0.912 [0.881, 0.940], macro-F1 ..., kappa ...``: the scores of ``metrics`` (a dict of
    :func:`sitsbench.metrics.classification_metrics`) with their interval at ``level`` where ``metrics["interval"]``
    holds one (:func:`score_intervals`)."""
    from sitsbench.metrics import METRIC_TITLES

    intervals = metrics.get("interval", {})
    parts = []
    for metric in INTERVAL_METRICS:
        text = f"{METRIC_TITLES[metric]} {metrics[metric]:.3f}"
        if metric in intervals:
            low, high = intervals[metric]
            text += f" [{low:.3f}, {high:.3f}]"
        parts.append(text)
    unit = metrics.get("interval_unit")
    return ", ".join(parts) + (f" ({level:.0%} interval, bootstrap over {unit})" if intervals and unit else "")
