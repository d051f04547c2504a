"""Downstream evaluation (issue 9): protocols on frozen or fine-tuned encoders, nested label fractions, and
label-efficiency curves over methods x fractions x seeds, with bootstrap intervals and paired differences."""

from sitsbench.evaluation.area import (
    AreaAccuracy,
    allocate,
    area_accuracy,
    confusion_counts,
    mapped_area_from_map,
    sample_size,
)
from sitsbench.evaluation.efficiency import (
    PROTOCOL_TITLES,
    EfficiencyMethod,
    efficiency_rows,
    label_efficiency,
    network_method,
    plane_network_method,
    plot_label_efficiency,
    probe_method,
    summarize,
)
from sitsbench.evaluation.label_fraction import nested_subsets, stratified_fraction
from sitsbench.evaluation.protocols import (
    FINE_TUNING,
    PROBE_C_GRID,
    PROBES,
    FineTuneConfig,
    KNNClassifier,
    ValidatedLinearProbe,
    embed,
    fine_tune,
    freeze,
    knn_scores,
    parcel_probe,
    probe,
    probe_scores,
    to_parcels,
)
from sitsbench.evaluation.rows import score_rows
from sitsbench.intervals import (
    Bootstrap,
    bootstrap_scores,
    efficiency_intervals,
    paired_differences,
    plot_paired_differences,
)
from sitsbench.metrics import scores

__all__ = [
    "PROBES",
    "PROBE_C_GRID",
    "PROTOCOL_TITLES",
    "AreaAccuracy",
    "Bootstrap",
    "EfficiencyMethod",
    "FINE_TUNING",
    "FineTuneConfig",
    "KNNClassifier",
    "ValidatedLinearProbe",
    "allocate",
    "area_accuracy",
    "bootstrap_scores",
    "confusion_counts",
    "efficiency_intervals",
    "efficiency_rows",
    "embed",
    "fine_tune",
    "freeze",
    "knn_scores",
    "label_efficiency",
    "mapped_area_from_map",
    "nested_subsets",
    "network_method",
    "paired_differences",
    "parcel_probe",
    "plane_network_method",
    "plot_label_efficiency",
    "plot_paired_differences",
    "probe",
    "probe_method",
    "probe_scores",
    "sample_size",
    "score_rows",
    "scores",
    "stratified_fraction",
    "summarize",
    "to_parcels",
]
