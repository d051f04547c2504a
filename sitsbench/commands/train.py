"""``sitsbench train DATASET --model NAME --output DIR``: fit a map model and write its self-describing folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DATE_POLICIES = ("resample", "exact", "doy", "days")
CLASSICAL = ("rf", "svm", "lightgbm")
DEFAULT_MODEL = "rf"
PROBES = ("linear", "mlp", "finetune")
"""Must equal :data:`sitsbench.inference.dates.DATE_POLICIES`, the names of
:data:`sitsbench.models.classical.CLASSICAL`, :data:`sitsbench.models.classical.DEFAULT_MODEL` and
:data:`sitsbench.training.map_training.PROBES` (a test checks it): spelled out so that the command line starts without
importing torch or scikit-learn."""


def json_object(text: str | None, option: str) -> dict:
    """The JSON object given to a command-line ``option`` (``{}`` when absent); anything else is a clear error."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{option} must be a JSON object such as '{{\"dropout\": 0.2}}': {error}") from error
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


def check_output_folder(path: Path, overwrite: bool) -> None:
    """Refuse, before any work, an ``--output`` that cannot become the folder: an existing file (with or without
    ``--overwrite``: a folder never replaces a file) or an existing folder without ``--overwrite``."""
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"--output {path} is an existing file, not a folder: choose another --output")
    if path.exists() and not overwrite:  # never an hour of training for nothing
        raise FileExistsError(f"{path} already exists: choose another --output or pass --overwrite")


def fractions(text: str) -> tuple[float, float, float]:
    """``--fractions TRAIN,VAL,TEST``: three non-negative numbers summing to 1, else a clear error."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or any(not v >= 0 for v in values) or abs(sum(values) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(f"expected three non-negative numbers summing to 1 such as 0.6,0.2,0.2, "
                                         f"got {text!r}")
    return values


def add_training_options(parser: argparse.ArgumentParser, stopping: str) -> None:
    """The knobs of a map model's training (``train`` and ``validate``); a network stops early on ``stopping``."""
    parser.add_argument("--epochs", type=int, help=f"epochs of a network, early stopping on {stopping} (default: "
                        "the network's reference-like recipe, e.g. 150; sitsbench.models.registry.TrainingRecipe)")
    parser.add_argument("--batch-size", type=int, help="default: the network's recipe")
    parser.add_argument("--lr", type=float, help="default: the network's recipe")
    parser.add_argument("--patience", type=int, help="epochs without validation improvement before stop (default: "
                        "the network's recipe, e.g. 20)")
    parser.add_argument("--trees", type=int, default=100, help="trees of the Random Forest")
    parser.add_argument("--model-args", help="JSON object of extra arguments of the network or estimator")


