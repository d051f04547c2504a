"""Task (b) of change detection: change between two short windows of dates, *before* and *after* (see
:mod:`sitsbench.evaluation.change`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from sitsbench.data import cube as cube_format
from sitsbench.data.normalize import BandStats
from sitsbench.data.timeops import day_of_year, relative_days
from sitsbench.evaluation.change.common import (
    AMBIGUOUS,
    ChangeConfig,
    ChangePixels,
    change_pixels,
    change_scores,
    change_split,
    change_targets,
    forest_change_proba,
)
from sitsbench.evaluation.label_fraction import stratified_fraction
from sitsbench.evaluation.protocols import freeze, to_parcels
from sitsbench.models.base import SITSClassifier
from sitsbench.runtime import resolve_device

BITEMPORAL_METHODS = ("cva", "bands", "embedding")


def bitemporal_targets(cube: xr.Dataset, before: Sequence[int], after: Sequence[int]) -> np.ndarray:
    """``(y, x)``: 1 when the change day falls after the last date of ``before`` and no later than the first date of
    ``after`` (date indices), 0 when nothing changes between the first and the last of these dates, and
    :data:`AMBIGUOUS` when the change falls inside a window."""
    before, after = np.sort(np.asarray(before)), np.sort(np.asarray(after))
    if before.size == 0 or after.size == 0 or before[-1] >= after[0]:
        raise ValueError(f"the 'before' dates {before.tolist()} must all precede the 'after' dates {after.tolist()}")
    days = relative_days(cube[cube_format.TIME].values).astype(float)
    changed, day = change_targets(cube)
    with np.errstate(invalid="ignore"):
        between = (changed == 1) & (day > days[before[-1]]) & (day <= days[after[0]])
        inside = (changed == 1) & (day > days[before[0]]) & (day <= days[after[-1]]) & ~between
    return np.where(between, 1, np.where(inside, AMBIGUOUS, 0))


@torch.no_grad()
def _embed_dates(encoder: SITSClassifier, series: np.ndarray, doy: np.ndarray, dates: np.ndarray,
                 device: str) -> np.ndarray:
    """``(N, D)`` frozen embeddings of the sub-series made of the date indices ``dates``."""
    device = resolve_device(device)
    x = torch.from_numpy(np.ascontiguousarray(series[:, dates])).to(device)
    days = torch.as_tensor(doy[dates], dtype=torch.long, device=device).expand(len(x), -1)
    return freeze(encoder).to(device).forward_features(x, doy=days).cpu().numpy()


def _bitemporal_features(method: str, pixels: ChangePixels, before: np.ndarray, after: np.ndarray, doy: np.ndarray,
                         encoder: SITSClassifier | None, device: str) -> np.ndarray:
    if method == "embedding":
        first, second = (_embed_dates(encoder, pixels.series, doy, dates, device) for dates in (before, after))
        return np.concatenate([first, second, np.abs(second - first)], axis=1)
    first, second = pixels.series[:, before].mean(axis=1), pixels.series[:, after].mean(axis=1)
    if method == "cva":
        return np.linalg.norm(second - first, axis=1, keepdims=True)
    return np.concatenate([first, second, second - first], axis=1)


def best_threshold(magnitude: np.ndarray, changed: np.ndarray) -> float:
    """The threshold on ``magnitude`` (``magnitude >= t`` = changed) that maximises F1 on ``changed``."""
    magnitude, changed = np.asarray(magnitude, float), np.asarray(changed) == 1
    candidates = np.unique(magnitude)
    f1 = [change_scores(changed.astype(int), (magnitude >= t).astype(int))["f1"] for t in candidates]
    return float(candidates[int(np.nanargmax(f1))])


def bitemporal_change(
    cube: xr.Dataset,
    method: str = "bands",
    before: Sequence[int] | None = None,
    after: Sequence[int] | None = None,
    encoder: SITSClassifier | None = None,
    label_fraction: float = 1.0,
    seed: int = 0,
    config: ChangeConfig | None = None,
) -> dict:
    """Task (b): change between the ``before`` and ``after`` date indices (default: the first and the last
    ``config.window`` dates) with ``method`` (see :data:`BITEMPORAL_METHODS`); returns ``pixel_*`` and ``parcel_*``
    scores (F1, precision, recall, all-"changed" F1) and the settings."""
    config = config or ChangeConfig()
    window, device = config.window, config.device
    if method not in BITEMPORAL_METHODS:
        raise ValueError(f"method must be one of {BITEMPORAL_METHODS}, got {method!r}")
    if method == "embedding" and encoder is None:
        raise ValueError("method='embedding' needs a (pretrained) series encoder: encoder=...")
    n_time = cube.sizes[cube_format.TIME]
    before = np.arange(window) if before is None else np.asarray(before)
    after = np.arange(n_time - window, n_time) if after is None else np.asarray(after)
    target = bitemporal_targets(cube, before, after)
    train_mask, test_mask = change_split(cube, config.split_seed)
    stats = BandStats.from_cube(cube, train_mask)
    train = change_pixels(cube, train_mask & (target != AMBIGUOUS), stats, config.max_train_pixels, seed)
    test = change_pixels(cube, test_mask, stats, None, seed)
    y_train = target[train.rows, train.cols]
    kept = stratified_fraction(y_train, label_fraction, seed)
    doy = day_of_year(cube[cube_format.TIME].values)
    x_train = _bitemporal_features(method, train, before, after, doy, encoder, device)[kept]
    x_test = _bitemporal_features(method, test, before, after, doy, encoder, device)
    if method == "cva":
        proba = (x_test[:, 0] >= best_threshold(x_train[:, 0], y_train[kept])).astype(float)
    else:
        proba = forest_change_proba(x_train, y_train[kept], x_test, config.n_estimators, seed)
    truth = target[test.rows, test.cols]
    scores = {"method": method, "before": before.tolist(), "after": after.tolist(),
              "label_fraction": float(label_fraction), "seed": int(seed)}
    pixel = change_scores(truth, proba >= 0.5)
    scored = truth != AMBIGUOUS
    _, parcel_proba, parcel_truth = to_parcels(proba[scored, None], truth[scored], test.parcel[scored])
    parcel = change_scores(parcel_truth, parcel_proba[:, 0] >= 0.5)
    scores.update({f"pixel_{key}": value for key, value in pixel.items()})
    scores.update({f"parcel_{key}": value for key, value in parcel.items()})
    return scores
