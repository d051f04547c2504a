"""A pretrained encoder as a self-describing folder: what ``sitsbench pretrain`` writes and ``sitsbench train
--encoder`` reads (the model folder of :mod:`sitsbench.inference.model_folder` for encoders).

``encoder.json``
    the format tag, the encoder (registry name and arguments), its feature width, the **band names in the order it
    reads them**, the normalisation statistics a downstream model uses (those of the whole archive) and each
    dataset's own, the **date policy** and reference dates (:mod:`sitsbench.inference.dates`), the pretraining
    method and its full configuration, the archive it saw, the SHA-256 of the weights and a summary of the run
    (loss curve, collapse monitors);
``weights.pt``
    the encoder (:func:`sitsbench.models.checkpoint.save_checkpoint`, built with ``num_classes=0``);
``pretrain_record.json``
    the full run record of the pretraining.

Written under a temporary name and renamed into place, like a model folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from sitsbench.atomic import written
from sitsbench.data.loading import content_checksum
from sitsbench.data.normalize import BandStats
from sitsbench.inference.dates import DATE_POLICIES, DateReference
from sitsbench.inference.model_folder import MODEL_FILE, ModelFolderError, checked_weights, read_description

ENCODER_FORMAT = "sitsbench-encoder/1"
ENCODER_FILE = "encoder.json"
WEIGHTS_FILE = "weights.pt"


class EncoderFolderError(ModelFolderError):
    """A folder that is not a readable sitsbench encoder."""


@dataclass
class EncoderFolder:
    """A pretrained encoder with everything that prepares its inputs."""

    encoder: nn.Module
    bands: tuple[str, ...]
    stats: BandStats
    reference: DateReference
    date_policy: str
    method: str
    config: dict = field(default_factory=dict)
    pretraining: dict = field(default_factory=dict)
    source: str = "in-memory encoder"
    checksum: str = ""
    """SHA-256 of the weights file (once saved or loaded)."""

    def __post_init__(self) -> None:
        if self.date_policy not in DATE_POLICIES:
            raise ValueError(f"date policy must be one of {DATE_POLICIES}, got {self.date_policy!r}")
        if tuple(self.stats.bands) != tuple(self.bands):
            raise ValueError(f"normalisation statistics are for bands {self.stats.bands}, the encoder reads {self.bands}")

    @property
    def name(self) -> str:
        return self.encoder.model_name

    @property
    def kwargs(self) -> dict:
        """The encoder's registry arguments, without ``in_channels``/``num_classes`` (given when it is rebuilt)."""
        return {k: v for k, v in self.encoder.model_kwargs.items() if k not in ("in_channels", "num_classes")}

    def description(self, checksum: str) -> dict:
        return {
            "format": ENCODER_FORMAT,
            "encoder": self.name,
            "encoder_kwargs": self.kwargs,
            "in_channels": len(self.bands),
            "num_features": int(self.encoder.num_features),
            "bands": list(self.bands),
            "normalisation": json.loads(self.stats.to_json()),
            "date_policy": self.date_policy,
            "reference_dates": self.reference.to_json(),
            "method": self.method,
            "config": self.config,
            "weights": {"file": WEIGHTS_FILE, "checksum": checksum},
            "pretraining": self.pretraining,
        }

    def save(self, path: str | Path, overwrite: bool = False, extra_files: dict[str, str] | None = None) -> Path:
        """Write the folder at ``path`` (a temporary folder renamed into place); an existing ``path`` needs
        ``overwrite=True``."""
        from sitsbench.models.checkpoint import save_checkpoint

        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists: choose another --output or pass --overwrite")
        with written(path, directory=True) as tmp:
            save_checkpoint(tmp / WEIGHTS_FILE, self.encoder)
            self.checksum = content_checksum(tmp / WEIGHTS_FILE)
            text = json.dumps(self.description(self.checksum), indent=2)
            (tmp / ENCODER_FILE).write_text(text + "\n")
            for name, content in (extra_files or {}).items():
                (tmp / name).write_text(content)
        self.source = str(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> EncoderFolder:
        """Read an encoder folder; a missing, foreign or damaged one raises :class:`EncoderFolderError` naming it."""
        from sitsbench.models.checkpoint import load_checkpoint

        path = Path(path)
        hint = " (it is a model folder: give it to --model, not --encoder)" if (path / MODEL_FILE).is_file() else ""
        meta = read_description(path, ENCODER_FILE, ENCODER_FORMAT, "encoder", "sitsbench pretrain",
                                EncoderFolderError, hint)
        weights = checked_weights(path, meta, ENCODER_FILE, EncoderFolderError)
        try:
            bands = tuple(meta["bands"])
            stats = BandStats.from_json(json.dumps(meta["normalisation"]))
            reference = DateReference.from_json(meta["reference_dates"])
            policy, method = meta["date_policy"], meta["method"]
        except (KeyError, TypeError) as error:
            raise EncoderFolderError(f"{path / ENCODER_FILE} lacks the field {error}") from error
        try:
            encoder, _ = load_checkpoint(weights)
        except (RuntimeError, KeyError, ValueError) as error:
            raise EncoderFolderError(f"{weights}: cannot rebuild the encoder ({error})") from error
        if getattr(encoder, "num_classes", None) not in (0, None) or encoder.model_name != meta.get("encoder"):
            raise EncoderFolderError(f"{weights}: holds {encoder.model_name!r} with a {encoder.num_classes}-class head, "
                                     f"not the headless encoder {meta.get('encoder')!r} that {ENCODER_FILE} names")
        return cls(encoder.eval(), bands, stats, reference, policy, method, meta.get("config", {}),
                   meta.get("pretraining", {}), source=str(path), checksum=meta["weights"]["checksum"])

    def classifier(self, num_classes: int, head_hidden: int = 0) -> nn.Module:
        """The encoder's registered classifier with ``num_classes`` outputs, its encoder weights copied from this
        folder (a fresh head: linear, or an MLP with ``head_hidden`` units)."""
        from sitsbench.models.registry import create_model

        kwargs = dict(self.kwargs)
        if head_hidden:
            kwargs["head_hidden"] = head_hidden
        model = create_model(self.name, in_channels=len(self.bands), num_classes=num_classes, **kwargs)
        state = self.encoder.state_dict()
        result = model.load_state_dict(state, strict=False)
        foreign = [k for k in result.missing_keys if not k.startswith("head.")]
        if foreign or result.unexpected_keys:
            raise EncoderFolderError(f"{self.source}: the encoder's weights do not fit {self.name!r} (missing "
                                     f"{foreign}, unexpected {result.unexpected_keys})")
        return model

    def encoder_parameters(self, model: nn.Module) -> list[torch.nn.Parameter]:
        """The parameters of ``model`` (built by :meth:`classifier`) that came from the pretrained encoder."""
        return [p for name, p in model.named_parameters() if not name.startswith("head.")]
