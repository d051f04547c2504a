"""``sitsbench predict-map``: a land-cover map of a cube on disk, chunk by chunk, resumable."""

from __future__ import annotations

import argparse
from pathlib import Path

from sitsbench.inference.map import predict_map
from sitsbench.inference.predictors import ForestPredictor, TorchPredictor


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict-map", help="classify every pixel of a cube into a zarr class + confidence map"
    )
    parser.add_argument("cube", type=Path, help="cube written by `sitsbench synthetic` or save_cube (.zarr/.nc), a "
                        "folder of per-date rasters, or a raster stack with <name>.dates.txt beside it")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", type=Path, help="torch checkpoint saved with band_stats (series model)")
    model.add_argument("--forest", type=Path, help="pickled ForestPredictor (Random Forest baseline)")
    parser.add_argument("--output", type=Path, required=True, help="output zarr store (resumed if it exists)")
    parser.add_argument("--chunk", type=int, default=256, help="window size in pixels (memory grows with it)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--scheduler", help="dask.distributed scheduler address, e.g. tcp://10.0.0.1:8786")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.checkpoint:
        predictor = TorchPredictor.from_checkpoint(args.checkpoint, device=args.device)
    else:
        predictor = ForestPredictor.load(args.forest)
    result = predict_map(args.cube, predictor, args.output, chunk=args.chunk, scheduler=args.scheduler)
    labelled = float((result["class"] >= 0).mean())
    print(f"wrote {args.output}: {dict(result.sizes)}, {labelled:.1%} of pixels classified")
    return 0
