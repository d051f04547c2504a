"""Training: a small explicit engine (``fit``/``predict``) and checkpoints."""

from sitsbench.training.checkpoint import load_checkpoint, save_checkpoint
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
    "load_checkpoint",
    "predict",
    "save_checkpoint",
    "write_record",
]
