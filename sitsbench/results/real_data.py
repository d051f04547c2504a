"""The book's real-data page and its harder-synthetic-landscape page, read from the run records of the build.

``python -m sitsbench.book`` executes the runs of :data:`sitsbench.book.REAL_DATA_RUNS` (chapters 2 and 6 on real
labelled samples) and of :data:`sitsbench.book.PRESET_RUNS` (chapter 6 on the ``hard`` synthetic landscape) into
``<runs>/real/<chapter>--<dataset>/record.json``. :func:`real_data_page` turns the records of real data into one
section per dataset, :func:`hard_landscape_page` those of synthetic presets. Each section gives the size of the test
set, the tables (scores to 3 decimals, ``–`` with a note where a record has no value) and, for chapter 6, a
**Findings** box computed from the record: the paired differences whose 95 % interval excludes 0 (also marked in
bold in the table of differences), the comparisons that this data cannot decide, and what its size cannot show.
Runs whose data was absent are listed as skipped.

Everything is read from the rows of the records (:mod:`sitsbench.records`: ``scores``, ``intervals``,
``differences``) and their ``dataset`` block, never from a chapter's free-form ``metrics``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from sitsbench.evaluation.protocols import PROTOCOL_TITLES
from sitsbench.records import read_run_record
from sitsbench.results.collect import (
    DATA_ROOT,
    data_argument,
    method_name,
    number,
    reproduce_command,
    seeds_text,
)
from sitsbench.results.leaderboard import metric_order, metric_title

REAL_RUNS = "real"
SUPERVISED = "02_supervised_baselines"
DOWNSTREAM = "06_downstream"
MISSING = "–"
RANKED = "macro_f1"
"""The metric of chapter 6's intervals, differences and findings."""
LABELLED = {"parcel": "labelled parcels"}
"""How a count of training labels is worded for a method trained on other items than the test series or pixels."""


def _records(results_dir: Path) -> list[dict]:
    """The records of the real-data runs; a chapter-6 record without intervals (written before record version 2)
    raises ``ValueError`` naming it."""
    records = []
    for path in sorted((results_dir / REAL_RUNS).glob("*/record.json")):
        record = read_run_record(path)
        if record["name"] == DOWNSTREAM and not record["intervals"]:
            raise ValueError(f"run record {path} (version {record.get('record_version')}) has no intervals: it was "
                             "written before chapter 6 recorded them; re-run the chapter")
        record["_run"] = path.parent.name
        records.append(record)
    return records


def _is_synthetic(record: dict) -> bool:
    return record["dataset"].get("layout") == "synthetic"


def markdown_table(frame: pd.DataFrame, missing_reason: str) -> list[str]:
    """``frame`` (cells already formatted, the index as first column) as a MyST table; a missing cell is written
    ``–`` and a note under the table says why (``missing_reason``)."""
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join([frame.index.name or "", *columns]) + " |", "|" + "---|" * (len(columns) + 1)]
    missing = False
    for index, row in frame.iterrows():
        cells = []
        for value in row.values:
            absent = value is None or (isinstance(value, float) and np.isnan(value)) or value == MISSING
            missing |= absent
            cells.append(MISSING if absent else str(value))
        lines.append("| " + " | ".join([str(index), *cells]) + " |")
    return lines + ([f"\n{MISSING} : {missing_reason}"] if missing else [])


def _curves(record: dict) -> list[dict]:
    """The score rows of chapter 6's curves (those that count their training labels), named by
    :func:`~sitsbench.results.collect.method_name`."""
    return [{**row, "name": method_name(row["method"], row["encoder"])} for row in record["scores"]
            if row["metric"] == RANKED and "n_labels" in row]


def _label_counts(record: dict) -> dict[tuple[str, float], list[int]]:
    """``(method name, fraction) -> the training label counts of its seeds``."""
    counts: dict[tuple[str, float], list[int]] = {}
    for row in _curves(record):
        counts.setdefault((row["name"], row["label_fraction"]), []).append(row["n_labels"])
    return counts


def _units(record: dict) -> dict[str, str]:
    """What a training label of each method of the curves is (``sample``, ``parcel``...)."""
    return {row["name"]: row.get("label_unit", row["unit"]) for row in _curves(record)}


def _span(values: list[int]) -> str:
    return str(min(values)) if min(values) == max(values) else f"{min(values)}–{max(values)}"


