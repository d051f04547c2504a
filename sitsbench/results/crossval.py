"""The book's cross-validation page: the records of ``sitsbench validate`` kept in the repository, as a table with
their intervals and, per data set, the paragraph that compares a grouped and a per-sample protocol with both numbers.

``sitsbench validate DATASET --model NAME --split-policy POLICY --record results/crossval/<name>.json`` writes a
record (:mod:`sitsbench.evaluation.crossval`); :func:`crossval_page` reads every record of :data:`CROSSVAL_RESULTS`
and writes each number from it, data named by ``DATA_ROOT`` (:func:`sitsbench.results.collect.data_argument`).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd

from sitsbench.records import read_run_record
from sitsbench.results.collect import data_argument
from sitsbench.results.real_data import markdown_table

REPO_ROOT = Path(__file__).resolve().parents[2]
CROSSVAL_RESULTS = REPO_ROOT / "results" / "crossval"
"""The committed folder of ``sitsbench validate`` records shown in the book."""
POLICY_ORDER = ("random", "group", "spatial-blocks", "predefined")


def _cell(interval: dict) -> str:
    if interval.get("estimate") is None:
        return "–"
    if interval.get("low") is None:
        return f"{interval['estimate']:.3f}"
    return f"{interval['estimate']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def _width(interval: dict) -> float:
    return float("nan") if interval.get("low") is None else interval["high"] - interval["low"]


def _command(record: dict, data_root: str | Path | None) -> str:
    parameters = record["parameters"]
    words = ["sitsbench", "validate", str(data_argument(parameters["dataset"], data_root)), "--model",
             parameters["model"], "--folds", str(parameters["folds"]), "--repeats", str(parameters["repeats"]),
             "--split-policy", parameters["split_policy"], "--seed", str(parameters["seed"])]
    if parameters.get("block_size") is not None:
        words += ["--block-size", f"{parameters['block_size']:g}"]
    if parameters["model"] == "rf":
        words += ["--trees", str(parameters["trees"])]
    return shlex.join(words)


def _row(record: dict) -> dict:
    metrics, protocol = record["metrics"], record["metrics"]["protocol"]
    return {"model": record["parameters"]["model"], "policy": protocol["policy"],
            "folds": f"{protocol['folds']} x {protocol['repeats']}",
            "units": f"{protocol['n_units']} {protocol['unit']}",
            "OA (pooled)": _cell(metrics["pooled"]["oa"]), "macro-F1 (pooled)": _cell(metrics["pooled"]["macro_f1"]),
            "kappa (pooled)": _cell(metrics["pooled"]["kappa"]), "OA (mean of folds)": _cell(metrics["over_folds"]["oa"])}


def _comparison(dataset: str, records: list[dict]) -> list[str]:
    """The paragraph that sets the per-sample and the grouped score of one model side by side, when both ran."""
    lines = []
    for model in sorted({r["parameters"]["model"] for r in records}):
        by_policy = {r["metrics"]["protocol"]["policy"]: r["metrics"] for r in records
                     if r["parameters"]["model"] == model}
        if not {"random", "group"} <= set(by_policy):
            continue
        single, grouped = by_policy["random"], by_policy["group"]
        n_groups, n_samples = grouped["protocol"]["n_units"], single["protocol"]["n_units"]
        gap = single["pooled"]["oa"]["estimate"] - grouped["pooled"]["oa"]["estimate"]
        text = (f"On {dataset}, {model} reaches OA {_cell(single['pooled']['oa'])} when the folds cut single samples "
                f"({n_samples} of them) and {_cell(grouped['pooled']['oa'])} when they keep the {n_groups} groups "
                f"whole ({gap:+.3f} for the per-sample protocol). ")
        if n_groups == n_samples:
            text += ("Each group holds one sample here, so both protocols cut the same units and differ only by "
                     "their random folds.")
        elif gap > 0:
            text += (f"The samples of one group ({n_samples / n_groups:.1f} on average) are correlated: cut one by "
                     "one, the test folds hold near-copies of training samples, so the per-sample score also rewards "
                     "recognising places the model was trained on, while the grouped one measures how well it "
                     "classifies new places, which is what a map asks of it.")
            if _width(grouped["pooled"]["oa"]) > _width(single["pooled"]["oa"]):
                text += (f" The grouped interval is wider too: it resamples {n_groups} groups, not {n_samples} "
                         "samples.")
        else:
            text += ("Keeping the groups whole costs nothing here: the model does not draw on near-copies of its "
                     "training samples.")
        lines += [text, ""]
    return lines


def crossval_page(results_dir: str | Path | None = None, data_root: str | Path | None = None,
                  published_dir: Path = CROSSVAL_RESULTS) -> str:
    """The ``crossval.md`` page (``results_dir``, the build's run folder, is not read: these records are kept in the
    repository)."""
    paths = sorted(published_dir.glob("*.json")) if published_dir.is_dir() else []
    lines = ["# Cross-validation", "",
             "Cross-validated scores of map models on real labelled samples, written by `sitsbench validate` into the "
             "repository's `results/crossval/` folder. Each score is given with two 95 % intervals: **pooled**, every "
             "sample's out-of-fold prediction scored at once with a bootstrap over the protocol's units (samples, "
             "groups or spatial blocks); **mean of folds**, the mean of the per-fold scores with the corrected "
             "resampled t interval of Nadeau & Bengio (2003), wider than the naive one because the training folds "
             "overlap.", ""]
    if not paths:
        return "\n".join([*lines, "No cross-validation record is published yet.", ""])
    records = [read_run_record(path) for path in paths]
    datasets: dict[str, list[dict]] = {}
    for record in records:
        datasets.setdefault(str(data_argument(record["parameters"]["dataset"], data_root)), []).append(record)
    for dataset, group in sorted(datasets.items()):
        group.sort(key=lambda r: (r["parameters"]["model"], POLICY_ORDER.index(r["metrics"]["protocol"]["policy"])))
        table = pd.DataFrame([_row(r) for r in group]).set_index("model")
        lines += [f"## `{dataset}`", "", *markdown_table(table, "undefined on this data."), "",
                  *_comparison(f"`{dataset}`", group), "Protocols:", ""]
        lines += [f"- {r['metrics']['protocol']['policy']}: {r['metrics']['protocol']['words']}." for r in group]
        lines += ["", "Commands:", "", "```bash", *[_command(r, data_root) for r in group], "```", ""]
    return "\n".join(lines)
