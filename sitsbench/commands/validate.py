"""``sitsbench validate DATASET --model NAME``: cross-validate a map model (k-fold, repeated, grouped or spatial
blocks) and report every score with its 95 % intervals (:mod:`sitsbench.evaluation.crossval`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sitsbench.commands.train import (
    CLASSICAL,
    DATE_POLICIES,
    DEFAULT_MODEL,
    add_training_options,
    training_options,
)

POLICIES = ("group", "random", "spatial-blocks", "predefined")
"""Must equal :data:`sitsbench.evaluation.crossval.POLICIES` (a test checks it): spelled out so that the command
line starts without importing the library."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate", help="cross-validate a map model on labelled samples: per-fold and pooled scores with 95 %% "
                         "intervals")
    parser.add_argument("dataset", help="a dataset spec (as for `sitsbench train`) with labelled samples")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"a classical estimator ({', '.join(CLASSICAL)}; default "
                        f"{DEFAULT_MODEL}) or a registered classifier of pixel series (as for `sitsbench train`)")
    parser.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    parser.add_argument("--repeats", type=int, default=1, help="repeat the cross-validation with other seeds")
    parser.add_argument("--split-policy", default="group", choices=POLICIES,
                        help="group: whole groups (locations, polygons, parcels) never cut (default); random: single "
                        "samples (optimistic when samples of one location are correlated); spatial-blocks: square "
                        "blocks of --block-size metres (needs the samples' location); predefined: the dataset's test "
                        "split")
    parser.add_argument("--block-size", type=float, help="side of the spatial blocks, in metres")
    add_training_options(parser, "a validation part of the training folds")
    parser.add_argument("--date-policy", choices=DATE_POLICIES, help="as for `sitsbench train`")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates of the pooled intervals")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--record", "--output", type=Path, dest="record",
                        help="write the run record (JSON, with one score row per repeat) here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sitsbench.training.map_training import (
        MapTrainingConfig,
        check_config,
        check_model_name,
        usable_samples,
    )

    check_model_name(args.model)  # before any data is read
    config = MapTrainingConfig(
        model=args.model, date_policy=args.date_policy, progress=False, **training_options(args),
    )
    check_config(config)  # before any data is read: counts, model arguments, date policy
    from sitsbench.data.loading import load_dataset, require_samples
    from sitsbench.evaluation.crossval import (
        cross_validate,
        describe_validation,
        make_protocol,
        record_fields,
    )
    from sitsbench.records import write_run_record

    loaded = load_dataset(args.dataset, seed=args.seed)
    samples, dropped = usable_samples(require_samples(loaded))
    print(f"dataset {loaded.name!r} ({loaded.layout}): {samples.sizes['sample']} samples, "
          f"{len(samples.attrs.get('class_names', []))} classes; model {args.model}")
    if dropped:
        print(f"dropped {dropped} samples with no clear observation")
    protocol = make_protocol(samples, args.split_policy, args.folds, args.repeats, args.seed, args.block_size)
    result = cross_validate(samples, config, protocol, n_boot=args.bootstrap, progress=not args.quiet)
    print(describe_validation(result))
    if args.record is None:
        return 0
    method = f"{args.model} ({protocol.n_folds}-fold CV, {args.split_policy})"
    fields = record_fields(result, loaded.record(), method)
    parameters = {key: value for key, value in vars(args).items() if key not in ("func", "record", "quiet")}
    write_run_record(args.record, name=f"validate-{args.model}", parameters=parameters, metrics=result,
                     seed=args.seed, device=args.device, duration_s=result["train_time_s"], **fields)
    print(f"run record: {args.record}")
    return 0
