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

    from sitsbench.data import samples as S
    from sitsbench.data.loading import load_dataset, require_samples
    from sitsbench.inference.model_folder import MapModel
    from sitsbench.training.map_model import evaluate_map_model

    model = MapModel.load(args.model, device=args.device)
    loaded = load_dataset(args.dataset, seed=int(model.training.get("seed", 0)))
    samples = require_samples(loaded)
    subset = args.subset
    trained_on = model.training.get("dataset", {}).get("checksum")
    if subset == "auto":
        same = trained_on == loaded.checksum and model.training.get("split_policy") != "none"
        subset = "test" if same else "all"
    if trained_on == loaded.checksum and model.training.get("split_policy") == "none":
        print("note: the model was trained on every labelled sample of this dataset: these scores are not a test")
    if subset == "all":
        where = np.ones(samples.sizes[S.SAMPLE], dtype=bool)
    else:
        if trained_on != loaded.checksum or model.training.get("split_policy") == "none":
            raise ValueError(f"--subset {subset} names a part of the training split, but {args.dataset} was not split "
                             "for this model (another dataset, or split policy 'none'): use --subset all")
        split = S.split_samples(samples, model.training.get("split_policy", "group"),
                                seed=int(model.training.get("seed", 0)))
        where = S.subset_mask(split, subset)
    metrics = evaluate_map_model(model, samples, where)
    args.record = args.record or args.model / "evaluations" / f"{Path(loaded.name).stem}-{subset}.json"
    print(f"{model.model_name} ({args.model}) on {loaded.name} [{subset}, {metrics['n']} samples]: "
          f"OA {metrics['oa']:.3f}, macro-F1 {metrics['macro_f1']:.3f}, kappa {metrics['kappa']:.3f}")
    from sitsbench.records import dataset_label, score_row

    seed = int(model.training.get("seed", 0))
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
