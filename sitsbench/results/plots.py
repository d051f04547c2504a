"""The standard benchmark plots, drawn from the score table of :func:`sitsbench.results.collect.collect`.

* **Label-efficiency curves** (as in Chen et al. 2020, "Big Self-Supervised Models are Strong Semi-Supervised
  Learners"): the score of each method against the fraction of training labels (log scale), mean over seeds
  with a ±1 standard deviation band, drawn by :func:`sitsbench.evaluation.efficiency.plot_label_efficiency` from
  :func:`efficiency_table`.
* **Accuracy vs training time**: one point per method (mean over seeds, error bars ±1 std on both axes), for
  the methods whose records give a ``train_time_s``.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from sitsbench.evaluation.efficiency import plot_label_efficiency
from sitsbench.results.collect import method_label

SERIES = ["name", "dataset"]
"""One figure per notebook and dataset; a method run with different settings gives one curve per setting."""


def seed_statistics(scores: pd.DataFrame, by: list[str], column: str = "value") -> pd.DataFrame:
    """Mean, sample standard deviation (ddof=1, 0 for a single run) and count of ``column`` per group."""
    grouped = scores.groupby(by, dropna=False, sort=True)[column]
    stats = grouped.agg(["mean", "std", "count"]).reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    return stats


def _with_setting(scores: pd.DataFrame) -> pd.DataFrame:
    """``method`` as shown: with its encoder (:func:`~sitsbench.results.collect.method_label`) and the run
    setting (``linear probe / simclr [lr=0.01]``) when the runs differ by their settings; the scored unit when
    there are several."""
    label = method_label(scores)
    if scores["unit"].nunique() > 1:  # pixels and parcels of one method are two curves
        label = label + " (" + scores["unit"] + ")"
    if "setting" in scores and scores["setting"].astype(bool).any():
        label = label + scores["setting"].map(lambda s: f" [{s}]" if s else "")
    return scores.assign(method=label)


def efficiency_table(scores: pd.DataFrame, metric: str = "macro_f1") -> pd.DataFrame:
    """The rows of ``metric`` as the table that :func:`sitsbench.evaluation.efficiency.plot_label_efficiency` draws
    (``method``, ``fraction``, ``seed``, ``metric``), each method named as shown (with its encoder, unit and setting);
    methods seen at one label fraction only are left out (no curve to draw)."""
    data = _with_setting(scores[scores["metric"] == metric])
    fractions = data.groupby("method")["label_fraction"].nunique()
    data = data[data["method"].isin(fractions.index[fractions >= 2])]
    table = data.rename(columns={"label_fraction": "fraction", "value": metric})[["method", "fraction", "seed", metric]]
    return table.sort_values(["method", "fraction", "seed"]).reset_index(drop=True)


def plot_accuracy_vs_time(scores: pd.DataFrame, metric: str = "oa", ax=None, title: str | None = None):
    """Mean score against mean training time per method, with ±1 std error bars over seeds (methods with a
    positive training time)."""
    # a time of 0 (a baseline that does not train, e.g. the majority class) has no place on the log axis
    data = _with_setting(scores[(scores["metric"] == metric) & (scores["train_time_s"] > 0)])
    score_stats = seed_statistics(data, ["method"])
    time_stats = seed_statistics(data, ["method"], column="train_time_s")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    for (_, s), (_, t) in zip(score_stats.iterrows(), time_stats.iterrows()):
        ax.errorbar(t["mean"], s["mean"], xerr=t["std"], yerr=s["std"], fmt="o", capsize=3, label=s["method"])
    ax.set_xscale("log")
    ax.set_xlabel("training time (s, log scale)")
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    ax.set_title(title or f"{metric} vs training time")
    ax.legend(fontsize="small")
    return ax.figure


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-")[:60]


def standard_plots(scores: pd.DataFrame, out_dir: str | Path, label_metric: str = "macro_f1",
                   time_metric: str = "oa") -> list[Path]:
    """Save the label-efficiency and accuracy-vs-time figures of every notebook/dataset/configuration.

    A figure is drawn only when it has something to show (a method at two label fractions or more; a method
    with a training time). Returns the PNG files written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for (name, dataset), group in scores.groupby(SERIES, sort=True):
        title = f"{name} on {dataset}"
        curves = group[group["metric"] == label_metric].groupby(["method", "encoder", "unit", "setting"])["label_fraction"].nunique()
        if (curves >= 2).any():
            axes = plot_label_efficiency(efficiency_table(group, label_metric), label_metric)
            axes.set_title(f"label efficiency: {title}")
            figure = axes.figure
            written.append(out_dir / f"label_efficiency_{_slug(name)}_{_slug(dataset)}.png")
            figure.savefig(written[-1], dpi=110, bbox_inches="tight")
            plt.close(figure)
        timed = group[(group["metric"] == time_metric) & (group["train_time_s"] > 0)]
        if len(timed):
            figure = plot_accuracy_vs_time(group, time_metric, title=f"{time_metric} vs training time: {title}")
            written.append(out_dir / f"accuracy_vs_time_{_slug(name)}_{_slug(dataset)}.png")
            figure.savefig(written[-1], dpi=110, bbox_inches="tight")
            plt.close(figure)
    return written
