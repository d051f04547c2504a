"""``sitsbench evaluate``: score a model folder on a dataset, or a map with reference points (area-weighted)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score a trained model on a dataset split, or a map with reference points (Olofsson 2014)")
    parser.add_argument("model", nargs="?", type=Path, help="model folder written by `sitsbench train`")
    parser.add_argument("dataset", nargs="?", help="dataset spec (as for `sitsbench train`)")
    parser.add_argument("--subset", choices=("auto", "train", "val", "test", "all"), default="auto",
                        help="auto: the test split when DATASET is the training dataset, else all labelled samples")
    parser.add_argument("--map", type=Path, help="map written by `sitsbench predict-map` (.tif or .zarr)")
    parser.add_argument("--reference", type=Path, help="reference points (CSV lon/lat + label, or a vector file) "
                        "drawn as a stratified random sample of the map's classes")
    parser.add_argument("--label", default="label", help="label column of the reference points")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--no-spectral-check", action="store_true",
                        help="skip the comparison of the samples' spectra with the model's training spectra")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--record", type=Path, help="write the run record (JSON) here (default for a model: "
                        "MODEL/evaluations/<dataset>-<subset>.json; for a map: MAP beside, <map>.assessment.json)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.map or args.reference:
        if not (args.map and args.reference) or args.model or args.dataset:
            raise ValueError("map assessment takes --map MAP --reference POINTS (and no model or dataset)")
        return _run_map(args)
    if not (args.model and args.dataset):
        raise ValueError("give MODEL DATASET, or --map MAP --reference POINTS")
    return _run_model(args)


def _write(args: argparse.Namespace, name: str, parameters: dict, metrics: dict, dataset: dict | None,
           scores: list[dict], seed: int = 0) -> None:
    from sitsbench.records import write_run_record

    write_run_record(args.record, name=name, parameters=parameters, metrics=metrics, scores=scores, seed=seed,
                     device=args.device, dataset=dataset)
    print(f"run record: {args.record}")


def _run_model(args: argparse.Namespace) -> int:
    import numpy as np

    from sitsbench.data import samples as samples_format
    from sitsbench.data.loading import load_dataset, require_samples
    from sitsbench.inference.model_folder import MapModel
    from sitsbench.intervals import describe_scores
    from sitsbench.training.map_training import evaluate_map_model

    model = MapModel.load(args.model, device=args.device)
    seed = int(model.training.get("seed", 0))
    loaded = load_dataset(args.dataset, seed=seed)
    samples = require_samples(loaded)
    subset = args.subset
    trained_on = model.training.get("dataset", {}).get("checksum")
    policy = model.training.get("split_policy", "group")
    if subset == "auto":
        subset = "test" if trained_on == loaded.checksum and policy != "none" else "all"
    if subset == "all":
        where = np.ones(samples.sizes[samples_format.SAMPLE], dtype=bool)
    else:
        if trained_on != loaded.checksum or policy == "none":
            raise ValueError(f"--subset {subset} names a part of the training split, but {args.dataset} was not split "
                             "for this model (another dataset, or split policy 'none'): use --subset all")
        split = samples_format.split_samples(samples, policy, fractions=tuple(model.training.get("fractions", (0.6, 0.2, 0.2))),
                                seed=seed)
        where = samples_format.subset_mask(split, subset)
    where &= np.asarray(samples[samples_format.LABEL].values) >= 0
    excluded = 0
    if subset == "train":
        print("note: --subset train scores the samples the model was trained on: not a test score")
    elif model.trained_on is None:
        print(f"note: {args.model} records no training samples (written by an older sitsbench): samples it was "
              "trained on cannot be recognised and would be scored")
    else:  # recognised by content, whatever the file: a training sample is never scored as a test sample
        seen = where & np.isin(samples_format.content_hashes(samples), model.trained_on)
        excluded = int(seen.sum())
        if excluded == int(where.sum()):
            raise ValueError(f"all {excluded} labelled samples of {args.dataset} [{subset}] were used to train "
                             f"{args.model} (recognised by their content): there is no unseen sample to score; "
                             "--subset train scores them as training samples")
        if excluded:
            print(f"excluded {excluded} of {int(where.sum())} samples of {args.dataset} [{subset}]: {args.model} was "
                  "trained on them (recognised by their content); scoring the other ones")
        where &= ~seen
    # the spectral fingerprint judges other data; parts of the training dataset (same content) are not foreign
    same_data = trained_on == loaded.checksum or excluded > 0
    metrics = evaluate_map_model(model, samples, where, by_group=policy != "random", seed=seed,
                                 check_spectra=not (same_data or args.no_spectral_check))
    metrics["excluded_training_samples"] = excluded
    args.record = args.record or args.model / "evaluations" / f"{Path(loaded.name).stem}-{subset}.json"
    print(f"{model.model_name} ({args.model}) on {loaded.name} [{subset}, {metrics['n']} samples]: "
          f"{describe_scores(metrics)}")
    from sitsbench.records import dataset_label, score_row

    scores = [score_row(dataset_label(loaded.record()), model.model_name, metric, metrics[metric], unit="sample",
                        seed=seed) for metric in ("oa", "macro_f1", "kappa")]
    _write(args, f"evaluate-{model.model_name}", {"model": str(args.model), "dataset": args.dataset, "subset": subset},
           metrics, loaded.record(), scores, seed)
    return 0


def _run_map(args: argparse.Namespace) -> int:
    import pandas as pd

    from sitsbench.data.readers.points import read_points
    from sitsbench.evaluation.map_accuracy import assess_map, read_map_classes

    classes, names = read_map_classes(args.map)
    args.record = args.record or args.map.with_name(f"{args.map.stem}.assessment.json")
    points = read_points(args.reference)
    result, counts = assess_map(classes, names, points, label=args.label, confidence=args.confidence)
    unit = getattr(result, "unit", "")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(f"{int(counts.values.sum())} reference points on {args.map}; areas in {unit}")
        print(counts.to_string())
        print(result.table.round(3).to_string())
    print(f"overall accuracy {result.overall_accuracy:.3f} ± {result.overall_accuracy_ci:.3f} "
          f"({args.confidence:.0%} confidence)")
    metrics = {"overall_accuracy": result.overall_accuracy, "overall_accuracy_ci": result.overall_accuracy_ci,
               "unit": unit, "table": json.loads(result.table.to_json(orient="index")),
               "counts": json.loads(counts.to_json(orient="index"))}
    from sitsbench.records import score_row

    scores = [score_row(args.map.name, "map, stratified estimate", "oa", result.overall_accuracy, unit="point")]
    _write(args, "evaluate-map", {"map": str(args.map), "reference": str(args.reference),
                                  "confidence": args.confidence}, metrics, None, scores)
    return 0
