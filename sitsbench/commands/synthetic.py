"""``sitsbench synthetic``: generate a synthetic cube and write it to disk (zarr or NetCDF)."""

from __future__ import annotations

import argparse
from pathlib import Path

PRESET_NAMES = ("default", "hard", "large", "toy")
"""Must equal the keys of :data:`sitsbench.data.synthetic.PRESETS` (a test checks it): spelled out so that the
command line starts without importing NumPy and xarray."""
PIXEL_SIZE = 10.0
"""Metres per pixel of a georeferenced synthetic cube (Sentinel-2's finest resolution)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("synthetic", help="generate a synthetic SITS cube and save it")
    parser.add_argument("output", type=Path, help="output path (.zarr or .nc)")
    parser.add_argument("--preset", default="default", choices=PRESET_NAMES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, help="height and width in pixels (overrides the preset)")
    parser.add_argument("--dates", type=int, help="number of Sentinel-2 dates (overrides the preset)")
    parser.add_argument("--chunks", type=int, help="render lazily in chunks of this many pixels")
    parser.add_argument("--change-fraction", type=float, default=0.0)
    parser.add_argument("--crs", default="EPSG:32631",
                        help="place the landscape on the ground in this CRS, 10 m pixels from --origin (a fictitious "
                        "place, so that maps made from it open in any GIS); 'none' keeps pixel indices")
    parser.add_argument("--origin", default="600000,5000000", help="x,y of the upper-left corner in the CRS")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file or folder at OUTPUT")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sitsbench.data.io import save_cube
    from sitsbench.data.synthetic import generate_cube

    if args.output.exists() and not args.overwrite:
        raise FileExistsError(f"{args.output} already exists: choose another path or pass --overwrite")
    if args.chunks is not None and args.chunks < 1:
        raise ValueError(f"--chunks must be a positive number of pixels, got {args.chunks}")
    overrides = {"seed": args.seed, "change_fraction": args.change_fraction}
    if args.size is not None:
        overrides.update(height=args.size, width=args.size)
    if args.dates is not None:
        overrides["n_dates"] = args.dates
    cube = generate_cube(args.preset, chunks=args.chunks, **overrides)
    if args.crs.lower() != "none":
        from affine import Affine

        from sitsbench.data.georef import georeference

        try:
            x0, y0 = (float(v) for v in args.origin.split(","))
        except ValueError as error:
            raise ValueError(f"--origin must be two numbers 'x,y', got {args.origin!r}") from error
        cube = georeference(cube, args.crs, Affine(PIXEL_SIZE, 0.0, x0, 0.0, -PIXEL_SIZE, y0))
    path = save_cube(cube, args.output, overwrite=args.overwrite)
    print(f"wrote {path} ({dict(cube.sizes)})")
    return 0
