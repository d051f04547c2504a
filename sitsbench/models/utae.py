"""U-TAE: a U-Net with temporal attention for the semantic segmentation of image time series.

Garnot & Landrieu (2021), "Panoptic Segmentation of Satellite Image Time Series with Convolutional Temporal
Attention Networks", ICCV. Faithful to the ``UTAE`` class of the authors' repository, utae-paps
(``src/backbones/utae.py`` and ``src/backbones/ltae.py``, commit 987874e), in its semantic-segmentation form with
the ``att_group`` aggregation; ``utae`` is the configuration of its ``train_semantic.py``. The network

1. encodes every date separately with a shared convolutional encoder: two 3x3 convolutions at full resolution,
   then per level a 4x4 stride-2 convolution followed by two 3x3 convolutions, the second one added back to its
   input (a residual); GroupNorm (4 groups) and ReLU after every convolution, reflect padding;
2. runs L-TAE (:class:`sitsbench.models.ltae.LTAE2d`) on every pixel of the lowest-resolution maps: each head
   yields attention weights over the dates, i.e. ``num_heads`` *attention masks* of shape ``(T, h, w)``;
3. upsamples these masks bilinearly to every skip resolution and uses them to collapse the time axis of the skip
   features, channel group by channel group (:func:`aggregate`);
4. decodes with a U-Net expanding path: per level a 4x4 stride-2 transposed convolution (BatchNorm, ReLU), a 1x1
   convolution of the skip features (BatchNorm, ReLU), their concatenation, and two 3x3 convolutions with a
   residual as in the encoder but with BatchNorm;
5. ends with 3x3 convolutions each followed by BatchNorm and ReLU (the official ``out_conv``), the last of which
   has one channel per class. Here that last layer is the model's ``head`` (so the official logits, BatchNorm and
   ReLU included, are ``head(forward_features(...))``) and the layers before it end ``forward_features``.

**Dates.** ``doy`` carries the position of each date fed to the sinusoidal encoding (period 1000). utae-paps
counts days since a reference date (PASTIS: 2018-09-01), so that dates a year apart get different encodings; the
registry entries declare this (``date_encoding="days"``). The network encodes whatever integer days it is given:
fed days of year instead, it encodes the calendar, as L-TAE does.

**Masks.** The official network reads no cloud mask: it masks *padded* dates, those whose input is entirely the
padding value. Here a date is padded when ``mask`` (True = clear) has no clear pixel in the patch: such a date is
skipped by the convolutional encoder (its feature maps are zeros, as the official fills them), gets no attention
and adds nothing to the skip connections. The zeros of padded dates still enter the statistics of the L-TAE's input
GroupNorm (its statistics run over all the dates), as in the official code: appending padded dates moves the
logits a little there, and nowhere else. A partially cloudy date is used whole, cloudy pixels included (whatever
values the data pipeline filled them with), as the official uses every non-padded date.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from sitsbench.models.base import SITSClassifier
from sitsbench.models.ltae import LTAE2d
from sitsbench.models.registry import register_model

ENCODER_GROUPS = 4
"""Groups of the encoder's GroupNorm layers."""


def _conv_layer(in_channels: int, out_channels: int, norm: str, kernel: int = 3, stride: int = 1,
                padding: int = 1) -> list[nn.Module]:
    """Convolution (reflect padding), normalisation (``"group"``: GroupNorm, ``"batch"``: BatchNorm), ReLU."""
    normalise = (nn.GroupNorm(ENCODER_GROUPS, out_channels) if norm == "group" else nn.BatchNorm2d(out_channels))
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, padding_mode="reflect")
    return [conv, normalise, nn.ReLU()]


