"""Plane views vs series views vs random initialisation, for one transformer budget (issue 22, the research plan's
hypothesis: two random walks through a parcel, Deep-STaR planes (Chelali et al. 2021), are better SimCLR views
than augmented pixel series).

Both arms use the same transformer (``--depth`` blocks, ``--width`` channels, 4 heads, MLP ratio 4), the same
bands, batch size, learning rate and number of optimiser steps; only the views and the tokens differ: dates of a
pixel series (``transformer_small``-like) or 8 x 8 patches of a 32 x 32 plane (``plane_vit_tiny``). Each encoder,
pretrained or at random initialisation, is frozen and judged by the same **parcel probe**: the mean embedding of a
parcel (its pixels, or its STRs) goes to a logistic regression fit on a nested, stratified fraction of the training
parcels and scored on the same test parcels. The landscape and the split are fixed; the seeds change the
pretraining, the initialisation and the labelled parcels, so every comparison is paired (same parcels, same seeds)
and its 95 % interval resamples the test parcels and the seeds (``sitsbench.intervals``).

On the ``hard`` landscape, pretraining sees only the west half (the unlabelled area) and the probe the parcels
of the east half (the labelled area, 12 days later in its phenology).

    .venv/bin/python benchmarks/bench_ssl_views.py [--dataset default hard] [--seeds 0 1 2] [--epochs 10]
                                                   [--out views.csv]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

import numpy as np
import pandas as pd

from sitsbench.data import cube as cube_format
from sitsbench.data.datasets import PixelSeriesDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import labelled_area, pretraining_columns, split_mask, split_parcels
from sitsbench.data.synthetic import generate_cube
from sitsbench.evaluation import bootstrap_scores, embed, nested_subsets, probe, to_parcels
from sitsbench.models import create_model
from sitsbench.planes import PlaneDataset, extract_planes
from sitsbench.runtime import seed_everything
from sitsbench.ssl import PRETRAINING, PretrainConfig, UnlabeledPlaneDataset, pretrain

BATCH = 64
PIXELS = 2000  # unlabelled pixel series per epoch


def prepare(dataset: str):
    """The cube (labels only in the labelled area), the unlabelled pretraining cube, the split and statistics."""
    cube = labelled_area(generate_cube(dataset, seed=0))
    pool = cube.isel({cube_format.X: pretraining_columns(cube)})
    unlabelled = pool.drop_vars([n for n in (cube_format.CLASS, cube_format.CHANGE, cube_format.REGION) if n in pool])
    split = split_parcels(cube, seed=0, by="block", block_size=32)
    stats = BandStats.from_cube(cube, split_mask(split, "train"))
    return cube, unlabelled, split, stats


def series_encoders(unlabelled, n_bands: int, seed: int, epochs: int, width: int, depth: int) -> dict:
    shape = dict(d_model=width, num_heads=4, num_layers=depth, ff_dim=4 * width)
    seed_everything(seed)
    random = create_model("transformer_small", n_bands, 0, **shape).eval()
    config = PretrainConfig(max_pixels=PIXELS, temperature=0.2, backbone_kwargs=shape,
                            train=replace(PRETRAINING, epochs=epochs, batch_size=BATCH, lr=1e-3, seed=seed,
                                          progress=False))
    pretrained, history = pretrain(unlabelled.drop_vars(cube_format.PARCEL), "simclr", "transformer_small", config)
    return {"random init": random, "SimCLR": pretrained}, history


def plane_encoders(unlabelled, n_bands: int, seed: int, steps: int, width: int, depth: int) -> dict:
    shape = dict(img_size=(32, 32), depth=depth, embed_dim=width, num_heads=4, dynamic_img_size=True)
    views = UnlabeledPlaneDataset(unlabelled, width=32, local_width=16, n_local=2, height=32, seed=seed)
    epochs = max(1, round(steps / (len(views) // BATCH)))
    seed_everything(seed)
    random = create_model("plane_vit_tiny", n_bands, 0, **shape).eval()
    config = PretrainConfig(temperature=0.2, n_local=2, plane_width=32, plane_local_width=16, plane_height=32,
                            backbone_kwargs=shape, train=replace(PRETRAINING, epochs=epochs, batch_size=BATCH, lr=1e-3,
                                                                 seed=seed, progress=False))
    pretrained, history = pretrain(unlabelled, "simclr", "plane_vit_tiny", config)
    return {"random init": random, "SimCLR": pretrained}, history, views.stats, epochs * (len(views) // BATCH)


def parcel_embeddings(encoder, datasets: dict, parcel_of) -> dict:
    """``{subset: (parcel ids, mean embeddings, majority labels)}``."""
    out = {}
    for subset, data in datasets.items():
        features, labels = embed(encoder, data)
        out[subset] = to_parcels(features, labels, parcel_of(data))
    return out


def run(dataset: str, seeds: list[int], epochs: int, width: int, depth: int, fractions: list[float]):
    cube, unlabelled, split, stats = prepare(dataset)
    n_bands = cube.sizes[cube_format.BAND]
    pixels = {s: PixelSeriesDataset(cube, split, s, stats, seed=0) for s in ("train", "test")}
    ids = {s: np.unique(data.parcel) for s, data in pixels.items()}
    predictions, rows, y_test, n_test, test_parcels = {}, [], None, None, None
    for seed in seeds:
        encoders, series_history = series_encoders(unlabelled, n_bands, seed, epochs, width, depth)
        steps = epochs * (PIXELS // BATCH)
        planes, plane_history, plane_stats, plane_steps = plane_encoders(unlabelled, n_bands, seed, steps, width, depth)
        plane_sets = {s: PlaneDataset.from_cube(cube, extract_planes(cube, ids[s], "random_walk", width=32, height=32,
                                                                     stats=plane_stats, walk_fraction=0.2, seed=seed))
                      for s in ("train", "test")}
        embedded = {f"series {k}": parcel_embeddings(e, pixels, lambda d: d.parcel) for k, e in encoders.items()}
        embedded |= {f"planes {k}": parcel_embeddings(e, plane_sets, lambda d: d.planes.parcel)
                     for k, e in planes.items()}
        common = {s: np.array(sorted(set.intersection(*(set(v[s][0].tolist()) for v in embedded.values()))))
                  for s in ("train", "test")}  # parcels every arm sees (a parcel too small for a walk has no STR)
        if test_parcels is not None and not np.array_equal(common["test"], test_parcels):
            raise RuntimeError(f"seed {seed} scores other test parcels than the first seed: the paired bootstrap "
                               "needs the same test items for every seed")
        test_parcels = common["test"]
        for arm, parts in embedded.items():
            keep = {s: np.isin(parts[s][0], common[s]) for s in parts}
            train_x, train_y = parts["train"][1][keep["train"]], parts["train"][2][keep["train"]]
            test_x, test_y = parts["test"][1][keep["test"]], parts["test"][2][keep["test"]]
            y_test, n_test = test_y, test_y.size
            for fraction, chosen in nested_subsets(train_y, fractions, seed).items():
                predicted = probe("linear", (train_x[chosen], train_y[chosen]), test_x, seed)
                predictions.setdefault(fraction, {}).setdefault(arm, []).append(predicted)
        rows.append({"dataset": dataset, "seed": seed, "series_loss": series_history.train_loss[-1],
                     "plane_loss": plane_history.train_loss[-1], "steps_series": steps,
                     "steps_planes": plane_steps,
                     "train_parcels": common["train"].size, "test_parcels": common["test"].size})
        print(f"{dataset} seed {seed}: SimCLR loss series {series_history.train_loss[0]:.3f} -> "
              f"{series_history.train_loss[-1]:.3f}, planes {plane_history.train_loss[0]:.3f} -> "
              f"{plane_history.train_loss[-1]:.3f}; {common['test'].size} test parcels", flush=True)
    n_classes = len(cube_format.class_names(cube))
    results = []
    for fraction, by_arm in predictions.items():
        boot = bootstrap_scores(y_test, {arm: np.stack(p) for arm, p in by_arm.items()}, n_classes, n_boot=2000)
        for arm in by_arm:
            estimate, low, high = boot.interval(arm)
            results.append({"dataset": dataset, "fraction": fraction, "comparison": arm, "value": estimate,
                            "low": low, "high": high})
        for a, b in (("planes SimCLR", "planes random init"), ("series SimCLR", "series random init"),
                     ("planes SimCLR", "series SimCLR"), ("planes random init", "series random init")):
            difference, low, high = boot.difference(a, b)
            results.append({"dataset": dataset, "fraction": fraction, "comparison": f"{a} − {b}",
                            "value": difference, "low": low, "high": high})
    return pd.DataFrame(results), pd.DataFrame(rows), n_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", nargs="+", default=["default", "hard"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the series arm; the plane arm gets as "
                        "many optimiser steps")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--out", default=None, help="also write the table to this CSV file")
    args = parser.parse_args()
    tables = []
    for dataset in args.dataset:
        table, runs, n_test = run(dataset, args.seeds, args.epochs, args.width, args.depth, args.fractions)
        print(runs.round(3).to_string(index=False))
        print(f"\n{dataset}: parcel-probe macro-F1 over {len(args.seeds)} seeds, {n_test} test parcels "
              "[95 % interval, test parcels and seeds resampled]")
        for _, row in table.iterrows():
            print(f"  {row['fraction']:>5.0%}  {row['comparison']:<42} {row['value']:+.3f} "
                  f"[{row['low']:+.3f}, {row['high']:+.3f}]")
        tables.append(table)
    if args.out:
        pd.concat(tables).to_csv(args.out, index=False)
    print(f"(ln of a batch of {BATCH}: {math.log(2 * BATCH - 1):.3f}, SimCLR's loss without learning)")


if __name__ == "__main__":
    main()
