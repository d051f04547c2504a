"""Downstream evaluation protocols for a (pretrained) encoder: what its representation is worth with labels.

Four protocols, from the cheapest to the most expensive, as in the SSL literature:

* **linear probe** (Chen et al. 2020, SimCLR): the encoder is frozen, a logistic regression is fit on its
  standardised embeddings. A linear classifier cannot create structure the embeddings lack. Its L2 regularisation
  is chosen on a validation part of the labelled items, never on the test items, as DINO (Caron et al. 2021) and
  VTAB (Zhai et al. 2019) sweep their probes' hyper-parameters: :class:`ValidatedLinearProbe`;
* **k-NN** (Wu et al. 2018, "Unsupervised Feature Learning via Non-Parametric Instance Discrimination", CVPR;
  Caron et al. 2021, DINO): no training at all; a test item takes the classes of its ``k`` most cosine-similar
  training embeddings, each vote weighted by ``exp(similarity / temperature)``;
* **Random Forest** on the embeddings (Breiman 2001): the operational baseline of land-cover mapping, non-linear;
* **fine-tuning**: a head is added and the whole network is trained, the encoder with a smaller learning rate
  (``encoder_lr_scale``) so that it adapts without forgetting its pretraining. The head starts from the linear
  probe's solution (LP-FT: Kumar et al. 2022, "Fine-Tuning can Distort Pretrained Features and Underperform
  Out-of-Distribution", ICLR): a random head would first push large, random gradients into the pretrained encoder,
  and with a small encoder learning rate it takes many steps to catch up with the probe. With
  ``encoder_lr_scale=1`` on a randomly initialised encoder it is supervised training from scratch.

Frozen encoders are always run in ``eval()`` mode (dropout off, batch-norm statistics fixed) and without gradients:
:func:`embed` enforces it whatever mode the encoder was handed in.

Every encoder is a :class:`~sitsbench.models.base.SITSClassifier` (``forward_features`` + ``head``); auto-encoders
enter through :class:`~sitsbench.autoencoders.classifiers.EncoderClassifier`.

**Pixels and parcels.** Pixel classification scores every test pixel. Parcel classification (one decision per
parcel, as an agricultural declaration is checked) aggregates pixels *before* deciding: a parcel's embedding is the
**mean of its pixels' embeddings** for the probes (:func:`to_parcels` on features), and a network's parcel decision
is the class of the **mean of its pixels' softmax probabilities** (:func:`to_parcels` on probabilities). Its label
is the majority label of its pixels.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import Dataset

from sitsbench.evaluation.label_fraction import stratified_fraction, validation_part
from sitsbench.metrics import scores
from sitsbench.models import classical
from sitsbench.models.base import SITSClassifier
from sitsbench.planes.dataset import PlaneDataset, parcel_average
from sitsbench.records import score_row
from sitsbench.runtime import in_batches, resolve_device, seed_everything
from sitsbench.training.engine import Supervised, TrainConfig, fit


def freeze(encoder: nn.Module) -> nn.Module:
    """Put ``encoder`` in eval mode without gradients (in place) and return it."""
    encoder.eval()
    encoder.requires_grad_(False)
    return encoder


def _features(model: nn.Module, dataset: Dataset, batch_size: int = 256, device: str = "auto"
              ) -> tuple[np.ndarray, np.ndarray]:
    """``forward_features`` of every item of a labelled dataset (items ``x``, ``y`` and, for series, ``doy`` and
    ``mask``; plane datasets have neither) in eval mode without gradients, and the labels."""
    device = resolve_device(device)
    model = model.to(device).eval()

    def features(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model.forward_features(batch["x"], **{key: batch[key] for key in ("doy", "mask") if key in batch})

    return in_batches(features, dataset, batch_size, device)


def embed(
    encoder: nn.Module, dataset: Dataset, batch_size: int = 256, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """``(N, D)`` embeddings (``forward_features``) and ``(N,)`` labels of ``dataset`` by the frozen ``encoder``."""
    return _features(freeze(encoder), dataset, batch_size=batch_size, device=device)


def linear_probe(seed: int, C: float = 1.0) -> object:
    """Standardised features + multinomial logistic regression of inverse L2 regularisation ``C``."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))


PROBE_C_GRID = (0.01, 0.1, 1.0, 10.0)
"""The inverse regularisations :class:`ValidatedLinearProbe` chooses among (a log grid, as VTAB's sweeps)."""


