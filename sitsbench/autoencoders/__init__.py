"""Auto-encoders for satellite image time series (issue 6): models, cloud-aware training, gap filling and the
encoding of series and of cubes larger than memory (the codes are probed by :mod:`sitsbench.evaluation`).

The models (``ae_tempconv``, ``ae_gru``, ``ae_mae``, ``ae_spatiotemporal``, ``ae_multisensor``) are registered
in :mod:`sitsbench.models` with the role ``"autoencoder"`` by :mod:`sitsbench.autoencoders.zoo`.
"""

from sitsbench.autoencoders import zoo  # noqa: F401  (registration)
from sitsbench.autoencoders.base import SITSAutoEncoder
from sitsbench.autoencoders.classifiers import EncoderClassifier
from sitsbench.autoencoders.training import AE_TRAINING, AETrainConfig, fit_autoencoder
from sitsbench.training.losses import masked_mse

__all__ = ["AE_TRAINING", "AETrainConfig", "EncoderClassifier", "SITSAutoEncoder", "fit_autoencoder", "masked_mse"]
