"""Shared fixtures: small synthetic cubes, generated once per test session."""

from __future__ import annotations

import matplotlib
import pytest

from sitsbench.data.synthetic import generate_cube

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def toy_cube():
    """A 64x64 px, 20-date cube with Sentinel-1 and clouds (seed 0)."""
    return generate_cube("toy", seed=0)


@pytest.fixture(scope="session")
def default_cube():
    """The default teaching cube (160x160 px, 36 dates)."""
    return generate_cube("default", seed=0)
