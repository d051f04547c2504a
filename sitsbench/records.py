"""Run records: one JSON file per run with parameters, metrics, seed, versions, git sha and device.

The benchmark (``sitsbench results collect``) gathers these records into tables. Files are written
atomically (temporary file + rename), so an interrupted run never leaves a half-written record.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

RECORD_VERSION = 1
TRACKED_PACKAGES = ("sitsbench", "torch", "torchvision", "timm", "numpy", "xarray", "scikit-learn")


def git_sha(path: str | Path | None = None) -> str:
    """The commit of the working tree containing ``path`` (or of this package), ``"unknown"`` outside git."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def make_run_record(
    name: str,
    parameters: dict[str, Any],
    metrics: dict[str, Any],
    seed: int,
    device: str = "cpu",
    duration_s: float | None = None,
    dataset: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A run record as a plain dict (see :func:`write_run_record`)."""
    return _jsonable(
        {
            "record_version": RECORD_VERSION,
            "name": name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seed": seed,
            "parameters": parameters,
            "metrics": metrics,
            "dataset": dataset or {},
            "device": str(device),
            "duration_s": duration_s,
            "versions": package_versions(),
            "git_sha": git_sha(),
            "platform": platform.platform(),
        }
    )


def write_run_record(path: str | Path, **fields: Any) -> Path:
    """Build a record with :func:`make_run_record` and write it atomically as JSON to ``path``."""
    record = make_run_record(**fields)
    return atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True))


def read_run_record(path: str | Path) -> dict[str, Any]:
    """Read a record; a file that is not a valid record raises ``ValueError`` naming the file."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"run record {path} is not valid JSON: {error}") from error
    missing = [key for key in ("name", "parameters", "metrics", "seed") if key not in record]
    if missing:
        raise ValueError(f"run record {path} lacks the fields {missing}")
    return record
