"""Error-adjusted area and accuracy with confidence intervals from a stratified reference sample.

This module implements the "good practice" estimators of Olofsson, Foody, Herold, Stehman, Woodcock and Wulder
(2014), "Good practices for estimating area and assessing accuracy of land change", *Remote Sensing of Environment*
148:42-57 (doi:10.1016/j.rse.2014.02.015). Equation numbers below refer to that paper.

**Why not just count pixels?** The area of a class "according to the map" is the number of pixels the classifier
gave that label times the pixel area. Every map has errors, and errors of omission (true class-``k`` pixels labelled
something else) and of commission (other pixels labelled ``k``) almost never cancel out: a rare class such as
deforestation tends to be over- or under-mapped by a large fraction of its true size, because a small error rate in a
big class (stable forest) moves many pixels into or out of a small one. Pixel counting therefore gives a *biased*
estimate of the true area, and it says nothing about how uncertain that number is.

**What the estimator does.** A sample of pixels is drawn at random *within each map class* (the map classes are the
strata) and each sample pixel gets a reference label from better data (very high resolution imagery, field visits).
Within stratum ``i`` the sample tells which share of the pixels mapped as ``i`` truly belongs to each class ``j``;
weighting those shares by the stratum's share of the map, ``W_i``, gives the estimated share of the whole area that
is mapped ``i`` and truly ``j`` (``p_ij``, Eq. 4/9). Summing a column gives the estimated true share of class ``j``
and multiplying by the total area gives the *error-adjusted* area, which is unbiased whatever the map's
errors; the variances (Eqs. 5-7, 10) turn into confidence intervals. User's, producer's and overall accuracy are read
off the same ``p_ij`` table instead of the raw sample counts, which would weight small strata far too much.

**When it is valid.** Only when the reference sample is a *stratified random sample with the map classes as strata*
(or a simple random sample, for which the same formulas act as post-stratification). A sample placed by judgement,
the classifier's training or validation points, points kept only where interpreters were confident, or a sample
stratified by something other than these map classes breaks the weights ``W_i = A_i / A``; the numbers then come out
looking just as precise but are wrong (strata that are not the map classes need Stehman 2014, IJRS 35:4923-4939).

Functions
---------
* :func:`area_accuracy` — counts table (rows map, columns reference) + mapped area per class -> :class:`AreaAccuracy`.
* :func:`sample_size` (Eq. 13) and :func:`allocate` — plan the sample before labelling it.
* :func:`confusion_counts` and :func:`mapped_area_from_map` — build the two inputs from class codes (pure numpy;
  reading rasters and placing points is done elsewhere).

>>> counts = pd.DataFrame([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]],
...                       index=names, columns=names)
>>> res = area_accuracy(counts, pd.Series([200_000, 150_000, 3_200_000, 6_450_000], index=names) * 0.09)
>>> res.table[["area", "area_ci"]]            # hectares, estimate and 95 % half-width
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

__all__ = [
    "AreaAccuracy",
    "allocate",
    "area_accuracy",
    "confusion_counts",
    "mapped_area_from_map",
    "sample_size",
]

TABLE_COLUMNS = [
    "mapped_area",
    "weight",
    "users_accuracy",
    "users_accuracy_ci",
    "producers_accuracy",
    "producers_accuracy_ci",
    "area",
    "area_ci",
    "area_proportion",
    "area_proportion_ci",
]


@dataclass
class AreaAccuracy:
    """Result of :func:`area_accuracy` (Olofsson et al. 2014; see the example of their section 5).

    Attributes
    ----------
    table:
        One row per class (index name ``"class"``), columns ``mapped_area`` (map pixel count or area),
        ``weight`` (``W_i``, the map share), ``users_accuracy`` / ``producers_accuracy`` (``p_ii / p_i.`` and
        ``p_jj / p_.j`` with the ``p_ij`` of Eq. 4/9), ``area`` (error-adjusted area, units of ``mapped_area``:
        ``area_proportion`` times the total) and ``area_proportion`` (``p_.k``, the column sums of ``p_ij``). Each
        ``*_ci`` column is the half-width ``z * SE`` of the confidence interval.
        Undefined values (a user's accuracy for a class with no mapped area, a producer's accuracy for a class
        that no reference label falls in) are NaN.
    overall_accuracy, overall_accuracy_ci:
        ``O = sum_j p_jj`` and the half-width from Eq. 5.
    proportions:
        The estimated area proportions ``p_ij`` (rows map, columns reference; Eq. 4 / 9).
    counts:
        The sample counts that were used (rows map, columns reference).
    total_area:
        The sum of ``mapped_area``.
    confidence:
        The confidence level of the intervals; ``z`` is the matching normal quantile.
    """

    table: pd.DataFrame
    overall_accuracy: float
    overall_accuracy_ci: float
    proportions: pd.DataFrame
    counts: pd.DataFrame
    total_area: float
    confidence: float

    @property
    def z(self) -> float:
        """The normal quantile of the two-sided intervals (1.959964 for 95 %)."""
        return _z(self.confidence)


# ----------------------------------------------------------------------------------------------- input checking


def _z(confidence: float) -> float:
    if isinstance(confidence, bool) or not (
        isinstance(confidence, numbers.Real) and 0.0 < float(confidence) < 1.0
    ):
        raise ValueError(f"confidence must be a number strictly between 0 and 1, got {confidence!r}")
    return float(norm.ppf(0.5 + float(confidence) / 2.0))


def _counts_frame(counts, class_names: Sequence | None) -> pd.DataFrame:
    """Validate the counts table and return it as a float DataFrame (rows map, columns reference)."""
    if isinstance(counts, pd.DataFrame):
        if counts.shape[0] != counts.shape[1]:
            raise ValueError(
                f"counts must be square (rows = map classes, columns = reference classes), got shape {counts.shape}"
            )
        rows, cols = list(counts.index), list(counts.columns)
        if rows != cols:
            only_rows = [c for c in rows if c not in cols]
            only_cols = [c for c in cols if c not in rows]
            detail = (
                f"map classes not among reference classes: {only_rows}; reference classes not among map classes: "
                f"{only_cols}"
                if only_rows or only_cols
                else "same classes but in a different order"
            )
            raise ValueError(
                f"counts rows (map classes) and columns (reference classes) must be the same classes in the same "
                f"order ({detail}); rows={rows}, columns={cols}"
            )
        if len(set(rows)) != len(rows):
            raise ValueError(f"counts has repeated class names: {rows}")
        if class_names is not None and list(class_names) != rows:
            raise ValueError(f"class_names {list(class_names)} differ from the counts labels {rows}")
        values = counts.to_numpy()
    else:
        values = np.asarray(counts)
        if values.ndim != 2 or values.shape[0] != values.shape[1]:
            raise ValueError(
                f"counts must be square (rows = map classes, columns = reference classes), got shape {values.shape}"
            )
        k = values.shape[0]
        rows = [str(i) for i in range(k)] if class_names is None else list(class_names)
        if len(rows) != k:
            raise ValueError(f"class_names has {len(rows)} names for a {k} x {k} counts table")
        if len(set(rows)) != len(rows):
            raise ValueError(f"class_names has repeated names: {rows}")
    try:
        values = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"counts must be numeric: {err}") from None
    if values.shape[0] == 0:
        raise ValueError("counts is empty: at least one class is needed")
    if not np.all(np.isfinite(values)):
        raise ValueError("counts contains NaN or infinite values")
    if np.any(values < 0):
        bad = sorted({rows[i] for i in np.argwhere(values < 0)[:, 0]}, key=str)
        raise ValueError(f"counts must not be negative (negative counts in the rows of map classes {bad})")
    frame = pd.DataFrame(values, index=pd.Index(rows, name="map"), columns=pd.Index(rows, name="reference"))
    return frame


def _per_class(values, names: list, what: str) -> pd.Series:
    """Per-class numbers (Series / dict keyed by class, or a sequence in class order) -> float Series over names."""
    if isinstance(values, (pd.Series, Mapping)):
        series = pd.Series(values) if isinstance(values, Mapping) else values
        keys = list(series.index)
        if len(set(keys)) != len(keys):
            raise ValueError(f"{what} has repeated class names: {keys}")
        missing = [c for c in names if c not in keys]
        extra = [c for c in keys if c not in names]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing classes {missing}")
            if extra:
                parts.append(f"classes that are not among the map classes {extra}")
            raise ValueError(f"{what} must have exactly the classes {names}: " + " and ".join(parts))
        series = series.reindex(names)
    else:
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.shape[0] != len(names):
            raise ValueError(
                f"{what} must have one value per class ({len(names)}, in the order {names}), got shape {arr.shape}"
            )
        series = pd.Series(arr, index=names)
    try:
        series = series.astype(float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be numeric: {err}") from None
    series.index = pd.Index(names, name="class")
    bad = [c for c, v in series.items() if not np.isfinite(v)]
    if bad:
        raise ValueError(f"{what} is NaN or infinite for classes {bad}")
    return series


def _mapped_area(mapped_area, names: list) -> pd.Series:
    area = _per_class(mapped_area, names, "mapped_area")
    negative = [c for c, v in area.items() if v < 0]
    if negative:
        raise ValueError(f"mapped_area must not be negative (classes {negative})")
    if area.sum() <= 0:
        raise ValueError("mapped_area sums to zero: there is no mapped area to weight the strata by")
    return area


# ------------------------------------------------------------------------------------------------ the estimator


def area_accuracy(
    counts: pd.DataFrame | np.ndarray,
    mapped_area: pd.Series | Mapping | Sequence | np.ndarray,
    confidence: float = 0.95,
    *,
    class_names: Sequence | None = None,
) -> AreaAccuracy:
    """Error-adjusted area, user's / producer's / overall accuracy and their confidence intervals.

    The estimators of Olofsson et al. (2014), *Remote Sensing of Environment* 148:42-57, for a stratified random
    sample whose strata are the map classes (a simple random sample may be analysed the same way).
    With ``W_i`` the map share of class ``i``, ``n_ij`` the sample count mapped ``i`` and labelled ``j`` in the
    reference and ``n_i.`` the sample size of stratum ``i``:

    * ``p_ij = W_i n_ij / n_i.`` — estimated area proportions (Eq. 4 / 9);
    * overall accuracy ``O = sum_j p_jj``, user's ``U_i = p_ii / p_i.``, producer's ``P_j = p_jj / p_.j``;
    * ``V(O) = sum_i W_i^2 U_i (1 - U_i) / (n_i. - 1)`` (Eq. 5); ``V(U_i) = U_i (1 - U_i) / (n_i. - 1)`` (Eq. 6);
    * ``V(P_j)`` from Eq. 7, with ``N_j.`` the mapped size of class ``j`` and ``N^_.j = sum_i N_i. n_ij / n_i.`` the
      estimated size of reference class ``j``;
    * area proportion ``p_.k = sum_i p_ik = sum_i W_i n_ik / n_i.`` with
      ``S(p_.k) = sqrt(sum_i W_i^2 (n_ik / n_i.)(1 - n_ik / n_i.) / (n_i. - 1))`` (Eq. 10); area ``A p_.k`` and its
      standard error ``A S(p_.k)``, ``A`` the total mapped area.

    No finite population correction is applied, as in the paper (it is negligible for pixel populations).

    Parameters
    ----------
    counts:
        Sample counts, rows = map classes (strata), columns = reference classes, the same classes in the same order.
        A DataFrame, or a square array with optional ``class_names`` (default ``"0", "1", ...``).
    mapped_area:
        Mapped area (or pixel count) per map class: a Series / dict keyed by class, or a sequence in row order. Area
        estimates come out in the same unit.
    confidence:
        Confidence level of the intervals; the half-widths are ``z * SE`` with ``z = norm.ppf((1 + confidence) / 2)``.
    class_names:
        Names of the classes when ``counts`` is an array; with a DataFrame it must equal its labels if given.

    Returns
    -------
    AreaAccuracy
        ``table`` (per class), ``overall_accuracy``, ``overall_accuracy_ci``, ``proportions`` (``p_ij``), ``counts``,
        ``total_area``, ``confidence``.

    Raises
    ------
    ValueError
        If ``counts`` is not square, its row and column classes differ, a count is negative or not finite, a map
        class with mapped area has fewer than 2 samples (its variance needs ``n_i. - 1 > 0``), a class with zero
        mapped area holds samples, ``mapped_area`` misses a class, names a class that is not a row, or is negative,
        or ``confidence`` is not in (0, 1).

    Notes
    -----
    A class with **zero mapped area and zero samples** is allowed: its weight is 0, so it contributes nothing to any
    sum; its user's accuracy is NaN (nothing is mapped as it), while it still gets an area estimate — the area that
    the other strata's reference labels put in it — and a producer's accuracy of 0 if any reference label falls in
    it. A class with zero mapped area but *some* samples is refused: a stratum with no pixels cannot have been
    sampled, so the sample and the map do not belong together.
    """
    z = _z(confidence)
    frame = _counts_frame(counts, class_names)
    names = list(frame.index)
    area = _mapped_area(mapped_area, names)

    n = frame.to_numpy()
    n_row = n.sum(axis=1)
    a = area.to_numpy()
    empty_stratum = a == 0
    sampled_but_empty = [names[i] for i in np.flatnonzero(empty_stratum & (n_row > 0))]
    if sampled_but_empty:
        raise ValueError(
            f"map classes {sampled_but_empty} have samples but zero mapped area: a stratum with no pixels cannot "
            f"have been sampled; check that counts and mapped_area describe the same map"
        )
    thin = [
        (names[i], int(n_row[i]) if float(n_row[i]).is_integer() else float(n_row[i]))
        for i in np.flatnonzero(~empty_stratum & (n_row < 2))
    ]
    if thin:
        listing = ", ".join(f"{name!r} ({m} sample{'s' if m != 1 else ''})" for name, m in thin)
        raise ValueError(
            f"every map class with mapped area needs at least 2 samples (the variances divide by n_i. - 1); too few "
            f"in: {listing}"
        )

    total = float(a.sum())
    w = a / total
    live = ~empty_stratum  # strata with pixels, all with n_i. >= 2
    frac = np.zeros_like(n)  # n_ij / n_i.
    frac[live] = n[live] / n_row[live, None]
    p = w[:, None] * frac  # Eq. 4 / 9
    p_row = p.sum(axis=1)  # = W_i for sampled strata
    p_col = p.sum(axis=0)  # estimated area proportion of each reference class
    diag = np.diag(p)

    with np.errstate(invalid="ignore", divide="ignore"):
        users = np.where(live, diag / np.where(p_row > 0, p_row, np.nan), np.nan)  # user's
        producers = np.where(p_col > 0, diag / np.where(p_col > 0, p_col, np.nan), np.nan)  # producer's
    overall = float(diag.sum())

    dof = np.where(live, n_row - 1.0, np.nan)
    # Eq. 6; 0 for an unsampled zero-area stratum, whose weight is 0 anyway
    u_var_terms = np.where(live, users * (1.0 - users) / dof, 0.0)
    var_users = np.where(live, u_var_terms, np.nan)
    var_overall = float(np.sum(np.where(live, w**2 * u_var_terms, 0.0)))  # Eq. 5

    # Eq. 7, producer's accuracy. N_i. = mapped size of stratum i (any unit: the ratio is unit-free).
    n_hat_col = (np.where(live, a, 0.0)[:, None] * frac).sum(axis=0)  # N^_.j = sum_i N_i. n_ij / n_i.
    cell_var = np.zeros_like(n)  # N_i.^2 (n_ij / n_i.)(1 - n_ij / n_i.) / (n_i. - 1)
    cell_var[live] = a[live, None] ** 2 * frac[live] * (1.0 - frac[live]) / dof[live, None]
    var_producers = np.full(len(names), np.nan)
    for j in range(len(names)):
        if not p_col[j] > 0:
            continue
        first = a[j] ** 2 * (1.0 - producers[j]) ** 2 * u_var_terms[j] if live[j] else 0.0
        others = cell_var[:, j].sum() - cell_var[j, j]
        var_producers[j] = (first + producers[j] ** 2 * others) / n_hat_col[j] ** 2

    # Eq. 10: standard error of the estimated area proportion of each class; the area's is A times it.
    prop_terms = np.zeros_like(n)  # W_i^2 (n_ik / n_i.)(1 - n_ik / n_i.) / (n_i. - 1)
    prop_terms[live] = w[live, None] ** 2 * frac[live] * (1.0 - frac[live]) / dof[live, None]
    se_prop = np.sqrt(prop_terms.sum(axis=0))

    table = pd.DataFrame(
        {
            "mapped_area": a,
            "weight": w,
            "users_accuracy": users,
            "users_accuracy_ci": z * np.sqrt(var_users),
            "producers_accuracy": producers,
            "producers_accuracy_ci": z * np.sqrt(var_producers),
            "area": p_col * total,
            "area_ci": z * se_prop * total,
            "area_proportion": p_col,
            "area_proportion_ci": z * se_prop,
        },
        index=pd.Index(names, name="class"),
    )[TABLE_COLUMNS]
    proportions = pd.DataFrame(p, index=frame.index.copy(), columns=frame.columns.copy())
    return AreaAccuracy(
        table=table,
        overall_accuracy=overall,
        overall_accuracy_ci=z * math.sqrt(var_overall),
        proportions=proportions,
        counts=frame,
        total_area=total,
        confidence=float(confidence),
    )


# --------------------------------------------------------------------------------------------- sample planning


def sample_size(
    users_accuracy_guess: pd.Series | Mapping | Sequence | np.ndarray,
    mapped_area: pd.Series | Mapping | Sequence | np.ndarray,
    target_se: float = 0.01,
) -> int:
    """Total sample size for a target standard error of overall accuracy (Olofsson et al. 2014, Eq. 13).

    ``n = (sum_i W_i S_i / S(O))^2`` with ``S_i = sqrt(U_i (1 - U_i))`` the standard deviation of stratum ``i``
    from a guess ``U_i`` of its user's accuracy, ``W_i`` the map share and ``S(O)`` = ``target_se``. The result is
    rounded up. The paper's example (section 5.1.1: ``U`` = 0.7, 0.6, 0.9, 0.95 on the map of Table 8, target 0.01)
    gives 641.

    Parameters
    ----------
    users_accuracy_guess:
        Anticipated user's accuracy per map class, in [0, 1]: Series / dict keyed by class, or a sequence in the
        order of ``mapped_area``.
    mapped_area:
        Mapped area or pixel count per class (Series / dict, or a sequence; then classes are "0", "1", ...).
    target_se:
        Wanted standard error of the overall accuracy estimate (> 0).
    """
    if isinstance(target_se, bool) or not (
        isinstance(target_se, numbers.Real) and np.isfinite(target_se) and target_se > 0
    ):
        raise ValueError(f"target_se must be a positive number, got {target_se!r}")
    names = _class_names_of(mapped_area)
    area = _mapped_area(mapped_area, names)
    guess = _per_class(users_accuracy_guess, names, "users_accuracy_guess")
    outside = [c for c, v in guess.items() if not 0.0 <= v <= 1.0]
    if outside:
        raise ValueError(f"users_accuracy_guess must lie in [0, 1] (classes {outside})")
    w = area / area.sum()
    s = np.sqrt(guess * (1.0 - guess))
    n = float((w * s).sum() / target_se) ** 2
    # round up, but do not let floating-point noise (e.g. 100.00000000001) add a sample
    return int(math.ceil(n - 1e-9 * max(1.0, n)))


def _class_names_of(values) -> list:
    if isinstance(values, pd.Series):
        return list(values.index)
    if isinstance(values, Mapping):
        return list(values.keys())
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"mapped_area must be one-dimensional, got shape {arr.shape}")
    return [str(i) for i in range(arr.shape[0])]


def allocate(
    n: int,
    mapped_area: pd.Series | Mapping | Sequence | np.ndarray,
    minimum: int = 50,
) -> pd.Series:
    """Allocate ``n`` sample units to the map classes: proportional to area, with a floor of ``minimum`` per class.

    Proportional allocation gives rare classes (typically the change classes) too few units to estimate their
    user's accuracy, while equal allocation wastes precision on area and overall accuracy; Olofsson et al. (2014,
    section 5.1.1) recommend a compromise in which small classes get a fixed number of units (their example uses 75
    for deforestation and forest gain) and the rest follows the classes' areas. The rule here:

    1. every class with mapped area gets ``n * W_i`` (proportional allocation);
    2. classes below ``minimum`` are raised to ``minimum``; the units left are shared among the other classes in
       proportion to their areas; repeat until no class is below ``minimum`` (so every class gets
       ``max(minimum, its proportional share of what the small classes left)``);
    3. the shares are rounded by the largest-remainder method, so the total is exactly ``n``.

    Classes with zero mapped area get 0 units (there is nothing to sample).

    Raises
    ------
    ValueError
        If ``n < minimum * K`` (``K`` the classes with mapped area): the floor alone needs more than ``n`` units.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(minimum, bool) or not isinstance(minimum, (int, np.integer)) or minimum < 0:
        raise ValueError(f"minimum must be a non-negative integer, got {minimum!r}")
    names = _class_names_of(mapped_area)
    area = _mapped_area(mapped_area, names)
    live = area.to_numpy() > 0
    k = int(live.sum())
    if n < minimum * k:
        raise ValueError(
            f"the minimum needs more samples: minimum={minimum} units for each of the {k} classes with mapped area "
            f"needs n >= {minimum * k}, got n={n}; raise n or lower minimum"
        )
    a = area.to_numpy()
    quota = np.zeros(len(names))
    fixed = ~live  # classes whose allocation is decided (zero-area classes: 0)
    while True:
        free = ~fixed
        left = n - quota[fixed].sum()
        quota[free] = left * a[free] / a[free].sum() if free.any() else 0.0
        low = free & (quota < minimum)
        if not low.any():
            break
        quota[low] = minimum
        fixed |= low
    units = np.floor(quota).astype(int)
    short = n - int(units.sum())
    if short > 0:
        order = np.argsort(-(quota - units), kind="stable")
        order = [i for i in order if live[i]]
        for i in order[:short]:
            units[i] += 1
    return pd.Series(units, index=pd.Index(names, name="class"), name="n")


