"""Registration of the auto-encoders in the model registry (:func:`sitsbench.models.create_model`).

Auto-encoders are trained without labels, so their factories accept the registry's ``num_classes`` argument
only for a uniform call (``create_model(name, in_channels, num_classes)`` works for every registered name) and
ignore it; the number of classes enters later, in the head of an :class:`EncoderClassifier` or in a probe.
Their registry entries have the role ``"autoencoder"``.
"""

from __future__ import annotations

from sitsbench.autoencoders.mae import SpectroTemporalMAE
from sitsbench.autoencoders.multisensor import MultiSensorAutoEncoder
from sitsbench.autoencoders.spatiotemporal import SpatioTemporalAutoEncoder
from sitsbench.autoencoders.temporal import RecurrentAutoEncoder, TemporalConvAutoEncoder
from sitsbench.models.registry import register_model


@register_model("ae_tempconv", input_kind="series", role="autoencoder", date_encoding="doy")
def ae_tempconv(in_channels: int, num_classes: int = 0, **kwargs) -> TemporalConvAutoEncoder:
    """1D-convolutional pixel auto-encoder (:class:`TemporalConvAutoEncoder`)."""
    return TemporalConvAutoEncoder(in_channels, **kwargs)


@register_model("ae_gru", input_kind="series", role="autoencoder", date_encoding="doy")
def ae_gru(in_channels: int, num_classes: int = 0, **kwargs) -> RecurrentAutoEncoder:
    """GRU sequence-to-sequence pixel auto-encoder (:class:`RecurrentAutoEncoder`)."""
    return RecurrentAutoEncoder(in_channels, **kwargs)


@register_model("ae_mae", input_kind="series", role="autoencoder", date_encoding="doy")
def ae_mae(in_channels: int, num_classes: int = 0, **kwargs) -> SpectroTemporalMAE:
    """Spectro-temporal Transformer masked auto-encoder (:class:`SpectroTemporalMAE`)."""
    return SpectroTemporalMAE(in_channels, **kwargs)


@register_model("ae_spatiotemporal", input_kind="patch", role="autoencoder", date_encoding="doy")
def ae_spatiotemporal(in_channels: int, num_classes: int = 0, **kwargs) -> SpatioTemporalAutoEncoder:
    """(2+1)D convolutional patch auto-encoder (:class:`SpatioTemporalAutoEncoder`)."""
    return SpatioTemporalAutoEncoder(in_channels, **kwargs)


@register_model("ae_multisensor", input_kind="multisensor", role="autoencoder", date_encoding="doy")
def ae_multisensor(in_channels: int, num_classes: int = 0, s1_channels: int = 2, **kwargs) -> MultiSensorAutoEncoder:
    """Sentinel-2 + Sentinel-1 pixel auto-encoder (:class:`MultiSensorAutoEncoder`); ``in_channels`` = S2 bands."""
    return MultiSensorAutoEncoder(in_channels, s1_channels, **kwargs)
