"""SITS augmentations: seeded, composable transforms of one sample ``{"x", "doy", "mask"}``.

A sample is a series ``x`` ``(T, C)`` with ``doy`` ``(T,)`` and ``mask`` ``(T,)`` (True = clear), or a patch
``x`` ``(T, C, H, W)`` with ``mask`` ``(T, H, W)``. Every transform is called as ``transform(sample,
generator)`` with a ``torch.Generator`` so that the same seed gives the same views, and returns a new dict
(the input is never modified). Temporal transforms change the dates consistently in ``x``, ``doy`` and
``mask``; the output length is fixed by the transform so that views batch together.

Temporal crops and date re-sampling follow the SITS SSL literature (e.g. Yuan & Lin 2021, SITS-BERT;
Cai et al. 2023, "Masked temporal autoencoders"); multi-crop with global and local views follows DINO
(Caron et al. 2021).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Sample = dict[str, torch.Tensor]


def _check_sample(sample: Sample) -> int:
    """Validate the keys and time axes of ``sample``; return its number of dates."""
    for key in ("x", "doy", "mask"):
        if key not in sample:
            raise KeyError(f"sample lacks {key!r}: expected keys 'x', 'doy', 'mask'")
    n_time = sample["x"].shape[0]
    if sample["doy"].shape != (n_time,):
        raise ValueError(f"doy has shape {tuple(sample['doy'].shape)}, expected ({n_time},) like x's time axis")
    if sample["mask"].shape[0] != n_time:
        raise ValueError(f"mask has {sample['mask'].shape[0]} dates, expected {n_time} like x")
    return n_time


def _take_dates(sample: Sample, index: torch.Tensor) -> Sample:
    return {**sample, "x": sample["x"][index], "doy": sample["doy"][index], "mask": sample["mask"][index]}


def _band_shape(x: torch.Tensor) -> tuple[int, ...]:
    """Shape broadcasting a ``(C,)`` vector over ``x`` ``(T, C, ...)``."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


class TemporalCrop:
    """A random window of ``length`` consecutive dates."""

    def __init__(self, length: int):
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.length = length

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        n_time = _check_sample(sample)
        if self.length > n_time:
            raise ValueError(f"TemporalCrop length {self.length} exceeds the series' {n_time} dates")
        start = int(torch.randint(0, n_time - self.length + 1, (1,), generator=generator))
        return _take_dates(sample, torch.arange(start, start + self.length))


class DateResample:
    """Re-sample the acquisitions: keep ``n_dates`` random dates, in time order (date drop-out)."""

    def __init__(self, n_dates: int):
        if n_dates < 1:
            raise ValueError(f"n_dates must be >= 1, got {n_dates}")
        self.n_dates = n_dates

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        n_time = _check_sample(sample)
        if self.n_dates > n_time:
            raise ValueError(f"DateResample n_dates {self.n_dates} exceeds the series' {n_time} dates")
        keep = torch.randperm(n_time, generator=generator)[: self.n_dates].sort().values
        return _take_dates(sample, keep)


class CloudMask:
    """Simulated clouds: each date is clouded with probability ``p`` (its mask becomes False and its
    values are replaced by a bright, flat ``brightness`` as a cloud would look in standardised bands).
    At least one date stays clear so that masked encoders always see an observation."""

    def __init__(self, p: float = 0.2, brightness: float = 2.0):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p, self.brightness = p, brightness

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        n_time = _check_sample(sample)
        cloudy = torch.rand(n_time, generator=generator) < self.p
        if bool(cloudy.all()):
            cloudy[int(torch.randint(0, n_time, (1,), generator=generator))] = False
        x, mask = sample["x"].clone(), sample["mask"].clone()
        x[cloudy] = self.brightness
        mask[cloudy] = False
        return {**sample, "x": x, "mask": mask}


class HideDates:
    """Dates withheld from the encoder for masked-series modelling (:class:`~sitsbench.ssl.methods.MaskedSeries`):
    each clear date of a series with probability ``ratio``, at least one clear date left visible (a series with a
    single clear date keeps it: nothing to predict). Adds ``hidden`` ``(T,)`` (bool) to the sample and leaves ``x``
    and ``mask`` as they are: the method removes the hidden dates from the encoder's input and scores them. Drawn
    with the item's generator, so a run on N processes hides what one process hides."""

    def __init__(self, ratio: float = 0.5):
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"ratio must be in (0, 1), got {ratio}")
        self.ratio = ratio

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        n_time = _check_sample(sample)
        if sample["x"].ndim != 2:
            raise ValueError(f"HideDates masks the dates of a pixel series (T, C), got x of shape "
                             f"{tuple(sample['x'].shape)}")
        mask = sample["mask"]
        clear = mask if mask.ndim == 1 else mask.any(dim=-1)
        hidden = (torch.rand(n_time, generator=generator) < self.ratio) & clear
        if not bool((clear & ~hidden).any()):
            visible = torch.nonzero(clear).flatten()
            if visible.numel():
                hidden[visible[int(torch.randint(0, visible.numel(), (1,), generator=generator))]] = False
        return {**sample, "hidden": hidden}


