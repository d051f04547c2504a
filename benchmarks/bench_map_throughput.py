"""Map inference throughput per model (pixels/s, CPU or CUDA) and the time of one Sentinel-2 tile at that rate.

    .venv/bin/python benchmarks/bench_map_throughput.py [--side 256] [--dates 30] [--device auto]
"""

import argparse
import tempfile
from pathlib import Path

from sitsbench.perf import S2_TILE_PIXELS, map_throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--dates", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", nargs="+", default=["rf", "tempcnn_small", "ltae_small", "transformer_small"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = map_throughput(Path(tmp), models=args.models, side=args.side, n_dates=args.dates, chunk=args.chunk,
                              device=args.device)
    first = rows[0]
    print(f"{args.side} x {args.side} px, {args.dates} dates, 10 bands; one Sentinel-2 tile = {S2_TILE_PIXELS:,} px")
    print(f"{'model':>18} {'device':>7} {'px/s':>9} {'vs ' + first['model']:>8} {'peak MiB':>9} {'tile hours':>11}")
    for row in rows:
        print(f"{row['model']:>18} {row['device']:>7} {row['pixels_per_s']:>9.0f} "
              f"{row['pixels_per_s'] / first['pixels_per_s']:>8.2f} {row['peak_mib']:>9.1f} {row['s2_tile_hours']:>11.1f}")


if __name__ == "__main__":
    main()
