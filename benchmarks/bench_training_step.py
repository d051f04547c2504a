"""Training throughput (samples/s) of the series baselines on random batches, relative to the first model.

    .venv/bin/python benchmarks/bench_training_step.py [--device auto|cpu|cuda] [--batch-size 256]
"""

import argparse

from sitsbench.perf import training_step_throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--models", nargs="+", default=["tempcnn_small", "ltae_small", "transformer_small", "gru_small"])
    args = parser.parse_args()
    rows = training_step_throughput(args.models, batch_size=args.batch_size, device=args.device)
    first = rows[0]["model"]
    for row in rows:
        print(f"{row['model']:>18} on {row['device']}: {row['samples_per_s']:>9,.0f} samples/s "
              f"({row['parameters']:,} parameters), speed vs {first} {row[f'speed_vs_{first}']:.2f}")


if __name__ == "__main__":
    main()