class SpectralJitter:
    """Per-band gain ``1 + N(0, scale)`` and offset ``N(0, shift)`` (atmosphere / sensor differences)."""

    def __init__(self, scale: float = 0.1, shift: float = 0.1):
        self.scale, self.shift = scale, shift

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        _check_sample(sample)
        x = sample["x"]
        n_band = x.shape[1]
        gain = 1.0 + self.scale * torch.randn(n_band, generator=generator)
        offset = self.shift * torch.randn(n_band, generator=generator)
        shape = _band_shape(x)
        return {**sample, "x": x * gain.view(shape).to(x) + offset.view(shape).to(x)}


class BandDropout:
    """Zero each band with probability ``p`` (at least one band survives)."""

    def __init__(self, p: float = 0.1):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p = p

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        _check_sample(sample)
        x = sample["x"]
        dropped = torch.rand(x.shape[1], generator=generator) < self.p
        if bool(dropped.all()):
            dropped[int(torch.randint(0, x.shape[1], (1,), generator=generator))] = False
        keep = (~dropped).to(x.dtype).view(_band_shape(x))
        return {**sample, "x": x * keep}


class GaussianNoise:
    """Additive Gaussian noise of standard deviation ``std``."""

    def __init__(self, std: float = 0.05):
        self.std = std

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        _check_sample(sample)
        x = sample["x"]
        return {**sample, "x": x + self.std * torch.randn(x.shape, generator=generator).to(x)}


def _check_patch(sample: Sample) -> None:
    _check_sample(sample)
    if sample["x"].ndim != 4 or sample["mask"].shape != (sample["x"].shape[0], *sample["x"].shape[2:]):
        raise ValueError(
            f"spatial transforms need a patch: x (T, C, H, W) and mask (T, H, W), got x "
            f"{tuple(sample['x'].shape)} and mask {tuple(sample['mask'].shape)}"
        )


class SpatialFlipRotate:
    """Random horizontal flip and rotation by a multiple of 90 degrees of a patch (x and mask alike)."""

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        _check_patch(sample)
        x, mask = sample["x"], sample["mask"]
        if bool(torch.rand(1, generator=generator) < 0.5):
            x, mask = x.flip(-1), mask.flip(-1)
        turns = int(torch.randint(0, 4, (1,), generator=generator))
        return {**sample, "x": torch.rot90(x, turns, (-2, -1)), "mask": torch.rot90(mask, turns, (-2, -1))}


class SpatialCrop:
    """A random ``size`` x ``size`` window of a patch."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        _check_patch(sample)
        height, width = sample["x"].shape[-2:]
        if self.size > min(height, width):
            raise ValueError(f"SpatialCrop size {self.size} exceeds the patch's {height}x{width}")
        top = int(torch.randint(0, height - self.size + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - self.size + 1, (1,), generator=generator))
        window = (..., slice(top, top + self.size), slice(left, left + self.size))
        return {**sample, "x": sample["x"][window], "mask": sample["mask"][window]}


class Compose:
    """Apply ``transforms`` in order with the same generator."""

    def __init__(self, transforms: Sequence):
        self.transforms = list(transforms)

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        for transform in self.transforms:
            sample = transform(sample, generator)
        return sample


class MultiView:
    """``n_global`` views by ``global_transform`` then ``n_local`` by ``local_transform`` (DINO multi-crop;
    SimCLR uses two global views and no local one). Returns the list of views."""

    def __init__(self, global_transform, n_global: int = 2, local_transform=None, n_local: int = 0):
        if n_local and local_transform is None:
            raise ValueError("n_local > 0 needs a local_transform")
        self.global_transform, self.n_global = global_transform, n_global
        self.local_transform, self.n_local = local_transform, n_local

    def __call__(self, sample: Sample, generator: torch.Generator) -> list[Sample]:
        views = [self.global_transform(sample, generator) for _ in range(self.n_global)]
        return views + [self.local_transform(sample, generator) for _ in range(self.n_local)]
