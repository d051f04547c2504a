"""The date policy of a map model: how series observed at other dates than the training ones reach the model.

A model is trained on series observed at some dates; the cube to map is observed at others (another year, another
orbit, other clouds). One policy, stated in the model folder, applies the same way in training, evaluation and
mapping, whatever the model:

* ``"resample"`` (the default of models that read fixed positions: Random Forest, TempCNN, RNNs): each series is
  gap-filled and linearly interpolated at the model's **reference dates**, placed in the season by day of year
  (the cube's year does not matter). A series that does not reach a reference date (by more than ``tolerance``
  days) is refused: extrapolating a season that was not observed would be a silent guess;
* ``"exact"``: the series' days of year must be the reference ones (within ``tolerance`` days, same count);
  anything else is refused. The series is gap-filled on its own dates;
* ``"doy"`` (the default of models with a day-of-year encoding: L-TAE, Garnot & Landrieu 2020; the SITS
  transformer of Russwurm & Koerner 2020): the series is gap-filled on its own dates and given with its days of
  year, any number of them. Refused for models that do not read dates;
* ``"days"`` (the default of models that count days since a reference date: U-TAE as utae-paps trains it,
  Garnot & Landrieu 2021): as ``"doy"``, but each date is given as the number of days since the start of its season
  (the reference's first day of year), so dates of one season keep their order across the new year.

The reference dates are summarised from the training samples (:meth:`DateReference.from_dates`): the median day
of year of the first date and the median number of days from the first date to each later position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sitsbench.data.timeops import day_of_year, interpolate_series

DATE_POLICIES = ("resample", "exact", "doy", "days")
YEAR_DAYS = 365


class DatePolicyError(ValueError):
    """Dates that the model's date policy cannot accept."""


def _span(dates: np.ndarray) -> str:
    return f"{len(dates)} dates from {str(dates[0])[:10]} to {str(dates[-1])[:10]}"


@dataclass(frozen=True)
class DateReference:
    """The dates a model was trained on: day of year of the first (``start_doy``), days from it (``offsets``)."""

    start_doy: int
    offsets: np.ndarray
    tolerance: float

    @classmethod
    def from_dates(cls, dates: np.ndarray) -> DateReference:
        """Reference of ``(sample, time)`` dates (``NaT`` padding): the samples with the most common number of real
        dates give the median first day of year and the median offset of each position. ``tolerance`` is twice the
        median spacing of the reference dates (at least one day): a series may start or end up to two revisits away
        from the reference season, as a cube of the same season with other acquisition dates does."""
        dates = np.asarray(dates, dtype="datetime64[D]").reshape(-1, np.shape(dates)[-1])
        real = ~np.isnat(dates)
        lengths = real.sum(axis=1)
        if not lengths.any():
            raise ValueError("no sample has a real date: cannot derive the model's reference dates")
        common = np.bincount(lengths[lengths > 0]).argmax()
        chosen = dates[lengths == common][:, :common]
        offsets = np.median((chosen - chosen[:, :1]).astype(np.float64), axis=0)
        start_doy = int(np.median(day_of_year(chosen[:, 0])))
        spacing = float(np.median(np.diff(offsets))) if common > 1 else 1.0
        return cls(start_doy=start_doy, offsets=np.round(offsets, 1), tolerance=max(2 * spacing, 1.0))

    @property
    def doy(self) -> np.ndarray:
        """Day of year (1-365) of each reference date."""
        return ((self.start_doy - 1 + np.round(self.offsets).astype(np.int64)) % YEAR_DAYS) + 1

    def describe(self) -> str:
        return (f"{self.offsets.size} reference dates, first on day of year {self.start_doy}, spanning "
                f"{self.offsets[-1]:.0f} days (tolerance {self.tolerance:.0f} days)")

    def to_json(self) -> dict:
        return {"start_doy": self.start_doy, "offsets": self.offsets.tolist(), "tolerance": self.tolerance}

    @classmethod
    def from_json(cls, raw: dict) -> DateReference:
        return cls(int(raw["start_doy"]), np.asarray(raw["offsets"], dtype=np.float64), float(raw["tolerance"]))

    def season_start(self, first: np.datetime64) -> np.datetime64:
        """The date on day of year ``start_doy`` that opens the season holding ``first`` (within the tolerance)."""
        first = np.datetime64(first, "D")
        year = first.astype("datetime64[Y]")
        start = year.astype("datetime64[D]") + (self.start_doy - 1)
        if start > first + np.timedelta64(int(np.ceil(self.tolerance)), "D"):
            start = (year - 1).astype("datetime64[D]") + (self.start_doy - 1)
        return start


