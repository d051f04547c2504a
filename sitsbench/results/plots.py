"""The standard benchmark plots, drawn from the score table of :func:`sitsbench.results.collect.collect`.

* **Label-efficiency curves** (as in Chen et al. 2020, "Big Self-Supervised Models are Strong Semi-Supervised
  Learners"): the score of each method against the fraction of training labels (log scale), mean over seeds
  with a ±1 standard deviation band.
* **Accuracy vs training time**: one point per method (mean over seeds, error bars ±1 std on both axes), for
  the methods whose records give a ``train_time_s``.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

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


def plot_label_efficiency(scores: pd.DataFrame, metric: str = "macro_f1", ax=None, title: str | None = None):
    """Score vs label fraction per method (mean line, ±1 std band); methods seen at one fraction are skipped."""
    data = _with_setting(scores[scores["metric"] == metric])
    stats = seed_statistics(data, ["method", "label_fraction"])
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    for method, curve in stats.groupby("method", sort=True):
        if len(curve) < 2:
            continue
        curve = curve.sort_values("label_fraction")
        (line,) = ax.plot(curve["label_fraction"], curve["mean"], marker="o", label=method)
        ax.fill_between(curve["label_fraction"], curve["mean"] - curve["std"], curve["mean"] + curve["std"],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    ax.set_xlabel("fraction of training labels")
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    ax.set_title(title or "label efficiency")
    ax.legend(fontsize="small")
    return ax.figure


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
            figure = plot_label_efficiency(group, label_metric, title=f"label efficiency: {title}")
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
