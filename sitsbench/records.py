"""Run records: one JSON file per run with parameters, metrics, scores, intervals, differences, seed, versions, git
sha and device.

``metrics`` holds whatever a chapter wants to keep, in the shape that suits it; nothing outside the chapter reads it.
What ``sitsbench.results`` reads to build the leaderboard and the pages is in three lists of rows, each with its
fixed fields, checked when a record is written and when it is read:

* ``scores`` (:data:`SCORE_FIELDS`, :func:`check_scores`): the run's test scores, one row per score: ``dataset``
  (:func:`dataset_label`), ``method`` (the protocol: ``supervised``, ``linear probe``, ``fine-tuned``...),
  ``encoder`` (the representation it reads, ``None`` when the method is a model trained from the inputs), ``unit``
  (what one test item is: :data:`SCORE_UNITS`), ``label_fraction`` (share of the training labels, in (0, 1]),
  ``seed``, ``metric`` and ``value``. Optional (:data:`SCORE_OPTIONAL`): ``train_time_s``; ``n_labels``, the number
  of training labels behind the score, and ``label_unit``, what one of them is when it is not the ``unit`` (e.g.
  parcels for a method labelled per parcel and scored per pixel).
* ``intervals`` (:data:`INTERVAL_FIELDS`, :func:`check_intervals`): a score summarised over the seeds with its
  interval: the fields that name a score (:data:`ROW_IDENTITY`: a score row's, without ``seed``), ``metric``,
  ``estimate`` (the mean over the seeds, or the pooled score), ``low`` and ``high`` (its bounds; both ``None`` when
  there is no interval, e.g. fewer than two folds) and ``level`` (0.95 for a 95 % interval); optional ``n_units``,
  the number of units the interval resampled (test groups, samples or spatial blocks).
* ``differences`` (:data:`DIFFERENCE_FIELDS`, :func:`check_differences`): a paired difference ``a − b`` of one
  metric between two methods scored on the same test items and seeds: ``dataset``, ``method``/``encoder`` (a),
  ``versus_method``/``versus_encoder`` (b), ``unit``, ``label_fraction``, ``metric``, ``difference``, ``low``,
  ``high`` and ``level``.

Records of :data:`RECORD_VERSION` 1 have neither ``intervals`` nor ``differences``: they read as empty lists.

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

RECORD_VERSION = 2
"""2: records have ``intervals`` and ``differences``; score rows may count their training labels."""
SCORE_FIELDS = ("dataset", "method", "encoder", "unit", "label_fraction", "seed", "metric", "value")
"""The fields of every score row, in order (those of :data:`SCORE_OPTIONAL` may follow)."""
SCORE_OPTIONAL = ("train_time_s", "n_labels", "label_unit")
"""Optional fields of a score row: training time, number of training labels and what one of them is."""
ROW_IDENTITY = ("dataset", "method", "encoder", "unit", "label_fraction")
"""The fields that name what a score, an interval or a difference is about (with its ``metric``)."""
INTERVAL_FIELDS = (*ROW_IDENTITY, "metric", "estimate", "low", "high", "level")
"""The fields of every interval row, in order (``n_units`` may follow)."""
DIFFERENCE_FIELDS = ("dataset", "method", "encoder", "versus_method", "versus_encoder", "unit", "label_fraction",
                     "metric", "difference", "low", "high", "level")
"""The fields of every paired-difference row (``method``/``encoder`` minus ``versus_method``/``versus_encoder``)."""
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
              unit: str = "pixel", label_fraction: float = 1.0, seed: int = 0, train_time_s: float | None = None,
              n_labels: int | None = None, label_unit: str | None = None) -> dict[str, Any]:
    """One checked score row (see :data:`SCORE_FIELDS`; the optional fields left ``None`` are left out)."""
    row = {"dataset": dataset, "method": method, "encoder": encoder, "unit": unit,
           "label_fraction": label_fraction, "seed": seed, "metric": metric, "value": value}
    optional = {"train_time_s": train_time_s, "n_labels": n_labels, "label_unit": label_unit}
    return check_scores([{**row, **{k: v for k, v in optional.items() if v is not None}}])[0]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_fields(row: Any, at: str, fields: tuple[str, ...], optional: tuple[str, ...]) -> None:
    if not isinstance(row, dict):
        raise ValueError(f"{at} must be a mapping with the fields {fields}, got {type(row).__name__}")
    missing = [key for key in fields if key not in row]
    extra = sorted(set(row) - set(fields) - set(optional))
    if missing or extra:
        raise ValueError(f"{at} lacks the fields {missing} / has unknown fields {extra}; expected {fields}"
                         + (f" and optionally {optional}" if optional else ""))


def _check_name(row: dict, at: str, key: str, optional: bool = False) -> None:
    """``row[key]`` is a non-empty string (or ``None`` when ``optional``)."""
    if optional and row[key] is None:
        return
    if not isinstance(row[key], str) or not row[key]:
        raise ValueError(f"{at}.{key} must be a non-empty string{' or None' if optional else ''}, got {row[key]!r}")


def _check_identity(row: dict, at: str) -> dict[str, Any]:
    """The fields of :data:`ROW_IDENTITY` and ``metric`` of ``row``, checked and JSON-ready."""
    for key in ("dataset", "method", "metric"):
        _check_name(row, at, key)
    _check_name(row, at, "encoder", optional=True)
    if row["unit"] not in SCORE_UNITS:
        raise ValueError(f"{at}.unit must be one of {SCORE_UNITS}, got {row['unit']!r}")
    fraction = row["label_fraction"]
    if not _is_number(fraction) or not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"{at}.label_fraction must be a number in (0, 1], got {fraction!r}")
    return {key: row[key] for key in (*ROW_IDENTITY, "metric")} | {"label_fraction": float(fraction)}


def _value(row: dict, at: str, key: str) -> float:
    """``row[key]`` as a float: a finite number or NaN (a score that is undefined, e.g. F1 without any positive)."""
    if not _is_number(row[key]) or np.isinf(float(row[key])):
        raise ValueError(f"{at}.{key} must be a finite number (or NaN), got {row[key]!r}")
    return float(row[key])


def _bounds(row: dict, at: str) -> dict[str, Any]:
    """``low``, ``high`` (numbers, ``low <= high``, or both ``None``: no interval) and ``level`` in (0, 1)."""
    low, high, level = row["low"], row["high"], row["level"]
    if not (low is None and high is None):
        low, high = _value(row, at, "low"), _value(row, at, "high")
        if low > high:
            raise ValueError(f"{at} has low {low} above high {high}")
    if not _is_number(level) or not 0.0 < float(level) < 1.0:
        raise ValueError(f"{at}.level must be a number in (0, 1) (0.95 for a 95 % interval), got {level!r}")
    return {"low": low, "high": high, "level": float(level)}


def _rows(rows: Any, where: str, what: str) -> list:
    if not isinstance(rows, list | tuple):
        raise ValueError(f"{where} must be a list of {what} rows, got {type(rows).__name__}")
    return list(rows)


def check_scores(rows: Any, where: str = "scores") -> list[dict[str, Any]]:
    """``rows`` as JSON-ready score rows; a row that breaks the schema raises ``ValueError`` naming its index,
    the field and what was expected. A NaN value is allowed (a score that is undefined, e.g. F1 without any
    positive), an infinite one is not."""
    checked = []
    for index, row in enumerate(_rows(rows, where, "score")):
        at = f"{where}[{index}]"
        _check_fields(row, at, SCORE_FIELDS, SCORE_OPTIONAL)
        out = _check_identity(row, at)
        if not _is_integer(row["seed"]):
            raise ValueError(f"{at}.seed must be an integer, got {row['seed']!r}")
        out |= {"seed": int(row["seed"]), "value": _value(row, at, "value")}
        time_s = row.get("train_time_s")
        if time_s is not None:
            if not _is_number(time_s) or float(time_s) < 0:
                raise ValueError(f"{at}.train_time_s must be a non-negative number, got {time_s!r}")
            out["train_time_s"] = float(time_s)
        if row.get("n_labels") is not None:
            if not _is_integer(row["n_labels"]) or row["n_labels"] < 0:
                raise ValueError(f"{at}.n_labels must be a non-negative integer, got {row['n_labels']!r}")
            out["n_labels"] = int(row["n_labels"])
        if row.get("label_unit") is not None:
            if row["label_unit"] not in SCORE_UNITS or "n_labels" not in out:
                raise ValueError(f"{at}.label_unit must be one of {SCORE_UNITS} and come with n_labels, got "
                                 f"{row['label_unit']!r}")
            out["label_unit"] = row["label_unit"]
        checked.append({key: out[key] for key in (*SCORE_FIELDS, *SCORE_OPTIONAL) if key in out})
    return checked


def check_intervals(rows: Any, where: str = "intervals") -> list[dict[str, Any]]:
    """``rows`` as JSON-ready interval rows (:data:`INTERVAL_FIELDS`); a row that breaks the schema raises
    ``ValueError`` naming its index and the field."""
    checked = []
    for index, row in enumerate(_rows(rows, where, "interval")):
        at = f"{where}[{index}]"
        _check_fields(row, at, INTERVAL_FIELDS, ("n_units",))
        out = {**_check_identity(row, at), "estimate": _value(row, at, "estimate"), **_bounds(row, at)}
        if row.get("n_units") is not None:
            if not _is_integer(row["n_units"]) or row["n_units"] < 1:
                raise ValueError(f"{at}.n_units must be a positive integer, got {row['n_units']!r}")
            out["n_units"] = int(row["n_units"])
        checked.append({key: out[key] for key in (*INTERVAL_FIELDS, "n_units") if key in out})
    return checked


def check_differences(rows: Any, where: str = "differences") -> list[dict[str, Any]]:
    """``rows`` as JSON-ready paired-difference rows (:data:`DIFFERENCE_FIELDS`); a row that breaks the schema
    raises ``ValueError`` naming its index and the field."""
    checked = []
    for index, row in enumerate(_rows(rows, where, "difference")):
        at = f"{where}[{index}]"
        _check_fields(row, at, DIFFERENCE_FIELDS, ())
        out = _check_identity(row, at)
        _check_name(row, at, "versus_method")
        _check_name(row, at, "versus_encoder", optional=True)
        out |= {"versus_method": row["versus_method"], "versus_encoder": row["versus_encoder"],
                "difference": _value(row, at, "difference"), **_bounds(row, at)}
        checked.append({key: out[key] for key in DIFFERENCE_FIELDS})
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
    intervals: list[dict[str, Any]] | None = None,
    differences: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A run record as a plain dict (see :func:`write_run_record`); ``scores``, ``intervals`` and ``differences``
    are checked against their row schemas (:func:`check_scores`, :func:`check_intervals`,
    :func:`check_differences`).

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
            "intervals": check_intervals(intervals or []),
            "differences": check_differences(differences or []),
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
    """Read a record, its row lists checked (those a version-1 record lacks read as empty); a file that is not a
    valid record raises ``ValueError`` naming the file."""
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
    record["intervals"] = check_intervals(record.get("intervals", []), f"run record {path}: intervals")
    record["differences"] = check_differences(record.get("differences", []), f"run record {path}: differences")
    return record
