"""Does pretraining pay more when the unlabelled pool grows? The SSL − random-init gain as a function of pool size.

The question of self-supervised pretraining for SITS is whether a large unlabelled archive makes up for few labels.
A fair test varies the **data, not the compute**: every encoder is pretrained for the same number of steps on the
same batch size, on pools of unlabelled series of growing size (nested: each pool holds the smaller ones), so a small
pool is seen many times over and a large one about once. Each encoder is then scored by a linear probe (Chen et al.
2020's linear evaluation) with 1 %, 10 % and 100 % of the labels, against the same architecture at random
initialisation probed on the same labelled subsets; the paired difference comes with its 95 % bootstrap interval over
test parcels and seeds (:mod:`sitsbench.intervals`). A seed pretrains its own encoders and draws its own
labelled subsets.

Where the labels are: the pools are taken from the west half of the cube (columns ``0 .. W/2``; on the ``hard``
landscape, the region that no label comes from), the labelled pixels from the east half, split by parcel into
training and test pixels (a cube without parcels, such as a land-cover raster, by blocks of
:data:`BLOCK` x :data:`BLOCK` pixels, so that neighbouring pixels do not land on both sides). Pool ``n`` holds the first ``ceil(n / (W/2))`` rows of the west half. Pretraining streams
each pool from a zarr copy with :func:`sitsbench.ssl.pretrain.pretrain_archive`, as ``sitsbench pretrain`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sitsbench.data import cube as cube_format
from sitsbench.data import samples as samples_format
from sitsbench.evaluation.efficiency import EfficiencyMethod, label_efficiency
from sitsbench.evaluation.protocols import probe
from sitsbench.intervals import paired_differences

RANDOM = "random init"
BLOCK = 8
"""Side (pixels) of the spatial blocks that group the labelled pixels of a cube without parcels."""


@dataclass
class PoolStudyConfig:
    """The knobs of :func:`pool_size_study` (sizes in pixel series)."""

    pool_sizes: Sequence[int] = (192, 1920, 18432)
    steps: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    method: str = "simclr"
    encoder: str = "ltae_small"
    encoder_kwargs: dict = field(default_factory=dict)
    fractions: Sequence[float] = (0.01, 0.1, 1.0)
    seeds: Sequence[int] = (0, 1, 2)
    max_train: int = 3000
    max_test: int = 2000
    window: int = 16
    n_boot: int = 1000
    device: str = "auto"


def ssl_name(size: int) -> str:
    return f"SSL, pool {size:,}"


def write_pools(cube: xr.Dataset, sizes: Sequence[int], workdir: Path, window: int) -> dict[int, Path]:
    """Zarr copies of the nested pools of the west half of ``cube`` (reflectance and mask only); keyed by the pool's
    actual number of series (whole rows of the west half)."""
    from sitsbench.data.io import save_cube

    half = cube.sizes[cube_format.X] // 2
    pools = {}
    for size in sizes:
        rows = min(cube.sizes[cube_format.Y], max(1, math.ceil(size / half)))
        if rows * half in pools:
            continue
        part = cube.isel({cube_format.Y: slice(0, rows), cube_format.X: slice(0, half)})
        pools[rows * half] = save_cube(part, workdir / f"pool_{rows * half}.zarr", chunks=window, overwrite=True)
    return pools


def labelled_pixels(cube: xr.Dataset, max_train: int, max_test: int, seed: int = 0) -> tuple[xr.Dataset, np.ndarray]:
    """The labelled pixels of the east half of ``cube`` as samples (grouped by parcel) and a split code per sample
    (train/test by parcel, each subsampled to at most ``max_train`` / ``max_test`` pixels; the rest -1)."""
    east = cube.isel({cube_format.X: slice(cube.sizes[cube_format.X] // 2, None)})
    if not (np.asarray(east[cube_format.PARCEL].values) > 0).any():
        rows, cols = np.indices(east[cube_format.PARCEL].shape)
        blocks = (rows // BLOCK) * (-(-cols.shape[1] // BLOCK)) + cols // BLOCK + 1
        east = east.assign({cube_format.PARCEL: (east[cube_format.PARCEL].dims, blocks.astype(np.int32))})
    samples = samples_format.samples_from_cube(east)
    split = samples_format.split_samples(samples, "group", fractions=(0.7, 0.0, 0.3), seed=seed)
    rng = np.random.default_rng([seed, 17])
    for code, limit in ((samples_format.SPLIT_CODES["train"], max_train), (samples_format.SPLIT_CODES["test"], max_test)):
        members = np.flatnonzero(split == code)
        if members.size > limit:
            split[rng.choice(members, members.size - limit, replace=False)] = samples_format.NO_SPLIT
    return samples, split


def _features(folder, encoder, samples: xr.Dataset, device: str) -> np.ndarray:
    """``forward_features`` of every sample, prepared as the encoder folder says (bands, statistics, dates)."""
    from sitsbench.inference.model_folder import MapModel
    from sitsbench.runtime import series_in_batches

    preparation = MapModel(None, folder.name, folder.bands, samples_format.class_names(samples), folder.stats, folder.reference,
                           folder.date_policy)
    x, mask, doy = preparation.sample_inputs(samples)
    encoder = encoder.eval()
    return series_in_batches(encoder.forward_features, x, doy, mask, 1024, device)


def _probe_method(train_labels: np.ndarray, train: dict[int, np.ndarray], test: dict[int, np.ndarray]
                  ) -> EfficiencyMethod:
    """A linear probe on the features of each seed's own encoder."""

    def fit_predict(indices: np.ndarray, seed: int) -> np.ndarray:
        return probe("linear", (train[seed][indices], train_labels[indices]), test[seed], seed)

    return EfficiencyMethod(train_labels, fit_predict)


