"""Cross-validation of a map model on labelled samples, the protocol the field reports (what ``sitsbench validate``
runs).

The labelled samples are cut into ``folds`` parts, stratified by class; each part is the test set of one model
trained on the others, so that every sample is predicted once by a model that never saw it, and the whole is
``repeats`` times redone with other seeds. What is never cut depends on the **policy**:

* ``random``: single samples (stratified k-fold, as ``sits_kfold_validate`` does). Samples of one location or
  polygon then fall on both sides of a fold: when they are correlated (the usual case) the scores are optimistic;
* ``group``: the samples' groups (a location, a polygon or a parcel, as the reader of the data set defines them),
  with scikit-learn's ``StratifiedGroupKFold``: no group straddles training and test;
* ``spatial-blocks``: square blocks of ``block_size`` metres on the ground (each group in the block of its first
  sample), so that neighbouring samples stay together too (Roberts et al. 2017, "Cross-validation strategies for
  data with temporal, spatial, hierarchical, or phylogenetic structure", Ecography; Ploton et al. 2020); needs the
  samples' ``x``/``y`` location;
* ``predefined``: the data set's own test split, one fold (repeats then only change the model's seed).

A network stops early on a validation part carved from the training folds (:data:`VAL_SHARE` of their units, by
class); a model without early stopping trains on all of them (:func:`sitsbench.training.map_training.stops_early`).

Two intervals are reported for each score. **Over folds**: the mean of the per-fold scores with a Student t
interval whose variance is corrected for the overlap of the training sets, ``(1/J + n_test/n_train) s²`` over the
``J`` folds of every repeat (the corrected resampled t of Nadeau & Bengio 2003, "Inference for the Generalization
Error", Machine Learning 52; Bouckaert & Frank 2004 for repeated cross-validation): the plain ``s²/J`` is too narrow.
**Pooled**: every sample's out-of-fold prediction scored at once, with the two-level bootstrap of
:func:`sitsbench.intervals.bootstrap_scores` over the protocol's units (samples, groups or blocks) and the
repeats.

:func:`record_fields` gives the fields of the run record of a cross-validation: the score rows of each repeat, the
pooled intervals (the rows of :mod:`sitsbench.records`) and the protocol in words in its ``dataset`` block;
:func:`upgrade_record` adds them to a record written before (record version 1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import xarray as xr

from sitsbench.data import samples as samples_format

POLICIES = ("group", "random", "spatial-blocks", "predefined")
VAL_SHARE = 0.2
"""Share of the training folds' units that a network holds out to stop early."""
TRAINED = -1
UNUSED = -2
"""Fold codes that are not a fold: a sample that trains every fold (``predefined``), one that is never used
(unlabelled, or outside the predefined split)."""
SCORES = ("oa", "macro_f1", "kappa")


@dataclass
class Protocol:
    """How the samples are cut: ``folds`` is ``(repeats, n_samples)`` (the fold in which each sample is tested,
    or :data:`TRAINED` / :data:`UNUSED`), ``units`` the unit each sample belongs to (never cut, and resampled by
    the pooled bootstrap), ``unit_name`` what a unit is, ``words`` the protocol in a sentence."""

    policy: str
    n_folds: int
    repeats: int
    folds: np.ndarray
    units: np.ndarray
    unit_name: str
    words: str


