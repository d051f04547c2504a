"""Stratified, nested subsets of a labelled training set: the x-axis of label-efficiency curves.

Label-efficiency protocols (Chen et al. 2020, "Big Self-Supervised Models are Strong Semi-Supervised Learners",
NeurIPS; for SITS, Yuan & Lin 2021, SITS-BERT) train on 1 %, 10 %... of the labels. For the curves to measure the
effect of *more labels* and not of *other labels*, the subsets are **nested** (the 1 % items are part of the 5 %,
which are part of the 10 %...): each class's items are shuffled once per seed and every fraction takes a prefix of
that order. Each subset is **stratified** (every class keeps its share, rounded) and holds at least one item per
class, so that a classifier always sees every class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check_fraction(fraction: float) -> None:
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")


def class_orders(y: np.ndarray, seed: int = 0) -> dict[int, np.ndarray]:
    """Per class of ``y``, the indices of its items in a seeded random order (the order prefixes are taken from)."""
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y must be a non-empty 1D array of labels, got shape {y.shape}")
    rng = np.random.default_rng(seed)
    return {int(label): rng.permutation(np.flatnonzero(y == label)) for label in np.unique(y)}


def subset_size(n_items: int, fraction: float) -> int:
    """How many of a class's ``n_items`` a ``fraction`` keeps: ``round(fraction * n)``, at least 1."""
    _check_fraction(fraction)
    return max(1, round(fraction * n_items))


def stratified_fraction(y: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded, stratified ``fraction`` of ``y`` (at least one item per class).

    For one seed, the subset of a smaller fraction is contained in the subset of a larger one.
    """
    return nested_subsets(y, [fraction], seed)[fraction]


def nested_subsets(y: np.ndarray, fractions: Sequence[float], seed: int = 0) -> dict[float, np.ndarray]:
    """``{fraction: sorted indices}`` for every fraction, from one shuffle per class: nested by construction."""
    for fraction in fractions:
        _check_fraction(fraction)
    orders = class_orders(y, seed)
    return {
        fraction: np.sort(np.concatenate([order[: subset_size(order.size, fraction)] for order in orders.values()]))
        for fraction in sorted(fractions)
    }


def validation_part(y: np.ndarray, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(fit, validation)`` indices of ``y``: a seeded, stratified ``fraction`` of the items of every class
    holding at least two (``round(fraction * n)``, at least 1, always leaving one to fit on) is held out for
    validation, as VTAB (Zhai et al. 2019) holds out 200 of its 1000 labelled images to choose hyper-parameters.
    A class with a single item stays whole in the fit part; with no such class the validation part is empty."""
    _check_fraction(fraction)
    held = [order[order.size - min(subset_size(order.size, fraction), order.size - 1):]
            for order in class_orders(y, seed).values() if order.size >= 2]
    validation = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    return np.setdiff1d(np.arange(np.asarray(y).size), validation), validation
