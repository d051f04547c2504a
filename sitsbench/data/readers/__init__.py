"""Readers of published SITS datasets into the sitsbench cube (one module per on-disk format).

Patch datasets (PASTIS) give one cube per patch. Pixel and parcel datasets (BreizhCrops, TimeSen2Crop,
Pixel-Set, the Victoria CSV) have no spatial layout: their cube has ``y`` = 1 and one sample per ``x``
index, with ``parcel`` telling which samples belong together (``attrs["parcel_ids"]`` maps ``parcel - 1``
back to the dataset's own ids where these are not usable directly). Official splits are kept as cube
attributes (PASTIS ``fold``, BreizhCrops ``region``, TimeSen2Crop ``tile``) or a ``split`` variable.
Every reader raises :class:`DatasetFormatError` naming the file when the layout is not the published one.
"""

from sitsbench.data.readers.base import DatasetFormatError

__all__ = ["DatasetFormatError"]
