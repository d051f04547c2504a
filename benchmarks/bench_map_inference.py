"""Map inference cost and memory vs cube size (x4 pixels per step): cost should grow linearly, memory stay flat.

    .venv/bin/python benchmarks/bench_map_inference.py [--sides 64 128 256 512] [--chunk 64]
"""

import argparse
import tempfile
from pathlib import Path

from sitsbench.perf import map_inference_scaling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--chunk", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = map_inference_scaling(Path(tmp), sides=args.sides, chunk=args.chunk)
    first = rows[0]
    print(f"{'side':>6} {'pixels':>9} {'cube MiB':>9} {'seconds':>8} {'px/s':>9} {'peak MiB':>9} "
          f"{'time ratio':>10} {'pixel ratio':>11} {'memory ratio':>12}")
    for row in rows:
        print(f"{row['side']:>6} {row['pixels']:>9} {row['cube_mib']:>9.1f} {row['seconds']:>8.2f} "
              f"{row['pixels_per_s']:>9.0f} {row['peak_mib']:>9.1f} {row['seconds'] / first['seconds']:>10.2f} "
              f"{row['pixels'] / first['pixels']:>11.0f} {row['peak_mib'] / first['peak_mib']:>12.2f}")


if __name__ == "__main__":
    main()
