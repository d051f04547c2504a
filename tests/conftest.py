"""Shared fixtures: small synthetic cubes, generated once per test session."""

from __future__ import annotations

import os

import matplotlib
import pytest

from sitsbench.data.synthetic import generate_cube

matplotlib.use("Agg")

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def pytest_configure(config):
    """With pytest-xdist workers (``-n N``, N > 1), every worker and the notebook kernels it starts use one CPU
    thread: N single-threaded processes share N cores well, where N processes with a thread per core each slow
    each other down several times over (torch's thread pools spin while waiting). Set before the workers start,
    so they inherit it; a variable the caller set is kept."""
    workers = getattr(config.option, "numprocesses", None)
    if isinstance(workers, int) and workers > 1:
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, "1")


@pytest.fixture(scope="session")
def toy_cube():
    """A 64x64 px, 20-date cube with Sentinel-1 and clouds (seed 0)."""
    return generate_cube("toy", seed=0)


@pytest.fixture(scope="session")
def default_cube():
    """The default teaching cube (160x160 px, 36 dates)."""
    return generate_cube("default", seed=0)
