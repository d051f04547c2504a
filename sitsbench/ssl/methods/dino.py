"""DINO (Caron et al. 2021): self-distillation without labels."""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.ssl.heads import DINOHead
from sitsbench.ssl.losses import DINOLoss
from sitsbench.ssl.methods.base import Method, cosine_momentum, ema_update, encode_view, frozen_copy


class DINO(Method):
    """The student matches the centred, sharpened output of a teacher whose weights are an exponential moving
    average of the student's (no negatives), on two global views and ``n_local`` local ones (temporal crops).

    The defaults follow the reference implementation (Caron et al. 2021): ``norm_last_layer`` (see
    :class:`~sitsbench.ssl.heads.DINOHead`), a teacher-temperature warm-up from ``teacher_temp_start`` to
    ``teacher_temp`` (0.04 to 0.07, the values its authors give for ViTs) over the first ``teacher_warmup`` share of
    the steps, and ``teacher_mode="train"`` (the teacher's batch normalisation uses the batch statistics, as the
    reference's teacher does; ``"eval"`` uses its running averages, copied from the student). Each choice is measured
    against the earlier settings in ``benchmarks/bench_dino_ablation.py``. The centre, the temperatures and the log of
    the teacher's entropy belong to the loss (:class:`~sitsbench.ssl.losses.DINOLoss`, ``criterion``); the entropy's
    epoch mean is a monitor (``teacher_entropy``). The recipe is the reference's ``main_dino.py``: a linear warm-up
    (10 epochs of 100), a cosine decay to 1e-6, a weight decay rising from 0.04 to 0.4.
    """

    recipe = dict(lr=1e-3, schedule="warmup_cosine", warmup=0.1, min_lr=1e-6, weight_decay=0.04, weight_decay_end=0.4)

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
        n_local: int = 0,
    ):
        super().__init__()
        if teacher_mode not in ("eval", "train"):
            raise ValueError(f"teacher_mode must be 'eval' or 'train', got {teacher_mode!r}")
        self.student = encoder
        self.student_head = DINOHead(encoder.num_features, hidden_dim, bottleneck_dim, out_dim,
                                     norm_last_layer=norm_last_layer)
        self.teacher, self.teacher_head = frozen_copy(encoder), frozen_copy(self.student_head)
        self.criterion = DINOLoss(out_dim, student_temp, teacher_temp, teacher_temp_start, teacher_warmup,
                                  center_momentum)
        self.teacher_mode, self.base_momentum, self.n_local = teacher_mode, base_momentum, n_local

    @classmethod
    def from_config(cls, encoder: nn.Module, config, in_channels: int) -> DINO:
        """DINO with the settings of ``config`` (``out_dim = 4 * head_dim`` prototypes, ``n_local`` local views)."""
        fields = dict(out_dim=4 * config.head_dim, student_temp=config.student_temp, teacher_temp=config.teacher_temp,
                      base_momentum=config.base_momentum, norm_last_layer=config.norm_last_layer,
                      teacher_temp_start=config.teacher_temp_start, teacher_warmup=config.teacher_warmup,
                      teacher_mode=config.teacher_mode, n_local=config.n_local)
        return cls(encoder, **{**fields, **cls.options(config.method_args)})

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
        self.check_views(views)
        student_out = [self.student_head(encode_view(self.student, view)) for view in views]
        with torch.no_grad():
            teacher_out = [self.teacher_head(encode_view(self.teacher, view)) for view in views[:2]]
        embeddings = teacher_out[0] - self.criterion.center
        return self.criterion(student_out, teacher_out), embeddings

    def update_teacher(self, momentum: float) -> None:
        """``teacher <- momentum * teacher + (1 - momentum) * student`` (parameters; buffers are copied)."""
        ema_update([(self.student, self.teacher), (self.student_head, self.teacher_head)], momentum)

    def step_end(self, step: int, total_steps: int) -> None:
        """After each optimiser step: EMA update with the cosine momentum schedule, and the teacher temperature
        of the next step."""
        self.update_teacher(cosine_momentum(step, total_steps, self.base_momentum))
        self.resume(step + 1, total_steps)

    def resume(self, step: int, total_steps: int) -> None:
        """The teacher temperature of ``step`` (a run resumed from a checkpoint; the weights, teacher and centre
        come back with the state dict)."""
        self.criterion.set_progress(step / max(total_steps, 1))

    def monitors(self) -> dict[str, float]:
        """``teacher_entropy``: the mean entropy of the teacher distribution over the batches since the last call."""
        entropy, self.criterion.teacher_entropy = self.criterion.teacher_entropy, []
        return {"teacher_entropy": sum(entropy) / len(entropy)} if entropy else {}
