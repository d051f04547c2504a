"""The book's cross-validation page: the records of ``sitsbench validate`` kept in the repository, per data set as a
table of models x protocols with their intervals, the paragraph that compares a grouped and a per-sample protocol with
both numbers of every model, and what the intervals can and cannot tell apart; and these records' score rows for the
book's leaderboard (:func:`crossval_collection`).

``sitsbench validate DATASET --model NAME --split-policy POLICY --record results/crossval/<name>.json`` writes a
record (:mod:`sitsbench.evaluation.crossval`); :func:`crossval_page` reads every record of :data:`CROSSVAL_RESULTS`
and writes each number from it, data named by ``DATA_ROOT`` (:func:`sitsbench.results.collect.data_argument`): the
pooled intervals from the record's ``intervals`` rows, the protocol from its parameters and its ``dataset`` block
(``split``). A record written before record version 2 has no intervals: ``sitsbench results upgrade FILE...``
gives it them (:func:`sitsbench.evaluation.crossval.upgrade_record`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from sitsbench.records import read_run_record
from sitsbench.results.collect import Collection, collect, data_argument, reproduce_command, with_settings
from sitsbench.results.leaderboard import metric_title
from sitsbench.results.real_data import markdown_table

REPO_ROOT = Path(__file__).resolve().parents[2]
CROSSVAL_RESULTS = REPO_ROOT / "results" / "crossval"
"""The committed folder of ``sitsbench validate`` records shown in the book."""
POLICY_ORDER = ("random", "group", "spatial-blocks", "predefined")
RANK_POLICY = ("group", "spatial-blocks", "predefined", "random")
"""The protocol whose OA orders a table's models, first present first: the grouped one, what a map asks of a model."""


def _cell(interval: dict) -> str:
    if math.isnan(interval["estimate"]):
        return "–"
    if interval.get("low") is None:
        return f"{interval['estimate']:.3f}"
    return f"{interval['estimate']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def _width(interval: dict) -> float:
    return float("nan") if interval.get("low") is None else interval["high"] - interval["low"]


def _overlap(a: dict, b: dict) -> bool:
    """Whether two intervals share a value (``True`` when one of them has no bounds: nothing tells them apart)."""
    if a.get("low") is None or b.get("low") is None:
        return True
    return a["low"] <= b["high"] and b["low"] <= a["high"]


def _training(parameters: dict) -> str:
    """How the model was trained: the Random Forest's trees, a network's recipe (``quick recipe`` when the run set
    some of its knobs, e.g. fewer epochs to fit a CPU), the reference configuration of the other estimators."""
    from sitsbench.models.classical import CLASSICAL

    model = parameters["model"]
    if model == "rf":
        text = f"{parameters['trees']} trees"
    elif model in CLASSICAL:
        text = "reference configuration"
    else:
        knobs = {knob: parameters.get(knob) for knob in ("epochs", "patience", "lr", "batch_size")}
        chosen = ", ".join(f"{knob.replace('_', ' ')} {value:g}" for knob, value in knobs.items() if value is not None)
        text = f"quick recipe: {chosen}" if chosen else "reference recipe"
    return text + (f", args {parameters['model_args']}" if parameters.get("model_args") else "")


def _policy(record: dict) -> str:
    return record["parameters"]["split_policy"]


def _pooled(record: dict) -> dict[str, dict]:
    """``metric -> interval row``: the record's pooled scores with their intervals."""
    return {row["metric"]: row for row in record["intervals"]}


def _by_model(records: list[dict]) -> dict[str, dict[str, dict]]:
    """``model -> policy -> record`` of one data set's records."""
    models: dict[str, dict[str, dict]] = {}
    for record in records:
        models.setdefault(record["parameters"]["model"], {})[_policy(record)] = record
    return models


