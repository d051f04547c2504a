"""STR extraction speed: the vectorised extractor of sitsbench.planes vs a naive loop over each curve pixel
(per pixel and band: gap filling with np.interp, percentile scaling), on the same parcels, curves and cube,
in the same run. The two must give the same planes; the script checks it before printing the ratio.

    .venv/bin/python benchmarks/bench_str_extraction.py [--parcels 40] [--kind random_walk] [--width 32]
"""

import argparse
import time

import numpy as np

from sitsbench.data import cube as C
from sitsbench.data.normalize import BandStats
from sitsbench.data.synthetic import generate_cube
from sitsbench.data.timeops import relative_days
from sitsbench.planes.extract import draw_curves, extract_planes, parcel_boxes


def naive_planes(cube, parcels, kind, width, height, bands, stats, seed):
    """Reference implementation: one Python iteration per (STR, column, band)."""
    reflectance = cube[C.REFLECTANCE].sel({C.BAND: bands}).values
    valid = cube[C.VALID].values
    parcel_map = cube[C.PARCEL].values
    days = relative_days(cube[C.TIME].values).astype(float)
    target = np.linspace(days[0], days[-1], height)
    index = [stats.bands.index(b) for b in bands]
    low, high = stats.low[index], stats.high[index]
    boxes = parcel_boxes(parcel_map)
    planes = []
    for parcel_id in parcels:
        r0, r1, c0, c1 = boxes[parcel_id]
        mask = parcel_map[r0:r1, c0:c1] == parcel_id
        lines = draw_curves(mask, kind, width, np.random.default_rng([seed, parcel_id]))
        for line in lines:
            plane = np.zeros((len(bands), height, width), dtype=np.float32)
            for j, (r, c) in enumerate(line):
                clear = valid[:, r0 + r, c0 + c]
                if not clear.any():
                    continue
                for b in range(len(bands)):
                    series = np.interp(target, days[clear], reflectance[clear, b, r0 + r, c0 + c])
                    plane[b, :, j] = np.clip((series - low[b]) / (high[b] - low[b]), 0.0, 1.0)
            planes.append(plane)
    return np.stack(planes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--parcels", type=int, default=40, help="number of parcels (the first ids)")
    parser.add_argument("--kind", default="random_walk")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cube = generate_cube(args.preset, seed=args.seed)
    bands = ["B08", "B04", "B03"]
    stats = BandStats.from_cube(cube, cube[C.PARCEL].values > 0)
    parcels = sorted(parcel_boxes(cube[C.PARCEL].values))[: args.parcels]
    options = dict(kind=args.kind, width=args.width, height=args.height, bands=bands, stats=stats, seed=args.seed)
    start = time.perf_counter()
    fast = extract_planes(cube, parcels, **options)
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    slow = naive_planes(cube, parcels, args.kind, args.width, args.height, bands, stats, args.seed)
    slow_s = time.perf_counter() - start
    np.testing.assert_allclose(fast.values, slow, rtol=1e-4, atol=1e-5)
    n = len(fast)
    print(f"cube {args.preset} {dict(cube.sizes)}, {len(parcels)} parcels, {n} STRs of {fast.values.shape[1:]} "
          f"({args.kind}); outputs identical")
    print(f"vectorised: {fast_s:8.3f} s  {n / fast_s:10.0f} STRs/s")
    print(f"naive loop: {slow_s:8.3f} s  {n / slow_s:10.0f} STRs/s")
    print(f"speed-up (same run): {slow_s / fast_s:.1f}x")


if __name__ == "__main__":
    main()
