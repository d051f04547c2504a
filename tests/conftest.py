"""Shared fixtures: small synthetic cubes, generated once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest
from filelock import FileLock

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


def pytest_addoption(parser):
    parser.addoption("--fresh-chapters", action="store_true",
                     help="execute every chapter notebook that the tests read, even when the build's cache in _build/ "
                     "holds an execution with the same key (sitsbench.book.run_chapter)")


@pytest.fixture
def chapter_run(request):
    """``chapter_run(stem, name=None, **parameters)``: the run folder of chapter ``stem`` executed by
    :func:`sitsbench.book.run_chapter`, as the book runs it (no parameters) or as the run ``name`` with these
    parameters. An execution whose notebook, library code, parameters, data, packages and thread settings are
    those of a cached one (an earlier test run, or ``make book``) is reused; ``--fresh-chapters`` executes all."""
    from sitsbench import book

    def run(stem: str, name: str | None = None, **parameters) -> Path:
        return book.run_chapter(stem, parameters, name, force=request.config.getoption("fresh_chapters"))[0]

    return run


def pytest_collection_modifyitems(config, items):
    """Slow tests (notebook executions, training) first, in their collection order: with pytest-xdist's work
    stealing a worker that runs out of tests takes half of another's queue from its end, so long tests queued
    last would leave one core idle while the other finishes them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def toy_cube():
    """A 64x64 px, 20-date cube with Sentinel-1 and clouds (seed 0)."""
    return generate_cube("toy", seed=0)


@pytest.fixture(scope="session")
def default_cube():
    """The default teaching cube (160x160 px, 36 dates)."""
    return generate_cube("default", seed=0)


@pytest.fixture(scope="session")
def chapter_one_book(tmp_path_factory) -> Path:
    """The book built with chapter 1 executed (quick profile) into ``_build/browser/book``, once per test run:
    the chapter-1 test reads its run record, the browser test renders its HTML. pytest-xdist workers share the one
    build through a lock in the run's common temporary folder (the pattern of pytest-xdist's documentation); the
    build's content-hash cache (``sitsbench.book``) re-executes the chapter only when something it depends on
    changed."""
    from sitsbench import book

    build_dir = Path(__file__).resolve().parent.parent / "_build" / "browser" / "book"
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # common to the workers of this run
    built = shared / "chapter_one_book.built"  # this run's build is done
    with FileLock(str(shared / "chapter_one_book.lock")):
        if not built.is_file():
            book.build("quick", build_dir, only=["01"])
            built.touch()
    return build_dir
