"""A pretrained pixel encoder turned into a segmentation network: the encoder applied to every pixel of a patch,
then a small convolutional decoder (the dense analogue of a linear probe; see :mod:`sitsbench.evaluation.segmentation`
for the protocols that train it)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sitsbench.metrics import IGNORE_INDEX
from sitsbench.models.base import SITSClassifier

DECODERS = ("linear", "conv")


class PixelEncoderSegmenter(SITSClassifier):
    """A series encoder applied to every pixel of a patch, then a convolutional decoder and a 1x1 head.

    ``(B, T, C, H, W)`` -> encoder per pixel -> ``(B, D, H, W)`` -> decoder -> ``(B, hidden, H, W)`` (``"conv"``) or
    the embedding map itself (``"linear"``) -> per-pixel logits ``(B, K, H, W)``. With ``freeze=True`` the encoder is
    kept in eval mode (whatever ``train()`` is called with) and run without gradients. ``chunk`` pixels are encoded
    at a time to bound memory.

    Embeddings are standardised per channel with fixed statistics (buffers ``feature_mean``/``feature_std``, set by
    :meth:`fit_feature_scaling` on the training patches), as the linear probe standardises its features: a pretrained
    encoder's channels can differ in scale by orders of magnitude, which a small decoder trained for a few steps
    cannot absorb.
    """

    input_kind = "patch"

    def __init__(
        self,
        encoder: SITSClassifier,
        num_classes: int,
        decoder: str = "conv",
        hidden: int = 32,
        freeze: bool = True,
        chunk: int = 8192,
    ):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        if getattr(encoder, "input_kind", "series") != "series":
            raise ValueError(f"the pixel encoder must read series (B, T, C), got input_kind={encoder.input_kind!r}")
        dim = getattr(encoder, "num_features", None)
        if dim is None:
            raise ValueError(f"{type(encoder).__name__} has no num_features: not a SITSClassifier encoder")
        self.encoder, self.frozen, self.chunk = encoder, freeze, chunk
        self.encoder.requires_grad_(not freeze)
        self.register_buffer("feature_mean", torch.zeros(dim))
        self.register_buffer("feature_std", torch.ones(dim))
        if decoder == "conv":
            self.decoder = nn.Sequential(
                nn.Conv2d(dim, hidden, 3, padding=1), nn.GroupNorm(4, hidden), nn.ReLU(),
                nn.Conv2d(hidden, hidden, 3, padding=1), nn.GroupNorm(4, hidden), nn.ReLU(),
            )
            self.init_head(hidden, num_classes)
        else:
            self.decoder = nn.Identity()
            self.init_head(dim, num_classes)

    def train(self, mode: bool = True) -> PixelEncoderSegmenter:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def pixel_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The encoder's embedding of every pixel: ``(B, D, H, W)``."""
        batch, n_time, n_band, height, width = x.shape
        pixels = x.permute(0, 3, 4, 1, 2).reshape(-1, n_time, n_band)
        pixel_doy = None if doy is None else doy.repeat_interleave(height * width, dim=0)
        pixel_mask = None if mask is None else mask.permute(0, 2, 3, 1).reshape(-1, n_time)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            parts = [
                self.encoder.forward_features(
                    pixels[i : i + self.chunk],
                    doy=None if pixel_doy is None else pixel_doy[i : i + self.chunk],
                    mask=None if pixel_mask is None else pixel_mask[i : i + self.chunk],
                )
                for i in range(0, pixels.shape[0], self.chunk)
            ]
        features = (torch.cat(parts) - self.feature_mean) / self.feature_std
        return features.view(batch, height, width, -1).permute(0, 3, 1, 2)

    @torch.no_grad()
    def fit_feature_scaling(self, dataset: Dataset, batch_size: int = 8) -> None:
        """Set the standardisation buffers to the per-channel mean and std of the embeddings of the labelled pixels
        of ``dataset`` (encoder in eval mode)."""
        self.feature_mean.zero_()
        self.feature_std.fill_(1.0)
        mode, device = self.training, self.feature_mean.device
        self.eval()
        total, total_sq, count = 0.0, 0.0, 0
        for batch in DataLoader(dataset, batch_size=batch_size):
            features = self.pixel_features(*(batch[key].to(device) for key in ("x", "doy", "mask")))
            selected = features.permute(0, 2, 3, 1)[batch["y"].to(device) != IGNORE_INDEX].double()
            total, total_sq, count = total + selected.sum(0), total_sq + (selected**2).sum(0), count + len(selected)
        if count == 0:
            raise ValueError("fit_feature_scaling: the dataset has no labelled pixel")
        mean = total / count
        self.feature_mean.copy_(mean.float())
        self.feature_std.copy_(((total_sq / count - mean**2).clamp_min(0).sqrt() + 1e-6).float())
        self.train(mode)

    def forward_features(
        self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.decoder(self.pixel_features(x, doy, mask))


class DecoderOnly(nn.Module):
    """The decoder and head of a :class:`PixelEncoderSegmenter` (shared, not copied) applied to embedding maps."""

    def __init__(self, model: PixelEncoderSegmenter):
        super().__init__()
        self.decoder, self.head = model.decoder, model.head

    def forward(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        return self.head(self.decoder(x))
