"""The interface shared by every sitsbench network: features, then a classification head.

Following timm, a model splits into ``forward_features`` (the encoder, the part self-supervised methods
pre-train) and ``forward_head`` (a linear classifier, replaced by :meth:`SITSClassifier.reset_classifier`
for linear probing or fine-tuning). Inputs:

* series ``x`` ``(B, T, C)``, pixel sets ``(B, T, C, S)``, patches ``(B, T, C, H, W)``;
* ``doy`` ``(B, T)`` day of year of each date (integer), ``None`` = dates ``0, 1, ..., T-1``;
* ``mask`` ``(B, T)`` (``(B, T, H, W)`` for patches), True = clear observation, ``None`` = all clear.

Features are ``(B, num_features)`` for series and pixel sets and ``(B, num_features, H, W)`` for patches,
whose head is a 1x1 convolution giving per-pixel logits.
"""

from __future__ import annotations

import torch
from torch import nn


class SITSClassifier(nn.Module):
    """Base class: subclasses build their encoder, then call :meth:`init_head`, and define ``forward_features``."""

    input_kind = "series"

    def init_head(self, num_features: int, num_classes: int) -> None:
        """Create the head (``num_classes=0``: no head, the model returns its features)."""
        self.num_features = num_features
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int, hidden: int = 0) -> None:
        """Replace the head by a fresh one with ``num_classes`` outputs (identity when 0): linear, or with
        ``hidden`` > 0 an MLP ``Linear -> ReLU -> Linear`` (series and pixel-set models; the ``mlp`` probe of a
        pretrained encoder)."""
        self.num_classes = num_classes
        if num_classes <= 0:
            self.head = nn.Identity()
        elif self.input_kind == "patch":
            if hidden:
                raise ValueError("patch models have a 1x1 convolution head; an MLP head is for series models")
            self.head = nn.Conv2d(self.num_features, num_classes, kernel_size=1)
        elif hidden:
            self.head = nn.Sequential(nn.Linear(self.num_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
        else:
            self.head = nn.Linear(self.num_features, num_classes)
        model_kwargs = getattr(self, "model_kwargs", None)
        if model_kwargs is not None:
            model_kwargs["num_classes"] = num_classes

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, doy=doy, mask=mask))
