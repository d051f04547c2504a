"""Readers of SITS data into the two sitsbench structures (one module per on-disk format).

Images become **cubes** (:mod:`sitsbench.data.cube`): PASTIS gives one cube per patch, the eo-learn EOPatch one
cube, a folder of per-date rasters or a raster stack one georeferenced cube (:mod:`.rasters`). Pixel and parcel
datasets become labelled **samples** (:mod:`sitsbench.data.samples`), each series with its own dates:
BreizhCrops, TimeSen2Crop, the S2-Agri and PASTIS-R pixel sets (with their pixel axis), the Victoria CSV, ``sits``
sample files (:mod:`.sits`), sample tables (:mod:`.tables`) and points extracted from a cube (:mod:`.points`).
Published splits are kept (PASTIS ``fold``, a samples ``split``). Every reader raises
:class:`DatasetFormatError` naming the file when the layout is not the published one;
:func:`sitsbench.data.load_dataset` recognises the layout of a path and calls the right reader.
"""

from sitsbench.data.readers.base import DatasetFormatError

__all__ = ["DatasetFormatError"]