def _rank(by_policy: dict[str, dict]) -> tuple[int, float]:
    """The sort key of a model: the models scored by the first protocol of :data:`RANK_POLICY` come first (a model
    with per-sample folds only never outranks a grouped score), best OA first."""
    policy = next(p for p in RANK_POLICY if p in by_policy)
    return (RANK_POLICY.index(policy), -_pooled(by_policy[policy])["oa"]["estimate"])


def _table(models: dict[str, dict[str, dict]]) -> pd.DataFrame:
    """One row per model (best pooled OA of the grouped protocol first), OA and macro-F1 of every protocol."""
    policies = [p for p in POLICY_ORDER if any(p in by_policy for by_policy in models.values())]
    rows = []
    for model, by_policy in sorted(models.items(), key=lambda item: (_rank(item[1]), item[0])):
        row = {"model": model, "training": _training(next(iter(by_policy.values()))["parameters"])}
        for metric in ("oa", "macro_f1"):
            row.update({f"{metric_title(metric)} ({policy})": _cell(_pooled(by_policy[policy])[metric])
                        if policy in by_policy else None for policy in policies})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def _comparison(dataset: str, models: dict[str, dict[str, dict]]) -> list[str]:
    """The paragraph that sets the per-sample and the grouped score of every model that ran both side by side."""
    pairs = {model: (_pooled(by_policy["random"])["oa"], _pooled(by_policy["group"])["oa"])
             for model, by_policy in sorted(models.items(), key=lambda item: (_rank(item[1]), item[0]))
             if {"random", "group"} <= set(by_policy)}
    if not pairs:
        return []
    single, grouped = next(iter(pairs.values()))
    n_groups, n_samples = grouped["n_units"], single["n_units"]
    wider = sum(_width(g) > _width(s) for s, g in pairs.values())
    lines = ["### Grouped versus per-sample folds", ""]
    if n_groups == n_samples:
        lines += [f"Each of the {n_groups} groups of {dataset} holds one sample, so both protocols cut the same "
                  "units and differ only by their random folds: their gap below is noise of the folds, not the "
                  "correlation of neighbouring samples.", ""]
    else:
        lines += [f"{dataset} holds {n_samples} samples in {n_groups} groups ({n_samples / n_groups:.1f} samples "
                  "per group on average: a group is a location, polygon or parcel as the data set's reader defines "
                  "it). The samples of one group are correlated, near-copies of each other: per-sample folds put "
                  "some of them on both sides, so the per-sample score also rewards recognising places the model "
                  "was trained on, while grouped folds keep each group whole and measure how well the model "
                  "classifies new places, which is what a map asks of it. The grouped interval resamples "
                  f"{n_groups} groups, not {n_samples} samples: it is the wider for {wider} of {len(pairs)} models. "
                  "Pooled OA, per-sample folds then grouped folds:", ""]
    higher = apart = 0
    for model, (single, grouped) in pairs.items():
        gap = single["estimate"] - grouped["estimate"]
        overlap = _overlap(single, grouped)
        higher += gap > 0
        apart += not overlap
        lines.append(f"- {model}: {_cell(single)} per sample, {_cell(grouped)} "
                     f"grouped ({gap:+.3f} for the per-sample protocol; the intervals "
                     f"{'overlap' if overlap else 'do not overlap'}).")
    lines += ["", f"The per-sample OA is the higher for {higher} of {len(pairs)} models; the two intervals are "
              f"disjoint for {apart} of them.", ""]
    return lines


def _resolution(dataset: str, models: dict[str, dict[str, dict]]) -> list[str]:
    """What the intervals of the ranking protocol can tell apart: the best model, those it cannot be told from."""
    ranked = sorted(models.items(), key=lambda item: (_rank(item[1]), item[0]))
    if len(ranked) < 2:
        return []
    best, best_policies = ranked[0]
    policy = next(p for p in RANK_POLICY if p in best_policies)
    top = _pooled(best_policies[policy])["oa"]
    scored = [(model, _pooled(by_policy[policy])["oa"]) for model, by_policy in ranked[1:]
              if policy in by_policy]
    tied = [model for model, oa in scored if _overlap(oa, top)]
    below = [model for model, oa in scored if not _overlap(oa, top)]
    text = (f"What {dataset} can and cannot show: with {policy} folds, {best} has the highest OA, {_cell(top)}. "
            + (f"The intervals of {', '.join(tied)} overlap it: this data cannot rank these models apart. "
               if tied else "No other model's interval reaches it. ")
            + (f"The intervals of {', '.join(below)} lie below it. " if below else "")
            + "The models are scored on the same samples, so their errors are paired and the overlap of two "
            "intervals is a cautious reading: a paired test on the out-of-fold predictions could separate models "
            "whose intervals overlap, never the reverse.")
    return [text, ""]


