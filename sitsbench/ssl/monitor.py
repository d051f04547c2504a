"""Collapse monitoring of self-supervised embeddings.

Three numbers (the first two as in SimSiam, Chen & He 2021, and the DINO paper's discussion of collapse):

* ``embedding_std`` — mean over dimensions of the per-dimension std of L2-normalised embeddings. Spread
  embeddings give about ``1 / sqrt(D)``; a collapse to one point gives 0.
* ``mean_cosine`` — mean cosine similarity of distinct pairs: near 0 for spread embeddings, 1 when all
  embeddings point the same way.
* ``effective_rank`` — ``exp`` of the entropy of the normalised singular values of the centred embeddings (Roy &
  Vetterli 2007; RankMe, Garrido et al. 2023): up to ``min(N, D)`` for spread embeddings, 1 when they vary along
  one direction only (dimensional collapse, which the std alone does not see).
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F


def collapse_metrics(embeddings: torch.Tensor) -> dict[str, float]:
    """``embedding_std``, its reference ``1/sqrt(D)`` (``uniform_std``), ``mean_cosine`` and ``effective_rank`` of
    ``(N, D)``."""
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
        "effective_rank": effective_rank(embeddings),
    }


def effective_rank(embeddings: torch.Tensor, eps: float = 1e-12) -> float:
    """``exp(-sum p_i ln p_i)`` with ``p = s / sum(s)``, ``s`` the singular values of the centred ``(N, D)``
    embeddings (Roy & Vetterli 2007); 0 for identical embeddings."""
    z = embeddings.detach().double()
    singular = torch.linalg.svdvals(z - z.mean(dim=0))
    if float(singular.sum()) <= eps:
        return 0.0
    p = singular / singular.sum()
    return float(torch.exp(-(p * torch.log(p.clamp_min(eps))).sum()))


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
