"""The change-dating figure: NDVI of changed test parcels with their true and estimated change dates."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format
from sitsbench.data.indices import ndvi_values
from sitsbench.data.timeops import relative_days
from sitsbench.evaluation.change.dating import ChangeRun


def plot_change_dates(run: ChangeRun, cube: xr.Dataset, n_parcels: int = 4, seed: int = 0) -> plt.Figure:
    """NDVI (mean of the clear pixels) of ``n_parcels`` changed test parcels (seeded pick among the changed ones),
    with the true change date (solid) and the estimated one (dashed), and whether the parcel was detected."""
    changed = run.parcels[run.parcels["changed"] == 1]
    if changed.empty:
        raise ValueError("the run's test set has no changed parcel to plot")
    picks = changed.sample(min(n_parcels, len(changed)), random_state=seed).sort_values("parcel")
    days = relative_days(cube[cube_format.TIME].values)
    parcel_map = np.asarray(cube[cube_format.PARCEL].values)
    bands = [str(b) for b in cube[cube_format.BAND].values]
    fig, axes = plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 3), squeeze=False, sharey=True)
    for ax, (_, parcel) in zip(axes[0], picks.iterrows()):
        rows, cols = np.nonzero(parcel_map == parcel["parcel"])
        values = np.moveaxis(np.asarray(cube[cube_format.REFLECTANCE].values[:, :, rows, cols]), 1, -1)  # (T, P, C)
        clear = np.asarray(cube[cube_format.VALID].values[:, rows, cols])
        ndvi = np.where(clear, ndvi_values(values, bands), np.nan)
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
