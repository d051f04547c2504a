"""Change detection on synthetic change events: was the land cover of a pixel or parcel changed, and when?

Modules: :mod:`.common` (targets, scores, pixels, the parcel split), :mod:`.dating` (task a), :mod:`.bitemporal`
(task b), :mod:`.figure` (the change-date figure).

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
>>> bitemporal_change(cube, "cva", config=ChangeConfig(window=4))["pixel_f1"]
"""

from sitsbench.evaluation.change.bitemporal import (
    BITEMPORAL_METHODS,
    best_threshold,
    bitemporal_change,
    bitemporal_targets,
)
from sitsbench.evaluation.change.common import (
    AMBIGUOUS,
    CHANGE_DATE,
    LEVELS,
    ChangeConfig,
    change_score_rows,
    change_scores,
    change_targets,
)
from sitsbench.evaluation.change.dating import (
    DATE_METHODS,
    FEATURES,
    ChangeRun,
    anomaly_dates,
    candidate_days,
    cosine_profile,
    detect_changes,
    ndvi_profile,
    parcel_changes,
    run_change_detection,
    window_embeddings,
)
from sitsbench.evaluation.change.figure import plot_change_dates

__all__ = [
    "AMBIGUOUS",
    "BITEMPORAL_METHODS",
    "CHANGE_DATE",
    "ChangeConfig",
    "DATE_METHODS",
    "FEATURES",
    "LEVELS",
    "ChangeRun",
    "anomaly_dates",
    "best_threshold",
    "bitemporal_change",
    "bitemporal_targets",
    "candidate_days",
    "change_score_rows",
    "change_scores",
    "change_targets",
    "cosine_profile",
    "detect_changes",
    "ndvi_profile",
    "parcel_changes",
    "plot_change_dates",
    "run_change_detection",
    "window_embeddings",
]
