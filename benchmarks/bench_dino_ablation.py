"""DINO ablation: each option of the reference implementation (Caron et al. 2021) alone and all together, on pixel
series and on Deep-STaR plane views of the synthetic default landscape (chapter 5's quick settings).

For each variant: the teacher entropy of the last epoch (nats; ln K = uniform teacher), the last loss against ln K,
the linear-probe macro-F1 of the pretrained encoder and of the same architecture at random initialisation
(pixels: 10 % and 100 % of the training pixels; planes: parcel probe on the averaged STR embeddings).

    .venv/bin/python benchmarks/bench_dino_ablation.py [--seeds 0 1] [--epochs 10] [--views pixels planes]
                                                      [--out dino_ablation.csv]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import fields, replace

import numpy as np
import pandas as pd

from sitsbench.data import cube as cube_format
from sitsbench.data.datasets import PixelSeriesDataset
from sitsbench.data.normalize import BandStats
from sitsbench.data.splits import split_mask, split_parcels
from sitsbench.data.synthetic import generate_cube
from sitsbench.evaluation import embed, parcel_probe, probe_scores
from sitsbench.models import create_model
from sitsbench.planes import PlaneDataset, extract_planes
from sitsbench.runtime import seed_everything
from sitsbench.ssl import PRETRAINING, PretrainConfig, UnlabeledPlaneDataset, pretrain
from sitsbench.training import TrainConfig

EARLIER = dict(norm_last_layer=False, teacher_temp=0.04, teacher_temp_start=None, teacher_warmup=0.0,
               teacher_mode="eval", schedule="constant", warmup=0.0, min_lr=0.0, weight_decay=1e-4,
               weight_decay_end=1e-4)
"""The settings DINO had before it followed the reference (trained gain, fixed teacher temperature 0.04, teacher
BatchNorm on running statistics, constant learning rate and weight decay: ``weight_decay_end`` equal to
``weight_decay``, since ``None`` would take DINO's recipe): the ablation's starting point."""
REFERENCE = {
    "gain 1": dict(norm_last_layer=True),
    "teacher temp warm-up": dict(teacher_temp=0.07, teacher_temp_start=0.04, teacher_warmup=0.3),
    "lr warm-up + cosine, wd schedule": dict(schedule="warmup_cosine", warmup=0.1, min_lr=1e-6, weight_decay=0.04,
                                            weight_decay_end=0.4),
    "teacher BN in train mode": dict(teacher_mode="train"),
}
"""The reference's choices (its recommended ViT settings for the temperatures), each a :class:`PretrainConfig`
change of :data:`EARLIER`; all four together are the library's defaults."""
VARIANTS = {"earlier settings": EARLIER, **{f"+ {k}": {**EARLIER, **v} for k, v in REFERENCE.items()},
            "reference (all four; default)": {}}
PLANE_BANDS = ["B08", "B04", "B03"]


def variant_config(change: dict, train: TrainConfig, **fixed) -> PretrainConfig:
    """The :class:`PretrainConfig` of a variant: ``fixed`` and ``change``, whose training-loop knobs go to
    ``train``."""
    loop = {f.name for f in fields(TrainConfig)}
    return PretrainConfig(**fixed, **{k: v for k, v in change.items() if k not in loop},
                          train=replace(train, **{k: v for k, v in change.items() if k in loop}))


def pixel_runs(cube, seed: int, epochs: int) -> list[dict]:
    split = split_parcels(cube, seed=seed, by="block", block_size=32)
    stats = BandStats.from_cube(cube, split_mask(split, "train"))
    probe_sets = {s: PixelSeriesDataset(cube, split, s, stats, max_pixels=2000, seed=seed) for s in ("train", "test")}
    unlabelled = cube.drop_vars([n for n in (cube_format.CLASS, cube_format.PARCEL, "change") if n in cube])
    seed_everything(seed)
    encoders = {"random init": create_model("transformer_tiny", cube.sizes[cube_format.BAND], 0).eval()}
    histories = {}
    for name, change in VARIANTS.items():
        train = replace(PRETRAINING, epochs=epochs, batch_size=128, lr=1e-3, seed=seed, progress=False)
        config = variant_config(change, train, max_pixels=2000, n_local=4, local_dates=12)
        encoders[name], histories[name] = pretrain(unlabelled, "dino", "transformer_tiny", config)
    features = {name: tuple(embed(encoder, probe_sets[s])[0] for s in ("train", "test"))
                for name, encoder in encoders.items()}
    rows, _ = probe_scores(features, probe_sets["train"].y, probe_sets["test"].y, "synthetic", fractions=(0.1, 1.0),
                           probes=("linear",), seed=seed)
    macro_f1 = pd.DataFrame(rows).query("metric == 'macro_f1'").set_index(["label_fraction", "encoder"])["value"]
    rows = []
    for name, history in histories.items():
        row = {"views": "pixel series", "variant": name, "seed": seed,
               "teacher_entropy": history.monitors["teacher_entropy"][-1], "loss": history.train_loss[-1]}
        for fraction in (0.1, 1.0):
            value = float(macro_f1[fraction, name])
            row[f"probe_f1_{fraction:g}"] = value
            row[f"gain_vs_random_{fraction:g}"] = value - float(macro_f1[fraction, "random init"])
        rows.append(row)
    return rows


def plane_runs(cube, seed: int, epochs: int) -> list[dict]:
    split = split_parcels(cube, seed=seed, by="block", block_size=32)
    plane_cube = cube.sel({cube_format.BAND: PLANE_BANDS}).drop_vars([n for n in (cube_format.CLASS, "change") if n in cube])
    views = UnlabeledPlaneDataset(plane_cube, width=32, local_width=16, n_local=2, height=32, seed=seed)
    ids = {s: np.unique(np.asarray(cube[cube_format.PARCEL].values)[split_mask(split, s)]) for s in ("train", "test")}
    probe_sets = {s: PlaneDataset.from_cube(cube, extract_planes(cube.sel({cube_format.BAND: PLANE_BANDS}), parcels,
                                                                 "random_walk", width=32, height=32,
                                                                 stats=views.stats, walk_fraction=0.2, seed=seed))
                  for s, parcels in ids.items()}
    vit = dict(img_size=(32, 32), depth=2, dynamic_img_size=True)
    seed_everything(seed)
    random_f1 = parcel_probe(create_model("plane_vit_tiny", len(PLANE_BANDS), 0, **vit).eval(),
                             probe_sets["train"], probe_sets["test"])["macro_f1"]
    rows = []
    for name, change in VARIANTS.items():
        train = replace(PRETRAINING, epochs=epochs, batch_size=64, lr=1e-3, seed=seed, progress=False)
        config = variant_config(change, train, n_local=2, plane_width=32, plane_local_width=16, plane_height=32,
                                backbone_kwargs=vit)
        encoder, history = pretrain(plane_cube, "dino", "plane_vit_tiny", config)
        f1 = parcel_probe(encoder, probe_sets["train"], probe_sets["test"])["macro_f1"]
        rows.append({"views": "planes", "variant": name, "seed": seed,
                     "teacher_entropy": history.monitors["teacher_entropy"][-1], "loss": history.train_loss[-1],
                     "probe_f1_1": f1, "gain_vs_random_1": f1 - random_f1})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--views", nargs="+", choices=("pixels", "planes"), default=["pixels", "planes"])
    parser.add_argument("--out", default=None, help="also write the table to this CSV file")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        cube = generate_cube("default", seed=seed)
        if "pixels" in args.views:
            rows += pixel_runs(cube, seed, args.epochs)
        if "planes" in args.views:
            rows += plane_runs(cube, seed, args.epochs)
    table = pd.DataFrame(rows)
    print(f"ln K = {math.log(4 * PretrainConfig().head_dim):.3f} (uniform teacher / loss of uniform outputs)")
    summary = table.drop(columns="seed").groupby(["views", "variant"], sort=False).mean()
    print(summary.round(3).to_string())
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
