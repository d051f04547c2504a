"""Figures of a SITS cube: RGB frames with their cloud mask, class profiles, label map, cloud cover."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from sitsbench.data import cube as cube_format
from sitsbench.data.indices import ndvi
from sitsbench.data.timeops import day_of_year


def class_colormap(n_classes: int) -> tuple[ListedColormap, BoundaryNorm]:
    """A categorical colormap (tab10/tab20) with one colour per class id."""
    base = plt.get_cmap("tab10" if n_classes <= 10 else "tab20")
    cmap = ListedColormap([base(i % base.N) for i in range(n_classes)])
    return cmap, BoundaryNorm(np.arange(-0.5, n_classes + 0.5), n_classes)


def _rgb(cube: xr.Dataset, t: int, gain: float = 3.5) -> np.ndarray:
    rgb = cube[cube_format.REFLECTANCE].isel({cube_format.TIME: t}).sel({cube_format.BAND: ["B04", "B03", "B02"]}).values
    return np.clip(np.moveaxis(rgb, 0, -1) * gain, 0, 1)


def plot_rgb_frames(cube: xr.Dataset, n_frames: int = 8, columns: int = 4, show_mask: bool = True) -> plt.Figure:
    """True-colour frames at evenly spaced dates; the invalid (cloud/shadow) mask is outlined in red."""
    n_time = cube.sizes[cube_format.TIME]
    picks = np.unique(np.linspace(0, n_time - 1, min(n_frames, n_time)).round().astype(int))
    rows = int(np.ceil(picks.size / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.1 * rows), squeeze=False)
    for ax, t in zip(axes.ravel(), picks):
        ax.imshow(_rgb(cube, t))
        invalid = ~cube[cube_format.VALID].isel({cube_format.TIME: t}).values
        if show_mask and invalid.any():
            ax.contour(invalid, levels=[0.5], colors="red", linewidths=0.8)
        date = np.datetime_as_string(cube[cube_format.TIME].values[t], unit="D")
        ax.set_title(f"{date}  ({invalid.mean():.0%} masked)", fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle("Sentinel-2 true colour (B04, B03, B02); red outline = cloud/shadow mask")
    fig.tight_layout()
    return fig


def plot_label_map(cube: xr.Dataset, ax: plt.Axes | None = None, boundaries: bool = True) -> plt.Axes:
    """The semantic label map with a legend of class names and the parcel boundaries in black."""
    names = cube_format.class_names(cube)
    labels = np.asarray(cube[cube_format.CLASS].values)
    cmap, norm = class_colormap(max(len(names), int(labels.max()) + 1))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5))
    ax.imshow(np.ma.masked_less(labels, 0), cmap=cmap, norm=norm, interpolation="nearest")
    if boundaries:
        parcels = np.asarray(cube[cube_format.PARCEL].values)
        edges = (np.diff(parcels, axis=0, prepend=parcels[:1]) != 0) | (np.diff(parcels, axis=1, prepend=parcels[:, :1]) != 0)
        ax.imshow(np.ma.masked_where(~edges, edges), cmap=ListedColormap(["black"]), interpolation="nearest")
    handles = [Patch(color=cmap(i), label=name) for i, name in enumerate(names)]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.set_title("Label map and parcel boundaries")
    ax.axis("off")
    return ax


def plot_class_profiles(cube: xr.Dataset, max_pixels_per_class: int = 2000, seed: int = 0) -> plt.Figure:
    """NDVI mean ± std per class over the year, from clear observations only."""
    names = cube_format.class_names(cube)
    cmap, _ = class_colormap(len(names))
    index = ndvi(cube).values  # (T, y, x)
    valid = cube[cube_format.VALID].values
    labels = np.asarray(cube[cube_format.CLASS].values)
    doy = day_of_year(cube[cube_format.TIME].values)
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for k, name in enumerate(names):
        rows, cols = np.nonzero(labels == k)
        if rows.size == 0:
            continue
        pick = rng.choice(rows.size, min(rows.size, max_pixels_per_class), replace=False)
        values = np.where(valid[:, rows[pick], cols[pick]], index[:, rows[pick], cols[pick]], np.nan)
        seen = np.isfinite(values).any(axis=1)  # a date on which every sampled pixel is masked: a gap in the line
        mean, std = np.full(len(doy), np.nan), np.full(len(doy), np.nan)
        mean[seen], std[seen] = np.nanmean(values[seen], axis=1), np.nanstd(values[seen], axis=1)
        ax.plot(doy, mean, "-o", ms=3, color=cmap(k), label=name)
        ax.fill_between(doy, mean - std, mean + std, color=cmap(k), alpha=0.12)
    ax.set(xlabel="day of year", ylabel="NDVI", title="NDVI profiles per class (clear observations, mean ± std)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_cloud_cover(cube: xr.Dataset, ax: plt.Axes | None = None) -> plt.Axes:
    """Masked fraction per acquisition date: irregular sampling and cloudy winters at a glance."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 2.8))
    cover = 1 - cube[cube_format.VALID].mean((cube_format.Y, cube_format.X)).values
    dates = cube[cube_format.TIME].values.astype("datetime64[D]")  # a bar width in days (in nanoseconds it draws nothing)
    ax.bar(dates, cover, width=np.timedelta64(3, "D"), color="slategray")
    ax.set(xlabel="acquisition date", ylabel="share of pixels masked", ylim=(0, 1),
           title=f"{cube.sizes[cube_format.TIME]} acquisition dates and their cloud cover")
    ax.grid(alpha=0.3, axis="y")
    return ax


def plot_pixel_series(cube: xr.Dataset, y: int, x: int, filled: xr.Dataset | None = None) -> plt.Axes:
    """NDVI of one pixel: clear observations, masked (cloudy) ones, and optionally the gap-filled series."""
    doy = day_of_year(cube[cube_format.TIME].values)
    series = ndvi(cube.isel({cube_format.Y: [y], cube_format.X: [x]})).values[:, 0, 0]
    valid = cube[cube_format.VALID].values[:, y, x]
    _, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(doy[valid], series[valid], "o", color="forestgreen", label="clear observation")
    ax.plot(doy[~valid], series[~valid], "x", color="crimson", label="cloud / shadow (masked)")
    if filled is not None:
        filled_series = ndvi(filled.isel({cube_format.Y: [y], cube_format.X: [x]})).values[:, 0, 0]
        ax.plot(doy, filled_series, "-", color="black", lw=1, label="linear gap filling")
    names = cube_format.class_names(cube)
    label = int(cube[cube_format.CLASS].values[y, x])
    ax.set(xlabel="day of year", ylabel="NDVI", title=f"pixel (y={y}, x={x}), class {names[label] if label >= 0 else '-'}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_backscatter_profiles(cube: xr.Dataset) -> plt.Figure:
    """Sentinel-1 VV and VH (dB) per class: radar sees through clouds but is noisy (speckle)."""
    names = cube_format.class_names(cube)
    cmap, _ = class_colormap(len(names))
    labels = np.asarray(cube[cube_format.CLASS].values)
    doy = day_of_year(cube[cube_format.TIME_S1].values)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    for ax, band in zip(axes, cube_format.S1_BANDS):
        values = cube[cube_format.BACKSCATTER].sel({cube_format.BAND_S1: band}).values
        for k, name in enumerate(names):
            if (labels == k).any():
                ax.plot(doy, values[:, labels == k].mean(axis=1), color=cmap(k), label=name)
        ax.set(title=f"Sentinel-1 {band}", xlabel="day of year", ylabel="dB")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
