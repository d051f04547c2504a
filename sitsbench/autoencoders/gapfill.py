"""Gap filling with a trained auto-encoder, scored on held-out clear dates against simple baselines.

Clouds leave no ground truth under them, so the evaluation hides *clear* dates (:func:`hold_out_dates`), asks
each method to fill them from the remaining clear dates, and compares the fills with the hidden values:
RMSE per band over the held-out entries (:func:`rmse_per_band`). Baselines: temporal linear interpolation
between the nearest clear dates (the usual pre-processing of SITS classifiers, e.g. Inglada et al. 2017,
"Operational High Resolution Land Cover Map Production at the Country Scale Using Satellite Image Time
Series", Remote Sensing 9:95) and a constant per pixel and band (the mean of its clear observations).
"""

from __future__ import annotations

import numpy as np

from sitsbench.autoencoders.base import SITSAutoEncoder
from sitsbench.data.timeops import interpolate_series
from sitsbench.runtime import resolve_device, series_in_batches


def hold_out_dates(mask: np.ndarray, fraction: float, seed: int = 0, keep: int = 2) -> np.ndarray:
    """``(N, T)`` boolean: a random ``fraction`` of each series' clear dates, hidden for evaluation.

    At least ``keep`` clear dates of every series stay visible (a series with fewer clear dates loses none).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    mask = np.asarray(mask, dtype=bool)
    scores = np.where(mask, np.random.default_rng(seed).random(mask.shape), np.inf)
    rank = scores.argsort(axis=1).argsort(axis=1)  # 0 = first clear date to hide
    n_clear = mask.sum(axis=1, keepdims=True)
    n_hidden = np.minimum(np.round(fraction * n_clear), np.maximum(n_clear - keep, 0))
    return mask & (rank < n_hidden)


def linear_fill(x: np.ndarray, mask: np.ndarray, days: np.ndarray) -> np.ndarray:
    """``(N, T, C)`` series with every date replaced by linear interpolation of the clear ones over ``days``
    (constant before the first and after the last clear date; a series with no clear date gets 0).

    ``days`` is ``(T,)`` for series sharing their dates, or ``(N, T)`` for series with their own dates
    (labelled samples); series with the same days are interpolated together.
    """
    days = np.asarray(days, dtype=np.float64)
    if days.ndim == 2:
        out = np.zeros(np.shape(x), dtype=np.float32)
        unique, inverse = np.unique(days, axis=0, return_inverse=True)
        for k, row in enumerate(unique):
            members = np.flatnonzero(inverse.ravel() == k)
            out[members] = linear_fill(x[members], np.asarray(mask)[members], row)
        return out
    values = np.asarray(x, dtype=np.float32).transpose(1, 0, 2)  # (T, N, C)
    filled = interpolate_series(values, np.asarray(mask, dtype=bool).T, days, days).transpose(1, 0, 2)
    return np.nan_to_num(filled, nan=0.0)


def constant_fill(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(N, T, C)``: every date of a series set to the mean of its clear observations, per band (0 if none)."""
    weights = np.asarray(mask, dtype=np.float32)[..., None]
    mean = (np.where(weights > 0, x, 0.0) * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
    return np.broadcast_to(mean[:, None, :], x.shape).astype(np.float32)


def apply_to_series(model: SITSAutoEncoder, call: str, x: np.ndarray, doy: np.ndarray, mask: np.ndarray,
                    batch_size: int = 1024, device: str = "auto") -> np.ndarray:
    """``model.<call>(x, doy, mask)`` (``"forward"``: the reconstruction, ``"encode"``: the code) of ``(N, T, C)``
    pixel series held in memory, batch by batch in eval mode without gradients, as float32 NumPy."""
    model.to(resolve_device(device)).eval()
    return series_in_batches(getattr(model, call), x, doy, mask, batch_size, device)


def model_fill(model: SITSAutoEncoder, x: np.ndarray, doy: np.ndarray, mask: np.ndarray,
               batch_size: int = 1024, device: str = "auto") -> np.ndarray:
    """``(N, T, C)`` reconstruction by a pixel auto-encoder that sees only the ``mask`` dates of ``x``."""
    return apply_to_series(model, "forward", x, doy, mask, batch_size, device)


def rmse_per_band(prediction: np.ndarray, target: np.ndarray, entries: np.ndarray) -> np.ndarray:
    """``(C,)`` root mean squared error over the ``entries`` ``(N, T)`` of ``(N, T, C)`` arrays."""
    entries = np.asarray(entries, dtype=bool)
    if entries.shape != target.shape[:2]:
        raise ValueError(f"entries must have shape (N, T) = {target.shape[:2]}, got {entries.shape}")
    if not entries.any():
        raise ValueError("entries selects no observation: nothing to score")
    error = (prediction - target)[entries]
    return np.sqrt((error**2).mean(axis=0))


def gap_filling_scores(model: SITSAutoEncoder, x: np.ndarray, doy: np.ndarray, mask: np.ndarray,
                       days: np.ndarray | None = None, fraction: float = 0.2, seed: int = 0,
                       device: str = "auto") -> dict[str, np.ndarray]:
    """RMSE per band on held-out clear dates of the model, linear interpolation and the constant fill.

    ``days`` orders the dates for interpolation (default: ``doy``); values are in the units of ``x``.
    """
    held_out = hold_out_dates(mask, fraction, seed)
    visible = mask & ~held_out
    days = np.asarray(doy if days is None else days, dtype=np.float64)
    fills = {
        "autoencoder": model_fill(model, x, doy, visible, device=device),
        "linear": linear_fill(x, visible, days),
        "constant": constant_fill(x, visible),
    }
    return {name: rmse_per_band(fill, x, held_out) for name, fill in fills.items()}