@dataclass(frozen=True)
class DatePlan:
    """How series observed at ``dates`` become model inputs: interpolation targets (days since the first date),
    the index of the nearest source date of each target (for the clear mask) and the date values fed to the model
    (``doy``: days of year, or days since the season start under the ``"days"`` policy)."""

    source_days: np.ndarray
    target_days: np.ndarray
    nearest: np.ndarray
    doy: np.ndarray
    tolerance: float

    def apply(self, values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``values`` ``(N, T, C)`` and ``valid`` ``(N, T)`` on the source dates -> gap-filled ``(N, T', C)`` float32
        (0 where a series has no clear observation) and the clear mask ``(N, T')`` of the targets (the nearest
        source date is clear and within the tolerance)."""
        series = np.asarray(values, dtype=np.float32).transpose(1, 0, 2)  # (T, N, C)
        filled = interpolate_series(series, np.asarray(valid, dtype=bool).T, self.source_days, self.target_days)
        filled = np.nan_to_num(filled.transpose(1, 0, 2), nan=0.0)
        close = np.abs(self.source_days[self.nearest] - self.target_days) <= self.tolerance
        mask = np.asarray(valid, dtype=bool)[:, self.nearest] & close[None, :]
        return np.ascontiguousarray(filled, dtype=np.float32), mask


def plan_dates(dates: np.ndarray, reference: DateReference, policy: str, where: str = "series") -> DatePlan:
    """The :class:`DatePlan` of series observed at ``dates`` (``(T,)``, increasing) under ``policy``; raises
    :class:`DatePolicyError` naming ``where`` when the policy refuses the dates."""
    if policy not in DATE_POLICIES:
        raise ValueError(f"date policy must be one of {DATE_POLICIES}, got {policy!r}")
    dates = np.asarray(dates, dtype="datetime64[D]")
    if dates.size == 0:
        raise DatePolicyError(f"{where}: no date")
    days = (dates - dates[0]).astype(np.float64)
    own_doy = day_of_year(dates)
    if policy == "doy":
        targets, doy = days, own_doy
    elif policy == "days":
        targets, doy = days, (dates - reference.season_start(dates[0])).astype(np.int64)
    elif policy == "exact":
        gap = np.abs(own_doy[: reference.doy.size] - reference.doy[: own_doy.size])
        gap = np.minimum(gap, YEAR_DAYS - gap)
        if dates.size != reference.offsets.size or gap.max() > reference.tolerance:
            raise DatePolicyError(
                f"{where}: {_span(dates)} are not the model's dates ({reference.describe()}) and the date policy "
                "is 'exact'; use --date-policy resample (or doy for models with a day-of-year encoding)"
            )
        targets, doy = days, reference.doy
    else:
        start = reference.season_start(dates[0])
        shift = float((dates[0] - start).astype(np.int64))
        targets = reference.offsets - shift
        before, after = days[0] - targets[0], targets[-1] - days[-1]
        if before > reference.tolerance or after > reference.tolerance:
            raise DatePolicyError(
                f"{where}: {_span(dates)} do not cover the model's season ({reference.describe()}): the model needs "
                f"dates from {str(start + int(reference.offsets[0]))} to {str(start + int(reference.offsets[-1]))} "
                f"(missing {max(before, 0):.0f} days at the start, {max(after, 0):.0f} at the end)"
            )
        doy = reference.doy
    nearest = np.abs(days[None, :] - targets[:, None]).argmin(axis=1)
    return DatePlan(days, np.asarray(targets, dtype=np.float64), nearest, np.asarray(doy, dtype=np.int64),
                    reference.tolerance)