def _labels(record: dict, method: str, fraction: float) -> str:
    """``8 labels`` (``10 labelled parcels``, ``8–9 labels`` when the seeds differ), or ``""`` when unrecorded."""
    counts = _label_counts(record).get((method, float(fraction)))
    if not counts:
        return ""
    return f"{_span(counts)} {LABELLED.get(_units(record).get(method, 'pixel'), 'labels')}"


def _fraction_columns(record: dict, fractions: list[float], methods: list[str]) -> tuple[list[str], list[str]]:
    """Column titles ``1% (8 labels)`` (the count shared by the methods of the commonest unit) and a note for each
    method of another unit, with its own counts."""
    units = _units(record)
    main = Counter(units.get(m, "pixel") for m in methods).most_common(1)[0][0] if methods else "pixel"
    counts = _label_counts(record)
    titles = []
    for fraction in fractions:
        shared = [n for m in methods if units.get(m, "pixel") == main for n in counts.get((m, float(fraction)), [])]
        titles.append(f"{fraction:.0%} ({_span(shared)} labels)" if shared else f"{fraction:.0%}")
    notes = []
    for method in methods:
        if units.get(method, "pixel") != main and any((method, float(f)) in counts for f in fractions):
            at = ", ".join(f"{_labels(record, method, f)} at {f:.0%}" for f in fractions if (method, float(f)) in counts)
            notes.append(f"{method} is trained on {units[method]}s: {at} (the column titles count labelled {main}s).")
    return titles, notes


