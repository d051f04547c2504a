"""BYOL (Grill et al. 2020): an online network predicts the projection of a momentum target network."""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.ssl.heads import ProjectionHead
from sitsbench.ssl.losses import negative_cosine
from sitsbench.ssl.methods.base import Method, cosine_momentum, ema_update, encode_view, frozen_copy


class BYOL(Method):
    """Bootstrap Your Own Latent: the online encoder, projector and predictor regress the target network's projection
    of the other view (negative cosine, symmetrised over the two views); the target is an exponential moving average
    of the online encoder and projector, with the momentum rising from ``base_momentum`` to 1 along a cosine. No
    negatives: the predictor and the slowly moving target keep it from collapsing. The online encoder is kept.

    The paper's heads are ``Linear(4096) -> BN -> ReLU -> Linear(256)`` for the projector and the predictor and its
    base momentum 0.996 (1000 epochs); here ``hidden_dim=128``, ``out_dim=64`` and ``base_momentum=0.99`` for runs of
    a few hundred steps on a CPU. The recipe follows the paper's schedule (warm-up then cosine decay, weight decay
    1.5e-6) with AdamW instead of LARS, which is meant for batches of thousands.
    """

    recipe = dict(lr=1e-3, schedule="warmup_cosine", warmup=0.1, min_lr=0.0, weight_decay=1.5e-6,
                  weight_decay_end=None)

    def __init__(self, encoder: nn.Module, hidden_dim: int = 128, out_dim: int = 64, base_momentum: float = 0.99):
        super().__init__()
        self.encoder = encoder
        self.projector = ProjectionHead(encoder.num_features, hidden_dim, out_dim)
        self.predictor = ProjectionHead(out_dim, hidden_dim, out_dim)
        self.target_encoder, self.target_projector = frozen_copy(encoder), frozen_copy(self.projector)
        self.base_momentum = base_momentum

    def loss(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_views(views)
        online = [self.projector(encode_view(self.encoder, view)) for view in views[:2]]
        p1, p2 = (self.predictor(z) for z in online)
        with torch.no_grad():
            t1, t2 = (self.target_projector(encode_view(self.target_encoder, view)) for view in views[:2])
        return 0.5 * (negative_cosine(p1, t2) + negative_cosine(p2, t1)), online[0].detach()

    def step_end(self, step: int, total_steps: int) -> None:
        """The target's EMA update with the cosine momentum schedule."""
        ema_update([(self.encoder, self.target_encoder), (self.projector, self.target_projector)],
                   cosine_momentum(step, total_steps, self.base_momentum))
