"""A trained model as a self-describing folder: what ``sitsbench train`` writes and ``predict-map`` / ``evaluate``
read.

Everything needed to prepare new data exactly as the training data was prepared travels with the weights:

``model.json``
    the format tag, the model (registry name and arguments, or the name of a classical estimator of
    :data:`sitsbench.models.classical.CLASSICAL`: ``rf``, ``svm``, ``lightgbm``) and its kind (``torch`` or
    ``classical``), the **band names in the order the model
    reads them**, the class names, the **date policy** and reference dates (:mod:`sitsbench.inference.dates`),
    the normalisation statistics of the training samples (also the value range used to refuse data in other units),
    the **spectral fingerprint** of the training samples (:class:`~sitsbench.data.normalize.SpectralFingerprint`,
    which refuses data whose bands are permuted, mislabelled or from another sensor; absent from folders of format
    ``sitsbench-model/1``, still read with a note), the SHA-256 of the weights file, and a summary of the training
    run;
``weights.pt`` (networks) or ``estimator.pkl`` (classical estimators; ``forest.pkl`` of kind ``forest`` in
    folders written before the SVM and LightGBM, which still load)
    the weights; a pickle is only unpickled after its checksum matched ``model.json`` (pickles run code: only load
    folders you trust);
``train_record.json``
    the full run record of the training (written by ``sitsbench train``);
``training_samples.npy``
    the content hashes of the samples the model was trained (or stopped early) on
    (:func:`sitsbench.data.samples.content_hashes`): ``evaluate`` recognises them in any file and does not score them.

A folder is written under a temporary name and renamed into place, so an interrupted save never leaves half a
model, and an existing folder is only replaced with ``overwrite=True``; the temporary folders of a killed save are
removed by the next save to the same path. The same weights give the same bytes (the checksum is reproducible).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from sitsbench.atomic import exclusive, remove_stale_temporaries, written
from sitsbench.data import samples as samples_format
from sitsbench.data.loading import content_checksum
from sitsbench.data.normalize import BandStats, SpectralFingerprint
from sitsbench.inference.dates import DATE_POLICIES, DatePlan, DateReference, plan_dates
from sitsbench.inference.predictors import ClassicalPredictor, TorchPredictor
from sitsbench.models.classical import CLASSICAL

MODEL_FORMAT = "sitsbench-model/2"
OLD_MODEL_FORMATS = ("sitsbench-model/1",)
"""Formats still read: ``/1`` has no spectral fingerprint (its bands are checked by value range only)."""
MODEL_FILE = "model.json"
TRAINED_ON_FILE = "training_samples.npy"
CLASSICAL_FILE = "estimator.pkl"
LEGACY_FOREST = "forest"
"""The kind of the Random Forest folders written before the other classical estimators (weights ``forest.pkl``)."""
RANGE_SPANS = 3.0
"""A band whose median clear value lies more than this many training 2-98 % spans outside that range is refused."""


class ModelFolderError(ValueError):
    """A folder that is not a readable sitsbench model."""


def read_description(path: Path, file_name: str, format_tag: str, what: str, writer: str,
                     error: type[ModelFolderError], hint: str = "", older: tuple[str, ...] = ()) -> dict:
    """The JSON description ``file_name`` of a sitsbench ``what`` folder (model, encoder) with format ``format_tag``
    (or one of the ``older`` formats still read); a missing, foreign or damaged folder raises ``error`` naming it
    (``hint`` ends the message of a foreign one)."""
    if not path.is_dir():
        raise FileNotFoundError(f"{what} folder {path} does not exist (write one with `{writer}`)")
    meta_path = path / file_name
    if not meta_path.is_file():
        raise error(f"{path} is not a sitsbench {what} folder: no {file_name}{hint}")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{meta_path} is damaged: not valid JSON ({problem})") from problem
    if not isinstance(meta, dict) or meta.get("format") not in (format_tag, *older):
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise error(f"{meta_path} is not a {format_tag} description (format: {found!r})")
    return meta


def checked_weights(path: Path, meta: dict, file_name: str, error: type[ModelFolderError]) -> Path:
    """The weights file that the description ``meta`` of folder ``path`` names, once its SHA-256 matched."""
    try:
        weights, expected = path / meta["weights"]["file"], meta["weights"]["checksum"]
    except (KeyError, TypeError) as problem:
        raise error(f"{path / file_name} lacks the field {problem}") from problem
    if not weights.is_file():
        raise error(f"{path}: weights file {weights.name} is missing")
    if content_checksum(weights) != expected:
        raise error(f"{weights}: checksum differs from {file_name} (damaged or replaced weights)")
    return weights


@dataclass
class MapModel:
    """A predictor with everything that prepares its inputs: bands, dates, normalisation, classes."""

    predictor: TorchPredictor | ClassicalPredictor
    model_name: str
    bands: tuple[str, ...]
    class_names: list[str]
    stats: BandStats
    reference: DateReference
    date_policy: str
    model_kwargs: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    source: str = "in-memory model"
    trained_on: np.ndarray | None = None
    """Content hashes (uint64) of the training samples (:data:`TRAINED_ON_FILE`); None when unknown."""
    spectral: SpectralFingerprint | None = None
    """The training data's spectral fingerprint (``None``: values checked by range only)."""

    def __post_init__(self) -> None:
        if self.date_policy not in DATE_POLICIES:
            raise ValueError(f"date policy must be one of {DATE_POLICIES}, got {self.date_policy!r}")
        if tuple(self.stats.bands) != tuple(self.bands):
            raise ValueError(f"normalisation statistics are for bands {self.stats.bands}, the model reads {self.bands}")
        if self.spectral is not None and tuple(self.spectral.bands) != tuple(self.bands):
            raise ValueError(f"the spectral fingerprint is for bands {self.spectral.bands}, the model reads {self.bands}")

    # -- preparing inputs -------------------------------------------------------------------------------------
    def band_order(self, bands, where: str) -> np.ndarray:
        """Indices that put data with band names ``bands`` in the model's order; every model band must be there."""
        bands = [str(b) for b in bands]
        missing = [b for b in self.bands if b not in bands]
        if missing:
            raise ValueError(
                f"{where} has bands {bands} but the model ({self.source}) reads {list(self.bands)}: missing {missing}"
            )
        return np.asarray([bands.index(b) for b in self.bands])

    def check_values(self, values: np.ndarray, valid: np.ndarray, where: str) -> None:
        """Refuse NaN/inf under a clear mask and bands whose median clear value lies far outside the training range
        (``values`` ``(N, T, C)`` in the model's band order, ``valid`` ``(N, T)``)."""
        valid = np.asarray(valid, dtype=bool)
        clear = values[valid]  # (n_clear, C)
        if clear.size == 0:
            return
        finite = np.isfinite(clear)
        if not finite.all():
            n_bad = int((~finite.all(axis=1)).sum())
            raise ValueError(f"{where}: {n_bad} observation(s) marked clear ('valid' True) hold NaN/inf reflectance; "
                             "mark them invalid or fill them")
        median = np.median(clear, axis=0)
        span = self.stats.high - self.stats.low
        outside = (median < self.stats.low - RANGE_SPANS * span) | (median > self.stats.high + RANGE_SPANS * span)
        if outside.any():
            details = ", ".join(
                f"{self.bands[i]}: median {median[i]:.4g} vs training 2-98 % range "
                f"[{self.stats.low[i]:.4g}, {self.stats.high[i]:.4g}]" for i in np.flatnonzero(outside)
            )
            raise ValueError(f"{where}: values far outside the range the model ({self.source}) was trained on "
                             f"({details}); another unit (digital numbers vs 0-1 reflectance?) or another sensor")

    def check_spectra(self, clear: np.ndarray, where: str) -> None:
        """Refuse clear observations ``(n, C)`` (model band order) unlike the training data's spectra: bands permuted,
        mislabelled, in another unit or from another sensor (:class:`~sitsbench.data.normalize.SpectralFingerprint`).
        Judged on many pixels of mixed land covers (a whole set of samples, or windows spread over a cube): one
        window of a single land cover that training never saw would look as foreign. A model without a fingerprint
        (format ``sitsbench-model/1``) checks nothing here."""
        if self.spectral is not None:
            self.spectral.check(clear, where, self.source)

    def plan(self, dates: np.ndarray, where: str) -> DatePlan:
        return plan_dates(dates, self.reference, self.date_policy, where)

    def inputs(self, values: np.ndarray, valid: np.ndarray, plan: DatePlan) -> tuple[np.ndarray, np.ndarray]:
        """Model inputs ``x`` ``(N, T', C)`` (gap-filled on the plan, standardised) and ``mask`` ``(N, T')``."""
        x, mask = plan.apply(values, valid)
        return self.stats.standardize(x, band_axis=-1), mask

    def predict_proba(self, x: np.ndarray, doy: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``(N, K)`` probabilities over every class of ``class_names`` (0 for classes the model never saw)."""
        proba = np.zeros((x.shape[0], len(self.class_names)), dtype=np.float32)
        proba[:, self.predictor.classes] = self.predictor(x, doy, mask)
        return proba

    def sample_inputs(self, samples: xr.Dataset, check_spectra: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs of labelled samples, each on its own dates: ``x`` ``(N, T', C)``, ``mask`` ``(N, T')`` and ``doy``
        ``(N, T')`` (samples with the same dates are prepared together; under the ``doy`` policy shorter series
        are padded at the end with masked zeros). ``check_spectra=False`` skips :meth:`check_spectra`, for held-out
        parts of the very samples the fingerprint was computed on (a test split, a cross-validation fold): their
        bands cannot be mislabelled relative to training, and a small part of few land covers may look foreign."""
        where = samples.attrs.get("source", "samples")
        order = self.band_order(samples[samples_format.BAND].values, where)
        values = np.asarray(samples[samples_format.VALUES].values, dtype=np.float32)[:, :, order]
        valid = np.asarray(samples[samples_format.VALID].values)
        dates = np.asarray(samples[samples_format.DATE].values, dtype="datetime64[D]")
        self.check_values(values, valid, where)
        if check_spectra:
            self.check_spectra(values[valid], where)
        groups: dict[bytes, list[int]] = {}
        for row in range(len(dates)):
            groups.setdefault(dates[row].tobytes(), []).append(row)
        parts = []
        for rows in groups.values():
            rows = np.asarray(rows)
            real = ~np.isnat(dates[rows[0]])
            plan = self.plan(dates[rows[0]][real], f"{where} (sample {int(rows[0])})")
            x, mask = self.inputs(values[rows][:, real], valid[rows][:, real], plan)
            parts.append((rows, x, mask, plan.doy))
        length = max(x.shape[1] for _, x, _, _ in parts)
        n, c = len(dates), len(self.bands)
        x_all = np.zeros((n, length, c), dtype=np.float32)
        mask_all = np.zeros((n, length), dtype=bool)
        doy_all = np.zeros((n, length), dtype=np.int64)
        for rows, x, mask, doy in parts:
            x_all[rows, : x.shape[1]], mask_all[rows, : x.shape[1]], doy_all[rows, : x.shape[1]] = x, mask, doy
        return x_all, mask_all, doy_all

    # -- the folder -------------------------------------------------------------------------------------------
    def _kind(self) -> str:
        return "classical" if isinstance(self.predictor, ClassicalPredictor) else "torch"

    def description(self, weights_file: str, weights_checksum: str) -> dict:
        return {
            "format": MODEL_FORMAT,
            "model": self.model_name,
            "kind": self._kind(),
            "model_kwargs": self.model_kwargs,
            "bands": list(self.bands),
            "class_names": list(self.class_names),
            "date_policy": self.date_policy,
            "reference_dates": self.reference.to_json(),
            "normalisation": json.loads(self.stats.to_json()),
            "spectral_fingerprint": None if self.spectral is None else self.spectral.to_dict(),
            "weights": {"file": weights_file, "checksum": weights_checksum},
            "training": self.training,
        }

    def save(self, path: str | Path, overwrite: bool = False, extra_files: dict[str, str] | None = None) -> Path:
        """Write the model folder at ``path`` (a temporary folder renamed into place); ``extra_files`` maps file
        names to text written beside (e.g. the training record). An existing ``path`` needs ``overwrite=True``."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists: choose another --output or pass --overwrite")
        with exclusive(path, "model folder"), written(path, directory=True) as tmp:
            remove_stale_temporaries(path, keep=tmp)  # those of a killed earlier save
            if self._kind() == "classical":
                weights_file = CLASSICAL_FILE
                (tmp / weights_file).write_bytes(pickle.dumps(self.predictor.estimator))
            else:
                from sitsbench.models.checkpoint import save_checkpoint

                weights_file = "weights.pt"
                save_checkpoint(tmp / weights_file, self.predictor.model)
            text = json.dumps(self.description(weights_file, content_checksum(tmp / weights_file)), indent=2)
            (tmp / MODEL_FILE).write_text(text + "\n")
            if self.trained_on is not None:
                np.save(tmp / TRAINED_ON_FILE, np.asarray(self.trained_on, dtype=np.uint64))
            for name, content in (extra_files or {}).items():
                (tmp / name).write_text(content)
        self.source = str(path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> MapModel:
        """Read a model folder; a missing, foreign or damaged folder raises :class:`ModelFolderError` naming it."""
        path = Path(path)
        meta = read_description(path, MODEL_FILE, MODEL_FORMAT, "model", "sitsbench train", ModelFolderError,
                                " (expected a folder written by `sitsbench train`)", older=OLD_MODEL_FORMATS)
        weights = checked_weights(path, meta, MODEL_FILE, ModelFolderError)
        try:
            kind, name, bands, classes = meta["kind"], meta["model"], meta["bands"], meta["class_names"]
            stats = BandStats.from_json(json.dumps(meta["normalisation"]))
            reference = DateReference.from_json(meta["reference_dates"])
            policy = meta["date_policy"]
            raw = meta["spectral_fingerprint"] if meta["format"] == MODEL_FORMAT else None
            spectral = None if raw is None else SpectralFingerprint.from_dict(raw)
        except (KeyError, TypeError) as error:
            raise ModelFolderError(f"{path / MODEL_FILE} lacks the field {error}") from error
        if kind in ("classical", LEGACY_FOREST):
            if name not in CLASSICAL:
                raise ModelFolderError(f"{path / MODEL_FILE}: a classical model named {name!r}, not one of "
                                       f"{sorted(CLASSICAL)}")
            predictor = ClassicalPredictor(pickle.loads(weights.read_bytes()))
        elif kind == "torch":
            from sitsbench.models.checkpoint import load_checkpoint

            try:
                model, _ = load_checkpoint(weights)
            except (RuntimeError, KeyError, pickle.UnpicklingError) as error:
                raise ModelFolderError(f"{weights}: cannot rebuild the network ({error})") from error
            predictor = TorchPredictor(model, device=device)
        else:
            raise ModelFolderError(f"{path / MODEL_FILE}: unknown model kind {kind!r} (expected 'classical' or "
                                   "'torch')")
        trained_on = None
        if (path / TRAINED_ON_FILE).is_file():
            try:
                trained_on = np.load(path / TRAINED_ON_FILE).astype(np.uint64)
            except (ValueError, OSError) as error:
                raise ModelFolderError(f"{path / TRAINED_ON_FILE} is damaged: {error}") from error
        if spectral is None:
            print(f"note: {path} has no spectral fingerprint (written before {MODEL_FORMAT}): permuted or mislabelled "
                  "bands are not detected, only values far outside the training range; retrain to add one",
                  file=sys.stderr)
        return cls(predictor, name, tuple(bands), list(classes), stats, reference, policy,
                   meta.get("model_kwargs", {}), meta.get("training", {}), source=str(path), trained_on=trained_on,
                   spectral=spectral)

    def fingerprint(self) -> str:
        """SHA-256 of what determines the model's outputs (weights included, through their checksum)."""
        if self._kind() == "classical":
            weights = hashlib.sha256(pickle.dumps(self.predictor.estimator)).hexdigest()
        else:
            digest = hashlib.sha256()
            for key, value in self.predictor.model.state_dict().items():
                digest.update(key.encode())
                digest.update(value.detach().cpu().numpy().tobytes())
            weights = digest.hexdigest()
        description = self.description("-", weights)
        description.pop("training")
        return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()

