"""The one interface every self-supervised method implements, and what several of them share.

A method is an ``nn.Module`` subclass of :class:`Method` around any sitsbench encoder (a registered model built
with ``num_classes=0``; views are encoded with ``encoder.forward_features(x, doy, mask)``):

* ``n_views`` / ``n_local`` — how many global views and local views (temporal crops) of each series it reads, and
  :meth:`Method.view_transforms`, transforms of its own appended to the global views' augmentations;
* :meth:`Method.loss` — the loss of a batch (the list of batched views, dicts ``x``, ``doy``, ``mask``) and the
  embeddings whose collapse the shared objective monitors (embedding std and effective rank, every method);
* :meth:`Method.step_end` — after each optimiser step: momentum (EMA teacher) and temperature schedules;
  :meth:`Method.resume` puts the schedules back at a step of a resumed run;
* :meth:`Method.monitors` — the method's own monitors since the last call (DINO's teacher entropy);
* ``encoder`` — the encoder kept for downstream tasks;
* ``recipe`` — its defaults: the training loop's (``lr``, ``schedule``, ``warmup``, ``min_lr``, ``weight_decay``,
  ``weight_decay_end``) for the training knobs of a :class:`~sitsbench.ssl.pretrain.PretrainConfig` left at ``None``, from its
  paper and scaled for short CPU runs; its own hyper-parameters are the defaults of its constructor.

:meth:`Method.from_config` builds it from a :class:`~sitsbench.ssl.pretrain.PretrainConfig` and the number of
bands: by default ``cls(encoder, **config.method_args)`` (the options checked by :meth:`Method.options`). A new
method is one module (its class, with its loss and heads) and one line of :data:`sitsbench.ssl.methods.METHODS`.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import torch
from torch import nn

from sitsbench.training.engine import cosine_schedule


def encode_view(encoder: nn.Module, view: dict[str, torch.Tensor]) -> torch.Tensor:
    return encoder.forward_features(view["x"], doy=view["doy"], mask=view["mask"])


def cosine_momentum(step: int, total_steps: int, base: float = 0.996) -> float:
    """The EMA momentum of a teacher (BYOL, Grill et al. 2020; DINO, Caron et al. 2021): from ``base`` at step 0 to
    1 at the last step along a cosine (:func:`~sitsbench.training.engine.cosine_schedule`)."""
    return base if total_steps <= 1 else cosine_schedule(base, 1.0, step, total_steps - 1)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose parameters get no gradient (an EMA teacher's starting point)."""
    import copy

    teacher = copy.deepcopy(module)
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(pairs: list[tuple[nn.Module, nn.Module]], momentum: float) -> None:
    """``teacher <- momentum * teacher + (1 - momentum) * student`` for each ``(student, teacher)`` of ``pairs``
    (parameters; buffers such as BatchNorm statistics are copied)."""
    for student, teacher in pairs:
        for p_student, p_teacher in zip(student.parameters(), teacher.parameters(), strict=True):
            p_teacher.mul_(momentum).add_(p_student.detach(), alpha=1 - momentum)
        for b_student, b_teacher in zip(student.buffers(), teacher.buffers(), strict=True):
            b_teacher.copy_(b_student)


class Method(nn.Module):
    """Base class of the pretraining methods (see the module docstring)."""

    recipe: ClassVar[dict[str, Any]] = dict(lr=1e-3, schedule="constant", warmup=0.0, min_lr=0.0,
                                            weight_decay=1e-4, weight_decay_end=None)
    n_views: int = 2
    n_local: int = 0
    encoder: nn.Module
    """The encoder kept after pretraining (a sub-module, or a property naming one: DINO's teacher)."""

    @classmethod
    def from_config(cls, encoder: nn.Module, config, in_channels: int) -> Method:
        """The method around ``encoder`` (reading series of ``in_channels`` bands) with ``config.method_args`` as its
        keyword arguments."""
        return cls(encoder, **cls.options(config.method_args))

    @classmethod
    def options(cls, args: dict[str, Any]) -> dict[str, Any]:
        """``args`` (``PretrainConfig.method_args``) checked against the constructor's options: an unknown one is a
        clear error naming it and the options there are."""
        allowed = [name for name in inspect.signature(cls.__init__).parameters
                   if name not in ("self", "encoder", "in_channels")]
        unknown = sorted(set(args) - set(allowed))
        if unknown:
            raise ValueError(f"method {cls.__name__} has no option {unknown[0]!r} (method_args); its options are "
                             f"{', '.join(allowed)}")
        return dict(args)

    def view_transforms(self) -> list:
        """Transforms appended to the augmentations of the global views (none by default)."""
        return []

    def check_views(self, views: list) -> None:
        """Refuse a batch without the views the method reads."""
        if len(views) < self.n_views:
            raise ValueError(f"{type(self).__name__} needs {self.n_views} global view(s) per sample, got {len(views)}")

    def loss(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of a batch of views and the ``(N, D)`` embeddings whose collapse is monitored."""
        raise NotImplementedError

    def forward(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`loss` (the call ``DistributedDataParallel`` wraps)."""
        return self.loss(views)

    def step_end(self, step: int, total_steps: int) -> None:
        """After each optimiser step (nothing to update outside the optimiser by default)."""

    def resume(self, step: int, total_steps: int) -> None:
        """The schedules at ``step`` of a resumed run (the weights come back with the state dict)."""

    def monitors(self) -> dict[str, float]:
        """The method's own monitors since the last call (then forgotten); none by default."""
        return {}
