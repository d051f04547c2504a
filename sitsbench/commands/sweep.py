"""``sitsbench sweep CONFIG.yaml``: run a grid of notebook parameters with papermill (resumable, parallel)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sweep", help="execute a notebook over a grid of parameters (papermill)")
    parser.add_argument("config", help="sweep YAML: name, notebook, parameters, grid (see sweeps/example.yaml)")
    parser.add_argument("--jobs", type=int, default=1, help="runs executed at once by local processes")
    parser.add_argument("--scheduler", help="address of a dask.distributed scheduler (e.g. tcp://host:8786)")
    parser.add_argument("--retries", type=int, default=1, help="extra attempts for a failed run")
    parser.add_argument("--runs-dir", default="runs", help="runs are written to RUNS_DIR/<sweep name>/")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sitsbench.sweep import run_sweep

    summary = run_sweep(args.config, runs_dir=args.runs_dir, jobs=args.jobs, scheduler=args.scheduler,
                        retries=args.retries, progress=not args.no_progress)
    print(summary.report(), file=sys.stdout if summary.ok else sys.stderr)
    return 0 if summary.ok else 1