def _published(published_dir: Path) -> list[Path]:
    return sorted(published_dir.glob("*.json")) if published_dir.is_dir() else []


def crossval_collection(data_root: str | Path | None = None, published_dir: Path = CROSSVAL_RESULTS) -> Collection:
    """The score rows of the records of ``published_dir`` for the book's leaderboard: under the notebook name
    ``validate`` and their data argument as data set (two ``sits`` sample files share the data set name
    ``sits-samples``), with the ``sitsbench validate`` command that reproduces each."""
    paths = _published(published_dir)
    collection = collect(published_dir, data_root, paths=paths)
    if collection.scores.empty:
        return collection
    datasets = {row["path"]: str(data_argument(row["param.dataset"], data_root))
                for _, row in collection.runs.iterrows()}
    scores = collection.scores.assign(name="validate", dataset=collection.scores["path"].map(datasets))
    return Collection(collection.runs, with_settings(scores), collection.errors)


def crossval_page(results_dir: str | Path | None = None, data_root: str | Path | None = None,
                  published_dir: Path = CROSSVAL_RESULTS) -> str:
    """The ``crossval.md`` page (``results_dir``, the build's run folder, is not read: these records are kept in the
    repository)."""
    paths = _published(published_dir)
    lines = ["# Cross-validation", "",
             "Cross-validated scores of map models on real labelled samples, written by `sitsbench validate` into the "
             "repository's `results/crossval/` folder: per data set, one row per model, ordered by the OA of the "
             "grouped protocol, with the overall accuracy and the macro-F1 of each protocol and their 95 % "
             "intervals, **pooled**: every sample's out-of-fold prediction scored at once with a bootstrap over the "
             "protocol's units (samples, groups or spatial blocks). The records also hold the mean of the per-fold "
             "scores with the corrected resampled t interval of Nadeau & Bengio (2003), wider than the naive one "
             "because the training folds overlap. The protocols: **random** cuts single samples at random; "
             "**group** keeps every group (location, polygon, parcel) whole. A network marked *quick recipe* was "
             "trained with fewer epochs or less patience than its reference recipe, to fit a CPU: its score may fall "
             "below what the full recipe reaches.", ""]
    if not paths:
        return "\n".join([*lines, "No cross-validation record is published yet.", ""])
    datasets: dict[str, list[dict]] = {}
    for path in paths:
        record = read_run_record(path)
        if not record["intervals"]:
            raise ValueError(f"run record {path} has no intervals (written before record version 2): run "
                             f"`sitsbench results upgrade {path}`")
        datasets.setdefault(str(data_argument(record["parameters"]["dataset"], data_root)), []).append(record)
    for dataset, group in sorted(datasets.items()):
        group.sort(key=lambda r: (r["parameters"]["model"], POLICY_ORDER.index(_policy(r))))
        models = _by_model(group)
        lines += [f"## `{dataset}`", "", *markdown_table(_table(models), "this protocol did not run."), "",
                  *_comparison(f"`{dataset}`", models), *_resolution(f"`{dataset}`", models), "Protocols:", ""]
        lines += [f"- {policy}: {words}." for policy, words in
                  {_policy(r): r["dataset"]["split"] for r in group}.items()]
        lines += ["", "Commands:", "", "```bash", *[reproduce_command(r, data_root) for r in group], "```", ""]
    return "\n".join(lines)
