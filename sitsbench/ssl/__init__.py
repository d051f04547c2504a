"""Self-supervised pretraining for SITS: augmentations, SimCLR (Chen et al. 2020), DINO (Caron et al. 2021).

The public API a downstream chapter needs: :func:`pretrain` (returns the pretrained encoder and its
history) and :func:`load_encoder` (rebuilds it from a checkpoint). What a pretrained encoder is worth is measured
by :mod:`sitsbench.evaluation` (probes, k-NN, fine-tuning, parcel probes of plane encoders).
"""

from sitsbench.ssl.augment import (
    BandDropout,
    CloudMask,
    Compose,
    DateResample,
    GaussianNoise,
    MultiView,
    SpatialCrop,
    SpatialFlipRotate,
    SpectralJitter,
    TemporalCrop,
)
from sitsbench.ssl.data import UnlabeledPixelDataset
from sitsbench.ssl.losses import dino_loss, nt_xent
from sitsbench.ssl.methods import DINO, SimCLR, cosine_momentum
from sitsbench.ssl.monitor import collapse_metrics
from sitsbench.ssl.planes import UnlabeledPlaneDataset
from sitsbench.ssl.pretrain import PretrainConfig, load_encoder, pretrain

__all__ = [
    "DINO",
    "BandDropout",
    "CloudMask",
    "Compose",
    "DateResample",
    "GaussianNoise",
    "MultiView",
    "PretrainConfig",
    "SimCLR",
    "SpatialCrop",
    "SpatialFlipRotate",
    "SpectralJitter",
    "TemporalCrop",
    "UnlabeledPixelDataset",
    "UnlabeledPlaneDataset",
    "collapse_metrics",
    "cosine_momentum",
    "dino_loss",
    "load_encoder",
    "nt_xent",
    "pretrain",
]