MIN_VALIDATION = 20
"""Fewest validation items on which :class:`ValidatedLinearProbe` chooses its ``C`` (else ``C = 1``)."""


class ValidatedLinearProbe:
    """The linear probe whose regularisation is chosen on validation: the labelled items are split by
    :func:`~sitsbench.evaluation.label_fraction.validation_part` (a stratified 20 %, seeded), a probe of each ``C``
    of ``grid`` is fit on the rest and scored (macro-F1) on the validation part, and the probe of the best ``C`` is
    fit again on every labelled item, as VTAB does (Zhai et al. 2019, "A Large-scale Study of Representation
    Learning with the Visual Task Adaptation Benchmark": 800 images to fit, 200 to choose, then all 1000). Ties
    go to the smaller ``C`` (the stronger regularisation). With a validation part smaller than ``min_validation``
    items (a macro-F1 on a handful of items would choose ``C`` by chance: at 1 % of the labels of the default
    landscape it held 4 items and lowered the random-init baseline from 0.464 to 0.379), or a fit part of one
    class, ``C = 1``. After :meth:`fit`: ``C_`` and ``validation_scores_`` (``C -> macro-F1``, empty when nothing
    was validated). The test items never enter :meth:`fit`."""

    def __init__(self, seed: int = 0, grid: tuple[float, ...] = PROBE_C_GRID, validation: float = 0.2,
                 min_validation: int = MIN_VALIDATION):
        if not grid or min(grid) <= 0:
            raise ValueError(f"grid must hold inverse regularisations > 0, got {grid}")
        self.seed, self.grid, self.validation, self.min_validation = seed, tuple(grid), validation, min_validation

    def fit(self, features: np.ndarray, labels: np.ndarray) -> ValidatedLinearProbe:
        features, labels = np.asarray(features), np.asarray(labels, dtype=np.int64)
        fit_part, held = validation_part(labels, self.validation, self.seed)
        self.validation_scores_ = {}
        if held.size >= max(self.min_validation, 1) and np.unique(labels[fit_part]).size > 1:
            num_classes = int(labels.max()) + 1
            for C in self.grid:
                predicted = linear_probe(self.seed, C).fit(features[fit_part], labels[fit_part]).predict(
                    features[held])
                self.validation_scores_[C] = scores(labels[held], predicted, num_classes)["macro_f1"]
        self.C_ = max(self.validation_scores_, key=lambda C: (self.validation_scores_[C], -C), default=1.0)
        self.pipeline_ = linear_probe(self.seed, self.C_).fit(features, labels)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.pipeline_.predict(features)


def random_forest(seed: int, n_estimators: int = 100) -> object:
    """The project's Random Forest (:func:`sitsbench.models.classical.random_forest`) on one core: probes run
    beside other jobs."""
    return classical.random_forest(seed, n_estimators, n_jobs=1)


