"""Train a map model on labelled samples, and score one on samples: what ``sitsbench train`` and ``sitsbench
evaluate`` run.

Training reads any labelled samples (a dataset loaded by :func:`sitsbench.data.load_dataset`; a labelled cube
gives every labelled pixel, grouped by parcel), splits them by group (the dataset's own split when it keeps groups
apart), computes the normalisation statistics, the reference dates and the spectral fingerprint (which refuses data
whose bands are permuted or mislabelled) on the training samples only, prepares every
sample through the model's date policy (the same code that prepares a cube's pixels when mapping), and fits either
a classical estimator on the flattened series (:mod:`sitsbench.models.classical`: Random Forest ``rf``, ``svm``,
``lightgbm``) or a registered series network with the one training loop (:func:`sitsbench.training.fit`, early
stopping on the validation samples), by default with the network's reference-like recipe (epochs, patience, learning
rate, batch size, weight decay: :class:`sitsbench.models.registry.TrainingRecipe`).

With ``encoder`` (a folder written by ``sitsbench pretrain``, :mod:`sitsbench.inference.encoder_folder`) the network
is the pretrained encoder with a new head, and the encoder decides how data is prepared: its bands (matched by name),
its normalisation statistics (those of its pretraining archive), its date policy and reference dates. ``probe``
``linear`` (a linear head on the frozen encoder: the linear evaluation of Chen et al. 2020), ``mlp`` (an MLP head on
the frozen encoder) or ``finetune`` (the whole network, the encoder at a tenth of the head's learning rate).
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from sitsbench.data import samples as samples_format
from sitsbench.data.datasets import ArraySeriesDataset
from sitsbench.data.normalize import BandStats, SpectralFingerprint
from sitsbench.inference.dates import DateReference
from sitsbench.inference.encoder_folder import EncoderFolder
from sitsbench.inference.model_folder import MapModel
from sitsbench.inference.predictors import ClassicalPredictor, TorchPredictor
from sitsbench.metrics import classification_metrics
from sitsbench.models.classical import CLASSICAL, DEFAULT_MODEL, create_classical, fit_classical


@dataclass
class MapTrainingConfig:
    """Every knob of :func:`train_map_model`; ``None`` means the model's default (for ``epochs``, ``batch_size``,
    ``lr``, ``patience``: the network's :class:`~sitsbench.models.registry.TrainingRecipe`)."""

    model: str = DEFAULT_MODEL
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    patience: int | None = None
    rf_trees: int = 100
    split_policy: str = "auto"
    """``auto`` (the dataset's split when it keeps groups apart, else by group), ``predefined``, ``group``,
    ``random`` (per sample: optimistic when samples of one location are correlated) or ``none`` (every labelled
    sample trains the model: no validation, no test score)."""
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    """Train, validation and test shares of the ``group`` and ``random`` split policies."""
    refit_on_val: bool = True
    """A model without early stopping (:func:`stops_early`) trains on the training and validation parts together;
    False leaves the validation part out of its training."""
    date_policy: str | None = None
    encoder: str | None = None
    """An encoder folder written by ``sitsbench pretrain`` (then ``model`` is its encoder's)."""
    probe: str = "linear"
    """With ``encoder``: ``linear``, ``mlp`` (frozen encoder) or ``finetune`` (see the module docstring)."""
    max_train_samples: int | None = None
    model_kwargs: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    strict: bool = False
    """Refuse samples with no clear observation instead of dropping them (:func:`usable_samples`)."""


PROBES = ("linear", "mlp", "finetune")
PROBE_HIDDEN = 64
"""Hidden units of the ``mlp`` probe's head."""
FINETUNE_ENCODER_LR = 0.1
"""The encoder's learning rate relative to the head's when fine-tuning a pretrained encoder."""


ALLOWED_POLICIES = {"position": ("resample", "exact"), "doy": ("doy", "resample", "exact"), "days": ("days",)}
"""The date policies (:mod:`~sitsbench.inference.dates`) that feed each date encoding of the registry what it reads,
the default first: ``resample`` and ``exact`` feed the reference's days of year, which a ``days`` model would
misread."""


