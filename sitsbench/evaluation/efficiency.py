"""Label-efficiency curves: test score vs the fraction of training labels, per method, over several seeds.

The question SSL must answer for SITS is not "how good with every label" but "how much of it with 1 % of the
labels" (Hénaff et al. 2020, "Data-Efficient Image Recognition with Contrastive Predictive Coding", ICML; for
SITS, Yuan & Lin 2021). :func:`label_efficiency` runs every method on the same **nested, stratified** label subsets
(:mod:`sitsbench.evaluation.label_fraction`) for every seed, scores it on one common test set, and returns a tidy
table (one row per method x fraction x seed, with the predictions, from which
:mod:`sitsbench.intervals` draws bootstrap intervals); :func:`plot_label_efficiency` draws the mean
curve of each method with a band (std or min-max over the seeds, or the 95 % bootstrap interval).

A method is an :class:`EfficiencyMethod`: the labels of the units it can be given labels for (pixels, or parcels
for Deep-STaR), ``fit_predict(indices, seed)`` that trains on those units and predicts the common test items, and
the ``method`` and ``encoder`` its score rows carry. :func:`efficiency_rows` gives the rows of a run record
(:mod:`sitsbench.records`): the scores of the table, its intervals and paired differences.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from torch.utils.data import Dataset, Subset

from sitsbench.evaluation.label_fraction import nested_subsets
from sitsbench.evaluation.protocols import PROTOCOL_TITLES, FineTuneConfig, fine_tune, probe
from sitsbench.metrics import METRIC_TITLES, scores
from sitsbench.models.base import SITSClassifier
from sitsbench.planes.dataset import PlaneDataset, predict_parcels
from sitsbench.records import check_differences, check_intervals, score_row
from sitsbench.training.engine import predict


@dataclass
class EfficiencyMethod:
    """``train_labels``: labels of the units labels are drawn from; ``fit_predict(indices, seed)``: train on the
    units ``indices`` with ``seed`` and return the predicted class of every test item; ``unit``: what a label is;
    ``method`` and ``encoder``: what its score rows name (``method`` ``None``: its name in the methods given to
    :func:`label_efficiency`)."""

    train_labels: np.ndarray
    fit_predict: Callable[[np.ndarray, int], np.ndarray]
    unit: str = "pixel"
    method: str | None = None
    encoder: str | None = None


def probe_method(name: str, train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
                 encoder: str | None = None, method: str | None = None) -> EfficiencyMethod:
    """Probe ``name`` (``"linear"``, ``"knn"``, ``"random_forest"``) on fixed features (frozen embeddings, raw series)
    of ``encoder``; its score rows name it ``method`` (default: :data:`PROTOCOL_TITLES`)."""
    train_labels = np.asarray(train_labels)

    def fit_predict(indices: np.ndarray, seed: int) -> np.ndarray:
        return probe(name, (train_features[indices], train_labels[indices]), test_features, seed)

    return EfficiencyMethod(train_labels, fit_predict, method=method or PROTOCOL_TITLES[name], encoder=encoder)


def network_method(build: Callable[[int], SITSClassifier], train: Dataset, test: Dataset, num_classes: int,
                   config: FineTuneConfig, encoder: str | None = None) -> EfficiencyMethod:
    """Fine-tune ``build(seed)`` (the pretrained ``encoder``: method ``fine-tuned``; a random one when ``encoder`` is
    ``None``: method ``supervised``) on the labelled training items, predict ``test``. ``train`` must expose its
    labels as ``train.y``."""

    def fit_predict(indices: np.ndarray, seed: int) -> np.ndarray:
        seeded = replace(config, train=replace(config.train, seed=seed))
        model = fine_tune(build(seed), num_classes, Subset(train, indices.tolist()), seeded)
        return predict(model, test, device=config.train.device)[1]

    return EfficiencyMethod(np.asarray(train.y), fit_predict, method=PROTOCOL_TITLES["fine-tune"] if encoder else
                            "supervised", encoder=encoder)


def plane_network_method(build: Callable[[int], SITSClassifier], train: PlaneDataset, test: PlaneDataset,
                         test_parcel: np.ndarray, num_classes: int, config: FineTuneConfig) -> EfficiencyMethod:
    """Deep-STaR (Chelali et al. 2021) under the label budget: labels are given per **parcel** (the STRs of a
    labelled training parcel), the plane network decides per test parcel (mean STR probability), and every test
    item (pixel) of ``test_parcel`` gets its parcel's class, so that its score is comparable with pixel methods."""
    parcel_ids, first = np.unique(train.planes.parcel, return_index=True)

    def fit_predict(indices: np.ndarray, seed: int) -> np.ndarray:
        strs = np.flatnonzero(np.isin(train.planes.parcel, parcel_ids[indices]))
        seeded = replace(config, train=replace(config.train, seed=seed))
        model = fine_tune(build(seed), num_classes, Subset(train, strs.tolist()), seeded)
        ids, _, proba = predict_parcels(model, test, device=config.train.device)
        decision = dict(zip(ids.tolist(), proba.argmax(axis=1).tolist()))
        missing = sorted(set(np.unique(test_parcel).tolist()) - set(decision))
        if missing:
            raise ValueError(f"test_parcel has parcels {missing[:5]} with no STR in the test plane dataset")
        return np.array([decision[p] for p in np.asarray(test_parcel).tolist()])

    return EfficiencyMethod(train.y[first], fit_predict, unit="parcel", method="Deep-STaR")


