"""Auto-encoder encoding of zarr cubes, streamed window by window, vs cube size (side x2 per step): encode time
should grow with the pixel count and peak memory stay flat.

    .venv/bin/python benchmarks/bench_ae_encode.py [--sides 32 64 128 256] [--chunk 32] [--model ae_tempconv]
"""

import argparse
import tempfile
from pathlib import Path

from sitsbench.perf import encode_scaling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--chunk", type=int, default=32)
    parser.add_argument("--model", default="ae_tempconv")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = encode_scaling(Path(tmp), sides=args.sides, chunk=args.chunk, model_name=args.model,
                              device=args.device)
    first = rows[0]
    print(f"model {args.model}, chunk {args.chunk}")
    print(f"{'side':>6} {'pixels':>9} {'cube MiB':>9} {'seconds':>8} {'px/s':>9} {'peak MiB':>9} "
          f"{'time ratio':>10} {'pixel ratio':>11} {'memory ratio':>12}")
    for row in rows:
        print(f"{row['side']:>6} {row['pixels']:>9} {row['cube_mib']:>9.1f} {row['seconds']:>8.2f} "
              f"{row['pixels_per_s']:>9.0f} {row['peak_mib']:>9.1f} {row['seconds'] / first['seconds']:>10.2f} "
              f"{row['pixels'] / first['pixels']:>11.0f} {row['peak_mib'] / first['peak_mib']:>12.2f}")


if __name__ == "__main__":
    main()
