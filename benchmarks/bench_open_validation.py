"""The cost of opening a cube with its default validation (every value checked, streamed) vs a bare lazy open.

    .venv/bin/python benchmarks/bench_open_validation.py [--sides 128 256 512]
"""

import argparse
import tempfile
from pathlib import Path

from sitsbench.perf import open_validation_cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[128, 256, 512])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = open_validation_cost(Path(tmp), sides=args.sides)
    print(f"{'side':>6} {'cube MiB':>9} {'bare s':>8} {'validated s':>12} {'MiB/s':>8} {'peak MiB':>9} {'check':>8}")
    for row in rows:
        print(f"{row['side']:>6} {row['cube_mib']:>9.1f} {row['bare_s']:>8.3f} {row['validated_s']:>12.3f} "
              f"{row['validated_mib_per_s']:>8.0f} {row['peak_mib']:>9.1f} {'full' if row['full_check'] else 'sample':>8}")


if __name__ == "__main__":
    main()
