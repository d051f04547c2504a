"""Task (a) of change detection: was a pixel or parcel changed during the series, and when (see
:mod:`sitsbench.evaluation.change`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.ensemble import RandomForestRegressor

from sitsbench.data import cube as cube_format
from sitsbench.data.normalize import BandStats
from sitsbench.data.timeops import day_of_year, relative_days
from sitsbench.evaluation.change.common import (
    LEVELS,
    ChangeConfig,
    ChangePixels,
    change_pixels,
    change_scores,
    change_split,
    forest_change_proba,
)
from sitsbench.evaluation.label_fraction import stratified_fraction
from sitsbench.evaluation.protocols import freeze, to_parcels
from sitsbench.models.base import SITSClassifier
from sitsbench.runtime import resolve_device, series_in_batches

FEATURES = ("series", "ndvi", "embedding")
DATE_METHODS = ("regression", "argmax")


def candidate_days(days: np.ndarray, window: int) -> np.ndarray:
    """Day of each candidate break ``k = window .. T - window`` (between dates ``k - 1`` and ``k``): their midpoint."""
    days = np.asarray(days, dtype=float)
    if not 1 <= window <= days.size // 2:
        raise ValueError(f"window must be between 1 and {days.size // 2} dates for a {days.size}-date series, "
                         f"got {window}")
    k = np.arange(window, days.size - window + 1)
    return (days[k - 1] + days[k]) / 2


def ndvi_profile(ndvi: np.ndarray, window: int) -> np.ndarray:
    """``(N, K)`` absolute difference of mean NDVI over the ``window`` dates before and after each break
    ``k = window .. T - window``, for ``ndvi`` ``(N, T)``."""
    ndvi = np.asarray(ndvi, dtype=float)
    means = np.lib.stride_tricks.sliding_window_view(ndvi, window, axis=1).mean(axis=-1)  # window starting at s
    return np.abs(means[:, window:] - means[:, : means.shape[1] - window])


def cosine_profile(embeddings: np.ndarray, window: int) -> np.ndarray:
    """``(N, K)`` cosine distance between the embeddings of the ``window`` dates before and after each break
    ``k = window .. T - window``, from the embeddings ``(N, S, D)`` of every run of ``window`` dates
    (:func:`window_embeddings`, ``S = T - window + 1``)."""
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=-1, keepdims=True), 1e-12)
    return 1.0 - np.sum(unit[:, window:] * unit[:, : unit.shape[1] - window], axis=-1)


@torch.no_grad()
def window_embeddings(encoder: SITSClassifier, series: np.ndarray, doy: np.ndarray, window: int,
                      batch_size: int = 8192, device: str = "auto") -> np.ndarray:
    """``(N, S, D)`` embeddings of every run of ``window`` consecutive dates (``S = T - window + 1``) by the frozen
    ``encoder`` (eval mode, no gradients)."""
    device = resolve_device(device)
    encoder = freeze(encoder).to(device)
    series = np.asarray(series, dtype=np.float32)
    n_items, n_time, _ = series.shape
    starts = np.arange(n_time - window + 1)
    runs = np.stack([series[:, s : s + window] for s in starts], axis=1).reshape(-1, window, series.shape[-1])
    run_doy = np.tile(np.stack([doy[s : s + window] for s in starts]), (n_items, 1))  # (N * S, window)
    mask = np.ones(runs.shape[:2], dtype=bool)

    def features(x: torch.Tensor, run_days: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        return encoder.forward_features(x, doy=run_days)

    return series_in_batches(features, runs, run_doy, mask, batch_size, device).reshape(n_items, len(starts), -1)


def anomaly_dates(profile: np.ndarray, days: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Date of the most anomalous break of each row of ``profile`` ``(N, K)``: values are standardised per candidate
    with the mean and std of ``reference`` (profiles of unchanged pixels), ``days`` ``(K,)`` dates the candidates."""
    reference = np.asarray(reference, dtype=float)
    if reference.ndim != 2 or reference.shape[0] < 2:
        raise ValueError(f"reference must hold the profiles of at least 2 unchanged pixels, got {reference.shape}")
    z = (np.asarray(profile, float) - reference.mean(axis=0)) / (reference.std(axis=0) + 1e-9)
    return np.asarray(days, dtype=float)[np.argmax(z, axis=1)]