class _DownBlock(nn.Module):
    """Halve the resolution (4x4 stride-2 convolution), then ``x + conv2(x)`` with ``x = conv1(...)``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.down = nn.Sequential(*_conv_layer(in_channels, in_channels, "group", kernel=4, stride=2))
        self.conv1 = nn.Sequential(*_conv_layer(in_channels, out_channels, "group"))
        self.conv2 = nn.Sequential(*_conv_layer(out_channels, out_channels, "group"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.down(x))
        return out + self.conv2(out)


class _UpBlock(nn.Module):
    """Double the resolution, concatenate the (1x1-convolved) skip features, then two residual 3x3 convolutions."""

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int):
        super().__init__()
        self.skip_conv = nn.Sequential(nn.Conv2d(skip_channels, skip_channels, 1), nn.BatchNorm2d(skip_channels),
                                       nn.ReLU())
        self.up = nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1),
                                nn.BatchNorm2d(out_channels), nn.ReLU())
        self.conv1 = nn.Sequential(*_conv_layer(out_channels + skip_channels, out_channels, "batch"))
        self.conv2 = nn.Sequential(*_conv_layer(out_channels, out_channels, "batch"))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        out = self.conv1(torch.cat([self.up(x), self.skip_conv(skip)], dim=1))
        return out + self.conv2(out)


def aggregate(features: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Collapse time: ``features`` ``(B, T, D, H, W)`` weighted by ``attention`` ``(B, G, T, h, w)``.

    The attention is resized bilinearly to ``(H, W)``; channel group ``g`` (``D / G`` channels) uses head ``g``'s
    weights.
    """
    batch, n_time, depth, height, width = features.shape
    n_heads = attention.shape[1]
    if attention.shape[-2:] != (height, width):
        flat = attention.flatten(0, 1)
        flat = F.interpolate(flat, size=(height, width), mode="bilinear", align_corners=False)
        attention = flat.view(batch, n_heads, n_time, height, width)
    groups = features.view(batch, n_time, n_heads, depth // n_heads, height, width)
    return torch.einsum("bgtyx,btgcyx->bgcyx", attention, groups).reshape(batch, depth, height, width)


def _per_date(block: nn.Module, images: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """``block`` on the kept images ``(N, C, H, W)`` only; the others (padded dates) get zero features."""
    if keep is None or bool(keep.all()):
        return block(images)
    computed = block(images[keep])
    out = computed.new_zeros(len(images), *computed.shape[1:])
    out[keep] = computed
    return out


class UTAE(SITSClassifier):
    """``(B, T, C, H, W)`` -> ``(B, num_features, H, W)`` features -> per-pixel scores ``(B, K, H, W)``.

    ``encoder_widths`` and ``decoder_widths`` list the channels of each level from the highest resolution to the
    lowest (the last two must be equal); ``out_widths`` are the widths of the 3x3 layers between the decoder and the
    head. ``H`` and ``W`` must be multiples of ``2 ** (levels - 1)`` and at least twice that (reflect padding needs
    2 pixels at the lowest level). See the module docstring for dates and masks.
    """

    input_kind = "patch"

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        encoder_widths: tuple[int, ...] = (64, 64, 64, 128),
        decoder_widths: tuple[int, ...] = (32, 32, 64, 128),
        out_widths: tuple[int, ...] = (32,),
        num_heads: int = 16,
        d_model: int = 256,
        d_k: int = 4,
        dropout: float = 0.2,
    ):
        super().__init__()
        encoder_widths, decoder_widths, out_widths = tuple(encoder_widths), tuple(decoder_widths), tuple(out_widths)
        if len(encoder_widths) != len(decoder_widths) or encoder_widths[-1] != decoder_widths[-1]:
            raise ValueError(f"encoder_widths {encoder_widths} and decoder_widths {decoder_widths} must have the same "
                             "length and the same last width")
        if any(w % num_heads for w in encoder_widths):
            raise ValueError(f"every encoder width in {encoder_widths} must be a multiple of num_heads={num_heads}")
        self.levels = len(encoder_widths)
        self.in_conv = nn.Sequential(*_conv_layer(in_channels, encoder_widths[0], "group"),
                                     *_conv_layer(encoder_widths[0], encoder_widths[0], "group"))
        self.down = nn.ModuleList(_DownBlock(w_in, w_out) for w_in, w_out in zip(encoder_widths, encoder_widths[1:]))
        self.temporal = LTAE2d(encoder_widths[-1], d_model=d_model, num_heads=num_heads, d_k=d_k,
                               out_dim=encoder_widths[-1], dropout=dropout)
        self.up = nn.ModuleList(  # lowest resolution first
            _UpBlock(decoder_widths[level + 1], decoder_widths[level], encoder_widths[level])
            for level in reversed(range(self.levels - 1))
        )
        widths = (decoder_widths[0], *out_widths)
        self.out_conv = nn.Sequential(*(m for w_in, w_out in zip(widths, widths[1:])
                                        for m in _conv_layer(w_in, w_out, "batch")))
        self.init_head(widths[-1], num_classes)

    def reset_classifier(self, num_classes: int, hidden: int = 0) -> None:
        """A fresh head: the last layer of the official ``out_conv``, a 3x3 convolution to ``num_classes``
        channels, BatchNorm and ReLU (identity when ``num_classes`` is 0)."""
        super().reset_classifier(num_classes, hidden)
        if num_classes > 0:
            self.head = nn.Sequential(*_conv_layer(self.num_features, num_classes, "batch"))

    def encode(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Per-date feature maps at every level, ``(B, T, D_l, H_l, W_l)``; dates where ``keep`` ``(B, T)`` is
        False are not encoded (zero features)."""
        batch, n_time = x.shape[:2]
        rows = None if keep is None else keep.flatten()
        maps = [_per_date(self.in_conv, x.flatten(0, 1), rows)]
        for down in self.down:
            maps.append(_per_date(down, maps[-1], rows))
        return [m.view(batch, n_time, *m.shape[1:]) for m in maps]

    def temporal_attention(
        self, bottom: torch.Tensor, doy: torch.Tensor | None, keep: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """L-TAE on each pixel of ``bottom`` ``(B, T, D, h, w)``: features ``(B, D, h, w)``, masks ``(B, G, T, h, w)``."""
        batch, n_time, depth, height, width = bottom.shape
        pixels = bottom.permute(0, 3, 4, 1, 2).reshape(-1, n_time, depth)
        per_pixel = [None if t is None else t.repeat_interleave(height * width, dim=0) for t in (doy, keep)]
        features, attention = self.temporal(pixels, *per_pixel)
        features = features.view(batch, height, width, -1).permute(0, 3, 1, 2)
        attention = attention.view(batch, height, width, -1, n_time).permute(0, 3, 4, 1, 2)
        return features, attention

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        factor = 2 ** (self.levels - 1)
        height, width = x.shape[-2:]
        if height % factor or width % factor or min(height, width) < 2 * factor:
            raise ValueError(f"patch size {(height, width)} must be a multiple of {factor} and at least {2 * factor}")
        keep = None if mask is None else mask.flatten(2).any(dim=2)  # dates with a clear pixel: not padding
        maps = self.encode(x, keep)
        out, attention = self.temporal_attention(maps[-1], doy, keep)
        if keep is not None:
            attention = attention * keep[:, None, :, None, None]
        for level, up in zip(reversed(range(self.levels - 1)), self.up):
            out = up(out, aggregate(maps[level], attention))
        return self.out_conv(out)


OFFICIAL_NAMES = [
    (r"^in_conv\.conv\.conv\.", "in_conv."),
    (r"^down_blocks\.(\d+)\.(down|conv1|conv2)\.conv\.", r"down.\1.\2."),
    (r"^up_blocks\.(\d+)\.(conv1|conv2)\.conv\.", r"up.\1.\2."),
    (r"^up_blocks\.", "up."),
    (r"^temporal_encoder\.inconv\.", "temporal.in_proj."),
    (r"^temporal_encoder\.attention_heads\.Q$", "temporal.query"),
    (r"^temporal_encoder\.attention_heads\.fc1_k\.", "temporal.keys."),
    (r"^temporal_encoder\.", "temporal."),
]
"""utae-paps' parameter names (pattern) -> ours (replacement), the first pattern that matches; the official
``out_conv`` layers are renamed by :func:`from_official_state_dict`."""


def from_official_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of utae-paps' ``UTAE`` (semantic, ``att_group``) under this module's names, tensor for
    tensor, e.g. to load the authors' trained PASTIS weights: ``model.load_state_dict(from_official_state_dict(
    torch.load(...)["state_dict"]))``. The last layer of the official ``out_conv`` becomes the ``head``."""
    out_layer = re.compile(r"^out_conv\.conv\.conv\.(\d+)\.(.+)$")
    last = max(int(m.group(1)) // 3 for m in map(out_layer.match, state) if m)
    renamed = {}
    for key, value in state.items():
        out = out_layer.match(key)
        if out:
            layer, position = divmod(int(out.group(1)), 3)
            name = f"head.{position}.{out.group(2)}" if layer == last else f"out_conv.{out.group(1)}.{out.group(2)}"
        else:
            rule = next(((p, r) for p, r in OFFICIAL_NAMES if re.search(p, key)), (r"^", ""))  # unknown: kept
            name = re.sub(*rule, key)
        renamed[name] = value
    return renamed


@register_model("utae", input_kind="patch", date_encoding="days")
def utae(in_channels: int, num_classes: int, **kwargs) -> UTAE:
    """The configuration of utae-paps' ``train_semantic.py`` (Garnot & Landrieu 2021): encoder widths 64-64-64-128,
    decoder widths 32-32-64-128, a 32-wide 3x3 layer before the head, L-TAE with 16 heads, d_model 256, keys of
    size 4 (1,087,260 parameters at 10 bands and 20 classes). Patches: multiples of 8, at least 16 pixels wide."""
    return UTAE(in_channels, num_classes, **kwargs)


@register_model("utae_small", input_kind="patch", date_encoding="days")
def utae_small(in_channels: int, num_classes: int, **kwargs) -> UTAE:
    """A small variant of :func:`utae` for quick runs: 3 levels, encoder and decoder 16-32-64, 16 wide before the
    head, L-TAE with 8 heads, d_model 128. Patches: multiples of 4, at least 8 pixels wide."""
    return UTAE(in_channels, num_classes, **{"encoder_widths": (16, 32, 64), "decoder_widths": (16, 32, 64),
                                             "out_widths": (16,), "num_heads": 8, "d_model": 128, **kwargs})


@register_model("utae_tiny", input_kind="patch", date_encoding="days")
def utae_tiny(in_channels: int, num_classes: int, **kwargs) -> UTAE:
    """A tiny variant of :func:`utae` for fast CPU runs: 2 levels, encoder and decoder 8-16, the head right after
    the decoder, L-TAE with 4 heads, d_model 16. Patches: even, at least 4 pixels wide."""
    return UTAE(in_channels, num_classes, **{"encoder_widths": (8, 16), "decoder_widths": (8, 16),
                                             "out_widths": (), "num_heads": 4, "d_model": 16, **kwargs})
