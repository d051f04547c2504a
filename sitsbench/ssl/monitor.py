"""Collapse monitoring of self-supervised embeddings.

Two numbers (as in SimSiam, Chen & He 2021, and the DINO paper's discussion of collapse):

* ``embedding_std`` — mean over dimensions of the per-dimension std of L2-normalised embeddings. Spread
  embeddings give about ``1 / sqrt(D)``; a collapse to one point gives 0.
* ``mean_cosine`` — mean cosine similarity of distinct pairs: near 0 for spread embeddings, 1 when all
  embeddings point the same way.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F


def collapse_metrics(embeddings: torch.Tensor) -> dict[str, float]:
    """``embedding_std``, its reference ``1/sqrt(D)`` (``uniform_std``) and ``mean_cosine`` of ``(N, D)``."""
    if embeddings.ndim != 2 or embeddings.shape[0] < 2:
        raise ValueError(f"embeddings must be (N, D) with N >= 2, got {tuple(embeddings.shape)}")
    z = F.normalize(embeddings.detach().float(), dim=1)
    n = z.shape[0]
    similarity = z @ z.T
    off_diagonal = (similarity.sum() - similarity.diagonal().sum()) / (n * (n - 1))
    return {
        "embedding_std": float(z.std(dim=0).mean()),
        "uniform_std": 1.0 / math.sqrt(z.shape[1]),
        "mean_cosine": float(off_diagonal),
    }


def warn_if_collapsed(metrics: dict[str, float], std_ratio: float = 0.2, max_cosine: float = 0.9) -> bool:
    """Warn (and return True) when the std falls below ``std_ratio / sqrt(D)`` or cosines exceed ``max_cosine``."""
    collapsed = metrics["embedding_std"] < std_ratio * metrics["uniform_std"] or metrics["mean_cosine"] > max_cosine
    if collapsed:
        warnings.warn(
            f"embeddings look collapsed: std {metrics['embedding_std']:.4f} "
            f"(uniform {metrics['uniform_std']:.4f}), mean cosine {metrics['mean_cosine']:.3f}",
            stacklevel=2,
        )
    return collapsed
