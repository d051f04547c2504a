"""Sweeps: a grid of notebook parameters executed with papermill (see :mod:`sitsbench.sweep.runner`)."""

from sitsbench.sweep.config import SweepConfig, SweepConfigError, load_sweep
from sitsbench.sweep.runner import RunFailure, SweepSummary, run_sweep

__all__ = ["RunFailure", "SweepConfig", "SweepConfigError", "SweepSummary", "load_sweep", "run_sweep"]
