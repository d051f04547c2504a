"""Helpers shared by the executable chapters: profiles, the real data of a section and the run record each notebook
writes.

Every notebook has one cell tagged ``parameters`` (papermill) with every knob. Knobs left at ``None`` take
the value of the chosen profile: ``quick`` runs in CI in minutes on a CPU, ``full`` is for real runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROFILES = ("quick", "full")


def notebook_parameters(notebook) -> dict[str, str]:
    """The parameters assigned in the notebook's ``parameters`` cell (what papermill can set), each with the text of
    its default, as papermill's Python translator reads the cell (``{}`` without such a cell)."""
    import nbformat
    from papermill.translators import PythonTranslator

    cells = nbformat.read(str(notebook), as_version=4).cells
    cell = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    return {} if cell is None else {p.name: p.default for p in PythonTranslator.inspect(cell)}


def parameter_problem(name: str, value: Any, default: str) -> str | None:
    """Why the notebook would refuse ``value`` for its parameter ``name`` (``default``: the text assigned in its
    ``parameters`` cell, :func:`notebook_parameters`), or ``None``: a ``profile`` outside
    :data:`PROFILES`, or not a list (a mapping) where the default is one. Checked before a kernel starts, so that the
    error is a line naming the parameter, not a traceback inside the executed notebook's first cells.

    >>> parameter_problem("profile", "fast", '"quick"')
    "must be one of ('quick', 'full'), got 'fast'"
    """
    import ast

    if name == "profile" and value not in PROFILES:
        return f"must be one of {PROFILES}, got {value!r}"
    try:
        declared = ast.literal_eval(default)
    except (ValueError, SyntaxError):  # an expression: nothing to compare with
        return None
    for kind in (list, dict):
        if isinstance(declared, kind) and not isinstance(value, kind):
            return f"must be a {kind.__name__} like its default {default}, got {type(value).__name__} {value!r}"
    return None


