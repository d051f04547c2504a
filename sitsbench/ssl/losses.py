"""Self-supervised losses: NT-Xent (SimCLR, Chen et al. 2020), the DINO cross-entropy and :class:`DINOLoss` with
its centre and teacher-temperature schedule (Caron et al. 2021), BYOL's negative cosine (Grill et al. 2020), VICReg
(Bardes et al. 2022) and Barlow Twins (Zbontar et al. 2021).

Each equals lightly's implementation (``lightly.loss``, 1.6.0) on the same inputs (``tests/test_ssl_methods.py``).
In a distributed run (:mod:`sitsbench.distributed`) the batch statistics of VICReg and Barlow Twins are those of the
global batch (the projections of every rank gathered with their gradients, as the authors' code all-gathers /
all-reduces them), so N processes compute the loss of one process holding the whole batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sitsbench.distributed import all_mean, gather, rank


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


def teacher_temperature(progress: float, final: float, start: float | None, warmup: float) -> float:
    """DINO's teacher temperature after ``progress`` (0..1) of the training: linear from ``start`` to ``final``
    over the first ``warmup`` share of the steps, then ``final`` (no warm-up when ``start`` is None)."""
    if start is None or warmup <= 0 or progress >= warmup:
        return final
    return start + (final - start) * progress / warmup


class DINOLoss(nn.Module):
    """DINO's loss with its state (Caron et al. 2021; lightly's ``DINOLoss`` likewise owns it): the centre of the
    teacher logits (``center``, a running mean with ``center_momentum``, updated after each training batch with the
    mean of the global batch in a distributed run, so every rank keeps the same centre), the student temperature
    and the teacher temperature, warmed up from ``teacher_temp_start`` to ``teacher_temp`` over the first
    ``teacher_warmup`` share of the steps (:meth:`set_progress`).

    ``teacher_entropy`` lists the mean entropy (nats) of the centred, sharpened teacher distribution of each training
    batch: ``ln K`` is a uniform teacher (collapse to uniformity), near 0 a one-hot one."""

    def __init__(self, out_dim: int, student_temp: float = 0.1, teacher_temp: float = 0.07,
                 teacher_temp_start: float | None = 0.04, teacher_warmup: float = 0.3, center_momentum: float = 0.9):
        super().__init__()
        self.register_buffer("center", torch.zeros(out_dim))
        self.student_temp, self.final_teacher_temp = student_temp, teacher_temp
        self.teacher_temp_start, self.teacher_warmup = teacher_temp_start, teacher_warmup
        self.center_momentum = center_momentum
        self.teacher_temp = teacher_temperature(0.0, teacher_temp, teacher_temp_start, teacher_warmup)
        self.teacher_entropy: list[float] = []

    def forward(self, student_out: list[torch.Tensor], teacher_out: list[torch.Tensor]) -> torch.Tensor:
        """:func:`dino_loss` at the current temperatures; in training mode, logs the teacher entropy and updates
        the centre."""
        loss = dino_loss(student_out, teacher_out, self.center, self.student_temp, self.teacher_temp)
        if self.training:
            with torch.no_grad():
                target = torch.softmax((torch.cat(teacher_out) - self.center) / self.teacher_temp, dim=-1)
                entropy = -(target * torch.log(target.clamp_min(1e-12))).sum(-1).mean()
                self.teacher_entropy.append(float(all_mean(entropy)))
            self.update_center(torch.cat(teacher_out))
        return loss

    @torch.no_grad()
    def update_center(self, teacher_out: torch.Tensor) -> None:
        """``center <- m * center + (1 - m) * batch mean`` of the teacher logits (the mean of the global batch in a
        distributed run: every rank keeps the same centre)."""
        batch_mean = all_mean(teacher_out.mean(dim=0))
        self.center.mul_(self.center_momentum).add_(batch_mean, alpha=1 - self.center_momentum)

    def set_progress(self, progress: float) -> None:
        """The teacher temperature after ``progress`` (0..1) of the training."""
        self.teacher_temp = teacher_temperature(progress, self.final_teacher_temp, self.teacher_temp_start,
                                                self.teacher_warmup)


def _check_pair(z1: torch.Tensor, z2: torch.Tensor) -> None:
    if z1.shape != z2.shape or z1.ndim != 2 or z1.shape[0] < 2:
        raise ValueError(f"z1 and z2 must both be (N, D) with N >= 2, got {tuple(z1.shape)} and {tuple(z2.shape)}")


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's regression loss (Grill et al. 2020) up to its constants: the mean negative cosine similarity of the
    predictions ``p`` and the (detached) targets ``z`` (the paper's ``2 - 2 cos`` is an affine function of it)."""
    return -F.cosine_similarity(p, z.detach(), dim=-1, eps=1e-8).mean()


def vicreg_loss(z1: torch.Tensor, z2: torch.Tensor, sim_coeff: float = 25.0, std_coeff: float = 25.0,
                cov_coeff: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """VICReg (Bardes et al. 2022): ``sim_coeff`` x the mean squared distance of the two embeddings (invariance) +
    ``std_coeff`` x the hinge ``relu(1 - std)`` of each dimension's std (variance) + ``cov_coeff`` x the squared
    off-diagonal covariances divided by the dimension (covariance), the last two over the global batch."""
    _check_pair(z1, z2)
    z1, z2 = gather(z1), gather(z2)
    invariance = F.mse_loss(z1, z2)

    def variance(z: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - torch.sqrt(z.var(dim=0) + eps)).mean()

    def covariance(z: torch.Tensor) -> torch.Tensor:
        z = z - z.mean(dim=0)
        cov = z.T @ z / (z.shape[0] - 1)
        return (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / z.shape[1]

    return (sim_coeff * invariance + std_coeff * (variance(z1) + variance(z2)) / 2
            + cov_coeff * (covariance(z1) + covariance(z2)))


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3) -> torch.Tensor:
    """Barlow Twins (Zbontar et al. 2021): the cross-correlation matrix of the two batch-standardised embeddings
    over the global batch pushed to the identity: ``sum (1 - C_ii)^2 + lambd * sum_{i != j} C_ij^2``."""
    _check_pair(z1, z2)
    z1, z2 = gather(z1), gather(z2)

    def standardise(z: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(z, None, None, training=True)

    c = standardise(z1).T @ standardise(z2) / z1.shape[0]
    on_diagonal = (c.diagonal() - 1).pow(2).sum()
    off_diagonal = c.pow(2).sum() - c.diagonal().pow(2).sum()
    return on_diagonal + lambd * off_diagonal
