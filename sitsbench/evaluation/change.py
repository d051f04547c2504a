"""Change detection on synthetic change events: was the land cover of a pixel or parcel changed, and when?

The synthetic generator (:mod:`sitsbench.data.synthetic`, ``change_fraction > 0``) turns a share of the parcels into
bare soil or buildings on a random day between day 60 and day 300; the cube then holds ``change`` (1 = changed) and
``change_date`` (the day, NaT elsewhere). Two tasks are scored here.

**(a) Change inside the series.** A binary "changed" classifier per pixel, on one of three representations:

* ``"series"`` — the whole gap-filled, standardised series flattened (``T x C`` values) into a Random Forest
  (Breiman 2001), the supervised operational baseline;
* ``"ndvi"`` — the NDVI series and its *break profile*: for every candidate break ``k``, the absolute difference of
  mean NDVI over the ``window`` dates before and after ``k``;
* ``"embedding"`` — a frozen encoder's embeddings of every run of ``window`` dates and their break profile: the
  cosine distance between the embeddings of the two half-windows around each ``k`` (a *sliding pair of
  half-series*), so that a pretrained representation decides what differs.

Each representation feeds the same Random Forest. The change date is estimated either by a Random Forest **regressor**
trained on the changed training pixels (``date_method="regression"``), or without labels of dates by the
**argmax of the profile's anomaly** (``"argmax"``): each candidate's profile value is standardised with the mean and
standard deviation of the *unchanged* training pixels at that candidate, which removes the jumps that phenology
itself causes (green-up, harvest) at the same time in every year, and the most anomalous break is taken (the idea of
break detection against a seasonal model, as in BFAST: Verbesselt et al. 2010, Remote Sensing of Environment
114:106-115). A break between dates ``k-1`` and ``k`` is dated at their midpoint.

Parcels aggregate their pixels: the mean of the pixels' change probabilities (changed when >= 0.5) and the median of
their estimated dates.

**(b) Bi-temporal change** (the classic two-image setting, Singh 1989, "Digital change detection techniques using
remotely-sensed data", IJRS 10:989-1003): two short windows of dates, *before* and *after*; a pixel changed when its
change day falls between them (pixels whose change falls inside a window are ambiguous and not scored). Methods:
``"cva"`` — change vector analysis (Malila 1980), the norm of the difference of the standardised window means,
thresholded at the value that maximises F1 on the training pixels; ``"bands"`` — a Random Forest on both window means
and their difference; ``"embedding"`` — a Random Forest on both windows' embeddings and their absolute difference.

**Scores**: precision, recall and F1 of the *changed* class (the rare class; overall accuracy would reward saying
"no change" everywhere), the F1 of the trivial all-"changed" answer for reference (``2p / (1 + p)`` for a change rate
``p``), and the mean absolute error of the estimated date in days over the true changes (``date_mae_days``) and over
the detected true changes (``date_mae_detected_days``).

>>> cube = generate_cube("toy", change_fraction=0.3, height=96, width=96)
>>> run = detect_changes(cube, "embedding", "regression", encoder=pretrained)
>>> run.scores["pixel_f1"], run.scores["parcel_date_mae_days"]   # flat dict, one DataFrame row
>>> fig = plot_change_dates(run, cube)                            # NDVI with true and estimated dates
>>> bitemporal_change(cube, "cva")["pixel_f1"]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from sitsbench.data import cube as C
from sitsbench.data.datasets import pixel_series
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.data.timeops import day_of_year, relative_days
from sitsbench.evaluation.label_fraction import stratified_fraction
from sitsbench.evaluation.protocols import freeze, to_parcels
from sitsbench.models.base import SITSClassifier
from sitsbench.runtime import resolve_device

CHANGE_DATE = "change_date"
FEATURES = ("series", "ndvi", "embedding")
DATE_METHODS = ("regression", "argmax")
BITEMPORAL_METHODS = ("cva", "bands", "embedding")
AMBIGUOUS = -1
"""Label of pixels that are not scored (bi-temporal: a change inside one of the two windows)."""


def change_targets(cube: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(y, x)`` arrays: 1 where the land cover changes, and the change day counted from the cube's first date
    (float, NaN where nothing changes)."""
    missing = [name for name in (C.CHANGE, CHANGE_DATE) if name not in cube]
    if missing:
        raise ValueError(f"the cube has no {missing} layer(s): change detection needs a cube with change events, "
                         "e.g. generate_cube(..., change_fraction=0.3)")
    changed = np.asarray(cube[C.CHANGE].values).astype(np.int64)
    dates = np.asarray(cube[CHANGE_DATE].values, dtype="datetime64[D]")
    start = np.asarray(cube[C.TIME].values[0], dtype="datetime64[D]")
    days = np.where(np.isnat(dates), np.nan, (dates - start).astype("timedelta64[D]").astype(float))
    return changed, days


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
    run_doy = torch.as_tensor(np.stack([doy[s : s + window] for s in starts]), dtype=torch.long)
    out = []
    for i in range(0, len(runs), batch_size):
        x = torch.from_numpy(runs[i : i + batch_size]).to(device)
        index = torch.arange(i, i + len(x)) % len(starts)
        out.append(encoder.forward_features(x, doy=run_doy[index].to(device)).cpu().numpy())
    return np.concatenate(out).reshape(n_items, len(starts), -1)


