"""Assess a land-cover map with reference points: place the points on the map, count map class x reference class,
measure the mapped area of each class, and estimate accuracies and areas with their confidence intervals
(:func:`sitsbench.evaluation.area.area_accuracy`, Olofsson et al. 2014).

Areas are in hectares for a georeferenced map (pixel areas from the transform; on a geographic CRS each row's
pixel area on the WGS84 ellipsoid, since a degree of longitude shrinks towards the poles), in pixels otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sitsbench.data import georef

SQUARE_METRES_PER_HECTARE = 10_000.0


def pixel_areas(classes: xr.DataArray) -> tuple[np.ndarray | float, str]:
    """Area of one pixel (per row on a geographic CRS) and its unit: ``("ha")`` when georeferenced, else pixels."""
    if not georef.has_crs(classes):
        return 1.0, "pixels"
    crs = georef.crs_of(classes)
    transform = georef.transform_of(classes)
    if crs.is_geographic:
        from pyproj import Geod

        geod = Geod(ellps="WGS84")
        top = transform.f + np.arange(classes.sizes["y"]) * transform.e
        lons = [0.0, abs(transform.a), abs(transform.a), 0.0]
        areas = np.array([abs(geod.polygon_area_perimeter(lons, [t, t, t + transform.e, t + transform.e])[0])
                          for t in top])
        return areas / SQUARE_METRES_PER_HECTARE, "ha"
    metres = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return abs(transform.a * transform.e) * metres**2 / SQUARE_METRES_PER_HECTARE, "ha"


def assess_map(classes: xr.DataArray, class_names: list[str], points: pd.DataFrame, label: str = "label",
               confidence: float = 0.95):
    """Area-weighted accuracy of the map ``classes`` (``(y, x)``, ``-1`` = no class) against labelled ``points``
    (:func:`sitsbench.data.readers.points.read_points`: ``x``/``y`` in ``attrs["crs"]`` and a ``label`` column
    holding class names). Returns the :class:`~sitsbench.evaluation.area.AreaAccuracy` and the counts used."""
    from sitsbench.evaluation.area import area_accuracy, confusion_counts, mapped_area_from_map

    if label not in points.columns:
        raise ValueError(f"reference points have no {label!r} column (columns: {list(points.columns)})")
    unknown = sorted(set(points[label].astype(str)) - set(class_names))
    if unknown:
        raise ValueError(f"reference labels {unknown} are not classes of the map ({class_names})")
    rows, cols = georef.to_pixels(classes, points["x"].to_numpy(), points["y"].to_numpy(), points.attrs.get("crs"))
    values = np.asarray(classes.values)
    mapped = values[rows, cols]
    reference = np.array([class_names.index(str(v)) for v in points[label]])
    counts = confusion_counts(mapped, reference, class_names)
    area, unit = pixel_areas(classes)
    mapped_area = mapped_area_from_map(values, class_names, pixel_area=area)
    result = area_accuracy(counts, mapped_area, confidence=confidence)
    result.unit = unit
    return result, counts


def read_map_classes(path: str | Path) -> tuple[xr.DataArray, list[str]]:
    """The class layer of a map written by ``predict-map`` and its class names."""
    from sitsbench.inference.map import open_map

    result = open_map(path)
    return result["class"].load(), list(result.attrs.get("class_names", []))
