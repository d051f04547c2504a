"""The self-supervised pretraining methods, one module each, on the interface of :class:`~.base.Method`.

:data:`METHODS` is the registry :func:`sitsbench.ssl.pretrain.pretrain` and the ``sitsbench pretrain`` command read:
a new method is its module and one line here (and the name in ``sitsbench.commands.pretrain.METHODS``, spelled out so
that the command line starts without importing torch).
"""

from sitsbench.ssl.methods.barlow import BarlowTwins
from sitsbench.ssl.methods.base import Method, cosine_momentum, ema_update, encode_view
from sitsbench.ssl.methods.byol import BYOL
from sitsbench.ssl.methods.dino import DINO
from sitsbench.ssl.methods.masked import MaskedSeries
from sitsbench.ssl.methods.simclr import SimCLR
from sitsbench.ssl.methods.vicreg import VICReg

METHODS: dict[str, type[Method]] = {
    "simclr": SimCLR,
    "dino": DINO,
    "byol": BYOL,
    "vicreg": VICReg,
    "barlow": BarlowTwins,
    "masked": MaskedSeries,
}
"""Method name -> :class:`~sitsbench.ssl.methods.base.Method` subclass."""

__all__ = ["BYOL", "DINO", "METHODS", "BarlowTwins", "MaskedSeries", "Method", "SimCLR", "VICReg", "cosine_momentum",
           "ema_update", "encode_view"]