def anomaly_dates(profile: np.ndarray, days: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Date of the most anomalous break of each row of ``profile`` ``(N, K)``: values are standardised per candidate
    with the mean and std of ``reference`` (profiles of unchanged pixels), ``days`` ``(K,)`` dates the candidates."""
    reference = np.asarray(reference, dtype=float)
    if reference.ndim != 2 or reference.shape[0] < 2:
        raise ValueError(f"reference must hold the profiles of at least 2 unchanged pixels, got {reference.shape}")
    z = (np.asarray(profile, float) - reference.mean(axis=0)) / (reference.std(axis=0) + 1e-9)
    return np.asarray(days, dtype=float)[np.argmax(z, axis=1)]


def _ndvi(values: np.ndarray, bands: list[str]) -> np.ndarray:
    nir, red = values[..., bands.index("B08")], values[..., bands.index("B04")]
    return (nir - red) / np.maximum(nir + red, 1e-6)


@dataclass
class _Pixels:
    rows: np.ndarray
    cols: np.ndarray
    parcel: np.ndarray
    series: np.ndarray  # standardised (N, T, C)
    ndvi: np.ndarray  # (N, T) from gap-filled reflectance
    changed: np.ndarray
    day: np.ndarray


def _pixels(cube: xr.Dataset, where: np.ndarray, stats: BandStats, max_pixels: int | None, seed: int) -> _Pixels:
    rows, cols = np.nonzero(where)
    if max_pixels is not None and rows.size > max_pixels:
        keep = np.sort(np.random.default_rng(seed).choice(rows.size, max_pixels, replace=False))
        rows, cols = rows[keep], cols[keep]
    raw, _ = pixel_series(cube, rows, cols, None)
    changed, day = change_targets(cube)
    return _Pixels(rows, cols, np.asarray(cube[C.PARCEL].values[rows, cols], dtype=np.int64),
                   stats.standardize(raw), _ndvi(raw, [str(b) for b in cube[C.BAND].values]),
                   changed[rows, cols], day[rows, cols])


def _features(kind: str, pixels: _Pixels, doy: np.ndarray, window: int, encoder: SITSClassifier | None,
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


def _forest_proba(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, n_estimators: int,
                  seed: int) -> np.ndarray:
    """Probability of "changed" by a Random Forest (0 everywhere when no training item changed)."""
    forest = RandomForestClassifier(n_estimators, random_state=seed, n_jobs=1).fit(x_train, y_train)
    if 1 not in forest.classes_:
        return np.zeros(len(x_test))
    return forest.predict_proba(x_test)[:, list(forest.classes_).index(1)]


def _split(cube: xr.Dataset, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    split = split_parcels(cube, fractions=(0.7, 0.0, 0.3), seed=split_seed, by="parcel")
    return split_mask(split, "train"), split_mask(split, "test")


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
    window: int = 3,
    label_fraction: float = 1.0,
    seed: int = 0,
    split_seed: int = 0,
    max_train_pixels: int | None = 5000,
    n_estimators: int = 100,
    device: str = "auto",
) -> ChangeRun:
    """Task (a): train the "changed" Random Forest on ``features`` (see :data:`FEATURES`) of ``label_fraction`` of the
    training pixels (stratified by changed / unchanged), estimate dates with ``date_method``, score the test pixels
    and parcels. Train and test parcels come from a stratified parcel split (``split_seed``)."""
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    if date_method not in DATE_METHODS:
        raise ValueError(f"date_method must be one of {DATE_METHODS}, got {date_method!r}")
    if features == "embedding" and encoder is None:
        raise ValueError("features='embedding' needs a (pretrained) series encoder: encoder=...")
    train_mask, test_mask = _split(cube, split_seed)
    stats = BandStats.from_cube(cube, train_mask)
    train = _pixels(cube, train_mask, stats, max_train_pixels, seed)
    test = _pixels(cube, test_mask, stats, None, seed)
    kept = stratified_fraction(train.changed, label_fraction, seed)
    doy = day_of_year(cube[C.TIME].values)
    x_train, train_profile = _features(features, train, doy, window, encoder, device)
    x_test, test_profile = _features(features, test, doy, window, encoder, device)
    x_train = x_train[kept]
    y_train = train.changed[kept]
    proba = _forest_proba(x_train, y_train, x_test, n_estimators, seed)
    days = relative_days(cube[C.TIME].values).astype(float)
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
    parcels = parcel_table(pixels)
    scores = {"features": features, "date_method": date_method, "label_fraction": float(label_fraction),
              "seed": int(seed), "window": int(window), "n_train_pixels": int(kept.size)}
    for level, table in (("pixel", pixels), ("parcel", parcels)):
        level_scores = change_scores(table["changed"], table["predicted"], table["day"], table["predicted_day"])
        scores.update({f"{level}_{key}": value for key, value in level_scores.items()})
    return ChangeRun(scores, pixels, parcels)


def parcel_table(pixels: pd.DataFrame) -> pd.DataFrame:
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


def bitemporal_targets(cube: xr.Dataset, before: Sequence[int], after: Sequence[int]) -> np.ndarray:
    """``(y, x)``: 1 when the change day falls after the last date of ``before`` and no later than the first date of
    ``after`` (date indices), 0 when nothing changes between the first and the last of these dates, and
    :data:`AMBIGUOUS` when the change falls inside a window."""
    before, after = np.sort(np.asarray(before)), np.sort(np.asarray(after))
    if before.size == 0 or after.size == 0 or before[-1] >= after[0]:
        raise ValueError(f"the 'before' dates {before.tolist()} must all precede the 'after' dates {after.tolist()}")
    days = relative_days(cube[C.TIME].values).astype(float)
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


def _bitemporal_features(method: str, pixels: _Pixels, before: np.ndarray, after: np.ndarray, doy: np.ndarray,
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
    window: int = 3,
    label_fraction: float = 1.0,
    seed: int = 0,
    split_seed: int = 0,
    max_train_pixels: int | None = 5000,
    n_estimators: int = 100,
    device: str = "auto",
) -> dict:
    """Task (b): change between the ``before`` and ``after`` date indices (default: the first and the last
    ``window`` dates) with ``method`` (see :data:`BITEMPORAL_METHODS`); returns ``pixel_*`` and ``parcel_*`` scores
    (F1, precision, recall, all-"changed" F1) and the settings."""
    if method not in BITEMPORAL_METHODS:
        raise ValueError(f"method must be one of {BITEMPORAL_METHODS}, got {method!r}")
    if method == "embedding" and encoder is None:
        raise ValueError("method='embedding' needs a (pretrained) series encoder: encoder=...")
    n_time = cube.sizes[C.TIME]
    before = np.arange(window) if before is None else np.asarray(before)
    after = np.arange(n_time - window, n_time) if after is None else np.asarray(after)
    target = bitemporal_targets(cube, before, after)
    train_mask, test_mask = _split(cube, split_seed)
    stats = BandStats.from_cube(cube, train_mask)
    train = _pixels(cube, train_mask & (target != AMBIGUOUS), stats, max_train_pixels, seed)
    test = _pixels(cube, test_mask, stats, None, seed)
    y_train = target[train.rows, train.cols]
    kept = stratified_fraction(y_train, label_fraction, seed)
    doy = day_of_year(cube[C.TIME].values)
    x_train = _bitemporal_features(method, train, before, after, doy, encoder, device)[kept]
    x_test = _bitemporal_features(method, test, before, after, doy, encoder, device)
    if method == "cva":
        proba = (x_test[:, 0] >= best_threshold(x_train[:, 0], y_train[kept])).astype(float)
    else:
        proba = _forest_proba(x_train, y_train[kept], x_test, n_estimators, seed)
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


def plot_change_dates(run: ChangeRun, cube: xr.Dataset, n_parcels: int = 4, seed: int = 0) -> plt.Figure:
    """NDVI (mean of the clear pixels) of ``n_parcels`` changed test parcels (seeded pick among the changed ones),
    with the true change date (solid) and the estimated one (dashed), and whether the parcel was detected."""
    changed = run.parcels[run.parcels["changed"] == 1]
    if changed.empty:
        raise ValueError("the run's test set has no changed parcel to plot")
    picks = changed.sample(min(n_parcels, len(changed)), random_state=seed).sort_values("parcel")
    days = relative_days(cube[C.TIME].values)
    parcel_map = np.asarray(cube[C.PARCEL].values)
    bands = [str(b) for b in cube[C.BAND].values]
    fig, axes = plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 3), squeeze=False, sharey=True)
    for ax, (_, parcel) in zip(axes[0], picks.iterrows()):
        rows, cols = np.nonzero(parcel_map == parcel["parcel"])
        values = np.moveaxis(np.asarray(cube[C.REFLECTANCE].values[:, :, rows, cols]), 1, -1)  # (T, P, C)
        clear = np.asarray(cube[C.VALID].values[:, rows, cols])
        ndvi = np.where(clear, _ndvi(values, bands), np.nan)
        observed = clear.any(axis=1)
        ax.plot(days[observed], np.nanmean(ndvi[observed], axis=1), "o-", color="tab:green", ms=3, label="NDVI")
        ax.axvline(parcel["day"], color="black", label="true change")
        ax.axvline(parcel["predicted_day"], color="tab:red", ls="--", label="estimated")
        verdict = "detected" if parcel["predicted"] == 1 else "missed"
        ax.set_title(f"parcel {int(parcel['parcel'])}: {verdict} (p={parcel['proba']:.2f})", fontsize=9)
        ax.set_xlabel("days since first date")
    axes[0, 0].set_ylabel("NDVI (clear pixels)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Changed test parcels ({run.scores['features']} features, {run.scores['date_method']} dates)")
    fig.tight_layout()
    return fig
