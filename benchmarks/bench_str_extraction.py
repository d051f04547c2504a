"""STR extraction speed: the vectorised extractor of sitsbench.planes vs a naive loop over each curve pixel
(per pixel and band: gap filling with np.interp, percentile scaling), on the same parcels, curves and cube,
in the same run. The two must give the same planes; the measurement checks it before printing the ratio.

    .venv/bin/python benchmarks/bench_str_extraction.py [--parcels 40] [--kinds random_walk hilbert] [--width 32]
"""

import argparse

from sitsbench.perf import str_extraction_speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--parcels", type=int, default=40, help="number of parcels (the first ids)")
    parser.add_argument("--kinds", nargs="+", default=["random_walk", "hilbert"])
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = str_extraction_speed(args.kinds, args.parcels, args.width, args.height, args.preset, args.seed)
    for row in rows:
        print(f"{row['kind']:>12}: {row['parcels']} parcels, {row['strs']} STRs, outputs identical; "
              f"vectorised {row['vectorised_s']:.3f} s ({row['strs_per_s']:.0f} STRs/s), "
              f"naive {row['naive_s']:.3f} s; speed-up (same run) {row['speed_up']:.1f}x")


if __name__ == "__main__":
    main()
