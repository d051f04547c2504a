"""Classical estimators on flattened series: the baselines practitioners compare deep models against.

Each pixel (or parcel mean) series, gap-filled and standardised by the map model
(:class:`~sitsbench.inference.model_folder.MapModel`), is flattened into one feature vector of ``T x C`` values
(date-major); the estimators ignore the order of the features, so they do not know that neighbouring dates are
related. This module is the one home of these estimators: :data:`CLASSICAL` maps each name that ``sitsbench train
--model`` accepts to its constructor, which returns an unfitted scikit-learn-compatible classifier (``fit``,
``predict_proba``, ``classes_``), and :func:`fit_classical` fits one. The same choices as the R package ``sits``
(Simoes et al. 2021, "Satellite Image Time Series Analysis for Big Earth Observation Data", Remote Sensing 13(13):
2428; ``e-sensing/sits`` ``R/sits_machine_learning.R``), whose ``sits_rfor``, ``sits_svm`` and ``sits_lightgbm``
are the reference configurations:

``rf``
    Random Forest, Breiman (2001), "Random Forests", Machine Learning 45:5-32; used on Sentinel-2 series for
    France's national land-cover map by Inglada et al. (2017), Remote Sensing 9(1):95 (OSO / iota2). 100 trees,
    ``sqrt(F)`` features per split, leaves of one sample (``sits_rfor``).
``svm``
    Support vector machine with a radial (RBF) kernel, Cortes & Vapnik (1995), "Support-vector networks", Machine
    Learning 20:273-297, on features standardised one by one (an RBF kernel compares distances, so a feature of
    larger spread would dominate them); cost ``C = 10`` and ``gamma = 1 / (F var(X))`` (on standardised features,
    ``1/F``: e1071's default), as ``sits_svm``. Probabilities by Platt scaling on 5-fold cross-validated decision
    values, as e1071's ``probability = TRUE``.
``lightgbm``
    Gradient boosting of decision trees, Friedman (2001), "Greedy function approximation: a gradient boosting
    machine", Annals of Statistics 29(5), with LightGBM (Ke et al. 2017, "LightGBM: A Highly Efficient Gradient
    Boosting Decision Tree", NeurIPS 30): 100 rounds of learning rate 0.1, trees of depth at most 6 with at least
    20 samples per leaf (``sits_lightgbm``). LightGBM rather than XGBoost, deliberately: on CPU its histogram-based,
    leaf-wise growth trains faster than XGBoost at equal accuracy in the benchmarks of Ke et al. (2017), its wheel
    is small and pulls no CUDA libraries (the XGBoost 2 Linux wheel depends on NCCL), and ``sits`` ships it beside
    XGBoost, so its published configuration is there to follow. It runs
    with ``deterministic=True`` (the same model for a seed, whatever the threads). ``sits`` stops after 10 rounds
    without improvement on a 20 % validation part; here the 100 rounds are fixed (the model has no early stopping
    and needs no validation samples).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np


def random_forest(seed: int = 0, n_estimators: int = 100, n_jobs: int | None = -1, **options) -> object:
    """The project's Random Forest (``sits_rfor``: 100 trees, ``sqrt`` of the features per split): scikit-learn's
    :class:`~sklearn.ensemble.RandomForestClassifier`, seeded; ``n_jobs=1`` where it runs beside other jobs."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators, random_state=seed, n_jobs=n_jobs, **options)


def svm(seed: int = 0, C: float = 10.0, gamma: float | str = "scale", **options) -> object:  # noqa: N803 (sklearn's name)
    """Standardised features then an RBF support vector machine (``sits_svm``), its probabilities by Platt scaling
    fitted on 5-fold cross-validated decision values (``ensemble=False``: one SVM fitted on every sample, what
    libsvm's ``probability`` option does, which scikit-learn 1.9 deprecates for this form)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    machine = SVC(C=C, kernel="rbf", gamma=gamma, random_state=seed, **options)
    return make_pipeline(StandardScaler(), CalibratedClassifierCV(machine, method="sigmoid", ensemble=False))


def lightgbm(seed: int = 0, n_estimators: int = 100, learning_rate: float = 0.1, max_depth: int = 6,
             min_child_samples: int = 20, **options) -> object:
    """LightGBM gradient-boosted trees (``sits_lightgbm``'s configuration), deterministic for a seed; ``options`` are
    keywords of :class:`lightgbm.LGBMClassifier` (which would otherwise pass a misspelt one on with a warning)."""
    from lightgbm import LGBMClassifier

    unknown = sorted(set(options) - set(inspect.signature(LGBMClassifier.__init__).parameters))
    if unknown:
        raise TypeError(f"LGBMClassifier got an unexpected keyword argument {unknown}")
    return LGBMClassifier(n_estimators=n_estimators, learning_rate=learning_rate, max_depth=max_depth,
                          min_child_samples=min_child_samples, random_state=seed, deterministic=True,
                          force_row_wise=True, verbose=-1, **options)


CLASSICAL: dict[str, Callable[..., object]] = {"rf": random_forest, "svm": svm, "lightgbm": lightgbm}
"""Name (``sitsbench train --model``) -> constructor ``(seed, **options)`` of an unfitted estimator."""
DEFAULT_MODEL = "rf"
"""The model ``sitsbench train`` fits when none is named."""
TREES_STEP = 10
"""The Random Forest is grown this many trees at a time behind a progress bar."""


def create_classical(name: str, seed: int = 0, **options) -> object:
    """The unfitted estimator ``name`` of :data:`CLASSICAL` with ``options`` (its constructor's keywords); an
    option it does not have is a clear error naming the estimator."""
    if name not in CLASSICAL:
        raise KeyError(f"unknown classical estimator {name!r}; choose one of {sorted(CLASSICAL)}")
    try:
        return CLASSICAL[name](seed=seed, **options)
    except TypeError as error:
        raise ValueError(f"estimator {name!r} has no option among {sorted(options)} ({error}); its options are "
                         f"those of sitsbench.models.classical.{CLASSICAL[name].__name__}") from error


def flatten(x: np.ndarray) -> np.ndarray:
    """Series ``(N, T, C)`` as feature vectors ``(N, T x C)`` (already flat ``(N, F)`` stays as it is)."""
    x = np.asarray(x, dtype=np.float32)
    return x.reshape(x.shape[0], -1)


def fit_classical(name: str, x: np.ndarray, y: np.ndarray, seed: int = 0, progress: bool = False,
                  **options) -> object:
    """Fit the estimator ``name`` on series ``x`` ``(N, T, C)`` (or flat ``(N, F)``) and labels ``y``. The Random
    Forest grows :data:`TREES_STEP` trees at a time behind a progress bar (``warm_start`` draws the same tree seeds
    as one ``fit``, so the forest is the same)."""
    from tqdm import tqdm

    features, labels = flatten(x), np.asarray(y)
    estimator = create_classical(name, seed, **options)
    if name != "rf":
        return estimator.fit(features, labels)
    total = estimator.n_estimators
    estimator.set_params(warm_start=True)
    with tqdm(total=total, desc="Random Forest", unit="tree", disable=not progress) as bar:
        for size in range(TREES_STEP, total + TREES_STEP, TREES_STEP):
            estimator.set_params(n_estimators=min(size, total))
            estimator.fit(features, labels)
            bar.update(len(estimator.estimators_) - bar.n)
    return estimator.set_params(warm_start=False)
