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


def _efficiency_table(record: dict) -> pd.DataFrame:
    rows = pd.DataFrame(record["metrics"]["label_efficiency"]["rows"])
    summary = rows.groupby(["method", "fraction"], sort=False)["macro_f1"].agg(["mean", "std", "count"])
    cells = summary.apply(lambda r: f"{r['mean']:.3f} ± {0.0 if np.isnan(r['std']) else r['std']:.3f}", axis=1)
    table = cells.unstack("fraction")
    table.columns = [f"{fraction:.0%}" for fraction in table.columns]
    table.index.name = "method"
    return table


def _dataset_section(name: str, records: list[dict]) -> list[str]:
    dataset = records[0]["dataset"]
    classes = dataset.get("classes", [])
    lines = [f"## {name}", "",
             f"{dataset.get('n_samples', '?')} labelled series, {len(classes)} classes ({', '.join(classes)}); "
             f"source `{dataset.get('source')}`, checksum `{str(dataset.get('checksum'))[:23]}...`"
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
                "**Chapter 6, label efficiency**: test macro-F1, mean ± std over the seeds, by fraction of the "
                "training labels:", "", _markdown(_efficiency_table(record)), "",
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
        "samples (2 classes, 2000-2015). Every number comes from the run records of this build (quick profile).",
        "",
        "**What these numbers can and cannot say.** The sets are small: a few hundred series, split by polygon or "
        "location so that no group is on both sides, which leaves one to two hundred test series from a few dozen "
        "groups. A difference of a few points between two rows is within the noise of one split and one seed; the "
        "ranking of methods far apart (a network vs the majority class) is what these runs can show. The `full` "
        "profile and sweeps over seeds (`sitsbench sweep`) give the spread.",
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
