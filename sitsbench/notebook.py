"""Helpers shared by the executable chapters: profiles and the run record each notebook writes.

Every notebook has one cell tagged ``parameters`` (papermill) with every knob. Knobs left at ``None`` take
the value of the chosen profile: ``quick`` runs in CI in minutes on a CPU, ``full`` is for real runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
