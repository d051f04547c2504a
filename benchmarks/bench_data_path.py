"""Data path: cube on disk (zarr, window by window) -> standardised pixel batches, vs a raw NumPy memmap read.

    .venv/bin/python benchmarks/bench_data_path.py [--side 256]
"""

import argparse
import tempfile
from pathlib import Path

from sitsbench.perf import data_path_throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = data_path_throughput(Path(tmp), side=args.side)
    print(f"cube -> batches: {result['cube_pixels_per_s']:,.0f} pixels/s")
    print(f"raw memmap read: {result['memmap_pixels_per_s']:,.0f} pixels/s")
    print(f"ratio (cube time / memmap time): {result['cube_over_memmap_time']:.2f}")
    print(f"where the cube path's {result['cube_s']:.3f} s go: zarr read + decompression {result['read_s']:.3f} s, "
          f"standardised series {result['prepare_s']:.3f} s (the memmap baseline: {result['memmap_s']:.3f} s)")
    print(f"the same windows through a dask-backed dataset: {result['dask_read_s']:.3f} s to read")


if __name__ == "__main__":
    main()
