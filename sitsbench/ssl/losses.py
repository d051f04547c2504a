"""Self-supervised losses: NT-Xent (SimCLR, Chen et al. 2020) and the DINO cross-entropy (Caron et al. 2021)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sitsbench.distributed import gather, rank


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Normalised temperature-scaled cross-entropy of two batches of projections ``(N, D)``.

    Item ``i`` of ``z1`` and of ``z2`` are two views of the same sample (positives); the other ``2N - 2``
    projections of the batch are its negatives. The loss is averaged over the ``2N`` anchors.

    In a distributed run (:mod:`sitsbench.distributed`) the negatives are the projections of every rank, gathered
    with their gradients as in the reference implementations: each rank scores its own ``2N`` anchors against the
    ``2NW`` projections of the global batch, so the mean of the ranks' losses is the loss of one process holding the
    whole batch.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be (N, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = z1.shape[0]
    anchors = F.normalize(torch.cat([z1, z2]), dim=1)
    z1_all, z2_all = gather(z1), gather(z2)
    total = z1_all.shape[0]
    candidates = F.normalize(torch.cat([z1_all, z2_all]), dim=1) if total != n else anchors
    logits = anchors @ candidates.T / temperature
    own = torch.arange(n, device=z1.device) + rank() * n  # this rank's items in the global batch
    self_index = torch.cat([own, own + total])
    logits = logits.masked_fill(F.one_hot(self_index, 2 * total).bool(), float("-inf"))
    targets = torch.cat([own + total, own])
    return F.cross_entropy(logits, targets)


def dino_loss(
    student_out: list[torch.Tensor],
    teacher_out: list[torch.Tensor],
    center: torch.Tensor,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
) -> torch.Tensor:
    """DINO loss: cross-entropy between the centred, sharpened teacher distribution of each global view
    and the student distribution of every *other* view, averaged over the pairs.

    ``student_out``: logits ``(N, K)`` of all views (global first); ``teacher_out``: logits of the global
    views only; ``center``: ``(K,)`` running mean of the teacher logits.
    """
    if len(teacher_out) > len(student_out):
        raise ValueError(f"teacher has {len(teacher_out)} views but the student only {len(student_out)}")
    targets = [F.softmax((t - center) / teacher_temp, dim=-1).detach() for t in teacher_out]
    log_probs = [F.log_softmax(s / student_temp, dim=-1) for s in student_out]
    total, pairs = 0.0, 0
    for t_index, target in enumerate(targets):
        for s_index, log_prob in enumerate(log_probs):
            if s_index == t_index:
                continue
            total = total + (-(target * log_prob).sum(dim=-1)).mean()
            pairs += 1
    if pairs == 0:
        raise ValueError("DINO needs at least two views")
    return total / pairs
