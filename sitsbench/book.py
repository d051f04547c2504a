"""Build the executable book: run every chapter notebook headless with papermill, then render the HTML.

``python -m sitsbench.book --profile quick`` (what ``make book`` runs):

1. copies ``book/`` to a fresh ``_build/book_src`` (nothing stale survives from an earlier build);
2. executes each notebook of ``notebooks/`` listed in ``book/_toc.yml`` with papermill, injecting ``profile``
   and ``output_dir`` (run records land in ``_build/runs/<notebook>/``); any cell error stops the build and
   names the notebook and the cell. The build is **incremental**: a chapter whose notebook, library code (every
   ``sitsbench`` module it imports, followed through their own imports), parameters, data, the dataset manifests,
   package versions and kernel thread settings are those of its last successful execution is not executed again;
   its executed copy is reused from ``_build/executed/`` (``--force`` executes everything). The chapter tests
   execute the chapters through the same cache (:func:`run_chapter`), so ``make test`` and ``make book`` reuse
   each other's executions. The execution statistics page lists each chapter's run time and whether this build
   executed it;
3. runs the chapters listed in :data:`REAL_DATA_RUNS` again on real labelled samples (``--real-data DIR``,
   default ``../shared/data`` beside the repository; each run is skipped, and the page says so, when its data is
   absent) and those of :data:`PRESET_RUNS` on the ``hard`` synthetic landscape, records in
   ``_build/runs/real/<chapter>--<dataset>/``. All these executions are independent: ``--jobs N`` (default: one
   per core, at most :data:`DEFAULT_JOBS`) runs N at a time, the longest of the last build first, each kernel
   with one thread for torch and the BLAS libraries (two kernels with two threads each on two cores slow each
   other down several times over), so the numbers do not depend on the machine's core count;
4. writes the generated pages (dataset table, leaderboard, real-data results, the harder synthetic landscape)
   from :data:`PAGE_GENERATORS`, after the notebooks so that they include the records of this build;
5. copies MathJax into the book (:func:`install_mathjax`: a pinned copy from PyPI, so formulas render offline) and
   runs ``jupyter-book build`` (Jupyter Book 1, Sphinx; offline) on the executed copies into ``_build/html``. Any
   Sphinx warning (an unresolved citation, a glued value that no cell glued, a broken cross-reference) fails the
   build and is listed.

Paths handed to the notebooks are written relative to the repository when they lie in it, so that papermill's
injected-parameters cell, shown in the book, holds no path of the build machine.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import papermill
import yaml
from tqdm import tqdm

from sitsbench.atomic import write_text
from sitsbench.data.fetch import REAL_DATA_ENV_VAR, expand_data_root, real_data_root
from sitsbench.notebook import notebook_parameters, parameter_problem
from sitsbench.results.real_data import REAL_RUNS

REPO_ROOT = Path(__file__).resolve().parent.parent

PAGE_GENERATORS: dict[str, str] = {
    "datasets.md": "sitsbench.data.manifests:datasets_page",
    "leaderboard.md": "sitsbench.results.leaderboard:book_leaderboard_page",
    "real_data.md": "sitsbench.results.real_data:real_data_page",
    "hard_landscape.md": "sitsbench.results.real_data:hard_landscape_page",
    "full_results.md": "sitsbench.results.full_profile:full_results_page",
    "crossval.md": "sitsbench.results.crossval:crossval_page",
}
"""Book pages written at build time: file name in the book source -> ``"module:function"`` returning MyST
(the pages of results take the build's run folder and its real-data folder, which they write ``DATA_ROOT``)."""

REAL_DATA_RUNS: tuple[tuple[str, str], ...] = (
    ("02_supervised_baselines", "igarss2019_victoria_s2"),
    ("02_supervised_baselines", "sits_samples/cerrado_2classes.rda"),
    ("06_downstream", "igarss2019_victoria_s2"),
    ("06_downstream", "sits_samples/cerrado_2classes.rda"),
)
"""(chapter, dataset path under the real-data folder): the chapters re-run on real labelled samples."""
PRESET_RUNS: tuple[tuple[str, str, dict], ...] = (
    ("06_downstream", "hard", {"seg_methods": [], "change_features": []}),
)
"""(chapter, synthetic preset, extra parameters): chapters re-run on a harder synthetic landscape (no data needed),
shown on their own page (``hard_landscape.md``, beside the real-data page): a dataset where the SSL question can be
asked. The page shows chapter 6's classification only, so its segmentation and change detection (a third of its run
time) are not run there (the record lists them as skipped)."""
DEFAULT_REAL_DATA = real_data_root()
DEFAULT_JOBS = 2
"""Notebooks executed at once by default (fewer on a one-core machine): each kernel then uses one thread."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


MATHJAX_FILES: tuple[str, ...] = ("tex-chtml.js", "input", "output/chtml", "ui", "a11y")
"""What the book needs of MathJax 3's ``es5`` folder: the TeX-to-CommonHTML component, the TeX extensions it
autoloads, the CommonHTML fonts, the menu and the accessibility components it loads on demand."""
MATHJAX_PACKAGE = "mathjax"
"""Import name of PyPI's ``django-static-mathjax`` (MathJax 3.2.2 as static files; it needs no Django)."""


class BookBuildError(RuntimeError):
    """A notebook failed or the HTML build failed; the message names the notebook and the cell."""


def toc_files(toc_path: Path) -> list[str]:
    """Every ``file:`` entry of a Jupyter Book ``_toc.yml``, in order."""
    toc = yaml.safe_load(toc_path.read_text())
    files: list[str] = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))
            for part in entry.get("chapters", []):
                walk([part])

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


