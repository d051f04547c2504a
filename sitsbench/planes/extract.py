"""Extraction of spatio-temporal planar representations (STR) from a SITS cube, parcel by parcel.

An STR (Chelali et al., Deep-STaR, CVIU 2021) reads the pixels of one curve Γ (see
:mod:`sitsbench.planes.curves`) at every date: row ``t`` is the date, column ``j`` the ``j``-th pixel of the
curve, bands are channels, so a 2D image network can classify it. Per parcel, the extraction

1. loads only the parcel's bounding box of the cube (a dask-backed cube reads just the chunks it overlaps);
2. fills cloud-masked dates and resamples time to ``height`` regular dates by linear interpolation, once per
   pixel of the parcel;
3. scales each band with the 2 %/98 % percentiles of :class:`~sitsbench.data.normalize.BandStats` (the
   paper's normalisation) when ``stats`` is given;
4. draws the curves (seeded by ``(seed, parcel id)``, so a parcel's STRs do not depend on the others), cuts
   or repeats them to ``width`` pixels and gathers all the STRs with one fancy-indexing operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format
from sitsbench.data.normalize import BandStats
from sitsbench.data.timeops import interpolate_series, relative_days
from sitsbench.planes import curves


@dataclass
class Planes:
    """A batch of STRs: ``values`` ``(n, C, H, W)`` float32, ``coords`` ``(n, W, 2)`` (row, col) of each
    column in the cube, ``parcel`` ``(n,)`` id of the parcel each STR comes from."""

    values: np.ndarray
    coords: np.ndarray
    parcel: np.ndarray
    kind: str

    def __len__(self) -> int:
        return len(self.parcel)

    @classmethod
    def concatenate(cls, items: list[Planes]) -> Planes:
        if not items:
            raise ValueError("cannot concatenate an empty list of Planes")
        return cls(
            values=np.concatenate([p.values for p in items]),
            coords=np.concatenate([p.coords for p in items]),
            parcel=np.concatenate([p.parcel for p in items]),
            kind=items[0].kind,
        )


def parcel_boxes(parcel_map: np.ndarray) -> dict[int, tuple[int, int, int, int]]:
    """Bounding box ``(row0, row1, col0, col1)`` (end exclusive) of every parcel id > 0 of a ``(y, x)`` map."""
    parcel_map = np.asarray(parcel_map)
    rows, cols = np.nonzero(parcel_map > 0)
    ids, inverse = np.unique(parcel_map[rows, cols], return_inverse=True)
    r0 = np.full(ids.size, np.iinfo(np.int64).max)
    c0 = r0.copy()
    r1 = np.full(ids.size, -1)
    c1 = r1.copy()
    np.minimum.at(r0, inverse, rows)
    np.minimum.at(c0, inverse, cols)
    np.maximum.at(r1, inverse, rows)
    np.maximum.at(c1, inverse, cols)
    return {int(i): (int(a), int(b) + 1, int(c), int(d) + 1) for i, a, b, c, d in zip(ids, r0, r1, c0, c1)}


@dataclass
class _Source:
    """The cube's arrays, numpy or dask: slicing a dask array and converting it reads only the chunks needed."""

    reflectance: Any  # (T, C, Y, X)
    valid: Any  # (T, Y, X)
    parcel: np.ndarray  # (Y, X)
    days: np.ndarray  # (T,) days since the first date
    stats: BandStats | None

    @classmethod
    def from_cube(cls, cube: xr.Dataset, bands: list[str] | None, stats: BandStats | None) -> _Source:
        reflectance = cube[cube_format.REFLECTANCE] if bands is None else cube[cube_format.REFLECTANCE].sel({cube_format.BAND: list(bands)})
        if stats is not None and bands is not None:
            stats = _select_bands(stats, bands)
        return cls(
            reflectance=reflectance.data,
            valid=cube[cube_format.VALID].data,
            parcel=np.asarray(cube[cube_format.PARCEL].values),
            days=relative_days(cube[cube_format.TIME].values).astype(np.float64),
            stats=stats,
        )