def label_efficiency(methods: dict[str, EfficiencyMethod], y_test: np.ndarray, fractions: Sequence[float],
                     seeds: Sequence[int], num_classes: int, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Tidy table: one row per method x fraction x seed with ``unit``, ``n_labels``, ``oa``, ``macro_f1``,
    ``time_s`` and ``predicted`` (the predicted class of every test item, for bootstrap intervals; drop it before
    writing the table as JSON). For a seed, all fractions of a method draw nested subsets of its units."""
    rows = []
    for name, method in methods.items():
        for seed in seeds:
            for fraction, indices in nested_subsets(method.train_labels, fractions, seed).items():
                start = time.perf_counter()
                predicted = method.fit_predict(indices, seed)
                elapsed = time.perf_counter() - start
                row = {"method": name, "unit": method.unit, "fraction": fraction, "seed": seed,
                       "n_labels": int(indices.size), **scores(y_test, predicted, num_classes), "time_s": elapsed,
                       "predicted": np.asarray(predicted)}
                rows.append(row)
                if log is not None:
                    log(f"{name} seed {seed} {fraction:.0%}: macro-F1 {row['macro_f1']:.3f} ({elapsed:.1f} s)")
    return pd.DataFrame(rows)


def efficiency_rows(table: pd.DataFrame, methods: dict[str, EfficiencyMethod], dataset: str, unit: str,
                    metrics: Sequence[str] = ("oa", "macro_f1"), intervals: Sequence[pd.DataFrame] = (),
                    differences: Sequence[pd.DataFrame] = ()) -> dict[str, list[dict]]:
    """The rows of a run record (:mod:`sitsbench.records`) for the table of :func:`label_efficiency` run with
    ``methods`` on test items of ``unit`` (``pixel``, ``sample``): ``scores``, one row per run and metric of
    ``metrics`` with its training time and label count (``label_unit`` when a label is not a test item, e.g. a
    parcel); ``intervals`` (tables of :func:`~sitsbench.intervals.efficiency_intervals`) and ``differences``
    (tables of :func:`~sitsbench.intervals.paired_differences`): each method named by its ``method`` and
    ``encoder``."""
    def identity(name: str, prefix: str = "") -> dict:
        return {f"{prefix}method": methods[name].method or name, f"{prefix}encoder": methods[name].encoder}

    scores = [score_row(dataset, metric=metric, value=row[metric], unit=unit, label_fraction=row["fraction"],
                        seed=int(row["seed"]), train_time_s=row["time_s"], n_labels=int(row["n_labels"]),
                        label_unit=None if row["unit"] == unit else row["unit"], **identity(row["method"]))
              for row in table.to_dict("records") for metric in metrics]
    spans = [{"dataset": dataset, **identity(row["method"]), "unit": unit, "label_fraction": row["fraction"],
              **{key: row[key] for key in ("metric", "estimate", "low", "high", "level")}}
             for frame in intervals for row in frame.to_dict("records")]
    gaps = [{"dataset": dataset, **identity(row["a"]), **identity(row["b"], "versus_"), "unit": unit,
             "label_fraction": row["fraction"],
             **{key: row[key] for key in ("metric", "difference", "low", "high", "level")}}
            for frame in differences for row in frame.to_dict("records")]
    return {"scores": scores, "intervals": check_intervals(spans), "differences": check_differences(gaps)}


def summarize(table: pd.DataFrame, metric: str = "macro_f1") -> pd.DataFrame:
    """Mean, std, min and max of ``metric`` over the seeds, per method and fraction."""
    if metric not in table:
        raise ValueError(f"metric {metric!r} is not a column of the table ({list(table.columns)})")
    return table.groupby(["method", "fraction"], sort=False)[metric].agg(["mean", "std", "min", "max", "count"])


def plot_label_efficiency(table: pd.DataFrame, metric: str = "macro_f1", band: str | None = "std", ax=None,
                          chance: float | None = None, chance_label: str = "chance",
                          intervals: pd.DataFrame | None = None):
    """Mean ``metric`` vs label fraction (log x axis) per method, with a band of +-1 std (``band="std"``) or the
    min-max range (``"minmax"``) over the seeds, or the bootstrap interval (``"ci"``: give ``intervals``, the
    table of :func:`~sitsbench.intervals.efficiency_intervals` for ``metric``), or none (``None``: the
    bands of many methods hide each other; compare them with
    :func:`~sitsbench.intervals.plot_paired_differences` instead); ``chance`` draws a reference line
    labelled ``chance_label``. Returns the axes."""
    if band not in ("std", "minmax", "ci", None):
        raise ValueError(f"band must be 'std', 'minmax', 'ci' or None, got {band!r}")
    if band == "ci" and (intervals is None or set(intervals["metric"]) != {metric}):
        raise ValueError(f"band='ci' needs the intervals of {metric!r} (efficiency_intervals(..., metric={metric!r}))")
    summary = summarize(table, metric)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 5))
    for method in summary.index.get_level_values("method").unique():
        part = summary.loc[method]
        fractions = 100 * part.index.to_numpy(dtype=float)
        line, = ax.plot(fractions, part["mean"], "o-", label=method)
        if band is None:
            continue
        if band == "ci":
            bounds = intervals[intervals["method"] == method].set_index("fraction").loc[part.index]
            low, high = bounds["low"], bounds["high"]
        elif band == "std":
            low, high = part["mean"] - part["std"].fillna(0), part["mean"] + part["std"].fillna(0)
        else:
            low, high = part["min"], part["max"]
        ax.fill_between(fractions, low, high, color=line.get_color(), alpha=0.2)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", label=chance_label)
    ax.set_xscale("log")
    ticks = 100 * np.sort(table["fraction"].unique().astype(float))
    ax.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
    ax.minorticks_off()
    ax.set_xlabel("labelled training fraction (%)")
    ax.set_ylabel(f"test {METRIC_TITLES.get(metric, metric)}")
    band_name = {"std": "±1 std", "minmax": "min–max", "ci": "95 % bootstrap interval", None: ""}[band]
    ax.set_title(f"label efficiency (mean over seeds{', band: ' + band_name if band else ''})")
    ax.legend(fontsize=8)
    return ax
