"""VICReg (Bardes et al. 2022): variance-invariance-covariance regularisation."""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.ssl.heads import ProjectionHead
from sitsbench.ssl.losses import vicreg_loss
from sitsbench.ssl.methods.base import Method, encode_view


class VICReg(Method):
    """The two views' expansions are pulled together (invariance) while each dimension keeps a std of at least 1
    over the batch (variance) and the dimensions are decorrelated (covariance): no negatives, no momentum encoder.
    In a distributed run the variance and covariance are those of the global batch (:func:`~sitsbench.ssl.losses.
    vicreg_loss` gathers the embeddings of every rank, as the authors' code does).

    The coefficients are the paper's (25, 25, 1); its expander is three layers of 8192, here ``hidden_dim`` =
    ``out_dim`` = 256 for a CPU. The recipe follows the paper's schedule (warm-up then cosine decay, weight decay
    1e-6) with AdamW instead of LARS, which is meant for batches of thousands.
    """

    recipe = dict(lr=1e-3, schedule="warmup_cosine", warmup=0.1, min_lr=0.0, weight_decay=1e-6, weight_decay_end=None)

    def __init__(self, encoder: nn.Module, hidden_dim: int = 256, out_dim: int = 256, sim_coeff: float = 25.0,
                 std_coeff: float = 25.0, cov_coeff: float = 1.0):
        super().__init__()
        self.encoder = encoder
        self.expander = ProjectionHead(encoder.num_features, hidden_dim, out_dim, layers=3)
        self.coefficients = dict(sim_coeff=sim_coeff, std_coeff=std_coeff, cov_coeff=cov_coeff)

    def loss(self, views: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_views(views)
        z1, z2 = (self.expander(encode_view(self.encoder, view)) for view in views[:2])
        return vicreg_loss(z1, z2, **self.coefficients), z1.detach()
