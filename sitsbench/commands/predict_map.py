"""``sitsbench predict-map``: a land-cover map of a cube on disk with a trained model folder, chunk by chunk."""

from __future__ import annotations

import argparse
from pathlib import Path

UNCERTAINTIES = ("entropy", "margin")
"""Must equal :data:`sitsbench.inference.map.UNCERTAINTIES` (a test checks it): spelled out so that the command
line starts without importing torch and xarray."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict-map", help="classify every pixel of a cube into a georeferenced class + confidence map"
    )
    parser.add_argument("cube", type=Path, help="cube written by `sitsbench synthetic` or save_cube (.zarr/.nc), a "
                        "folder of per-date rasters, or a raster stack with <name>.dates.txt beside it")
    parser.add_argument("--model", type=Path, required=True, help="model folder written by `sitsbench train`")
    parser.add_argument("--output", type=Path, required=True,
                        help="map.tif (cloud-optimised GeoTIFFs: map.tif = classes, map.confidence.tif, ...) or "
                        "map.zarr; an interrupted run resumes from OUTPUT.partial.zarr")
    parser.add_argument("--chunk", type=int, default=256, help="window size in pixels (memory grows with it)")
    parser.add_argument("--probabilities", action="store_true", help="also write the per-class probabilities")
    parser.add_argument("--uncertainty", choices=UNCERTAINTIES,
                        help="also write an uncertainty layer: normalised entropy, or 1 - (best - second best)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing map, any of its layer files (map.confidence.tif, ...) or a "
                        "partial map made from another cube, model or options")
    parser.add_argument("--no-spectral-check", action="store_true",
                        help="skip the comparison of the cube's spectra with the model's training spectra (which "
                        "refuses permuted, mislabelled or rescaled bands): for a cube you know holds the model's "
                        "bands but land covers the training data lacked")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--scheduler", help="dask.distributed scheduler address, e.g. tcp://10.0.0.1:8786")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sitsbench.inference.map import predict_map
    from sitsbench.inference.model_folder import MapModel

    model = MapModel.load(args.model, device=args.device)
    result = predict_map(args.cube, model, args.output, chunk=args.chunk, scheduler=args.scheduler,
                         progress=not args.quiet, probabilities=args.probabilities, uncertainty=args.uncertainty,
                         overwrite=args.overwrite, check_spectra=not args.no_spectral_check)
    labelled = float((result["class"] >= 0).mean())
    print(f"wrote {args.output}: {result.sizes['y']} x {result.sizes['x']} px, {labelled:.1%} of pixels classified "
          f"by {model.model_name} ({args.model})")
    return 0
