"""Gather run records into tables: one row per run, and the long table of scores (the score rows of each record,
:data:`sitsbench.records.SCORE_FIELDS`, with the run's identity).

Run records are the ``record.json`` files that notebooks write into their ``output_dir`` (``make book`` puts
them under ``_build/runs/<chapter>/``) and the ``<run_id>.json`` files of sweeps (next to ``<run_id>.ipynb``).
A record that cannot be read is never dropped silently: it is listed in :attr:`Collection.errors` by path.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sitsbench.atomic import written
from sitsbench.records import SCORE_FIELDS, dataset_label, read_run_record

SCORE_COLUMNS = ["path", "name", "run_id", "sweep", "configuration", "setting", "command", *SCORE_FIELDS,
                 "train_time_s"]
RUN_PARAMETERS_IGNORED = ("seed", "output_dir", "device", "label_fraction")
"""Parameters left out of a run's configuration: runs differing only by these are repeats of one setting (the
label fraction has its own column)."""


@dataclass
class Collection:
    runs: pd.DataFrame
    """One row per run: identity, provenance, ``param.*`` and ``metric.*`` (flattened scalars) columns."""
    scores: pd.DataFrame
    """One row per score (:data:`SCORE_COLUMNS`): the run's identity, its configuration and setting (the launch
    parameters that differ between the runs of one notebook and dataset), then the fields of the score row
    (``encoder`` is ``""`` for a method without one)."""
    errors: list[str] = field(default_factory=list)
    """``"<path>: <reason>"`` for every record that could not be read."""


def find_records(directory: str | Path) -> list[Path]:
    """Every run record under ``directory``: ``record.json`` files and sweep records ``R.json`` beside ``R.ipynb``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"results directory {directory} does not exist")
    found = [p for p in directory.rglob("*.json")
             if p.name == "record.json" or p.with_suffix(".ipynb").is_file()]
    return sorted(found)


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": scalar}``; lists are left out (curves stay in the records)."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, child in value.items():
            flat.update(flatten(child, f"{prefix}.{key}"))
        return flat
    if value is None or isinstance(value, str | int | float | bool):
        return {prefix: value}
    return {}


def run_parameters(record: dict[str, Any]) -> dict[str, Any]:
    """The parameters the run was launched with (the ``reproduce`` block), else its profile and seed."""
    reproduce = record.get("reproduce") or {}
    if "parameters" in reproduce:
        return dict(reproduce["parameters"])
    parameters = record.get("parameters") or {}
    return {"profile": parameters.get("profile", "quick"), "seed": record.get("seed")}


def configuration(record: dict[str, Any]) -> str:
    """The launch parameters other than the seed, as compact sorted JSON: runs with equal values are repeats."""
    chosen = {k: v for k, v in run_parameters(record).items() if k not in RUN_PARAMETERS_IGNORED}
    return json.dumps(chosen, sort_keys=True, separators=(",", ":"), default=str)


def reproduce_command(record: dict[str, Any]) -> str:
    """The command that reproduces the run: the sweep or book command it came from, else a papermill command."""
    reproduce = record.get("reproduce") or {}
    if reproduce.get("command"):
        return reproduce["command"]
    notebook = reproduce.get("notebook") or f"notebooks/{record['name']}.ipynb"
    arguments = ["papermill", notebook, "out.ipynb"]
    for key, value in run_parameters(record).items():
        arguments += ["-p", key, str(value)]
    return shlex.join(arguments)


def settings(configurations: pd.Series) -> pd.Series:
    """For each configuration (JSON), ``"k=v, ..."`` of the parameters that differ among ``configurations``."""
    parsed = {c: json.loads(c) for c in configurations.unique()}
    keys = sorted({k for p in parsed.values() for k in p})
    varying = [k for k in keys if len({json.dumps(p.get(k), sort_keys=True) for p in parsed.values()}) > 1]
    labels = {c: ", ".join(f"{k}={p.get(k)}" for k in varying) for c, p in parsed.items()}
    return configurations.map(labels)


def _run_row(path: Path, record: dict[str, Any], root: Path) -> dict[str, Any]:
    dataset = record.get("dataset") or {}
    sweep = record.get("sweep") or {}
    row = {
        "path": str(path.relative_to(root)),
        "name": record["name"],
        "run_id": sweep.get("run_id", path.parent.name if path.name == "record.json" else path.stem),
        "sweep": sweep.get("name"),
        "status": record.get("status", "ok"),
        "seed": record["seed"],
        "dataset": dataset_label(dataset),
        "dataset_manifest_sha256": dataset.get("manifest_sha256"),
        "dataset_checksum": dataset.get("checksum"),
        "configuration": configuration(record),
        "device": record.get("device"),
        "duration_s": record.get("duration_s"),
        "git_sha": record.get("git_sha"),
        "created": record.get("created"),
        "command": reproduce_command(record),
    }
    row.update(flatten(record["parameters"], "param"))
    row.update(flatten(record["metrics"], "metric"))
    return row


def collect(directory: str | Path) -> Collection:
    """Read every record under ``directory`` into a :class:`Collection` (unreadable ones go to ``errors``)."""
    directory = Path(directory)
    runs, scores, errors = [], [], []
    for path in find_records(directory):
        try:
            record = read_run_record(path)
            if not isinstance(record["metrics"], dict) or not isinstance(record["parameters"], dict):
                raise ValueError(f"run record {path} has non-mapping parameters or metrics")
        except (OSError, ValueError) as error:
            errors.append(f"{path}: {error}")
            continue
        row = _run_row(path, record, directory)
        runs.append(row)
        identity = {k: row[k] for k in ("path", "name", "run_id", "sweep", "configuration", "command")}
        scores += [{**identity, "setting": "", **score, "encoder": score["encoder"] or ""}
                   for score in record["scores"]]
    scores = pd.DataFrame(scores, columns=SCORE_COLUMNS)
    for _, index in scores.groupby(["name", "dataset"]).groups.items():
        scores.loc[index, "setting"] = settings(scores.loc[index, "configuration"])
    return Collection(pd.DataFrame(runs), scores, errors)


def method_label(scores: pd.DataFrame) -> pd.Series:
    """``linear probe / simclr``: each score's method, with its encoder when it has one."""
    encoder = scores["encoder"].fillna("")
    return scores["method"] + encoder.map(lambda name: f" / {name}" if name else "")


def write_table(table: pd.DataFrame, out: str | Path) -> Path:
    """Write ``table`` as Parquet when ``out`` ends with ``.parquet`` and pyarrow is installed, else as CSV.

    Returns the path written (``.csv`` replaces ``.parquet`` when pyarrow is missing).
    """
    out = Path(out)
    if out.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            out = out.with_suffix(".csv")
        else:
            with written(out) as tmp:
                table.to_parquet(tmp, index=False)
            return out
    with written(out) as tmp:
        table.to_csv(tmp, index=False)
    return out
