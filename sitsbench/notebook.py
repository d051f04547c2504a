"""Helpers shared by the executable chapters: profiles and the run record each notebook writes.

Every notebook has one cell tagged ``parameters`` (papermill) with every knob. Knobs left at ``None`` take
the value of the chosen profile: ``quick`` runs in CI in minutes on a CPU, ``full`` is for real runs.
"""

from __future__ import annotations

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
    chosen.update({key: value for key, value in explicit.items() if value is not None})
    return chosen
