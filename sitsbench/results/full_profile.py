"""Full-profile results: the chapters' runs under the ``full`` profile, kept in the repository and shown in the book.

The quick profile is what the book executes on every build (minutes on a 2-core CPU); the ``full`` profile (all
pixels, more seeds, longer training) is what the chapters defer their conclusions to. ``make book PROFILE=full``
(``python -m sitsbench.book --profile full``) publishes the run record of every chapter it executed into the
committed folder :data:`FULL_RESULTS` (``results/full/<run>.json``): the record itself (parameters, dataset and
checksum, metrics, score rows, seed, versions, git revision) plus a ``published`` block with the hardware, the
chapter's run time and the SHA-256 of every file its code ran (the notebook and the sitsbench modules it imports).

:func:`full_results_page` renders them beside the quick runs of the current build, row by row, and marks a result
**stale** when one of the files it ran has changed since it was published (the number may no longer be what the
code computes): run the chapter again with the full profile to refresh it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import pandas as pd

from sitsbench.atomic import write_text
from sitsbench.records import read_run_record
from sitsbench.results.collect import data_argument
from sitsbench.results.real_data import MISSING, markdown_table

REPO_ROOT = Path(__file__).resolve().parents[2]
FULL_RESULTS = REPO_ROOT / "results" / "full"
"""The committed folder of published full-profile records."""
ROW_KEYS = ["dataset", "method", "encoder", "unit", "label_fraction", "metric"]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hardware() -> dict[str, Any]:
    """The machine a run used: CPU model and cores, memory, GPU (``None`` without CUDA)."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gib = None
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory_gib, "gpu": gpu,
            "platform": platform.platform()}


def describe_hardware(machine: dict[str, Any]) -> str:
    parts = [f"{machine.get('cores')} cores ({machine.get('cpu')})"]
    if machine.get("memory_gib"):
        parts.append(f"{machine['memory_gib']:g} GiB")
    parts.append(f"GPU: {machine['gpu']}" if machine.get("gpu") else "no GPU")
    return ", ".join(parts)


def digests(files: list[Path]) -> dict[str, str]:
    """The SHA-256 of each of ``files``, by path relative to the repository: taken *before* a run, they are what
    the run executed."""
    return {str(path.resolve().relative_to(REPO_ROOT)): file_digest(path) for path in sorted(files)}


def publish(record_path: Path, run: str, run_time_s: float, ran: dict[str, str], out_dir: Path = FULL_RESULTS) -> Path:
    """Write the record at ``record_path`` with its ``published`` block (hardware, ``run_time_s`` and ``ran``, the
    :func:`digests` of the files the run executed, taken before it started) to ``out_dir/<run>.json``
    (atomically)."""
    record = read_run_record(record_path)
    if record.get("parameters", {}).get("profile") != "full":
        raise ValueError(f"{record_path} is a {record.get('parameters', {}).get('profile')!r} run: only full-profile "
                         "runs are published")
    record["published"] = {
        "run": run,
        "run_time_s": round(float(run_time_s), 1),
        "hardware": hardware(),
        "files": ran,
    }
    return write_text(out_dir / f"{run}.json", json.dumps(record, indent=2, sort_keys=True))


def changed_files(record: dict[str, Any]) -> list[str]:
    """The files a published record ran that differ now (edited or removed): the result is stale when any."""
    changed = []
    for name, digest in record.get("published", {}).get("files", {}).items():
        path = REPO_ROOT / name
        if not path.is_file() or file_digest(path) != digest:
            changed.append(name)
    return changed


def _score_summary(record: dict[str, Any]) -> pd.DataFrame:
    rows = pd.DataFrame(record.get("scores", []))
    if rows.empty:
        return pd.DataFrame(columns=[*ROW_KEYS, "mean", "std", "n"])
    rows = rows.assign(encoder=rows["encoder"].fillna("–"))
    return rows.groupby(ROW_KEYS, dropna=False)["value"].agg(["mean", "std", "count"]).rename(
        columns={"count": "n"}).reset_index()


