"""``sitsbench results collect|leaderboard|compare|upgrade``: run records gathered into a table, plots and a
leaderboard page; two builds' records compared score by score; records of ``sitsbench validate`` written before
record version 2 given their intervals."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("results", help="gather run records into tables, plots and a leaderboard")
    actions = parser.add_subparsers(dest="action", required=True)
    gather = actions.add_parser("collect", help="one table row per run record found under DIR")
    gather.add_argument("directory", help="folder searched recursively for run records (runs/, _build/runs/)")
    gather.add_argument("--out", default="results.csv",
                        help="table file: .csv, or .parquet when pyarrow is installed (else CSV)")
    gather.add_argument("--scores", help="also write the long table of scores (method, label fraction, metric)")
    gather.add_argument("--plots", help="folder for the label-efficiency and accuracy-vs-time figures")
    gather.add_argument("--allow-corrupt", action="store_true",
                        help="exit with status 0 even when some records cannot be read (they are still listed)")
    gather.set_defaults(func=run_collect)
    board = actions.add_parser("leaderboard", help="the leaderboard page (MyST markdown) of the records under DIR")
    board.add_argument("directory")
    board.add_argument("--out", help="write the page to this file instead of printing it")
    board.set_defaults(func=run_leaderboard)
    compare = actions.add_parser("compare", help="compare the scores of the records under BEFORE and AFTER (two "
                                 "builds of the same chapters with the same seeds)")
    compare.add_argument("before")
    compare.add_argument("after")
    compare.add_argument("--tolerance", type=float, default=0.0,
                         help="largest difference counted as equal (default 0: same-seed CPU runs are identical)")
    compare.add_argument("--out", help="also write the table of every score compared (.csv)")
    compare.set_defaults(func=run_compare)
    upgrade = actions.add_parser("upgrade", help="give records of `sitsbench validate` written before record version "
                                 "2 their intervals and protocol, from the result they kept (nothing is recomputed)")
    upgrade.add_argument("records", nargs="+", help="record files (JSON), rewritten in place")
    upgrade.set_defaults(func=run_upgrade)


def run_collect(args: argparse.Namespace) -> int:
    from sitsbench.results import collect, write_table
    from sitsbench.results.plots import standard_plots

    collection = collect(args.directory)
    for error in collection.errors:
        print(f"unreadable run record: {error}", file=sys.stderr)
    if collection.errors and not args.allow_corrupt:  # before writing anything: existing tables stay as they are
        print(f"{len(collection.errors)} unreadable record(s); fix or remove them, or pass --allow-corrupt",
              file=sys.stderr)
        return 1
    if collection.runs.empty:
        raise ValueError(f"no readable run record under {args.directory}: nothing to write to {args.out}")
    table = write_table(collection.runs, args.out)
    print(f"{len(collection.runs)} runs, {len(collection.scores)} scores -> {table}")
    if args.scores:
        print(f"scores -> {write_table(collection.scores, args.scores)}")
    if args.plots:
        for path in standard_plots(collection.scores, args.plots):
            print(f"plot -> {path}")
    return 0


def run_leaderboard(args: argparse.Namespace) -> int:
    from sitsbench.atomic import write_text
    from sitsbench.results.leaderboard import leaderboard_page

    page = leaderboard_page(args.directory)
    if args.out:
        write_text(args.out, page)
        print(f"leaderboard -> {args.out}")
    else:
        print(page)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Print one line per record and one per score that changed or is in one build only; exit 1 when any did."""
    from sitsbench.results import write_table
    from sitsbench.results.compare import compare_runs

    comparison = compare_runs(args.before, args.after, tolerance=args.tolerance)
    print("\n".join(comparison.summary()))
    if args.out:
        print(f"scores -> {write_table(comparison.scores, args.out)}")
    differs = (comparison.scores["status"] != "equal").any() or (comparison.records["present"] != "both").any()
    return 1 if differs else 0


def run_upgrade(args: argparse.Namespace) -> int:
    from sitsbench.evaluation.crossval import upgrade_record

    for path in args.records:
        print(f"{path}: {'upgraded' if upgrade_record(path) else 'already has its intervals'}")
    return 0