def default_date_policy(model: str) -> str:
    """The date policy that feeds ``model`` the dates its encoding reads: ``doy`` (day of year), ``days`` (days since
    the season start) or, for models that read fixed positions and the classical estimators, ``resample``."""
    from sitsbench.models import date_encoding

    return ALLOWED_POLICIES["position" if model in CLASSICAL else date_encoding(model)][0]


def map_model_names() -> list[str]:
    """The models ``sitsbench train`` can fit: the classical estimators, then the registered classifiers of pixel
    series."""
    from sitsbench.models import list_models

    return [*CLASSICAL, *list_models(role="classifier", input_kind="series")]


def check_model_name(name: str) -> None:
    """Refuse a name that is no map model, suggesting close names among the map models only (no auto-encoder,
    no patch or plane model); a registered model of another kind is refused saying what it is."""
    from sitsbench.models import list_models, model_entry

    names = map_model_names()
    if name in names:
        return
    if name in list_models():
        entry = model_entry(name)
        raise ValueError(f"model {name!r} is a {entry.input_kind} {entry.role}; a map model classifies pixel series: "
                         f"choose one of {names}")
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    raise ValueError(f"unknown model {name!r}; " + (f"did you mean {close}? " if close else "") + f"choose one of {names}")


def stops_early(config: MapTrainingConfig) -> bool:
    """True for the networks trained by :func:`sitsbench.training.fit`, which stop early on the validation part; the
    classical estimators (:mod:`sitsbench.models.classical`) have no use for it."""
    from sitsbench.models import list_models

    return config.encoder is not None or config.model in list_models(role="classifier", input_kind="series")


def _check_model(config: MapTrainingConfig) -> str:
    """The date policy to use; refuses models that cannot map pixels and policies they cannot follow."""
    from sitsbench.models import model_entry

    check_model_name(config.model)
    policy = config.date_policy or default_date_policy(config.model)
    encoding = "position" if config.model in CLASSICAL else model_entry(config.model).date_encoding
    if policy not in ALLOWED_POLICIES[encoding]:
        raise ValueError(f"date policy {policy!r} cannot feed {config.model!r}, whose date encoding is {encoding!r}: "
                         f"use one of {ALLOWED_POLICIES[encoding]} (see sitsbench.inference.dates)")
    return policy


def resolved_recipe(config: MapTrainingConfig, model: str) -> dict:
    """The training of the network ``model`` (a registry name): its :class:`~sitsbench.models.registry.TrainingRecipe`
    with the knobs ``config`` sets (not ``None``) in place of the recipe's; ``source`` says where the defaults come
    from."""
    from sitsbench.models import model_entry

    recipe = model_entry(model).recipe
    chosen = {knob: getattr(config, knob) for knob in ("epochs", "patience", "lr", "batch_size")}
    resolved = {knob: getattr(recipe, knob) if value is None else value for knob, value in chosen.items()}
    return {**resolved, "weight_decay": recipe.weight_decay, "source": recipe.source,
            "overridden": sorted(knob for knob, value in chosen.items() if value is not None)}


def _encoder_folder(config: MapTrainingConfig) -> EncoderFolder | None:
    """The encoder folder of ``config`` (``None`` without one); refuses a model name, a date policy or a probe that
    contradicts it."""
    if config.encoder is None:
        return None
    if config.probe not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, got {config.probe!r}")
    if config.model not in (DEFAULT_MODEL, None):
        raise ValueError(f"give either a model ({config.model!r}) or a pretrained encoder ({config.encoder}), not both")
    folder = EncoderFolder.load(config.encoder)
    if config.date_policy not in (None, folder.date_policy):
        raise ValueError(f"the encoder {folder.source} was pretrained with date policy {folder.date_policy!r}; "
                         f"--date-policy {config.date_policy!r} would feed it other dates")
    return folder


COUNTS = {"epochs": "--epochs", "batch_size": "--batch-size", "rf_trees": "--trees", "max_train_samples":
          "--max-train-samples"}
"""The counts of :class:`MapTrainingConfig` that must be >= 1, with their command-line options."""


