"""Models: a timm-like registry of SITS networks sharing the :class:`~sitsbench.models.base.SITSClassifier` API.

Importing this package registers the built-in classifiers; the auto-encoders and the Deep-STaR plane classifiers
are registered by their own packages, which the registry imports when it is first read
(:data:`~sitsbench.models.registry.PROVIDERS`).
"""

from sitsbench.models import (  # noqa: F401  (registration)
    inception,
    ltae,
    mlp,
    psetae,
    resnet,
    rnn,
    tae,
    tempcnn,
    transformer,
    utae,
)
from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import (
           ModelEntry,
           create_model,
           date_encoding,
           length_options,
           list_models,
           model_entry,
           register_model,
)

__all__ = ["ModelEntry", "SITSClassifier", "create_model", "date_encoding", "length_options", "list_models", "model_entry",
           "register_model"]
