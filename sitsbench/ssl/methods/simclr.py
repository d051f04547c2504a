"""SimCLR (Chen et al. 2020): contrastive learning with the other samples of the batch as negatives."""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.ssl.heads import ProjectionHead
from sitsbench.ssl.losses import nt_xent
from sitsbench.ssl.methods.base import Method, encode_view


class SimCLR(Method):
    """Two augmented views of a sample attract, the other samples of the (global) batch repel (NT-Xent on the
    projections). The recipe: a constant rate and a small weight decay."""

    recipe = dict(lr=1e-3, schedule="constant", warmup=0.0, min_lr=0.0, weight_decay=1e-4, weight_decay_end=None)

    def __init__(self, encoder: nn.Module, hidden_dim: int = 128, out_dim: int = 64, temperature: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.projector = ProjectionHead(encoder.num_features, hidden_dim, out_dim)
        self.temperature = temperature

    @classmethod
    def from_config(cls, encoder: nn.Module, config, in_channels: int) -> SimCLR:
        return cls(encoder, **{"out_dim": config.head_dim, "temperature": config.temperature,
                               **cls.options(config.method_args)})

    def loss(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        if len(views) != 2:
            raise ValueError(f"SimCLR needs exactly 2 views per sample, got {len(views)}")
        z1, z2 = (self.projector(encode_view(self.encoder, view)) for view in views)
        return nt_xent(z1, z2, self.temperature), z1.detach()
