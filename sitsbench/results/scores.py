"""Classification scores found in a run record's ``metrics``: the long table behind plots and the leaderboard.

Chapters store their metrics in the shape that suits them, so scores are found by names, not by position:

* a **score** is a number under a key ``oa`` / ``overall_accuracy`` / ``accuracy`` (reported as ``oa``),
  ``macro_f1`` or ``kappa``, or under a key that ends with ``_<score>`` (``rf_overall_accuracy``: method ``rf``);
  a mapping under such a suffixed key holds the score per method or per label fraction
  (``linear_probe_macro_f1: {simclr: {"0.1": 0.71}}``);
* the **method** is the path of keys leading to the score (``TempCNN``; ``linear_probe / simclr``), plus, for rows
  of a list (``probes: [{features: raw, probe: linear, fraction: 0.1, oa: ...}]``), the row's text fields;
* the **label fraction** is a key that reads as a number in (0, 1], a ``fraction`` / ``label_fraction`` field of
  the row, else the run's ``label_fraction`` parameter, else 1 (all labels);
* the **training time** is a ``train_time_s`` field next to the score, when there is one;
* the **seed** is a ``seed`` field of the row (a chapter that repeats a protocol over seeds inside one run),
  else ``None`` (the run's seed applies).
"""

from __future__ import annotations

import math
from typing import Any

SCORE_NAMES = {"oa": "oa", "overall_accuracy": "oa", "accuracy": "oa", "macro_f1": "macro_f1", "kappa": "kappa"}
"""Keys recognised as scores, and the name each is reported under."""
FRACTION_FIELDS = ("fraction", "label_fraction")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_fraction(key: Any) -> float | None:
    """``key`` as a label fraction when it reads as a number in (0, 1], else ``None``."""
    try:
        value = float(key)
    except (TypeError, ValueError):
        return None
    return value if 0.0 < value <= 1.0 and math.isfinite(value) else None


def score_suffix(key: str) -> tuple[str, str] | None:
    """``("rf", "oa")`` for ``"rf_overall_accuracy"``; ``None`` when the key does not end with a score name."""
    for name in sorted(SCORE_NAMES, key=len, reverse=True):  # "overall_accuracy" before "accuracy"
        if key.endswith(f"_{name}") and len(key) > len(name) + 1:
            return key[: -len(name) - 1], SCORE_NAMES[name]
    return None


def record_scores(metrics: dict[str, Any], default_fraction: float = 1.0) -> list[dict[str, Any]]:
    """Rows ``{method, label_fraction, metric, value, train_time_s, seed}`` for every score in ``metrics``."""
    rows: list[dict[str, Any]] = []

    def emit(labels, fraction, metric, value, seed, train_time=None):
        rows.append({"method": " / ".join(labels) or "(run)", "label_fraction": fraction, "metric": metric,
                     "value": float(value), "train_time_s": float(train_time) if _is_number(train_time) else None,
                     "seed": seed})

    def walk(node: Any, labels: list[str], fraction: float, metric: str | None, seed: int | None = None) -> None:
        if isinstance(node, list):
            for item in node:
                if isinstance(item, dict):
                    text = [str(v) for k, v in item.items() if isinstance(v, str) and k not in FRACTION_FIELDS]
                    walk(item, labels + text, fraction, metric, seed)
            return
        if not isinstance(node, dict):
            return
        for key in FRACTION_FIELDS:
            if as_fraction(node.get(key)) is not None:
                fraction = as_fraction(node[key])
        if isinstance(node.get("seed"), int) and not isinstance(node["seed"], bool):
            seed = node["seed"]
        if metric is None:
            for key, value in node.items():
                if key in SCORE_NAMES and _is_number(value):
                    emit(labels, fraction, SCORE_NAMES[key], value, seed, node.get("train_time_s"))
        for key, value in node.items():
            key = str(key)
            if key in SCORE_NAMES or key in FRACTION_FIELDS or key == "seed":
                continue
            child_labels, child_fraction, child_metric = labels, fraction, metric
            if as_fraction(key) is not None:
                child_fraction = as_fraction(key)
            elif metric is None and score_suffix(key):
                prefix, child_metric = score_suffix(key)
                child_labels = labels + [prefix]
            else:
                child_labels = labels + [key]
            if _is_number(value) and child_metric is not None:
                emit(child_labels, child_fraction, child_metric, value, seed)
            else:
                walk(value, child_labels, child_fraction, child_metric, seed)

    walk(metrics, [], default_fraction, None)
    return rows
