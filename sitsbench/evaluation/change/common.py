"""What both change tasks share: the targets read from the cube, the scores of the changed class, the pixels of a
split with their standardised series and NDVI, the parcel split and the Random Forest's change probability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format
from sitsbench.data.datasets import pixel_series
from sitsbench.data.indices import ndvi_values
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels, subsample
from sitsbench.models.classical import random_forest
from sitsbench.records import score_row

CHANGE_DATE = "change_date"
AMBIGUOUS = -1
"""Label of pixels that are not scored (bi-temporal: a change inside one of the two windows)."""


@dataclass(frozen=True)
class ChangeConfig:
    """Knobs shared by both change tasks: ``window`` dates per half-window (task a) or per date window (task b),
    the seed of the stratified parcel split, at most ``max_train_pixels`` training pixels (a seeded sample), the
    trees of the Random Forests, and the device of a frozen encoder."""

    window: int = 3
    split_seed: int = 0
    max_train_pixels: int | None = 5000
    n_estimators: int = 100
    device: str = "auto"


def change_targets(cube: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(y, x)`` arrays: 1 where the land cover changes, and the change day counted from the cube's first date
    (float, NaN where nothing changes)."""
    missing = [name for name in (cube_format.CHANGE, CHANGE_DATE) if name not in cube]
    if missing:
        raise ValueError(f"the cube has no {missing} layer(s): change detection needs a cube with change events, "
                         "e.g. generate_cube(..., change_fraction=0.3)")
    changed = np.asarray(cube[cube_format.CHANGE].values).astype(np.int64)
    dates = np.asarray(cube[CHANGE_DATE].values, dtype="datetime64[D]")
    start = np.asarray(cube[cube_format.TIME].values[0], dtype="datetime64[D]")
    days = np.where(np.isnat(dates), np.nan, (dates - start).astype("timedelta64[D]").astype(float))
    return changed, days


LEVELS = ("pixel", "parcel")
"""The levels a change run is scored at: the test pixels, and their parcels (``pixel_f1``, ``parcel_f1``...)."""


def change_score_rows(scores: dict, dataset: str, method: str, encoder: str | None = None,
                      metrics: tuple[str, ...] = ("f1", "date_mae_days")) -> list[dict]:
    """The score rows (:mod:`sitsbench.records`) of the flat ``scores`` of a change run (:func:`detect_changes`,
    :func:`bitemporal_change`): one per level of :data:`LEVELS` (the row's ``unit``) and metric of ``metrics`` that
    the run has, with its label fraction and seed."""
    return [score_row(dataset, method, metric, scores[f"{level}_{metric}"], encoder=encoder, unit=level,
                      label_fraction=scores["label_fraction"], seed=scores["seed"])
            for level in LEVELS for metric in metrics if f"{level}_{metric}" in scores]


def change_scores(changed: np.ndarray, predicted: np.ndarray, day: np.ndarray | None = None,
                  predicted_day: np.ndarray | None = None) -> dict[str, float]:
    """Precision, recall and F1 of the changed class (``changed == -1`` is not scored), the all-"changed" F1, and
    with dates the mean absolute date error in days over the true changes and over the detected ones."""
    changed, predicted = np.asarray(changed).ravel(), np.asarray(predicted).ravel()
    if changed.shape != predicted.shape:
        raise ValueError(f"changed and predicted differ in size: {changed.size} vs {predicted.size}")
    scored = changed != AMBIGUOUS
    truth, guess = changed[scored] == 1, predicted[scored] == 1
    tp, fp, fn = np.sum(truth & guess), np.sum(~truth & guess), np.sum(truth & ~guess)
    rate = truth.mean() if truth.size else float("nan")
    out = {
        "f1": float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else float("nan"),
        "precision": float(tp / (tp + fp)) if tp + fp else float("nan"),
        "recall": float(tp / (tp + fn)) if tp + fn else float("nan"),
        "all_changed_f1": float(2 * rate / (1 + rate)) if truth.any() else float("nan"),
        "change_rate": float(rate),
        "n": int(truth.size),
    }
    if day is not None and predicted_day is not None:
        error = np.abs(np.asarray(predicted_day, float).ravel() - np.asarray(day, float).ravel())[scored]
        out["date_mae_days"] = float(np.mean(error[truth])) if truth.any() else float("nan")
        out["date_mae_detected_days"] = float(np.mean(error[truth & guess])) if (truth & guess).any() else float("nan")
    return out


@dataclass
class ChangePixels:
    """The pixels of one split: positions, parcel, standardised series, NDVI, change truth and day."""

    rows: np.ndarray
    cols: np.ndarray
    parcel: np.ndarray
    series: np.ndarray  # standardised (N, T, C)
    ndvi: np.ndarray  # (N, T) from gap-filled reflectance
    changed: np.ndarray
    day: np.ndarray


def change_pixels(cube: xr.Dataset, where: np.ndarray, stats: BandStats, max_pixels: int | None,
                  seed: int) -> ChangePixels:
    """The pixels of ``where`` (at most ``max_pixels``, a seeded sample) with their series and change truth."""
    rows, cols = np.nonzero(where)
    keep = subsample(rows.size, max_pixels, seed)
    rows, cols = rows[keep], cols[keep]
    raw, _ = pixel_series(cube, rows, cols, None)
    changed, day = change_targets(cube)
    return ChangePixels(rows, cols, np.asarray(cube[cube_format.PARCEL].values[rows, cols], dtype=np.int64),
                   stats.standardize(raw), ndvi_values(raw, [str(b) for b in cube[cube_format.BAND].values]),
                   changed[rows, cols], day[rows, cols])


def forest_change_proba(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, n_estimators: int,
                  seed: int) -> np.ndarray:
    """Probability of "changed" by a Random Forest (0 everywhere when no training item changed)."""
    forest = random_forest(seed, n_estimators, n_jobs=1).fit(x_train, y_train)
    if 1 not in forest.classes_:
        return np.zeros(len(x_test))
    return forest.predict_proba(x_test)[:, list(forest.classes_).index(1)]


def change_split(cube: xr.Dataset, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test masks of a stratified 70 / 30 parcel split."""
    split = split_parcels(cube, fractions=(0.7, 0.0, 0.3), seed=split_seed, by="parcel")
    return split_mask(split, "train"), split_mask(split, "test")
