"""The knobs of the synthetic generator and its named presets."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sitsbench.data.phenology import DEFAULT_CLASSES, LandCoverClass


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the synthetic generator.

    ``class_frequencies`` overrides the share of parcels per class (same order as ``classes``);
    ``atypical_fraction`` is the share of parcels that behave like another class with the same tags (a field
    declared as wheat but grown like barley: declaration errors, mixed sowings), a realistic confusion;
    ``cloud_cover`` is the mean fraction of cloudy pixels per date; ``change_fraction`` the share of parcels
    that change class during the series; ``block_size`` the rendering unit (dask chunks must be multiples).

    Several phenological profiles per class: each crop parcel sows with one of the ``sowing_modes`` (day
    offsets, e.g. early, usual and late sowing), and a ``double_crop_fraction`` of the crop parcels grows a cover
    or second crop after its harvest. ``region_shift`` delays every season of the parcels of the east half by
    that many days (a cooler region, or another year) and adds the ``region`` layer (0 west, 1 east).
    """

    height: int = 160
    width: int = 160
    n_dates: int = 36
    mean_parcel_area: float = 120.0
    year: int = 2021
    cloud_cover: float = 0.3
    cloud_scale: float = 24.0
    noise: float = 0.012
    atypical_fraction: float = 0.05
    with_s1: bool = True
    n_dates_s1: int | None = None
    change_fraction: float = 0.0
    sowing_modes: tuple[float, ...] = ()
    double_crop_fraction: float = 0.0
    region_shift: float = 0.0
    classes: tuple[LandCoverClass, ...] = DEFAULT_CLASSES
    class_frequencies: tuple[float, ...] | None = None
    block_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r} ({type(self.seed).__name__})")
        if self.height < 8 or self.width < 8:
            raise ValueError(f"height and width must be >= 8 pixels, got {self.height}x{self.width}")
        if not 2 <= self.n_dates <= 73:
            raise ValueError(f"n_dates must be between 2 and 73 (a 5-day revisit over one year), got {self.n_dates}")
        if not 0.0 <= self.cloud_cover < 1.0:
            raise ValueError(f"cloud_cover must be in [0, 1), got {self.cloud_cover}")
        if not 0.0 <= self.atypical_fraction <= 1.0:
            raise ValueError(f"atypical_fraction must be in [0, 1], got {self.atypical_fraction}")
        if not 0.0 <= self.change_fraction <= 1.0:
            raise ValueError(f"change_fraction must be in [0, 1], got {self.change_fraction}")
        if not 0.0 <= self.double_crop_fraction <= 1.0:
            raise ValueError(f"double_crop_fraction must be in [0, 1], got {self.double_crop_fraction}")
        if any(abs(mode) > 90 for mode in self.sowing_modes):
            raise ValueError(f"sowing_modes must be day offsets within +-90 days, got {self.sowing_modes}")
        if abs(self.region_shift) > 60:
            raise ValueError(f"region_shift must be within +-60 days, got {self.region_shift}")
        frequencies = self.frequencies
        if len(frequencies) != len(self.classes) or np.any(frequencies < 0) or frequencies.sum() <= 0:
            raise ValueError(
                f"class_frequencies must be {len(self.classes)} non-negative numbers, got {self.class_frequencies}"
            )

    @property
    def frequencies(self) -> np.ndarray:
        """Requested share of parcels per class, normalised to sum to one."""
        raw = self.class_frequencies or tuple(c.frequency for c in self.classes)
        raw = np.asarray(raw, dtype=float)
        return raw / raw.sum() if raw.sum() > 0 else raw


PRESETS: dict[str, SyntheticConfig] = {
    "toy": SyntheticConfig(height=64, width=64, n_dates=20, mean_parcel_area=60.0),
    "default": SyntheticConfig(),
    "large": SyntheticConfig(height=1024, width=1024, n_dates=48, mean_parcel_area=300.0, block_size=256),
    "hard": SyntheticConfig(height=192, width=192, mean_parcel_area=80.0, n_dates=30, cloud_cover=0.4, noise=0.02,
                            atypical_fraction=0.15, sowing_modes=(-25.0, 0.0, 25.0), double_crop_fraction=0.35,
                            region_shift=12.0, with_s1=False),
}
"""Named landscapes: a 64x64x20 toy, the default teaching cube, a larger cube for scaling runs, and ``hard``: a
192 x 192 px cube of smaller parcels with three sowing practices per crop, cover crops on a third of the crop
parcels, a 12-day phenological shift between the unlabelled west half and the labelled east half, more clouds,
noise and atypical parcels, fewer dates: one profile per class no longer separates the classes. A Random Forest on
the raw series of 2,000 labelled pixels of the east half scores 0.43-0.60 macro-F1 (OA 0.63-0.87, two seeds) with
every label and 0.27-0.41 with 1 % of them (issue 22): hard, not hopeless."""


def config_from_preset(name: str = "default", **overrides) -> SyntheticConfig:
    """A preset from :data:`PRESETS` with some fields replaced, e.g. ``config_from_preset("toy", seed=3)``."""
    if name not in PRESETS:
        raise KeyError(f"unknown synthetic preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)
