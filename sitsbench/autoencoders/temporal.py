"""Pixel-level temporal auto-encoders: a 1D-convolutional one and a recurrent (GRU) sequence-to-sequence one.

Both read one pixel's series ``(B, T, C)`` with its clear mask and day of year, compress it into one code
``(B, latent_dim)``, and decode the code back into a value for every date, queried by the day of year.
Because the decoder is asked for *dates* rather than copying the input sequence, it can be queried at cloudy
dates: the model is a gap filler.

* :class:`TemporalConvAutoEncoder` uses TempCNN-like ``Conv1d`` blocks (Pelletier et al. 2019, "Temporal
  Convolutional Neural Network for the Classification of Satellite Image Time Series", Remote Sensing 11:523)
  in the encoder, pooled over the clear dates, and in the decoder, which sees the code broadcast to every date
  concatenated with that date's encoding. Convolutional SITS auto-encoders for unsupervised representation
  learning: e.g. Kalinicheva et al. (2020), "Unsupervised Satellite Image Time Series Clustering Using
  Object-Based Approaches and 3D Convolutional Autoencoder", Remote Sensing 12:1816.
* :class:`RecurrentAutoEncoder` is a GRU encoder-decoder (Cho et al. 2014; Sutskever et al. 2014; LSTM
  auto-encoders of Srivastava et al. 2015): the encoder's last hidden state is the code, the decoder GRU starts
  from it and is fed the code and the encoding of each date to reconstruct. A recurrent auto-encoder of
  multivariate (SITS) series: Ienco & Interdonato (2020), "Deep Multivariate Time Series Embedding Clustering
  via Attentive-Gated Autoencoder", PAKDD.
"""

from __future__ import annotations

import torch
from torch import nn

from sitsbench.autoencoders.base import SITSAutoEncoder, date_features, masked_mean, observed_inputs


def conv1d_block(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """``Conv1d`` (same length) + GroupNorm + ReLU on ``(B, C, T)``; GroupNorm keeps batch-size independence."""
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.GroupNorm(min(8, out_channels), out_channels),
        nn.ReLU(),
    )


class TemporalConvEncoder(nn.Module):
    """``(B, T, C)`` -> conv blocks on ``[values, mask, doy encoding]`` -> mean over clear dates -> ``(B, D)``."""

    def __init__(self, in_channels: int, latent_dim: int = 32, width: int = 64, depth: int = 3,
                 kernel_size: int = 5, doy_dim: int = 16):
        super().__init__()
        self.doy_dim = doy_dim
        channels = [2 * in_channels + doy_dim] + [width] * depth
        self.convs = nn.Sequential(*(conv1d_block(a, b, kernel_size) for a, b in zip(channels[:-1], channels[1:])))
        self.project = nn.Linear(width, latent_dim)
        self.num_features = latent_dim

    def forward(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        inputs, valid = observed_inputs(x, mask)
        inputs = torch.cat([inputs, date_features(x, doy, self.doy_dim)], dim=-1)
        features = self.convs(inputs.transpose(1, 2)).transpose(1, 2)
        return self.project(masked_mean(features, valid.any(dim=-1)))


class TemporalConvDecoder(nn.Module):
    """``(B, D)`` code + the dates to reconstruct ``doy`` ``(B, T)`` -> ``(B, T, out_channels)``."""

    def __init__(self, latent_dim: int, out_channels: int, width: int = 64, depth: int = 3,
                 kernel_size: int = 5, doy_dim: int = 16):
        super().__init__()
        self.doy_dim = doy_dim
        channels = [latent_dim + doy_dim] + [width] * depth
        self.convs = nn.Sequential(*(conv1d_block(a, b, kernel_size) for a, b in zip(channels[:-1], channels[1:])))
        self.out = nn.Conv1d(width, out_channels, 1)

    def forward(self, code: torch.Tensor, like: torch.Tensor, doy: torch.Tensor | None) -> torch.Tensor:
        """Decode at the dates of ``like`` ``(B, T, ...)`` (``doy`` None = date indices)."""
        dates = date_features(like, doy, self.doy_dim)
        inputs = torch.cat([code[:, None, :].expand(-1, dates.shape[1], -1), dates], dim=-1)
        return self.out(self.convs(inputs.transpose(1, 2))).transpose(1, 2)


class TemporalConvAutoEncoder(SITSAutoEncoder):
    """1D-convolutional pixel auto-encoder with a ``latent_dim`` code per pixel."""

    def __init__(self, in_channels: int, latent_dim: int = 32, width: int = 64, depth: int = 3,
                 kernel_size: int = 5, doy_dim: int = 16):
        super().__init__()
        self.num_features = latent_dim
        self.encoder = TemporalConvEncoder(in_channels, latent_dim, width, depth, kernel_size, doy_dim)
        self.decoder = TemporalConvDecoder(latent_dim, in_channels, width, depth, kernel_size, doy_dim)

    def forward(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        return self.decoder(self.encoder(x, doy, mask), x, doy)


class RecurrentEncoder(nn.Module):
    """GRU over ``[values, mask, doy encoding]`` of each date; the code is a projection of the last state."""

    def __init__(self, in_channels: int, latent_dim: int = 32, hidden_dim: int = 64, num_layers: int = 1,
                 doy_dim: int = 16):
        super().__init__()
        self.doy_dim = doy_dim
        self.rnn = nn.GRU(2 * in_channels + doy_dim, hidden_dim, num_layers=num_layers, batch_first=True)
        self.project = nn.Linear(hidden_dim, latent_dim)
        self.num_features = latent_dim

    def forward(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        inputs, _ = observed_inputs(x, mask)
        _, hidden = self.rnn(torch.cat([inputs, date_features(x, doy, self.doy_dim)], dim=-1))
        return self.project(hidden[-1])


class RecurrentDecoder(nn.Module):
    """GRU started from the code, reading ``[code, doy encoding]`` of each date to reconstruct."""

    def __init__(self, latent_dim: int, out_channels: int, hidden_dim: int = 64, num_layers: int = 1,
                 doy_dim: int = 16):
        super().__init__()
        self.doy_dim, self.num_layers = doy_dim, num_layers
        self.initial = nn.Linear(latent_dim, hidden_dim * num_layers)
        self.rnn = nn.GRU(latent_dim + doy_dim, hidden_dim, num_layers=num_layers, batch_first=True)
        self.out = nn.Linear(hidden_dim, out_channels)

    def forward(self, code: torch.Tensor, like: torch.Tensor, doy: torch.Tensor | None) -> torch.Tensor:
        dates = date_features(like, doy, self.doy_dim)
        hidden = torch.tanh(self.initial(code)).view(code.shape[0], self.num_layers, -1).transpose(0, 1)
        inputs = torch.cat([code[:, None, :].expand(-1, dates.shape[1], -1), dates], dim=-1)
        outputs, _ = self.rnn(inputs, hidden.contiguous())
        return self.out(outputs)


class RecurrentAutoEncoder(SITSAutoEncoder):
    """GRU sequence-to-sequence pixel auto-encoder with a ``latent_dim`` code per pixel."""

    def __init__(self, in_channels: int, latent_dim: int = 32, hidden_dim: int = 64, num_layers: int = 1,
                 doy_dim: int = 16):
        super().__init__()
        self.num_features = latent_dim
        self.encoder = RecurrentEncoder(in_channels, latent_dim, hidden_dim, num_layers, doy_dim)
        self.decoder = RecurrentDecoder(latent_dim, in_channels, hidden_dim, num_layers, doy_dim)

    def forward(self, x: torch.Tensor, doy: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        return self.decoder(self.encoder(x, doy, mask), x, doy)