def pool_size_study(cube: xr.Dataset, workdir: str | Path, config: PoolStudyConfig | None = None,
                    log: Callable[[str], None] | None = None) -> dict:
    """Pretrain on each pool for each seed, probe, and compare with random initialisation. Returns ``table`` (the
    label-efficiency table, one row per method x fraction x seed, ``predicted`` dropped), ``gains`` (one row per
    pool and fraction: paired difference of macro-F1 SSL − random init with its 95 % interval and verdict),
    ``pool_effect`` (per fraction: the largest pool's macro-F1 minus the smallest pool's, and minus the next largest
    pool's, paired, with their intervals: the direct test of "a bigger pool helps", and of whether it still helps
    beyond the middle pool), ``pretraining`` (one row per pool and seed: losses, series/s, passes
    over the pool) and the sizes."""
    from sitsbench.inference.encoder_folder import EncoderFolder
    from sitsbench.models.registry import create_model
    from sitsbench.runtime import seed_everything
    from sitsbench.ssl.pretrain import PRETRAINING, PretrainConfig, StreamConfig, pretrain_archive

    config = config or PoolStudyConfig()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pools = write_pools(cube, config.pool_sizes, workdir, config.window)
    samples, split = labelled_pixels(cube, config.max_train, config.max_test)
    train, test = samples_format.subset_mask(split, "train"), samples_format.subset_mask(split, "test")
    labels = np.asarray(samples[samples_format.LABEL].values)
    groups = np.asarray(samples[samples_format.GROUP].values)[test]
    train_samples, test_samples = samples.isel({samples_format.SAMPLE: train}), samples.isel({samples_format.SAMPLE: test})
    features: dict[str, tuple[dict[int, np.ndarray], dict[int, np.ndarray]]] = {}
    runs, folder = [], None
    for size, path in pools.items():
        features[ssl_name(size)] = ({}, {})
        for seed in config.seeds:
            output = workdir / f"encoder_{size}_seed{seed}"
            summary = pretrain_archive(
                [str(path)], output, config.method, config.encoder,
                PretrainConfig(train=replace(PRETRAINING, batch_size=config.batch_size, lr=config.lr, seed=seed,
                                             device=config.device, progress=False),
                               backbone_kwargs=dict(config.encoder_kwargs)),
                StreamConfig(steps=config.steps, window=config.window, shards=2, buffer=4 * config.window ** 2,
                             log_every=max(1, config.steps // 10), checkpoint_every=config.steps), overwrite=True)
            folder = EncoderFolder.load(output)
            for part, chosen in enumerate((train_samples, test_samples)):
                features[ssl_name(size)][part][seed] = _features(folder, folder.encoder, chosen, config.device)
            curve = summary["history"]["train_loss"]
            runs.append({"pool": size, "seed": seed, "first_loss": curve[0], "final_loss": curve[-1],
                         "passes": config.steps * config.batch_size / size, "series_per_s": summary["series_per_s"]})
            if log is not None:
                log(f"pool {size:,} seed {seed}: loss {curve[0]:.3f} -> {curve[-1]:.3f}")
    features[RANDOM] = ({}, {})
    n_bands = len(folder.bands)
    for seed in config.seeds:  # the same architecture, not trained, fed as the largest pool's encoder is
        seed_everything(seed)  # built with the pretrained encoder's arguments (a fixed-length one: its dates)
        random = create_model(config.encoder, in_channels=n_bands, num_classes=0, **folder.kwargs)
        for part, chosen in enumerate((train_samples, test_samples)):
            features[RANDOM][part][seed] = _features(folder, random, chosen, config.device)
    num_classes = len(samples_format.class_names(samples))
    methods = {name: _probe_method(labels[train], tr, te) for name, (tr, te) in features.items()}
    table = label_efficiency(methods, labels[test], config.fractions, config.seeds, num_classes, log=None)
    pairs = [(ssl_name(size), RANDOM) for size in pools]
    gains = paired_differences(table, labels[test], num_classes, pairs, "macro_f1", n_boot=config.n_boot,
                               groups=groups)
    gains.insert(0, "pool", gains["a"].map({ssl_name(size): size for size in pools}))
    sizes = sorted(pools)
    compared = [(sizes[-1], sizes[0])] + ([(sizes[-1], sizes[-2])] if len(sizes) > 2 else [])
    effect = paired_differences(table, labels[test], num_classes, [(ssl_name(a), ssl_name(b)) for a, b in compared],
                                "macro_f1", n_boot=config.n_boot, groups=groups)
    size_of = {ssl_name(size): size for size in sizes}
    effect.insert(0, "pool_a", effect["a"].map(size_of))
    effect.insert(1, "pool_b", effect["b"].map(size_of))
    return {"table": table.drop(columns="predicted"), "gains": gains, "pool_effect": effect,
            "pretraining": pd.DataFrame(runs),
            "pools": sorted(pools), "n_train": int(train.sum()), "n_test": int(test.sum()),
            "n_test_parcels": int(np.unique(groups).size), "num_classes": num_classes}
