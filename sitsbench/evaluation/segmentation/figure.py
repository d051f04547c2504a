"""The segmentation figure: test patches in true colour and NDVI beside their reference and predicted maps."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sitsbench.data import cube as cube_format
from sitsbench.evaluation.segmentation.protocol import SegmentationRun
from sitsbench.metrics import IGNORE_INDEX
from sitsbench.plot import class_colormap


def _patch_images(cube: xr.Dataset, y0: int, x0: int, size: int, date: int) -> tuple[np.ndarray, np.ndarray]:
    window = {cube_format.Y: slice(y0, y0 + size), cube_format.X: slice(x0, x0 + size)}
    patch = cube[cube_format.REFLECTANCE].isel({cube_format.TIME: date, **window})
    rgb = np.moveaxis(patch.sel({cube_format.BAND: ["B04", "B03", "B02"]}).values, 0, -1)
    nir, red = patch.sel({cube_format.BAND: "B08"}).values, patch.sel({cube_format.BAND: "B04"}).values
    return np.clip(rgb * 3.5, 0, 1), (nir - red) / np.maximum(nir + red, 1e-6)


def plot_segmentation(run: SegmentationRun, cube: xr.Dataset, n_patches: int = 4, date: int | None = None,
                      seed: int = 0) -> plt.Figure:
    """For ``n_patches`` test patches (seeded pick): true colour and NDVI at ``date`` (default: the clearest date
    of each patch), the reference map (ignored pixels white) and the prediction, with a class legend."""
    names = cube_format.class_names(cube)
    cmap, norm = class_colormap(len(names))
    picks = np.sort(np.random.default_rng(seed).choice(len(run.test), min(n_patches, len(run.test)), replace=False))
    size = run.test.patch_size
    fig, axes = plt.subplots(len(picks), 4, figsize=(10, 2.6 * len(picks)), squeeze=False)
    for row, index in zip(axes, picks):
        y0, x0 = run.test.origins[index]
        clear = cube[cube_format.VALID].isel({cube_format.Y: slice(y0, y0 + size), cube_format.X: slice(x0, x0 + size)}).mean((cube_format.Y, cube_format.X)).values
        t = int(np.argmax(clear)) if date is None else date
        rgb, ndvi = _patch_images(cube, y0, x0, size, t)
        day = np.datetime_as_string(cube[cube_format.TIME].values[t], unit="D")
        truth = np.ma.masked_equal(run.y_true[index], IGNORE_INDEX)
        panels = [(rgb, {}, f"RGB {day}"), (ndvi, {"cmap": "RdYlGn", "vmin": -0.1, "vmax": 0.9}, "NDVI"),
                  (truth, {"cmap": cmap, "norm": norm, "interpolation": "nearest"}, "reference"),
                  (run.y_pred[index], {"cmap": cmap, "norm": norm, "interpolation": "nearest"}, "prediction")]
        for ax, (image, style, title) in zip(row, panels):
            ax.imshow(image, **style)
            ax.set_title(f"{title} ({y0},{x0})" if title == "reference" else title, fontsize=9)
            ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(k)) for k in range(len(names))]
    fig.legend(handles, names, loc="lower center", ncol=min(5, len(names)), fontsize=8)
    fig.suptitle(f"{run.scores['method']}: mIoU {run.scores['miou']:.2f}, OA {run.scores['oa']:.2f} (test patches)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