def notebooks_in_toc(book_dir: Path) -> list[str]:
    """The notebook stems (``notebooks/<stem>``) that the table of contents lists."""
    return [Path(f).name for f in toc_files(book_dir / "_toc.yml") if f.startswith("notebooks/")]


def _load_generator(spec: str) -> Callable[[], str]:
    module, function = spec.split(":")
    return getattr(importlib.import_module(module), function)


def write_generated_pages(source: Path, results_dir: Path, data_root: Path | None = None) -> list[Path]:
    """Write the pages of :data:`PAGE_GENERATORS` into ``source``: those of results from the records under
    ``results_dir``, naming the real samples under ``data_root`` ``DATA_ROOT/...``."""
    written = []
    for name, spec in PAGE_GENERATORS.items():
        generator = _load_generator(spec)
        text = generator(results_dir, data_root=data_root) if name != "datasets.md" else generator()
        path = source / name
        path.write_text(text)
        written.append(path)
    return written


def install_mathjax(source: Path) -> Path:
    """Copy MathJax into ``source/_static/mathjax`` (``mathjax_path`` of ``book/_config.yml`` points there)."""
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BookBuildError("MathJax is not installed: pip install django-static-mathjax (pinned in pyproject.toml)")
    es5 = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    target = source / "_static" / "mathjax"
    shutil.rmtree(target, ignore_errors=True)
    for name in MATHJAX_FILES:
        origin = es5 / name
        if not origin.exists():
            raise BookBuildError(f"MathJax file {origin} is missing: reinstall django-static-mathjax")
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if origin.is_dir() else shutil.copyfile)(origin, target / name)
    return target


def portable(path: Path, cwd: Path = REPO_ROOT) -> str:
    """``path`` relative to ``cwd`` when it lies in ``cwd`` or beside it (what the executed chapter shows), else
    absolute. Paths are compared as written first (made absolute without following symbolic links), so a data
    folder reached through a link (``../shared`` -> ``/mnt/...``) keeps its relative path; then with the links
    resolved (``cwd`` itself reached through a link)."""
    forms = ((Path(os.path.abspath(path)), Path(os.path.abspath(cwd))), (Path(path).resolve(), Path(cwd).resolve()))
    for path_form, cwd_form in forms:
        if path_form.is_relative_to(cwd_form):
            return path_form.relative_to(cwd_form).as_posix()
    for path_form, cwd_form in forms:
        if path_form.is_relative_to(cwd_form.parent):
            return Path(os.path.relpath(path_form, cwd_form)).as_posix()
    return str(Path(path).resolve())


