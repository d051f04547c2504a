"""Run records: one JSON file per run with parameters, metrics, scores, seed, versions, git sha and device.

``metrics`` holds whatever a chapter wants to keep, in the shape that suits it. ``scores`` holds the run's test
scores in **one row schema** (:data:`SCORE_FIELDS`), the only part that ``sitsbench.results`` reads to build the
leaderboard and the plots: ``dataset`` (:func:`dataset_label`), ``method`` (the protocol: ``supervised``,
``linear probe``, ``fine-tuned``...), ``encoder`` (the representation it reads, ``None`` when the method is a
model trained from the inputs), ``unit`` (what one test item is: :data:`SCORE_UNITS`), ``label_fraction`` (share of
the training labels, in (0, 1]), ``seed``, ``metric`` and ``value``; ``train_time_s`` is optional.

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
SCORE_FIELDS = ("dataset", "method", "encoder", "unit", "label_fraction", "seed", "metric", "value")
"""The fields of every score row, in order (``train_time_s`` may follow)."""
SCORE_DEFAULTS = {"encoder": None, "unit": "pixel", "label_fraction": 1.0, "seed": 0}
"""The value of a score field that a writer leaves out: no encoder, pixels, every label, seed 0."""
SCORE_UNITS = ("pixel", "parcel", "sample", "patch", "point")
"""What one scored test item is: a pixel of a cube, a parcel, a labelled sample (a series of a sample set), a
segmentation patch's pixels, a validation point of a map."""
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


def dataset_label(dataset: dict[str, Any]) -> str:
    """``victoria-s2``, ``synthetic/default``...: the dataset's name, with the synthetic landscape preset.

    Records written by ``load_dataset`` name the layout (``synthetic`` for a preset); older records name the
    preset as ``landscape``.
    """
    if dataset.get("layout") == "synthetic":
        return f"synthetic/{dataset.get('name')}"
    name = dataset.get("name") or ("synthetic" if "landscape" in dataset else "unknown")
    landscape = dataset.get("landscape")
    return f"{name}/{landscape}" if landscape else str(name)


def score_row(dataset: str, method: str, metric: str, value: float, *, encoder: str | None = None,
              unit: str = "pixel", label_fraction: float = 1.0, seed: int = 0,
              train_time_s: float | None = None) -> dict[str, Any]:
    """One checked score row (see :data:`SCORE_FIELDS`)."""
    row = {"dataset": dataset, "method": method, "encoder": encoder, "unit": unit,
           "label_fraction": label_fraction, "seed": seed, "metric": metric, "value": value}
    if train_time_s is not None:
        row["train_time_s"] = train_time_s
    return check_scores([row])[0]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def check_scores(rows: Any, where: str = "scores") -> list[dict[str, Any]]:
    """``rows`` as JSON-ready score rows; a row that breaks the schema raises ``ValueError`` naming its index,
    the field and what was expected. A NaN value is allowed (a score that is undefined, e.g. F1 without any
    positive), an infinite one is not."""
    if not isinstance(rows, list | tuple):
        raise ValueError(f"{where} must be a list of score rows, got {type(rows).__name__}")
    checked = []
    for index, row in enumerate(rows):
        at = f"{where}[{index}]"
        if not isinstance(row, dict):
            raise ValueError(f"{at} must be a mapping with the fields {SCORE_FIELDS}, got {type(row).__name__}")
        missing = [key for key in SCORE_FIELDS if key not in row]
        extra = sorted(set(row) - set(SCORE_FIELDS) - {"train_time_s"})
        if missing or extra:
            raise ValueError(f"{at} lacks the fields {missing} / has unknown fields {extra}; expected {SCORE_FIELDS}"
                             " and optionally train_time_s")
        for key in ("dataset", "method", "metric"):
            if not isinstance(row[key], str) or not row[key]:
                raise ValueError(f"{at}.{key} must be a non-empty string, got {row[key]!r}")
        if row["encoder"] is not None and (not isinstance(row["encoder"], str) or not row["encoder"]):
            raise ValueError(f"{at}.encoder must be a non-empty string or None, got {row['encoder']!r}")
        if row["unit"] not in SCORE_UNITS:
            raise ValueError(f"{at}.unit must be one of {SCORE_UNITS}, got {row['unit']!r}")
        fraction = row["label_fraction"]
        if not _is_number(fraction) or not 0.0 < float(fraction) <= 1.0:
            raise ValueError(f"{at}.label_fraction must be a number in (0, 1], got {fraction!r}")
        if not isinstance(row["seed"], int | np.integer) or isinstance(row["seed"], bool):
            raise ValueError(f"{at}.seed must be an integer, got {row['seed']!r}")
        if not _is_number(row["value"]) or np.isinf(float(row["value"])):
            raise ValueError(f"{at}.value must be a finite number (or NaN), got {row['value']!r}")
        time_s = row.get("train_time_s")
        if time_s is not None and (not _is_number(time_s) or float(time_s) < 0):
            raise ValueError(f"{at}.train_time_s must be a non-negative number, got {time_s!r}")
        checked.append({**{key: row[key] for key in SCORE_FIELDS}, "label_fraction": float(fraction),
                        "seed": int(row["seed"]), "value": float(row["value"]),
                        **({"train_time_s": float(time_s)} if time_s is not None else {})})
    return checked


def make_run_record(
    name: str,
    parameters: dict[str, Any],
    metrics: dict[str, Any],
    seed: int,
    device: str = "cpu",
    duration_s: float | None = None,
    dataset: dict[str, Any] | None = None,
    scores: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A run record as a plain dict (see :func:`write_run_record`); ``scores`` are checked against the row
    schema (:func:`check_scores`).

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
            "scores": check_scores(scores or []),
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
    record["scores"] = check_scores(record.get("scores", []), f"run record {path}: scores")
    return record
