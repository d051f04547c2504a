"""Self-supervised pretraining for SITS: augmentations and the methods of one interface (:mod:`sitsbench.ssl.methods`):
SimCLR (Chen et al. 2020), DINO (Caron et al. 2021), BYOL (Grill et al. 2020), VICReg (Bardes et al. 2022), Barlow
Twins (Zbontar et al. 2021) and masked-series modelling (after U-BARN, Dumeur et al. 2024).

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
    HideDates,
    MultiView,
    SpatialCrop,
    SpatialFlipRotate,
    SpectralJitter,
    TemporalCrop,
)
from sitsbench.ssl.data import UnlabeledPixelDataset
from sitsbench.ssl.losses import DINOLoss, barlow_twins_loss, dino_loss, negative_cosine, nt_xent, vicreg_loss
from sitsbench.ssl.methods import (
    BYOL,
    DINO,
    METHODS,
    BarlowTwins,
    MaskedSeries,
    Method,
    SimCLR,
    VICReg,
    cosine_momentum,
)
from sitsbench.ssl.monitor import collapse_metrics
from sitsbench.ssl.planes import UnlabeledPlaneDataset
from sitsbench.ssl.pretrain import PRETRAINING, PretrainConfig, load_encoder, pretrain

__all__ = [
    "BYOL",
    "DINO",
    "METHODS",
    "BarlowTwins",
    "DINOLoss",
    "MaskedSeries",
    "Method",
    "VICReg",
    "barlow_twins_loss",
    "negative_cosine",
    "vicreg_loss",
    "BandDropout",
    "CloudMask",
    "Compose",
    "DateResample",
    "GaussianNoise",
    "HideDates",
    "MultiView",
    "PRETRAINING",
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
