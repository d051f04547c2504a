"""Auto-encoder encoding of zarr cubes, streamed window by window, vs cube size (side x2 per step): encode time
should grow with the pixel count and peak memory stay flat.

    .venv/bin/python benchmarks/bench_ae_encode.py [--sides 32 64 128 256] [--chunk 32] [--model ae_tempconv]
"""

import argparse
import tempfile
from pathlib import Path

from sitsbench.perf import encode_scaling, scaling_table


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
    print(f"model {args.model}, chunk {args.chunk}")
    print(scaling_table(rows))


if __name__ == "__main__":
    main()