# ------------------------------------------------------------------------------------------ building the inputs


def _codes(values, k: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer class codes and a validity mask; NaN and -1 are nodata, anything else outside 0..k-1 is an error."""
    arr = np.asarray(values)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValueError(
            f"{what} must hold integer class codes (0..{k - 1}, -1 or NaN for nodata), got {arr.dtype}"
        )
    if arr.dtype.kind == "f":
        nodata = np.isnan(arr) | (arr == -1)
        finite = arr[~nodata]
        if np.any(~np.isfinite(finite)) or np.any(finite != np.round(finite)):
            raise ValueError(f"{what} holds values that are not integer class codes")
    else:
        nodata = arr == -1
    codes = np.where(nodata, -1, arr).astype(np.int64)
    bad = ~nodata & ((codes < 0) | (codes >= k))
    if bad.any():
        raise ValueError(
            f"{what} holds codes outside 0..{k - 1} (and not the nodata value -1): {sorted(set(codes[bad].tolist()))[:10]}"
        )
    return codes, ~nodata


def _checked_names(class_names: Sequence) -> list:
    names = list(class_names)
    if not names:
        raise ValueError("class_names is empty")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names has repeated names: {names}")
    return names


def confusion_counts(
    map_values: Sequence | np.ndarray,
    reference_labels: Sequence | np.ndarray,
    class_names: Sequence,
) -> pd.DataFrame:
    """Sample counts table (rows map class, columns reference class) from per-point class codes.

    ``map_values`` (the map's class at each sample point) and ``reference_labels`` (the interpreter's class) are
    integer codes ``0..K-1`` indexing ``class_names``. A point with nodata (-1 or NaN) in either is dropped; the
    number dropped is in ``result.attrs["n_dropped"]`` (and the number kept in ``attrs["n_used"]``). The result is
    the ``counts`` argument of :func:`area_accuracy`.
    """
    names = _checked_names(class_names)
    k = len(names)
    m_codes, m_ok = _codes(map_values, k, "map_values")
    r_codes, r_ok = _codes(reference_labels, k, "reference_labels")
    if m_codes.shape != r_codes.shape or m_codes.ndim != 1:
        raise ValueError(
            f"map_values and reference_labels must be 1-D and of the same length, got {m_codes.shape} and "
            f"{r_codes.shape}"
        )
    ok = m_ok & r_ok
    table = np.bincount(m_codes[ok] * k + r_codes[ok], minlength=k * k).reshape(k, k)
    frame = pd.DataFrame(table, index=pd.Index(names, name="map"), columns=pd.Index(names, name="reference"))
    frame.attrs["n_dropped"] = int((~ok).sum())
    frame.attrs["n_used"] = int(ok.sum())
    return frame


def mapped_area_from_map(
    class_map: np.ndarray,
    class_names: Sequence,
    pixel_area: float | np.ndarray = 1.0,
) -> pd.Series:
    """Mapped area per class: pixel counts of a class map times the pixel area.

    ``class_map`` is an (H, W) array of class codes ``0..K-1`` (indexing ``class_names``) with -1 (or NaN) for
    nodata, which is not counted. ``pixel_area`` is one number, an (H,) array with the area of the pixels of each
    row (in a geographic CRS, e.g. EPSG:4326, a pixel's area shrinks with the cosine of its latitude), or a full
    (H, W) array. The result is the ``mapped_area`` argument of :func:`area_accuracy`; this is the biased
    pixel-counting estimate of area that the stratified estimator corrects.
    """
    names = _checked_names(class_names)
    k = len(names)
    arr = np.asarray(class_map)
    if arr.ndim != 2:
        raise ValueError(f"class_map must be a 2-D (H, W) array, got shape {arr.shape}")
    codes, ok = _codes(arr, k, "class_map")
    pa = np.asarray(pixel_area, dtype=float)
    if pa.ndim == 0:
        weights = np.broadcast_to(pa, arr.shape)
    elif pa.shape == (arr.shape[0],):
        weights = np.broadcast_to(pa[:, None], arr.shape)
    elif pa.shape == arr.shape:
        weights = pa
    else:
        raise ValueError(
            f"pixel_area must be a number, an (H,) = ({arr.shape[0]},) array of per-row areas or an (H, W) array, "
            f"got shape {pa.shape}"
        )
    if not np.all(np.isfinite(weights[ok])) or np.any(weights[ok] < 0):
        raise ValueError("pixel_area must be finite and non-negative")
    totals = np.bincount(codes[ok], weights=weights[ok], minlength=k)
    return pd.Series(totals, index=pd.Index(names, name="class"), name="mapped_area")
