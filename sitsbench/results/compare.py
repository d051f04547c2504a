"""Two builds' run records compared score by score: what a change to the code did to the published numbers.

A refactor that should not move any number, or a fix that should move some, is checked by running the chapters
before and after it with the same seeds and comparing the two run folders (``sitsbench results compare BEFORE
AFTER``). Records are paired by their path under each folder (``06_downstream/record.json``...); within a pair,
score rows (:data:`sitsbench.records.SCORE_FIELDS`) are paired by every field but the value. A pair of records
whose launch parameters differ is flagged: its differences may come from the parameters, not from the code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sitsbench.records import SCORE_FIELDS, read_run_record
from sitsbench.results.collect import find_records

LOCAL_PARAMETERS = ("output_dir",)
"""Launch parameters that name where a build wrote, not what it computed: left out of the comparison."""
KEY_FIELDS = tuple(field for field in SCORE_FIELDS if field != "value")
"""What identifies a score within a record: every field of its row but the value."""
STATUSES = ("equal", "changed", "only before", "only after")
COLUMNS = ["record", *KEY_FIELDS, "before", "after", "difference", "status"]


@dataclass
class Comparison:
    scores: pd.DataFrame
    """One row per score of either build (:data:`COLUMNS`), ``status`` one of :data:`STATUSES`."""
    records: pd.DataFrame
    """One row per record path: ``present`` (``both``, ``only before``, ``only after``), ``same_parameters``
    and the count of scores of each status."""

    def summary(self) -> list[str]:
        """One line per record, then one per changed or unpaired score."""
        lines = []
        for row in self.records.itertuples(index=False):
            if row.present != "both":
                lines.append(f"{row.record}: {row.present}")
                continue
            counts = ", ".join(f"{getattr(row, s.replace(' ', '_'))} {s}" for s in STATUSES
                               if getattr(row, s.replace(" ", "_")))
            caveat = "" if row.same_parameters else " (the launch parameters differ)"
            lines.append(f"{row.record}: {counts or 'no scores'}{caveat}")
        for row in self.scores[self.scores["status"] != "equal"].itertuples(index=False):
            what = " ".join(str(v) for v in (row.dataset, row.method, row.encoder, row.unit,
                                              f"fraction {row.label_fraction:g}", f"seed {row.seed}", row.metric)
                            if v is not None)
            values = f"{_text(row.before)} -> {_text(row.after)}"
            delta = "" if math.isnan(row.difference) else f" ({row.difference:+.4g})"
            lines.append(f"  {row.record} | {what}: {values}{delta} [{row.status}]")
        return lines


def _text(value: float) -> str:
    return "absent" if value is None or math.isnan(value) else f"{value:.6g}"


def _keyed(record: dict) -> dict[tuple, float]:
    keyed: dict[tuple, float] = {}
    for row in record["scores"]:
        key = tuple(row[field] for field in KEY_FIELDS)
        if key in keyed:
            raise ValueError(f"record {record['name']} holds two scores for {dict(zip(KEY_FIELDS, key))}")
        keyed[key] = row["value"]
    return keyed


def _launch(record: dict) -> dict:
    return {k: v for k, v in record["parameters"].items() if k not in LOCAL_PARAMETERS}


def _status(before: float | None, after: float | None, tolerance: float) -> str:
    if before is None:
        return "only after"
    if after is None:
        return "only before"
    if (math.isnan(before) and math.isnan(after)) or abs(after - before) <= tolerance:
        return "equal"
    return "changed"


def compare_runs(before: str | Path, after: str | Path, tolerance: float = 0.0) -> Comparison:
    """Compare the run records under ``before`` and ``after`` (see the module docstring); two values are equal
    when they differ by at most ``tolerance`` (0: the same float, as same-seed CPU runs give)."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    folders = {"before": Path(before), "after": Path(after)}
    found = {side: {p.relative_to(folder).as_posix(): p for p in find_records(folder)}
             for side, folder in folders.items()}
    scores, records = [], []
    for name in sorted(set(found["before"]) | set(found["after"])):
        if name not in found["after"] or name not in found["before"]:
            records.append({"record": name, "present": "only before" if name in found["before"] else "only after",
                            "same_parameters": False, **dict.fromkeys((s.replace(" ", "_") for s in STATUSES), 0)})
            continue
        old, new = (read_run_record(found[side][name]) for side in ("before", "after"))
        old_scores, new_scores = _keyed(old), _keyed(new)
        counts = dict.fromkeys(STATUSES, 0)
        for key in list(old_scores) + [k for k in new_scores if k not in old_scores]:
            value_before, value_after = old_scores.get(key), new_scores.get(key)
            status = _status(value_before, value_after, tolerance)
            counts[status] += 1
            difference = (value_after - value_before) if status in ("equal", "changed") else float("nan")
            scores.append({"record": name, **dict(zip(KEY_FIELDS, key)),
                           "before": float("nan") if value_before is None else value_before,
                           "after": float("nan") if value_after is None else value_after,
                           "difference": difference, "status": status})
        records.append({"record": name, "present": "both",
                        "same_parameters": _launch(old) == _launch(new),
                        **{s.replace(" ", "_"): n for s, n in counts.items()}})
    return Comparison(pd.DataFrame(scores, columns=COLUMNS), pd.DataFrame(records))
