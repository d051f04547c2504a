"""Projection heads put on top of a pretrained encoder during self-supervised training only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    """SimCLR's MLP ``Linear -> BatchNorm -> ReLU -> Linear`` (Chen et al. 2020): the loss is computed on its
    output, the encoder features below it are the representation kept afterwards."""

    def __init__(self, in_features: int, hidden_dim: int = 128, out_dim: int = 64):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)


class DINOHead(nn.Module):
    """DINO's head (Caron et al. 2021): MLP to a bottleneck, L2 normalisation, then a weight-normalised
    linear layer to ``out_dim`` prototypes whose softmax is the distribution the student and teacher match."""

    def __init__(self, in_features: int, hidden_dim: int = 128, bottleneck_dim: int = 32, out_dim: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, bottleneck_dim),
        )
        self.prototypes = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.prototypes(F.normalize(self.mlp(features), dim=-1))