def _features(kind: str, pixels: ChangePixels, doy: np.ndarray, window: int, encoder: SITSClassifier | None,
              device: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Classifier features and the break profile (None for the raw series)."""
    if kind == "series":
        return pixels.series.reshape(len(pixels.series), -1), None
    if kind == "ndvi":
        profile = ndvi_profile(pixels.ndvi, window)
        return np.concatenate([profile, pixels.ndvi], axis=1), profile
    embeddings = window_embeddings(encoder, pixels.series, doy, window, device=device)
    profile = cosine_profile(embeddings, window)
    return np.concatenate([profile, embeddings.reshape(len(embeddings), -1)], axis=1), profile


@dataclass
class ChangeRun:
    """One change-detection run: ``scores`` (flat dict), the per-pixel test table ``pixels`` (row, col, parcel,
    changed, proba, predicted, day, predicted_day) and the per-parcel table ``parcels`` (same columns by parcel)."""

    scores: dict
    pixels: pd.DataFrame
    parcels: pd.DataFrame


def detect_changes(
    cube: xr.Dataset,
    features: str = "series",
    date_method: str = "regression",
    encoder: SITSClassifier | None = None,
    label_fraction: float = 1.0,
    seed: int = 0,
    config: ChangeConfig | None = None,
) -> ChangeRun:
    """Task (a): train the "changed" Random Forest on ``features`` (see :data:`FEATURES`) of ``label_fraction`` of the
    training pixels (stratified by changed / unchanged), estimate dates with ``date_method``, score the test pixels
    and parcels. Train and test parcels come from a stratified parcel split (``config.split_seed``)."""
    config = config or ChangeConfig()
    window, max_train_pixels, n_estimators, device = (config.window, config.max_train_pixels, config.n_estimators,
                                                      config.device)
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    if date_method not in DATE_METHODS:
        raise ValueError(f"date_method must be one of {DATE_METHODS}, got {date_method!r}")
    if features == "embedding" and encoder is None:
        raise ValueError("features='embedding' needs a (pretrained) series encoder: encoder=...")
    train_mask, test_mask = change_split(cube, config.split_seed)
    stats = BandStats.from_cube(cube, train_mask)
    train = change_pixels(cube, train_mask, stats, max_train_pixels, seed)
    test = change_pixels(cube, test_mask, stats, None, seed)
    kept = stratified_fraction(train.changed, label_fraction, seed)
    doy = day_of_year(cube[cube_format.TIME].values)
    x_train, train_profile = _features(features, train, doy, window, encoder, device)
    x_test, test_profile = _features(features, test, doy, window, encoder, device)
    x_train = x_train[kept]
    y_train = train.changed[kept]
    proba = forest_change_proba(x_train, y_train, x_test, n_estimators, seed)
    days = relative_days(cube[cube_format.TIME].values).astype(float)
    if date_method == "regression":
        moved = y_train == 1
        if not moved.any():
            raise ValueError("date_method='regression' needs changed pixels among the training labels")
        regressor = RandomForestRegressor(n_estimators, random_state=seed, n_jobs=1)
        predicted_day = regressor.fit(x_train[moved], train.day[kept][moved]).predict(x_test)
    else:
        if train_profile is None:  # a flattened series is no break profile: date the NDVI breaks
            train_profile, test_profile = ndvi_profile(train.ndvi, window), ndvi_profile(test.ndvi, window)
        reference = train_profile[kept][y_train == 0]
        predicted_day = anomaly_dates(test_profile, candidate_days(days, window), reference)
    pixels = pd.DataFrame({"row": test.rows, "col": test.cols, "parcel": test.parcel, "changed": test.changed,
                           "proba": proba, "predicted": (proba >= 0.5).astype(int), "day": test.day,
                           "predicted_day": predicted_day})
    parcels = parcel_changes(pixels)
    scores = {"features": features, "date_method": date_method, "label_fraction": float(label_fraction),
              "seed": int(seed), "window": int(window), "n_train_pixels": int(kept.size)}
    for level, table in zip(LEVELS, (pixels, parcels), strict=True):
        level_scores = change_scores(table["changed"], table["predicted"], table["day"], table["predicted_day"])
        scores.update({f"{level}_{key}": value for key, value in level_scores.items()})
    return ChangeRun(scores, pixels, parcels)


def parcel_changes(pixels: pd.DataFrame) -> pd.DataFrame:
    """Per parcel of a pixel table: mean change probability (changed when >= 0.5), majority truth, the true day and
    the median of the pixels' estimated days."""
    ids, proba, changed = to_parcels(pixels["proba"].to_numpy()[:, None], pixels["changed"].to_numpy(),
                                     pixels["parcel"].to_numpy())
    grouped = pixels.groupby("parcel")
    return pd.DataFrame({"parcel": ids, "changed": changed, "proba": proba[:, 0],
                         "predicted": (proba[:, 0] >= 0.5).astype(int),
                         "day": grouped["day"].median().loc[ids].to_numpy(),
                         "predicted_day": grouped["predicted_day"].median().loc[ids].to_numpy()})


def run_change_detection(cube: xr.Dataset, features: str = "series", date_method: str = "regression",
                         encoder: SITSClassifier | None = None, **kwargs) -> dict:
    """The flat ``scores`` of :func:`detect_changes`: ``pixel_f1``, ``pixel_precision``, ``pixel_recall``,
    ``pixel_all_changed_f1``, ``pixel_date_mae_days``, ``pixel_date_mae_detected_days``, the same with ``parcel_``,
    and the run's settings."""
    return detect_changes(cube, features, date_method, encoder, **kwargs).scores
