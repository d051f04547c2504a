"""Seeded synthetic Sentinel-2 (+ Sentinel-1) image time series of an agricultural landscape.

This is the default data of sitsbench: realistic enough to teach with, small and fast by default, and able
to produce cubes larger than memory lazily (block by block, with dask). What it models:

* a landscape of parcels (Voronoi cells, like fields of an open-field landscape) with ten land-cover classes
  drawn with real-world imbalance (:data:`~sitsbench.data.phenology.DEFAULT_CLASSES`);
* per-class NDVI phenology (double-logistic seasons, mowing, rapeseed bloom) with per-parcel jitter of
  sowing dates and amplitude, smooth within-field fertility gradients and per-pixel heterogeneity;
* ten Sentinel-2 bands from a linear mixture of vegetation and background spectra; optional Sentinel-1
  VV/VH backscatter in dB on its own 6-day acquisition grid, with multiplicative (gamma) speckle;
* irregular acquisition dates (a 5-day revisit with dates dropped at random);
* clouds as spatially coherent blobs with semi-transparent edges and their shadows, recorded exactly in the
  ``valid`` mask; per-date radiometric variation and sensor noise;
* optional change events: a parcel switching class on a given date (``change`` and ``change_date`` layers);
* optional harder settings (the ``"hard"`` preset): several management practices per crop (sowing dates
  shifted by weeks), cover or second crops after the harvest on some parcels, and a regional shift of the
  phenology between the west half (the unlabelled area a self-supervised model pretrains on) and the east half
  (the labelled area), recorded in the ``region`` layer.

Every random draw depends only on the seed and on the position of a fixed-size pixel block, so a window or a
dask chunk renders the same values as the whole cube does.

Modules: :mod:`.config` (the knobs and the presets), :mod:`.parcels` (the parcels and their per-parcel draws),
:mod:`.clouds` (cloud blobs and their shadows), :mod:`.landscape` (phenology, reflectance and backscatter of a
pixel block), :mod:`.assembly` (blocks -> an in-memory or dask-backed cube).
"""

from sitsbench.data.synthetic.config import PRESETS, SyntheticConfig, config_from_preset
from sitsbench.data.synthetic.landscape import SyntheticLandscape, generate_cube

__all__ = ["PRESETS", "SyntheticConfig", "SyntheticLandscape", "config_from_preset", "generate_cube"]
