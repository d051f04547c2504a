"""Run records: one JSON file per run with parameters, metrics, seed, versions, git sha and device.

The benchmark (``sitsbench results collect``) gathers these records into tables. Files are written
atomically (temporary file + rename), so an interrupted run never leaves a half-written record.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from sitsbench.atomic import write_text

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


def dataset_provenance(name: str, manifest_dir: str | Path | None = None) -> dict[str, str]:
    """Name, manifest file and manifest SHA-256 of a published dataset (``data_manifests/<name>.yaml``).

    The manifest lists the download URLs and file checksums, so its hash pins the exact data a run used.
    Raises ``KeyError`` naming the dataset when it has no manifest.
    """
    from sitsbench.data.manifests import MANIFEST_DIR

    path = Path(manifest_dir or MANIFEST_DIR) / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(f"dataset {name!r} has no manifest {path}")
    return {"name": name, "manifest": path.name, "manifest_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _with_provenance(dataset: dict[str, Any] | None) -> dict[str, Any]:
    """``dataset`` completed with the manifest checksum when its ``name`` is a published dataset."""
    dataset = dict(dataset or {})
    if "manifest_sha256" not in dataset and isinstance(dataset.get("name"), str):
        try:
            dataset.update(dataset_provenance(dataset["name"]))
        except KeyError:  # synthetic or local data: nothing published to pin
            pass
    return dataset


def make_run_record(
    name: str,
    parameters: dict[str, Any],
    metrics: dict[str, Any],
    seed: int,
    device: str = "cpu",
    duration_s: float | None = None,
    dataset: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A run record as a plain dict (see :func:`write_run_record`).

    A ``dataset`` whose ``name`` has a manifest gets its manifest checksum (:func:`dataset_provenance`).
    """
    return _jsonable(
        {
            "record_version": RECORD_VERSION,
            "name": name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seed": seed,
            "parameters": parameters,
            "metrics": metrics,
            "dataset": _with_provenance(dataset),
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
    return write_text(path, json.dumps(record, indent=2, sort_keys=True))


def update_run_record(path: str | Path, destination: str | Path | None = None, **fields: Any) -> Path:
    """Add or replace top-level ``fields`` of the record at ``path``; write it atomically to ``destination``
    (default: in place)."""
    record = read_run_record(path)
    record.update(_jsonable(fields))
    return write_text(destination or path, json.dumps(record, indent=2, sort_keys=True))


def read_run_record(path: str | Path) -> dict[str, Any]:
    """Read a record; a file that is not a valid record raises ``ValueError`` naming the file."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"run record {path} is not valid JSON: {error}") from error
    if not isinstance(record, dict):
        raise ValueError(f"run record {path} holds a {type(record).__name__}, expected a JSON object")
    missing = [key for key in ("name", "parameters", "metrics", "seed") if key not in record]
    if missing:
        raise ValueError(f"run record {path} lacks the fields {missing}")
    return record