def _quick_record(results_dir: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """The current build's quick run of the same chapter on the same dataset, if any."""
    dataset = record.get("parameters", {}).get("dataset")
    for path in sorted(results_dir.rglob("record.json")) if results_dir.is_dir() else []:
        try:
            quick = read_run_record(path)
        except ValueError:
            continue
        if quick["name"] == record["name"] and quick.get("parameters", {}).get("dataset") == dataset:
            return quick
    return None


def _value(mean: float, std: float, n: int) -> str:
    if pd.isna(mean):
        return MISSING
    return f"{mean:.3f} ± {std:.3f} ({n} seeds)" if n > 1 and not pd.isna(std) else f"{mean:.3f}"


def comparison_table(full: dict[str, Any], quick: dict[str, Any] | None) -> pd.DataFrame:
    """One row per score row key of ``full``: its full-profile value and the quick run's (``–`` when the quick run
    has no such row)."""
    table = _score_summary(full)
    quick_table = _score_summary(quick) if quick else pd.DataFrame(columns=[*ROW_KEYS, "mean", "std", "n"])
    merged = table.merge(quick_table, on=ROW_KEYS, how="left", suffixes=("", "_quick"))
    shown = merged[ROW_KEYS].copy().fillna(MISSING)
    shown["label_fraction"] = merged["label_fraction"].map(lambda f: f"{f:.0%}")
    shown["full"] = [_value(m, s, n) for m, s, n in zip(merged["mean"], merged["std"], merged["n"])]
    shown["quick (this build)"] = [_value(m, s, n) if not pd.isna(n) else MISSING
                                   for m, s, n in zip(merged["mean_quick"], merged["std_quick"], merged["n_quick"])]
    return shown


def full_results_page(results_dir: str | Path, data_root: str | Path | None = None,
                      published_dir: Path = FULL_RESULTS) -> str:
    """The ``full_results.md`` page: each published full-profile run with its state, hardware and run time, and
    its scores beside the quick run of the current build (under ``results_dir``)."""
    results_dir = Path(results_dir)
    published = sorted(published_dir.glob("*.json")) if published_dir.is_dir() else []
    lines = ["# Full-profile results", "",
             "Every chapter runs its `quick` profile when the book is built, within minutes on a 2-core CPU; its prose "
             "defers conclusions to the `full` profile (all pixels, more seeds, longer training). The runs below were "
             "made with `make book PROFILE=full` (`python -m sitsbench.book --profile full [--only CHAPTER]`), which "
             "publishes each chapter's run record into the repository's `results/full/` folder; this page compares "
             "them, row by row, with the quick runs of this build. A run is marked **stale** when a file its code ran "
             "(the notebook or a sitsbench module it imports) has changed since it was published: its numbers may no "
             "longer be what the code computes.", ""]
    if not published:
        lines += ["No full-profile run is published yet.", ""]
        return "\n".join(lines)
    summary = []
    for path in published:
        record = read_run_record(path)
        info = record.get("published", {})
        changed = changed_files(record)
        dataset = data_argument(record.get("parameters", {}).get("dataset"), data_root)
        summary.append({"run": info.get("run", path.stem), "dataset": dataset,
                        "date": str(record.get("created", ""))[:10], "revision": str(record.get("git_sha", ""))[:10],
                        "hardware": describe_hardware(info.get("hardware", {})),
                        "run time": f"{info.get('run_time_s', float('nan')) / 60:.1f} min",
                        "state": f"stale ({len(changed)} files changed since)" if changed else "current"})
    lines += ["## Published runs", "", *markdown_table(pd.DataFrame(summary).set_index("run"), "not recorded."), ""]
    for path in published:
        record = read_run_record(path)
        run = record.get("published", {}).get("run", path.stem)
        changed = changed_files(record)
        lines += [f"## {run}", ""]
        if changed:
            lines += [":::{admonition} Stale", ":class: warning",
                      "These files changed since this run was published: " + ", ".join(f"`{name}`" for name in changed)
                      + ". Run the chapter again with the full profile to refresh it.", ":::", ""]
        table = comparison_table(record, _quick_record(results_dir, record))
        lines += [*(markdown_table(table.set_index("dataset"), "not in this build's quick run.") if not table.empty
                    else ["This run recorded no score rows."]), ""]
    return "\n".join(lines)
