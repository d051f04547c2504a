"""The book's real-data page: chapters 2 and 6 re-run on real labelled samples, read from their run records.

``python -m sitsbench.book`` executes the runs of :data:`sitsbench.book.REAL_DATA_RUNS` into
``<runs>/real/<chapter>--<dataset>/record.json``; :func:`real_data_page` turns those records into tables (one
section per dataset) with the size of each test set and the standard error it implies, so that a reader sees
how much a difference between two rows can mean. Runs whose data was absent are listed as skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

REAL_RUNS = "real"
SUPERVISED = "02_supervised_baselines"
DOWNSTREAM = "06_downstream"


def _records(results_dir: Path) -> list[dict]:
    records = []
    for path in sorted((results_dir / REAL_RUNS).glob("*/record.json")):
        record = json.loads(path.read_text())
        record["_run"] = path.parent.name
        records.append(record)
    return records


def _markdown(frame: pd.DataFrame) -> str:
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join([frame.index.name or "", *columns]) + " |", "|" + "---|" * (len(columns) + 1)]
    for index, row in frame.iterrows():
        lines.append("| " + " | ".join([str(index), *(str(v) for v in row.values)]) + " |")
    return "\n".join(lines)


def _supervised_table(record: dict) -> tuple[pd.DataFrame, int]:
    rows = {
        name: {"OA": f"{m['oa']:.3f}", "macro-F1": f"{m['macro_f1']:.3f}", "kappa": f"{m['kappa']:.3f}",
               "train time (s)": f"{m['train_time_s']:.1f}"}
        for name, m in record["metrics"].items()
    }
    table = pd.DataFrame(rows).T
    table.index.name = "model"
    return table, int(record["metrics"]["majority class"]["n"])


def _protocol_table(record: dict) -> pd.DataFrame:
    f1 = record["metrics"]["protocols_macro_f1"]
    oa = record["metrics"]["protocols_oa"]
    rows = {}
    for encoder, levels in f1.items():
        for protocol, value in levels["pixel"].items():
            rows.setdefault(encoder, {})[protocol] = f"{value:.3f} ({oa[encoder]['pixel'][protocol]:.3f})"
    table = pd.DataFrame(rows).T
    table.index.name = "encoder"
    return table


def _by_fraction(cells: pd.Series, index_name: str) -> pd.DataFrame:
    """Cells indexed by (row, fraction) as a table with one column per fraction, rows in their first order."""
    table = cells.unstack("fraction").loc[list(dict.fromkeys(cells.index.get_level_values(0)))]
    table.columns = [f"{fraction:.0%}" for fraction in table.columns]
    table.index.name = index_name
    return table


def _efficiency_table(record: dict) -> pd.DataFrame:
    """Macro-F1 per method and fraction: the mean over seeds with its 95 % bootstrap interval when the record has
    one (chapter 6 writes them), else the mean ± the standard deviation over the seeds."""
    efficiency = record["metrics"]["label_efficiency"]
    if "intervals" in efficiency:
        rows = pd.DataFrame(efficiency["intervals"]["macro_f1"]).set_index(["method", "fraction"])
        cells = rows.apply(lambda r: f"{r['estimate']:.3f} [{r['low']:.3f}, {r['high']:.3f}]", axis=1)
        return _by_fraction(cells, "method")
    rows = pd.DataFrame(efficiency["rows"])
    summary = rows.groupby(["method", "fraction"], sort=False)["macro_f1"].agg(["mean", "std", "count"])
    cells = summary.apply(lambda r: f"{r['mean']:.3f} ± {0.0 if np.isnan(r['std']) else r['std']:.3f}", axis=1)
    return _by_fraction(cells, "method")


def _differences_table(record: dict) -> pd.DataFrame | None:
    """Paired macro-F1 differences ``a − b`` with their 95 % intervals, per fraction (None for older records)."""
    differences = record["metrics"]["label_efficiency"].get("paired_differences")
    if not differences:
        return None
    rows = pd.DataFrame(differences)
    rows["comparison"] = rows["a"] + " − " + rows["b"]
    cells = rows.set_index(["comparison", "fraction"]).apply(
        lambda r: f"{r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]", axis=1)
    return _by_fraction(cells, "comparison")


def _dataset_section(name: str, records: list[dict]) -> list[str]:
    dataset = records[0]["dataset"]
    classes = dataset.get("classes", [])
    if dataset.get("layout") == "synthetic":
        sizes = dataset.get("cube_sizes", {})
        what = (f"The `{name}` synthetic landscape ({sizes.get('y', '?')} x {sizes.get('x', '?')} px, "
                f"{sizes.get('time', '?')} dates), not real data: labels from its east half, pretraining on its west "
                f"half, {len(classes)} classes; {dataset.get('train_pixels', '?')} training and "
                f"{dataset.get('test_pixels', '?')} test pixels")
    else:
        what = f"{dataset.get('n_samples', '?')} labelled series, {len(classes)} classes ({', '.join(classes)})"
    lines = [f"## {name}", "",
             f"{what}; source `{dataset.get('source')}`, checksum `{str(dataset.get('checksum'))[:23]}...`"
             + (f", verified against the `{dataset['manifest_name']}` manifest." if dataset.get("manifest_name") else "."),
             "", f"Split: {dataset.get('split')}.", ""]
    for record in records:
        if record["name"] == SUPERVISED:
            table, n_test = _supervised_table(record)
            best = max(float(v) for v in table["OA"])
            error = np.sqrt(best * (1 - best) / n_test)
            lines += [
                f"**Chapter 2, supervised baselines** ({n_test} test series; at OA {best:.2f} the binomial standard "
                f"error is ±{error:.3f}, and more in practice since series of one group are correlated; one seed):",
                "", _markdown(table), "",
                f"Reproduce: `{_command(record)}`", "",
            ]
        elif record["name"] == DOWNSTREAM:
            lines += [
                "**Chapter 6, frozen and fine-tuned encoders**, all training labels, test macro-F1 (OA in brackets):",
                "", _markdown(_protocol_table(record)), "",
                "**Chapter 6, label efficiency**: test macro-F1 by fraction of the training labels, mean over the "
                "seeds [95 % interval, test groups and seeds resampled]:", "", _markdown(_efficiency_table(record)), "",
            ]
            differences = _differences_table(record)
            if differences is not None:
                lines += [
                    "**Paired differences** of macro-F1 (same test groups, same seeds and labelled subsets for both "
                    "methods; a difference is shown when its 95 % interval excludes 0):", "",
                    _markdown(differences), "",
                ]
            lines += [
                f"Reproduce: `{_command(record)}`", "",
            ]
        skipped = record["dataset"].get("skipped") or {}
        if skipped:
            lines += ["Skipped on this dataset: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ".", ""]
    return lines


def _command(record: dict) -> str:
    parameters = record.get("parameters", {})
    return (f"papermill notebooks/{record['name']}.ipynb out.ipynb -p profile {parameters.get('profile', 'quick')} "
            f"-p dataset {parameters.get('dataset')}")


def real_data_page(results_dir: str | Path) -> str:
    """The ``real_data.md`` page for the real-data runs under ``results_dir``."""
    results_dir = Path(results_dir)
    records = _records(results_dir)
    skipped_file = results_dir / REAL_RUNS / "skipped.txt"
    skipped = [line for line in skipped_file.read_text().splitlines() if line] if skipped_file.exists() else []
    lines = [
        "# Real data",
        "",
        "The chapters run on the synthetic landscape by default; every one of them also takes a `dataset` "
        "parameter. This page shows chapters 2 (supervised baselines) and 6 (SSL encoders, protocols and label "
        "efficiency) re-run by the book build on real labelled samples, with nothing but that parameter changed: "
        "the IGARSS 2019 Victoria Sentinel-2 pixel series (8 land-cover classes) and the `sits` Cerrado MODIS "
        "samples (2 classes, 2000-2015). Chapter 6 also runs on the `hard` synthetic landscape (several sowing "
        "practices per crop, cover crops, a phenological shift between the unlabelled and the labelled halves), "
        "built so that the SSL question can be asked on synthetic data. Every number comes from the run records "
        "of this build (quick profile).",
        "",
        "**What these numbers can and cannot say.** The sets are small: a few hundred series, split by polygon or "
        "location so that no group is on both sides, which leaves one to two hundred test series from a few dozen "
        "groups. A difference of a few points between two rows is within the noise of one split and one seed; the "
        "ranking of methods far apart (a network vs the majority class) is what these runs can show. Chapter 6's "
        "intervals resample the test groups and the seeds, and its paired differences say which gaps this data "
        "supports; the `full` profile (five seeds, all samples) narrows them.",
        "",
    ]
    if not records:
        lines += ["No real-data run in this build: the real samples were not on the build machine.", ""]
    by_dataset: dict[str, list[dict]] = {}
    for record in records:
        by_dataset.setdefault(record["dataset"].get("name", record["_run"]), []).append(record)
    for name, group in by_dataset.items():
        lines += _dataset_section(name, sorted(group, key=lambda r: r["name"]))
    if skipped:
        lines += ["## Skipped runs", "", *[f"- {line}" for line in skipped], ""]
    return "\n".join(lines)
