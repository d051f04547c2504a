"""``sitsbench pretrain DATASET [DATASET ...] --method METHOD --encoder NAME --output DIR``: self-supervised
pretraining on an archive streamed window by window, in one process or under ``torchrun`` (several processes, CPUs
or GPUs, one or several machines), written as a self-describing encoder folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from sitsbench.commands.train import json_object

METHODS = ("simclr", "dino", "byol", "vicreg", "barlow", "masked")
PRECISIONS = ("fp32", "bf16")
"""Must equal :data:`sitsbench.ssl.pretrain.METHODS` and :data:`sitsbench.training.engine.PRECISIONS` (a test checks
it): spelled out so that the command line starts without importing torch."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pretrain", help="self-supervised pretraining (SimCLR, DINO, BYOL, VICReg, Barlow Twins, masked series) of an encoder on unlabelled series, streamed "
        "from one or several datasets; runs under torchrun for several processes/GPUs",
        description=__doc__.splitlines()[0] + " Example: torchrun --nproc-per-node 2 -m sitsbench pretrain "
        "c.zarr --method dino --encoder ltae_small --output enc --steps 100")
    parser.add_argument("datasets", nargs="+", metavar="DATASET",
                        help="dataset specs (cube .zarr/.nc, raster folder, sample table, sits .rda, synthetic preset, "
                        "manifest NAME[:ROOT]); several form one archive; labels are never read")
    parser.add_argument("--method", choices=METHODS, default="simclr")
    parser.add_argument("--encoder", default="ltae_small", help="a registered series classifier whose encoder is "
                        "pretrained (ltae_small, transformer_small, tempcnn, ...)")
    parser.add_argument("--output", type=Path, required=True, help="encoder folder to write")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="optimiser steps (default 1000 when --epochs is not given)")
    length.add_argument("--epochs", type=float, help="passes over the archive's series (converted to steps)")
    parser.add_argument("--batch-size", type=int, default=256, help="global batch (all processes together)")
    parser.add_argument("--lr", type=float, help="learning rate (default: the method's recipe, 1e-3 for each)")
    parser.add_argument("--method-args", help="JSON object of arguments of the method (e.g. '{\"mask_ratio\": 0.3}' "
                        "for masked, '{\"lambd\": 0.01}' for barlow)")
    parser.add_argument("--encoder-args", help="JSON object of extra arguments of the encoder")
    parser.add_argument("--window", type=int, default=32, help="side of the windows read from cubes (pixels); "
                        "samples are read in blocks of window x window series")
    parser.add_argument("--shards", type=int, default=8, help="virtual shards of the archive (a multiple of the "
                        "number of processes; the batch size a multiple of it); runs with any number of processes "
                        "dividing it see the same batches")
    parser.add_argument("--buffer", type=int, default=2048, help="shuffle buffer of each shard (series)")
    parser.add_argument("--log-every", type=int, default=10, help="steps per point of the loss curve and monitors")
    parser.add_argument("--checkpoint-every", type=int, default=100,
                        help="steps between checkpoints (taken at the end of a log interval)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: bfloat16 autocast of the forward pass (CUDA); weights stay in float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda; under torchrun "
                        "each process takes the GPU of its LOCAL_RANK")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing encoder folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from sitsbench.ssl.pretrain import PRETRAINING, PretrainConfig, StreamConfig, pretrain_archive

    for name in ("batch_size", "window", "shards", "buffer", "log_every", "checkpoint_every"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    steps = args.steps if args.steps is not None or args.epochs is not None else 1000
    train = replace(PRETRAINING, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                    precision=args.precision, progress=not args.quiet)
    config = PretrainConfig(train=train, backbone_kwargs=json_object(args.encoder_args, "--encoder-args"),
                            method_args=json_object(args.method_args, "--method-args"))
    stream = StreamConfig(steps=steps, epochs=args.epochs, window=args.window, shards=args.shards,
                          buffer=args.buffer, log_every=args.log_every, checkpoint_every=args.checkpoint_every)
    summary = pretrain_archive(args.datasets, args.output, args.method, args.encoder, config, stream,
                               overwrite=args.overwrite, resume=args.resume)
    if summary["rank"] == 0:
        curve = summary["history"]["train_loss"]
        print(f"wrote {args.output}: {args.method} {args.encoder}, {summary['steps']} steps on "
              f"{summary['world_size']} process(es), {summary['series_per_s']:.0f} series/s, loss {curve[0]:.3f} -> "
              f"{curve[-1]:.3f}")
    return 0