def _by_fraction(cells: pd.Series, index_name: str, record: dict,
                 methods: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Cells indexed by (row, fraction) as a table with one column per fraction (titled with the label count of
    ``methods``), rows in their first order; the notes on methods counted in other units."""
    table = cells.unstack("fraction").loc[list(dict.fromkeys(cells.index.get_level_values(0)))]
    fractions = [float(f) for f in table.columns]
    table.columns, notes = _fraction_columns(record, fractions, [m for m in methods if m in _units(record)])
    table.index.name = index_name
    return table, notes


def _supervised_table(record: dict) -> tuple[pd.DataFrame, int | None]:
    """One row per method (alphabetical), one column per metric of its score rows and its training time; the number
    of test items from the record's ``dataset`` (``test_pixels``)."""
    scores: dict[str, dict[str, str]] = {}
    for row in record["scores"]:
        scores.setdefault(row["method"], {})[row["metric"]] = row["value"]
        scores[row["method"]]["train time (s)"] = row.get("train_time_s")
    metrics = metric_order({row["metric"] for row in record["scores"]})
    table = pd.DataFrame({name: {**{metric_title(m): number(values.get(m)) for m in metrics},
                                 "train time (s)": number(values.get("train time (s)"), 1)}
                          for name, values in sorted(scores.items())}).T
    table.index.name = "model"
    return table, record["dataset"].get("test_pixels")


def _protocol_table(record: dict) -> pd.DataFrame:
    """Chapter 6's protocols with all the training labels: one row per encoder, one column per protocol
    (:data:`~sitsbench.evaluation.protocols.PROTOCOL_TITLES`), macro-F1 (OA) of the run's seed on its test
    items."""
    cells: dict[str, dict[str, dict[str, float]]] = {}
    for row in record["scores"]:
        if (row["method"] in PROTOCOL_TITLES.values() and row["encoder"] and row["label_fraction"] == 1.0
                and row["seed"] == record["seed"] and row["unit"] in ("pixel", "sample")):
            cells.setdefault(row["encoder"], {}).setdefault(row["method"], {})[row["metric"]] = row["value"]
    table = pd.DataFrame({encoder: {method: f"{number(values.get(RANKED))} ({number(values.get('oa'))})"
                                    for method, values in sorted(methods.items())}
                          for encoder, methods in cells.items()}).T
    table.index.name = "encoder"
    return table


def _intervals(record: dict) -> list[dict]:
    """The record's intervals of :data:`RANKED`, named by :func:`~sitsbench.results.collect.method_name`."""
    return [{**row, "name": method_name(row["method"], row["encoder"])} for row in record["intervals"]
            if row["metric"] == RANKED]


def _efficiency_table(record: dict) -> tuple[pd.DataFrame, list[str]]:
    """Macro-F1 per method and fraction: the mean over seeds with its 95 % bootstrap interval."""
    rows = pd.DataFrame(_intervals(record)).set_index(["name", "label_fraction"]).rename_axis(["method", "fraction"])
    cells = rows.apply(lambda r: f"{number(r['estimate'])} [{number(r['low'])}, {number(r['high'])}]", axis=1)
    return _by_fraction(cells, "method", record, list(dict.fromkeys(rows.index.get_level_values(0))))


def _excludes_zero(row: dict) -> bool:
    return row["low"] > 0 or row["high"] < 0


def _differences(record: dict) -> list[dict]:
    """The paired differences of :data:`RANKED` of the record, ``a − b`` named by
    :func:`~sitsbench.results.collect.method_name`, a comparison that repeats another one reversed (``b − a``) left
    out."""
    kept, seen = [], set()
    for row in record["differences"]:
        if row["metric"] != RANKED:
            continue
        a, b = method_name(row["method"], row["encoder"]), method_name(row["versus_method"], row["versus_encoder"])
        if (b, a, row["label_fraction"]) not in seen:
            seen.add((a, b, row["label_fraction"]))
            kept.append({**row, "a": a, "b": b, "fraction": row["label_fraction"]})
    return kept


def _difference(row: dict) -> str:
    return f"{number(row['difference'], signed=True)} [{number(row['low'], signed=True)}, " \
           f"{number(row['high'], signed=True)}]"


def _differences_table(record: dict) -> pd.DataFrame | None:
    """Paired macro-F1 differences ``a − b`` with their 95 % intervals, per fraction, in bold where the interval
    excludes 0 (None for older records)."""
    differences = _differences(record)
    if not differences:
        return None
    rows = pd.DataFrame(differences)
    rows["comparison"] = rows["a"] + " − " + rows["b"]
    cells = pd.Series([f"**{_difference(r)}**" if _excludes_zero(r) else _difference(r) for r in differences],
                      index=pd.MultiIndex.from_frame(rows[["comparison", "fraction"]]))
    return _by_fraction(cells, "comparison", record, list(dict.fromkeys([*rows["a"], *rows["b"]])))[0]


def _test_set(record: dict) -> str:
    """``148 test series from 31 groups`` (the groups when the record gives them)."""
    dataset = record["dataset"]
    synthetic = _is_synthetic(record)
    items = dataset.get("test_pixels")
    text = f"{items if items is not None else 'an unrecorded number of'} test {'pixels' if synthetic else 'series'}"
    groups = dataset.get("test_groups")
    if groups is not None:
        text += f" from {groups} {'parcels' if synthetic else 'groups (polygons or locations)'}"
    return text


def _established(record: dict, shown: list[dict]) -> list[str]:
    """One line per comparison and direction whose intervals exclude 0, with each fraction's difference."""
    fractions = sorted({float(r["fraction"]) for r in _differences(record)})
    by_pair: dict[tuple[str, str, bool], list[dict]] = {}
    for row in shown:
        by_pair.setdefault((row["a"], row["b"], row["low"] > 0), []).append(row)
    lines = []
    for (a, b, above), rows in by_pair.items():
        at = [f"{_difference(r)} at {r['fraction']:.0%}"
              + (f" ({labels})" if (labels := _labels(record, a, r["fraction"])) else "") for r in rows]
        where = " at every fraction" if len(rows) == len(fractions) > 1 else ""
        lines.append(f"* {a} {'above' if above else 'below'} {b}{where}: " + "; ".join(at) + ".")
    return lines


def findings_box(record: dict) -> list[str]:
    """The **Findings** admonition of a chapter-6 record: what its paired differences establish, what they do not,
    and what the size of its data cannot show; every number read from the record."""
    differences = _differences(record)
    lines = [":::{admonition} Findings", ":class: findings", ""]
    if not differences:
        return lines + ["This run's record holds no paired differences: no comparison between methods is tested "
                        "here.", ":::", ""]
    shown = [r for r in differences if _excludes_zero(r)]
    if shown:
        lines += [f"**What the intervals establish** ({len(shown)} of the {len(differences)} paired differences of "
                  "macro-F1 have a 95 % interval that excludes 0):", "", *_established(record, shown), ""]
    else:
        lines += [f"**What the intervals establish:** none of the {len(differences)} paired differences of macro-F1 "
                  "has a 95 % interval that excludes 0.", ""]
    others: dict[str, list[str]] = {}
    for row in differences:
        if not _excludes_zero(row):
            others.setdefault(f"{row['a']} − {row['b']}", []).append(f"{row['fraction']:.0%}")
    if others:
        listed = "; ".join(f"{pair} ({', '.join(at)})" for pair, at in others.items())
        lines += [f"**Not distinguishable:** the other {len(differences) - len(shown)} differences, whose intervals "
                  f"hold 0: {listed}. This test set and these seeds cannot tell those methods apart.", ""]
    parameters = record.get("parameters", {})
    seeds = parameters.get("seeds") or sorted({r["seed"] for r in _curves(record)})
    half_widths = [(r["high"] - r["low"]) / 2 for r in differences]
    pretraining = ("each seed pretrains its own encoders, so the intervals cover the pretraining too"
                   if parameters.get("pretrain_per_seed") else
                   f"each encoder is pretrained once (seed {record.get('seed', 0)}), so the intervals cover the test "
                   "items and the label draws, not the variation of the pretraining")
    lines += [f"**What this data cannot show:** the test set holds {_test_set(record)}; the curves repeat over "
              f"{len(seeds)} {'seed' if len(seeds) == 1 else 'seeds'} ({', '.join(map(str, seeds))}); {pretraining}. "
              f"The paired intervals reach ±{number(float(np.median(half_widths)))} around their difference at the "
              f"median (±{number(min(half_widths))} to ±{number(max(half_widths))}): a smaller gap between two "
              "methods cannot be told from 0 on this data. A 95 % interval excludes 0 by chance once in twenty "
              f"comparisons where there is no difference: of these {len(differences)}, about "
              f"{len(differences) / 20:.1f} may do so by chance alone.", ":::", ""]
    return lines


PROBE = PROTOCOL_TITLES["linear"]
REFERENCE_ENCODER = "random init"
"""Chapter 6's random-init encoder under the linear probe: the reference every pretraining family must beat."""


def _verdict(record: dict, a: str, b: str, fraction: float) -> str | None:
    """``"above"``, ``"below"`` or ``None`` (interval holds 0, or no such comparison) for ``a − b`` at ``fraction``,
    from the record's paired differences in either orientation."""
    for row in _differences(record):
        if row["fraction"] == fraction and {row["a"], row["b"]} == {a, b} and _excludes_zero(row):
            return "above" if (row["low"] > 0) == (row["a"] == a) else "below"
    return None


def families_summary(record: dict) -> list[str]:
    """Per fraction, the pretraining families (the encoders of every linear probe but the random encoder's) ranked
    by mean macro-F1 with their 95 % intervals, and those whose paired difference with the random encoder's probe
    excludes 0, above or below it; empty for a record without those intervals."""
    rows = [r for r in _intervals(record) if r["method"] == PROBE]
    if not any(r["encoder"] == REFERENCE_ENCODER for r in rows):
        return []
    reference = method_name(PROBE, REFERENCE_ENCODER)
    lines = ["**Every family against the same backbone at random init** (linear probes; test macro-F1 [95 % "
             f"interval], ranked by the mean; above or below: the paired difference with {reference} excludes 0):",
             ""]
    for fraction in sorted({r["label_fraction"] for r in rows}):
        at = sorted((r for r in rows if r["label_fraction"] == fraction), key=lambda r: -r["estimate"])
        cells = {r["encoder"]: f"{number(r['estimate'])} [{number(r['low'])}, {number(r['high'])}]" for r in at}
        families = [r["encoder"] for r in at if r["encoder"] != REFERENCE_ENCODER]
        sides = {side: [e for e in families if _verdict(record, method_name(PROBE, e), reference, fraction) == side]
                 for side in ("above", "below")}
        labels = _labels(record, reference, fraction)
        lines.append(f"* {fraction:.0%}{f' ({labels})' if labels else ''}: "
                     + "; ".join(f"{e} {cells[e]}" for e in families)
                     + f"; {REFERENCE_ENCODER} {cells[REFERENCE_ENCODER]}. Above {REFERENCE_ENCODER}: "
                     f"{', '.join(sides['above']) or 'none'}; below it: {', '.join(sides['below']) or 'none'}; "
                     f"the other {len(families) - len(sides['above']) - len(sides['below'])} not distinguishable "
                     "from it.")
    return [*lines, ""]


def _chapter6(record: dict, data_root: str | Path | None) -> list[str]:
    lines = ["**Chapter 6, frozen and fine-tuned encoders**, all training labels, test macro-F1 (OA in brackets):",
             "", *markdown_table(_protocol_table(record), "this protocol was not run for this encoder."), ""]
    lines += families_summary(record)
    table, notes = _efficiency_table(record)
    lines += ["**Chapter 6, label efficiency**: test macro-F1 by fraction of the training labels (with their count), "
              "mean over the seeds [95 % interval, test groups and seeds resampled]:", "",
              *markdown_table(table, "this method was not run at this fraction."), "", *(notes + [""] if notes else [])]
    differences = _differences_table(record)
    if differences is not None:
        touching = any(not _excludes_zero(r) and 0.0 in (r["low"], r["high"]) for r in _differences(record))
        lines += ["**Paired differences** of macro-F1 (same test groups, same seeds and labelled subsets for both "
                  "methods), with their 95 % intervals:", "",
                  *markdown_table(differences, "this comparison was not made at this fraction."), "",
                  "In bold: the intervals that exclude 0, where this data establishes a difference (listed in the "
                  "Findings box above); the others hold 0"
                  + (" (a bound of exactly 0, written ±0.000, holds it too)." if touching else "."), ""]
    return lines + [f"Reproduce: `{reproduce_command(record, data_root)}`", ""]


def _chapter2(record: dict, data_root: str | Path | None) -> list[str]:
    table, n_test = _supervised_table(record)
    accuracies = [float(v) for v in table["OA"] if v != MISSING]
    size = f"{n_test} test series" if n_test else "test series"
    if accuracies and n_test:
        best = max(accuracies)
        error = np.sqrt(best * (1 - best) / n_test)
        size += (f"; at OA {best:.2f} the binomial standard error is ±{error:.3f}, and more in practice since series "
                 "of one group are correlated")
    return [f"**Chapter 2, supervised baselines** ({size}; {seeds_text([record.get('seed', 0)])}, no interval: the "
            "ranking of close rows is not tested):", "",
            *markdown_table(table, "the run recorded no value for this model."), "",
            f"Reproduce: `{reproduce_command(record, data_root)}`", ""]


def _describe(name: str, record: dict, data_root: str | Path | None) -> list[str]:
    dataset = record["dataset"]
    classes = dataset.get("classes", [])
    if _is_synthetic(record):
        sizes = dataset.get("cube_sizes", {})
        what = (f"A {sizes.get('y', '?')} x {sizes.get('x', '?')} px synthetic cube of {sizes.get('time', '?')} "
                f"dates: labels from its east half, pretraining on its west half, {len(classes)} classes; "
                f"{dataset.get('train_pixels', '?')} training and {dataset.get('test_pixels', '?')} test pixels")
        source = ""
    else:
        what = f"{dataset.get('n_samples', '?')} labelled series, {len(classes)} classes ({', '.join(classes)})"
        source = f"; data `{data_argument(dataset.get('source'), data_root)}`"
    verified = f", verified against the `{dataset['manifest_name']}` manifest" if dataset.get("manifest_name") else ""
    return [f"## {name}", "", f"{what}{source}, checksum `{str(dataset.get('checksum'))[:23]}...`{verified}.", "",
            f"Split: {dataset.get('split')}.", ""]


def _dataset_section(name: str, records: list[dict], data_root: str | Path | None) -> list[str]:
    lines = _describe(name, records[0], data_root)
    for record in records:
        if record["name"] == DOWNSTREAM:
            lines += findings_box(record)
    for record in records:
        if record["name"] == SUPERVISED:
            lines += _chapter2(record, data_root)
        elif record["name"] == DOWNSTREAM:
            lines += _chapter6(record, data_root)
        skipped = record["dataset"].get("skipped") or {}
        if skipped:
            lines += [f"Skipped by {record['name']} on this dataset: "
                      + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ".", ""]
    return lines


def _sections(records: list[dict], data_root: str | Path | None) -> list[str]:
    by_dataset: dict[str, list[dict]] = {}
    for record in records:
        by_dataset.setdefault(record["dataset"].get("name", record["_run"]), []).append(record)
    return [line for name, group in by_dataset.items()
            for line in _dataset_section(name, sorted(group, key=lambda r: r["name"]), data_root)]


def _profiles(records: list[dict]) -> str:
    return ", ".join(sorted({str(r.get("parameters", {}).get("profile", "quick")) for r in records})) or "quick"


def real_data_page(results_dir: str | Path, data_root: str | Path | None = None) -> str:
    """The ``real_data.md`` page for the runs on real data under ``results_dir`` (data under ``data_root`` is
    named ``DATA_ROOT/...``)."""
    results_dir = Path(results_dir)
    records = [r for r in _records(results_dir) if not _is_synthetic(r)]
    skipped_file = results_dir / REAL_RUNS / "skipped.txt"
    skipped = [line for line in skipped_file.read_text().splitlines() if line] if skipped_file.exists() else []
    lines = [
        "# Real data",
        "",
        "The chapters run on the synthetic landscape by default; every one of them also takes a `dataset` "
        "parameter. This page shows chapters 2 (supervised baselines) and 6 (SSL encoders, protocols and label "
        "efficiency) re-run by the book build on real labelled samples, with nothing but that parameter changed: "
        "the IGARSS 2019 Victoria Sentinel-2 pixel series (8 land-cover classes) and the `sits` Cerrado MODIS "
        "samples (2 classes, 2000-2015). Chapter 6 on a harder synthetic landscape is on its own page, "
        "[A harder synthetic landscape](hard_landscape.md). Every number comes from the run records of this build "
        f"(profile: {_profiles(records)}); `{DATA_ROOT}` in a command stands for the folder holding the samples.",
        "",
        "**What these numbers can and cannot say.** The sets are small: a few hundred series, split by polygon or "
        "location so that no group is on both sides, which leaves one to two hundred test series from a few dozen "
        "groups. Chapter 6's intervals resample the test groups and the seeds, and its paired differences say which "
        "gaps this data supports: each dataset's **Findings** box lists them, with what the data cannot show. "
        "Chapter 2 runs one seed without intervals: a difference of a few points between two of its rows is within "
        "the noise of one split and one seed.",
        "",
    ]
    if not records:
        lines += ["No real-data run in this build: the real samples were not on the build machine.", ""]
    lines += _sections(records, data_root)
    if skipped:
        lines += ["## Skipped runs", "", "Their data was not on the machine that built the book:", "",
                  *[f"- {line}" for line in skipped], ""]
    return "\n".join(lines)


def hard_landscape_page(results_dir: str | Path, data_root: str | Path | None = None) -> str:
    """The ``hard_landscape.md`` page: chapter 6 re-run on the synthetic presets of the build (the ``hard`` one)."""
    from sitsbench.data.synthetic import PRESETS

    records = [r for r in _records(Path(results_dir)) if _is_synthetic(r)]
    hard = PRESETS["hard"]
    lines = [
        "# A harder synthetic landscape",
        "",
        "The default landscape gives each class one phenological profile, the same in the half where the encoders "
        "pretrain and in the labelled half. The `hard` preset is built so that the self-supervised question can be "
        f"asked on synthetic data: {len(hard.sowing_modes)} sowing practices per crop (sowing shifted by "
        f"{', '.join(f'{d:+.0f}' if d else '0' for d in hard.sowing_modes)} days), cover or second crops after the "
        f"harvest on {hard.double_crop_fraction:.0%} of the crop parcels, a {hard.region_shift:.0f}-day phenological "
        "shift between the unlabelled west half (where the encoders pretrain) and the labelled east half, "
        f"{hard.cloud_cover:.0%} cloud cover and {hard.atypical_fraction:.0%} atypical parcels: one profile per "
        "class no longer separates the classes. Chapter 6 "
        "runs on it with nothing but the `dataset` parameter changed (its segmentation and change detection are "
        f"skipped: this page shows its classification). Every number comes from the run records of this build "
        f"(profile: {_profiles(records)}).",
        "",
    ]
    if not records:
        lines += ["No run on a synthetic preset in this build.", ""]
    lines += _sections([{**r, "dataset": {**r["dataset"], "name": f"The `{r['dataset'].get('name')}` landscape"}}
                        for r in records], data_root)
    return "\n".join(lines)