def check_config(config: MapTrainingConfig) -> tuple[EncoderFolder | None, str]:
    """Refuse, before any data is read, a configuration that cannot train (``sitsbench train`` and ``validate``
    call it first): a count below one (:data:`COUNTS`), model arguments that the model does not take (listed with
    those it takes; a classical estimator is built once, unfitted, to check its options), a model that cannot map pixels, a date policy it cannot follow, a contradicting encoder. Returns
    the encoder folder (``None`` without one) and the date policy."""
    from sitsbench.models.registry import check_model_options

    for name, option in COUNTS.items():
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ValueError(f"{option} ({name}) must be >= 1, got {value}")
    folder = _encoder_folder(config)
    policy = folder.date_policy if folder is not None else _check_model(config)
    if config.model_kwargs and folder is not None:
        raise ValueError(f"--model-args {sorted(config.model_kwargs)}: the pretrained encoder ({folder.source}) takes "
                         "no model arguments")
    if folder is None and config.model in CLASSICAL:
        if config.model == "rf" and "n_estimators" in config.model_kwargs:
            raise ValueError("--model-args n_estimators: --trees sets the size of the Random Forest")
        create_classical(config.model, config.seed, **config.model_kwargs)  # refuses an option it does not take
    elif folder is None:
        check_model_options(config.model, config.model_kwargs, "--model-args")
    return folder, policy


def usable_samples(samples: xr.Dataset, strict: bool = False) -> tuple[xr.Dataset, int]:
    """``samples`` without those that have no clear observation (every date cloudy, no data or NaN: nothing to learn
    from or to predict from), and how many were dropped; ``strict`` refuses them instead, naming the first."""
    empty = ~np.asarray(samples[samples_format.VALID].values).any(axis=1)
    if empty.any() and strict:
        raise ValueError(f"{samples.attrs.get('source', 'samples')}: {int(empty.sum())} of {empty.size} samples have "
                         f"no clear observation (first: sample {int(np.flatnonzero(empty)[0])}): remove them from the "
                         "data, or train without --strict to have them dropped")
    return (samples.isel({samples_format.SAMPLE: np.flatnonzero(~empty)}) if empty.any() else samples), int(empty.sum())


def check_classes(samples: xr.Dataset, train: np.ndarray, held_out: np.ndarray) -> list[str]:
    """Refuse a training part with fewer than two classes (a classifier of one class scores 1.0 on anything);
    returns warnings naming the classes of the ``held_out`` samples (validation, test) that training never sees (the
    model cannot predict them: their recall is 0)."""
    names = samples_format.class_names(samples)
    labels = np.asarray(samples[samples_format.LABEL].values)
    seen = np.unique(labels[train])
    if seen.size < 2:
        counts = {names[k]: int((labels[train] == k).sum()) for k in seen}
        present = [names[k] for k in np.unique(labels[labels >= 0])]
        raise ValueError(f"{samples.attrs.get('source', 'samples')}: the training part holds {seen.size} class "
                         f"({counts} training samples); a classifier needs at least two (classes labelled in the "
                         f"dataset: {present})")
    unseen = [names[k] for k in np.setdiff1d(np.unique(labels[held_out & (labels >= 0)]), seen)]
    return [f"class(es) {unseen} are in the validation/test part but not in the training part: the model never "
            "predicts them (their recall is 0)"] if unseen else []


