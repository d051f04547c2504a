"""Helpers shared by the executable chapters: profiles and the run record each notebook writes.

Every notebook has one cell tagged ``parameters`` (papermill) with every knob. Knobs left at ``None`` take
the value of the chosen profile: ``quick`` runs in CI in minutes on a CPU, ``full`` is for real runs.
"""

from __future__ import annotations

import json
from typing import Any

PROFILES = ("quick", "full")


def resolve_profile(profile: str, quick: dict[str, Any], full: dict[str, Any], **explicit: Any) -> dict[str, Any]:
    """Merge profile defaults with explicitly set parameters (those that are not ``None``).

    >>> resolve_profile("quick", {"epochs": 2}, {"epochs": 50}, epochs=None)
    {'epochs': 2}
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if set(quick) != set(full):
        raise ValueError(f"quick and full profiles must set the same knobs: {sorted(set(quick) ^ set(full))}")
    unknown = set(explicit) - set(quick)
    if unknown:
        raise ValueError(f"parameters {sorted(unknown)} are not knobs of this notebook's profiles")
    chosen = dict(quick if profile == "quick" else full)
    for key, value in explicit.items():
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
