"""InceptionTime: Inception modules of wide 1D convolutions with residual shortcuts, then a global average.

Ismail Fawaz, Lucas, Forestier, Pelletier, Schmidt, Weber, Webb, Idoumghar, Muller & Petitjean (2020),
"InceptionTime: Finding AlexNet for time series classification", Data Mining and Knowledge Discovery 34:1936-1962.
Faithful to the authors' Keras code (``hfawaz/InceptionTime`` ``classifiers/inception.py``, commit 952d115), the
defaults of its ``Classifier_INCEPTION``:

* an Inception module reduces its input to 32 channels with a 1x1 *bottleneck* convolution (skipped on a
  one-channel input), convolves it with 32 filters of each of three lengths ``(kernel_size - 1) // 2**i``
  (``kernel_size=41``: 40, 20, 10; ``same`` padding, the even kernels padded one more on the right as Keras
  does), and in parallel max-pools its input (3 dates, stride 1) into a 1x1 convolution of 32 filters; the four
  outputs are concatenated (128 channels), batch-normalised and go through a ReLU. No convolution has a bias;
* six modules; after every third, a residual shortcut (1x1 convolution + BatchNorm of the block's input) is added
  and the sum goes through a ReLU;
* a global average over the dates gives the ``(B, 128)`` features, then the classifier.

InceptionTime proper is an ensemble of five such networks trained from different initialisations; one entry here
is one network (as in ``tsai``'s ``InceptionTime``): train several seeds and average their probabilities for the
ensemble.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.registry import TrainingRecipe, register_model

INCEPTION_RECIPE = TrainingRecipe(epochs=150, patience=20, lr=1e-3, batch_size=64, weight_decay=0.0,
                                  source="InceptionTime (Ismail Fawaz et al. 2020): Adam lr 1e-3, batch 64; its 1500 "
                                         "epochs cut to the 150 of sits' deep models, patience 20")


class InceptionModule(nn.Module):
    """Bottleneck -> three convolutions of lengths ``kernel_size // 2**i`` beside max-pool -> 1x1 convolution;
    concatenated, BatchNorm, ReLU: ``(B, C, T)`` -> ``(B, 4 filters, T)``."""

    def __init__(self, in_channels: int, filters: int = 32, kernel_size: int = 40, bottleneck: int = 32):
        super().__init__()
        use_bottleneck = bottleneck > 0 and in_channels > 1
        self.bottleneck = nn.Conv1d(in_channels, bottleneck, 1, bias=False) if use_bottleneck else nn.Identity()
        width = bottleneck if use_bottleneck else in_channels
        self.convs = nn.ModuleList(nn.Conv1d(width, filters, kernel_size // 2**i, padding="same", bias=False)
                                   for i in range(3))
        self.pool = nn.MaxPool1d(3, stride=1, padding=1)
        self.pool_conv = nn.Conv1d(in_channels, filters, 1, bias=False)
        self.norm = nn.BatchNorm1d(4 * filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.bottleneck(x)
        branches = [conv(reduced) for conv in self.convs] + [self.pool_conv(self.pool(x))]
        return torch.relu(self.norm(torch.cat(branches, dim=1)))


class InceptionTime(SITSClassifier):
    """``(B, T, C)`` -> ``depth`` Inception modules (a residual shortcut every third) -> mean over the dates
    (``num_features = 4 filters``) -> head. ``kernel_size`` is the official argument: the longest convolution has
    ``kernel_size - 1`` dates. Any number of dates."""

    def __init__(self, in_channels: int, num_classes: int, depth: int = 6, filters: int = 32, kernel_size: int = 41,
                 bottleneck: int = 32, residual: bool = True):
        super().__init__()
        width = 4 * filters
        self.blocks = nn.ModuleList(InceptionModule(in_channels if d == 0 else width, filters, kernel_size - 1,
                                                      bottleneck) for d in range(depth))
        shortcut_ins = [in_channels, *[width] * (depth // 3 - 1)] if residual else []
        self.shortcuts = nn.ModuleList(nn.Sequential(nn.Conv1d(c, width, 1, bias=False), nn.BatchNorm1d(width))
                                       for c in shortcut_ins)
        self.init_head(width, num_classes)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = x.transpose(1, 2)
        residual = x
        for d, module in enumerate(self.blocks):
            x = module(x)
            if self.shortcuts and d % 3 == 2:
                x = torch.relu(x + self.shortcuts[d // 3](residual))
                residual = x
        return x.mean(dim=-1)


@register_model("inceptiontime", input_kind="series", recipe=INCEPTION_RECIPE)
def inceptiontime(in_channels: int, num_classes: int, **kwargs) -> InceptionTime:
    """The official configuration (``Classifier_INCEPTION`` defaults): 6 modules of 4 x 32 filters, kernels 40, 20,
    10, bottleneck 32, residual shortcuts: 493,972 trainable parameters at 10 bands and 20 classes (the trainable
    count of the official Keras network; Keras also counts the BatchNorm running statistics, 2,048 more, which are
    buffers here)."""
    return InceptionTime(in_channels, num_classes, **kwargs)


@register_model("inceptiontime_small", input_kind="series", recipe=INCEPTION_RECIPE)
def inceptiontime_small(in_channels: int, num_classes: int, **kwargs) -> InceptionTime:
    """A small InceptionTime for CPU runs: 3 modules of 4 x 16 filters, kernels 20, 10, 5, bottleneck 16, one
    residual shortcut (33,748 parameters at 10 bands and 20 classes)."""
    return InceptionTime(in_channels, num_classes, **{"depth": 3, "filters": 16, "kernel_size": 21,
                                                      "bottleneck": 16, **kwargs})
