"""ResNet for time series: three residual blocks of 1D convolutions, then a global average over the dates.

Wang, Yan & Oates (2017), "Time series classification from scratch with deep neural networks: a strong
baseline", IJCNN. The layers follow the Keras code of Ismail Fawaz et al. (2019), "Deep learning for time series
classification: a review", Data Mining and Knowledge Discovery 33 (``hfawaz/dl-4-tsc`` ``classifiers/resnet.py``,
commit e0233ef): each block is ``Conv1d(k=8) -> BN -> ReLU -> Conv1d(k=5) -> BN -> ReLU -> Conv1d(k=3) -> BN``,
added to a shortcut (a 1x1 convolution + BN where the width changes, a BN alone where it does not), then ReLU;
64, 128 and 128 filters, ``same`` padding (the even kernel padded one more on the right, as Keras does). The
global average pooling frees the network from the series length; the features are the pooled ``(B, 128)``.
``sits_resnet`` ships the same network with kernels 7, 5, 3.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import TrainingRecipe, register_model

SITS_RESNET_RECIPE = TrainingRecipe(epochs=100, patience=20, lr=1e-3, batch_size=64, weight_decay=1e-6,
                                    source="sits_resnet defaults (e-sensing/sits R/sits_resnet.R): 100 epochs, batch "
                                           "64, AdamW lr 1e-3, weight decay 1e-6, patience 20")
"""Wang et al. train 1500 epochs with Adam; ``sits`` trains its ResNet as here."""


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, relu: bool) -> list[nn.Module]:
    layers = [nn.Conv1d(in_channels, out_channels, kernel_size, padding="same"), nn.BatchNorm1d(out_channels)]
    return layers + [nn.ReLU()] if relu else layers


class ResidualBlock(nn.Module):
    """Three convolutions (kernels ``kernels``; ReLU after the first two) plus a shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernels: Sequence[int] = (8, 5, 3)):
        super().__init__()
        widths = [in_channels, *[out_channels] * len(kernels)]
        layers: list[nn.Module] = []
        for i, kernel in enumerate(kernels):
            layers += _conv_bn(widths[i], widths[i + 1], kernel, relu=i < len(kernels) - 1)
        self.convs = nn.Sequential(*layers)
        self.shortcut = (nn.BatchNorm1d(out_channels) if in_channels == out_channels
                         else nn.Sequential(*_conv_bn(in_channels, out_channels, 1, relu=False)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.convs(x) + self.shortcut(x))


class ResNet(SITSClassifier):
    """``(B, T, C)`` -> residual blocks of widths ``widths`` -> mean over the dates (``num_features =
    widths[-1]``) -> head. Any number of dates."""

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (64, 128, 128),
                 kernels: Sequence[int] = (8, 5, 3)):
        super().__init__()
        ins = [in_channels, *widths[:-1]]
        self.blocks = nn.Sequential(*[ResidualBlock(i, o, kernels) for i, o in zip(ins, widths)])
        self.init_head(widths[-1], num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.blocks(x.transpose(1, 2)).mean(dim=-1)


@register_model("resnet", input_kind="series", recipe=SITS_RESNET_RECIPE)
def resnet(in_channels: int, num_classes: int, **kwargs) -> ResNet:
    """The reference configuration of Wang et al. (2017) (dl-4-tsc ``resnet.py``): blocks of 64, 128 and 128
    filters, kernels 8, 5, 3: 511,764 trainable parameters at 10 bands and 20 classes, the trainable count of the
    official Keras model (convolutions with biases; Keras also counts the BatchNorm running statistics, 2,560 more,
    which are buffers here)."""
    return ResNet(in_channels, num_classes, **kwargs)


@register_model("resnet_small", input_kind="series", recipe=SITS_RESNET_RECIPE)
def resnet_small(in_channels: int, num_classes: int, **kwargs) -> ResNet:
    """A narrow ResNet for CPU runs: blocks of 32, 64 and 64 filters, kernels 8, 5, 3 (130,964 parameters at 10
    bands and 20 classes)."""
    return ResNet(in_channels, num_classes, **{"widths": (32, 64, 64), **kwargs})
