"""The leaderboard page of the book (MyST markdown), generated from run records at build time.

One section per notebook and dataset; one row per method (with its encoder), scored unit, setting (the launch
parameters that differ between runs, seeds aside) and label fraction, with every score as mean ± sample standard
deviation over the seeds, the seeds (``seed 0``, ``seeds 0, 1, 2``) and the exact commands that reproduce the runs
behind each row: each names the row's dataset, profile and seeds, data by ``DATA_ROOT/...`` rather than by a path
of the machine that ran it (:func:`sitsbench.results.collect.data_argument`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from sitsbench.metrics import METRIC_TITLES
from sitsbench.results.collect import DATA_ROOT, Collection, collect, number, seeds_text
from sitsbench.results.plots import seed_statistics

ROW_KEYS = ["name", "dataset", "method", "encoder", "unit", "setting", "label_fraction"]


def format_mean_std(mean: float, std: float, count: int, digits: int = 3) -> str:
    """``0.812 ± 0.013`` (the ± part only when there are two runs or more; ``–`` for a NaN mean)."""
    if count > 1 and number(mean) != "–":
        return f"{number(mean, digits)} ± {number(std, digits)}"
    return number(mean, digits)


def labels_text(fraction: float, counts: list[str]) -> str:
    """``10%``, with the training labels behind it when the records count them: ``10% (47)``, ``1% (10 parcels)``,
    ``1% (8, 9)`` when the runs differ."""
    return f"{fraction:.0%} ({', '.join(counts)})" if counts else f"{fraction:.0%}"


def metric_title(metric: str) -> str:
    """The column title of ``metric``: its name in :data:`sitsbench.metrics.METRIC_TITLES`, else the raw name (a
    metric the leaderboard does not know is shown, never dropped)."""
    return METRIC_TITLES.get(metric, metric)


def metric_order(metrics) -> list[str]:
    """``metrics`` in the order of :data:`~sitsbench.metrics.METRIC_TITLES` (``f1``: of the one class a binary task
    scores, e.g. *changed*), then the unknown ones alphabetically."""
    known = [m for m in METRIC_TITLES if m in metrics]
    return known + sorted(set(metrics) - set(known))


def leaderboard_table(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per notebook/dataset/method/setting/label fraction: ``<metric>_mean``, ``<metric>_std``,
    ``<metric>_n`` for every metric of the score rows, the seeds, the reproducing commands of its runs and its
    training label counts."""
    if scores.empty:
        return pd.DataFrame(columns=ROW_KEYS)
    stats = seed_statistics(scores, ROW_KEYS + ["metric"])
    table = stats.pivot_table(index=ROW_KEYS, columns="metric", values=["mean", "std", "count"], sort=True)
    table.columns = [f"{metric}_{stat if stat != 'count' else 'n'}" for stat, metric in table.columns]
    runs = scores.groupby(ROW_KEYS, sort=True).agg(
        seeds=("seed", lambda s: sorted(set(s))), commands=("command", lambda c: sorted(set(c))),
        configurations=("configuration", lambda c: sorted(set(c))),
        n_labels=("n_labels", lambda n: sorted({v for v in n if isinstance(v, str) and v})))
    return table.join(runs).reset_index()


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def common_parameters(configurations: list[str]) -> dict:
    """The launch parameters (JSON configurations) that every run shares, with their value."""
    parsed = [json.loads(c) for c in configurations]
    return {k: v for k, v in parsed[0].items() if all(k in p and p[k] == v for p in parsed[1:])}