QUIET_KERNEL = {"TQDM_DISABLE": "1"}
"""Environment of the kernels that execute chapters: no progress bar (they are for a person at a terminal, not for
the pages of the book)."""


def execute_notebook(notebook: Path, output: Path, parameters: dict, cwd: Path) -> float:
    """Run one notebook with papermill; raise :class:`BookBuildError` naming the failing cell, or the parameter that
    the notebook would refuse (:func:`sitsbench.notebook.parameter_problem`) before its kernel starts."""
    declared = notebook_parameters(notebook)
    for key, value in parameters.items():
        problem = key in declared and parameter_problem(key, value, declared[key])
        if problem:
            raise BookBuildError(f"notebook {notebook.name}: parameter {key!r} {problem}")
    start = time.perf_counter()
    try:
        with _kernel_environment(QUIET_KERNEL):  # the kernel inherits this process's environment
            papermill.execute_notebook(
                str(notebook), str(output), parameters=parameters, kernel_name="python3", cwd=str(cwd),
                progress_bar=False,
            )
    except papermill.PapermillExecutionError as error:
        raise BookBuildError(
            f"notebook {notebook.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue} "
            f"(executed copy with the traceback: {output})"
        ) from error
    hide_injected_parameters(output)
    return time.perf_counter() - start