def metric_coordinates(samples: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The samples' ``x``/``y`` in metres: geographic coordinates are projected on an azimuthal equidistant plane
    centred on the samples; a CRS in another unit, or samples without location, are refused."""
    from pyproj import CRS, Transformer

    where = samples.attrs.get("source", "samples")
    if "x" not in samples.coords or "y" not in samples.coords:
        raise ValueError(f"{where}: the samples carry no location (coordinates 'x'/'y'), which spatial blocks need; "
                         "use --split-policy group (the samples' groups) instead")
    x, y = np.asarray(samples["x"].values, dtype=float), np.asarray(samples["y"].values, dtype=float)
    crs = CRS.from_user_input(samples.attrs["crs"])
    if crs.is_geographic:
        plane = CRS.from_proj4(f"+proj=aeqd +lat_0={np.mean(y)} +lon_0={np.mean(x)} +units=m")
        return Transformer.from_crs(crs, plane, always_xy=True).transform(x, y)
    unit = crs.axis_info[0].unit_name if crs.axis_info else "unknown"
    if unit not in ("metre", "meter"):
        raise ValueError(f"{where}: the samples' CRS {crs.name!r} counts in {unit}, not metres: reproject the "
                         "locations to blocks of --block-size metres")
    return x, y


def _units(samples: xr.Dataset, policy: str, block_size: float | None) -> tuple[np.ndarray, str, str]:
    """The unit of each sample, what a unit is, and the protocol's units in words."""
    groups = np.asarray(samples[samples_format.GROUP].values)
    n, n_groups = groups.size, np.unique(groups).size
    grouping = (f"{n_groups} groups (a group is a location, polygon or parcel as the reader of the data set "
                f"defines it: its samples are correlated; {n / max(n_groups, 1):.1f} samples per group)")
    if policy == "random":
        if n_groups == n:
            return np.arange(n), "samples", f"single samples, {n} of them, cut at random (each is its own group)"
        return np.arange(n), "samples", (f"single samples, {n} of them, cut at random: the {grouping} fall on both "
                                         "sides of a fold, so the scores are optimistic when they are correlated")
    if policy == "group":
        return groups, "groups", f"whole groups, never cut: {grouping}"
    if block_size is None or not block_size > 0:
        raise ValueError(f"--split-policy spatial-blocks needs a positive --block-size in metres, got {block_size}")
    x, y = metric_coordinates(samples)
    first = np.unique(groups, return_index=True)[1]
    block_of_group = dict(zip(groups[first].tolist(), zip((np.floor(x[first] / block_size)).tolist(),
                                                            (np.floor(y[first] / block_size)).tolist())))
    blocks = np.unique(np.array([block_of_group[g] for g in groups.tolist()]), axis=0, return_inverse=True)[1]
    blocks = blocks.ravel()
    return blocks, "blocks", (f"spatial blocks of {block_size:g} m x {block_size:g} m, {np.unique(blocks).size} of "
                              f"them holding the {grouping}; a group lies in the block of its first sample")


def make_protocol(samples: xr.Dataset, policy: str = "group", folds: int = 5, repeats: int = 1, seed: int = 0,
                  block_size: float | None = None) -> Protocol:
    """The folds of every repeat (stratified by class: ``StratifiedKFold`` on samples, ``StratifiedGroupKFold``
    on groups or blocks, each repeat shuffled with ``seed + repeat``), or the predefined test split."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if policy not in POLICIES:
        raise ValueError(f"split policy must be one of {POLICIES}, got {policy!r}")
    if repeats < 1:
        raise ValueError(f"--repeats must be at least 1, got {repeats}")
    labels = np.asarray(samples[samples_format.LABEL].values)
    labelled = labels != samples_format.IGNORE_INDEX
    where = samples.attrs.get("source", "samples")
    if policy == "predefined":
        split = samples_format.split_samples(samples, "predefined", seed=seed)  # refuses a split that cuts a group
        if not (split == samples_format.SPLIT_CODES["test"]).any():
            raise ValueError(f"{where}: the predefined split has no test sample")
        codes = np.where(split == samples_format.SPLIT_CODES["test"], 0, np.where(split == samples_format.NO_SPLIT, UNUSED, TRAINED))
        groups = np.asarray(samples[samples_format.GROUP].values)
        return Protocol(policy, 1, repeats, np.tile(codes, (repeats, 1)), groups, "groups",
                        f"the data set's own split: {int((codes == 0).sum())} test samples in "
                        f"{np.unique(groups[codes == 0]).size} groups, {int((codes == TRAINED).sum())} training "
                        "samples")
    if folds < 2:
        raise ValueError(f"--folds must be at least 2, got {folds}")
    units, unit_name, words = _units(samples, policy, block_size)
    n_units = np.unique(units[labelled]).size
    if n_units < folds:
        raise ValueError(f"{where}: {n_units} {unit_name} cannot make {folds} folds: use fewer folds or smaller units")
    assignment = np.full((repeats, labels.size), UNUSED, dtype=np.int64)
    index = np.flatnonzero(labelled)
    for repeat in range(repeats):
        if policy == "random":
            splitter = StratifiedKFold(folds, shuffle=True, random_state=seed + repeat)
            parts = splitter.split(np.zeros(index.size), labels[index])
        else:
            splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed + repeat)
            parts = splitter.split(np.zeros(index.size), labels[index], groups=units[index])
        for fold, (_, test) in enumerate(parts):
            assignment[repeat, index[test]] = fold
    text = f"{folds}-fold cross-validation stratified by class" + (f", {repeats} repeats" if repeats > 1 else "")
    return Protocol(policy, folds, repeats, assignment, units, unit_name, f"{text}; the units are {words}")


def fold_split(protocol: Protocol, samples: xr.Dataset, repeat: int, fold: int, early_stopping: bool,
               seed: int = 0) -> np.ndarray:
    """The split codes of one fold (0 train, 1 val, 2 test, -1 unused): a network's validation part is
    :data:`VAL_SHARE` of the training units, by class."""
    codes = protocol.folds[repeat]
    split = np.full(codes.size, samples_format.NO_SPLIT, dtype=np.int8)
    pool = (codes != fold) & (codes != UNUSED)
    split[pool] = samples_format.SPLIT_CODES["train"]
    split[codes == fold] = samples_format.SPLIT_CODES["test"]
    if early_stopping:
        labels = np.where(pool, np.asarray(samples[samples_format.LABEL].values), samples_format.IGNORE_INDEX)
        inner = samples_format.group_split(labels, protocol.units, np.array([1 - VAL_SHARE, VAL_SHARE, 0.0]),
                              np.random.default_rng([seed, repeat, fold]))
        split[inner == samples_format.SPLIT_CODES["val"]] = samples_format.SPLIT_CODES["val"]
    return split


def corrected_t_interval(values: np.ndarray, test_share: float, level: float = 0.95,
                         bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float, float]:
    """``(mean, low, high)`` of per-fold scores with the corrected resampled t interval (Nadeau & Bengio 2003):
    variance ``(1/J + n_test/n_train) s²`` on ``J - 1`` degrees of freedom, clipped to the score's range
    ``bounds``; ``test_share`` is ``n_test/n_train``. NaN bounds with fewer than two finite values."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return (float(values.mean()) if values.size else float("nan")), float("nan"), float("nan")
    mean = float(values.mean())
    half = stats.t.ppf(0.5 + level / 2, values.size - 1) * np.sqrt(
        (1 / values.size + test_share) * values.var(ddof=1))
    return mean, max(mean - float(half), bounds[0]), min(mean + float(half), bounds[1])


def cross_validate(samples: xr.Dataset, config, protocol: Protocol, n_boot: int = 1000, level: float = 0.95,
                   progress: bool = True) -> dict:
    """Train ``config`` (a :class:`~sitsbench.training.map_training.MapTrainingConfig`) on every fold of
    ``protocol`` (repeat ``r`` with seed ``config.seed + r``); returns the protocol, the per-fold scores, the
    pooled scores and per-class F1 with their bootstrap intervals, the per-fold means with their corrected t
    intervals, the pooled scores of each repeat and the pooled confusion matrix (summed over the repeats)."""
    from tqdm import tqdm

    from sitsbench.intervals import bootstrap_scores
    from sitsbench.metrics import classification_metrics
    from sitsbench.training.map_training import predict_samples, stops_early, train_map_model

    names = samples_format.class_names(samples)
    labels = np.asarray(samples[samples_format.LABEL].values)
    early = stops_early(config)
    predicted = np.full(protocol.folds.shape, samples_format.IGNORE_INDEX, dtype=np.int64)
    rows, start = [], time.perf_counter()
    runs = [(r, k) for r in range(protocol.repeats) for k in range(protocol.n_folds)]
    for repeat, fold in tqdm(runs, desc=f"{protocol.n_folds} folds x {protocol.repeats}", unit="fold",
                             disable=not progress):
        split = fold_split(protocol, samples, repeat, fold, early, seed=config.seed)
        model, summary = train_map_model(samples, replace(config, seed=config.seed + repeat, progress=False), split)
        # the model was trained on these samples: its classes are theirs, in their order
        positions, guess, _ = predict_samples(model, samples, split == samples_format.SPLIT_CODES["test"], check_spectra=False)
        predicted[repeat, positions] = guess
        scores = classification_metrics(labels[positions], guess, len(names), names)
        rows.append({"repeat": repeat, "fold": fold, "seed": config.seed + repeat, "n_train": summary["n_train"],
                     "n_val": summary["n_val"], "n_test": int(positions.size), "train_time_s": summary["train_time_s"],
                     **{key: scores[key] for key in (*SCORES, "f1_per_class")}})
    tested = (protocol.folds >= 0).all(axis=0)
    truth, units = labels[tested], protocol.units[tested]
    pooled, over_folds = {}, {}
    test_share = float(np.mean([row["n_test"] / max(row["n_train"] + row["n_val"], 1) for row in rows]))
    for metric in (*SCORES, "f1_per_class"):
        boot = bootstrap_scores(truth, {"model": predicted[:, tested]}, len(names), metric, n_boot, config.seed,
                                units)
        estimate, low, high = boot.interval("model", level)
        if metric == "f1_per_class":
            per_fold = np.array([[np.nan if row[metric][c] is None else row[metric][c] for c in names] for row in rows])
            pooled[metric] = {c: _interval(estimate[i], low[i], high[i]) for i, c in enumerate(names)}
            over_folds[metric] = {c: _interval(*corrected_t_interval(per_fold[:, i], test_share, level))
                                  for i, c in enumerate(names)}
        else:
            pooled[metric] = _interval(estimate, low, high)
            over_folds[metric] = _interval(*corrected_t_interval([row[metric] for row in rows], test_share, level,
                                                                 (-1.0, 1.0) if metric == "kappa" else (0.0, 1.0)))
    per_repeat = [classification_metrics(truth, predicted[r, tested], len(names), names)
                  for r in range(protocol.repeats)]
    matrix = np.sum([scores["confusion_matrix"] for scores in per_repeat], axis=0)
    return {
        "protocol": {"policy": protocol.policy, "folds": protocol.n_folds, "repeats": protocol.repeats,
                     "unit": protocol.unit_name, "n_units": int(np.unique(units).size), "n_tested": int(tested.sum()),
                     "n_groups": int(np.unique(np.asarray(samples[samples_format.GROUP].values)[tested]).size),
                     "words": protocol.words, "level": level, "n_boot": n_boot, "early_stopping": early},
        "class_names": names, "folds": rows, "pooled": pooled, "over_folds": over_folds,
        "pooled_per_repeat": [{"seed": config.seed + r, **{m: scores[m] for m in SCORES}}
                              for r, scores in enumerate(per_repeat)],
        "confusion_matrix": matrix.tolist(), "train_time_s": time.perf_counter() - start,
    }


def _interval(estimate, low, high) -> dict:
    return {"estimate": _number(estimate), "low": _number(low), "high": _number(high)}


def _number(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def record_fields(result: dict, dataset: dict, method: str) -> dict:
    """The ``scores``, ``intervals`` and ``dataset`` of the run record of ``result`` (:func:`cross_validate`) on the
    data described by ``dataset`` (:meth:`~sitsbench.data.loading.LoadedDataset.record`), its method named
    ``method``: one score row per repeat and metric of :data:`SCORES` (its pooled score, with the training time of a
    repeat), one interval row per metric (the pooled score and its bootstrap interval over the protocol's
    ``n_units`` units), and the protocol in words as the data's ``split``."""
    from sitsbench.records import check_intervals, dataset_label, score_row

    protocol, label = result["protocol"], dataset_label(dataset)
    scores = [score_row(label, method, metric, row[metric], unit="sample", seed=row["seed"],
                        train_time_s=result["train_time_s"] / protocol["repeats"])
              for row in result["pooled_per_repeat"] for metric in SCORES]
    intervals = [{"dataset": label, "method": method, "encoder": None, "unit": "sample", "label_fraction": 1.0,
                  "metric": metric, "estimate": _missing(result["pooled"][metric]["estimate"]),
                  "low": result["pooled"][metric]["low"], "high": result["pooled"][metric]["high"],
                  "level": protocol["level"], "n_units": protocol["n_units"]} for metric in SCORES]
    return {"scores": scores, "intervals": check_intervals(intervals), "dataset": {**dataset, "split": protocol["words"]}}


def upgrade_record(path: str | Path, destination: str | Path | None = None) -> bool:
    """Give the record of ``sitsbench validate`` at ``path``, written before record version 2, its
    :func:`record_fields` from the result it kept in its ``metrics`` (nothing is recomputed), and write it to
    ``destination`` (default: in place); ``False`` when it has them already."""
    from sitsbench.records import RECORD_VERSION, read_run_record, update_run_record

    record = read_run_record(path)
    if record["intervals"]:
        return False
    if (record.get("parameters") or {}).get("command") != "validate":
        raise ValueError(f"run record {path} was not written by sitsbench validate")
    dataset = {key: value for key, value in record["dataset"].items() if key != "split"}
    method = next(iter({row["method"] for row in record["scores"]}))
    fields = record_fields(record["metrics"], dataset, method)
    update_run_record(path, destination, record_version=RECORD_VERSION, intervals=fields["intervals"],
                      dataset=fields["dataset"])
    return True


def _missing(value: float | None) -> float:
    return float("nan") if value is None else value


def describe_validation(result: dict) -> str:
    """The report ``sitsbench validate`` prints: the protocol in words, one line per fold, the pooled and per-fold
    scores with their intervals, the per-class F1 and the pooled confusion matrix."""
    import pandas as pd

    from sitsbench.metrics import METRIC_TITLES

    protocol, names = result["protocol"], result["class_names"]
    level = f"{protocol['level']:.0%}"

    def span(cell: dict) -> str:
        if cell["estimate"] is None:
            return "–"
        bounds = "" if cell["low"] is None else f" [{cell['low']:.3f}, {cell['high']:.3f}]"
        return f"{cell['estimate']:.3f}{bounds}"

    lines = [f"protocol: {protocol['words']}"]
    if protocol["early_stopping"]:
        lines.append(f"a network stops early on {VAL_SHARE:.0%} of the training folds' {protocol['unit']}")
    for row in result["folds"]:
        scores = ", ".join(f"{METRIC_TITLES[m]} {row[m]:.3f}" for m in SCORES)
        lines.append(f"  repeat {row['repeat']} fold {row['fold']}: {row['n_train']} train / {row['n_val']} val / "
                     f"{row['n_test']} test samples: {scores}")
    lines.append(f"pooled over {protocol['n_tested']} samples ({level} interval, bootstrap over "
                 f"{protocol['n_units']} {protocol['unit']}" + (" and the repeats" if protocol["repeats"] > 1 else "")
                 + "): " + ", ".join(f"{METRIC_TITLES[m]} {span(result['pooled'][m])}" for m in SCORES))
    lines.append(f"mean over {len(result['folds'])} folds ({level} corrected t interval): "
                 + ", ".join(f"{METRIC_TITLES[m]} {span(result['over_folds'][m])}" for m in SCORES))
    lines.append("F1 per class, pooled (bootstrap) | over folds (t): " + "; ".join(
        f"{c} {span(result['pooled']['f1_per_class'][c])} | {span(result['over_folds']['f1_per_class'][c])}"
        for c in names))
    summed = " (summed over the repeats)" if protocol["repeats"] > 1 else ""
    matrix = pd.DataFrame(result["confusion_matrix"], index=names, columns=names)
    lines.append(f"pooled confusion matrix{summed}, rows = reference, columns = predicted:")
    lines.append(matrix.to_string())
    return "\n".join(lines)
