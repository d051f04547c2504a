"""Barlow Twins (Zbontar et al. 2021): redundancy reduction of the cross-correlation of two views."""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.ssl.heads import ProjectionHead
from sitsbench.ssl.losses import barlow_twins_loss
from sitsbench.ssl.methods.base import Method, encode_view


class BarlowTwins(Method):
    """The cross-correlation matrix between the batch-standardised projections of the two views is pushed to the
    identity: each dimension invariant to the augmentations, different dimensions decorrelated. In a distributed run
    the standardisation and the correlation are over the global batch (the authors' code all-reduces the matrix;
    :func:`~sitsbench.ssl.losses.barlow_twins_loss` gathers the projections, which gives the same matrix).

    ``lambd`` is the paper's 5e-3; its projector is three layers of 8192, here ``hidden_dim`` = ``out_dim`` = 256 for
    a CPU. The recipe follows the paper's schedule (warm-up then cosine decay, weight decay 1.5e-6) with AdamW
    instead of LARS, which is meant for batches of thousands.
    """

    recipe = dict(lr=1e-3, schedule="warmup_cosine", warmup=0.1, min_lr=0.0, weight_decay=1.5e-6,
                  weight_decay_end=None)

    def __init__(self, encoder: nn.Module, hidden_dim: int = 256, out_dim: int = 256, lambd: float = 5e-3):
        super().__init__()
        self.encoder = encoder
        self.projector = ProjectionHead(encoder.num_features, hidden_dim, out_dim, layers=3)
        self.lambd = lambd

    def loss(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_views(views)
        z1, z2 = (self.projector(encode_view(self.encoder, view)) for view in views[:2])
        return barlow_twins_loss(z1, z2, self.lambd), z1.detach()
