"""What every sitsbench auto-encoder shares: an ``encoder`` usable alone, masked inputs, date encodings.

An auto-encoder is an :class:`SITSAutoEncoder` with two sub-modules:

* ``encoder(x, doy, mask)`` -> latent code, ``(B, num_features)`` for a pixel series and ``(B, num_features, H, W)``
  for a patch: the same call as :meth:`sitsbench.models.base.SITSClassifier.forward_features`, so a trained
  encoder is evaluated downstream as a classifier's feature extractor
  (:class:`sitsbench.autoencoders.classifiers.EncoderClassifier`) or frozen under a linear probe;
* a decoder, used by ``forward(x, doy, mask)`` to return the reconstruction of ``x`` at *every* date of the
  series, the dates whose ``mask`` is False included: this is how the models fill cloud gaps.

``mask`` is True for a clear observation and may be given per date (``(B, T)``, ``(B, T, H, W)``) or per entry
(``(B, T, C)``, ``(B, T, C, H, W)``), which lets training hide single bands (spectral masking). Values under a
False mask are never read (clouds, NaN): the networks see ``[x where clear else 0, mask]`` (the mask as extra
input channels, as in the partial-observation encoders of Rußwurm & Körner 2020 and the masked auto-encoders of
He et al. 2022) and the day of year through a sinusoidal encoding (Vaswani et al. 2017; Garnot & Landrieu
2020), so irregular and cloud-thinned series share one time axis.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from sitsbench.models.layers import default_doy, doy_encoding
from sitsbench.training.losses import expand_mask, masked_mse

DOY_PERIOD = 1000.0
"""Period of the day-of-year encoding (as in L-TAE): its slowest component spans about 3 years."""


def observed_inputs(x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``[x where valid else 0, valid]`` concatenated on the band axis (dim 2), and the entry mask."""
    valid = expand_mask(mask, x)
    values = torch.where(valid, x, torch.zeros_like(x))
    return torch.cat([values, valid.to(x.dtype)], dim=2), valid


def date_features(x: torch.Tensor, doy: torch.Tensor | None, dim: int) -> torch.Tensor:
    """``(B, T, dim)`` sinusoidal encoding of the day of year of each date of ``x``."""
    return doy_encoding(default_doy(x, doy), dim, DOY_PERIOD)


def masked_mean(features: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 (time) of ``features`` ``(B, T, ...)`` over the ``visible`` ``(B, T, ...)`` dates.

    A series with no visible date gets the mean over all dates, so the code is always defined.
    """
    visible = visible | ~visible.any(dim=1, keepdim=True)
    weights = visible.to(features.dtype).unsqueeze(2)
    return (features * weights).sum(dim=1) / weights.sum(dim=1)


class SITSAutoEncoder(nn.Module):
    """Base class: subclasses set ``self.encoder``, ``self.num_features`` (the width of the code, the name every
    model uses for its feature width) and define :meth:`forward`.

    ``input_kind`` names the data the model reads (``"series"``, ``"patch"``, ``"multisensor"``), as for
    classifiers; the registry records the role (``"autoencoder"``) that tells them apart.
    """

    input_kind = "series"
    encoder: nn.Module
    num_features: int

    def encode(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        """The latent code of ``x`` (the encoder's output)."""
        return self.encoder(x, doy, mask)

    def forward(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reconstruction of ``x`` at all of its dates (same shape as ``x``)."""
        raise NotImplementedError

    def reconstruction_loss(self, batch: dict[str, torch.Tensor], hide: Callable) -> torch.Tensor:
        """Masked MSE on every clear entry of ``batch["x"]`` when the entries chosen by ``hide(clear)`` (an
        entry-level mask, True = withheld) are removed from the input, as in denoising (Vincent et al. 2008)
        and masked (He et al. 2022) auto-encoders."""
        clear = expand_mask(batch.get("mask"), batch["x"])
        prediction = self(batch["x"], batch.get("doy"), clear & ~hide(clear))
        return masked_mse(prediction, batch["x"], clear)
