"""Score rows of a run record (:data:`sitsbench.records.SCORE_FIELDS`) from the tidy tables the protocols return.

>>> score_rows(efficiency, "synthetic/hard", ("oa", "macro_f1"), unit="pixel",
...            columns={"method": "method", "label_fraction": "fraction", "seed": "seed"})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from sitsbench.records import SCORE_DEFAULTS, SCORE_FIELDS, SCORE_OPTIONAL, check_scores


def score_rows(table: pd.DataFrame | Iterable[Mapping[str, Any]], dataset: str, metrics: Sequence[str], *,
               columns: Mapping[str, str] | None = None, **fixed: Any) -> list[dict[str, Any]]:
    """One score row per row of ``table`` and metric of ``metrics`` (a column each; a missing or ``None`` value
    is skipped). ``columns`` maps a score field (``method``, ``encoder``, ``unit``, ``label_fraction``, ``seed``,
    or an optional one: ``train_time_s``, ``n_labels``, ``label_unit``) to the column that holds it; ``fixed`` gives a field one value for every row. A field given
    neither way takes its :data:`~sitsbench.records.SCORE_DEFAULTS` value (no encoder, pixels, every label, seed 0).
    """
    columns = dict(columns or {})
    unknown = sorted((set(columns) | set(fixed)) - set(SCORE_FIELDS) - set(SCORE_OPTIONAL))
    if unknown:
        raise ValueError(f"unknown score fields {unknown}; expected some of {SCORE_FIELDS} and {SCORE_OPTIONAL}")
    records = table.to_dict("records") if isinstance(table, pd.DataFrame) else [dict(row) for row in table]
    rows = []
    for record in records:
        missing = sorted(column for column in columns.values() if column not in record)
        if missing:
            raise ValueError(f"the table has no column(s) {missing}; it has {sorted(record)}")
        fields = {**SCORE_DEFAULTS, **fixed, **{field: record[column] for field, column in columns.items()}}
        for field in ("encoder", *SCORE_OPTIONAL):  # optional: a table's missing value (None, NaN) means none
            if fields.get(field) is not None and pd.isna(fields[field]):
                fields[field] = None
        for field in SCORE_OPTIONAL:
            if fields.get(field) is None:
                fields.pop(field, None)
        for metric in metrics:
            value = record.get(metric)
            if value is None:
                continue
            rows.append({"dataset": dataset, **fields, "metric": metric, "value": value})
    return check_scores(rows)