def predict_samples(model: MapModel, samples: xr.Dataset, where: np.ndarray | None = None,
                    check_spectra: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (in ``samples``) of the labelled samples where ``where`` is True, the class ``model`` predicts for
    each and its true class, both as indices of the model's classes, every sample prepared through the model's bands
    and date policy. Classes are matched by name (the samples' class ids are mapped to the model's); a sample of a
    class the model does not know is an error. ``check_spectra=False`` for held-out parts of the training samples
    (:meth:`~sitsbench.inference.model_folder.MapModel.sample_inputs`)."""
    names, known = samples_format.class_names(samples), list(model.class_names)
    source = samples.attrs.get("source", "samples")
    chosen = np.ones(samples.sizes[samples_format.SAMPLE], dtype=bool) if where is None else np.asarray(where, dtype=bool)
    labels = np.asarray(samples[samples_format.LABEL].values)
    positions = np.flatnonzero(chosen & (labels >= 0))
    if positions.size == 0:
        raise ValueError(f"{source}: no labelled sample to evaluate on")
    unknown = sorted({names[k] for k in np.unique(labels[positions]) if names[k] not in known})
    if unknown:
        raise ValueError(f"{source} has samples of classes {unknown} that the model ({model.source}) does not "
                         f"predict (its classes: {known})")
    to_model = np.asarray([known.index(name) if name in known else -1 for name in names])
    x, mask, doy = model.sample_inputs(samples.isel({samples_format.SAMPLE: positions}), check_spectra)
    return positions, model.predict_proba(x, doy, mask).argmax(axis=1), to_model[labels[positions]]


def evaluate_map_model(model: MapModel, samples: xr.Dataset, where: np.ndarray | None = None,
                       by_group: bool = True, seed: int = 0, check_spectra: bool = True) -> dict:
    """Metrics (:func:`sitsbench.metrics.classification_metrics`) of ``model`` on the labelled ``samples`` (those
    where ``where`` is True), each prepared through the model's bands and date policy, with the 95 % bootstrap
    interval of OA, macro-F1 and kappa (``interval``; :func:`sitsbench.intervals.score_intervals`) over
    the samples' groups (``by_group``) or over single samples, and what was resampled (``interval_unit``);
    ``check_spectra`` as for :func:`predict_samples`."""
    from sitsbench.intervals import score_intervals

    positions, predicted, truth = predict_samples(model, samples, where, check_spectra)
    names = list(model.class_names)
    metrics = classification_metrics(truth, predicted, len(names), names)
    groups = np.asarray(samples[samples_format.GROUP].values)[positions] if by_group else None
    metrics["interval"] = score_intervals(truth, predicted, len(names), groups, seed=seed)
    units = np.unique(groups).size if by_group else positions.size
    metrics["interval_unit"] = f"{units} {'groups' if by_group else 'samples'}"
    return metrics


def train_map_model(samples: xr.Dataset, config: MapTrainingConfig | None = None,
                    split: np.ndarray | None = None) -> tuple[MapModel, dict]:
    """Fit a map model on ``samples``; returns it and a summary (split, sizes, validation history, test metrics).

    ``split`` (a code per sample: 0 train, 1 val, 2 test, -1 unused) replaces the split of ``config.split_policy``
    (cross-validation gives each fold's). The model records the content hashes of the samples it was trained or
    stopped on (:func:`sitsbench.data.samples.content_hashes`), so that ``evaluate`` recognises them in any file."""
    from sitsbench.models import create_model, length_options
    from sitsbench.runtime import seed_everything
    from sitsbench.training.engine import Supervised, TrainConfig, fit

    config = config or MapTrainingConfig()
    folder, policy = check_config(config)
    samples_format.validate_samples(samples)
    clear = np.asarray(samples[samples_format.VALID].values).any(axis=1)
    samples, n_dropped = usable_samples(samples, config.strict)
    if split is not None and n_dropped:  # a given split names the samples before the empty ones were dropped
        split = np.asarray(split)[clear]
    split_policy, why = (config.split_policy, "chosen") if config.split_policy != "auto" else samples_format.choose_split_policy(samples)
    if split is not None:
        split_policy, why = "given", "a split given by the caller (e.g. a cross-validation fold)"
    elif split_policy == "none":  # a production model: every labelled sample trains it, nothing is held out
        split = np.where(np.asarray(samples[samples_format.LABEL].values) >= 0, samples_format.SPLIT_CODES["train"], samples_format.NO_SPLIT).astype(np.int8)
    else:
        split = samples_format.split_samples(samples, split_policy, fractions=config.fractions, seed=config.seed)
    train, val, test = (samples_format.subset_mask(split, name) for name in ("train", "val", "test"))
    joined = bool(config.refit_on_val and val.any() and not stops_early(config))
    if joined:  # no early stopping: the validation part would go unused
        train, val = train | val, np.zeros_like(val)
    if config.max_train_samples is not None and train.sum() > config.max_train_samples:
        keep = np.random.default_rng(config.seed).choice(np.flatnonzero(train), config.max_train_samples, replace=False)
        train = np.zeros_like(train)
        train[keep] = True
    if not train.any():
        raise ValueError(f"{samples.attrs.get('source', 'samples')}: the split leaves no training sample")
    class_warnings = check_classes(samples, train, val | test)
    names = samples_format.class_names(samples)
    if folder is not None:  # the encoder prepares the data as it was prepared for its pretraining
        bands, stats, reference = folder.bands, folder.stats, folder.reference
    else:
        bands = tuple(str(b) for b in samples[samples_format.BAND].values)
        stats = BandStats.from_samples(samples, train, seed=config.seed)
        reference = DateReference.from_dates(samples[samples_format.DATE].values[train])
    spectral = SpectralFingerprint.from_samples(samples.sel({samples_format.BAND: list(bands)}), train, seed=config.seed)
    model = MapModel(None, folder.name if folder else config.model, bands, names, stats, reference, policy,
                     spectral=spectral)
    x, mask, doy = model.sample_inputs(samples, check_spectra=False)  # the samples the fingerprint was made from
    y = np.asarray(samples[samples_format.LABEL].values)
    groups = np.asarray(samples[samples_format.GROUP].values)
    start = time.perf_counter()
    history = recipe = None
    if folder is None and config.model in CLASSICAL:
        options = {**({"n_estimators": config.rf_trees} if config.model == "rf" else {}), **config.model_kwargs}
        model.predictor = ClassicalPredictor(fit_classical(config.model, x[train], y[train], seed=config.seed,
                                                           progress=config.progress, **options))
        model.model_kwargs = options
    else:
        seed_everything(config.seed)
        objective = None
        if folder is not None:
            network = folder.classifier(len(names), head_hidden=PROBE_HIDDEN if config.probe == "mlp" else 0)
            frozen = config.probe != "finetune"
            objective = Supervised(slow=folder.encoder_parameters, slow_scale=0.0 if frozen else FINETUNE_ENCODER_LR,
                                   frozen_eval=frozen)
        else:
            kwargs = {**length_options(config.model, x.shape[1]), **config.model_kwargs}
            network = create_model(config.model, in_channels=len(bands), num_classes=len(names), **kwargs)
        datasets = {name: ArraySeriesDataset(x[m], mask[m], doy[m], y[m], groups[m])
                    for name, m in (("train", train), ("val", val))}
        recipe = resolved_recipe(config, network.model_name)
        train_config = TrainConfig(epochs=recipe["epochs"], lr=recipe["lr"], batch_size=recipe["batch_size"],
                                   weight_decay=recipe["weight_decay"],
                                   patience=recipe["patience"] if val.any() else None, device=config.device,
                                   seed=config.seed, progress=config.progress)
        history = fit(network, datasets["train"], datasets["val"] if val.any() else None, train_config,
                      objective=objective)
        model.predictor = TorchPredictor(network.cpu(), device=config.device)
        model.model_kwargs = {k: v for k, v in network.model_kwargs.items() if k not in ("in_channels", "num_classes")}
    duration = time.perf_counter() - start
    summary = {
        "split_policy": split_policy, "split_reason": why, "fractions": list(config.fractions),
        "validation_joined": joined,
        "n_train": int(train.sum()), "n_val": int(val.sum()), "n_test": int(test.sum()),
        "n_dropped_no_clear": n_dropped, "warnings": class_warnings,
        "date_policy": policy, "reference_dates": reference.describe(), "train_time_s": duration,
        "config": {k: v for k, v in config.__dict__.items() if k != "progress"},
    }
    if history is not None:
        summary["history"] = history.to_dict()
        summary["recipe"] = recipe
    if test.any():
        summary["test"] = evaluate_map_model(model, samples, test, by_group=split_policy != "random", seed=config.seed,
                                             check_spectra=False)  # the test split of the training samples
    model.training = {k: summary[k] for k in ("split_policy", "fractions", "validation_joined", "n_train", "n_val",
                                              "n_test", "n_dropped_no_clear", "warnings", "train_time_s")}
    model.trained_on = samples_format.content_hashes(samples)[train | val]
    model.training["seed"] = config.seed
    if recipe is not None:
        model.training["recipe"] = recipe
    if folder is not None:
        model.training["encoder"] = {"folder": folder.source, "method": folder.method, "probe": config.probe,
                                     "weights_checksum": folder.checksum}
    if "test" in summary:
        model.training["test_oa"] = summary["test"]["oa"]
        model.training["test_macro_f1"] = summary["test"]["macro_f1"]
    return model, summary
