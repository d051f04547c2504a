"""Curves through an object's pixels: the spatial axis of a Deep-STaR planar representation.

Chelali, Kurtz & Vincent (VISAPP 2020; CVIU 2021, "Deep-STaR") turn a 2D+t object into an image by reading
the pixels along a curve Γ at every date. This module draws the curves, as ``(L, 2)`` arrays of (row, col)
coordinates *inside a boolean object mask*:

* local curves (MS-STR): random walks (8-connected, random start, they never leave the object) and random
  pixel sequences ("Rand", the control without spatial coherence);
* global, space-filling curves (G-STR): snake (boustrophedon), spiral, Hilbert and Z-order (Morton) over the
  object's bounding square, restricted to the object's pixels, so that each pixel is visited exactly once.
  Hilbert and Z-order need a power-of-two side: the square is enlarged to the next power of two.

Global curves take a dihedral ``transform`` (0-7: rotations by multiples of 90 degrees, then the same after a
transposition). Drawing the curve on the transformed square is the same as rotating the object before drawing
it, the G-STR augmentation of the paper, but exact (no resampling of the object).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

LOCAL_CURVES = ("rand", "random_walk")
GLOBAL_CURVES = ("snake", "spiral", "hilbert", "zorder")
CURVES = LOCAL_CURVES + GLOBAL_CURVES
N_TRANSFORMS = 8
_NEIGHBOURS_8 = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@lru_cache(maxsize=64)
def snake_order(side: int) -> np.ndarray:
    """Boustrophedon over a ``side x side`` square: row 0 left to right, row 1 right to left, ... ``(side², 2)``."""
    rows, cols = np.divmod(np.arange(side * side), side)
    cols = np.where(rows % 2 == 1, side - 1 - cols, cols)
    return _frozen(np.stack([rows, cols], axis=1))


@lru_cache(maxsize=64)
def spiral_order(side: int) -> np.ndarray:
    """Clockwise spiral from the top-left corner inwards over a ``side x side`` square, ``(side², 2)``."""
    visited = np.zeros((side, side), dtype=bool)
    out = np.empty((side * side, 2), dtype=np.int64)
    directions = ((0, 1), (1, 0), (0, -1), (-1, 0))
    row, col, heading = 0, 0, 0
    for step in range(side * side):
        out[step] = row, col
        visited[row, col] = True
        for turn in range(4):
            dr, dc = directions[(heading + turn) % 4]
            r, c = row + dr, col + dc
            if 0 <= r < side and 0 <= c < side and not visited[r, c]:
                heading = (heading + turn) % 4
                row, col = r, c
                break
    return _frozen(out)


def _check_power_of_two(side: int, name: str) -> None:
    if side < 1 or side & (side - 1):
        raise ValueError(f"{name} curves need a power-of-two side, got {side}")


@lru_cache(maxsize=64)
def hilbert_order(side: int) -> np.ndarray:
    """Hilbert curve over a ``side x side`` square (``side`` a power of two), ``(side², 2)``.

    The classic iterative index-to-coordinates conversion (Hilbert 1891; the ``d2xy`` algorithm), vectorised
    over all indices: consecutive points are 4-adjacent.
    """
    _check_power_of_two(side, "Hilbert")
    d = np.arange(side * side)
    x = np.zeros_like(d)
    y = np.zeros_like(d)
    t = d.copy()
    s = 1
    while s < side:
        rx = 1 & (t // 2)
        ry = 1 & (t ^ rx)
        flip = (ry == 0) & (rx == 1)
        x = np.where(flip, s - 1 - x, x)
        y = np.where(flip, s - 1 - y, y)
        swap = ry == 0
        x, y = np.where(swap, y, x), np.where(swap, x, y)
        x = x + s * rx
        y = y + s * ry
        t //= 4
        s *= 2
    return _frozen(np.stack([y, x], axis=1))


@lru_cache(maxsize=64)
def zorder_order(side: int) -> np.ndarray:
    """Z-order (Morton) curve over a ``side x side`` square (``side`` a power of two), ``(side², 2)``."""
    _check_power_of_two(side, "Z-order")
    d = np.arange(side * side)
    rows = np.zeros_like(d)
    cols = np.zeros_like(d)
    for bit in range(max(side.bit_length() - 1, 0)):
        cols |= ((d >> (2 * bit)) & 1) << bit
        rows |= ((d >> (2 * bit + 1)) & 1) << bit
    return _frozen(np.stack([rows, cols], axis=1))


_ORDERS = {"snake": snake_order, "spiral": spiral_order, "hilbert": hilbert_order, "zorder": zorder_order}


def _dihedral(points: np.ndarray, side: int, transform: int) -> np.ndarray:
    """Apply one of the 8 symmetries of the square to ``(n, 2)`` points (0 = identity)."""
    if not 0 <= transform < N_TRANSFORMS:
        raise ValueError(f"transform must be in 0..{N_TRANSFORMS - 1}, got {transform}")
    rows, cols = points[:, 0], points[:, 1]
    if transform >= 4:
        rows, cols = cols, rows
    for _ in range(transform % 4):  # rotate by 90 degrees
        rows, cols = cols, side - 1 - rows
    return np.stack([rows, cols], axis=1)


def _check_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or not mask.any():
        raise ValueError(f"the object mask must be a 2D boolean array with at least one True pixel, got {mask.shape}")
    return mask


def global_curve(mask: np.ndarray, kind: str, transform: int = 0) -> np.ndarray:
    """The space-filling curve ``kind`` over the mask's bounding square, restricted to the mask: ``(n_pixels, 2)``.

    Every True pixel appears exactly once. ``transform`` (0-7) draws the curve on a rotated/transposed square.
    """
    if kind not in _ORDERS:
        raise ValueError(f"kind must be one of {GLOBAL_CURVES}, got {kind!r}")
    mask = _check_mask(mask)
    rows, cols = np.nonzero(mask)
    r0, c0 = rows.min(), cols.min()
    side = int(max(rows.max() - r0, cols.max() - c0)) + 1
    if kind in ("hilbert", "zorder"):
        side = 1 << (side - 1).bit_length()
    order = _dihedral(_ORDERS[kind](side), side, transform) + (r0, c0)
    inside = (order[:, 0] < mask.shape[0]) & (order[:, 1] < mask.shape[1])
    order = order[inside]
    return order[mask[order[:, 0], order[:, 1]]]


def random_walks(mask: np.ndarray, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random walks of ``length`` pixels inside the mask, ``(n, length, 2)``, all walkers stepped at once.

    Each walk starts on a random pixel of the object and moves to one of its 8 neighbours that lie in the
    object, chosen uniformly (an isolated pixel stays in place).
    """
    mask = _check_mask(mask)
    if n < 1 or length < 1:
        raise ValueError(f"n and length must be >= 1, got n={n}, length={length}")
    padded = np.pad(mask, 1)
    pixels = np.argwhere(mask)
    position = pixels[rng.integers(0, len(pixels), n)] + 1
    walks = np.empty((n, length, 2), dtype=np.int64)
    walks[:, 0] = position
    for step in range(1, length):
        candidates = position[:, None, :] + _NEIGHBOURS_8  # (n, 8, 2)
        allowed = padded[candidates[..., 0], candidates[..., 1]]
        scores = np.where(allowed, rng.random(allowed.shape), -1.0)
        choice = candidates[np.arange(n), scores.argmax(axis=1)]
        position = np.where(allowed.any(axis=1, keepdims=True), choice, position)
        walks[:, step] = position
    return walks - 1


def random_sequences(mask: np.ndarray, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sequences of ``length`` object pixels drawn at random ("Rand"), ``(n, length, 2)``.

    Pixels are drawn without replacement within a sequence when the object has enough of them.
    """
    mask = _check_mask(mask)
    pixels = np.argwhere(mask)
    if len(pixels) >= length:
        picks = rng.random((n, len(pixels))).argsort(axis=1)[:, :length]
    else:
        picks = rng.integers(0, len(pixels), (n, length))
    return pixels[picks]


def fit_width(curve: np.ndarray, width: int) -> np.ndarray:
    """Cut a ``(L, 2)`` curve into ``(k, width, 2)`` chunks: consecutive chunks for a long curve (the last one
    aligned on the curve's end, so every chunk is full), the curve repeated end to end for a short one."""
    length = len(curve)
    if length >= width:
        starts = np.arange(0, length - width + 1, width)
        if starts[-1] + width < length:
            starts = np.append(starts, length - width)
        return curve[starts[:, None] + np.arange(width)]
    return curve[np.arange(width) % length][None]
