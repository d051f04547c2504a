"""Training: a small explicit engine (``fit``/``predict``); checkpoints are :mod:`sitsbench.models.checkpoint`."""

from sitsbench.training.engine import (
    History,
    TrainConfig,
    class_weights,
    evaluate,
    fit,
    predict,
    write_record,
)

__all__ = [
    "History",
    "TrainConfig",
    "class_weights",
    "evaluate",
    "fit",
    "predict",
    "write_record",
]
