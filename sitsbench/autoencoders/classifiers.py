"""A trained auto-encoder's encoder as the feature extractor of a :class:`SITSClassifier`.

The encoder of every :class:`~sitsbench.autoencoders.base.SITSAutoEncoder` has the signature of
``forward_features``, so it drops into the classifier interface: ``freeze=True`` gives a linear probe (only the
head learns), ``freeze=False`` fine-tuning, and the training engine (:func:`sitsbench.training.engine.fit`)
trains either like any other model.
"""

from __future__ import annotations

import torch

from sitsbench.autoencoders.base import SITSAutoEncoder
from sitsbench.models.base import SITSClassifier


class EncoderClassifier(SITSClassifier):
    """``autoencoder.encoder`` + a linear head (a 1x1 convolution for patch encoders)."""

    def __init__(self, autoencoder: SITSAutoEncoder, num_classes: int, freeze: bool = True):
        super().__init__()
        if autoencoder.input_kind not in ("series", "patch"):
            raise ValueError(f"EncoderClassifier wraps series or patch auto-encoders, got {autoencoder.input_kind!r}")
        self.input_kind = autoencoder.input_kind
        self.encoder = autoencoder.encoder
        self.encoder.requires_grad_(not freeze)
        self.frozen = freeze
        self.init_head(autoencoder.num_features, num_classes)

    def train(self, mode: bool = True) -> EncoderClassifier:
        super().train(mode)
        if self.frozen:  # a frozen encoder also keeps its inference behaviour
            self.encoder.eval()
        return self

    def forward_features(self, x: torch.Tensor, doy: torch.Tensor | None = None,
                         mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x, doy, mask)