def resolve_profile(profile: str, quick: dict[str, Any], full: dict[str, Any],
                    parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The knobs of ``profile``: its defaults, overridden by the knobs set (not ``None``) in ``parameters``.

    A chapter passes its namespace (``parameters=globals()``), so that each knob is written once, in the
    ``parameters`` cell; every knob of the profiles must be there.

    >>> resolve_profile("quick", {"epochs": 2}, {"epochs": 50}, {"epochs": None, "seed": 0})
    {'epochs': 2}
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if set(quick) != set(full):
        raise ValueError(f"quick and full profiles must set the same knobs: {sorted(set(quick) ^ set(full))}")
    missing = sorted(set(quick) - set(parameters))
    if missing:
        raise ValueError(f"knobs {missing} of the profiles are not parameters: add them to the parameters cell "
                         "(None takes the profile's value)")
    chosen = dict(quick if profile == "quick" else full)
    for key in chosen:
        value = parameters[key]
        if value is None:
            continue
        default = chosen[key]
        if isinstance(default, list | tuple | dict) and not isinstance(value, list | tuple | dict):
            kind = type(default).__name__
            raise TypeError(f"parameter {key!r} must be a {kind} like the profile's {default!r}, got "
                            f"{type(value).__name__} {value!r} (papermill's -p passes text: give lists and mappings "
                            f"as YAML, e.g. -y '{key}: {json.dumps(default)}')")
        chosen[key] = value
    return chosen


CHAPTER_PARAMETERS = ("profile", "seed", "device", "dataset", "real_data", "split_policy")
"""The parameters a chapter's run record keeps besides its profile's knobs (those of them the chapter has): what
reproduces the run (``sitsbench.results.collect.run_parameters`` reads ``profile``, ``dataset`` and ``real_data``)."""


def start_chapter(parameters: Mapping[str, Any]) -> tuple[Path, Any, float]:
    """The set-up of a chapter that trains: its run folder (``output_dir``, made), the device its models run on (its
    ``device`` parameter resolved: ``"auto"`` gives CUDA when available) and its start time
    (``time.perf_counter()``, for :func:`write_chapter_record`'s ``started``). ``parameters`` is the chapter's
    namespace (``globals()``), as for :func:`resolve_profile`."""
    from sitsbench.runtime import resolve_device

    output = Path(parameters["output_dir"])
    output.mkdir(parents=True, exist_ok=True)
    return output, resolve_device(parameters["device"]), time.perf_counter()


def write_chapter_record(name: str, parameters: Mapping[str, Any], knobs: Mapping[str, Any], *,
                         metrics: Mapping[str, Any], scores: list[dict[str, Any]] | None = None,
                         intervals: list[dict[str, Any]] | None = None,
                         differences: list[dict[str, Any]] | None = None,
                         dataset: Mapping[str, Any] | None = None, device: Any = None, started: float | None = None,
                         extra: Mapping[str, Any] | None = None) -> Path:
    """The epilogue of every chapter: write its run record (:func:`sitsbench.records.write_run_record`) to
    ``record.json`` in its ``output_dir``, print where, and return that path.

    ``parameters`` is the chapter's namespace (``globals()``), as for :func:`resolve_profile`: the record's
    parameters are those of :data:`CHAPTER_PARAMETERS` it holds, then ``extra`` (the chapter's other parameters, or
    a value the run chose, like a split seed), then the resolved ``knobs``; its seed is the ``seed`` parameter.
    ``device`` is where the models ran (default: the ``device`` parameter resolved, ``"auto"`` giving CUDA when
    available; ``"cpu"`` for a chapter without one); ``started`` is ``time.perf_counter()`` at the chapter's start,
    for the record's ``duration_s`` (``None``: not timed). ``scores``, ``intervals`` and ``differences`` are the
    record's rows (:mod:`sitsbench.records`).
    """
    from sitsbench.records import write_run_record

    if device is None and "device" in parameters:
        from sitsbench.runtime import resolve_device

        device = resolve_device(parameters["device"])
    recorded = {key: parameters[key] for key in CHAPTER_PARAMETERS if key in parameters}
    path = write_run_record(
        Path(parameters["output_dir"]) / "record.json", name=name,
        parameters={**recorded, **(extra or {}), **knobs}, metrics=dict(metrics), scores=scores,
        intervals=intervals, differences=differences,
        seed=parameters["seed"], device=str(device or "cpu"),
        duration_s=None if started is None else time.perf_counter() - started,
        dataset=None if dataset is None else dict(dataset),
    )
    print("run record:", path)
    return path


def load_real_data(spec: str, *, needs: tuple[str, ...] = ("cube",), georeferenced: bool = False,
                   seed: int = 0) -> tuple[Any, str | None]:
    """The real data of a chapter's section that needs some (``spec``: a path or a manifest name, as for
    :func:`sitsbench.data.load_dataset`), or why that section is skipped: ``(dataset, None)``, or ``(None, reason)``
    when ``spec`` is absent or its data lacks what the section ``needs`` (``"cube"``: rasters, ``"samples"``:
    labelled points or series; ``georeferenced``: a cube with a coordinate reference system), so that a book built
    without the real data runs every other section.

    >>> load_real_data("no/such/folder")[0] is None
    True
    """
    from sitsbench.data import georef, load_dataset

    unknown = sorted(set(needs) - {"cube", "samples"})
    if unknown:
        raise ValueError(f"needs must name 'cube' and/or 'samples', got {unknown}")
    try:
        loaded = load_dataset(spec, seed=seed)
    except FileNotFoundError as error:
        return None, str(error)
    cube_ok = "cube" not in needs or (loaded.cube is not None
                                      and (not georeferenced or georef.has_crs(loaded.cube)))
    if cube_ok and ("samples" not in needs or loaded.samples is not None):
        return loaded, None
    wanted = [("a georeferenced cube" if georeferenced else "a cube") if part == "cube" else "labelled points"
              for part in needs]
    return None, f"{loaded.name!r} is {loaded.kind}: this section needs {' and '.join(wanted)}"
