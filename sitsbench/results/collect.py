"""Gather run records into tables: one row per run, and the long table of scores (the score rows of each record,
:data:`sitsbench.records.SCORE_FIELDS`, with the run's identity).

Run records are the ``record.json`` files that notebooks write into their ``output_dir`` (``make book`` puts
them under ``_build/runs/<chapter>/``) and the ``<run_id>.json`` files of sweeps (next to ``<run_id>.ipynb``).
A record that cannot be read is never dropped silently: it is listed in :attr:`Collection.errors` by path.

The pages built from these tables name data by a placeholder, never by a path of the machine that ran them
(:func:`data_argument`): ``DATA_ROOT`` stands for the folder holding the real samples.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sitsbench.atomic import written
from sitsbench.records import SCORE_FIELDS, dataset_label, read_run_record

SCORE_COLUMNS = ["path", "name", "run_id", "sweep", "configuration", "setting", "command", *SCORE_FIELDS,
                 "train_time_s", "n_labels"]
RUN_PARAMETERS_IGNORED = ("seed", "seeds", "output_dir", "device", "label_fraction")
"""Parameters left out of a run's configuration: runs differing only by these are repeats of one setting (the
label fraction has its own column; ``seeds``, the seeds a run repeats its curves over, are shown with its rows)."""
DATA_PARAMETERS = ("dataset", "real_data")
"""Launch parameters that may name data on disk: written with :func:`data_argument` on the pages."""
DATA_ROOT = "DATA_ROOT"
"""What a page writes for the folder holding the real samples (the book build's ``--real-data`` folder)."""
REPO_ROOT = Path(__file__).resolve().parents[2]
"""Relative data paths in the records are relative to the repository (the book runs the notebooks there)."""


def data_argument(value: Any, data_root: str | Path | None = None) -> Any:
    """``value`` of a data parameter as a page shows it: a synthetic preset or a manifest name as it is, a path
    as ``DATA_ROOT/<path under data_root>`` (``DATA_ROOT/<its name>`` for a path elsewhere outside the repository),
    ``NAME:ROOT`` with its root written so; a path inside the repository is kept (every clone has it)."""
    if not isinstance(value, str) or not value:
        return value
    name, colon, root = value.partition(":")
    if colon and root and "/" not in name and "\\" not in name:
        return f"{name}:{data_argument(root, data_root)}"
    if "/" not in value and "\\" not in value and not value.startswith("."):
        return value
    path = Path(value).expanduser()
    full = (path if path.is_absolute() else REPO_ROOT / path).resolve()
    if data_root is not None and full.is_relative_to(Path(data_root).expanduser().resolve()):
        relative = full.relative_to(Path(data_root).expanduser().resolve()).as_posix()
        return DATA_ROOT if relative == "." else f"{DATA_ROOT}/{relative}"
    if full.is_relative_to(REPO_ROOT):
        return full.relative_to(REPO_ROOT).as_posix()
    return f"{DATA_ROOT}/{full.name}"


@dataclass
class Collection:
    runs: pd.DataFrame
    """One row per run: identity, provenance, ``param.*`` and ``metric.*`` (flattened scalars) columns."""
    scores: pd.DataFrame
    """One row per score (:data:`SCORE_COLUMNS`): the run's identity, its configuration and setting (the launch
    parameters that differ between the runs of one notebook and dataset), then the fields of the score row
    (``encoder`` is ``""`` for a method without one) and the number of training labels behind it when the row
    counts them (:func:`labels_count`)."""
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


def run_parameters(record: dict[str, Any], data_root: str | Path | None = None) -> dict[str, Any]:
    """The parameters the run was launched with (the ``reproduce`` block), else its profile, its data
    (:data:`DATA_PARAMETERS`: ``dataset``, and ``real_data`` for the chapters whose last section reads real data),
    its seed and the seeds its curves repeat over (``seeds``) when it has them; data named as :func:`data_argument`
    does."""
    reproduce = record.get("reproduce") or {}
    if "parameters" in reproduce:
        chosen = dict(reproduce["parameters"])
    else:
        parameters = record.get("parameters") or {}
        chosen = {"profile": parameters.get("profile", "quick"),
                  **{k: parameters[k] for k in DATA_PARAMETERS if parameters.get(k) is not None},
                  **({"seed": record["seed"]} if record.get("seed") is not None else {}),
                  **({"seeds": parameters["seeds"]} if isinstance(parameters.get("seeds"), list) else {})}
    return {k: data_argument(v, data_root) if k in DATA_PARAMETERS else v for k, v in chosen.items()}


def configuration(record: dict[str, Any], data_root: str | Path | None = None) -> str:
    """The launch parameters other than the seeds, as compact sorted JSON: runs with equal values are repeats."""
    chosen = {k: v for k, v in run_parameters(record, data_root).items() if k not in RUN_PARAMETERS_IGNORED}
    return json.dumps(chosen, sort_keys=True, separators=(",", ":"), default=str)


def validate_command(record: dict[str, Any], data_root: str | Path | None = None) -> str:
    """The ``sitsbench validate`` command of a record it wrote (``parameters.command == "validate"``): its data, model,
    protocol, bootstrap and seed, the trees of a Random Forest, the training knobs a network's run set in place of
    its recipe (``None``: the recipe's), its model arguments and date policy when given."""
    from sitsbench.models.classical import CLASSICAL

    parameters = record["parameters"]
    words = ["sitsbench", "validate", str(data_argument(parameters["dataset"], data_root)), "--model",
             parameters["model"], "--folds", str(parameters["folds"]), "--repeats", str(parameters["repeats"]),
             "--split-policy", parameters["split_policy"], "--seed", str(parameters["seed"])]
    if parameters.get("block_size") is not None:
        words += ["--block-size", f"{parameters['block_size']:g}"]
    if parameters["model"] == "rf":
        words += ["--trees", str(parameters["trees"])]
    if parameters["model"] not in CLASSICAL:
        words += [word for knob in ("epochs", "patience", "lr", "batch_size") if parameters.get(knob) is not None
                  for word in (f"--{knob.replace('_', '-')}", f"{parameters[knob]:g}")]
    for knob in ("model_args", "date_policy", "bootstrap"):
        if parameters.get(knob) is not None:
            words += [f"--{knob.replace('_', '-')}", str(parameters[knob])]
    return shlex.join(words)


def reproduce_command(record: dict[str, Any], data_root: str | Path | None = None) -> str:
    """The command that reproduces the run: the sweep or book command it came from, the ``sitsbench validate``
    command of a cross-validation (:func:`validate_command`), else a papermill command passing its launch parameters
    (:func:`run_parameters`): scalars with ``-p``, lists and mappings as YAML (``-y 'seeds: [0, 1, 2]'``)."""
    reproduce = record.get("reproduce") or {}
    if reproduce.get("command"):
        return reproduce["command"]
    if (record.get("parameters") or {}).get("command") == "validate":
        return validate_command(record, data_root)
    notebook = reproduce.get("notebook") or f"notebooks/{record['name']}.ipynb"
    arguments = ["papermill", notebook, "out.ipynb"]
    for key, value in run_parameters(record, data_root).items():
        if isinstance(value, list | dict):
            arguments += ["-y", f"{key}: {json.dumps(value)}"]
        else:
            arguments += ["-p", key, str(value)]
    return shlex.join(arguments)


def seeds_text(seeds: list[int]) -> str:
    """``seed 0`` or ``seeds 0, 1, 2``: the seeds behind a row (a bare ``0`` reads as a count)."""
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(str(seed) for seed in seeds)


def number(value: Any, digits: int = 3, signed: bool = False) -> str:
    """A score as a page shows it: ``0.927`` (``+0.078`` when ``signed``), ``–`` for a missing or NaN value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value):{'+' if signed else ''}.{digits}f}"


def settings(configurations: pd.Series) -> pd.Series:
    """For each configuration (JSON), ``"k=v, ..."`` of the parameters that differ among ``configurations``."""
    parsed = {c: json.loads(c) for c in configurations.unique()}
    keys = sorted({k for p in parsed.values() for k in p})
    varying = [k for k in keys if len({json.dumps(p.get(k), sort_keys=True) for p in parsed.values()}) > 1]
    labels = {c: ", ".join(f"{k}={p.get(k)}" for k in varying) for c, p in parsed.items()}
    return configurations.map(labels)


def labels_count(score: dict[str, Any]) -> str | None:
    """The training labels behind a score row as pages write them: ``"47"``, ``"10 parcels"`` for labels that are
    parcels (its ``label_unit``, else its ``unit``); ``None`` when the row does not count them."""
    if score.get("n_labels") is None:
        return None
    return f"{score['n_labels']}{' parcels' if score.get('label_unit', score['unit']) == 'parcel' else ''}"


def _run_row(path: Path, record: dict[str, Any], root: Path, data_root: str | Path | None) -> dict[str, Any]:
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
        "configuration": configuration(record, data_root),
        "device": record.get("device"),
        "duration_s": record.get("duration_s"),
        "git_sha": record.get("git_sha"),
        "created": record.get("created"),
        "command": reproduce_command(record, data_root),
    }
    row.update(flatten(record["parameters"], "param"))
    row.update(flatten(record["metrics"], "metric"))
    return row


def collect(directory: str | Path, data_root: str | Path | None = None, paths: list[Path] | None = None) -> Collection:
    """Read every record under ``directory`` (or the records ``paths`` under it, e.g. a folder of records named
    otherwise than :func:`find_records` expects) into a :class:`Collection` (unreadable ones go to ``errors``); data
    under ``data_root`` is named ``DATA_ROOT/...`` in the configurations and commands (:func:`data_argument`)."""
    directory = Path(directory)
    runs, scores, errors = [], [], []
    for path in find_records(directory) if paths is None else paths:
        try:
            record = read_run_record(path)
            if not isinstance(record["metrics"], dict) or not isinstance(record["parameters"], dict):
                raise ValueError(f"run record {path} has non-mapping parameters or metrics")
        except (OSError, ValueError) as error:
            errors.append(f"{path}: {error}")
            continue
        row = _run_row(path, record, directory, data_root)
        runs.append(row)
        identity = {k: row[k] for k in ("path", "name", "run_id", "sweep", "configuration", "command")}
        scores += [{**identity, "setting": "", **{k: v for k, v in score.items() if k in SCORE_COLUMNS},
                    "encoder": score["encoder"] or "", "n_labels": labels_count(score)} for score in record["scores"]]
    return Collection(pd.DataFrame(runs), with_settings(pd.DataFrame(scores, columns=SCORE_COLUMNS)), errors)


def with_settings(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with the ``setting`` of each row: :func:`settings` among the rows of its notebook and dataset."""
    scores = scores.copy()
    for _, index in scores.groupby(["name", "dataset"]).groups.items():
        scores.loc[index, "setting"] = settings(scores.loc[index, "configuration"])
    return scores


def method_name(method: str, encoder: str | None) -> str:
    """``linear probe / SimCLR``: a method as pages name it, with its encoder when it has one."""
    return f"{method} / {encoder}" if encoder else method


def method_label(scores: pd.DataFrame) -> pd.Series:
    """Each score's :func:`method_name`."""
    return pd.Series([method_name(m, e) for m, e in zip(scores["method"], scores["encoder"].fillna(""))],
                     index=scores.index, dtype=object)


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