def _normalise(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def knn_scores(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    chunk: int = 1024,
) -> np.ndarray:
    """``(N_test, K)`` class votes of the weighted k-NN of Wu et al. (2018), as in DINO's evaluation.

    Similarities are cosines; the ``k`` nearest training items (all of them when fewer) vote for their class
    with weight ``exp(cos / temperature)``.
    """
    if k < 1 or temperature <= 0:
        raise ValueError(f"k must be >= 1 and temperature > 0, got k={k}, temperature={temperature}")
    train, labels = _normalise(train_features), np.asarray(train_labels, dtype=np.int64)
    if train.shape[0] != labels.shape[0]:
        raise ValueError(f"train_features has {train.shape[0]} rows but train_labels {labels.shape[0]}")
    k = min(k, train.shape[0])
    votes = np.zeros((len(test_features), num_classes))
    for start in range(0, len(test_features), chunk):
        similarity = _normalise(test_features[start:start + chunk]) @ train.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.exp(np.take_along_axis(similarity, nearest, axis=1) / temperature)
        rows = np.repeat(np.arange(len(nearest)), k)
        np.add.at(votes[start:start + chunk], (rows, labels[nearest].ravel()), weights.ravel())
    return votes


class KNNClassifier:
    """Weighted cosine k-NN (:func:`knn_scores`) with the ``fit``/``predict`` interface of scikit-learn."""

    def __init__(self, k: int = 20, temperature: float = 0.07):
        self.k, self.temperature = k, temperature

    def fit(self, features: np.ndarray, labels: np.ndarray) -> KNNClassifier:
        self.features_, self.labels_ = np.asarray(features), np.asarray(labels, dtype=np.int64)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        votes = knn_scores(self.features_, self.labels_, features, int(self.labels_.max()) + 1, self.k,
                           self.temperature)
        return votes.argmax(axis=1)


def knn(seed: int) -> KNNClassifier:
    """k = 20, temperature 0.07 (DINO's defaults); deterministic, ``seed`` unused."""
    del seed
    return KNNClassifier()


PROBES: dict[str, Callable[[int], object]] = {"linear": ValidatedLinearProbe, "knn": knn,
                                              "random_forest": random_forest}
"""Protocols on frozen embeddings: name -> ``factory(seed)`` of an estimator with ``fit`` and ``predict``."""

PROTOCOL_TITLES = {"linear": "linear probe", "knn": "k-NN probe", "random_forest": "random forest probe",
                   "fine-tune": "fine-tuned"}
"""The ``method`` of the score rows of each protocol (the probes of :data:`PROBES`, :func:`fine_tune`)."""


def probe(name: str, train: tuple[np.ndarray, np.ndarray], test_features: np.ndarray, seed: int = 0) -> np.ndarray:
    """Fit the probe ``name`` (see :data:`PROBES`) on ``train = (features, labels)``; predicted test labels."""
    if name not in PROBES:
        raise ValueError(f"probe must be one of {sorted(PROBES)}, got {name!r}")
    return np.asarray(PROBES[name](seed).fit(*train).predict(test_features))


def to_parcels(values: np.ndarray, labels: np.ndarray, parcel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted parcel ids, the mean of ``values`` (embeddings or probabilities) over each parcel's pixels, and each
    parcel's majority pixel label."""
    ids, means = parcel_average(values, parcel)
    _, inverse = np.unique(np.asarray(parcel), return_inverse=True)
    labels = np.asarray(labels, dtype=np.int64)
    votes = np.zeros((ids.size, labels.max() + 1), dtype=np.int64)
    np.add.at(votes, (inverse.ravel(), labels), 1)
    return ids, means, votes.argmax(axis=1)


def probe_scores(features: dict[str, tuple[np.ndarray, np.ndarray]], y_train: np.ndarray, y_test: np.ndarray,
                 dataset: str, *, unit: str = "pixel", fractions=(0.01, 0.1, 1.0), probes=("linear", "random_forest"),
                 seed: int = 0) -> tuple[list[dict], dict[tuple[str, str, float], np.ndarray]]:
    """Score rows (:data:`~sitsbench.records.SCORE_FIELDS`) of every (features, probe, label fraction) and the
    predicted class of every test item of each, for :mod:`~sitsbench.intervals`.

    ``features`` maps an encoder name (``"raw"``, ``"ae_tempconv"``, ``"simclr"``...) to its ``(train, test)``
    feature arrays, rows aligned with ``y_train`` / ``y_test``; every feature set sees the same stratified labelled
    subsets (:func:`~sitsbench.evaluation.label_fraction.stratified_fraction`). A row's method is the probe's
    :data:`PROTOCOL_TITLES` (``"linear probe"``...), its encoder the feature set's name, its metrics ``oa`` and
    ``macro_f1`` of the test ``unit`` s; ``n_labels`` counts the labelled training items. The predictions are keyed
    ``(encoder, method, label_fraction)``.
    """
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    rows, predictions = [], {}
    for fraction in fractions:
        subset = stratified_fraction(y_train, fraction, seed)
        for name, (train, test) in features.items():
            for name_of_probe in probes:
                predicted = probe(name_of_probe, (train[subset], y_train[subset]), test, seed)
                method = PROTOCOL_TITLES[name_of_probe]
                predictions[name, method, fraction] = predicted
                rows += [score_row(dataset, method, metric, value, encoder=name, unit=unit, label_fraction=fraction,
                                   seed=seed, n_labels=int(subset.size))
                         for metric, value in scores(y_test, predicted, num_classes).items()]
    return rows, predictions


def parcel_probe(encoder: nn.Module, train: PlaneDataset, test: PlaneDataset, probe_name: str = "linear",
                 seed: int = 0, device: str = "auto") -> dict[str, float]:
    """Parcel-level probe of a frozen plane encoder (Deep-STaR STRs): the embeddings of a parcel's STRs are averaged
    into the parcel's embedding (:func:`to_parcels`), the probe is fit on the training parcels; overall accuracy and
    macro-F1 of the test parcels."""
    parcels = {}
    for name, dataset in (("train", train), ("test", test)):
        features, labels = embed(encoder, dataset, device=device)
        parcels[name] = to_parcels(features, labels, dataset.planes.parcel)[1:]
    num_classes = int(max(parcels["train"][1].max(), parcels["test"][1].max())) + 1
    predicted = probe(probe_name, parcels["train"], parcels["test"][0], seed)
    return scores(parcels["test"][1], predicted, num_classes)


@dataclass
class FineTuneConfig:
    """Knobs of :func:`fine_tune`. Training runs a fixed number of optimiser ``steps`` (not epochs), so that a run
    on 1 % of the labels gets as many updates as one on 100 %. Encoder learning rate = ``lr * encoder_lr_scale``
    (1 = supervised training, 0 = frozen encoder and a linear head trained by SGD). ``probe_init``: start a
    linear head from the linear probe fit on the frozen training embeddings (LP-FT), for pretrained encoders;
    supervised training from scratch sets it to False (a random head on random features: the probe's confident
    head would only make the first steps harder, as we measured). ``train``: the training loop's knobs (default
    :data:`FINE_TUNING`; no validation, and a batch no larger than the training set)."""

    encoder_lr_scale: float = 0.1
    probe_init: bool = True
    train: TrainConfig = field(default_factory=lambda: replace(FINE_TUNING))


FINE_TUNING = TrainConfig(steps=300, progress=False)
"""The default training knobs of :class:`FineTuneConfig`: 300 optimiser steps of 64 items; change some with
``dataclasses.replace(FINE_TUNING, ...)``."""


def init_head_from_probe(model: SITSClassifier, train: Dataset, seed: int = 0, device: str = "auto") -> None:
    """Set ``model.head`` (an ``nn.Linear``) to the linear probe (:class:`ValidatedLinearProbe`, its ``C`` chosen on
    validation) fit on the frozen embeddings of ``train``: the standardisation is folded into the weights
    (``W / sigma``, ``b - W mu / sigma``); classes absent from ``train`` get zero weights and a very negative bias."""
    if not isinstance(model.head, nn.Linear):
        raise ValueError(f"probe initialisation needs a linear head, got {type(model.head).__name__}")
    features, labels = _features(model, train, device=device)  # eval mode, no gradients, weights stay trainable
    pipeline = ValidatedLinearProbe(seed).fit(features, labels).pipeline_
    scaler, logistic = pipeline[0], pipeline[-1]
    weight = np.zeros((model.num_classes, features.shape[1]))
    bias = np.full(model.num_classes, -30.0)
    coef, intercept = logistic.coef_, logistic.intercept_
    if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row for the second class
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    weight[logistic.classes_] = coef / scaler.scale_
    bias[logistic.classes_] = intercept - (coef * scaler.mean_ / scaler.scale_).sum(axis=1)
    with torch.no_grad():
        model.head.weight.copy_(torch.as_tensor(weight))
        model.head.bias.copy_(torch.as_tensor(bias))


def fine_tune(
    encoder: SITSClassifier, num_classes: int, train: Dataset, config: FineTuneConfig | None = None
) -> SITSClassifier:
    """A copy of ``encoder`` with a fresh ``num_classes`` head, trained end to end on ``train`` (AdamW,
    cross-entropy); ``encoder`` itself is left unchanged. Items are dicts with ``x``, ``y`` and optionally
    ``doy``, ``mask``. Returns the model in eval mode."""
    config = config or FineTuneConfig()
    if config.encoder_lr_scale < 0:
        raise ValueError(f"encoder_lr_scale must be >= 0, got {config.encoder_lr_scale}")
    generator = seed_everything(config.train.seed)
    device = resolve_device(config.train.device)
    model = copy.deepcopy(encoder)
    model.reset_classifier(num_classes)
    model.requires_grad_(True).to(device)
    if config.probe_init:
        init_head_from_probe(model, train, config.train.seed, device)
    head_ids = {id(p) for p in model.head.parameters()}
    objective = Supervised(slow=lambda m: [p for p in m.parameters() if id(p) not in head_ids],
                           slow_scale=config.encoder_lr_scale, frozen_eval=True)
    steps = replace(config.train, batch_size=min(config.train.batch_size, len(train)), patience=None)
    fit(model, train, config=steps, objective=objective, generator=generator)
    return model.eval()
