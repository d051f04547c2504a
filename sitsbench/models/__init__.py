"""Models: a timm-like registry of SITS networks sharing the :class:`~sitsbench.models.base.SITSClassifier` API.

Importing this package registers the built-in models; other modules register theirs with
:func:`register_model`.
"""

from sitsbench.models import ltae, psetae, rnn, tempcnn, transformer, utae  # noqa: F401  (registration)
from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import create_model, list_models, model_entrypoint, reads_doy, register_model

__all__ = ["SITSClassifier", "create_model", "list_models", "model_entrypoint", "reads_doy", "register_model"]

import sitsbench.autoencoders  # noqa: E402,F401  (registers the auto-encoders, which build on the modules above)
import sitsbench.planes  # noqa: E402,F401  (registers the Deep-STaR plane classifiers, input_kind "plane")
