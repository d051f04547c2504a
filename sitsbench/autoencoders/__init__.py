"""Auto-encoders for satellite image time series (issue 6): models, cloud-aware training, gap filling,
streaming encoding of large cubes and probes of the learned codes.

Importing the package registers the models (``ae_tempconv``, ``ae_gru``, ``ae_mae``, ``ae_spatiotemporal``,
``ae_multisensor``) in :mod:`sitsbench.models`.
"""

from sitsbench.autoencoders import zoo  # noqa: F401  (registration)
from sitsbench.autoencoders.base import SITSAutoEncoder
from sitsbench.autoencoders.classifiers import EncoderClassifier
from sitsbench.autoencoders.losses import masked_mse
from sitsbench.autoencoders.training import AETrainConfig, fit_autoencoder

__all__ = ["AETrainConfig", "EncoderClassifier", "SITSAutoEncoder", "fit_autoencoder", "masked_mse"]