def _parcel_grid(
    source: _Source, box: tuple[int, int, int, int], parcel_id: int, height: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The parcel's mask ``(h, w)`` and its gap-filled, resampled, scaled values ``(H, C, h, w)`` (0 outside)."""
    r0, r1, c0, c1 = box
    mask = source.parcel[r0:r1, c0:c1] == parcel_id
    rows, cols = np.nonzero(mask)
    values = np.asarray(source.reflectance[:, :, r0:r1, c0:c1], dtype=np.float32)[:, :, rows, cols]  # (T, C, P)
    valid = np.asarray(source.valid[:, r0:r1, c0:c1])[:, rows, cols]  # (T, P)
    days = source.days
    target = days if height is None else np.linspace(days[0], days[-1], height)
    series = interpolate_series(values.transpose(0, 2, 1), valid, days, target).transpose(0, 2, 1)  # (H, C, P)
    if source.stats is not None:
        series = source.stats.percentile_scale(series, band_axis=1)
    grid = np.zeros((len(target), values.shape[1], *mask.shape), dtype=np.float32)
    grid[:, :, rows, cols] = np.nan_to_num(series, nan=0.0)  # a pixel never seen clear reads 0
    return mask, grid


def _select_bands(stats: BandStats, bands: list[str]) -> BandStats:
    missing = [b for b in bands if b not in stats.bands]
    if missing:
        raise ValueError(f"bands {missing} are not in the normalisation statistics (bands {list(stats.bands)})")
    index = [stats.bands.index(b) for b in bands]
    return BandStats(tuple(bands), stats.mean[index], stats.std[index], stats.low[index], stats.high[index])


def _gather(
    grid: np.ndarray, lines: np.ndarray, box: tuple[int, int, int, int], parcel_id: int, kind: str
) -> Planes:
    """Read the ``(n, W, 2)`` curves (window coordinates) in the ``(H, C, h, w)`` grid, as one indexing op."""
    return Planes(
        values=gather_curves(grid, lines),
        coords=lines + np.array([box[0], box[2]]),
        parcel=np.full(len(lines), parcel_id, dtype=np.int64),
        kind=kind,
    )


def draw_curves(
    mask: np.ndarray,
    kind: str,
    width: int,
    rng: np.random.Generator,
    walk_fraction: float = 0.3,
    walk_length: int | tuple[int, ...] | None = None,
    transforms: tuple[int, ...] = (0,),
) -> np.ndarray:
    """Curves of one object cut to ``width``: ``(n, width, 2)``.

    Local curves: ``max(1, round(walk_fraction * n_pixels))`` walks (or random sequences) of ``walk_length``
    pixels (default ``width``); several lengths, e.g. ``(10, 50, 100)``, give that many walks of each length,
    the multi-scale MS-STR of the paper (short walks are repeated, long ones cut to ``width``).
    Global curves: one curve per dihedral transform in ``transforms``.
    """
    if kind in curves.LOCAL_CURVES:
        if not 0 < walk_fraction:
            raise ValueError(f"walk_fraction must be > 0, got {walk_fraction}")
        n = max(1, int(round(walk_fraction * int(mask.sum()))))
        draw = curves.random_walks if kind == "random_walk" else curves.random_sequences
        lengths = np.atleast_1d(walk_length or width)
        lines = [walk for length in lengths for walk in draw(mask, n, int(length), rng)]
    elif kind in curves.GLOBAL_CURVES:
        lines = [curves.global_curve(mask, kind, t) for t in transforms]
    else:
        raise ValueError(f"kind must be one of {curves.CURVES}, got {kind!r}")
    return np.concatenate([curves.fit_width(line, width) for line in lines])


def extract_planes(
    cube: xr.Dataset,
    parcels: list[int] | np.ndarray | None = None,
    kind: str = "random_walk",
    width: int = 32,
    height: int | None = None,
    bands: list[str] | None = None,
    stats: BandStats | None = None,
    walk_fraction: float = 0.3,
    walk_length: int | tuple[int, ...] | None = None,
    transforms: tuple[int, ...] = (0,),
    seed: int = 0,
) -> Planes:
    """STRs of ``parcels`` (default: every parcel id > 0): ``(n, C, H, W)`` with ``H = height`` (default the
    cube's dates) and ``W = width``. See :func:`draw_curves` for the curve options."""
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    items = []
    for parcel_id, box, mask, grid in iter_parcel_grids(cube, parcels, height, bands, stats):
        rng = np.random.default_rng([seed, parcel_id])
        lines = draw_curves(mask, kind, width, rng, walk_fraction, walk_length, transforms)
        items.append(_gather(grid, lines, box, parcel_id, kind))
    return Planes.concatenate(items)


def iter_parcel_grids(
    cube: xr.Dataset,
    parcels: list[int] | np.ndarray | None = None,
    height: int | None = None,
    bands: list[str] | None = None,
    stats: BandStats | None = None,
) -> Iterator[tuple[int, tuple[int, int, int, int], np.ndarray, np.ndarray]]:
    """Parcel by parcel (default: every id > 0, sorted): its id, bounding box, mask ``(h, w)`` and gap-filled,
    resampled, scaled values ``(H, C, h, w)``, computed only when the iteration reaches it."""
    source = _Source.from_cube(cube, bands, stats)
    boxes = parcel_boxes(source.parcel)
    ids = sorted(boxes) if parcels is None else [int(p) for p in parcels]
    unknown = [p for p in ids if p not in boxes]
    if unknown:
        raise ValueError(f"parcel ids {unknown[:5]} are not in the cube's parcel layer")
    for parcel_id in ids:
        yield parcel_id, boxes[parcel_id], *_parcel_grid(source, boxes[parcel_id], parcel_id, height)


def parcel_grids(
    cube: xr.Dataset,
    parcels: list[int] | np.ndarray | None = None,
    height: int | None = None,
    bands: list[str] | None = None,
    stats: BandStats | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per parcel id, its mask and grid (see :func:`iter_parcel_grids`), all kept in memory: what plane
    views draw new curves from at every epoch."""
    return {pid: (mask, grid) for pid, _, mask, grid in iter_parcel_grids(cube, parcels, height, bands, stats)}


def gather_curves(grid: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """The STRs ``(n, C, H, W)`` read along curves ``lines`` ``(n, W, 2)`` in a parcel grid ``(H, C, h, w)``."""
    return np.ascontiguousarray(grid[:, :, lines[..., 0], lines[..., 1]].transpose(2, 1, 0, 3))


def random_walk_planes(
    cube: xr.Dataset,
    parcel_id: int,
    n: int,
    length: int,
    seed: int = 0,
    height: int | None = None,
    bands: list[str] | None = None,
    stats: BandStats | None = None,
) -> Planes:
    """``n`` random-walk STRs of ``length`` pixels of one parcel, ``values`` ``(n, C, H, length)``: the plane
    views for self-supervised learning (two calls with different seeds give two views of the parcel)."""
    source = _Source.from_cube(cube, bands, stats)
    boxes = parcel_boxes(source.parcel)
    if int(parcel_id) not in boxes:
        raise ValueError(f"parcel id {parcel_id} is not in the cube's parcel layer")
    box = boxes[int(parcel_id)]
    mask, grid = _parcel_grid(source, box, int(parcel_id), height)
    lines = curves.random_walks(mask, n, length, np.random.default_rng([seed, int(parcel_id)]))
    return _gather(grid, lines, box, int(parcel_id), "random_walk")