def training_options(args: argparse.Namespace) -> dict:
    """The :class:`~sitsbench.training.map_training.MapTrainingConfig` knobs of :func:`add_training_options`'
    options, and the seed and device."""
    return dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
                rf_trees=args.trees, model_kwargs=json_object(args.model_args, "--model-args"), seed=args.seed,
                device=args.device)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a map model (Random Forest, SVM, LightGBM or a registered series network) on labelled "
        "samples")
    parser.add_argument("dataset", help="a dataset spec: synthetic preset, NAME[:ROOT] of a manifest, or a path "
                        "(cube .zarr/.nc, raster folder with labelled points, sample table, sits .rda, ...)")
    parser.add_argument("--model", help=f"a classical estimator on the flattened series ({', '.join(CLASSICAL)}; "
                        f"default {DEFAULT_MODEL}: Random Forest) or a registered series network (tempcnn, ltae, tae, "
                        "mlp, resnet, inceptiontime, lstm, ...; `python -c \"from sitsbench.training.map_training import "
                        "map_model_names; print(map_model_names())\"`)")
    parser.add_argument("--encoder", type=Path, help="an encoder folder written by `sitsbench pretrain`: the model is "
                        "that encoder with a new head, fed the encoder's bands, normalisation and dates")
    parser.add_argument("--probe", choices=PROBES, default="linear", help="with --encoder: linear or mlp head on the "
                        "frozen encoder, or finetune the whole network (encoder at a tenth of the learning rate)")
    parser.add_argument("--output", type=Path, required=True, help="model folder to write")
    add_training_options(parser, "the validation part")
    parser.add_argument("--split-policy", default="auto", choices=("auto", "predefined", "group", "random", "none"),
                        help="auto: the dataset's split when it keeps groups apart, else by group; random: per "
                        "sample (optimistic when samples of one location are correlated); none: train on every "
                        "labelled sample (a production model, no test score)")
    parser.add_argument("--fractions", type=fractions, default=(0.6, 0.2, 0.2), metavar="TRAIN,VAL,TEST",
                        help="shares of the group and random split policies (default 0.6,0.2,0.2)")
    parser.add_argument("--hold-out-val", action="store_true", help="a model without early stopping (the classical "
                        "estimators: rf, svm, lightgbm) leaves the validation part out of its training (default: it "
                        "trains on train+val)")
    parser.add_argument("--date-policy", choices=DATE_POLICIES,
                        help="how new dates are fed to the model (default: doy for L-TAE/transformers, else resample)")
    parser.add_argument("--max-train-samples", type=int, help="subsample the training samples (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing model folder")
    parser.add_argument("--strict", action="store_true", help="refuse samples with no clear observation (all dates "
                        "cloudy, no data or NaN) instead of dropping them (their count is printed and recorded)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sitsbench.data.loading import load_dataset, require_samples
    from sitsbench.intervals import describe_scores
    from sitsbench.records import make_run_record
    from sitsbench.training.map_training import (
        MapTrainingConfig,
        check_config,
        check_model_name,
        train_map_model,
    )

    check_output_folder(args.output, args.overwrite)
    if args.encoder is not None and args.model is not None:
        raise ValueError("give either --model or --encoder: with --encoder the model is the pretrained encoder's")
    if args.model is not None:  # before any data is read
        check_model_name(args.model)
    config = MapTrainingConfig(
        model=args.model or (None if args.encoder else DEFAULT_MODEL), encoder=None if args.encoder is None else str(args.encoder), probe=args.probe,
        split_policy=args.split_policy, fractions=args.fractions, refit_on_val=not args.hold_out_val,
        date_policy=args.date_policy, max_train_samples=args.max_train_samples, progress=not args.quiet,
        strict=args.strict, **training_options(args),
    )
    check_config(config)  # before any data is read
    loaded = load_dataset(args.dataset, seed=args.seed)
    samples = require_samples(loaded)
    print(f"dataset {loaded.name!r} ({loaded.layout}): {samples.sizes['sample']} samples, "
          f"{samples.sizes['band']} bands, {len(samples.attrs.get('class_names', []))} classes")
    if args.split_policy == "random":
        print("note: the random split cuts samples one by one, so samples of one location or polygon fall on both "
              "sides: when they are correlated (the usual case) the test score is optimistic; --split-policy group "
              "keeps each group on one side")
    model, summary = train_map_model(samples, config)
    if summary["n_dropped_no_clear"]:
        print(f"dropped {summary['n_dropped_no_clear']} samples with no clear observation (--strict refuses them)")
    for warning in summary["warnings"]:
        print(f"sitsbench train: warning: {warning}", file=sys.stderr)
    if summary["validation_joined"]:
        print(f"{model.model_name} does not stop early: it trained on the training and validation parts together "
              "(--hold-out-val leaves the validation part out)")
    record = make_run_record(
        name=f"train-{model.model_name}", parameters={**summary["config"], "dataset": args.dataset},
        metrics={k: v for k, v in summary.items() if k != "config"}, seed=args.seed, device=args.device,
        duration_s=summary["train_time_s"], dataset=loaded.record(),
    )
    model.training["dataset"] = loaded.record()
    model.save(args.output, overwrite=args.overwrite,
               extra_files={"train_record.json": json.dumps(record, indent=2, sort_keys=True)})
    test = summary.get("test")
    scores = f"test {describe_scores(test)} on {test['n']} samples" if test else "no test split"
    print(f"wrote {args.output}: {model.model_name}, {summary['n_train']} training samples, date policy "
          f"{summary['date_policy']} ({summary['reference_dates']}); {scores}")
    return 0
