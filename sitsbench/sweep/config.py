"""Sweep configuration: one YAML file naming a notebook, fixed parameters and a grid of parameters to cross.

Example (``sweeps/example.yaml``)::

    name: baselines-seeds          # folder of the runs: runs/<name>/
    notebook: notebooks/02_supervised_baselines.ipynb
    parameters:                    # passed to every run (papermill ``-p``)
      profile: quick
    grid:                          # every combination of these lists is one run
      seed: [0, 1, 2]

Each run is identified by a **run id** that is stable (the same parameters always give the same id, whatever
the order of the YAML keys) and readable (the grid values appear in it), e.g. ``seed-1__3f0c9a2e``: the grid
values, then 8 hex digits of the SHA-256 of the notebook name and all parameters. Changing a fixed parameter
therefore changes every id, so runs made with other settings are never mistaken for completed ones.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sitsbench.notebook import notebook_parameters, parameter_problem

RESERVED_PARAMETERS = ("output_dir",)
"""Parameters the runner sets itself (each run writes its record into its own folder)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9.]+")
MAX_READABLE = 48


class SweepConfigError(ValueError):
    """The sweep file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Run:
    """One point of the grid: the parameters given to the notebook and the run's id."""

    run_id: str
    parameters: dict[str, Any]
    grid_values: dict[str, Any]


@dataclass(frozen=True)
class SweepConfig:
    name: str
    notebook: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    source: Path | None = None

    def runs(self) -> list[Run]:
        """Every combination of the grid (in the YAML order of its keys), fixed parameters included."""
        keys = list(self.grid)
        runs = []
        for values in itertools.product(*(self.grid[key] for key in keys)):
            point = dict(zip(keys, values))
            parameters = {**self.parameters, **point}
            runs.append(Run(run_id(self.notebook.name, parameters, point), parameters, point))
        return runs


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def run_id(notebook: str, parameters: dict[str, Any], shown: dict[str, Any]) -> str:
    """``<key>-<value>_...__<sha8>``: the ``shown`` values for people, a hash of everything for uniqueness.

    >>> run_id("a.ipynb", {"seed": 1, "profile": "quick"}, {"seed": 1})
    'seed-1__bfbb82c2'
    """
    digest = hashlib.sha256(_canonical({"notebook": notebook, "parameters": parameters}).encode()).hexdigest()[:8]
    readable = "_".join(f"{key}-{_UNSAFE.sub('-', str(value)).strip('-')}" for key, value in shown.items())
    readable = readable[:MAX_READABLE].rstrip("-_")
    return f"{readable}__{digest}" if readable else digest


def load_sweep(path: str | Path, root: str | Path | None = None) -> SweepConfig:
    """Read and validate a sweep file; ``notebook`` is resolved against ``root`` (default: the current folder)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SweepConfigError(f"{path}: invalid YAML: {error}") from error
    return parse_sweep(data, source=path, root=Path(root) if root else Path.cwd())


def parse_sweep(data: Any, source: Path | None = None, root: Path | None = None) -> SweepConfig:
    where = str(source) if source else "sweep config"

    def fail(field_name: str, message: str) -> None:
        raise SweepConfigError(f"{where}: field {field_name!r} {message}")

    if not isinstance(data, dict):
        raise SweepConfigError(f"{where}: expected a mapping with name, notebook, parameters and grid")
    unknown = set(data) - {"name", "notebook", "parameters", "grid"}
    if unknown:
        fail(sorted(unknown)[0], "is not a sweep field (expected name, notebook, parameters, grid)")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        fail("name", f"must be a folder-safe name (letters, digits, '.', '_', '-'), got {name!r}")
    notebook = data.get("notebook")
    if not isinstance(notebook, str) or not notebook.endswith(".ipynb"):
        fail("notebook", f"must be the path of an .ipynb file, got {notebook!r}")
    notebook_path = Path(notebook)
    if root is not None and not notebook_path.is_absolute():
        notebook_path = root / notebook_path
    if not notebook_path.is_file():
        fail("notebook", f"names {notebook_path}, which does not exist")
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, dict):
        fail("parameters", f"must be a mapping of notebook parameters, got {type(parameters).__name__}")
    grid = data.get("grid") or {}
    if not isinstance(grid, dict):
        fail("grid", f"must be a mapping from parameter to a list of values, got {type(grid).__name__}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            fail(f"grid.{key}", f"must be a non-empty list of values, got {values!r}")
        if len({_canonical(v) for v in values}) != len(values):
            fail(f"grid.{key}", f"lists a value twice: {values!r}")
    for key in RESERVED_PARAMETERS:
        if key in parameters or key in grid:
            fail(key, "is set by the runner (each run writes into its own folder); remove it")
    both = sorted(set(parameters) & set(grid))
    if both:
        fail(f"grid.{both[0]}", "is also a fixed parameter; set it in one place")
    declared = notebook_parameters(notebook_path)
    known = list(declared)
    for section, keys in (("parameters", parameters), ("grid", grid)):
        for key in keys:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                fail(f"{section}.{key}", f"is not a parameter of {notebook_path.name}{hint}; its parameters: "
                     f"{', '.join(known)}")
            for value in (grid[key] if section == "grid" else [parameters[key]]):
                problem = parameter_problem(key, value, declared[key])
                if problem:
                    fail(f"{section}.{key}", problem)
    return SweepConfig(name, notebook_path, dict(parameters), {k: list(v) for k, v in grid.items()}, source)
