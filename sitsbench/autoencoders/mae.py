"""A spectro-temporal masked auto-encoder (MAE) for pixel series.

He et al. (2022), "Masked Autoencoders Are Scalable Vision Learners", CVPR: hide a large random part of the
input tokens, encode only the visible ones with a Transformer, and let a light decoder reconstruct the hidden
ones from the encoded visible tokens plus a shared learned *mask token* at each hidden position. For SITS the
tokens are the acquisition dates, positioned by their day of year, as in SITS-BERT (Yuan & Lin 2021,
"Self-Supervised Pretraining of Transformers for Satellite Image Time Series Classification", IEEE JSTARS
14:474-487) and SITS-Former (Yuan et al. 2022, "SITS-Former: A pre-trained spatio-spectral-temporal
representation model for Sentinel-2 time series classification", JAG 106:102651), which pre-train by
reconstructing masked observations.

Here the masking is spectro-temporal: the training loop (:func:`sitsbench.autoencoders.training.hide_entries`)
hides whole dates and single bands. A date is a *visible token* when at least one of its bands is clear and
not hidden; its embedding reads ``[values, band mask]``, so partly hidden dates still enter the encoder.
Cloudy dates are simply more hidden dates: the encoder never attends to them (key padding, which is equivalent
to dropping the tokens as MAE does), and the decoder predicts them, which makes the model a gap filler. The
code of a pixel is the mean of its encoded visible tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.autoencoders.base import SITSAutoEncoder, date_features, masked_mean, observed_inputs


def transformer(d_model: int, num_heads: int, num_layers: int, ff_dim: int) -> nn.TransformerEncoder:
    """Pre-norm Transformer encoder (Vaswani et al. 2017) without dropout, batch first."""
    layer = nn.TransformerEncoderLayer(d_model, num_heads, ff_dim, dropout=0.0, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)


class MaskedEncoder(nn.Module):
    """Transformer over the visible dates: ``(B, T, C)`` -> code ``(B, d_model)``."""

    def __init__(self, in_channels: int, d_model: int = 64, num_heads: int = 4, num_layers: int = 2,
                 ff_dim: int = 128):
        super().__init__()
        self.d_model = d_model
        self.embed = nn.Linear(2 * in_channels, d_model)
        self.transformer = transformer(d_model, num_heads, num_layers, ff_dim)
        self.norm = nn.LayerNorm(d_model)
        self.num_features = d_model

    def tokens(self, x: torch.Tensor, doy: torch.Tensor | None, mask: torch.Tensor | None):
        """Encoded tokens ``(B, T, d_model)`` and the visible dates ``(B, T)`` they attended to."""
        inputs, valid = observed_inputs(x, mask)
        visible = valid.any(dim=-1)
        visible = visible | ~visible.any(dim=1, keepdim=True)  # a fully hidden series attends to every date
        tokens = self.embed(inputs) + date_features(x, doy, self.d_model)
        return self.norm(self.transformer(tokens, src_key_padding_mask=~visible)), visible

    def forward(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        tokens, visible = self.tokens(x, doy, mask)
        return masked_mean(tokens, visible)


class MaskedDecoder(nn.Module):
    """Visible tokens + mask tokens at hidden dates, plus date encodings -> light Transformer -> bands."""

    def __init__(self, d_model: int, out_channels: int, d_decoder: int = 32, num_heads: int = 2,
                 num_layers: int = 1, ff_dim: int = 64):
        super().__init__()
        self.d_decoder = d_decoder
        self.project = nn.Linear(d_model, d_decoder)
        self.mask_token = nn.Parameter(torch.zeros(d_decoder))
        self.transformer = transformer(d_decoder, num_heads, num_layers, ff_dim)
        self.out = nn.Linear(d_decoder, out_channels)

    def forward(self, tokens: torch.Tensor, visible: torch.Tensor, like: torch.Tensor, doy: torch.Tensor | None):
        tokens = torch.where(visible[..., None], self.project(tokens), self.mask_token)
        return self.out(self.transformer(tokens + date_features(like, doy, self.d_decoder)))


class SpectroTemporalMAE(SITSAutoEncoder):
    """Masked auto-encoder of pixel series with a ``d_model`` code per pixel."""

    def __init__(self, in_channels: int, d_model: int = 64, num_heads: int = 4, num_layers: int = 2,
                 ff_dim: int = 128, d_decoder: int = 32, decoder_layers: int = 1):
        super().__init__()
        self.num_features = d_model
        self.encoder = MaskedEncoder(in_channels, d_model, num_heads, num_layers, ff_dim)
        self.decoder = MaskedDecoder(d_model, in_channels, d_decoder, max(1, num_heads // 2), decoder_layers,
                                     2 * d_decoder)

    def forward(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        tokens, visible = self.encoder.tokens(x, doy, mask)
        return self.decoder(tokens, visible, x, doy)
