"""SimCLR (Chen et al. 2020) and DINO (Caron et al. 2021) around any sitsbench encoder.

The encoder is any registered model built with ``num_classes=0``: views are encoded with
``encoder.forward_features(x, doy, mask)``. Each method's :meth:`loss` takes the list of batched views
(dicts ``x``, ``doy``, ``mask``) and returns the loss and the head outputs of the first view (the embeddings
whose collapse is monitored).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from sitsbench.distributed import all_mean
from sitsbench.ssl.heads import DINOHead, ProjectionHead
from sitsbench.ssl.losses import dino_loss, nt_xent


def encode_view(encoder: nn.Module, view: dict[str, torch.Tensor]) -> torch.Tensor:
    return encoder.forward_features(view["x"], doy=view["doy"], mask=view["mask"])


def cosine_momentum(step: int, total_steps: int, base: float = 0.996) -> float:
    """DINO's teacher momentum: from ``base`` at step 0 to 1 at the last step along a cosine."""
    if total_steps <= 1:
        return base
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / (total_steps - 1)) + 1.0) / 2.0


class SimCLR(nn.Module):
    """Contrastive learning: two augmented views of a sample attract, the other samples of the batch repel."""

    def __init__(self, encoder: nn.Module, hidden_dim: int = 128, out_dim: int = 64, temperature: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.projector = ProjectionHead(encoder.num_features, hidden_dim, out_dim)
        self.temperature = temperature

    def loss(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        if len(views) != 2:
            raise ValueError(f"SimCLR needs exactly 2 views per sample, got {len(views)}")
        features = [encode_view(self.encoder, view) for view in views]
        z1, z2 = (self.projector(f) for f in features)
        return nt_xent(z1, z2, self.temperature), z1.detach()

    def forward(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`loss` (the call ``DistributedDataParallel`` wraps)."""
        return self.loss(views)

    def step_end(self, step: int, total_steps: int) -> None:
        """Nothing to update outside the optimiser."""

    def resume(self, step: int, total_steps: int) -> None:
        """No schedule outside the optimiser."""


def teacher_temperature(progress: float, final: float, start: float | None, warmup: float) -> float:
    """DINO's teacher temperature after ``progress`` (0..1) of the training: linear from ``start`` to ``final``
    over the first ``warmup`` share of the steps, then ``final`` (no warm-up when ``start`` is None)."""
    if start is None or warmup <= 0 or progress >= warmup:
        return final
    return start + (final - start) * progress / warmup


class DINO(nn.Module):
    """Self-distillation without labels: the student matches the centred, sharpened output of a teacher
    whose weights are an exponential moving average of the student's (no negatives).

    The defaults follow the reference implementation (Caron et al. 2021): ``norm_last_layer`` (see
    :class:`DINOHead`), a teacher-temperature warm-up from ``teacher_temp_start`` to ``teacher_temp`` (0.04 to
    0.07, the values its authors give for ViTs) over the first ``teacher_warmup`` share of the steps, and
    ``teacher_mode="train"`` (the teacher's batch normalisation uses the batch statistics, as the reference's
    teacher does; ``"eval"`` uses its running averages, copied from the student). Each choice is measured against
    the earlier settings in ``benchmarks/bench_dino_ablation.py``. ``teacher_entropy`` lists the
    mean entropy (nats) of the centred, sharpened teacher distribution of each training batch: ``ln K`` is a
    uniform teacher (collapse to uniformity), near 0 a one-hot one.
    """

    def __init__(
        self,
        encoder: nn.Module,
        hidden_dim: int = 128,
        bottleneck_dim: int = 32,
        out_dim: int = 256,
        student_temp: float = 0.1,
        teacher_temp: float = 0.07,
        center_momentum: float = 0.9,
        base_momentum: float = 0.996,
        norm_last_layer: bool = True,
        teacher_temp_start: float | None = 0.04,
        teacher_warmup: float = 0.3,
        teacher_mode: str = "train",
    ):
        super().__init__()
        if teacher_mode not in ("eval", "train"):
            raise ValueError(f"teacher_mode must be 'eval' or 'train', got {teacher_mode!r}")
        self.student = encoder
        self.student_head = DINOHead(encoder.num_features, hidden_dim, bottleneck_dim, out_dim,
                                     norm_last_layer=norm_last_layer)
        self.teacher = copy.deepcopy(encoder)
        self.teacher_head = copy.deepcopy(self.student_head)
        for parameter in [*self.teacher.parameters(), *self.teacher_head.parameters()]:
            parameter.requires_grad_(False)
        self.register_buffer("center", torch.zeros(out_dim))
        self.student_temp, self.final_teacher_temp = student_temp, teacher_temp
        self.teacher_temp_start, self.teacher_warmup, self.teacher_mode = teacher_temp_start, teacher_warmup, teacher_mode
        self.teacher_temp = teacher_temperature(0.0, teacher_temp, teacher_temp_start, teacher_warmup)
        self.center_momentum, self.base_momentum = center_momentum, base_momentum
        self.teacher_entropy: list[float] = []

    def train(self, mode: bool = True) -> DINO:
        """With ``teacher_mode="eval"`` the teacher always runs in eval mode (no dropout, running BatchNorm
        statistics): its targets are deterministic given its weights."""
        super().train(mode)
        if self.teacher_mode == "eval":
            self.teacher.eval()
            self.teacher_head.eval()
        return self

    @property
    def encoder(self) -> nn.Module:
        """The teacher encoder: the one DINO keeps for downstream tasks."""
        return self.teacher

    def loss(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        if len(views) < 2:
            raise ValueError(f"DINO needs at least 2 views (global first), got {len(views)}")
        student_out = [self.student_head(encode_view(self.student, view)) for view in views]
        with torch.no_grad():
            teacher_out = [self.teacher_head(encode_view(self.teacher, view)) for view in views[:2]]
        loss = dino_loss(student_out, teacher_out, self.center, self.student_temp, self.teacher_temp)
        embeddings = teacher_out[0] - self.center
        if self.training:
            with torch.no_grad():
                target = torch.softmax((torch.cat(teacher_out) - self.center) / self.teacher_temp, dim=-1)
                entropy = -(target * torch.log(target.clamp_min(1e-12))).sum(-1).mean()
                self.teacher_entropy.append(float(all_mean(entropy)))
            self.update_center(torch.cat(teacher_out))
        return loss, embeddings

    def forward(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`loss` (the call ``DistributedDataParallel`` wraps)."""
        return self.loss(views)

    @torch.no_grad()
    def update_center(self, teacher_out: torch.Tensor) -> None:
        """``center <- m * center + (1 - m) * batch mean`` of the teacher logits (the mean of the global batch in a
        distributed run: every rank keeps the same centre)."""
        batch_mean = all_mean(teacher_out.mean(dim=0))
        self.center.mul_(self.center_momentum).add_(batch_mean, alpha=1 - self.center_momentum)

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """``teacher <- momentum * teacher + (1 - momentum) * student`` (parameters; buffers are copied)."""
        for student, teacher in ((self.student, self.teacher), (self.student_head, self.teacher_head)):
            for p_student, p_teacher in zip(student.parameters(), teacher.parameters(), strict=True):
                p_teacher.mul_(momentum).add_(p_student.detach(), alpha=1 - momentum)
            for b_student, b_teacher in zip(student.buffers(), teacher.buffers(), strict=True):
                b_teacher.copy_(b_student)

    def step_end(self, step: int, total_steps: int) -> None:
        """After each optimiser step: EMA update with the cosine momentum schedule, and the teacher temperature
        of the next step."""
        self.update_teacher(cosine_momentum(step, total_steps, self.base_momentum))
        self.resume(step + 1, total_steps)

    def resume(self, step: int, total_steps: int) -> None:
        """The teacher temperature of ``step`` (a run resumed from a checkpoint; the weights, teacher and centre
        come back with the state dict)."""
        self.teacher_temp = teacher_temperature(step / max(total_steps, 1), self.final_teacher_temp,
                                                self.teacher_temp_start, self.teacher_warmup)