def _section(rows: pd.DataFrame) -> list[str]:
    name, dataset = rows.iloc[0][["name", "dataset"]]
    common = common_parameters(sorted({c for cs in rows["configurations"] for c in cs}))
    show_setting = rows["setting"].astype(bool).any()
    present = {c[: -len("_mean")] for c in rows.columns if c.endswith("_mean")}
    metrics = [m for m in metric_order(present) if rows[f"{m}_mean"].notna().any()]
    rank_by = next((m for m in ("macro_f1", "miou", "f1", "oa", "kappa") if m in metrics), None)
    if rank_by:
        rows = rows.sort_values(["unit", "label_fraction", f"{rank_by}_mean"], ascending=[True, True, False])
    commands = sorted({c for cs in rows["commands"] for c in cs})
    keys = {command: f"R{i + 1}" for i, command in enumerate(commands)}
    shared = ", ".join(f"{k}={v}" for k, v in sorted(common.items())) or "none"
    lines = [f"## {name} on {dataset}", "", f"Launch parameters shared by every run (seeds aside): `{shared}`", ""]
    header = ["method", "encoder", "unit", *(["setting"] if show_setting else []), "labels",
              *(metric_title(m) for m in metrics),
              "seeds", "reproduce"]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    missing: set[str] = set()
    for _, row in rows.iterrows():
        scores = [format_mean_std(row[f"{m}_mean"], row[f"{m}_std"], int(row[f"{m}_n"]))
                  if pd.notna(row.get(f"{m}_mean")) else "–" for m in metrics]
        missing |= {m for m, score in zip(metrics, scores) if score == "–"}
        cells = [_cell(row["method"]), _cell(row["encoder"] or "–"), row["unit"],
                 *([_cell(row["setting"])] if show_setting else []),
                 labels_text(row["label_fraction"], row["n_labels"]), *scores,
                 seeds_text(row["seeds"]), ", ".join(keys[c] for c in row["commands"])]
        lines.append("| " + " | ".join(cells) + " |")
    if missing:
        lines += ["", "– : the run records hold no " + " / ".join(metric_title(m) for m in metrics if m in missing)
                  + " score for this row (not computed for this method, or undefined: e.g. an F1 without any positive "
                  "test item)."]
    lines += ["", "Commands that reproduce the runs of this table:", ""]
    lines += [f"* **{key}**: `{command}`" for command, key in keys.items()]
    return lines + [""]


def render_leaderboard(scores: pd.DataFrame, errors: list[str]) -> str:
    lines = [
        "# Leaderboard",
        "",
        "Generated from the run records written when the book was built. Every score is the mean ± sample standard "
        "deviation over the seeds of one setting; **labels** is the fraction of the training labels used (with their "
        "number in brackets when the run records count them), **unit** "
        "what one test item is, **seeds** the seeds the score is averaged over. The scores are the score rows of "
        "each run record (`sitsbench.records.SCORE_FIELDS`). Each row's commands re-run it: the notebook with the "
        f"row's profile, dataset and seeds (papermill, from the repository root; `{DATA_ROOT}` stands for the folder "
        "holding the real samples, `out.ipynb` for the executed copy); the `validate` sections, cross-validations "
        "kept in the repository's `results/crossval/` (see the cross-validation page for their intervals), by their "
        "`sitsbench validate` command. To add runs, execute a sweep "
        "(`sitsbench sweep sweeps/example.yaml`) and render its table with `sitsbench results leaderboard runs/`.",
        "",
    ]
    if errors:
        lines += ["```{warning}", f"{len(errors)} run record(s) could not be read and are not in the tables:", ""]
        lines += [f"* {_cell(error)}" for error in errors] + ["```", ""]
    table = leaderboard_table(scores)
    if table.empty:
        lines += ["No scores yet: no run record with classification scores was found. Build the book "
                  "(`make book`) or run a sweep to fill this page.", ""]
        return "\n".join(lines)
    for _, rows in table.groupby(["name", "dataset"], sort=True):
        lines += _section(rows)
    return "\n".join(lines)


def leaderboard_page(results_dir: str | Path, data_root: str | Path | None = None,
                     extra: Collection | None = None) -> str:
    """The ``leaderboard.md`` page for the records under ``results_dir`` and the score rows of ``extra`` (records
    gathered elsewhere; a page saying so when there are none); data under ``data_root`` is named ``DATA_ROOT/...``,
    unreadable records by their path under ``results_dir``."""
    results_dir = Path(results_dir)
    scores, errors = pd.DataFrame(), []
    if results_dir.is_dir():
        collection = collect(results_dir, data_root)
        scores = collection.scores
        errors = [error.replace(f"{results_dir}{os.sep}", "") for error in collection.errors]
    if extra is not None:
        scores = pd.concat([frame for frame in (scores, extra.scores) if not frame.empty] or [pd.DataFrame()],
                           ignore_index=True)
        errors += extra.errors
    return render_leaderboard(scores, errors)


def book_leaderboard_page(results_dir: str | Path, data_root: str | Path | None = None) -> str:
    """The book's ``leaderboard.md``: the build's run records under ``results_dir`` and the cross-validations kept in
    the repository (:func:`sitsbench.results.crossval.crossval_collection`)."""
    from sitsbench.results.crossval import crossval_collection

    return leaderboard_page(results_dir, data_root, extra=crossval_collection(data_root))
