"""Time of one SimCLR and one DINO pretraining epoch relative to a supervised epoch of the same backbone.

    .venv/bin/python benchmarks/bench_ssl_epoch.py [--backbone transformer_tiny] [--pixels 2048] [--device auto]
"""

import argparse

from sitsbench.perf import ssl_epoch_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="transformer_tiny")
    parser.add_argument("--pixels", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    rows = ssl_epoch_times(args.backbone, args.pixels, args.batch_size, args.epochs, args.device)
    for row in rows:
        print(f"{row['method']:>10} ({row['backbone']} on {row['device']}): {row['seconds_per_epoch']:6.2f} s/epoch "
              f"for {args.pixels} pixels, time vs supervised epoch {row['time_vs_supervised']:.2f}")


if __name__ == "__main__":
    main()
