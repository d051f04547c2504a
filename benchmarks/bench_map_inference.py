"""Map inference cost and memory vs cube size (x4 pixels per step): cost should grow linearly, memory stay flat.

    .venv/bin/python benchmarks/bench_map_inference.py [--sides 64 128 256 512] [--chunk 64]
"""

import argparse
import tempfile
from pathlib import Path

from sitsbench.perf import map_inference_scaling, scaling_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--chunk", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = map_inference_scaling(Path(tmp), sides=args.sides, chunk=args.chunk)
    print(scaling_table(rows))


if __name__ == "__main__":
    main()