def hide_injected_parameters(executed: Path) -> None:
    """Tag the cell papermill injects (the build's parameters, with its run folder) ``remove-cell``: the page shows
    the chapter's own parameters cell, and its reproduce line says how to change them."""
    notebook = json.loads(executed.read_text())
    for cell in notebook["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell["metadata"]["tags"] = [*tags, "remove-cell"]
    write_text(executed, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


CACHE_DIR = "executed"
"""Folder of the build directory holding each chapter's last executed copy and its key (``<name>.json``)."""


def _module_file(name: str) -> Path | None:
    """The file of module ``sitsbench.a.b`` in this checkout (``a/b.py`` or ``a/b/__init__.py``)."""
    base = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _sitsbench_imports(code: str) -> set[str]:
    """Names of the ``sitsbench`` modules that ``code`` imports (``from sitsbench.x import y`` also counts
    ``sitsbench.x.y``, which is a module when ``y`` is one)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name == "sitsbench" or name.startswith("sitsbench.")}


def library_closure(code: str) -> list[Path]:
    """The library files that ``code`` depends on: the modules it imports, their parent packages, and so on
    through their own imports (lazy imports inside functions included)."""
    seen: dict[str, Path] = {}
    todo = list(_sitsbench_imports(code))
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            module = ".".join(parts[:depth])
            path = _module_file(module)
            if path is None or module in seen:
                continue
            seen[module] = path
            todo.extend(_sitsbench_imports(path.read_text()))
    return sorted(set(seen.values()))


def notebook_code(path: Path) -> str:
    """The code cells of a notebook, IPython magics and shell lines left out."""

    cells = json.loads(path.read_text())["cells"]
    lines = [line for cell in cells if cell["cell_type"] == "code" for line in "".join(cell["source"]).splitlines()
             if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def chapter_key(notebook: Path, parameters: dict, data: Path | None = None) -> str:
    """SHA-256 over what decides a chapter's outputs: its notebook, its library closure, its parameters, the
    dataset manifests (a dataset given by name is read through them), its data (content checksum of ``data`` and
    of the paths named by :data:`DATA_PARAMETERS`), the versions of the packages it runs on and the kernel's thread
    settings (:data:`THREAD_VARIABLES`: a float sum over two threads can differ in its last bits from one over one
    thread)."""
    import hashlib

    from sitsbench.data.manifests import MANIFEST_DIR
    from sitsbench.records import package_versions

    digest = hashlib.sha256(notebook.read_bytes())
    for path in library_closure(notebook_code(notebook)) + sorted(MANIFEST_DIR.glob("*.yaml")):
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    digest.update(json.dumps(package_versions(), sort_keys=True).encode())
    digest.update(json.dumps({name: os.environ.get(name) for name in THREAD_VARIABLES}).encode())
    from sitsbench.data.loading import content_checksum

    for path in ([data] if data is not None else []) + _data_parameters(notebook, parameters):
        if path.exists():
            digest.update(f"{path.name}\0{content_checksum(path)}".encode())
    return digest.hexdigest()


DATA_PARAMETERS = ("dataset", "real_data")
"""Chapter parameters that may name data on disk: the files a path given there (or left at the notebook's default
path, e.g. chapter 1's ``real_data``) are hashed into the chapter's cache key."""


def _data_parameters(notebook: Path, parameters: dict) -> list[Path]:
    """The existing paths (relative to the repository) named by :data:`DATA_PARAMETERS` in ``parameters`` or, for
    those not given, in the notebook's parameters cell."""
    import ast

    values = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            for node in ast.parse("".join(cell["source"])).body:
                if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                        and isinstance(node.targets[0], ast.Name) and node.targets[0].id in DATA_PARAMETERS):
                    values[node.targets[0].id] = node.value.value
    values.update({name: parameters[name] for name in DATA_PARAMETERS if name in parameters})
    paths = [REPO_ROOT / expand_data_root(value) for value in values.values() if isinstance(value, str) and value]
    return [path for path in paths if path.exists()]


def execute_cached(notebook: Path, output: Path, parameters: dict, cwd: Path, cache: Path, name: str,
                   force: bool = False, data: Path | None = None) -> tuple[float, bool]:
    """Execute ``notebook`` unless its :func:`chapter_key` equals the key of its cached execution and the run
    record it wrote is still there; returns ``(seconds of the execution, whether it was reused)``."""

    key = chapter_key(notebook, parameters, data)
    entry, copy = cache / f"{name}.json", cache / f"{name}.ipynb"
    record = cwd / parameters["output_dir"] / "record.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    if not force and entry.is_file() and copy.is_file() and record.is_file():
        stored = json.loads(entry.read_text())
        if stored.get("key") == key:
            shutil.copyfile(copy, output)
            return float(stored["seconds"]), True
    seconds = execute_notebook(notebook, output, parameters, cwd)
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(output, copy)
    entry.write_text(json.dumps({"key": key, "seconds": seconds, "executed": time.strftime("%Y-%m-%d %H:%M:%S")}))
    return seconds, False


def sphinx_warnings(log: str) -> list[str]:
    """The warning and error lines of a Sphinx log (an unresolved citation or glue value, a broken reference)."""
    return [line.strip() for line in log.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line)
            and "Kernel is running over TCP" not in line]


def execution_page(stats: list[tuple[str, float, bool]], wall_s: float | None = None, jobs: int = 1) -> str:
    """The execution statistics page: each chapter's run time, whether this build executed it, and the wall time
    of the executions (``jobs`` notebooks at a time)."""
    lines = ["# Execution statistics", "",
             "Run time of each chapter's last execution (quick profile unless the build said otherwise). A chapter "
             "whose notebook, library code, parameters, data and packages did not change since that execution is "
             "not executed again: its executed copy is reused (`python -m sitsbench.book --force` executes "
             "everything).", "", "| chapter | run time (s) | this build |", "| --- | --- | --- |"]
    lines += [f"| {name} | {seconds:.0f} | {'reused' if reused else 'executed'} |" for name, seconds, reused in stats]
    total = sum(seconds for _, seconds, _ in stats)
    executed = sum(seconds for _, seconds, reused in stats if not reused)
    lines += ["", f"Total of the run times: {total:.0f} s; executed in this build: {executed:.0f} s."]
    if wall_s is not None:
        lines[-1] += (f" The executions of this build took {wall_s:.0f} s of wall time, {jobs} notebook"
                      f"{'s' if jobs > 1 else ''} at a time.")
    return "\n".join(lines) + "\n"


def real_run_name(stem: str, dataset: str) -> str:
    return f"{stem}--{Path(dataset).stem}"


@dataclass
class Execution:
    """One notebook execution of the build: its name (cache entry, statistics row), the notebook, the executed
    copy, the parameters injected by papermill and the data files hashed into its cache key."""

    name: str
    notebook: Path
    output: Path
    parameters: dict
    data: Path | None = None


def real_data_executions(profile: str, runs: Path, executed: Path,
                         real_data: Path | None) -> tuple[list[Execution], list[str]]:
    """The executions of :data:`REAL_DATA_RUNS` whose data is in ``real_data``, and a line per skipped run (its
    stale record of an earlier build removed; the lines are kept in ``<runs>/real/skipped.txt``)."""
    executions, skipped = [], []
    (runs / REAL_RUNS).mkdir(parents=True, exist_ok=True)
    for stem, relative in REAL_DATA_RUNS:
        path = None if real_data is None else real_data / relative
        name = real_run_name(stem, relative)
        if path is None or not path.exists():
            skipped.append(f"{stem} on {relative}: DATA_ROOT/{relative} is not on this machine")
            shutil.rmtree(runs / REAL_RUNS / name, ignore_errors=True)  # no stale record of an earlier build
            continue
        executions.append(_variant(stem, name, portable(path), path, profile, runs, executed))
    (runs / REAL_RUNS / "skipped.txt").write_text("".join(f"{line}\n" for line in skipped))
    for line in skipped:
        tqdm.write(f"  real-data run skipped: {line}")
    return executions, skipped


def preset_executions(profile: str, runs: Path, executed: Path) -> list[Execution]:
    """The executions of :data:`PRESET_RUNS`, into ``<runs>/real/<chapter>--<preset>/``."""
    return [_variant(stem, real_run_name(stem, preset), preset, None, profile, runs, executed, extra)
            for stem, preset, extra in PRESET_RUNS]


def chapter_execution(stem: str, runs: Path, executed: Path, profile: str = "quick") -> Execution:
    """Chapter ``stem`` as the book runs it: the ``profile`` on its default data, run folder ``<runs>/<stem>``,
    executed copy in the folder ``executed``."""
    return Execution(stem, REPO_ROOT / "notebooks" / f"{stem}.ipynb", executed / f"{stem}.ipynb",
                     {"profile": profile, "output_dir": portable(runs / stem)})


OTHER_RUNS = "other_runs"
"""Folder of the build directory for executions that the book does not show (:func:`run_chapter` with other
parameters): kept out of ``runs/``, whose records the generated pages read."""


def run_chapter(stem: str, parameters: dict | None = None, name: str | None = None,
                build_dir: Path = REPO_ROOT / "_build", force: bool = False) -> tuple[Path, bool]:
    """Execute chapter ``stem`` through the build's cache (:func:`execute_cached`); returns its run folder and
    whether an earlier execution was reused.

    Without ``parameters`` the chapter runs as :func:`build` runs it (same parameters, run folder and cache), so
    that the chapter tests and ``make book`` share their executions: in either order, the second command reuses
    what the first executed. With ``parameters`` (added to the quick profile's) it runs as ``name`` under
    ``<build_dir>/other_runs/``. Either way a later call executes it again only when its notebook, library code,
    parameters, data, packages or thread settings changed, or with ``force``."""
    if not parameters:
        execution = chapter_execution(stem, build_dir / "runs", build_dir / OTHER_RUNS / "notebooks")
        cache = build_dir / CACHE_DIR
    else:
        if not name:
            raise ValueError(f"run_chapter({stem!r}) with parameters needs a name for its run folder")
        runs = build_dir / OTHER_RUNS
        execution = Execution(name, REPO_ROOT / "notebooks" / f"{stem}.ipynb", runs / "notebooks" / f"{name}.ipynb",
                              {"profile": "quick", "output_dir": portable(runs / name), **parameters})
        cache = runs / CACHE_DIR
    _, reused = execute_cached(execution.notebook, execution.output, execution.parameters, cwd=REPO_ROOT,
                               cache=cache, name=execution.name, force=force, data=execution.data)
    return REPO_ROOT / execution.parameters["output_dir"], reused


def _variant(stem: str, name: str, dataset: str, data: Path | None, profile: str, runs: Path,
             executed: Path, extra: dict | None = None) -> Execution:
    """Chapter ``stem`` on ``dataset`` (``data``: its files, hashed into the cache key) as run ``name`` under
    ``<runs>/real/``, with the ``extra`` parameters."""
    parameters = {"profile": profile, "output_dir": portable(runs / REAL_RUNS / name), "dataset": dataset}
    return Execution(name, REPO_ROOT / "notebooks" / f"{stem}.ipynb", executed / f"{name}.ipynb",
                     {**parameters, **(extra or {})}, data)


@contextmanager
def _kernel_environment(values: dict[str, str]) -> Iterator[None]:
    """Set the environment variables ``values`` for the kernels started inside (restored afterwards)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _one_thread_per_kernel(enabled: bool):
    """:data:`QUIET_KERNEL` and, when ``enabled``, :data:`THREAD_VARIABLES` at 1 for the kernels started inside,
    set before the threads that start them."""
    return _kernel_environment({**QUIET_KERNEL, **({name: "1" for name in THREAD_VARIABLES} if enabled else {})})


def _last_seconds(cache: Path, name: str) -> float:
    """The run time of ``name``'s last execution (infinite when unknown: run it first)."""

    entry = cache / f"{name}.json"
    try:
        return float(json.loads(entry.read_text())["seconds"])
    except (OSError, ValueError, KeyError):
        return float("inf")


def run_executions(executions: list[Execution], cache: Path, force: bool = False,
                   jobs: int = 1) -> list[tuple[str, float, bool]]:
    """Execute (or reuse, see :func:`execute_cached`) every execution, ``jobs`` at a time, the longest of the last
    build first (those never run here before them, larger notebooks first: more cells, more work); returns
    ``(name, seconds, reused)`` in the order given. The first failure is raised once the executions already
    running have ended (no other starts)."""
    order = sorted(executions, key=lambda e: (_last_seconds(cache, e.name), e.notebook.stat().st_size), reverse=True)
    results: dict[str, tuple[float, bool]] = {}
    progress = tqdm(total=len(executions), desc="executing notebooks", unit="notebook")

    failed = threading.Event()

    def execute(execution: Execution) -> None:
        if failed.is_set():  # an execution failed: start no other
            return
        try:
            seconds, reused = execute_cached(execution.notebook, execution.output, execution.parameters,
                                             cwd=REPO_ROOT, cache=cache, name=execution.name, force=force,
                                             data=execution.data)
        except BaseException:
            failed.set()
            raise
        results[execution.name] = seconds, reused
        tqdm.write(f"  {execution.name}: {'reused, ' if reused else ''}{seconds:.0f} s")
        progress.update()

    with _one_thread_per_kernel(jobs > 1), ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = [pool.submit(execute, execution) for execution in order]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        wait(pending)
    progress.close()
    for future in futures:
        if future.done() and not future.cancelled() and future.exception() is not None:
            raise future.exception()
    return [(e.name, *results[e.name]) for e in executions]


def code_digests(executions: list[Execution]) -> dict[str, dict[str, str]]:
    """For each execution, the digests of the files its code runs (its notebook and the library closure), taken
    before the executions start so that an edit made while they run is not credited to them."""
    from sitsbench.results.full_profile import digests

    return {e.name: digests([e.notebook, *library_closure(notebook_code(e.notebook))]) for e in executions}


def publish_full_runs(executions: list[Execution], stats: list[tuple[str, float, bool]],
                      ran: dict[str, dict[str, str]], out_dir: Path | None = None) -> list[Path]:
    """Publish the record of each full-profile execution into :data:`~sitsbench.results.full_profile.FULL_RESULTS`
    (see :mod:`sitsbench.results.full_profile`), with its run time and ``ran`` (:func:`code_digests`)."""
    from sitsbench.results.full_profile import FULL_RESULTS, publish

    seconds = {name: run_s for name, run_s, _ in stats}
    return [publish(REPO_ROOT / e.parameters["output_dir"] / "record.json", e.name, seconds[e.name], ran[e.name],
                    out_dir or FULL_RESULTS) for e in executions]


def build(profile: str = "quick", build_dir: Path = REPO_ROOT / "_build", only: list[str] | None = None,
          html: bool = True, real_data: Path | None = DEFAULT_REAL_DATA, force: bool = False,
          jobs: int | None = None) -> Path:
    """Execute the notebooks (``jobs`` at a time; default: one per core, at most :data:`DEFAULT_JOBS`) and build
    the HTML book; returns the HTML folder (or the source folder)."""
    book_dir, notebook_dir = REPO_ROOT / "book", REPO_ROOT / "notebooks"
    if real_data is not None:  # the chapters' DATA_ROOT/... parameters name files under it
        os.environ[REAL_DATA_ENV_VAR] = str(Path(real_data).resolve())
    source = build_dir / "book_src"
    runs = build_dir / "runs"
    shutil.rmtree(source, ignore_errors=True)
    shutil.rmtree(build_dir / "html", ignore_errors=True)
    shutil.copytree(book_dir, source)
    stems = notebooks_in_toc(book_dir)
    missing = [stem for stem in stems if not (notebook_dir / f"{stem}.ipynb").exists()]
    if missing:
        raise BookBuildError(f"book/_toc.yml lists notebooks that do not exist in notebooks/: {missing}")
    selected = [s for s in stems if not only or any(s.startswith(o) for o in only)]
    unselected = [stem for stem in stems if stem not in selected]
    (source / "notebooks").mkdir(exist_ok=True)
    for stem in unselected:  # unexecuted, so that links to them resolve; their own warnings are not this build's
        shutil.copyfile(notebook_dir / f"{stem}.ipynb", source / "notebooks" / f"{stem}.ipynb")
    cache = build_dir / CACHE_DIR
    executions = [chapter_execution(stem, runs, source / "notebooks", profile) for stem in selected]
    if not only:
        variants = build_dir / "real_data_notebooks"
        executions += real_data_executions(profile, runs, variants, real_data)[0]
        executions += preset_executions(profile, runs, variants)
    jobs = jobs or min(DEFAULT_JOBS, os.cpu_count() or 1)
    start = time.perf_counter()
    ran = code_digests(executions) if profile == "full" else {}
    stats = run_executions(executions, cache, force, jobs)
    wall_s = time.perf_counter() - start
    if profile == "full":
        publish_full_runs(executions, stats, ran)
    write_generated_pages(source, runs, real_data)
    (source / "execution.md").write_text(execution_page(stats, wall_s, jobs))
    if not html:
        return source
    install_mathjax(source)
    sphinx_out = build_dir / "sphinx"
    shutil.rmtree(sphinx_out, ignore_errors=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(source), "--path-output", str(sphinx_out), "--quiet", "-W", "--keep-going"],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    warnings = [line for line in sphinx_warnings(result.stdout + result.stderr)
                if not any(f"notebooks/{stem}.ipynb" in line for stem in unselected)]
    if warnings or (result.returncode and not unselected):
        log = "\n".join(warnings) or (result.stdout + result.stderr)[-4000:]
        raise BookBuildError(f"jupyter-book build failed (exit code {result.returncode}):\n{log}")
    html_dir = build_dir / "html"
    if not (sphinx_out / "_build" / "html" / "index.html").is_file():
        raise BookBuildError(f"jupyter-book wrote no HTML (exit code {result.returncode}):\n"
                             f"{(result.stdout + result.stderr)[-4000:]}")
    shutil.move(sphinx_out / "_build" / "html", html_dir)
    shutil.rmtree(sphinx_out, ignore_errors=True)
    return html_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=["quick", "full"])
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "_build")
    parser.add_argument("--only", nargs="*", help="execute only notebooks whose name starts with these prefixes")
    parser.add_argument("--no-html", action="store_true", help="execute the notebooks but skip the HTML build")
    parser.add_argument("--force", action="store_true", help="execute every chapter, even those unchanged")
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"notebooks executed at once (default: one per core, at most {DEFAULT_JOBS}); with more "
                        "than one, each kernel uses one thread")
    parser.add_argument("--real-data", type=Path, default=DEFAULT_REAL_DATA,
                        help="folder of the real samples re-run by chapters 2 and 6 (default: ../shared/data)")
    args = parser.parse_args(argv)
    try:
        out = build(args.profile, args.build_dir, args.only, html=not args.no_html, real_data=args.real_data,
                    force=args.force, jobs=args.jobs)
    except BookBuildError as error:
        print(f"book build failed: {error}", file=sys.stderr)
        return 1
    print(f"book built: {out / 'index.html' if not args.no_html else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
